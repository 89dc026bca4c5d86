//! Quiet connections set aside from the runtime: a plain-TCP connection quiet for the server's
//! `quiet_after` time (or at once after its exchange, when its traffic is sparse) leaves its task
//! and waits in the server's lot, and comes back to a new task for a message, a push, a close or
//! its idle deadline — with nothing lost and its rules unchanged; a peer closing ends it there.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use msgframe_conn::{Connection, Reply, Server, ServerBuilder, ServerHandle, Stats};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

const QUIET: Duration = Duration::from_millis(50);
/// The longest any test waits for a state it expects.
const WITHIN: Duration = Duration::from_secs(10);

fn builder() -> ServerBuilder {
    Server::builder("be:2".parse().unwrap()).quiet_after(QUIET)
}

/// An echo server; a message `close` makes the handler close the connection.
async fn echo(builder: ServerBuilder) -> (SocketAddr, ServerHandle, JoinHandle<()>) {
    let server = builder.bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let handle = server.handle();
    let task = tokio::spawn(async move {
        server
            .serve(|_c: Connection, m: Bytes| async move { Reply::Send(m) })
            .await
            .unwrap();
    });
    (addr, handle, task)
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

async fn exchange(stream: &mut TcpStream, body: &[u8]) -> Vec<u8> {
    stream.write_all(&framed(body)).await.unwrap();
    read_message(stream).await
}

async fn read_message(stream: &mut TcpStream) -> Vec<u8> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).await.unwrap();
    let mut body = vec![0u8; u16::from_be_bytes(head) as usize];
    stream.read_exact(&mut body).await.unwrap();
    body
}

/// Waits until the server's counters satisfy `what`, within [`WITHIN`].
async fn until(handle: &ServerHandle, what: impl Fn(&Stats) -> bool) -> Stats {
    let started = Instant::now();
    loop {
        let stats = handle.stats();
        if what(&stats) {
            return stats;
        }
        assert!(started.elapsed() < WITHIN, "never came: {stats:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(WITHIN, f).await.expect("in time")
}

#[tokio::test]
async fn a_quiet_connection_is_set_aside_and_served_again_when_a_message_comes() {
    let (addr, handle, _task) = echo(builder()).await;
    let mut client = TcpStream::connect(addr).await.unwrap();
    for round in 0..5u8 {
        assert_eq!(exchange(&mut client, &[round; 10]).await, [round; 10]);
        let stats = until(&handle, |s| s.set_aside == 1).await;
        assert_eq!(stats.open, 1);
    }
    let stats = handle.stats();
    assert_eq!((stats.frames_in, stats.frames_out, stats.errors), (5, 5, 0));
}

#[tokio::test]
async fn messages_sent_back_to_back_to_a_set_aside_connection_are_all_answered() {
    let (addr, handle, _task) = echo(builder()).await;
    let mut client = TcpStream::connect(addr).await.unwrap();
    exchange(&mut client, b"first").await;
    until(&handle, |s| s.set_aside == 1).await;
    let mut burst = Vec::new();
    for i in 0..200u16 {
        burst.extend(framed(&i.to_be_bytes()));
    }
    client.write_all(&burst).await.unwrap();
    for i in 0..200u16 {
        assert_eq!(within(read_message(&mut client)).await, i.to_be_bytes());
    }
}

#[tokio::test]
async fn a_push_takes_a_set_aside_connection_back() {
    let (addr, handle, _task) = echo(builder()).await;
    let mut client = TcpStream::connect(addr).await.unwrap();
    exchange(&mut client, b"hello").await;
    until(&handle, |s| s.set_aside == 1).await;
    let connection = handle.connections().pop().unwrap();
    within(connection.push(&b"pushed"[..], WITHIN))
        .await
        .unwrap();
    assert_eq!(within(read_message(&mut client)).await, b"pushed");
    // Quiet again, and set aside again.
    until(&handle, |s| s.set_aside == 1).await;
}

#[tokio::test]
async fn a_set_aside_connection_is_reaped_at_its_idle_time() {
    let idle = Duration::from_millis(400);
    let (addr, handle, _task) = echo(builder().idle_timeout(Some(idle))).await;
    let mut client = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    exchange(&mut client, b"hello").await;
    until(&handle, |s| s.set_aside == 1).await;
    let mut rest = Vec::new();
    within(client.read_to_end(&mut rest)).await.unwrap();
    assert!(
        started.elapsed() >= idle,
        "reaped after {:?}",
        started.elapsed()
    );
    let stats = until(&handle, |s| s.open == 0).await;
    assert_eq!((stats.reaped_idle, stats.set_aside), (1, 0));
}

#[tokio::test]
async fn a_peer_closing_a_set_aside_connection_ends_it() {
    let (addr, handle, _task) = echo(builder()).await;
    let mut client = TcpStream::connect(addr).await.unwrap();
    exchange(&mut client, b"hello").await;
    until(&handle, |s| s.set_aside == 1).await;
    drop(client);
    let stats = until(&handle, |s| s.open == 0).await;
    assert_eq!((stats.set_aside, stats.errors), (0, 0));
}

#[tokio::test]
async fn a_fresh_connection_is_set_aside_right_after_its_first_exchange() {
    // A quiet time far longer than the test: only the first exchange's end sets it aside.
    let (addr, handle, _task) = echo(builder().quiet_after(Duration::from_secs(600))).await;
    let mut client = TcpStream::connect(addr).await.unwrap();
    assert_eq!(exchange(&mut client, b"first").await, b"first");
    until(&handle, |s| s.set_aside == 1).await;
    // Back at once: a busy connection, which keeps its task for the quiet time.
    assert_eq!(exchange(&mut client, b"second").await, b"second");
    until(&handle, |s| s.set_aside == 0 && s.frames_out == 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        handle.stats().set_aside,
        0,
        "a busy connection keeps its task"
    );
    // Once aside long enough, it is quick again: set aside after its exchange.
    let (addr, handle, _task) = echo(builder().quiet_after(Duration::from_millis(200))).await;
    let mut client = TcpStream::connect(addr).await.unwrap();
    exchange(&mut client, b"first").await;
    until(&handle, |s| s.set_aside == 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    exchange(&mut client, b"sparse").await;
    let started = Instant::now();
    until(&handle, |s| s.set_aside == 1 && s.frames_out == 2).await;
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "set aside again before the quiet time, after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn peers_closing_set_aside_connections_end_each_with_its_cause_and_counts() {
    use msgframe_conn::{Disconnect, Handler};
    use std::sync::{Arc, Mutex};

    /// Echoes, and records why each connection ended.
    struct Recording(Arc<Mutex<Vec<String>>>);
    impl Handler for Recording {
        type Future = std::future::Ready<Reply>;
        fn handle(&self, _c: Connection, m: Bytes) -> Self::Future {
            std::future::ready(Reply::Send(m))
        }
        fn closed(&self, _c: &Connection, why: &Disconnect) {
            self.0.lock().unwrap().push(format!("{why:?}"));
        }
    }

    const CLIENTS: usize = 200;
    let ends = Arc::new(Mutex::new(Vec::new()));
    let server = builder()
        .quiet_after(Duration::from_secs(600))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let handle = server.handle();
    let recording = Recording(Arc::clone(&ends));
    let _task = tokio::spawn(async move { server.serve(recording).await.unwrap() });
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let mut client = TcpStream::connect(addr).await.unwrap();
        exchange(&mut client, &(i as u32).to_be_bytes()).await;
        clients.push(client);
    }
    until(&handle, |s| s.set_aside == CLIENTS as u64).await;
    // One resets its connection instead (no linger: the kernel sends a reset).
    let reset = clients.pop().unwrap();
    // Deprecated for lingering that blocks the thread on drop; a zero linger never does.
    #[allow(deprecated)]
    reset.set_linger(Some(Duration::ZERO)).unwrap();
    drop(reset);
    drop(clients);
    let stats = until(&handle, |s| s.open == 0).await;
    assert_eq!(
        (stats.set_aside, stats.accepted, stats.frames_out),
        (0, CLIENTS as u64, CLIENTS as u64)
    );
    let ends = ends.lock().unwrap();
    assert_eq!(ends.len(), CLIENTS);
    let closed = ends.iter().filter(|e| *e == "PeerClosed").count();
    let reset = ends.iter().filter(|e| e.starts_with("Read(")).count();
    assert_eq!((closed, reset), (CLIENTS - 1, 1), "{ends:?}");
}

#[tokio::test]
async fn shutdown_closes_set_aside_connections_at_once() {
    let (addr, handle, task) = echo(builder().shutdown_grace(Duration::from_secs(30))).await;
    let mut clients = Vec::new();
    for _ in 0..20 {
        let mut client = TcpStream::connect(addr).await.unwrap();
        exchange(&mut client, b"hello").await;
        clients.push(client);
    }
    until(&handle, |s| s.set_aside == 20).await;
    let connection = handle.connections().pop().unwrap();
    let started = Instant::now();
    handle.shutdown();
    within(task).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        within(connection.closed()).await.to_string(),
        msgframe_conn::Disconnect::Shutdown.to_string()
    );
    for mut client in clients {
        let mut rest = Vec::new();
        within(client.read_to_end(&mut rest)).await.unwrap();
    }
    assert_eq!(handle.stats().open, 0);
}

#[tokio::test]
async fn errors_after_a_connection_was_set_aside_name_offsets_in_the_whole_stream() {
    let builder = Server::builder("be:2,max=100".parse().unwrap()).quiet_after(QUIET);
    let (addr, handle, _task) = echo(builder).await;
    let mut client = TcpStream::connect(addr).await.unwrap();
    exchange(&mut client, b"0123456789").await; // bytes 0..12 of the stream
    until(&handle, |s| s.set_aside == 1).await;
    let connection = handle.connections().pop().unwrap();
    client.write_all(&[0x01, 0x00]).await.unwrap(); // claims 256 bytes at offset 12
    let cause = within(connection.closed()).await.to_string();
    assert!(cause.contains("offset 12"), "{cause}");
}

#[tokio::test]
async fn with_set_aside_off_a_quiet_connection_keeps_its_task() {
    let (addr, handle, _task) = echo(builder().set_aside_quiet(false)).await;
    let mut client = TcpStream::connect(addr).await.unwrap();
    exchange(&mut client, b"hello").await;
    tokio::time::sleep(QUIET * 6).await;
    assert_eq!(handle.stats().set_aside, 0);
    assert_eq!(exchange(&mut client, b"again").await, b"again");
}
