//! The echo servers measured, each run in a process of its own (`--idle-role server NAME`): it
//! listens on 127.0.0.1 port 0, prints `PORT <port>`, echoes every be:2 message, and exits when its
//! standard input closes (the parent went away).
//!
//! The tokio servers run on a multi-threaded runtime with two workers, as `msgframe serve` does.

use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use msgframe::conn::{Connection, Reply, Server};
use slab::Slab;
use tokio::io::AsyncWriteExt;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

use super::frames::{echo_frames, write_nonblocking};

/// The servers this bench builds itself (the others are external programs).
pub const IN_PROCESS: [&str; 4] = ["mio-slab", "tokio-task", "tokio-util", "msgframe-server"];

/// The one read buffer the mio server shares between all its connections.
const READ_BUFFER: usize = 64 * 1024;

/// Runs the server `name` until standard input closes.
pub fn run(name: &str) {
    exit_when_stdin_closes();
    match name {
        "mio-slab" => mio_slab(),
        "tokio-task" => on_runtime(tokio_task()),
        "tokio-util" => on_runtime(tokio_util()),
        "msgframe-server" => on_runtime(msgframe_server()),
        other => panic!("no server called {other}"),
    }
}

/// A thread that ends the process once standard input reaches its end: a server never outlives
/// the bench that started it.
pub fn exit_when_stdin_closes() {
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = io::stdin().lock().read_to_end(&mut sink);
        std::process::exit(0);
    });
}

/// Announces the listening port to the parent.
fn announce(addr: SocketAddr) {
    println!("PORT {}", addr.port());
}

fn on_runtime(server: impl std::future::Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(server);
}

// ---------------------------------------------------------------------------------- mio + slab

/// What the mio server keeps per connection: the socket and the bytes of an incomplete frame
/// or of an echo the socket could not take yet (both empty, without an allocation, while idle).
struct Conn {
    stream: TcpStream,
    partial: Vec<u8>,
    unsent: Vec<u8>,
}

const LISTENER: Token = Token(usize::MAX);

/// One thread, one poll, a slab of connection states and one shared read buffer.
fn mio_slab() {
    let mut listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let mut poll = Poll::new().unwrap();
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .unwrap();
    announce(listener.local_addr().unwrap());
    let mut conns: Slab<Conn> = Slab::new();
    let mut buf = vec![0u8; READ_BUFFER];
    let mut events = Events::with_capacity(1024);
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            assert_eq!(e.kind(), ErrorKind::Interrupted, "poll: {e}");
            continue;
        }
        for event in &events {
            if event.token() == LISTENER {
                accept_all(&listener, &poll, &mut conns);
                continue;
            }
            let key = event.token().0;
            let Some(conn) = conns.get_mut(key) else {
                continue;
            };
            let open = (!event.is_writable() || flush(conn).is_ok())
                && (!event.is_readable() || serve_reads(conn, &mut buf).is_ok());
            if !open {
                let mut conn = conns.remove(key);
                let _ = poll.registry().deregister(&mut conn.stream);
            }
        }
    }
}

/// Accepts every pending connection into the slab.
fn accept_all(listener: &TcpListener, poll: &Poll, conns: &mut Slab<Conn>) {
    loop {
        let mut stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            // Out of descriptors, or reset before it was accepted: the next connection's event
            // tries again.
            Err(_) => return,
        };
        let entry = conns.vacant_entry();
        let token = Token(entry.key());
        let interest = Interest::READABLE | Interest::WRITABLE;
        if poll
            .registry()
            .register(&mut stream, token, interest)
            .is_ok()
        {
            let _ = stream.set_nodelay(true);
            entry.insert(Conn {
                stream,
                partial: Vec::new(),
                unsent: Vec::new(),
            });
        }
    }
}

/// Reads until the socket has nothing more (edge-triggered), echoing whole frames; `Err` when
/// the connection is over.
fn serve_reads(conn: &mut Conn, buf: &mut [u8]) -> io::Result<()> {
    loop {
        let n = match conn.stream.read(buf) {
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let Conn {
            stream,
            partial,
            unsent,
        } = conn;
        let blocked = !unsent.is_empty();
        let left = echo_frames(partial, &buf[..n], |bytes| {
            if blocked {
                Err(ErrorKind::WouldBlock.into())
            } else {
                stream.write(bytes)
            }
        })?;
        unsent.extend_from_slice(&left);
    }
}

/// Writes what an earlier echo left unsent.
fn flush(conn: &mut Conn) -> io::Result<()> {
    if conn.unsent.is_empty() {
        return Ok(());
    }
    let stream = &mut conn.stream;
    let written = write_nonblocking(&conn.unsent, |b| stream.write(b))?;
    conn.unsent.drain(..written);
    if conn.unsent.is_empty() {
        conn.unsent = Vec::new();
    }
    Ok(())
}

// ------------------------------------------------------------------------------- tokio servers

async fn tokio_listener() -> tokio::net::TcpListener {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    announce(listener.local_addr().unwrap());
    listener
}

/// A task per connection that holds its socket and, between reads, only the bytes of an
/// incomplete frame.
async fn tokio_task() {
    let listener = tokio_listener().await;
    loop {
        if let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(tokio_task_connection(stream));
        }
    }
}

/// What one read brought.
enum ReadOutcome {
    /// Nothing after all (a spurious wake-up), or echoes all written.
    Done,
    /// Echo bytes the socket could not take without waiting.
    Unsent(Vec<u8>),
    Closed,
}

async fn tokio_task_connection(mut stream: tokio::net::TcpStream) {
    let mut partial = Vec::new();
    loop {
        if stream.readable().await.is_err() {
            return;
        }
        match read_and_echo(&stream, &mut partial) {
            ReadOutcome::Done => {}
            ReadOutcome::Unsent(rest) => {
                if stream.write_all(&rest).await.is_err() {
                    return;
                }
            }
            ReadOutcome::Closed => return,
        }
    }
}

/// One `try_read` into a stack buffer (a plain function, so the buffer is no part of the
/// connection's future) and the echo of the whole frames it completed.
fn read_and_echo(stream: &tokio::net::TcpStream, partial: &mut Vec<u8>) -> ReadOutcome {
    let mut buf = [0u8; 4096];
    let n = match stream.try_read(&mut buf) {
        Ok(0) => return ReadOutcome::Closed,
        Ok(n) => n,
        Err(e) if e.kind() == ErrorKind::WouldBlock => return ReadOutcome::Done,
        Err(_) => return ReadOutcome::Closed,
    };
    match echo_frames(partial, &buf[..n], |bytes| stream.try_write(bytes)) {
        Ok(rest) if rest.is_empty() => ReadOutcome::Done,
        Ok(rest) => ReadOutcome::Unsent(rest),
        Err(_) => ReadOutcome::Closed,
    }
}

/// `Framed` with tokio-util's `LengthDelimitedCodec` (a 2-byte length) per connection.
async fn tokio_util() {
    let listener = tokio_listener().await;
    loop {
        if let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let codec = LengthDelimitedCodec::builder()
                    .length_field_length(2)
                    .new_codec();
                let mut framed = Framed::new(stream, codec);
                while let Some(Ok(frame)) = framed.next().await {
                    if framed.send(frame.freeze()).await.is_err() {
                        break;
                    }
                }
            });
        }
    }
}

/// msgframe-conn's `Server` (`ServerBuilder` defaults) with framing be:2 and an echo handler.
async fn msgframe_server() {
    let server = Server::builder("be:2".parse().unwrap())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    announce(server.local_addr());
    let echo = |_c: Connection, m: Bytes| async move { Reply::Send(m) };
    server.serve(echo).await.unwrap();
}
