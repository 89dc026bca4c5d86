//! msgframe against framing implementations written elsewhere, in Python, through msgframe's
//! blocking, non-blocking and tokio paths:
//!
//! - **Twisted** (`twisted.protocols.basic`): `Int8StringReceiver`, `Int16StringReceiver`,
//!   `Int32StringReceiver`, little-endian `IntNStringReceiver`s (`<H`, `<I`), `NetstringReceiver`,
//!   `LineReceiver` with CR LF and with LF; as echo servers for msgframe clients and as clients of
//!   msgframe echo servers; messages of 0, 1, 100 bytes and the largest the header allows; each
//!   receiver's `MAX_LENGTH` refused on both sides; mismatched framings failing within a deadline.
//! - **ISO 8583** on **pyiso8583** (`iso8583.specs.default_ascii`): a card host behind each legacy
//!   header (4 ASCII digits, 2-byte BCD, 2-byte binary, 2-byte binary with a TPDU, 4-byte binary) and
//!   zero-length keepalives, for requests that the test encodes itself (tests/interop/python/iso8583.rs);
//!   and a pyiso8583 terminal against msgframe hosts.
//! - **SMPP** on **smpplib**: smpplib's client against a msgframe SMSC (`be:4,counts-header`).
//!
//! The peers are tests/interop/python/*.py. A missing Python package skips its tests locally and
//! fails them in CI (`CI=true`); `.ci/install-interop-python.sh` installs them.

#[path = "interop/harness.rs"]
mod harness;
#[path = "interop/python/iso8583.rs"]
mod iso8583;
#[path = "interop/python/smpp.rs"]
mod smpp;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use harness::Peer;
use msgframe::io::Error;
use msgframe::{
    BlockingReader, BlockingWriter, CodecError, Deadlines, Framing, MessageRead, MessageWrite,
    NonBlockingReader, NonBlockingWriter, ShortRequest,
};
use msgframe_tokio::{Codec, MessageReader, MessageWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::codec::Framed;

use iso8583::Message;

/// The deadline of every exchange: writing a message, reading one.
const DEADLINE: Duration = Duration::from_secs(5);
/// The deadline where the test expects it to pass (a peer waiting for bytes that never come).
const EXPECTED_TIMEOUT: Duration = Duration::from_millis(1500);
/// How long a server here waits for a Python client to connect (it may still be starting).
const ACCEPT_LIMIT: Duration = Duration::from_secs(30);
/// How long a Python client may run.
const CLIENT_LIMIT: Duration = Duration::from_secs(40);

const INSTALL: &str = "bash .ci/install-interop-python.sh";

// ---------------------------------------------------------------------------------------------
// Peers

fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn twisted() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    let present = *PRESENT.get_or_init(|| python_has("twisted"));
    harness::available("Twisted (PyPI twisted)", present, INSTALL)
}

fn pyiso8583() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    let present = *PRESENT.get_or_init(|| python_has("iso8583"));
    harness::available("pyiso8583 (PyPI pyiso8583)", present, INSTALL)
}

fn smpplib() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    let present = *PRESENT.get_or_init(|| python_has("smpplib"));
    harness::available("smpplib (PyPI smpplib)", present, INSTALL)
}

/// `python3 -u tests/interop/python/<script> args...`
fn python<I: AsRef<OsStr>>(script: &str, args: impl IntoIterator<Item = I>) -> Command {
    let mut command = Command::new("python3");
    command
        .arg("-u")
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/interop/python")
                .join(script),
        )
        .args(args);
    command
}

/// Starts a peer that prints `PORT <n>`, then `LISTEN <name> <port>` lines and `READY`.
fn start_listening(name: &str, command: Command) -> (Peer, HashMap<String, SocketAddr>) {
    let mut peer = Peer::start_server(name, command);
    let mut ports = HashMap::new();
    loop {
        let line = peer
            .next_line_matching(harness::START_LIMIT, |l| {
                l.starts_with("LISTEN ") || l == "READY"
            })
            .unwrap_or_else(|| panic!("{name} did not print READY"));
        if line == "READY" {
            return (peer, ports);
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let port: u16 = words[2].parse().unwrap();
        ports.insert(
            words[1].to_owned(),
            SocketAddr::from(([127, 0, 0, 1], port)),
        );
    }
}

/// Waits for the line `wanted` from the peer (earlier lines are passed over).
fn expect_line(peer: &mut Peer, wanted: &str) {
    let name = peer.name().to_owned();
    peer.next_line_matching(DEADLINE, |l| l == wanted)
        .unwrap_or_else(|| panic!("{name} did not print {wanted:?} within {DEADLINE:?}"));
}

/// Waits for a line starting with `prefix` and returns it.
fn expect_line_starting(peer: &mut Peer, prefix: &str) -> String {
    let name = peer.name().to_owned();
    peer.next_line_matching(DEADLINE, |l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("{name} did not print a line starting {prefix:?}"))
}

/// Runs a client peer to its end and returns everything it printed; panics unless it exits 0
/// within [`CLIENT_LIMIT`].
fn run_client(name: &str, command: Command) -> Vec<String> {
    let mut peer = Peer::spawn(name, command);
    let status = peer.wait(CLIENT_LIMIT);
    let output = std::mem::replace(&mut peer.lines, std::sync::mpsc::channel().1);
    drop(peer); // stops it if it is still running, so that its output ends
    let mut lines = Vec::new();
    while let Ok(line) = output.recv_timeout(Duration::from_secs(2)) {
        lines.push(line);
    }
    assert_eq!(
        status,
        Some(true),
        "{name} did not exit successfully within {CLIENT_LIMIT:?}; it printed:\n{}",
        lines.join("\n")
    );
    lines
}

/// The lines about one job (`WORD <name> ...`), in order.
fn job_lines(lines: &[String], name: &str) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.split_whitespace().nth(1) == Some(name))
        .cloned()
        .collect()
}

// ---------------------------------------------------------------------------------------------
// msgframe's sides: blocking, non-blocking (a poll loop), tokio

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Blocking,
    NonBlocking,
}

type Reader = Box<dyn MessageRead + Send>;
type Writer = Box<dyn MessageWrite + Send>;

/// A non-blocking reader or writer in a poll loop: would-block is retried every millisecond until
/// [`DEADLINE`], as an event loop would on readiness.
struct Polled<T>(T);

fn poll_until<T>(writing: bool, mut attempt: impl FnMut() -> Result<T, Error>) -> Result<T, Error> {
    let start = Instant::now();
    loop {
        match attempt() {
            // Would block, read budget spent, or the writer's queue is full: retry.
            Err(Error::WouldBlock | Error::Yielded { .. } | Error::NotSent { .. })
                if start.elapsed() < DEADLINE =>
            {
                thread::sleep(Duration::from_millis(1))
            }
            Err(Error::WouldBlock | Error::Yielded { .. } | Error::NotSent { .. }) => {
                return Err(Error::TimedOut {
                    buffered: 0,
                    elapsed_ms: start.elapsed().as_millis() as u64,
                    writing,
                })
            }
            other => return other,
        }
    }
}

impl MessageRead for Polled<NonBlockingReader<TcpStream, Framing>> {
    fn read_message(&mut self) -> Result<Bytes, Error> {
        poll_until(false, || self.0.read_message())
    }
}

impl MessageWrite for Polled<NonBlockingWriter<TcpStream, Framing>> {
    fn write_message(&mut self, body: &[u8]) -> Result<(), Error> {
        let writer = &mut self.0;
        poll_until(true, || match writer.write_message(body) {
            Err(e @ Error::NotSent { .. }) => {
                // Full: send what is pending (an error shows on the next attempt).
                let _ = writer.flush();
                Err(e)
            }
            other => other,
        })?;
        self.flush()
    }

    fn flush(&mut self) -> Result<(), Error> {
        poll_until(true, || self.0.flush())
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect_timeout(&addr, DEADLINE)
        .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"))
}

/// A reader and a writer over `stream` with [`DEADLINE`]s.
fn pair(mode: Mode, stream: TcpStream, read: Framing, write: Framing) -> (Reader, Writer) {
    stream.set_nodelay(true).unwrap();
    let read_half = stream.try_clone().unwrap();
    match mode {
        Mode::Blocking => (
            Box::new(BlockingReader::new(read_half, read).with_timeout(DEADLINE)),
            Box::new(BlockingWriter::new(stream, write).with_timeout(DEADLINE)),
        ),
        Mode::NonBlocking => {
            stream.set_nonblocking(true).unwrap();
            (
                Box::new(Polled(NonBlockingReader::new(read_half, read))),
                Box::new(Polled(NonBlockingWriter::new(stream, write))),
            )
        }
    }
}

/// A blocking reader and writer, for tests that need the concrete types.
fn blocking(
    addr: SocketAddr,
    read: Framing,
    write: Framing,
) -> (
    BlockingReader<TcpStream, Framing>,
    BlockingWriter<TcpStream, Framing>,
) {
    let stream = connect(addr);
    stream.set_nodelay(true).unwrap();
    (
        BlockingReader::new(stream.try_clone().unwrap(), read).with_timeout(DEADLINE),
        BlockingWriter::new(stream, write).with_timeout(DEADLINE),
    )
}

/// Accepts one connection within [`ACCEPT_LIMIT`], as a blocking stream.
fn accept(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let start = Instant::now();
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                return stream;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && start.elapsed() < ACCEPT_LIMIT => {
                thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("no connection within {ACCEPT_LIMIT:?}: {e}"),
        }
    }
}

fn listen() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// An async reader and writer over a tokio stream.
fn async_pair(
    stream: tokio::net::TcpStream,
    read: Framing,
    write: Framing,
) -> (
    MessageReader<OwnedReadHalf, Framing>,
    MessageWriter<OwnedWriteHalf, Framing>,
) {
    stream.set_nodelay(true).unwrap();
    let (r, w) = stream.into_split();
    (MessageReader::new(r, read), MessageWriter::new(w, write))
}

/// The next message of a `Framed` within [`DEADLINE`]; the end of the stream is `Closed`.
async fn framed_next(framed: &mut Framed<tokio::net::TcpStream, Codec>) -> Result<Bytes, Error> {
    match tokio::time::timeout(DEADLINE, framed.next()).await {
        Err(_) => Err(Error::TimedOut {
            buffered: framed.read_buffer().len(),
            elapsed_ms: DEADLINE.as_millis() as u64,
            writing: false,
        }),
        Ok(None) => Err(Error::Closed),
        Ok(Some(result)) => result,
    }
}

/// Sends a message on a `Framed` within [`DEADLINE`].
async fn framed_send(
    framed: &mut Framed<tokio::net::TcpStream, Codec>,
    body: &[u8],
) -> Result<(), Error> {
    match tokio::time::timeout(DEADLINE, framed.send(body)).await {
        Err(_) => Err(Error::TimedOut {
            buffered: framed.write_buffer().len(),
            elapsed_ms: DEADLINE.as_millis() as u64,
            writing: true,
        }),
        Ok(result) => result,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// Twisted

/// One Twisted receiver and the msgframe spec that speaks its framing.
#[derive(Debug, Clone, Copy)]
struct Kind {
    /// The kind in twisted_peer.py.
    name: &'static str,
    spec: &'static str,
    /// The largest message the tests send: what the header can express, or [`BIG`].
    largest: usize,
    /// The MAX_LENGTH of the peer's limited receiver (`<name>-max`).
    limit: usize,
}

/// The largest message sent where the header allows more: large, and quick on 2 cores.
const BIG: usize = 4 << 20;

const KINDS: [Kind; 8] = [
    kind("int8", "be:1", 255, 100),
    kind("int16", "be:2", 65535, 1000),
    kind("int32", "be:4", BIG, 1000),
    kind("le16", "le:2", 65535, 1000),
    kind("le32", "le:4", BIG, 1000),
    kind("netstring", "netstring", BIG, 1000),
    kind("crlf", "lines:crlf", BIG, 1000),
    kind("lf", "lines", BIG, 1000),
];

const fn kind(name: &'static str, spec: &'static str, largest: usize, limit: usize) -> Kind {
    Kind {
        name,
        spec,
        largest,
        limit,
    }
}

impl Kind {
    fn lines(&self) -> bool {
        self.spec.starts_with("lines")
    }

    fn framing(&self) -> Framing {
        self.spec.parse().unwrap()
    }

    /// The framing with the peer's limited MAX_LENGTH as msgframe's maximum.
    fn limited(&self) -> Framing {
        format!("{},max={}", self.spec, self.limit).parse().unwrap()
    }

    fn sizes(&self) -> Vec<usize> {
        vec![0, 1, 100, self.largest]
    }

    /// What Twisted prints when a receiver named `name` of this kind refuses a message of `size`
    /// bytes (observed): `lengthLimitExceeded(size)` for the IntN receivers,
    /// `lineLengthExceeded(line + delimiter + rest)` for lines, and for netstrings no callback, the
    /// connection dropped with `brokenPeer` set.
    fn refusal(&self, name: &str, size: usize) -> String {
        match self.name {
            "netstring" => format!("BROKEN-PEER {name}"),
            "crlf" => format!("EXCEEDED {name} {}", size + 2),
            "lf" => format!("EXCEEDED {name} {}", size + 1),
            _ => format!("EXCEEDED {name} {size}"),
        }
    }
}

/// The message of `size` bytes for `kind` (as `payload` in twisted_peer.py): every byte value for
/// binary kinds, letters and digits for lines.
fn payload(kind: &Kind, size: usize) -> Vec<u8> {
    const TEXT: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..size)
        .map(|i| {
            if kind.lines() {
                TEXT[(i + size) % TEXT.len()]
            } else {
                ((i + size) % 256 * 31 % 256) as u8
            }
        })
        .collect()
}

/// Twisted echo servers for every kind: `<kind>` with MAX_LENGTH = the kind's largest message,
/// `<kind>-max` with MAX_LENGTH = its limit.
fn twisted_servers() -> (Peer, HashMap<String, SocketAddr>) {
    let mut args = vec!["serve".to_owned()];
    for k in &KINDS {
        args.push(format!("{}={}:{}", k.name, k.name, k.largest));
        args.push(format!("{}-max={}:{}", k.name, k.name, k.limit));
    }
    start_listening("twisted servers", python("twisted_peer.py", args))
}

/// Sends each size and checks its echo, then sends the small ones back to back before reading
/// their echoes (one read bringing several messages).
fn echo_sizes(
    reader: &mut dyn MessageRead,
    writer: &mut dyn MessageWrite,
    kind: &Kind,
    sizes: &[usize],
) {
    for &size in sizes {
        let body = payload(kind, size);
        writer
            .write_message(&body)
            .unwrap_or_else(|e| panic!("{}: sending {size} bytes: {e}", kind.name));
        let echo = reader
            .read_message()
            .unwrap_or_else(|e| panic!("{}: reading the echo of {size} bytes: {e}", kind.name));
        assert!(
            echo == body,
            "{}: the echo of {size} bytes differs ({} bytes)",
            kind.name,
            echo.len()
        );
    }
    let small: Vec<usize> = sizes.iter().copied().filter(|&s| s <= 100).collect();
    for &size in &small {
        writer.write_message(&payload(kind, size)).unwrap();
    }
    for &size in &small {
        let echo = reader.read_message().unwrap();
        assert!(
            echo == payload(kind, size),
            "{}: pipelined echo of {size} bytes",
            kind.name
        );
    }
}

fn twisted_echo_servers(mode: Mode) {
    if !twisted() {
        return;
    }
    let (_peer, ports) = twisted_servers();
    for kind in &KINDS {
        let (mut r, mut w) = pair(
            mode,
            connect(ports[kind.name]),
            kind.framing(),
            kind.framing(),
        );
        echo_sizes(&mut *r, &mut *w, kind, &kind.sizes());
    }
}

#[test]
fn twisted_echo_servers_blocking() {
    twisted_echo_servers(Mode::Blocking);
}

#[test]
fn twisted_echo_servers_nonblocking() {
    twisted_echo_servers(Mode::NonBlocking);
}

#[test]
fn twisted_echo_servers_tokio() {
    if !twisted() {
        return;
    }
    let (_peer, ports) = twisted_servers();
    runtime().block_on(async {
        for (i, kind) in KINDS.iter().enumerate() {
            let stream = tokio::net::TcpStream::connect(ports[kind.name])
                .await
                .unwrap();
            if i % 2 == 0 {
                // tokio_util's Framed with msgframe's Codec
                let mut framed = Framed::new(stream, Codec::new(kind.framing()));
                for size in kind.sizes() {
                    let body = payload(kind, size);
                    framed_send(&mut framed, &body).await.unwrap();
                    let echo = framed_next(&mut framed).await.unwrap();
                    assert!(echo == body, "{}: Framed echo of {size} bytes", kind.name);
                }
            } else {
                // msgframe_tokio's MessageReader / MessageWriter, with deadlines
                let (mut r, mut w) = async_pair(stream, kind.framing(), kind.framing());
                for size in kind.sizes() {
                    let body = payload(kind, size);
                    w.write_message_timeout(&body, DEADLINE).await.unwrap();
                    let echo = r.read_message_timeout(DEADLINE).await.unwrap();
                    assert!(echo == body, "{}: async echo of {size} bytes", kind.name);
                }
                for size in [0, 1, 100] {
                    w.write_message_timeout(&payload(kind, size), DEADLINE)
                        .await
                        .unwrap();
                }
                for size in [0, 1, 100] {
                    let echo = r.read_message_timeout(DEADLINE).await.unwrap();
                    assert!(
                        echo == payload(kind, size),
                        "{}: pipelined async echo",
                        kind.name
                    );
                }
            }
        }
    });
}

/// Each receiver's MAX_LENGTH against msgframe's `max=`: the maximum passes both, the maximum + 1
/// is refused by both, sending and receiving; and past what the header can express, both refuse to
/// send.
#[test]
fn twisted_max_length_refused_by_both_sides() {
    if !twisted() {
        return;
    }
    let (mut peer, ports) = twisted_servers();
    for kind in &KINDS {
        let (limit, over) = (kind.limit, kind.limit + 1);
        let limited = format!("{}-max", kind.name);

        // msgframe with the peer's maximum refuses to send maximum + 1, and sends nothing: the
        // connection goes on, and the maximum itself passes msgframe and Twisted.
        let (mut r, mut w) = blocking(ports[&limited], kind.limited(), kind.limited());
        match w.write_message(&payload(kind, over)) {
            Err(Error::TooLong(CodecError::MessageTooLong { length, max })) => {
                assert_eq!((length, max), (over, limit), "{}", kind.name)
            }
            other => panic!(
                "{}: sending {over} bytes with max={limit}: {other:?}",
                kind.name
            ),
        }
        echo_sizes(&mut r, &mut w, kind, &[limit]);

        // Twisted refuses to receive maximum + 1 (sent by msgframe without a maximum): it calls
        // its refusal hook and drops the connection, which msgframe reads as a clean close.
        let (mut r, mut w) = blocking(ports[&limited], kind.framing(), kind.framing());
        w.write_message(&payload(kind, over)).unwrap();
        match r.read_message() {
            Err(Error::Closed) => {}
            other => panic!(
                "{}: after sending {over} bytes to MAX_LENGTH {limit}: {other:?}",
                kind.name
            ),
        }
        expect_line(&mut peer, &kind.refusal(&limited, over));

        // msgframe with the maximum refuses to receive maximum + 1 (echoed by the receiver without
        // the limit), before buffering it.
        let (mut r, mut w) = blocking(ports[kind.name], kind.limited(), kind.framing());
        w.write_message(&payload(kind, over)).unwrap();
        match r.read_message() {
            Err(Error::TooLong(CodecError::FrameTooLong { max, .. })) => {
                assert_eq!(max, limit as u64, "{}", kind.name)
            }
            other => panic!(
                "{}: receiving {over} bytes with max={limit}: {other:?}",
                kind.name
            ),
        }
    }

    // Past the header: msgframe refuses to send (Twisted's refusal is in
    // twisted_clients_refuse_what_msgframe_refuses).
    for kind in KINDS.iter().filter(|k| k.largest < BIG) {
        let (mut r, mut w) = blocking(ports[kind.name], kind.framing(), kind.framing());
        match w.write_message(&payload(kind, kind.largest + 1)) {
            Err(Error::TooLong(CodecError::MessageTooLong { length, max })) => {
                assert_eq!(
                    (length, max),
                    (kind.largest + 1, kind.largest),
                    "{}",
                    kind.name
                )
            }
            other => panic!(
                "{}: sending {} bytes: {other:?}",
                kind.name,
                kind.largest + 1
            ),
        }
        echo_sizes(&mut r, &mut w, kind, &[kind.largest]);
    }
}

/// msgframe configured for another framing than the peer's: a clear error within the deadline.
#[test]
fn twisted_mismatched_framing_fails_cleanly() {
    if !twisted() {
        return;
    }
    let (mut peer, ports) = twisted_servers();
    let be2: Framing = "be:2".parse().unwrap();
    let hello = b"hello";

    // be:2 to Int32StringReceiver: it reads [00 05 68 65] as a length of 354405, within its
    // MAX_LENGTH, and waits for that many bytes; msgframe's deadline ends the wait.
    let (mut r, mut w) = blocking(ports["int32"], be2.clone(), be2.clone());
    w.write_message(hello).unwrap();
    let start = Instant::now();
    match r.read_message_with(Deadlines::message(EXPECTED_TIMEOUT)) {
        Err(Error::TimedOut {
            buffered: 0,
            writing: false,
            ..
        }) => {}
        other => panic!("be:2 against Int32StringReceiver: {other:?}"),
    }
    assert!(start.elapsed() < EXPECTED_TIMEOUT + Duration::from_secs(1));

    // The same to Int32StringReceiver with MAX_LENGTH 1000: lengthLimitExceeded(354405), and the
    // connection is dropped.
    let (mut r, mut w) = blocking(ports["int32-max"], be2.clone(), be2.clone());
    w.write_message(hello).unwrap();
    assert!(matches!(r.read_message(), Err(Error::Closed)));
    expect_line(&mut peer, "EXCEEDED int32-max 354405");

    // ISO 8583-style ascii:4 to NetstringReceiver: "0005hello" has leading zeros, which netstrings
    // forbid: Twisted drops the connection as a broken peer.
    let ascii4: Framing = "ascii:4".parse().unwrap();
    let (mut r, mut w) = blocking(ports["netstring"], ascii4.clone(), ascii4);
    w.write_message(hello).unwrap();
    assert!(matches!(r.read_message(), Err(Error::Closed)));
    expect_line(&mut peer, "BROKEN-PEER netstring");

    // The reply read with the wrong framing: be:2 to Int16StringReceiver, its echo read as ascii:4:
    // the header [00 05 68 65] is not ASCII digits, and the error says so.
    let err = ShortRequest::new(be2)
        .reply_framing("ascii:4".parse().unwrap())
        .timeout(DEADLINE)
        .send(ports["int16"], hello)
        .unwrap_err();
    assert!(
        matches!(err, Error::Malformed(CodecError::Header { offset: 0, .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("[00 05 68 65]"), "{err}");
}

/// Twisted's LineReceiver with CR LF ends lines at CR LF only; msgframe's `lines:crlf` ends them at
/// a bare LF too (as documented), so it refuses a body with a bare LF, and `delim:0d0a` is the exact
/// equivalent of Twisted's receiver. A CR at the end of a body passes both.
#[test]
fn twisted_crlf_lines_and_a_bare_lf() {
    if !twisted() {
        return;
    }
    let (_peer, ports) = twisted_servers();
    let crlf: Framing = "lines:crlf".parse().unwrap();
    let exact: Framing = "delim:0d0a".parse().unwrap();

    let (mut r, mut w) = blocking(ports["crlf"], crlf.clone(), crlf.clone());
    match w.write_message(b"one\ntwo") {
        Err(Error::Message(CodecError::ContainsDelimiter { offset: 3, .. })) => {}
        other => panic!("lines:crlf sending a bare LF: {other:?}"),
    }
    w.write_message(b"abc\r").unwrap(); // abc CR CR LF
    assert_eq!(&r.read_message().unwrap()[..], b"abc\r");

    let (mut r, mut w) = blocking(ports["crlf"], exact.clone(), exact.clone());
    w.write_message(b"one\ntwo").unwrap();
    assert_eq!(&r.read_message().unwrap()[..], b"one\ntwo");

    // Twisted's one line "one LF two", read with lines:crlf: two messages.
    let (mut r, mut w) = blocking(ports["crlf"], crlf, exact);
    w.write_message(b"one\ntwo").unwrap();
    assert_eq!(&r.read_message().unwrap()[..], b"one");
    assert_eq!(&r.read_message().unwrap()[..], b"two");
}

/// A Twisted client job (see twisted_peer.py).
fn job(name: &str, kind: &Kind, port: u16, max: usize, sizes: &[usize]) -> String {
    let sizes: Vec<String> = sizes.iter().map(|s| s.to_string()).collect();
    format!(
        r#"{{"name": "{name}", "kind": "{}", "port": {port}, "max": {max}, "sizes": [{}]}}"#,
        kind.name,
        sizes.join(", ")
    )
}

fn twisted_client(jobs: &[String]) -> Vec<String> {
    let jobs = format!("[{}]", jobs.join(", "));
    run_client(
        "twisted client",
        python("twisted_peer.py", ["client", &jobs]),
    )
}

/// Echoes messages until an error, which it returns with the sizes echoed.
fn echo_until_error(
    reader: &mut dyn MessageRead,
    writer: &mut dyn MessageWrite,
) -> (Vec<usize>, Error) {
    let mut sizes = Vec::new();
    loop {
        match reader.read_message() {
            Ok(message) => {
                if let Err(e) = writer.write_message(&message) {
                    return (sizes, e);
                }
                sizes.push(message.len());
            }
            Err(e) => return (sizes, e),
        }
    }
}

/// A msgframe echo server for one connection, on a thread.
fn echo_server(
    mode: Mode,
    read: Framing,
    write: Framing,
) -> (u16, thread::JoinHandle<(Vec<usize>, Error)>) {
    let (listener, port) = listen();
    let server = thread::spawn(move || {
        let (mut r, mut w) = pair(mode, accept(&listener), read, write);
        echo_until_error(&mut *r, &mut *w)
    });
    (port, server)
}

fn twisted_clients(mode: Mode) {
    if !twisted() {
        return;
    }
    let mut servers = Vec::new();
    let mut jobs = Vec::new();
    for kind in &KINDS {
        let (port, server) = echo_server(mode, kind.framing(), kind.framing());
        jobs.push(job(kind.name, kind, port, kind.largest, &kind.sizes()));
        servers.push((kind, server));
    }
    let lines = twisted_client(&jobs);
    for (kind, server) in servers {
        let mut expected: Vec<String> = kind
            .sizes()
            .iter()
            .map(|s| format!("ECHO {} {s}", kind.name))
            .collect();
        expected.push(format!("DONE {}", kind.name));
        assert_eq!(job_lines(&lines, kind.name), expected);
        let (sizes, end) = server.join().unwrap();
        assert_eq!(sizes, kind.sizes(), "{}", kind.name);
        assert!(matches!(end, Error::Closed), "{}: {end:?}", kind.name);
    }
}

#[test]
fn twisted_echo_clients_blocking() {
    twisted_clients(Mode::Blocking);
}

#[test]
fn twisted_echo_clients_nonblocking() {
    twisted_clients(Mode::NonBlocking);
}

#[test]
fn twisted_echo_clients_tokio() {
    if !twisted() {
        return;
    }
    let rt = runtime();
    let mut servers = Vec::new();
    let mut jobs = Vec::new();
    for (i, kind) in KINDS.iter().enumerate() {
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let framing = kind.framing();
        let server = rt.spawn(async move {
            let (stream, _) = tokio::time::timeout(ACCEPT_LIMIT, listener.accept())
                .await
                .expect("no connection")
                .unwrap();
            let mut sizes = Vec::new();
            if i % 2 == 0 {
                let mut framed = Framed::new(stream, Codec::new(framing));
                loop {
                    match framed_next(&mut framed).await {
                        Ok(message) => {
                            if let Err(e) = framed_send(&mut framed, &message).await {
                                return (sizes, e);
                            }
                            sizes.push(message.len());
                        }
                        Err(e) => return (sizes, e),
                    }
                }
            } else {
                let (mut r, mut w) = async_pair(stream, framing.clone(), framing);
                loop {
                    match r.read_message_timeout(DEADLINE).await {
                        Ok(message) => {
                            if let Err(e) = w.write_message_timeout(&message, DEADLINE).await {
                                return (sizes, e);
                            }
                            sizes.push(message.len());
                        }
                        Err(e) => return (sizes, e),
                    }
                }
            }
        });
        jobs.push(job(kind.name, kind, port, kind.largest, &kind.sizes()));
        servers.push((kind, server));
    }
    let lines = twisted_client(&jobs);
    for (kind, server) in servers {
        let mut expected: Vec<String> = kind
            .sizes()
            .iter()
            .map(|s| format!("ECHO {} {s}", kind.name))
            .collect();
        expected.push(format!("DONE {}", kind.name));
        assert_eq!(job_lines(&lines, kind.name), expected);
        let (sizes, end) = rt.block_on(server).unwrap();
        assert_eq!(sizes, kind.sizes(), "{}", kind.name);
        assert!(matches!(end, Error::Closed), "{}: {end:?}", kind.name);
    }
}

/// The client side of the limits: Twisted clients sending maximum + 1 to msgframe servers with
/// `max=`, Twisted clients with MAX_LENGTH receiving maximum + 1 from msgframe, and Twisted
/// refusing to send what its header cannot express.
#[test]
fn twisted_clients_refuse_what_msgframe_refuses() {
    if !twisted() {
        return;
    }
    let mut checks = Vec::new();
    let mut jobs = Vec::new();
    for kind in &KINDS {
        let (limit, over) = (kind.limit, kind.limit + 1);

        // msgframe's server reads with the maximum: it refuses maximum + 1 and closes.
        let name = format!("{}-server-max", kind.name);
        let (port, server) = echo_server(Mode::Blocking, kind.limited(), kind.framing());
        jobs.push(job(&name, kind, port, kind.largest, &[limit, over]));
        let lines = vec![format!("ECHO {name} {limit}"), format!("CLOSED {name} 1")];
        checks.push((name, lines, server, vec![limit], Some(limit)));

        // Twisted's client has MAX_LENGTH: it refuses the echo of maximum + 1 and disconnects.
        let name = format!("{}-client-max", kind.name);
        let (port, server) = echo_server(Mode::Blocking, kind.framing(), kind.framing());
        jobs.push(job(&name, kind, port, limit, &[limit, over]));
        let lines = vec![
            format!("ECHO {name} {limit}"),
            kind.refusal(&name, over),
            format!("CLOSED {name} 1"),
        ];
        checks.push((name, lines, server, vec![limit, over], None));
    }
    // Past the header, Twisted refuses to send (as msgframe does, in
    // twisted_max_length_refused_by_both_sides).
    for kind in KINDS.iter().filter(|k| k.largest < BIG) {
        let name = format!("{}-header", kind.name);
        let (port, server) = echo_server(Mode::Blocking, kind.framing(), kind.framing());
        jobs.push(job(
            &name,
            kind,
            port,
            kind.largest,
            &[kind.largest, kind.largest + 1],
        ));
        let lines = vec![
            format!("ECHO {name} {}", kind.largest),
            format!(
                "REFUSED-SEND {name} {} StringTooLongError",
                kind.largest + 1
            ),
            format!("DONE {name}"),
        ];
        checks.push((name, lines, server, vec![kind.largest], None));
    }
    let lines = twisted_client(&jobs);
    for (name, expected, server, echoed, max) in checks {
        assert_eq!(job_lines(&lines, &name), expected);
        let (sizes, end) = server.join().unwrap();
        assert_eq!(sizes, echoed, "{name}");
        match (max, &end) {
            (None, Error::Closed) => {}
            (Some(limit), Error::TooLong(CodecError::FrameTooLong { max, .. })) => {
                assert_eq!(*max, limit as u64, "{name}")
            }
            _ => panic!("{name}: the server ended with {end:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ISO 8583 (pyiso8583)

/// A legacy card-host header layout, as iso8583_host.py names it.
#[derive(Debug, Clone, Copy)]
struct Layout {
    name: &'static str,
    spec: &'static str,
    /// Whether the body starts with a 5-byte TPDU.
    tpdu: bool,
    /// The size of the largest request sent: what the header expresses, or (None) the largest
    /// message default_ascii carries here.
    largest: Option<usize>,
}

const LAYOUTS: [Layout; 5] = [
    layout("ascii4", "ascii:4", false, Some(9999)),
    layout("bcd2", "bcd:2", false, Some(9999)),
    layout("be2", "be:2", false, None),
    layout("tpdu", "be:2", true, None),
    layout("be4", "be:4", false, None),
];

const fn layout(
    name: &'static str,
    spec: &'static str,
    tpdu: bool,
    largest: Option<usize>,
) -> Layout {
    Layout {
        name,
        spec,
        tpdu,
        largest,
    }
}

const AMOUNT: &str = "000000012345";

impl Layout {
    fn framing(&self) -> Framing {
        self.spec.parse().unwrap()
    }

    /// The frame body for an ISO 8583 message: the message, after the TPDU when there is one.
    fn body(&self, iso: &[u8]) -> Vec<u8> {
        if self.tpdu {
            [&iso8583::TPDU[..], iso].concat()
        } else {
            iso.to_vec()
        }
    }

    /// The ISO 8583 message of a reply body (checking the TPDU's swapped addresses).
    fn reply(&self, body: &[u8]) -> Message {
        let iso = if self.tpdu {
            assert_eq!(body[..5], iso8583::swapped(&iso8583::TPDU), "reply TPDU");
            &body[5..]
        } else {
            body
        };
        Message::decode(iso).unwrap_or_else(|e| {
            panic!(
                "{}: reply {:?}: {e}",
                self.name,
                String::from_utf8_lossy(iso)
            )
        })
    }

    fn largest_request(&self, stan: &str) -> Message {
        match self.largest {
            Some(size) => iso8583::filled(&iso8583::request(stan, AMOUNT), size),
            None => iso8583::largest(&iso8583::request(stan, AMOUNT)),
        }
    }
}

/// Checks a host's reply to `request`: MTI 0210, the echoed fields, field 39.
fn check_reply(layout: &Layout, request: &Message, reply: &Message) {
    assert_eq!(reply.mti, "0210", "{}", layout.name);
    for n in [2, 3, 4, 11, 41] {
        assert_eq!(reply.get(n), request.get(n), "{}: field {n}", layout.name);
    }
    let approved = request.get(4) != Some(iso8583::DECLINED_AMOUNT);
    assert_eq!(
        reply.get(39),
        Some(if approved { "00" } else { "51" }),
        "{}",
        layout.name
    );
    assert_eq!(*reply, iso8583::answer(request), "{}", layout.name);
}

fn iso_exchange(
    r: &mut dyn MessageRead,
    w: &mut dyn MessageWrite,
    layout: &Layout,
    request: &Message,
) {
    w.write_message(&layout.body(&request.encode()))
        .unwrap_or_else(|e| panic!("{}: sending: {e}", layout.name));
    let reply = r
        .read_message()
        .unwrap_or_else(|e| panic!("{}: reading the reply: {e}", layout.name));
    check_reply(layout, request, &layout.reply(&reply));
}

fn keepalive(r: &mut dyn MessageRead, w: &mut dyn MessageWrite, layout: &Layout) {
    w.write_message(b"").unwrap();
    let reply = r.read_message().unwrap();
    assert!(
        reply.is_empty(),
        "{}: keepalive answered with {reply:?}",
        layout.name
    );
}

fn iso_host() -> (Peer, HashMap<String, SocketAddr>) {
    start_listening("pyiso8583 host", python("iso8583_host.py", ["serve"]))
}

/// pyiso8583's encoding of the sample request (filled to `target` bytes), in hex.
fn pyiso8583_encoding(target: Option<usize>) -> String {
    let mut command = python("iso8583_host.py", ["encode"]);
    command.args(target.map(|t| t.to_string()));
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The test's own ISO 8583 bytes are pyiso8583's, byte for byte (a golden copy, and the live
/// encoder when installed).
#[test]
fn iso8583_requests_are_pyiso8583_bytes() {
    let sample = iso8583::request("000042", AMOUNT);
    assert_eq!(
        sample.encode(),
        b"02007020000000800000164761739001010010000000000000012345000042TERM0001"
    );
    assert_eq!(Message::decode(&sample.encode()).unwrap(), sample);
    let big = iso8583::largest(&sample);
    assert_eq!(big.encode().len(), 34154);
    assert_eq!(Message::decode(&big.encode()).unwrap(), big);
    if !pyiso8583() {
        return;
    }
    assert_eq!(hex(&sample.encode()), pyiso8583_encoding(None));
    assert_eq!(
        hex(&iso8583::filled(&sample, 9999).encode()),
        pyiso8583_encoding(Some(9999))
    );
}

fn iso8583_host_sync(mode: Mode) {
    if !pyiso8583() {
        return;
    }
    let (mut host, ports) = iso_host();
    for layout in &LAYOUTS {
        let (mut r, mut w) = pair(
            mode,
            connect(ports[layout.name]),
            layout.framing(),
            layout.framing(),
        );
        keepalive(&mut *r, &mut *w, layout);
        expect_line(&mut host, &format!("KEEPALIVE {}", layout.name));
        iso_exchange(
            &mut *r,
            &mut *w,
            layout,
            &iso8583::request("000201", AMOUNT),
        );
        iso_exchange(
            &mut *r,
            &mut *w,
            layout,
            &iso8583::request("000202", iso8583::DECLINED_AMOUNT),
        );
        let largest = layout.largest_request("000203");
        iso_exchange(&mut *r, &mut *w, layout, &largest);
        let body_len = largest.encode().len();
        expect_line(
            &mut host,
            &format!("REQUEST {} 0200 000203 {body_len}", layout.name),
        );

        if let Some(size) = layout.largest {
            // One byte more than the header expresses: msgframe refuses it, and sends nothing.
            let over = iso8583::filled(&iso8583::request("000204", AMOUNT), size + 1);
            match w.write_message(&over.encode()) {
                Err(Error::TooLong(CodecError::MessageTooLong { length, max })) => {
                    assert_eq!((length, max), (size + 1, size))
                }
                other => panic!("{}: sending {} bytes: {other:?}", layout.name, size + 1),
            }
            iso_exchange(
                &mut *r,
                &mut *w,
                layout,
                &iso8583::request("000205", AMOUNT),
            );
        }

        // Framed right but not ISO 8583: one byte, and behind binary headers the largest frame
        // the header allows (65535 bytes; 1 MiB behind be:4), which no default_ascii message
        // reaches. The host reads each whole, pyiso8583 cannot decode it, and the host hangs up.
        let mut junk = vec![layout.body(b"X")];
        if layout.largest.is_none() {
            let mut big = layout.body(b"0200");
            big.resize(
                if layout.spec == "be:2" {
                    65535
                } else {
                    1 << 20
                },
                b'F',
            );
            junk.push(big);
        }
        for body in junk {
            w.write_message(&body).unwrap();
            match r.read_message() {
                Err(Error::Closed) => {}
                other => panic!(
                    "{}: after {} bytes that are not ISO 8583: {other:?}",
                    layout.name,
                    body.len()
                ),
            }
            expect_line_starting(&mut host, &format!("DECODE-ERROR {} ", layout.name));
            (r, w) = pair(
                mode,
                connect(ports[layout.name]),
                layout.framing(),
                layout.framing(),
            );
        }
    }
}

#[test]
fn iso8583_host_blocking() {
    iso8583_host_sync(Mode::Blocking);
}

#[test]
fn iso8583_host_nonblocking() {
    iso8583_host_sync(Mode::NonBlocking);
}

#[test]
fn iso8583_host_tokio() {
    if !pyiso8583() {
        return;
    }
    let (_host, ports) = iso_host();
    runtime().block_on(async {
        for (i, layout) in LAYOUTS.iter().enumerate() {
            let stream = tokio::net::TcpStream::connect(ports[layout.name])
                .await
                .unwrap();
            let requests = [
                iso8583::request("000301", AMOUNT),
                iso8583::request("000302", iso8583::DECLINED_AMOUNT),
                layout.largest_request("000303"),
            ];
            if i % 2 == 0 {
                let mut framed = Framed::new(stream, Codec::new(layout.framing()));
                framed_send(&mut framed, b"").await.unwrap();
                assert!(
                    framed_next(&mut framed).await.unwrap().is_empty(),
                    "{}",
                    layout.name
                );
                for request in &requests {
                    framed_send(&mut framed, &layout.body(&request.encode()))
                        .await
                        .unwrap();
                    let reply = framed_next(&mut framed).await.unwrap();
                    check_reply(layout, request, &layout.reply(&reply));
                }
            } else {
                let (mut r, mut w) = async_pair(stream, layout.framing(), layout.framing());
                w.write_message_timeout(b"", DEADLINE).await.unwrap();
                assert!(r.read_message_timeout(DEADLINE).await.unwrap().is_empty());
                for request in &requests {
                    w.write_message_timeout(&layout.body(&request.encode()), DEADLINE)
                        .await
                        .unwrap();
                    let reply = r.read_message_timeout(DEADLINE).await.unwrap();
                    check_reply(layout, request, &layout.reply(&reply));
                }
            }
        }
    });
}

/// Short connections: connect, send, receive, close; blocking `ShortRequest` and tokio `request`.
#[test]
fn iso8583_host_short_connections() {
    if !pyiso8583() {
        return;
    }
    let (mut host, ports) = iso_host();
    for (stan, layout) in [("000401", &LAYOUTS[0]), ("000402", &LAYOUTS[3])] {
        let request = iso8583::request(stan, AMOUNT);
        let reply = ShortRequest::new(layout.framing())
            .connect_timeout(DEADLINE)
            .timeout(DEADLINE)
            .send(ports[layout.name], &layout.body(&request.encode()))
            .unwrap_or_else(|e| panic!("{}: {e}", layout.name));
        check_reply(layout, &request, &layout.reply(&reply));
        expect_line(
            &mut host,
            &format!("REQUEST {} 0200 {stan} 70", layout.name),
        );
    }
    let layout = &LAYOUTS[1];
    let request = iso8583::request("000403", AMOUNT);
    let options = ShortRequest::new(layout.framing()).timeout(DEADLINE);
    let reply = runtime()
        .block_on(msgframe_tokio::request(
            &options,
            ports[layout.name],
            &layout.body(&request.encode()),
        ))
        .unwrap();
    check_reply(layout, &request, &layout.reply(&reply));
    expect_line(&mut host, "REQUEST bcd2 0200 000403 70");
}

/// Zero-length keepalives: delivered as empty messages by default (the other tests), skipped with
/// `empty=skip`.
#[test]
fn iso8583_keepalives_skipped_with_empty_skip() {
    if !pyiso8583() {
        return;
    }
    let (_host, ports) = iso_host();
    let layout = &LAYOUTS[2];
    let (mut r, mut w) = blocking(
        ports["be2"],
        "be:2,empty=skip".parse().unwrap(),
        layout.framing(),
    );
    let request = iso8583::request("000501", AMOUNT);
    w.write_message(b"").unwrap();
    w.write_message(&request.encode()).unwrap();
    // The host's zero-length answer comes first and is skipped.
    check_reply(layout, &request, &layout.reply(&r.read_message().unwrap()));
    match r.decoder() {
        Framing::LengthPrefixed(f) => assert_eq!(f.keepalives_skipped(), 1),
        other => panic!("{other:?}"),
    }

    // The same with tokio.
    let layout = &LAYOUTS[0];
    runtime().block_on(async {
        let stream = tokio::net::TcpStream::connect(ports["ascii4"])
            .await
            .unwrap();
        let (mut r, mut w) = async_pair(
            stream,
            "ascii:4,empty=skip".parse().unwrap(),
            layout.framing(),
        );
        let request = iso8583::request("000502", AMOUNT);
        w.write_message_timeout(b"", DEADLINE).await.unwrap();
        w.write_message_timeout(&request.encode(), DEADLINE)
            .await
            .unwrap();
        let reply = r.read_message_timeout(DEADLINE).await.unwrap();
        check_reply(layout, &request, &layout.reply(&reply));
    });
}

/// The wrong legacy header: a clear error within the deadline, never a hang.
#[test]
fn iso8583_mismatched_header_fails_cleanly() {
    if !pyiso8583() {
        return;
    }
    let (mut host, ports) = iso_host();
    let request = iso8583::request("000601", AMOUNT).encode();

    // ASCII length to a BCD host: "0070" starts with 30 30, BCD for 3030, so the host waits for
    // 3030 bytes; msgframe's deadline ends the wait.
    let ascii4: Framing = "ascii:4".parse().unwrap();
    let (mut r, mut w) = blocking(ports["bcd2"], ascii4.clone(), ascii4);
    w.write_message(&request).unwrap();
    match r.read_message_with(Deadlines::message(EXPECTED_TIMEOUT)) {
        Err(Error::TimedOut { buffered: 0, .. }) => {}
        other => panic!("ascii:4 against the BCD host: {other:?}"),
    }

    // BCD length to an ASCII host: it reads [00 70 30 32] as its 4 digits, refuses them, hangs up.
    let bcd2: Framing = "bcd:2".parse().unwrap();
    let (mut r, mut w) = blocking(ports["ascii4"], bcd2.clone(), bcd2);
    w.write_message(&request).unwrap();
    assert!(matches!(r.read_message(), Err(Error::Closed)));
    expect_line(&mut host, "FRAMING-ERROR ascii4 00703032");
}

/// What a msgframe host saw: `("keepalive", 0)` or `(stan, body length)` per message.
type HostLog = Vec<(String, usize)>;

/// One answer of a msgframe ISO 8583 host: a keepalive for a keepalive, the 0210 for a 0200.
fn host_answer(layout: &Layout, body: &[u8], log: &mut HostLog) -> Vec<u8> {
    if body.is_empty() {
        log.push(("keepalive".into(), 0));
        return Vec::new();
    }
    let (tpdu, iso) = if layout.tpdu {
        assert_eq!(body[0], 0x60, "TPDU");
        (iso8583::swapped(&body[..5]).to_vec(), &body[5..])
    } else {
        (Vec::new(), body)
    };
    let request = Message::decode(iso).unwrap_or_else(|e| panic!("{}: {e}", layout.name));
    log.push((request.get(11).unwrap_or("-").to_owned(), body.len()));
    [tpdu, iso8583::answer(&request).encode()].concat()
}

fn terminal_expectations(layout: &Layout) -> (Vec<String>, HostLog) {
    let tpdu = if layout.tpdu { 5 } else { 0 };
    let largest = layout.largest.unwrap_or(34154);
    let lines = vec![
        format!("OK {} keepalive", layout.name),
        format!(
            "OK {} 0210 stan=000101 request=70 reply=90 auth=A00101",
            layout.name
        ),
        format!(
            "OK {} 0210 stan=000102 request={largest} reply=90 auth=A00102",
            layout.name
        ),
    ];
    let log = vec![
        ("keepalive".to_owned(), 0),
        ("000101".to_owned(), 70 + tpdu),
        ("000102".to_owned(), largest + tpdu),
    ];
    (lines, log)
}

/// pyiso8583's terminal against msgframe hosts, one per layout.
fn iso8583_terminal_sync(mode: Mode) {
    if !pyiso8583() {
        return;
    }
    let mut hosts = Vec::new();
    let mut args = vec!["client".to_owned()];
    for layout in LAYOUTS {
        let (listener, port) = listen();
        hosts.push(thread::spawn(move || {
            let (mut r, mut w) = pair(mode, accept(&listener), layout.framing(), layout.framing());
            let mut log = HostLog::new();
            loop {
                match r.read_message() {
                    Ok(body) => {
                        let reply = host_answer(&layout, &body, &mut log);
                        w.write_message(&reply).unwrap();
                    }
                    Err(e) => return (log, e),
                }
            }
        }));
        args.push(format!("{}={port}", layout.name));
    }
    let lines = run_client("pyiso8583 terminal", python("iso8583_host.py", args));
    for (layout, host) in LAYOUTS.iter().zip(hosts) {
        let (expected_lines, expected_log) = terminal_expectations(layout);
        assert_eq!(job_lines(&lines, layout.name), expected_lines);
        let (log, end) = host.join().unwrap();
        assert_eq!(log, expected_log, "{}", layout.name);
        assert!(matches!(end, Error::Closed), "{}: {end:?}", layout.name);
    }
    assert_eq!(lines.last().map(String::as_str), Some("FINISHED"));
}

#[test]
fn iso8583_terminal_to_msgframe_host_blocking() {
    iso8583_terminal_sync(Mode::Blocking);
}

#[test]
fn iso8583_terminal_to_msgframe_host_nonblocking() {
    iso8583_terminal_sync(Mode::NonBlocking);
}

#[test]
fn iso8583_terminal_to_msgframe_host_tokio() {
    if !pyiso8583() {
        return;
    }
    let rt = runtime();
    let mut hosts = Vec::new();
    let mut args = vec!["client".to_owned()];
    for (i, layout) in LAYOUTS.into_iter().enumerate() {
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        args.push(format!(
            "{}={}",
            layout.name,
            listener.local_addr().unwrap().port()
        ));
        hosts.push(rt.spawn(async move {
            let (stream, _) = tokio::time::timeout(ACCEPT_LIMIT, listener.accept())
                .await
                .expect("no connection")
                .unwrap();
            let mut log = HostLog::new();
            if i % 2 == 0 {
                let mut framed = Framed::new(stream, Codec::new(layout.framing()));
                loop {
                    match framed_next(&mut framed).await {
                        Ok(body) => {
                            let reply = host_answer(&layout, &body, &mut log);
                            framed_send(&mut framed, &reply).await.unwrap();
                        }
                        Err(e) => return (log, e),
                    }
                }
            } else {
                let (mut r, mut w) = async_pair(stream, layout.framing(), layout.framing());
                loop {
                    match r.read_message_timeout(DEADLINE).await {
                        Ok(body) => {
                            let reply = host_answer(&layout, &body, &mut log);
                            w.write_message_timeout(&reply, DEADLINE).await.unwrap();
                        }
                        Err(e) => return (log, e),
                    }
                }
            }
        }));
    }
    let lines = run_client("pyiso8583 terminal", python("iso8583_host.py", args));
    for (layout, host) in LAYOUTS.iter().zip(hosts) {
        let (expected_lines, expected_log) = terminal_expectations(layout);
        assert_eq!(job_lines(&lines, layout.name), expected_lines);
        let (log, end) = rt.block_on(host).unwrap();
        assert_eq!(log, expected_log, "{}", layout.name);
        assert!(matches!(end, Error::Closed), "{}: {end:?}", layout.name);
    }
}

// ---------------------------------------------------------------------------------------------
// SMPP (smpplib)

/// The short messages smpp_client.py submits.
fn smpp_short_messages() -> Vec<Vec<u8>> {
    vec![
        Vec::new(),
        b"x".to_vec(),
        (32u8..132).collect(),
        (0..254u32).map(|i| (i * 7 % 256) as u8).collect(),
    ]
}

/// Serves one SMPP session until the client closes.
fn smsc_session(r: &mut dyn MessageRead, w: &mut dyn MessageWrite) -> (smpp::Smsc, Error) {
    let mut smsc = smpp::Smsc::new();
    loop {
        match r.read_message() {
            Ok(frame) => {
                let pdu = smpp::Pdu::parse(&frame).unwrap();
                for out in smsc.handle(&pdu) {
                    if let Err(e) = w.write_message(&out.to_bytes()) {
                        return (smsc, e);
                    }
                }
            }
            Err(e) => return (smsc, e),
        }
    }
}

fn check_smpp(lines: &[String], smsc: &smpp::Smsc, end: &Error) {
    assert_eq!(
        lines.last().map(String::as_str),
        Some("OK message_ids=msgframe-1,msgframe-2,msgframe-3,msgframe-4 deliver_sm=1 enquire_link=2"),
        "smpplib printed:\n{}",
        lines.join("\n")
    );
    assert_eq!(
        smsc.log,
        [
            // smpplib numbers its first PDU 2, and spends 8 and 9 on the responses it sends
            // (which carry the SMSC's sequence numbers instead).
            "bind_transceiver msgframe-test/secret seq=2",
            "submit_sm 0 bytes seq=3",
            "submit_sm 1 bytes seq=4",
            "submit_sm 100 bytes seq=5",
            "submit_sm 254 bytes seq=6",
            "enquire_link seq=7",
            "sent deliver_sm and enquire_link",
            "deliver_sm_resp status=0 (awaited)",
            "enquire_link_resp status=0 (awaited)",
            "unbind seq=10",
        ]
    );
    assert_eq!(smsc.short_messages, smpp_short_messages());
    assert!(smsc.awaiting.is_empty() && smsc.unbound);
    assert!(matches!(end, Error::Closed), "{end:?}");
}

fn smpp_sync(mode: Mode) {
    if !smpplib() {
        return;
    }
    let (listener, port) = listen();
    let smsc = thread::spawn(move || {
        let framing: Framing = "be:4,counts-header".parse().unwrap();
        let (mut r, mut w) = pair(mode, accept(&listener), framing.clone(), framing);
        smsc_session(&mut *r, &mut *w)
    });
    let lines = run_client(
        "smpplib client",
        python("smpp_client.py", [port.to_string()]),
    );
    let (smsc, end) = smsc.join().unwrap();
    check_smpp(&lines, &smsc, &end);
}

#[test]
fn smpp_smsc_blocking() {
    smpp_sync(Mode::Blocking);
}

#[test]
fn smpp_smsc_nonblocking() {
    smpp_sync(Mode::NonBlocking);
}

/// With tokio's `Framed` and `strip=0`: frames keep command_length, which must equal their size.
#[test]
fn smpp_smsc_tokio() {
    if !smpplib() {
        return;
    }
    let rt = runtime();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let smsc = rt.spawn(async move {
        let (stream, _) = tokio::time::timeout(ACCEPT_LIMIT, listener.accept())
            .await
            .expect("no connection")
            .unwrap();
        let codec: Codec = "be:4,counts-header,strip=0".parse().unwrap();
        let mut framed = Framed::new(stream, codec);
        let mut smsc = smpp::Smsc::new();
        loop {
            match framed_next(&mut framed).await {
                Ok(frame) => {
                    let length = u32::from_be_bytes(frame[..4].try_into().unwrap());
                    assert_eq!(length as usize, frame.len(), "command_length");
                    let pdu = smpp::Pdu::parse(&frame[4..]).unwrap();
                    for out in smsc.handle(&pdu) {
                        framed_send(&mut framed, &out.to_bytes()).await.unwrap();
                    }
                }
                Err(e) => return (smsc, e),
            }
        }
    });
    let lines = run_client(
        "smpplib client",
        python("smpp_client.py", [port.to_string()]),
    );
    let (smsc, end) = rt.block_on(smsc).unwrap();
    check_smpp(&lines, &smsc, &end);
}
