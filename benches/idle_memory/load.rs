//! The load client (`--idle-role load ADDR N`), a process of its own: one thread, mio, nothing
//! kept per connection but its socket once idle.
//!
//! Lines on stdout and stdin: prints `READY`; on `open`, opens N connections as fast as the server
//! takes them, sends one 100-byte be:2 message on each and reads its echo, then prints
//! `OPEN <seconds until all connected> <seconds until all echoed> <failed>` and holds them idle;
//! on `close`, closes them all and prints `CLOSED`; exits when stdin ends.

use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use super::child::read_command;
use super::frames::request_frame;

/// Connections at most between connecting and their echo: below the accept backlog of std, mio
/// and tokio listeners (128), so that no handshake is dropped for a full accept queue (which
/// costs a one-second retransmission).
pub const WINDOW: usize = 100;

/// The longest the opening may take.
const OPEN_LIMIT: Duration = Duration::from_secs(60);

pub fn run(addr: SocketAddr, n: usize) {
    println!("READY");
    if read_command().as_deref() != Some("open") {
        return;
    }
    let (idle, opened) = open(addr, n);
    println!(
        "OPEN {:.3} {:.3} {}",
        opened.connected.as_secs_f64(),
        opened.echoed.as_secs_f64(),
        opened.failed
    );
    if read_command().as_deref() != Some("close") {
        return;
    }
    drop(idle);
    println!("CLOSED");
    while read_command().is_some() {}
}

/// How the opening went.
#[derive(Default)]
struct Opened {
    /// From the first connect until the last handshake completed.
    connected: Duration,
    /// From the first connect until the last echo was read.
    echoed: Duration,
    failed: usize,
}

/// A connection between its connect and its echo.
struct Dialing {
    stream: TcpStream,
    connected: bool,
    sent: usize,
    received: usize,
}

/// Where a connection got to on an event.
enum Progress {
    Waiting,
    /// The handshake completed (the request is on its way).
    Connected,
    /// The whole echo came back.
    Echoed,
    Failed(io::Error),
}

/// Opens `n` connections to `addr`, at most [`WINDOW`] at a time between connect and echo.
fn open(addr: SocketAddr, n: usize) -> (Vec<TcpStream>, Opened) {
    let frame = request_frame();
    let mut poll = Poll::new().unwrap();
    let mut events = Events::with_capacity(1024);
    let mut dialing: Slab<Dialing> = Slab::with_capacity(WINDOW);
    let mut idle = Vec::with_capacity(n);
    let mut opened = Opened::default();
    let (mut started, start) = (0, Instant::now());
    while idle.len() + opened.failed < n && start.elapsed() < OPEN_LIMIT {
        while dialing.len() < WINDOW && started < n {
            started += 1;
            match dial(&poll, addr, &mut dialing) {
                Ok(()) => {}
                Err(e) => fail(&mut opened, &e),
            }
        }
        poll.poll(&mut events, Some(Duration::from_millis(100)))
            .or_else(|e| match e.kind() {
                ErrorKind::Interrupted => Ok(()),
                _ => Err(e),
            })
            .unwrap();
        for event in &events {
            let key = event.token().0;
            let Some(d) = dialing.get_mut(key) else {
                continue;
            };
            match advance(d, &frame) {
                Progress::Waiting => {}
                Progress::Connected => opened.connected = start.elapsed(),
                Progress::Echoed => {
                    opened.echoed = start.elapsed();
                    let mut d = dialing.remove(key);
                    let _ = poll.registry().deregister(&mut d.stream);
                    idle.push(d.stream);
                }
                Progress::Failed(e) => {
                    dialing.remove(key);
                    fail(&mut opened, &e);
                }
            }
        }
    }
    opened.failed += n - idle.len() - opened.failed;
    (idle, opened)
}

/// Starts one connection and registers it.
fn dial(poll: &Poll, addr: SocketAddr, dialing: &mut Slab<Dialing>) -> io::Result<()> {
    let mut stream = TcpStream::connect(addr)?;
    let entry = dialing.vacant_entry();
    poll.registry().register(
        &mut stream,
        Token(entry.key()),
        Interest::READABLE | Interest::WRITABLE,
    )?;
    entry.insert(Dialing {
        stream,
        connected: false,
        sent: 0,
        received: 0,
    });
    Ok(())
}

/// Counts a failed connection; the first failure is told on stderr.
fn fail(opened: &mut Opened, e: &io::Error) {
    if opened.failed == 0 {
        eprintln!("load client: a connection failed: {e}");
    }
    opened.failed += 1;
}

/// Takes a connection as far as its socket allows: handshake, request, echo.
fn advance(d: &mut Dialing, frame: &[u8]) -> Progress {
    let mut progress = Progress::Waiting;
    if !d.connected {
        match handshake_done(&d.stream) {
            Ok(false) => return Progress::Waiting,
            Ok(true) => {
                d.connected = true;
                let _ = d.stream.set_nodelay(true);
                progress = Progress::Connected;
            }
            Err(e) => return Progress::Failed(e),
        }
    }
    while d.sent < frame.len() {
        match d.stream.write(&frame[d.sent..]) {
            Ok(n) => d.sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return progress,
            Err(e) => return Progress::Failed(e),
        }
    }
    match read_echo(d, frame) {
        Ok(true) => Progress::Echoed,
        Ok(false) => progress,
        Err(e) => Progress::Failed(e),
    }
}

/// Whether a non-blocking connect has completed (mio's recipe: a pending error, else a peer
/// address once connected).
fn handshake_done(stream: &TcpStream) -> io::Result<bool> {
    if let Some(e) = stream.take_error()? {
        return Err(e);
    }
    match stream.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotConnected => Ok(false),
        Err(e) => Err(e),
    }
}

/// Reads what has come of the echo; `true` once all of it has, the same bytes as sent.
fn read_echo(d: &mut Dialing, frame: &[u8]) -> io::Result<bool> {
    let mut buf = [0u8; 256];
    while d.received < frame.len() {
        let n = match d.stream.read(&mut buf) {
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let expected = frame.get(d.received..d.received + n);
        if expected != Some(&buf[..n]) {
            return Err(io::Error::new(ErrorKind::InvalidData, "not an echo"));
        }
        d.received += n;
    }
    Ok(true)
}
