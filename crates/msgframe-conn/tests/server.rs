//! The server on loopback: handlers, pushes, idle reaping, slow loris, caps per client address and
//! in total, allow and deny lists, malformed frames, graceful shutdown, counters.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use msgframe_codec::Framing;
use msgframe_conn::{Connection, Handler, Reply, Server, ServerBuilder, ServerHandle};
use msgframe_tokio::{MessageReader, MessageWriter};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;

const S: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

fn be2() -> Framing {
    "be:2".parse().unwrap()
}

async fn echo(_conn: Connection, message: Bytes) -> Reply {
    Reply::Send(message)
}

/// Binds `builder` on loopback and serves `handler` in a task.
async fn start(
    builder: ServerBuilder,
    handler: impl Handler,
) -> (SocketAddr, ServerHandle, JoinHandle<()>) {
    let server = builder.bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let handle = server.handle();
    let task = tokio::spawn(async move { server.serve(handler).await.unwrap() });
    (addr, handle, task)
}

/// A client connection from the loopback address `from` (127.0.0.2, 127.0.0.3, ...).
struct Client {
    reader: MessageReader<OwnedReadHalf, Framing>,
    writer: MessageWriter<OwnedWriteHalf, Framing>,
}

impl Client {
    async fn connect(server: SocketAddr, from: &str) -> Client {
        let stream = connect_raw(server, from).await;
        let (r, w) = stream.into_split();
        Client {
            reader: MessageReader::new(r, be2()),
            writer: MessageWriter::new(w, be2()),
        }
    }

    async fn request(&mut self, body: &[u8]) -> Result<Bytes, msgframe_io::Error> {
        self.writer.write_message(body).await?;
        self.reader.read_message_timeout(5 * S).await
    }

    /// Whether the server has closed (or reset) the connection, within `limit`.
    async fn is_closed_within(&mut self, limit: Duration) -> bool {
        match tokio::time::timeout(limit, self.reader.read_message()).await {
            Ok(Err(e)) => e.is_closed() || matches!(e, msgframe_io::Error::Io(_)),
            Ok(Ok(_)) | Err(_) => false,
        }
    }
}

async fn connect_raw(server: SocketAddr, from: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(server).await.unwrap()
}

#[tokio::test]
async fn the_handler_answers_every_message_and_the_counters_add_up() {
    let (addr, handle, _task) = start(Server::builder(be2()), echo).await;
    let mut client = Client::connect(addr, "127.0.0.1").await;
    for i in 0..10u8 {
        assert_eq!(&client.request(&[i; 5]).await.unwrap()[..], &[i; 5]);
    }
    let stats = handle.stats();
    assert_eq!(stats.accepted, 1);
    assert_eq!(stats.open, 1);
    assert_eq!((stats.frames_in, stats.frames_out), (10, 10));
    assert_eq!((stats.bytes_in, stats.bytes_out), (50, 50));
}

#[tokio::test]
async fn the_handler_may_answer_nothing_or_close() {
    let handler = |_conn: Connection, m: Bytes| async move {
        match &m[..] {
            b"quiet" => Reply::Nothing,
            b"bye" => Reply::SendAndClose(Bytes::from_static(b"goodbye")),
            b"drop" => Reply::Close,
            _ => Reply::Send(m),
        }
    };
    let (addr, handle, _task) = start(Server::builder(be2()), handler).await;
    let mut client = Client::connect(addr, "127.0.0.1").await;
    client.writer.write_message(b"quiet").await.unwrap();
    assert_eq!(&client.request(b"ping").await.unwrap()[..], b"ping");
    assert_eq!(&client.request(b"bye").await.unwrap()[..], b"goodbye");
    assert!(client.is_closed_within(S).await);
    let mut other = Client::connect(addr, "127.0.0.1").await;
    other.writer.write_message(b"drop").await.unwrap();
    assert!(other.is_closed_within(S).await);
    assert_eq!(handle.stats().errors, 0);
}

#[tokio::test]
async fn the_server_pushes_messages_to_a_connection_on_its_own() {
    let (addr, handle, _task) = start(Server::builder(be2()), echo).await;
    let mut client = Client::connect(addr, "127.0.0.1").await;
    // The connection is registered once accepted.
    let conn = loop {
        if let Some(c) = handle.connections().pop() {
            break c;
        }
        tokio::time::sleep(5 * MS).await;
    };
    assert_eq!(conn.peer().ip().to_string(), "127.0.0.1");
    conn.push(&b"deliver_sm"[..], S).await.unwrap();
    let pushed = client.reader.read_message_timeout(S).await.unwrap();
    assert_eq!(&pushed[..], b"deliver_sm");
    assert_eq!(handle.connection(conn.id()).unwrap().id(), conn.id());
    drop(client);
    let err = loop {
        match conn.push(&b"too late"[..], S).await {
            Err(e) => break e,
            Ok(()) => tokio::time::sleep(10 * MS).await,
        }
    };
    assert!(
        err.is_not_sent() || matches!(err, msgframe_conn::Error::ConnectionLost { .. }),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_idle_connection_is_reaped_after_the_idle_time_and_not_before() {
    let builder = Server::builder(be2()).idle_timeout(Some(10 * S));
    let (addr, handle, _task) = start(builder, echo).await;
    let mut client = Client::connect(addr, "127.0.0.1").await;
    client.request(b"hello").await.unwrap();
    let last = tokio::time::Instant::now();
    tokio::time::sleep_until(last + 9500 * MS).await;
    assert_eq!(handle.stats().open, 1, "still open before the idle time");
    assert!(client.is_closed_within(S).await, "closed after it");
    assert!(last.elapsed() >= 10 * S);
    let stats = handle.stats();
    assert_eq!((stats.reaped_idle, stats.open), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_slow_loris_is_closed_at_its_message_deadline() {
    let builder = Server::builder(be2())
        .idle_timeout(Some(60 * S))
        .message_timeout(Some(2 * S));
    let (addr, handle, _task) = start(builder, echo).await;
    let mut stream = connect_raw(addr, "127.0.0.1").await;
    // A header announcing 1000 bytes, then a byte every 100 ms: steady, never whole.
    stream.write_all(&[0x03, 0xE8]).await.unwrap();
    let first = tokio::time::Instant::now();
    let mut closed_after = None;
    for _ in 0..100 {
        tokio::time::sleep(100 * MS).await;
        if stream.write_all(b"x").await.is_err() || handle.stats().reaped_slow == 1 {
            closed_after = Some(first.elapsed());
            break;
        }
    }
    let took = closed_after.expect("closed");
    assert!(took >= 2 * S && took <= 2 * S + 200 * MS, "{took:?}");
    let mut rest = Vec::new();
    let n = tokio::time::timeout(S, stream.read_to_end(&mut rest)).await;
    assert!(matches!(n, Ok(Ok(0)) | Ok(Err(_))), "{n:?}");
}

#[tokio::test]
async fn the_per_client_cap_refuses_one_address_and_serves_another() {
    let builder = Server::builder(be2()).max_per_client(2);
    let (addr, handle, _task) = start(builder, echo).await;
    let mut a1 = Client::connect(addr, "127.0.0.2").await;
    let mut a2 = Client::connect(addr, "127.0.0.2").await;
    a1.request(b"1").await.unwrap();
    a2.request(b"2").await.unwrap();
    let mut a3 = Client::connect(addr, "127.0.0.2").await;
    assert!(
        a3.is_closed_within(S).await,
        "the third from 127.0.0.2 is refused"
    );
    let mut b = Client::connect(addr, "127.0.0.3").await;
    assert_eq!(
        &b.request(b"still served").await.unwrap()[..],
        b"still served"
    );
    assert_eq!(&a1.request(b"unaffected").await.unwrap()[..], b"unaffected");
    let stats = handle.stats();
    assert_eq!(stats.refused_per_client, 1);
    assert_eq!(stats.accepted, 3);
    // A place frees up when a connection closes.
    drop(a2);
    let mut admitted = false;
    for _ in 0..100 {
        tokio::time::sleep(10 * MS).await;
        if handle.stats().open == 2 {
            let mut a4 = Client::connect(addr, "127.0.0.2").await;
            admitted = a4.request(b"4").await.is_ok();
            break;
        }
    }
    assert!(admitted);
}

#[tokio::test]
async fn the_global_cap_refuses_every_client_beyond_it_with_a_rejection_message() {
    let builder = Server::builder(be2())
        .max_connections(3)
        .reject_message(&b"busy, try later"[..]);
    let (addr, handle, _task) = start(builder, echo).await;
    let mut open = Vec::new();
    for from in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
        let mut c = Client::connect(addr, from).await;
        c.request(b"x").await.unwrap();
        open.push(c);
    }
    let mut refused = Client::connect(addr, "127.0.0.5").await;
    let message = refused.reader.read_message_timeout(S).await.unwrap();
    assert_eq!(&message[..], b"busy, try later");
    assert!(refused.is_closed_within(S).await);
    assert_eq!(handle.stats().refused_total_cap, 1);
}

#[tokio::test]
async fn deny_and_allow_lists_are_checked_before_serving() {
    let builder = Server::builder(be2())
        .allow(["127.0.0.0/29".parse().unwrap()])
        .deny(["127.0.0.2".parse().unwrap()]);
    let (addr, handle, _task) = start(builder, echo).await;
    let mut denied = Client::connect(addr, "127.0.0.2").await;
    assert!(denied.is_closed_within(S).await);
    let mut outside = Client::connect(addr, "127.0.0.9").await;
    assert!(outside.is_closed_within(S).await);
    let mut allowed = Client::connect(addr, "127.0.0.3").await;
    assert!(allowed.request(b"ok").await.is_ok());
    assert_eq!(handle.stats().refused_address, 2);
}

#[tokio::test]
async fn a_malformed_frame_closes_only_its_connection() {
    let builder = Server::builder("ascii:4,max=100".parse().unwrap());
    let (addr, handle, _task) = start(builder, echo).await;
    let mut good = connect_raw(addr, "127.0.0.1").await;
    let mut bad = connect_raw(addr, "127.0.0.1").await;
    bad.write_all(b"12x4hello").await.unwrap();
    let mut rest = Vec::new();
    let n = tokio::time::timeout(S, bad.read_to_end(&mut rest)).await;
    assert!(matches!(n, Ok(Ok(0)) | Ok(Err(_))), "{n:?}");
    // Oversized (the framing's max=100): closed too.
    let mut big = connect_raw(addr, "127.0.0.1").await;
    big.write_all(b"0500").await.unwrap();
    let n = tokio::time::timeout(S, big.read_to_end(&mut rest)).await;
    assert!(matches!(n, Ok(Ok(0)) | Ok(Err(_))), "{n:?}");
    good.write_all(b"0002ok").await.unwrap();
    let mut reply = [0u8; 6];
    good.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply, b"0002ok");
    assert_eq!(handle.stats().errors, 2);
}

#[tokio::test]
async fn graceful_shutdown_lets_a_slow_handler_finish() {
    let started = Arc::new(tokio::sync::Notify::new());
    let notify = Arc::clone(&started);
    let handler = move |_conn: Connection, m: Bytes| {
        let notify = Arc::clone(&notify);
        async move {
            notify.notify_one();
            tokio::time::sleep(500 * MS).await;
            Reply::Send(m)
        }
    };
    let server = Server::builder(be2())
        .shutdown_grace(5 * S)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let handle = server.handle();
    let serving = tokio::spawn(server.serve(handler));
    let mut client = Client::connect(addr, "127.0.0.1").await;
    client.writer.write_message(b"slow work").await.unwrap();
    started.notified().await;
    handle.shutdown();
    let reply = client.reader.read_message_timeout(2 * S).await.unwrap();
    assert_eq!(&reply[..], b"slow work");
    tokio::time::timeout(2 * S, serving)
        .await
        .expect("serve returns after the handler finished")
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn shutdown_closes_handlers_that_outlast_the_grace() {
    let handler = |_conn: Connection, m: Bytes| async move {
        tokio::time::sleep(60 * S).await;
        Reply::Send(m)
    };
    let server = Server::builder(be2())
        .shutdown_grace(200 * MS)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let handle = server.handle();
    let serving = tokio::spawn(server.serve(handler));
    let mut client = Client::connect(addr, "127.0.0.1").await;
    client.writer.write_message(b"forever").await.unwrap();
    tokio::time::sleep(50 * MS).await;
    handle.shutdown();
    tokio::time::timeout(2 * S, serving)
        .await
        .expect("serve returns after the grace")
        .unwrap()
        .unwrap();
    assert!(client.is_closed_within(S).await);
    assert_eq!(handle.stats().open, 0);
}

#[tokio::test]
async fn the_server_answers_client_heartbeats_without_the_handler() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let handler = move |_conn: Connection, m: Bytes| {
        log.lock().unwrap().push(m.clone());
        async move { Reply::Send(m) }
    };
    let builder =
        Server::builder(be2()).answer_heartbeats(msgframe_conn::AnswerHeartbeats::empty_frames());
    let (addr, _handle, _task) = start(builder, handler).await;
    let mut client = Client::connect(addr, "127.0.0.1").await;
    assert_eq!(&client.request(b"").await.unwrap()[..], b"");
    assert_eq!(&client.request(b"work").await.unwrap()[..], b"work");
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "the handler saw only the real message"
    );
}

#[tokio::test]
async fn accepted_sockets_get_the_keepalive_settings() {
    let wanted = msgframe_conn::Keepalive {
        idle: 11 * S,
        interval: 2 * S,
        retries: 6,
        user_timeout: Some(23 * S),
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let builder = Server::builder(be2())
        .keepalive(Some(wanted))
        .socket_options(move |stream| {
            let _ = tx.send(msgframe_conn::Keepalive::read(stream));
            Ok(())
        });
    let (addr, _handle, _task) = start(builder, echo).await;
    let mut client = Client::connect(addr, "127.0.0.1").await;
    client.request(b"x").await.unwrap();
    let read = rx.recv().await.unwrap().unwrap();
    assert_eq!(read, wanted);
}

#[tokio::test]
async fn a_panicking_handler_closes_only_its_connection() {
    let handler = |_conn: Connection, m: Bytes| async move {
        if &m[..] == b"boom" {
            panic!("handler bug");
        }
        Reply::Send(m)
    };
    let (addr, handle, _task) = start(Server::builder(be2()), handler).await;
    let mut victim = Client::connect(addr, "127.0.0.1").await;
    let mut other = Client::connect(addr, "127.0.0.1").await;
    victim.writer.write_message(b"boom").await.unwrap();
    assert!(victim.is_closed_within(S).await);
    assert_eq!(&other.request(b"fine").await.unwrap()[..], b"fine");
    let mut later = Client::connect(addr, "127.0.0.1").await;
    assert_eq!(&later.request(b"still").await.unwrap()[..], b"still");
    assert_eq!(handle.stats().open, 2);
}

#[test]
fn a_blocking_server_serves_plain_threads_and_stops_on_shutdown() {
    let server = Server::builder(be2()).bind_blocking("127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    let handle = server.handle();
    let serving = std::thread::spawn(move || {
        server.serve(|_conn, m: Bytes| {
            // A blocking handler: allowed to sleep, read files, call databases.
            std::thread::sleep(Duration::from_millis(5));
            Reply::Send(m)
        })
    });
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(5 * S)).unwrap();
    for i in 0..3u8 {
        std::io::Write::write_all(&mut stream, &[0, 2, b'#', b'0' + i]).unwrap();
        let mut reply = [0u8; 4];
        std::io::Read::read_exact(&mut stream, &mut reply).unwrap();
        assert_eq!(reply, [0, 2, b'#', b'0' + i]);
    }
    handle.shutdown();
    serving.join().unwrap().unwrap();
    assert_eq!(handle.stats().frames_in, 3);
}

/// A handler that greets every connection as it opens (a host that speaks first) and counts
/// messages.
struct Greeter;

impl Handler for Greeter {
    type Future = std::future::Ready<Reply>;

    fn handle(&self, _connection: Connection, message: Bytes) -> Self::Future {
        std::future::ready(Reply::Send(message))
    }

    fn opened(&self, connection: &Connection) {
        let connection = connection.clone();
        tokio::spawn(async move {
            let _ = connection.push(&b"hello"[..], S).await;
        });
    }
}

#[tokio::test]
async fn a_handler_hears_of_each_connection_as_it_opens() {
    let (addr, _handle, _task) = start(Server::builder(be2()), Greeter).await;
    let mut client = Client::connect(addr, "127.0.0.1").await;
    let greeting = client.reader.read_message_timeout(S).await.unwrap();
    assert_eq!(&greeting[..], b"hello");
    assert_eq!(&client.request(b"ping").await.unwrap()[..], b"ping");
}

#[tokio::test]
async fn the_program_closes_a_connection_gracefully_and_learns_when_it_ended() {
    let (addr, handle, _task) = start(Server::builder(be2()), echo).await;
    let mut client = Client::connect(addr, "127.0.0.1").await;
    assert_eq!(&client.request(b"one").await.unwrap()[..], b"one");
    let conn = handle.connections().pop().unwrap();
    let ended = tokio::spawn({
        let conn = conn.clone();
        async move { conn.closed().await }
    });
    conn.close();
    assert!(client.is_closed_within(S).await);
    let cause = tokio::time::timeout(S, ended).await.unwrap().unwrap();
    assert!(
        matches!(*cause, msgframe_conn::Disconnect::Closed),
        "{cause}"
    );
    assert!(conn.is_closed());
    assert!(handle.connections().is_empty() || handle.connection(conn.id()).is_none());
    assert_eq!(handle.stats().errors, 0, "a close is no error");
}

/// An echo handler that records every refusal the server tells it of, and why each connection
/// ended.
#[derive(Clone, Default)]
struct Recording {
    refused: Arc<Mutex<Vec<(SocketAddr, msgframe_conn::policy::Refusal)>>>,
    ended: Arc<Mutex<Vec<String>>>,
}

impl Handler for Recording {
    type Future = std::future::Ready<Reply>;

    fn handle(&self, _c: Connection, m: Bytes) -> Self::Future {
        std::future::ready(Reply::Send(m))
    }

    fn opened(&self, connection: &Connection) {
        let (connection, ended) = (connection.clone(), Arc::clone(&self.ended));
        tokio::spawn(async move {
            let why = connection.closed().await;
            ended.lock().unwrap().push(why.to_string());
        });
    }

    fn refused(&self, peer: SocketAddr, refusal: &msgframe_conn::policy::Refusal) {
        self.refused.lock().unwrap().push((peer, *refusal));
    }
}

#[tokio::test]
async fn the_handler_learns_of_each_refusal_and_why_each_connection_ended() {
    use msgframe_conn::policy::Refusal;
    let recording = Recording::default();
    let builder = Server::builder("ascii:4,max=100".parse().unwrap())
        .deny(["127.0.0.2".parse().unwrap()])
        .max_per_client(1);
    let (addr, _handle, _task) = start(builder, recording.clone()).await;
    // A refused connection is reset: at once, or as soon as it reads.
    let refused = |from: &'static str| async move {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
        let Ok(mut stream) = socket.connect(addr).await else {
            return true;
        };
        let mut buf = [0u8; 8];
        matches!(
            tokio::time::timeout(S, stream.read(&mut buf)).await,
            Ok(Ok(0) | Err(_))
        )
    };
    assert!(refused("127.0.0.2").await, "denied");
    // Accepted in order: the first is counted before the second is looked at.
    let mut bad = connect_raw(addr, "127.0.0.3").await;
    assert!(refused("127.0.0.3").await, "one connection per client");
    bad.write_all(b"12x4hello").await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(S, bad.read_to_end(&mut rest)).await;
    for _ in 0..100 {
        if !recording.ended.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let refused = recording.refused.lock().unwrap().clone();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert_eq!(refused[0].0.ip().to_string(), "127.0.0.2");
    assert_eq!(refused[0].1, Refusal::Denied);
    assert_eq!(refused[1].1, Refusal::PerClientCap { cap: 1 });
    let ended = recording.ended.lock().unwrap().clone();
    // The malformed frame, with its bytes.
    assert!(
        ended[0].contains("31 32 78 34") || ended[0].contains("0x78"),
        "{ended:?}"
    );
}
