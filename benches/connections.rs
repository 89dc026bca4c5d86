//! Connections over loopback TCP: what msgframe-conn costs against the same work done by hand.
//!
//! Three workloads, each as a ratio against a reference measured in the same round (rounds
//! interleaved, so that the machine's drift cancels; the median of the per-round ratios is
//! reported):
//!
//! - `accept`: 4 client tasks open connections one after the other; each sends one 100-byte be:2
//!   message, reads the echo and closes. Server: msgframe's `Server` (an echo handler) against a
//!   bare tokio accept loop with a task per connection echoing through a stack buffer.
//! - `request`: one long connection, one request at a time (100 bytes): `LongClient::request`
//!   against a `MessageWriter` + `MessageReader` round trip by hand, both to a bare echo server.
//! - `matched`: one long connection, 64 requests in flight (100 bytes, a 4-byte sequence key):
//!   `LongClient` with `match_replies` (64 tasks) against a hand-written pipeline with a window of
//!   64 (a writer task and a reader task), both to a bare echo server.
//!
//! Run with `cargo bench --bench connections --features conn` (about a minute). The table is
//! printed and written to `target/criterion/msgframe-connections.txt`.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use msgframe::conn::{Connection, LongClient, Reply, Server};
use msgframe::Framing;
use msgframe_tokio::{MessageReader, MessageWriter};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;

const ROUNDS: usize = 11;
const PAYLOAD: usize = 100;
const CONNECTIONS: usize = 400;
const CLIENT_TASKS: usize = 4;
const REQUESTS: usize = 4000;
const MATCHED: usize = 20_000;
const WINDOW: usize = 64;

fn be2() -> Framing {
    "be:2".parse().unwrap()
}

/// A bare echo server: a task per connection copying bytes back through a stack buffer.
async fn bare_echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

async fn msgframe_echo() -> SocketAddr {
    let server = Server::builder(be2()).bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.serve(|_c: Connection, m: Bytes| async move { Reply::Send(m) }));
    addr
}

/// One round of the accept workload against `addr`.
async fn accept_round(addr: SocketAddr) -> Duration {
    let mut frame = vec![0u8, PAYLOAD as u8];
    frame.extend(std::iter::repeat_n(7u8, PAYLOAD));
    let frame = Arc::new(frame);
    let start = Instant::now();
    let tasks: Vec<_> = (0..CLIENT_TASKS)
        .map(|_| {
            let frame = Arc::clone(&frame);
            tokio::spawn(async move {
                let mut reply = vec![0u8; frame.len()];
                for _ in 0..CONNECTIONS / CLIENT_TASKS {
                    let mut stream = TcpStream::connect(addr).await.unwrap();
                    stream.set_nodelay(true).unwrap();
                    stream.write_all(&frame).await.unwrap();
                    stream.read_exact(&mut reply).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed()
}

async fn request_by_hand(addr: SocketAddr) -> Duration {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (r, w) = stream.into_split();
    let mut reader = MessageReader::new(r, be2());
    let mut writer = MessageWriter::new(w, be2());
    let body = vec![7u8; PAYLOAD];
    let start = Instant::now();
    for _ in 0..REQUESTS {
        writer.write_message(&body).await.unwrap();
        let reply = reader.read_message().await.unwrap();
        assert_eq!(reply.len(), PAYLOAD);
    }
    start.elapsed()
}

async fn request_long_client(addr: SocketAddr) -> Duration {
    let client = LongClient::builder([addr.to_string()], be2())
        .start()
        .unwrap();
    client.wait_connected(Duration::from_secs(5)).await.unwrap();
    let body = Bytes::from(vec![7u8; PAYLOAD]);
    let start = Instant::now();
    for _ in 0..REQUESTS {
        let reply = client
            .request(body.clone(), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(reply.len(), PAYLOAD);
    }
    let took = start.elapsed();
    client.close().await;
    took
}

fn keyed(seq: u32) -> Vec<u8> {
    let mut m = seq.to_be_bytes().to_vec();
    m.resize(PAYLOAD, 7);
    m
}

async fn matched_by_hand(addr: SocketAddr) -> Duration {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (r, w) = stream.into_split();
    let window = Arc::new(Semaphore::new(WINDOW));
    let start = Instant::now();
    let writing = {
        let window = Arc::clone(&window);
        tokio::spawn(async move {
            let mut writer = MessageWriter::new(w, be2());
            for seq in 0..MATCHED as u32 {
                window.acquire().await.unwrap().forget();
                writer.write_message(&keyed(seq)).await.unwrap();
            }
            writer
        })
    };
    let mut reader = MessageReader::new(r, be2());
    for _ in 0..MATCHED {
        let reply = reader.read_message().await.unwrap();
        assert_eq!(reply.len(), PAYLOAD);
        window.add_permits(1);
    }
    let took = start.elapsed();
    drop(writing.await.unwrap());
    took
}

async fn matched_long_client(addr: SocketAddr) -> Duration {
    let client = LongClient::builder([addr.to_string()], be2())
        .match_replies(|m: &[u8]| Some(u32::from_be_bytes(m.get(..4)?.try_into().ok()?)))
        .max_in_flight(WINDOW)
        .queue(WINDOW)
        .start()
        .unwrap();
    client.wait_connected(Duration::from_secs(5)).await.unwrap();
    let start = Instant::now();
    let tasks: Vec<_> = (0..WINDOW)
        .map(|t| {
            let sender = client.sender();
            tokio::spawn(async move {
                for i in 0..MATCHED / WINDOW {
                    let seq = (i * WINDOW + t) as u32;
                    let reply = sender
                        .request(keyed(seq), Duration::from_secs(10))
                        .await
                        .unwrap();
                    assert_eq!(reply.len(), PAYLOAD);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let took = start.elapsed();
    client.close().await;
    took
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Runs `reference` and `ours` alternately for `ROUNDS` rounds after one warm-up each; returns
/// (reference rate, our rate, median of per-round rate ratios ours / reference).
fn interleaved(
    rt: &Runtime,
    operations: usize,
    mut reference: impl FnMut() -> Duration,
    mut ours: impl FnMut() -> Duration,
) -> (f64, f64, f64) {
    let _ = rt;
    reference();
    ours();
    let (mut r, mut o, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let a = reference().as_secs_f64();
        let b = ours().as_secs_f64();
        r.push(operations as f64 / a);
        o.push(operations as f64 / b);
        ratios.push(a / b);
    }
    (median(&mut r), median(&mut o), median(&mut ratios))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        // `cargo test` runs benches once in test mode: nothing to check here.
        return;
    }
    let load_before = support::load_average();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let bare = rt.block_on(bare_echo());
    let ours = rt.block_on(msgframe_echo());
    let mut rows = vec![vec![
        "workload".to_owned(),
        "reference /s".to_owned(),
        "msgframe /s".to_owned(),
        "msgframe / reference".to_owned(),
    ]];
    let mut push = |name: &str, (r, o, ratio): (f64, f64, f64)| {
        rows.push(vec![
            name.to_owned(),
            format!("{r:.0}"),
            format!("{o:.0}"),
            format!("{ratio:.2}"),
        ]);
    };
    push(
        "accept: connect, one echo, close (Server vs bare tokio)",
        interleaved(
            &rt,
            CONNECTIONS,
            || rt.block_on(accept_round(bare)),
            || rt.block_on(accept_round(ours)),
        ),
    );
    push(
        "request: one at a time (LongClient vs by hand)",
        interleaved(
            &rt,
            REQUESTS,
            || rt.block_on(request_by_hand(bare)),
            || rt.block_on(request_long_client(bare)),
        ),
    );
    push(
        "matched: 64 in flight (LongClient vs by hand)",
        interleaved(
            &rt,
            MATCHED,
            || rt.block_on(matched_by_hand(bare)),
            || rt.block_on(matched_long_client(bare)),
        ),
    );
    support::report(
        "msgframe-conn over loopback TCP, be:2, 100-byte messages (median of 11 interleaved rounds)",
        support::table(&rows),
        load_before,
        "msgframe-connections.txt",
    );
}
