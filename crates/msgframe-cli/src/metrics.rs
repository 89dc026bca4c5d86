//! `--metrics ADDR`: the library's counters and histograms (servers and clients, see
//! `msgframe_conn`'s feature `metrics`) in the Prometheus text format, over HTTP on `ADDR`:
//! `GET /metrics`. A small responder of our own: one request per connection, a bounded request
//! head, a deadline, nothing else served.

use std::net::SocketAddr;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::error::{Failure, Result};

/// The most bytes of a request head read before answering.
const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// How long a scraper may take to send its request and read the answer.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often histograms' old samples are dropped (the exporter's upkeep).
const UPKEEP: Duration = Duration::from_secs(5);

/// Installs the Prometheus recorder (before any server or client is built, so that their
/// metrics reach it) and serves it on `addr`; returns the address bound (port 0 picks one).
pub async fn serve(addr: &str) -> Result<SocketAddr> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| Failure::usage(format!("cannot listen on {addr} for --metrics: {e}")))?;
    let bound = listener.local_addr()?;
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| Failure::usage(format!("--metrics: {e}")))?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(UPKEEP).await;
            upkeep.run_upkeep();
        }
    });
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handle = handle.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(SCRAPE_TIMEOUT, answer(stream, &handle)).await;
            });
        }
    });
    Ok(bound)
}

/// Answers one request: the metrics for `GET /metrics` (or `/`), 404 for any other path, 405
/// for any other method.
async fn answer(mut stream: TcpStream, handle: &PrometheusHandle) -> std::io::Result<()> {
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
        (b"GET", b"/metrics" | b"/") => ("200 OK", handle.render()),
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
