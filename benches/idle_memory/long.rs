//! What a long client costs its own process (`--idle-role long plain|msgframe ADDR N`): N
//! connections held by one process after one request each, as plain tokio `TcpStream`s or as
//! msgframe-conn `LongClient`s (defaults: keepalive, reconnect; no heartbeat), on a
//! multi-threaded runtime with two workers.
//!
//! The same lines as the load client: `READY`; on `open`, opens them ([`WINDOW`] at a time) and
//! prints `OPEN <seconds> <seconds> <failed>`; on `close`, closes them and prints `CLOSED`.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::join_all;
use msgframe::conn::LongClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

use super::child::read_command;
use super::frames::{request_frame, PAYLOAD};
use super::load::WINDOW;

/// The longest one connection and its exchange may take.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(10);

/// The connections a client process holds.
enum Held {
    Plain(Vec<TcpStream>),
    Long(Vec<LongClient>),
}

pub fn run(kind: &str, addr: SocketAddr, n: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!("READY");
    if read_command().as_deref() != Some("open") {
        return;
    }
    let start = Instant::now();
    let (held, failed) = match kind {
        "plain" => rt.block_on(plain_streams(addr, n)),
        "msgframe" => rt.block_on(long_clients(addr, n)),
        other => panic!("no long client called {other}"),
    };
    let took = start.elapsed().as_secs_f64();
    println!("OPEN {took:.3} {took:.3} {failed}");
    if read_command().as_deref() != Some("close") {
        return;
    }
    close(&rt, held);
    println!("CLOSED");
    while read_command().is_some() {}
}

/// `n` plain tokio streams, each after one echo.
async fn plain_streams(addr: SocketAddr, n: usize) -> (Held, usize) {
    let frame = request_frame();
    let mut held = Vec::with_capacity(n);
    let mut failed = 0;
    for batch in batches(n) {
        let exchanges = (0..batch).map(|_| plain_exchange(addr, &frame));
        for outcome in join_all(exchanges).await {
            match outcome {
                Ok(stream) => held.push(stream),
                Err(e) => count_failure(&mut failed, &e),
            }
        }
    }
    (Held::Plain(held), failed)
}

/// Connects, sends `frame` and reads its echo, within [`EXCHANGE_LIMIT`].
async fn plain_exchange(addr: SocketAddr, frame: &[u8]) -> io::Result<TcpStream> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        stream.write_all(frame).await?;
        let mut echo = vec![0u8; frame.len()];
        stream.read_exact(&mut echo).await?;
        if echo != frame {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "not an echo"));
        }
        Ok(stream)
    };
    tokio::time::timeout(EXCHANGE_LIMIT, exchange).await?
}

/// `n` long clients, each after one request.
async fn long_clients(addr: SocketAddr, n: usize) -> (Held, usize) {
    let body = Bytes::from(request_frame().split_off(2));
    let host = addr.to_string();
    let mut held = Vec::with_capacity(n);
    let mut failed = 0;
    for batch in batches(n) {
        let clients: Vec<LongClient> = (0..batch)
            .map(|_| {
                LongClient::builder([host.as_str()], "be:2".parse().unwrap())
                    .start()
                    .unwrap()
            })
            .collect();
        let requests = clients
            .iter()
            .map(|c| c.request(body.clone(), EXCHANGE_LIMIT));
        for reply in join_all(requests).await {
            match reply {
                Ok(reply) if reply.len() == PAYLOAD => {}
                Ok(_) => count_failure(&mut failed, &"a reply of another size"),
                Err(e) => count_failure(&mut failed, &e),
            }
        }
        held.extend(clients);
    }
    (Held::Long(held), failed)
}

/// Closes every connection: streams are dropped, long clients closed ([`WINDOW`] at a time).
fn close(rt: &Runtime, held: Held) {
    match held {
        Held::Plain(streams) => drop(streams),
        Held::Long(clients) => rt.block_on(async {
            for batch in clients.chunks(WINDOW) {
                join_all(batch.iter().map(LongClient::close)).await;
            }
        }),
    }
}

/// `n` as batches of at most [`WINDOW`].
fn batches(n: usize) -> impl Iterator<Item = usize> {
    (0..n)
        .step_by(WINDOW)
        .map(move |start| WINDOW.min(n - start))
}

/// Counts a failed connection; the first failure is told on stderr.
fn count_failure(failed: &mut usize, e: &dyn std::fmt::Display) {
    if *failed == 0 {
        eprintln!("long client: a connection failed: {e}");
    }
    *failed += 1;
}
