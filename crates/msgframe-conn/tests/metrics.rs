//! The `metrics` feature: after real traffic over loopback, the recorder holds the server's
//! counts and handler latency and the clients' connections and requests by outcome, each link
//! of a pool apart.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use msgframe_conn::policy::Spread;
use msgframe_conn::{keys, Connection, Error, LongClient, Reply, Server, ShortClient};

const TIMEOUT: Duration = Duration::from_secs(10);

/// What the library recorded: every counter, gauge (as `f64` bits) and histogram's samples.
#[derive(Default)]
struct Recorded {
    counters: Mutex<Vec<(Key, Arc<AtomicU64>)>>,
    gauges: Mutex<Vec<(Key, Arc<AtomicU64>)>>,
    histograms: Mutex<Vec<(Key, Arc<Samples>)>>,
}

#[derive(Default)]
struct Samples(Mutex<Vec<f64>>);

impl metrics::HistogramFn for Samples {
    fn record(&self, value: f64) {
        self.0.lock().unwrap().push(value);
    }
}

/// The metric under `key` in `list`, made on first use.
fn entry<T: Default>(list: &Mutex<Vec<(Key, Arc<T>)>>, key: &Key) -> Arc<T> {
    let mut list = list.lock().unwrap();
    if let Some((_, found)) = list.iter().find(|(k, _)| k == key) {
        return Arc::clone(found);
    }
    let made = Arc::new(T::default());
    list.push((key.clone(), Arc::clone(&made)));
    made
}

struct TestRecorder(Arc<Recorded>);

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(entry(&self.0.counters, key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(entry(&self.0.gauges, key))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(entry(&self.0.histograms, key))
    }
}

/// The recorder, installed once for this test binary (one test: the recorder is global).
fn recorder() -> Arc<Recorded> {
    let recorded = Arc::new(Recorded::default());
    metrics::set_global_recorder(TestRecorder(Arc::clone(&recorded)))
        .expect("the only recorder of this test binary");
    recorded
}

/// Whether `key` has every one of `labels`.
fn labelled(key: &Key, name: &str, labels: &[(&str, &str)]) -> bool {
    key.name() == name
        && labels
            .iter()
            .all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v))
}

impl Recorded {
    /// The counters named `name` with `labels`, summed.
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let list = self.counters.lock().unwrap();
        let matching = list.iter().filter(|(k, _)| labelled(k, name, labels));
        matching
            .map(|(_, v)| v.load(Ordering::Relaxed) as f64)
            .sum()
    }

    /// The gauges named `name` with `labels`, summed.
    fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let list = self.gauges.lock().unwrap();
        let matching = list.iter().filter(|(k, _)| labelled(k, name, labels));
        matching
            .map(|(_, v)| f64::from_bits(v.load(Ordering::Relaxed)))
            .sum()
    }

    /// How many samples the histograms named `name` with `labels` hold.
    fn samples(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let list = self.histograms.lock().unwrap();
        let matching = list.iter().filter(|(k, _)| labelled(k, name, labels));
        matching
            .map(|(_, v)| v.0.lock().unwrap().len() as f64)
            .sum()
    }
}

#[tokio::test]
async fn servers_and_clients_report_their_counts_latencies_and_outcomes() {
    let recorded = recorder();
    // A gateway that answers every request but those whose key is 99.
    let server = Server::builder("be:2".parse().unwrap())
        .name("gateway")
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let host = server.local_addr().to_string();
    let gateway_handle = server.handle();
    tokio::spawn(server.serve(|_c: Connection, m: Bytes| async move {
        if m[0] == 99 {
            Reply::Nothing
        } else {
            Reply::Send(m)
        }
    }));

    let client = LongClient::builder([host.as_str()], "be:2".parse().unwrap())
        .name("acquirer")
        .match_replies(keys::uint_be_at(0, 1))
        .start()
        .unwrap();
    for key in 1..=3u8 {
        client.request(vec![key, 0], TIMEOUT).await.unwrap();
    }
    let unanswered = client
        .request(vec![99, 0], Duration::from_millis(200))
        .await;
    assert!(
        matches!(unanswered, Err(Error::TimedOut { .. })),
        "{unanswered:?}"
    );

    let pool = LongClient::builder([host.as_str()], "be:2".parse().unwrap())
        .name("pool")
        .match_replies(keys::uint_be_at(0, 1))
        .start_pool(2, Spread::RoundRobin)
        .unwrap();
    pool.wait_connected(TIMEOUT).await.unwrap();
    for key in 1..=4u8 {
        pool.request(vec![key], TIMEOUT).await.unwrap();
    }
    // Both links up.
    for _ in 0..200 {
        if pool.links().iter().all(|l| l.connected_to.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Short connections: two answered, one to a port that refuses (bound, not listening).
    let short = ShortClient::new("be:2".parse().unwrap()).name("short");
    for key in 1..=2u8 {
        short.request(&host, &[key]).await.unwrap();
    }
    let refusing =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    refusing
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let closed = refusing
        .local_addr()
        .unwrap()
        .as_socket()
        .unwrap()
        .to_string();
    let refused = short.request(&closed, &[3]).await;
    assert!(
        refused.as_ref().is_err_and(Error::is_not_sent),
        "{refused:?}"
    );

    // The server counts a reply once written, which may be after the client read it.
    for _ in 0..200 {
        if gateway_handle.stats().frames_out >= 9 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let counter = |name, labels: &[(&str, &str)]| recorded.counter(name, labels);
    let gauge = |name, labels: &[(&str, &str)]| recorded.gauge(name, labels);
    let samples = |name, labels: &[(&str, &str)]| recorded.samples(name, labels);

    let acquirer = [("client", "acquirer"), ("link", "0")];
    let outcome = |o| [acquirer[0], acquirer[1], ("outcome", o)];
    assert_eq!(
        counter("msgframe_client_requests_total", &outcome("ok")),
        3.0
    );
    assert_eq!(
        counter("msgframe_client_requests_total", &outcome("timed_out")),
        1.0
    );
    assert_eq!(samples("msgframe_client_request_seconds", &acquirer), 3.0);
    assert_eq!(counter("msgframe_client_connects_total", &acquirer), 1.0);
    assert_eq!(gauge("msgframe_client_connected", &acquirer), 1.0);
    for link in ["0", "1"] {
        let labels = [("client", "pool"), ("link", link)];
        assert_eq!(
            counter("msgframe_client_connects_total", &labels),
            1.0,
            "link {link}"
        );
    }
    assert_eq!(
        counter(
            "msgframe_client_requests_total",
            &[("client", "pool"), ("outcome", "ok")]
        ),
        4.0
    );

    let short = |o| [("client", "short"), ("outcome", o)];
    assert_eq!(counter("msgframe_client_requests_total", &short("ok")), 2.0);
    assert_eq!(
        counter("msgframe_client_requests_total", &short("not_sent")),
        1.0
    );
    assert_eq!(
        samples("msgframe_client_request_seconds", &[("client", "short")]),
        2.0
    );

    let gateway = [("server", "gateway")];
    let direction = |d| [gateway[0], ("direction", d)];
    // The acquirer, two pool links and two short connections.
    let accepted = counter("msgframe_server_connections_accepted_total", &gateway);
    assert_eq!(accepted, 5.0);
    assert_eq!(
        counter("msgframe_server_messages_total", &direction("in")),
        10.0
    );
    assert_eq!(
        counter("msgframe_server_messages_total", &direction("out")),
        9.0
    );
    assert_eq!(
        counter("msgframe_server_bytes_total", &direction("in")),
        14.0
    );
    assert_eq!(samples("msgframe_server_handler_seconds", &gateway), 10.0);

    client.close().await;
    pool.close().await;
}
