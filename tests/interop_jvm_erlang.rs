//! msgframe against framing implementations nobody here wrote, over loopback:
//!
//! - **Netty** (JVM): `LengthFieldBasedFrameDecoder` + `LengthFieldPrepender` (1, 2, 3, 4 and 8-byte
//!   lengths, both byte orders, lengths counting the header, `initialBytesToStrip`, a TPKT layout,
//!   `maxFrameLength`), `LineBasedFrameDecoder`, `DelimiterBasedFrameDecoder`,
//!   `FixedLengthFrameDecoder`, and read-until-close. Peer: `tests/interop/netty/NettyPeer.java`,
//!   compiled here with `javac` against the Debian `libnetty-java` jars.
//! - **Erlang/OTP**: `gen_tcp` with `{packet, 1|2|4|line|tpkt|raw}`, `{line_delimiter, $;}`,
//!   `{packet_size, N}`, exact-length `recv`, and read-until-close. Peer:
//!   `tests/interop/erlang/peer.escript`.
//!
//! Each peer configuration is paired with the msgframe spec that describes the same bytes, and
//! messages go both ways where the peer has a client: msgframe client → peer echo server, and peer
//! client → msgframe echo server, through msgframe's blocking (`BlockingReader`/`BlockingWriter`),
//! non-blocking (`NonBlockingReader`/`NonBlockingWriter` polled in bounded loops) and tokio
//! (`Framed*` with `msgframe_tokio::Codec`, `MessageReader`/`MessageWriter`) paths. Limits one past
//! the maximum are refused on both sides, and mismatched configurations end in a definite error
//! within a deadline, never a hang.
//!
//! Peers missing: skipped locally (one line each), a failure when `CI=true`.
//! `.ci/install-interop-jvm-erlang.sh` installs them.

#[path = "interop/harness.rs"]
mod harness;

use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use harness::Peer;
use msgframe::io::Error;
use msgframe::{
    BlockingReader, BlockingWriter, CodecError, Deadlines, Decoder, Encoder, Framing, MessageRead,
    MessageWrite, NonBlockingReader, NonBlockingWriter, ShortRequest,
};
use msgframe_tokio::{Codec, MessageReader, MessageWriter};
use tokio::io::AsyncWriteExt;
use tokio_util::codec::{FramedRead, FramedWrite};

/// The deadline of every exchange: connecting, sending everything, receiving every reply.
const DEADLINE: Duration = Duration::from_secs(5);
/// The deadline of exchanges that are expected to time out (a peer waiting for bytes that never come).
const SHORT_DEADLINE: Duration = Duration::from_secs(1);
/// How long a msgframe echo server waits for a peer client's next message.
const IDLE: Duration = Duration::from_secs(20);
/// How long a peer client may take for all its jobs.
const CLIENT_LIMIT: Duration = Duration::from_secs(90);
const MIB: usize = 1024 * 1024;

// ------------------------------------------------------------------------------------- messages

/// A message of `n` bytes: lower-case letters, so no delimiter used here (LF, CR, ETX, `;`) occurs
/// in it. The peers build the same bodies.
fn body(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + ((i * 7 + n) % 26) as u8).collect()
}

fn framing(spec: &str) -> Framing {
    spec.parse()
        .unwrap_or_else(|e| panic!("spec {spec:?} does not parse: {e}"))
}

fn is_eof(framing: &Framing) -> bool {
    matches!(framing, Framing::UntilEof(_))
}

/// What an echo of `body` must look like to a reader with `spec`: msgframe's own decoding of its own
/// encoding (the body, or header and body under `strip=0`).
fn expected_reply(spec: &str, body: &[u8]) -> Bytes {
    let mut f = framing(spec);
    let mut wire = BytesMut::new();
    f.encode(body, &mut wire).expect("encodable");
    let frame = if is_eof(&f) {
        f.decode_eof(&mut wire)
    } else {
        f.decode(&mut wire)
    };
    frame.expect("decodable").expect("a whole frame")
}

fn sizes_text(sizes: &[usize]) -> String {
    sizes
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(":")
}

fn shorten(e: &Error) -> String {
    let s = e.to_string();
    if s.chars().count() > 300 {
        format!("{}...", s.chars().take(300).collect::<String>())
    } else {
        s
    }
}

// ------------------------------------------------------------------------ msgframe as the client

/// msgframe's three ways of moving messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Blocking,
    NonBlocking,
    Tokio,
}

const MODES: [Mode; 3] = [Mode::Blocking, Mode::NonBlocking, Mode::Tokio];

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Blocking => "blocking",
            Mode::NonBlocking => "nonblocking",
            Mode::Tokio => "tokio",
        }
    }
}

/// Connects to `addr` and sends `bodies` framed by `spec` while reading as many replies (for `eof`:
/// sends the one body, shuts down the write half, reads the reply until the peer closes), all within
/// `deadline`.
fn exchange(
    mode: Mode,
    addr: SocketAddr,
    spec: &str,
    bodies: &[Vec<u8>],
    deadline: Duration,
) -> Result<Vec<Bytes>, Error> {
    let framing = framing(spec);
    match mode {
        Mode::Blocking => exchange_blocking(addr, framing, bodies, deadline),
        Mode::NonBlocking => exchange_nonblocking(addr, framing, bodies, deadline),
        Mode::Tokio => exchange_tokio(addr, framing, bodies, deadline),
    }
}

fn replies_expected(framing: &Framing, bodies: &[Vec<u8>]) -> usize {
    if is_eof(framing) {
        1
    } else {
        bodies.len()
    }
}

fn timed_out(start: Instant, buffered: usize, writing: bool) -> Error {
    Error::TimedOut {
        buffered,
        elapsed_ms: start.elapsed().as_millis() as u64,
        writing,
    }
}

/// `BlockingWriter` in one thread, `BlockingReader` in this one, on the same socket.
fn exchange_blocking(
    addr: SocketAddr,
    framing: Framing,
    bodies: &[Vec<u8>],
    deadline: Duration,
) -> Result<Vec<Bytes>, Error> {
    let start = Instant::now();
    let stream = TcpStream::connect_timeout(&addr, deadline)?;
    stream.set_nodelay(true)?;
    let expected = replies_expected(&framing, bodies);
    let eof = is_eof(&framing);
    let mut reader = BlockingReader::new(&stream, framing.clone());
    thread::scope(|s| {
        let stream = &stream;
        let writing = s.spawn(move || {
            let mut writer = BlockingWriter::new(stream, framing).with_timeout(deadline);
            let result = bodies
                .iter()
                .try_for_each(|b| writer.write_message(b))
                .and_then(|()| if eof { writer.shutdown_write() } else { Ok(()) });
            if result.is_err() {
                // Unblock the reader: nothing more will be sent.
                let _ = stream.shutdown(Shutdown::Both);
            }
            result
        });
        let mut replies = Vec::new();
        let read = (|| {
            while replies.len() < expected {
                let left = deadline.saturating_sub(start.elapsed());
                replies.push(reader.read_message_with(Deadlines::message(left))?);
            }
            Ok(())
        })();
        if read.is_err() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let written = writing.join().expect("writer thread");
        pick_error(written, read)?;
        Ok(replies)
    })
}

/// The error to report when writing and reading both ended: a message msgframe refused to frame
/// first (the reader only failed because of it), then the reader's (it says what the peer did),
/// then the writer's.
fn pick_error(written: Result<(), Error>, read: Result<(), Error>) -> Result<(), Error> {
    match (written, read) {
        (Err(e @ (Error::TooLong(_) | Error::Message(_))), _) => Err(e),
        (_, Err(e)) => Err(e),
        (Err(e), Ok(())) => Err(e),
        (Ok(()), Ok(())) => Ok(()),
    }
}

/// `NonBlockingWriter` and `NonBlockingReader` on a non-blocking socket, polled in one loop that
/// ends at the deadline.
fn exchange_nonblocking(
    addr: SocketAddr,
    framing: Framing,
    bodies: &[Vec<u8>],
    deadline: Duration,
) -> Result<Vec<Bytes>, Error> {
    let start = Instant::now();
    let stream = TcpStream::connect_timeout(&addr, deadline)?;
    stream.set_nodelay(true)?;
    stream.set_nonblocking(true)?;
    let expected = replies_expected(&framing, bodies);
    let eof = is_eof(&framing);
    let mut reader = NonBlockingReader::new(&stream, framing.clone());
    let mut writer = NonBlockingWriter::new(&stream, framing);
    let mut next = 0;
    let mut shut = false;
    let mut replies = Vec::new();
    loop {
        if writer.has_pending() {
            match writer.flush() {
                Ok(()) | Err(Error::WouldBlock) => {}
                Err(e) => return Err(e),
            }
        }
        while next < bodies.len() && !writer.has_pending() {
            // Accepted: sent, or kept for when the socket is writable.
            writer.write_message(&bodies[next])?;
            next += 1;
        }
        if eof && !shut && next == bodies.len() && !writer.has_pending() {
            stream.shutdown(Shutdown::Write)?;
            shut = true;
        }
        loop {
            match reader.read_message() {
                Ok(m) => {
                    replies.push(m);
                    if replies.len() == expected {
                        return Ok(replies);
                    }
                }
                // Would block, or the read budget is spent: serve the writer, then read again.
                Err(Error::WouldBlock | Error::Yielded { .. }) => break,
                Err(e) => return Err(e),
            }
        }
        if start.elapsed() >= deadline {
            return Err(timed_out(
                start,
                reader.buffered().len(),
                writer.has_pending(),
            ));
        }
        thread::sleep(Duration::from_millis(1));
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// `FramedWrite` and `FramedRead` with `msgframe_tokio::Codec` over the halves of a tokio socket.
fn exchange_tokio(
    addr: SocketAddr,
    framing: Framing,
    bodies: &[Vec<u8>],
    deadline: Duration,
) -> Result<Vec<Bytes>, Error> {
    let start = Instant::now();
    let expected = replies_expected(&framing, bodies);
    let eof = is_eof(&framing);
    let run = async move {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (rd, wr) = stream.into_split();
        let mut sink = FramedWrite::new(wr, Codec::new(framing.clone()));
        let mut source = FramedRead::new(rd, Codec::new(framing));
        let write = async {
            for b in bodies {
                sink.send(&b[..]).await?;
            }
            if eof {
                sink.get_mut().shutdown().await?;
            }
            Ok::<(), Error>(())
        };
        let read = async {
            let mut replies = Vec::new();
            while replies.len() < expected {
                match source.next().await {
                    Some(reply) => replies.push(reply?),
                    None => return Err(Error::Closed),
                }
            }
            Ok(replies)
        };
        let ((), replies) = tokio::try_join!(write, read)?;
        Ok(replies)
    };
    runtime().block_on(async {
        tokio::time::timeout(deadline, run)
            .await
            .unwrap_or_else(|_| Err(timed_out(start, 0, false)))
    })
}

/// Exchanges `sizes` with a peer echo server and checks every reply; `None` when all came back
/// right, or what went wrong.
fn check_echoes(mode: Mode, addr: SocketAddr, spec: &str, sizes: &[usize]) -> Option<String> {
    let bodies: Vec<Vec<u8>> = sizes.iter().map(|&n| body(n)).collect();
    let replies = match exchange(mode, addr, spec, &bodies, DEADLINE) {
        Ok(replies) => replies,
        Err(e) => return Some(format!("sizes {sizes:?}: {}", shorten(&e))),
    };
    let f = framing(spec);
    let want: Vec<Bytes> = if is_eof(&f) {
        vec![Bytes::from(bodies.concat())]
    } else {
        bodies.iter().map(|b| expected_reply(spec, b)).collect()
    };
    for (i, (got, want)) in replies.iter().zip(&want).enumerate() {
        if got != want {
            let at = got.iter().zip(want.iter()).position(|(a, b)| a != b);
            return Some(format!(
                "reply #{i} of {} bytes differs from the {} expected (first difference at {at:?}; starts {:02X?})",
                got.len(),
                want.len(),
                &got[..got.len().min(16)]
            ));
        }
    }
    None
}

/// msgframe's short-connection helpers (connect, send one message, read the reply, close) against a
/// peer echo server: `ShortRequest::send` (blocking) and `msgframe_tokio::request`. For `eof`, the
/// request ends with shutting down the write half and the reply with the peer's close.
fn short_requests(addr: SocketAddr, spec: &str) -> Vec<String> {
    let options = ShortRequest::new(framing(spec))
        .connect_timeout(DEADLINE)
        .timeout(DEADLINE);
    let request = body(100);
    let mut failures = Vec::new();
    match options.send(addr, &request) {
        Ok(reply) if reply[..] == request[..] => {}
        other => failures.push(format!("ShortRequest::send with `{spec}`: {other:?}")),
    }
    match runtime().block_on(msgframe_tokio::request(&options, addr, &request)) {
        Ok(reply) if reply[..] == request[..] => {}
        other => failures.push(format!("msgframe_tokio::request with `{spec}`: {other:?}")),
    }
    failures
}

/// One peer configuration and the msgframe spec for the same bytes.
struct Case {
    name: &'static str,
    peer: &'static str,
    spec: &'static str,
    sizes: &'static [usize],
    /// Whether the peer has a client for this configuration.
    client: bool,
}

const fn case(
    name: &'static str,
    peer: &'static str,
    spec: &'static str,
    sizes: &'static [usize],
) -> Case {
    Case {
        name,
        peer,
        spec,
        sizes,
        client: true,
    }
}

const fn server_only(
    name: &'static str,
    peer: &'static str,
    spec: &'static str,
    sizes: &'static [usize],
) -> Case {
    Case {
        name,
        peer,
        spec,
        sizes,
        client: false,
    }
}

/// Runs every case against the peer server, in every mode; returns the failures. `eof` cases use
/// one connection per size.
fn msgframe_clients(ports: &HashMap<String, SocketAddr>, cases: &[Case]) -> Vec<String> {
    let mut failures = Vec::new();
    for c in cases {
        let addr = ports[c.name];
        for mode in MODES {
            let runs: Vec<&[usize]> = if is_eof(&framing(c.spec)) {
                c.sizes.chunks(1).collect()
            } else {
                vec![c.sizes]
            };
            for sizes in runs {
                if let Some(f) = check_echoes(mode, addr, c.spec, sizes) {
                    failures.push(format!(
                        "{} (peer `{}`, msgframe `{}`), {}: {f}",
                        c.name,
                        c.peer,
                        c.spec,
                        mode.name()
                    ));
                }
            }
        }
    }
    failures
}

// ------------------------------------------------------------------------ msgframe as the server

/// A msgframe echo server on 127.0.0.1 port 0, in one thread: it serves one connection at a time
/// until stopped, and records how each ended (messages echoed, or the error).
struct MsgServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<Result<usize, Error>>>>,
}

impl MsgServer {
    fn start(mode: Mode, spec: &str) -> MsgServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let stop = Arc::new(AtomicBool::new(false));
        let framing = framing(spec);
        let stopped = stop.clone();
        let thread = thread::spawn(move || {
            let give_up = Instant::now() + CLIENT_LIMIT + IDLE;
            let mut outcomes = Vec::new();
            while !stopped.load(Ordering::SeqCst) && Instant::now() < give_up {
                match listener.accept() {
                    Ok((stream, _)) => outcomes.push(serve(mode, stream, framing.clone())),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(5))
                    }
                    Err(e) => {
                        outcomes.push(Err(Error::Io(e)));
                        break;
                    }
                }
            }
            outcomes
        });
        MsgServer {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops accepting, and returns how each connection ended.
    fn finish(mut self) -> Vec<Result<usize, Error>> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .take()
            .expect("not finished yet")
            .join()
            .expect("server thread")
    }
}

impl Drop for MsgServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(mode: Mode, stream: TcpStream, framing: Framing) -> Result<usize, Error> {
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)?;
    let kept = stream.try_clone()?;
    let outcome = match mode {
        Mode::Blocking => serve_blocking(stream, framing),
        Mode::NonBlocking => serve_nonblocking(stream, framing),
        Mode::Tokio => serve_tokio(stream, framing),
    };
    if outcome.is_err() {
        close_gracefully(&kept);
    }
    outcome
}

/// After refusing a peer's bytes: sends FIN and discards what the peer still sends until it closes
/// (at most 2 s). Closing with unread bytes would send a reset, which can destroy echoes the peer
/// has not read yet, and the peer client could not say how many echoes it got.
fn close_gracefully(mut stream: &TcpStream) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let start = Instant::now();
    let mut scratch = vec![0; 64 * 1024];
    while start.elapsed() < Duration::from_secs(2) {
        match stream.read(&mut scratch) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut => {
            }
            Err(_) => break,
        }
    }
}

/// Echoes with `BlockingReader` (idle limit between messages, deadline per message) and
/// `BlockingWriter`, until the peer closes.
fn serve_blocking(stream: TcpStream, framing: Framing) -> Result<usize, Error> {
    let eof = is_eof(&framing);
    let mut reader = BlockingReader::new(&stream, framing.clone()).with_deadlines(Deadlines {
        first_byte: Some(IDLE),
        message: Some(DEADLINE),
    });
    let mut writer = BlockingWriter::new(&stream, framing).with_timeout(DEADLINE);
    let mut echoed = 0;
    loop {
        match reader.read_message() {
            Ok(m) => {
                writer.write_message(&m)?;
                echoed += 1;
                if eof {
                    writer.shutdown_write()?;
                    return Ok(echoed);
                }
            }
            Err(Error::Closed) => return Ok(echoed),
            Err(e) => return Err(e),
        }
    }
}

/// Offers `m` to a non-blocking writer until it is accepted, flushing meanwhile.
fn nb_write(
    writer: &mut NonBlockingWriter<&TcpStream, Framing>,
    m: &[u8],
    start: Instant,
) -> Result<(), Error> {
    loop {
        match writer.write_message(m) {
            Err(Error::NotSent { .. }) => nb_wait(writer, start)?,
            other => return other,
        }
    }
}

fn nb_wait(
    writer: &mut NonBlockingWriter<&TcpStream, Framing>,
    start: Instant,
) -> Result<(), Error> {
    match writer.flush() {
        Ok(()) | Err(Error::WouldBlock) => {}
        Err(e) => return Err(e),
    }
    if start.elapsed() >= DEADLINE {
        return Err(timed_out(start, writer.pending(), true));
    }
    thread::sleep(Duration::from_millis(1));
    Ok(())
}

fn nb_drain(
    writer: &mut NonBlockingWriter<&TcpStream, Framing>,
    start: Instant,
) -> Result<(), Error> {
    while writer.has_pending() {
        nb_wait(writer, start)?;
    }
    Ok(())
}

/// Echoes with `NonBlockingReader` and `NonBlockingWriter` on a non-blocking socket, in a bounded
/// poll loop.
fn serve_nonblocking(stream: TcpStream, framing: Framing) -> Result<usize, Error> {
    stream.set_nonblocking(true)?;
    let eof = is_eof(&framing);
    let mut reader = NonBlockingReader::new(&stream, framing.clone());
    let mut writer = NonBlockingWriter::new(&stream, framing);
    let mut echoed = 0;
    let mut idle_since = Instant::now();
    loop {
        match writer.flush() {
            Ok(()) | Err(Error::WouldBlock) => {}
            Err(e) => return Err(e),
        }
        match reader.read_message() {
            Ok(m) => {
                let start = Instant::now();
                nb_write(&mut writer, &m, start)?;
                echoed += 1;
                idle_since = Instant::now();
                if eof {
                    nb_drain(&mut writer, start)?;
                    stream.shutdown(Shutdown::Write)?;
                    return Ok(echoed);
                }
                continue;
            }
            Err(Error::WouldBlock | Error::Yielded { .. }) => {}
            Err(Error::Closed) => {
                nb_drain(&mut writer, Instant::now())?;
                return Ok(echoed);
            }
            Err(e) => return Err(e),
        }
        if idle_since.elapsed() >= IDLE {
            return Err(timed_out(idle_since, reader.buffered().len(), false));
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// Echoes with `msgframe_tokio::MessageReader` and `MessageWriter`, with their deadlines.
fn serve_tokio(stream: TcpStream, framing: Framing) -> Result<usize, Error> {
    stream.set_nonblocking(true)?;
    let eof = is_eof(&framing);
    runtime().block_on(async move {
        let stream = tokio::net::TcpStream::from_std(stream)?;
        let (rd, wr) = stream.into_split();
        let mut reader = MessageReader::new(rd, framing.clone());
        let mut writer = MessageWriter::new(wr, framing);
        let mut echoed = 0;
        loop {
            match reader.read_message_timeout(IDLE).await {
                Ok(m) => {
                    writer.write_message_timeout(&m, DEADLINE).await?;
                    echoed += 1;
                    if eof {
                        writer.shutdown().await?;
                        return Ok(echoed);
                    }
                }
                Err(Error::Closed) => return Ok(echoed),
                Err(e) => return Err(e),
            }
        }
    })
}

/// Starts one msgframe server per case and mode; the job for the peer client is named
/// `<case>-<mode>`.
fn msgframe_servers(cases: &[Case]) -> Vec<(String, &Case, MsgServer)> {
    let mut servers = Vec::new();
    for c in cases.iter().filter(|c| c.client) {
        for mode in MODES {
            servers.push((
                format!("{}-{}", c.name, mode.name()),
                c,
                MsgServer::start(mode, c.spec),
            ));
        }
    }
    servers
}

/// Peer-client jobs (`NAME/CONFIG/PORT/SIZES`) for msgframe servers; `eof` cases send one message
/// per connection, so they become one job per size.
fn client_jobs(servers: &[(String, &Case, MsgServer)]) -> Vec<String> {
    let mut jobs = Vec::new();
    for (name, c, server) in servers {
        let port = server.addr.port();
        if is_eof(&framing(c.spec)) {
            for n in c.sizes {
                jobs.push(format!("{name}/{}/{port}/{n}", c.peer));
            }
        } else {
            jobs.push(format!("{name}/{}/{port}/{}", c.peer, sizes_text(c.sizes)));
        }
    }
    jobs
}

/// Checks a peer client's results against msgframe servers that should have echoed everything.
fn check_client_results(
    results: &HashMap<String, Vec<String>>,
    servers: Vec<(String, &Case, MsgServer)>,
) -> Vec<String> {
    let mut failures = Vec::new();
    for (name, c, server) in servers {
        let lines = results.get(&name).cloned().unwrap_or_default();
        if lines.is_empty() || lines.iter().any(|l| !l.starts_with("OK ")) {
            failures.push(format!(
                "peer client {name} (peer `{}`, msgframe `{}`): {lines:?}",
                c.peer, c.spec
            ));
        }
        let mut echoed = 0;
        for outcome in server.finish() {
            match outcome {
                Ok(n) => echoed += n,
                Err(e) => failures.push(format!(
                    "msgframe server {name} (`{}`): {}",
                    c.spec,
                    shorten(&e)
                )),
            }
        }
        // One connection with every message, or (eof) one connection per message.
        if echoed != c.sizes.len() {
            failures.push(format!(
                "msgframe server {name} (`{}`) echoed {echoed} messages, not {}",
                c.spec,
                c.sizes.len()
            ));
        }
    }
    failures
}

// ------------------------------------------------------------------------------- running peers

/// The named ports a peer server printed after its `PORT` line: `LISTEN <name> <port>` lines, up to
/// `READY`.
fn listening(peer: &mut Peer) -> HashMap<String, SocketAddr> {
    let mut ports = HashMap::new();
    loop {
        let line = peer
            .next_line_matching(harness::START_LIMIT, |l| {
                l.starts_with("LISTEN ") || l == "READY"
            })
            .unwrap_or_else(|| panic!("{} did not list its ports", peer.name()));
        if line == "READY" {
            return ports;
        }
        let mut parts = line.split_whitespace().skip(1);
        let (Some(name), Some(Ok(port))) = (parts.next(), parts.next().map(str::parse::<u16>))
        else {
            panic!("{} printed a bad line: {line:?}", peer.name());
        };
        ports.insert(name.to_owned(), SocketAddr::from(([127, 0, 0, 1], port)));
    }
}

/// Runs a peer client to its end: its result lines (`OK|FAIL|CLOSED|REFUSED <job> ...`) by job.
fn client_results(mut peer: Peer) -> HashMap<String, Vec<String>> {
    let deadline = Instant::now() + CLIENT_LIMIT;
    let mut results: HashMap<String, Vec<String>> = HashMap::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(line) = peer.next_line_matching(left, |_| true) else {
            panic!(
                "{} did not finish within {CLIENT_LIMIT:?}; results so far: {results:?}",
                peer.name()
            );
        };
        if line == "DONE" {
            break;
        }
        if let Some(job) = line.split_whitespace().nth(1) {
            results
                .entry(job.to_owned())
                .or_default()
                .push(line.clone());
        }
    }
    assert_eq!(
        peer.wait(Duration::from_secs(10)),
        Some(true),
        "{} did not exit cleanly",
        peer.name()
    );
    results
}

/// Whether a peer client's lines for `job` are one `CLOSED <job> <echoes>` line.
fn closed_after(lines: &[String], job: &str, echoes: usize) -> bool {
    let [line] = lines else { return false };
    let words: Vec<&str> = line.split_whitespace().collect();
    words.len() >= 3 && words[0] == "CLOSED" && words[1] == job && words[2] == echoes.to_string()
}

/// The peer's `ERROR` lines so far.
fn errors_so_far(peer: &Peer) -> Vec<String> {
    peer.lines
        .try_iter()
        .filter(|l| l.starts_with("ERROR"))
        .collect()
}

fn report(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} failure(s):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

/// Asserts an exchange ended because the peer closed the connection (cleanly or with a reset),
/// not by a timeout.
fn assert_peer_closed(what: &str, result: Result<Vec<Bytes>, Error>) {
    match result {
        Err(Error::Closed) => {}
        Err(Error::Io(e))
            if matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionAborted
            ) => {}
        other => panic!("{what}: expected the peer to close the connection, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------- Netty

const NETTY_JARS: [&str; 5] = [
    "netty-common",
    "netty-buffer",
    "netty-transport",
    "netty-codec",
    "netty-resolver",
];

fn netty_jar_dir() -> PathBuf {
    std::env::var_os("NETTY_JAR_DIR")
        .map_or_else(|| PathBuf::from("/usr/share/java"), PathBuf::from)
}

fn netty_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/netty/NettyPeer.java")
}

/// The Netty jars' classpath, when they and a JDK are installed.
fn netty_jars() -> Option<String> {
    let dir = netty_jar_dir();
    let jars: Vec<PathBuf> = NETTY_JARS
        .iter()
        .map(|j| dir.join(format!("{j}.jar")))
        .collect();
    if !jars.iter().all(|j| j.is_file()) || !harness::runs("javac", &["-version"]) {
        return None;
    }
    Some(
        jars.iter()
            .map(|j| j.display().to_string())
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// The classpath to run `NettyPeer` with (compiled once per version, into the target directory:
/// [`harness::compiled_java`]), or `None` when Netty or a JDK is missing (a skip locally, a
/// failure in CI).
fn netty() -> Option<&'static str> {
    static CLASSPATH: OnceLock<Option<String>> = OnceLock::new();
    let classpath = CLASSPATH.get_or_init(|| {
        let jars = netty_jars()?;
        let out = harness::compiled_java("netty-peer", &netty_source(), &jars);
        let classpath = format!("{}:{jars}", out.display());
        let version = Command::new("java")
            .args(["-cp", &classpath, "NettyPeer", "version"])
            .output()
            .expect("run java");
        println!(
            "interop peer: {}",
            String::from_utf8_lossy(&version.stdout).trim()
        );
        Some(classpath)
    });
    let present = classpath.is_some();
    if harness::available(
        "Netty (libnetty-java, JDK)",
        present,
        "sudo .ci/install-interop-jvm-erlang.sh, or apt-get install libnetty-java and a JDK",
    ) {
        classpath.as_deref()
    } else {
        None
    }
}

fn netty_command(classpath: &str, mode: &str, args: &[String]) -> Command {
    let mut c = Command::new("java");
    // Start fast on a small machine: the JIT's first tier and the serial collector are plenty here.
    c.args([
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-cp",
        classpath,
    ])
    .arg("NettyPeer")
    .arg(mode)
    .args(args);
    c
}

fn netty_server(classpath: &str, configs: &[(&str, &str)]) -> (Peer, HashMap<String, SocketAddr>) {
    let args: Vec<String> = configs
        .iter()
        .map(|(name, pipeline)| format!("{name}/{pipeline}"))
        .collect();
    let mut peer = Peer::start_server("Netty server", netty_command(classpath, "server", &args));
    let ports = listening(&mut peer);
    (peer, ports)
}

fn netty_client(classpath: &str, jobs: &[String]) -> HashMap<String, Vec<String>> {
    client_results(Peer::spawn(
        "Netty client",
        netty_command(classpath, "client", jobs),
    ))
}

/// Netty pipelines (see NettyPeer.java) and the msgframe specs for the same bytes. Netty's
/// `adj` is `lengthAdjustment`, `incl` is `lengthIncludesLengthFieldLength`, `strip` is
/// `initialBytesToStrip`.
const NETTY_CASES: &[Case] = &[
    case("be1", "lf,len=1", "be:1", &[0, 1, 100, 255]),
    case("be2", "lf,len=2", "be:2", &[0, 1, 100, 65535]),
    case("be3", "lf,len=3", "be:3", &[0, 1, 100, MIB]),
    case("be4", "lf,len=4", "be:4", &[0, 1, 100, MIB]),
    case("be8", "lf,len=8", "be:8", &[0, 1, 100, MIB]),
    case("le2", "lf,len=2,order=le", "le:2", &[0, 1, 100, 65535]),
    case("le3", "lf,len=3,order=le", "le:3", &[0, 1, 100, MIB]),
    case("le4", "lf,len=4,order=le", "le:4", &[0, 1, 100, MIB]),
    case("le8", "lf,len=8,order=le", "le:8", &[0, 1, 100, MIB]),
    case(
        "be4-counts-header",
        "lf,len=4,adj=-4,incl",
        "be:4,counts-header",
        &[0, 1, 100, MIB],
    ),
    case(
        "be2-adjust",
        "lf,len=2,adj=-2,incl",
        "be:2,adjust=-2",
        &[0, 1, 100, 65533],
    ),
    // initialBytesToStrip=0: Netty hands the header to the echo handler, which writes the frame
    // back as it is; msgframe with strip=0 delivers header and body too.
    server_only(
        "be2-strip0",
        "lf,len=2,strip=0",
        "be:2,strip=0",
        &[0, 1, 100, 65535],
    ),
    // TPKT (RFC 1006): 03 00, then a 2-byte length counting the whole 4-byte header. Netty decodes
    // it with lengthFieldOffset 2; its prepender cannot write bytes before the field, so it writes
    // a 4-byte field holding 0x0300_0000 + the frame length (lengthAdjustment 0x03000000).
    case(
        "tpkt",
        "lf,offset=2,len=2,adj=-4,plen=4,padj=50331648,incl",
        "be:2,before=0300,counts-header",
        &[0, 1, 100, 65531],
    ),
    case("lines", "line", "lines", &[0, 1, 100, MIB]),
    case(
        "lines-crlf",
        "line,eol=crlf",
        "lines:crlf",
        &[0, 1, 100, MIB],
    ),
    case("etx", "delim,hex=03", "delim:03", &[0, 1, 100, MIB]),
    case(
        "crlf-delim",
        "delim,hex=0d0a",
        "delim:0d0a",
        &[0, 1, 100, MIB],
    ),
    case("fixed16", "fixed,len=16", "fixed:16", &[16, 16, 16]),
    case("eof", "eof", "eof", &[0, 1, 100, MIB]),
];

#[test]
fn netty_servers_msgframe_clients() {
    let Some(cp) = netty() else { return };
    let configs: Vec<(&str, &str)> = NETTY_CASES.iter().map(|c| (c.name, c.peer)).collect();
    let (peer, ports) = netty_server(cp, &configs);
    let mut failures = msgframe_clients(&ports, NETTY_CASES);
    failures.extend(short_requests(ports["eof"], "eof"));
    failures.extend(short_requests(ports["be2"], "be:2"));
    failures.extend(
        errors_so_far(&peer)
            .into_iter()
            .map(|e| format!("Netty: {e}")),
    );
    report(failures);
}

#[test]
fn netty_clients_msgframe_servers() {
    let Some(cp) = netty() else { return };
    let servers = msgframe_servers(NETTY_CASES);
    let results = netty_client(cp, &client_jobs(&servers));
    report(check_client_results(&results, servers));
}

/// Netty's maximum and msgframe's `max=` set to the same frame: Netty's `maxFrameLength` counts the
/// whole frame (header included) for length fields, and the line without its delimiter for
/// lines and delimiters; msgframe's `max=` always counts the body.
const NETTY_MAX_CASES: &[(&str, &str, &str, &str, usize)] = &[
    // name, Netty pipeline, msgframe spec with the maximum, msgframe spec without it, maximum body
    (
        "be2-max",
        "lf,len=2,max=1026",
        "be:2,max=1024",
        "be:2",
        1024,
    ),
    (
        "be4-max",
        "lf,len=4,max=1048580",
        "be:4,max=1m",
        "be:4",
        MIB,
    ),
    (
        "lines-max",
        "line,max=1024",
        "lines,max=1024",
        "lines",
        1024,
    ),
    (
        "etx-max",
        "delim,hex=03,max=1024",
        "delim:03,max=1024",
        "delim:03",
        1024,
    ),
];

#[test]
fn netty_maximum_refused_alike() {
    let Some(cp) = netty() else { return };
    let configs: Vec<(&str, &str)> = NETTY_MAX_CASES.iter().map(|c| (c.0, c.1)).collect();
    let (mut peer, ports) = netty_server(cp, &configs);
    let mut failures = Vec::new();
    for &(name, pipeline, spec, unlimited, max) in NETTY_MAX_CASES {
        let addr = ports[name];
        for mode in MODES {
            let at = format!(
                "{name} (Netty `{pipeline}`, msgframe `{spec}`), {}",
                mode.name()
            );
            // The maximum itself passes both.
            if let Some(f) = check_echoes(mode, addr, spec, &[max]) {
                failures.push(format!("{at}: {max} bytes: {f}"));
            }
            // One more: msgframe refuses to send it...
            match exchange(mode, addr, spec, &[body(max + 1)], DEADLINE) {
                Err(Error::TooLong(CodecError::MessageTooLong { length, max: m }))
                    if length == max + 1 && m == max => {}
                other => failures.push(format!("{at}: sending {} bytes: {other:?}", max + 1)),
            }
            // ...and Netty refuses to receive it (sent by msgframe without the maximum), and closes.
            let sent = exchange(mode, addr, unlimited, &[body(max + 1)], DEADLINE);
            assert_peer_closed(&format!("{at}: {} bytes to Netty", max + 1), sent);
            let prefix = format!("ERROR TooLongFrameException {name} ");
            if peer
                .next_line_matching(DEADLINE, |l| l.starts_with(&prefix))
                .is_none()
            {
                failures.push(format!("{at}: Netty did not report TooLongFrameException"));
            }
        }
    }
    failures.extend(
        errors_so_far(&peer)
            .into_iter()
            .map(|e| format!("Netty: {e}")),
    );

    // Netty's client sends one past the maximum (its encoders do not check maxFrameLength):
    // msgframe refuses to receive it.
    let mut servers = Vec::new();
    let mut jobs = Vec::new();
    for &(name, pipeline, spec, _, max) in NETTY_MAX_CASES {
        for mode in MODES {
            let server = MsgServer::start(mode, spec);
            let job = format!("{name}-{}", mode.name());
            jobs.push(format!(
                "{job}/{pipeline}/{}/{max}:{}",
                server.addr.port(),
                max + 1
            ));
            servers.push((job, spec, max, server));
        }
    }
    // One past what the length field can hold: Netty's LengthFieldPrepender refuses it as msgframe
    // does (nothing is sent; the server sees a connection that closes without a message).
    for (job, pipeline, spec, n) in [
        ("be1-limit", "lf,len=1", "be:1", 256),
        ("be2-limit", "lf,len=2", "be:2", 65536),
    ] {
        let server = MsgServer::start(Mode::Blocking, spec);
        jobs.push(format!("{job}/{pipeline}/{}/{n}", server.addr.port()));
        for mode in MODES {
            match exchange(mode, server.addr, spec, &[body(n)], DEADLINE) {
                Err(Error::TooLong(CodecError::MessageTooLong { length, .. })) if length == n => {}
                other => failures.push(format!(
                    "msgframe `{spec}`, {}: sending {n} bytes: {other:?}",
                    mode.name()
                )),
            }
        }
        servers.push((job.to_owned(), spec, n, server));
    }
    let results = netty_client(cp, &jobs);
    for (job, spec, max, server) in servers {
        let lines = results.get(&job).cloned().unwrap_or_default();
        let outcomes = server.finish();
        if job.ends_with("-limit") {
            let refused = lines.len() == 1 && lines[0].starts_with(&format!("REFUSED {job} "));
            if !refused || outcomes.iter().any(|o| !matches!(o, Ok(0))) {
                failures.push(format!(
                    "Netty client {job}: {lines:?}; msgframe server: {outcomes:?}"
                ));
            }
            continue;
        }
        // The maximum is echoed; then msgframe refuses the next frame from its header alone.
        let closed = closed_after(&lines, &job, 1);
        let refused = matches!(
            outcomes.as_slice(),
            [Err(Error::TooLong(CodecError::FrameTooLong { length, max: m, .. }))]
                if *m == max as u64 && *length > max as u64
        );
        if !closed || !refused {
            failures.push(format!(
                "Netty client {job} → msgframe `{spec}`: client {lines:?}, server {outcomes:?}"
            ));
        }
    }
    report(failures);
}

#[test]
fn netty_mismatches_fail_with_clear_errors() {
    let Some(cp) = netty() else { return };
    let (mut peer, ports) = netty_server(
        cp,
        &[
            ("be4-max", "lf,len=4,max=1028"),
            ("be2-counts-header", "lf,len=2,adj=-2,incl"),
            ("be2", "lf,len=2"),
        ],
    );
    for mode in MODES {
        let m = mode.name();
        // 2- vs 4-byte length: Netty reads 00 05 68 65 as 354405 bytes, above its maximum.
        let sent = exchange(
            mode,
            ports["be4-max"],
            "be:2",
            &[b"hello".to_vec()],
            DEADLINE,
        );
        assert_peer_closed(&format!("be:2 → Netty 4-byte length, {m}"), sent);
        let line = peer.next_line_matching(DEADLINE, |l| l.starts_with("ERROR "));
        assert!(
            line.as_deref()
                .is_some_and(|l| l.starts_with("ERROR TooLongFrameException be4-max ")),
            "{m}: Netty said {line:?}"
        );

        // The length counts the header on Netty's side only: msgframe's empty message (00 00) is
        // shorter than the header Netty expects it to count.
        let sent = exchange(
            mode,
            ports["be2-counts-header"],
            "be:2",
            &[vec![]],
            DEADLINE,
        );
        assert_peer_closed(&format!("be:2 → Netty counting the header, {m}"), sent);
        let line = peer.next_line_matching(DEADLINE, |l| l.starts_with("ERROR "));
        assert!(
            line.as_deref()
                .is_some_and(|l| l.starts_with("ERROR CorruptedFrameException be2-counts-header ")),
            "{m}: Netty said {line:?}"
        );

        // The length counts the header on msgframe's side only: Netty waits for two bytes that
        // never come; msgframe's deadline ends the exchange.
        let start = Instant::now();
        let sent = exchange(
            mode,
            ports["be2"],
            "be:2,counts-header",
            &[b"hello".to_vec()],
            SHORT_DEADLINE,
        );
        assert!(
            matches!(sent, Err(Error::TimedOut { .. })),
            "be:2,counts-header → Netty 2-byte length, {m}: {sent:?}"
        );
        assert!(
            start.elapsed() < SHORT_DEADLINE * 3,
            "{m}: took {:?}",
            start.elapsed()
        );
    }
    let errors = errors_so_far(&peer);
    assert!(errors.is_empty(), "unexpected Netty errors: {errors:?}");

    // Netty's client, the other way round: msgframe refuses with a typed error.
    let mut jobs = Vec::new();
    let mut servers = Vec::new();
    for mode in MODES {
        // Netty's empty message 00 00 under msgframe counting the header: too small.
        let counts = MsgServer::start(mode, "be:2,counts-header");
        jobs.push(format!(
            "counts-{}/lf,len=2/{}/0",
            mode.name(),
            counts.addr.port()
        ));
        // Little-endian 05 00 read as big-endian: 1280 bytes, above msgframe's maximum.
        let order = MsgServer::start(mode, "be:2,max=1024");
        jobs.push(format!(
            "order-{}/lf,len=2,order=le/{}/5",
            mode.name(),
            order.addr.port()
        ));
        servers.push((mode, counts, order));
    }
    let results = netty_client(cp, &jobs);
    for (mode, counts, order) in servers {
        let m = mode.name();
        let outcomes = counts.finish();
        assert!(
            matches!(
                outcomes.as_slice(),
                [Err(Error::Malformed(CodecError::LengthTooSmall {
                    length: 0,
                    minimum: 2,
                    ..
                }))]
            ),
            "{m}: msgframe be:2,counts-header got Netty's empty message: {outcomes:?}"
        );
        let outcomes = order.finish();
        assert!(
            matches!(
                outcomes.as_slice(),
                [Err(Error::TooLong(CodecError::FrameTooLong {
                    length: 1280,
                    max: 1024,
                    ..
                }))]
            ),
            "{m}: msgframe be:2,max=1024 got Netty's little-endian 5: {outcomes:?}"
        );
        for job in [format!("counts-{m}"), format!("order-{m}")] {
            let lines = results.get(&job).cloned().unwrap_or_default();
            assert!(
                closed_after(&lines, &job, 0),
                "Netty client {job}: {lines:?}"
            );
        }
    }
}

// --------------------------------------------------------------------------------------- Erlang

fn erlang_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/erlang/peer.escript")
}

/// Whether `escript` runs the peer (printing the OTP version once); `false` when
/// Erlang is missing (a skip locally, a failure in CI).
fn erlang() -> bool {
    static VERSION: OnceLock<Option<String>> = OnceLock::new();
    let version = VERSION.get_or_init(|| {
        let out = Command::new("escript")
            .arg(erlang_script())
            .arg("version")
            .output()
            .ok()
            .filter(|o| o.status.success())?;
        let v = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        println!("interop peer: {v}");
        Some(v)
    });
    harness::available(
        "Erlang/OTP (erlang-base, escript)",
        version.is_some(),
        "sudo .ci/install-interop-jvm-erlang.sh, or apt-get install erlang-base",
    )
}

fn erlang_command(mode: &str, args: &[String]) -> Command {
    let mut c = Command::new("escript");
    c.arg(erlang_script()).arg(mode).args(args);
    c
}

fn erlang_server(configs: &[(&str, &str)]) -> (Peer, HashMap<String, SocketAddr>) {
    let args: Vec<String> = configs
        .iter()
        .map(|(name, config)| format!("{name}/{config}"))
        .collect();
    let mut peer = Peer::start_server("Erlang server", erlang_command("server", &args));
    let ports = listening(&mut peer);
    (peer, ports)
}

fn erlang_client(jobs: &[String]) -> HashMap<String, Vec<String>> {
    client_results(Peer::spawn("Erlang client", erlang_command("client", jobs)))
}

/// gen_tcp configurations (see peer.escript) and the msgframe specs for the same bytes.
/// `{packet, line}` delivers lines longer than `{buffer, N}` (1460 bytes by default) in pieces, so
/// the line configurations set a buffer as large as the longest line; `{packet_size, N}` counts a
/// line's delimiter.
const ERLANG_CASES: &[Case] = &[
    case("packet1", "packet=1", "be:1", &[0, 1, 100, 255]),
    case("packet2", "packet=2", "be:2", &[0, 1, 100, 65535]),
    case("packet4", "packet=4", "be:4", &[0, 1, 100, MIB]),
    case(
        "line",
        "packet=line,size=1048577,buffer=1048577",
        "lines",
        &[0, 1, 100, MIB],
    ),
    case(
        "line-semicolon",
        "packet=line,delim=59,size=1048577,buffer=1048577",
        "delim:3b",
        &[0, 1, 100, MIB],
    ),
    // {packet, tpkt} splits incoming bytes only: received packets keep their header, and the
    // sender writes it (the echo server sends each packet back as it came).
    case(
        "tpkt",
        "packet=tpkt",
        "be:2,before=0300,counts-header",
        &[0, 1, 100, 65531],
    ),
    // {packet, raw} echoes bytes as they come: any msgframe framing must survive that.
    server_only("raw-le4", "packet=raw", "le:4", &[0, 1, 100, MIB]),
    server_only("raw-ascii4", "packet=raw", "ascii:4", &[0, 1, 100, 9999]),
    // gen_tcp:recv(S, 16) in raw mode: exactly 16 bytes per message.
    case("fixed16", "fixed=16", "fixed:16", &[16, 16, 16]),
    case("eof", "eof", "eof", &[0, 1, 100, MIB]),
];

#[test]
fn erlang_servers_msgframe_clients() {
    if !erlang() {
        return;
    }
    let configs: Vec<(&str, &str)> = ERLANG_CASES.iter().map(|c| (c.name, c.peer)).collect();
    let (peer, ports) = erlang_server(&configs);
    let mut failures = msgframe_clients(&ports, ERLANG_CASES);
    failures.extend(short_requests(ports["eof"], "eof"));
    failures.extend(short_requests(ports["packet2"], "be:2"));
    failures.extend(
        errors_so_far(&peer)
            .into_iter()
            .map(|e| format!("Erlang: {e}")),
    );
    report(failures);
}

#[test]
fn erlang_clients_msgframe_servers() {
    if !erlang() {
        return;
    }
    let servers = msgframe_servers(ERLANG_CASES);
    let results = erlang_client(&client_jobs(&servers));
    report(check_client_results(&results, servers));
}

/// `{packet_size, N}` and msgframe's `max=` set to the same frame (for lines, Erlang counts the
/// delimiter: `size=1025` is `lines,max=1024`). gen_tcp checks `packet_size` when receiving only.
const ERLANG_MAX_CASES: &[(&str, &str, &str, &str, usize)] = &[
    // name, gen_tcp config, msgframe spec with the maximum, without it, maximum body
    (
        "packet2-max",
        "packet=2,size=1024",
        "be:2,max=1024",
        "be:2",
        1024,
    ),
    (
        "packet4-max",
        "packet=4,size=1048576",
        "be:4,max=1m",
        "be:4",
        MIB,
    ),
    // The buffer must be larger than packet_size: a line longer than the buffer is delivered in
    // pieces, and never refused.
    (
        "line-max",
        "packet=line,size=1025,buffer=4096",
        "lines,max=1024",
        "lines",
        1024,
    ),
];

#[test]
fn erlang_maximum_refused_alike() {
    if !erlang() {
        return;
    }
    let configs: Vec<(&str, &str)> = ERLANG_MAX_CASES.iter().map(|c| (c.0, c.1)).collect();
    let (mut peer, ports) = erlang_server(&configs);
    let mut failures = Vec::new();
    for &(name, config, spec, unlimited, max) in ERLANG_MAX_CASES {
        let addr = ports[name];
        for mode in MODES {
            let at = format!(
                "{name} (gen_tcp `{config}`, msgframe `{spec}`), {}",
                mode.name()
            );
            if let Some(f) = check_echoes(mode, addr, spec, &[max]) {
                failures.push(format!("{at}: {max} bytes: {f}"));
            }
            match exchange(mode, addr, spec, &[body(max + 1)], DEADLINE) {
                Err(Error::TooLong(CodecError::MessageTooLong { length, max: m }))
                    if length == max + 1 && m == max => {}
                other => failures.push(format!("{at}: sending {} bytes: {other:?}", max + 1)),
            }
            let sent = exchange(mode, addr, unlimited, &[body(max + 1)], DEADLINE);
            assert_peer_closed(&format!("{at}: {} bytes to Erlang", max + 1), sent);
            let expected = format!("ERROR emsgsize {name}");
            if peer
                .next_line_matching(DEADLINE, |l| l == expected)
                .is_none()
            {
                failures.push(format!("{at}: Erlang did not report emsgsize"));
            }
        }
    }
    failures.extend(
        errors_so_far(&peer)
            .into_iter()
            .map(|e| format!("Erlang: {e}")),
    );

    // Erlang's client sends one past the maximum (packet_size limits receiving only): msgframe
    // refuses to receive it.
    let mut servers = Vec::new();
    let mut jobs = Vec::new();
    for &(name, config, spec, _, max) in ERLANG_MAX_CASES {
        for mode in MODES {
            let server = MsgServer::start(mode, spec);
            let job = format!("{name}-{}", mode.name());
            jobs.push(format!(
                "{job}/{config}/{}/{max}:{}",
                server.addr.port(),
                max + 1
            ));
            servers.push((job, spec, max, server));
        }
    }
    let results = erlang_client(&jobs);
    for (job, spec, max, server) in servers {
        let lines = results.get(&job).cloned().unwrap_or_default();
        let outcomes = server.finish();
        let closed = closed_after(&lines, &job, 1);
        let refused = matches!(
            outcomes.as_slice(),
            [Err(Error::TooLong(CodecError::FrameTooLong { length, max: m, .. }))]
                if *m == max as u64 && *length > max as u64
        );
        if !closed || !refused {
            failures.push(format!(
                "Erlang client {job} → msgframe `{spec}`: client {lines:?}, server {outcomes:?}"
            ));
        }
    }
    report(failures);
}

/// One past what the length field holds: msgframe refuses to send it; gen_tcp sends it with the
/// length cut to the field's width (256 bytes under `{packet, 1}` go out as `00` and 256 bytes), so
/// a receiver sees an empty message and then garbage. The test pins both behaviours down.
#[test]
fn erlang_sends_oversized_length_wrapped_where_msgframe_refuses() {
    if !erlang() {
        return;
    }
    let mut jobs = Vec::new();
    let mut captures = Vec::new();
    for (job, config, spec, width, n) in [
        ("packet1-limit", "packet=1", "be:1", 1usize, 256usize),
        ("packet2-limit", "packet=2", "be:2", 2, 65536),
    ] {
        for mode in MODES {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            match exchange(
                mode,
                listener.local_addr().unwrap(),
                spec,
                &[body(n)],
                DEADLINE,
            ) {
                Err(Error::TooLong(CodecError::MessageTooLong { length, .. })) if length == n => {}
                other => panic!(
                    "msgframe `{spec}`, {}: sending {n} bytes: {other:?}",
                    mode.name()
                ),
            }
            // The connection msgframe opened and closed without sending anything.
            let (mut s, _) = listener.accept().expect("accept");
            s.set_read_timeout(Some(DEADLINE)).unwrap();
            let mut nothing = Vec::new();
            s.read_to_end(&mut nothing).expect("read");
            assert!(nothing.is_empty(), "msgframe sent {} bytes", nothing.len());
        }
        // What Erlang puts on the wire, read raw.
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        jobs.push(format!(
            "{job}/{config}/{}/{n}",
            listener.local_addr().unwrap().port()
        ));
        captures.push((
            job,
            width,
            n,
            thread::spawn(move || {
                let (mut s, _) = listener.accept().expect("accept");
                s.set_read_timeout(Some(DEADLINE)).unwrap();
                let mut wire = vec![0; width + n];
                s.read_exact(&mut wire).map(|()| wire)
            }),
        ));
    }
    let results = erlang_client(&jobs);
    for (job, width, n, capture) in captures {
        let wire = capture
            .join()
            .expect("capture thread")
            .expect("Erlang's bytes");
        assert_eq!(
            &wire[..width],
            &vec![0u8; width][..],
            "{job}: Erlang's length field for {n} bytes"
        );
        assert_eq!(&wire[width..], &body(n)[..], "{job}: Erlang's body");
        let lines = results.get(job).cloned().unwrap_or_default();
        assert!(
            closed_after(&lines, job, 0),
            "Erlang client {job}: {lines:?}"
        );
    }
}

#[test]
fn erlang_mismatches_fail_with_clear_errors() {
    if !erlang() {
        return;
    }
    let (mut peer, ports) = erlang_server(&[
        ("packet4-max", "packet=4,size=1024"),
        ("tpkt", "packet=tpkt"),
        ("packet2", "packet=2"),
    ]);
    for mode in MODES {
        let m = mode.name();
        // 2- vs 4-byte length: gen_tcp reads 00 05 68 65 as 354405 bytes, above its packet_size.
        let sent = exchange(
            mode,
            ports["packet4-max"],
            "be:2",
            &[b"hello".to_vec()],
            DEADLINE,
        );
        assert_peer_closed(&format!("be:2 → {{packet, 4}}, {m}"), sent);
        let line = peer.next_line_matching(DEADLINE, |l| l.starts_with("ERROR "));
        assert_eq!(line.as_deref(), Some("ERROR emsgsize packet4-max"), "{m}");

        // TPKT's length counts its header, msgframe's here does not: 03 00 00 05 "hello" is, to
        // gen_tcp, the 5-byte packet 03 00 00 05 68 (echoed), then "ello", not a TPKT header.
        // msgframe wanted 5 body bytes after the echoed header and got 1 before the close.
        let sent = exchange(
            mode,
            ports["tpkt"],
            "be:2,before=0300",
            &[b"hello".to_vec()],
            DEADLINE,
        );
        assert!(
            matches!(
                sent,
                Err(Error::UnexpectedEof {
                    buffered: 5,
                    expected: Some(9),
                    ..
                })
            ),
            "be:2,before=0300 → {{packet, tpkt}}, {m}: {sent:?}"
        );
        let line = peer.next_line_matching(DEADLINE, |l| l.starts_with("ERROR "));
        assert_eq!(line.as_deref(), Some("ERROR emsgsize tpkt"), "{m}");

        // The length counts the header on msgframe's side only: gen_tcp waits for two bytes that
        // never come; msgframe's deadline ends the exchange.
        let start = Instant::now();
        let sent = exchange(
            mode,
            ports["packet2"],
            "be:2,counts-header",
            &[b"hello".to_vec()],
            SHORT_DEADLINE,
        );
        assert!(
            matches!(sent, Err(Error::TimedOut { .. })),
            "be:2,counts-header → {{packet, 2}}, {m}: {sent:?}"
        );
        assert!(
            start.elapsed() < SHORT_DEADLINE * 3,
            "{m}: took {:?}",
            start.elapsed()
        );
    }
    let errors = errors_so_far(&peer);
    assert!(errors.is_empty(), "unexpected Erlang errors: {errors:?}");

    // Erlang's client, the other way round.
    let mut jobs = Vec::new();
    let mut servers = Vec::new();
    for mode in MODES {
        let counts = MsgServer::start(mode, "be:2,counts-header");
        jobs.push(format!(
            "counts-{}/packet=2/{}/0",
            mode.name(),
            counts.addr.port()
        ));
        servers.push((mode, counts));
    }
    let results = erlang_client(&jobs);
    for (mode, counts) in servers {
        let m = mode.name();
        let outcomes = counts.finish();
        assert!(
            matches!(
                outcomes.as_slice(),
                [Err(Error::Malformed(CodecError::LengthTooSmall {
                    length: 0,
                    minimum: 2,
                    ..
                }))]
            ),
            "{m}: msgframe be:2,counts-header got gen_tcp's empty packet: {outcomes:?}"
        );
        let job = format!("counts-{m}");
        let lines = results.get(&job).cloned().unwrap_or_default();
        assert!(
            closed_after(&lines, &job, 0),
            "Erlang client {job}: {lines:?}"
        );
    }
}
