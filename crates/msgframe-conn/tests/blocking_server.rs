//! The server for plain threads: each connection's session on the thread that owns its socket,
//! with the async server's rules (pushes, reaping, caps, shutdown).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;
use msgframe_conn::{BlockingServer, Connection, Reply, Server, ServerBuilder, ServerHandle};

const MS: Duration = Duration::from_millis(1);
const S: Duration = Duration::from_secs(1);

fn builder() -> ServerBuilder {
    Server::builder("be:2".parse().unwrap())
}

fn serve(
    server: BlockingServer,
    handler: impl Fn(Connection, Bytes) -> Reply + Send + Sync + 'static,
) -> (SocketAddr, ServerHandle, std::thread::JoinHandle<()>) {
    let addr = server.local_addr();
    let handle = server.handle();
    let serving = std::thread::spawn(move || server.serve(handler).unwrap());
    (addr, handle, serving)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(5 * S)).unwrap();
    stream
}

fn request(stream: &mut TcpStream, body: &[u8]) -> Vec<u8> {
    let mut framed = (body.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(body);
    stream.write_all(&framed).unwrap();
    read(stream)
}

fn read(stream: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).unwrap();
    let mut body = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut body).unwrap();
    body
}

/// Whether the server closed (or reset) the connection within the read timeout.
fn closed(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(stream.read(&mut byte), Ok(0) | Err(_))
}

fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if cond() {
            return true;
        }
        std::thread::sleep(5 * MS);
    }
    cond()
}

#[test]
fn the_handler_runs_on_the_thread_that_owns_the_connection() {
    let server = builder().bind_blocking("127.0.0.1:0").unwrap();
    let (addr, handle, serving) = serve(server, |_c, _m| {
        let name = std::thread::current().name().unwrap_or("").to_owned();
        Reply::send(name)
    });
    let mut a = connect(addr);
    let mut b = connect(addr);
    let first = request(&mut a, b"?");
    assert!(first.starts_with(b"msgframe-conn-"), "{first:?}");
    assert_eq!(request(&mut a, b"?"), first, "the same thread every time");
    assert_ne!(
        request(&mut b, b"?"),
        first,
        "another connection, another thread"
    );
    handle.shutdown();
    serving.join().unwrap();
    assert_eq!(handle.stats().frames_in, 3);
}

#[test]
fn pushes_from_other_threads_reach_the_client_between_replies() {
    let server = builder().bind_blocking("127.0.0.1:0").unwrap();
    let (addr, handle, serving) = serve(server, |_c, m| Reply::Send(m));
    let mut client = connect(addr);
    assert_eq!(request(&mut client, b"hi"), b"hi");
    let conn = handle.connections().pop().unwrap();
    let pushers: Vec<_> = (0..4)
        .map(|i| {
            let conn = conn.clone();
            std::thread::spawn(move || conn.push_blocking(format!("push {i}"), S))
        })
        .collect();
    for p in pushers {
        p.join().unwrap().unwrap();
    }
    let mut got: Vec<Vec<u8>> = (0..4).map(|_| read(&mut client)).collect();
    got.sort();
    assert_eq!(got[0], b"push 0");
    assert_eq!(got[3], b"push 3");
    assert_eq!(request(&mut client, b"after"), b"after");
    handle.shutdown();
    serving.join().unwrap();
}

#[test]
fn idle_and_slow_connections_are_reaped_and_caps_refuse() {
    // The idle limit is well above the message deadline and the time the steps before `slow`'s
    // first byte take on a loaded machine: `slow` must be reaped as slow, not as idle.
    let server = builder()
        .idle_timeout(Some(S))
        .message_timeout(Some(200 * MS))
        .max_per_client(2)
        .bind_blocking("127.0.0.1:0")
        .unwrap();
    let (addr, handle, serving) = serve(server, |_c, m| Reply::Send(m));
    let mut idle = connect(addr);
    let mut slow = connect(addr);
    assert_eq!(request(&mut idle, b"x"), b"x");
    // Over the cap for this address: refused at once.
    let mut third = connect(addr);
    assert!(closed(&mut third));
    // Half a message, never finished: reaped at the message deadline, however it trickles.
    slow.write_all(&[0, 10, b'a']).unwrap();
    let started = Instant::now();
    assert!(closed(&mut slow));
    assert!(started.elapsed() < 2 * S);
    assert!(closed(&mut idle));
    assert!(eventually(S, || {
        let s = handle.stats();
        s.reaped_idle == 1 && s.reaped_slow == 1 && s.refused_per_client == 1 && s.open == 0
    }));
    handle.shutdown();
    serving.join().unwrap();
}

#[test]
fn a_panicking_handler_closes_only_its_connection() {
    let server = builder().bind_blocking("127.0.0.1:0").unwrap();
    let (addr, handle, serving) = serve(server, |_c, m: Bytes| {
        assert!(&m[..] != b"boom", "the handler fails on purpose");
        Reply::Send(m)
    });
    let mut bad = connect(addr);
    let mut good = connect(addr);
    bad.write_all(&[0, 4, b'b', b'o', b'o', b'm']).unwrap();
    assert!(closed(&mut bad));
    assert_eq!(request(&mut good, b"fine"), b"fine");
    handle.shutdown();
    serving.join().unwrap();
}

#[test]
fn shutdown_lets_a_handler_in_progress_answer() {
    let server = builder()
        .shutdown_grace(5 * S)
        .bind_blocking("127.0.0.1:0")
        .unwrap();
    let (addr, handle, serving) = serve(server, |_c, m| {
        std::thread::sleep(300 * MS);
        Reply::Send(m)
    });
    let mut client = connect(addr);
    client.write_all(&[0, 4, b's', b'l', b'o', b'w']).unwrap();
    std::thread::sleep(50 * MS);
    handle.shutdown();
    assert_eq!(read(&mut client), b"slow");
    assert!(closed(&mut client));
    serving.join().unwrap();
}
