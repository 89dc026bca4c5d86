//! Counters a server keeps while it runs, readable at any time.

use std::sync::atomic::{AtomicU64, Ordering};

/// A server's counters at one moment (see [`ServerHandle::stats`](crate::ServerHandle::stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Connections accepted and admitted.
    pub accepted: u64,
    /// Connections refused because the server was at its total cap.
    pub refused_total_cap: u64,
    /// Connections refused because their client address was at its cap.
    pub refused_per_client: u64,
    /// Connections refused by the allow or deny lists.
    pub refused_address: u64,
    /// Connections closed after the idle time without a message.
    pub reaped_idle: u64,
    /// Connections closed because a message was not whole within the message time.
    pub reaped_slow: u64,
    /// Messages received.
    pub frames_in: u64,
    /// Messages sent (replies and pushes).
    pub frames_out: u64,
    /// Bytes of message bodies received.
    pub bytes_in: u64,
    /// Bytes of message bodies sent.
    pub bytes_out: u64,
    /// Connections ended by an error: a malformed or oversized frame, a reset, a write that
    /// timed out.
    pub errors: u64,
    /// Connections open now.
    pub open: u64,
    /// Of those, connections set aside now: quiet, with no task and no buffer (see
    /// [`ServerBuilder::set_aside_quiet`](crate::ServerBuilder::set_aside_quiet)).
    pub set_aside: u64,
    /// TLS handshakes that failed (a certificate refused, a protocol error).
    pub tls_handshake_failed: u64,
    /// TLS handshakes not finished within the handshake deadline.
    pub tls_handshake_timeout: u64,
}

/// One count the server keeps: an atomic for [`Stats`] and, with the `metrics` feature, the
/// exported counter or gauge it feeds.
#[derive(Debug, Default)]
pub(crate) struct Count {
    value: AtomicU64,
    #[cfg(feature = "metrics")]
    exported: Exported,
}

/// A count's handle in the application's metrics recorder.
#[cfg(feature = "metrics")]
#[derive(Debug, Default)]
enum Exported {
    /// Not exported (a count only [`Stats`] shows).
    #[default]
    None,
    Counter(metrics::Counter),
    Gauge(metrics::Gauge),
}

impl Count {
    pub(crate) fn add(&self, n: u64) {
        self.value.fetch_add(n, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        match &self.exported {
            Exported::None => {}
            Exported::Counter(c) => c.increment(n),
            Exported::Gauge(g) => g.increment(n as f64),
        }
    }

    /// Takes `n` away (a gauge: connections open, set aside).
    pub(crate) fn sub(&self, n: u64) {
        self.value.fetch_sub(n, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Exported::Gauge(g) = &self.exported {
            g.decrement(n as f64);
        }
    }

    pub(crate) fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }
}

/// The server's counts: [`Stats`] reads them, and with the `metrics` feature each also feeds a
/// metric named `msgframe_server_*` labelled with the server's name (see
/// [`ServerBuilder::name`](crate::ServerBuilder::name)).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) accepted: Count,
    pub(crate) refused_total_cap: Count,
    pub(crate) refused_per_client: Count,
    pub(crate) refused_address: Count,
    pub(crate) reaped_idle: Count,
    pub(crate) reaped_slow: Count,
    pub(crate) frames_in: Count,
    pub(crate) frames_out: Count,
    pub(crate) bytes_in: Count,
    pub(crate) bytes_out: Count,
    pub(crate) errors: Count,
    pub(crate) open: Count,
    pub(crate) set_aside: Count,
    pub(crate) tls_handshake_failed: Count,
    pub(crate) tls_handshake_timeout: Count,
    /// The server's name in its metrics' `server` label.
    #[cfg(feature = "metrics")]
    name: String,
    #[cfg(feature = "metrics")]
    handler_seconds: Option<metrics::Histogram>,
}

impl Counters {
    /// Counts for a server named `name` in its metrics (with the `metrics` feature; the handles
    /// are taken from the recorder installed now).
    pub(crate) fn new(name: &str) -> Self {
        #[cfg(feature = "metrics")]
        {
            let server = name.to_owned();
            let counter = |metric: &'static str, labels: &[(&'static str, &'static str)]| {
                let mut all = vec![metrics::Label::new("server", server.clone())];
                all.extend(labels.iter().map(|(k, v)| metrics::Label::new(*k, *v)));
                Count {
                    value: AtomicU64::new(0),
                    exported: Exported::Counter(metrics::counter!(metric, all)),
                }
            };
            let gauge = |metric: &'static str| Count {
                value: AtomicU64::new(0),
                exported: Exported::Gauge(metrics::gauge!(metric, "server" => server.clone())),
            };
            const ACCEPTED: &str = "msgframe_server_connections_accepted_total";
            const REFUSED: &str = "msgframe_server_connections_refused_total";
            const REAPED: &str = "msgframe_server_connections_reaped_total";
            const MESSAGES: &str = "msgframe_server_messages_total";
            const BYTES: &str = "msgframe_server_bytes_total";
            const HANDSHAKES: &str = "msgframe_server_tls_handshakes_failed_total";
            Counters {
                accepted: counter(ACCEPTED, &[]),
                refused_total_cap: counter(REFUSED, &[("reason", "total_cap")]),
                refused_per_client: counter(REFUSED, &[("reason", "per_client_cap")]),
                refused_address: counter(REFUSED, &[("reason", "address")]),
                reaped_idle: counter(REAPED, &[("reason", "idle")]),
                reaped_slow: counter(REAPED, &[("reason", "message_too_slow")]),
                frames_in: counter(MESSAGES, &[("direction", "in")]),
                frames_out: counter(MESSAGES, &[("direction", "out")]),
                bytes_in: counter(BYTES, &[("direction", "in")]),
                bytes_out: counter(BYTES, &[("direction", "out")]),
                // Exported by kind: see `ended_by_error`.
                errors: Count::default(),
                open: gauge("msgframe_server_connections_open"),
                set_aside: gauge("msgframe_server_connections_set_aside"),
                tls_handshake_failed: counter(HANDSHAKES, &[("reason", "failed")]),
                tls_handshake_timeout: counter(HANDSHAKES, &[("reason", "timeout")]),
                handler_seconds: Some(metrics::histogram!(
                    "msgframe_server_handler_seconds",
                    "server" => server.clone()
                )),
                name: server,
            }
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = name;
            Counters::default()
        }
    }

    /// A connection ended by an error of `kind` (a short name: `malformed`, `too_long`, `read`,
    /// `write`, `write_timeout`, `no_return_link`, `other`).
    pub(crate) fn ended_by_error(&self, kind: &'static str) {
        self.errors.add(1);
        #[cfg(feature = "metrics")]
        metrics::counter!(
            "msgframe_server_errors_total",
            "server" => self.name.clone(),
            "kind" => kind
        )
        .increment(1);
        #[cfg(not(feature = "metrics"))]
        let _ = kind;
    }

    /// The handler answered a message after `elapsed`.
    pub(crate) fn handler_done(&self, elapsed: std::time::Duration) {
        #[cfg(feature = "metrics")]
        if let Some(h) = &self.handler_seconds {
            h.record(elapsed.as_secs_f64());
        }
        #[cfg(not(feature = "metrics"))]
        let _ = elapsed;
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let get = Count::get;
        Stats {
            accepted: get(&self.accepted),
            refused_total_cap: get(&self.refused_total_cap),
            refused_per_client: get(&self.refused_per_client),
            refused_address: get(&self.refused_address),
            reaped_idle: get(&self.reaped_idle),
            reaped_slow: get(&self.reaped_slow),
            frames_in: get(&self.frames_in),
            frames_out: get(&self.frames_out),
            bytes_in: get(&self.bytes_in),
            bytes_out: get(&self.bytes_out),
            errors: get(&self.errors),
            open: get(&self.open),
            set_aside: get(&self.set_aside),
            tls_handshake_failed: get(&self.tls_handshake_failed),
            tls_handshake_timeout: get(&self.tls_handshake_timeout),
        }
    }
}
