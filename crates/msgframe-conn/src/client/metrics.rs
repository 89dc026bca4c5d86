//! A long client's metrics (feature `metrics`): connections, heartbeats and requests, through
//! the `metrics` facade, each labelled with the client's name and its link within a pool or
//! group (`"0"` for a client of its own). Without the feature, nothing.

use super::event::Event;

/// The client's handles in the application's metrics recorder (taken when it starts).
#[derive(Debug, Default)]
pub(crate) struct ClientMetrics {
    #[cfg(feature = "metrics")]
    handles: Option<Handles>,
}

#[cfg(feature = "metrics")]
#[derive(Debug)]
struct Handles {
    client: String,
    link: String,
    connects: metrics::Counter,
    connect_failures: metrics::Counter,
    disconnects: metrics::Counter,
    reconnects: metrics::Counter,
    heartbeats_missed: metrics::Counter,
    peers_dead: metrics::Counter,
    incoming_dropped: metrics::Counter,
    /// Clients of this name and link connected now (several clients may share a name).
    connected: metrics::Gauge,
    /// Whether this client counts in `connected`.
    counted: std::sync::atomic::AtomicBool,
    request_seconds: metrics::Histogram,
}

impl ClientMetrics {
    /// The metrics of the client named `client`, link `link` of its pool or group.
    pub(crate) fn new(client: &str, link: usize) -> Self {
        #[cfg(feature = "metrics")]
        {
            let (client, link) = (client.to_owned(), link.to_string());
            let labels = || {
                [
                    metrics::Label::new("client", client.clone()),
                    metrics::Label::new("link", link.clone()),
                ]
            };
            let counter = |name: &'static str| metrics::counter!(name, labels().to_vec());
            ClientMetrics {
                handles: Some(Handles {
                    connects: counter("msgframe_client_connects_total"),
                    connect_failures: counter("msgframe_client_connect_failures_total"),
                    disconnects: counter("msgframe_client_disconnects_total"),
                    reconnects: counter("msgframe_client_reconnects_total"),
                    heartbeats_missed: counter("msgframe_client_heartbeats_missed_total"),
                    peers_dead: counter("msgframe_client_peers_dead_total"),
                    incoming_dropped: counter("msgframe_client_incoming_dropped_total"),
                    connected: metrics::gauge!("msgframe_client_connected", labels().to_vec()),
                    counted: std::sync::atomic::AtomicBool::new(false),
                    request_seconds: metrics::histogram!(
                        "msgframe_client_request_seconds",
                        labels().to_vec()
                    ),
                    client,
                    link,
                }),
            }
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = (client, link);
            ClientMetrics::default()
        }
    }

    /// Counts what `event` says happened.
    pub(crate) fn event(&self, event: &Event) {
        #[cfg(feature = "metrics")]
        if let Some(h) = &self.handles {
            use std::sync::atomic::Ordering;
            let connected = |now: bool| {
                if h.counted.swap(now, Ordering::Relaxed) != now {
                    if now {
                        h.connected.increment(1.0);
                    } else {
                        h.connected.decrement(1.0);
                    }
                }
            };
            match event {
                Event::Connected { .. } => {
                    h.connects.increment(1);
                    connected(true);
                }
                Event::ConnectFailed { .. } => h.connect_failures.increment(1),
                Event::Disconnected { .. } => {
                    h.disconnects.increment(1);
                    connected(false);
                }
                Event::Reconnecting { .. } => h.reconnects.increment(1),
                Event::HeartbeatMissed { .. } => h.heartbeats_missed.increment(1),
                Event::PeerDead { .. } => h.peers_dead.increment(1),
                Event::IncomingDropped { .. } => h.incoming_dropped.increment(1),
                Event::Shutdown => connected(false),
                _ => {}
            }
        }
        #[cfg(not(feature = "metrics"))]
        let _ = event;
    }

    /// A request ended after `elapsed` with `outcome`: counted by outcome, timed when answered.
    #[cfg(feature = "metrics")]
    pub(crate) fn request_done<T>(
        &self,
        elapsed: std::time::Duration,
        outcome: &Result<T, crate::Error>,
    ) {
        if let Some(h) = &self.handles {
            record_request(
                &h.client,
                &h.link,
                Some(&h.request_seconds),
                elapsed,
                outcome,
            );
        }
    }
}

/// A short client's request to `client` ended after `elapsed` with `outcome` (labelled link `0`:
/// one connection per request).
#[cfg(feature = "metrics")]
pub(crate) fn short_request_done<T>(
    client: &str,
    elapsed: std::time::Duration,
    outcome: &Result<T, crate::Error>,
) {
    record_request(client, "0", None, elapsed, outcome);
}

/// Counts a request by outcome and times it when answered: in `histogram` when the client holds
/// its handle, else in the one its labels name.
#[cfg(feature = "metrics")]
fn record_request<T>(
    client: &str,
    link: &str,
    histogram: Option<&metrics::Histogram>,
    elapsed: std::time::Duration,
    outcome: &Result<T, crate::Error>,
) {
    let labels = [
        metrics::Label::new("client", client.to_owned()),
        metrics::Label::new("link", link.to_owned()),
    ];
    if outcome.is_ok() {
        match histogram {
            Some(h) => h.record(elapsed.as_secs_f64()),
            None => metrics::histogram!("msgframe_client_request_seconds", labels.to_vec())
                .record(elapsed.as_secs_f64()),
        }
    }
    let mut by_outcome = labels.to_vec();
    by_outcome.push(metrics::Label::new("outcome", outcome_label(outcome)));
    metrics::counter!("msgframe_client_requests_total", by_outcome).increment(1);
}

/// A request's outcome as a label: `ok`, `timed_out`, `not_sent`, `connection_lost`,
/// `shutdown` or `error`.
#[cfg(feature = "metrics")]
fn outcome_label<T>(outcome: &Result<T, crate::Error>) -> &'static str {
    use crate::Error;
    match outcome {
        Ok(_) => "ok",
        Err(Error::TimedOut { .. }) => "timed_out",
        Err(Error::ConnectionLost { .. }) => "connection_lost",
        Err(Error::Shutdown) => "shutdown",
        // Refused, or no connection: nothing of it went out.
        Err(e) if e.is_not_sent() => "not_sent",
        Err(_) => "error",
    }
}
