//! `--metrics ADDR`: the library's counters, gauges and histograms (servers and clients, see
//! `msgframe_conn`'s feature `metrics`) kept by a recorder of our own and served in the
//! Prometheus text format over HTTP on `ADDR`: `GET /metrics`. A small responder: one request
//! per connection, a bounded request head, a deadline, nothing else served.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::error::{Failure, Result};

/// The most bytes of a request head read before answering.
const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// How long a scraper may take to send its request and read the answer.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
/// Histogram bucket bounds, in seconds (the library's histograms are all latencies).
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the recorder (before any server or client is built, so that their metrics reach it)
/// and serves it on `addr`; returns the address bound (port 0 picks one).
pub async fn serve(addr: &str) -> Result<SocketAddr> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| Failure::usage(format!("cannot listen on {addr} for --metrics: {e}")))?;
    let bound = listener.local_addr()?;
    let registry = Arc::new(Registry::default());
    metrics::set_global_recorder(Shared(Arc::clone(&registry)))
        .map_err(|e| Failure::usage(format!("--metrics: {e}")))?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let registry = Arc::clone(&registry);
            tokio::spawn(async move {
                let _ = tokio::time::timeout(SCRAPE_TIMEOUT, answer(stream, &registry)).await;
            });
        }
    });
    Ok(bound)
}

/// Every metric registered, by name then labels.
#[derive(Default)]
struct Registry {
    counters: Mutex<BTreeMap<Key, Arc<AtomicU64>>>,
    gauges: Mutex<BTreeMap<Key, Arc<AtomicU64>>>,
    histograms: Mutex<BTreeMap<Key, Arc<Buckets>>>,
}

/// A histogram: counts per bucket bound, and the sum and count of every sample.
struct Buckets {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// The sum of the samples, as `f64` bits.
    sum: AtomicU64,
}

impl Default for Buckets {
    fn default() -> Self {
        Buckets {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }
}

impl metrics::HistogramFn for Buckets {
    fn record(&self, value: f64) {
        if let Some(i) = BUCKETS.iter().position(|bound| value <= *bound) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let _ = self
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + value).to_bits())
            });
    }
}

/// The recorder installed for the process: the registry it fills.
struct Shared(Arc<Registry>);

impl Recorder for Shared {
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

/// The metric under `key`, made on first use (one per key: handles taken twice share it).
fn entry<T: Default>(map: &Mutex<BTreeMap<Key, Arc<T>>>, key: &Key) -> Arc<T> {
    let mut map = match map.lock() {
        Ok(map) => map,
        Err(poisoned) => poisoned.into_inner(),
    };
    Arc::clone(map.entry(key.clone()).or_default())
}

impl Registry {
    /// Every metric in the Prometheus text format (version 0.0.4).
    fn render(&self) -> String {
        let mut out = String::new();
        let (counters, gauges, histograms) = (
            copy(&self.counters),
            copy(&self.gauges),
            copy(&self.histograms),
        );
        let typed = |out: &mut String, name: &str, kind: &str, last: &mut String| {
            if last != name {
                let _ = writeln!(out, "# TYPE {name} {kind}");
                *last = name.to_owned();
            }
        };
        let mut last = String::new();
        for (key, value) in &counters {
            typed(&mut out, key.name(), "counter", &mut last);
            let _ = writeln!(
                out,
                "{}{} {}",
                key.name(),
                labels(key, None),
                value.load(Ordering::Relaxed)
            );
        }
        for (key, value) in &gauges {
            typed(&mut out, key.name(), "gauge", &mut last);
            let value = f64::from_bits(value.load(Ordering::Relaxed));
            let _ = writeln!(out, "{}{} {value}", key.name(), labels(key, None));
        }
        for (key, buckets) in &histograms {
            let name = key.name();
            typed(&mut out, name, "histogram", &mut last);
            let mut cumulative = 0;
            for (bound, count) in BUCKETS.iter().zip(&buckets.counts) {
                cumulative += count.load(Ordering::Relaxed);
                let le = bound.to_string();
                let _ = writeln!(out, "{name}_bucket{} {cumulative}", labels(key, Some(&le)));
            }
            let count = buckets.count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{} {count}", labels(key, Some("+Inf")));
            let sum = f64::from_bits(buckets.sum.load(Ordering::Relaxed));
            let _ = writeln!(out, "{name}_sum{} {sum}", labels(key, None));
            let _ = writeln!(out, "{name}_count{} {count}", labels(key, None));
        }
        out
    }
}

/// The entries of `map` now (the metrics themselves are shared, not copied).
fn copy<T>(map: &Mutex<BTreeMap<Key, Arc<T>>>) -> BTreeMap<Key, Arc<T>> {
    match map.lock() {
        Ok(map) => map.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// `{k="v",...}` for `key`'s labels (and a histogram bucket's `le`), values escaped as the
/// text format says; empty without labels.
fn labels(key: &Key, le: Option<&str>) -> String {
    let mut pairs: Vec<String> = key
        .labels()
        .map(|l| format!("{}=\"{}\"", l.key(), escape(l.value())))
        .collect();
    if let Some(le) = le {
        pairs.push(format!("le=\"{le}\""));
    }
    if pairs.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", pairs.join(","))
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Answers one request: the metrics for `GET /metrics` (or `/`), 404 for any other path, 405
/// for any other method.
async fn answer(mut stream: TcpStream, registry: &Registry) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 || head.len() + n > MAX_REQUEST_HEAD {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|b| *b == b' ');
    let (method, path) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let path = path.split(|b| *b == b'?').next().unwrap_or_default();
    let (status, body) = match (method, path) {
        (b"GET", b"/metrics" | b"/") => ("200 OK", registry.render()),
        (b"GET", _) => (
            "404 Not Found",
            "not found: metrics are at /metrics\n".to_owned(),
        ),
        _ => ("405 Method Not Allowed", "GET /metrics\n".to_owned()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_format_has_a_type_per_name_escaped_labels_and_cumulative_buckets() {
        let registry = Arc::new(Registry::default());
        let recorder = Shared(Arc::clone(&registry));
        let meta = Metadata::new("t", metrics::Level::INFO, None);
        let key = |name: &'static str, labels: &[(&'static str, &'static str)]| {
            let labels: Vec<metrics::Label> = labels
                .iter()
                .map(|(k, v)| metrics::Label::new(*k, *v))
                .collect();
            Key::from_parts(name, labels)
        };
        recorder
            .register_counter(&key("a_total", &[("who", "x\"y")]), &meta)
            .increment(3);
        recorder
            .register_counter(&key("a_total", &[("who", "z")]), &meta)
            .increment(1);
        recorder.register_gauge(&key("b", &[]), &meta).set(2.5);
        let h = recorder.register_histogram(&key("c_seconds", &[("s", "1")]), &meta);
        h.record(0.0002);
        h.record(0.3);
        h.record(60.0);
        let text = registry.render();
        assert_eq!(text.matches("# TYPE a_total counter").count(), 1, "{text}");
        assert!(text.contains("a_total{who=\"x\\\"y\"} 3\n"), "{text}");
        assert!(text.contains("a_total{who=\"z\"} 1\n"), "{text}");
        assert!(text.contains("# TYPE b gauge\nb 2.5\n"), "{text}");
        assert!(
            text.contains("c_seconds_bucket{s=\"1\",le=\"0.0005\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("c_seconds_bucket{s=\"1\",le=\"0.5\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("c_seconds_bucket{s=\"1\",le=\"10\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("c_seconds_bucket{s=\"1\",le=\"+Inf\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("c_seconds_count{s=\"1\"} 3\n"), "{text}");
        assert!(text.contains("c_seconds_sum{s=\"1\"} 60.3002\n"), "{text}");
    }
}
