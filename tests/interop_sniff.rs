//! `sniff` evaluated on real peers' traffic: tcpdump records the interop peers on loopback, the
//! capture is read back with `msgframe_capture`, each direction of each conversation is
//! reassembled and sniffed, and sniff's first answer is compared with the framing the peers were
//! configured with, by where frames end (the stream decoded with the true spec and with the
//! answer's first spec: the same ends, the answer is right).
//!
//! The peers, as the other interop tests use them (tests/interop_jvm_erlang.rs,
//! tests/interop_python.rs):
//!
//! - **Netty client → Erlang/OTP server** and **Erlang client → Netty server**, each framing both
//!   speak: 1, 2 and 4-byte lengths, lines, `;`-delimited, TPKT, 16-byte records. Both directions
//!   are third-party bytes.
//! - **msgframe client → Netty server** for the framings only Netty speaks here (little-endian,
//!   3 and 8-byte lengths, counted headers, adjustments, ETX and CR LF delimiters, CR LF lines):
//!   the server's direction is Netty's.
//! - **Twisted client → Erlang, Netty or Twisted server**: Int8/Int16/Int32 and little-endian
//!   string receivers, LF and CR LF lines, netstrings. Both directions third-party.
//! - **msgframe terminal → pyiso8583 host** behind each legacy header (4 ASCII digits, 2-byte BCD,
//!   2 and 4-byte binary, binary with a TPDU), keepalives included: the host's direction is its own.
//! - **smpplib client → msgframe SMSC** (`be:4,counts-header`): the client's direction is smpplib's.
//!
//! Each stream carries 20 to 200 messages of 0 to 20000 bytes, their bodies the peers' own:
//! lower-case letters in a 26-byte cycle (Netty, Erlang and msgframe's clients, as in
//! tests/interop_jvm_erlang.rs), every byte value in a 256-byte cycle or letters and digits for
//! lines (Twisted), ISO 8583 messages in pyiso8583's `default_ascii` encoding, SMPP PDUs.
//!
//! The test prints one row per stream (the peer that wrote the bytes, the direction, the true
//! spec, frames, sniff's first answer, its confidence, right or wrong), then sniff's first three
//! answers for every stream it got wrong. It asserts that every conversation was captured whole
//! (no packet dropped, no gap), that the true spec cuts each stream into exactly the frames sent,
//! that no confident answer is wrong, and that the right answer comes first on at least 90 % of
//! the streams (measured: 70 of 74, 55 of the 59 third-party ones). The table and the captures
//! are also kept in `<target>/tmp/sniff-captures/`.
//!
//! tcpdump needs root. Missing tcpdump or peers: skipped locally (one line each), a failure when
//! `CI=true`. `.ci/install-interop-jvm-erlang.sh` installs tcpdump, Netty and Erlang;
//! `.ci/install-interop-python.sh` the Python peers.

#[path = "interop/harness.rs"]
mod harness;
#[path = "interop/python/iso8583.rs"]
mod iso8583;
#[path = "interop/python/smpp.rs"]
mod smpp;
#[path = "../crates/msgframe-cli/tests/support/tcpdump.rs"]
mod tcpdump;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use harness::Peer;
use msgframe::codec::sniff::{sniff, Answer, Progressive, Sniffed};
use msgframe::io::Error;
use msgframe::{
    BlockingReader, BlockingWriter, Decoded, Decoder, Framing, MessageRead, MessageWrite,
};
use tcpdump::Tcpdump;

/// The deadline of every exchange msgframe makes: writing a message, reading one.
const DEADLINE: Duration = Duration::from_secs(5);
/// How long a peer client may run.
const CLIENT_LIMIT: Duration = Duration::from_secs(90);
/// How long a server here waits for a peer client to connect (it may still be starting).
const ACCEPT_LIMIT: Duration = Duration::from_secs(30);
const MIB: usize = 1024 * 1024;

// ------------------------------------------------------------------------------------- tcpdump

/// Whether tcpdump is installed and this process may capture (root). A skip locally, a failure
/// in CI.
fn tcpdump_available() -> bool {
    harness::available(
        "tcpdump (Debian tcpdump, run as root)",
        tcpdump::can_capture(),
        "bash .ci/install-interop-jvm-erlang.sh, or apt-get install tcpdump; capturing needs root",
    )
}

fn capture_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sniff-captures");
    std::fs::create_dir_all(&dir).expect("create the capture directory");
    dir
}

// --------------------------------------------------------------------------- streams and rows

/// Who framed the bytes msgframe sent: not independent data about sniff.
const MSGFRAME: &str = "msgframe";

/// One conversation to record: who is at each end, and the framing both ends use.
struct Conv {
    /// The client's name, as in "Netty client".
    client: &'static str,
    /// The server's name.
    server: &'static str,
    /// Whose code framed each side's bytes (the peer, or [`MSGFRAME`]).
    client_framer: &'static str,
    server_framer: &'static str,
    /// The server's port: one conversation on it per capture.
    port: u16,
    /// The framing of both directions, as a msgframe spec.
    spec: &'static str,
    /// Messages the client sends, and the server answers.
    messages: usize,
    /// Frames the server writes besides its answers: Netty's echo handler flushes an empty buffer
    /// through its encoders when the client shuts its output, and the length prepender and the
    /// delimiter encoders write that as one more, empty, frame.
    closing: usize,
}

/// Netty's server after the client's messages (see [`Conv::closing`]): one empty frame, but
/// from a pipeline without an encoder (fixed sizes).
fn netty_closing(spec: &str) -> usize {
    usize::from(!spec.starts_with("fixed"))
}

/// One direction of one conversation, sniffed.
struct Row {
    /// Whose code framed these bytes.
    framer: &'static str,
    /// Sender → receiver.
    direction: String,
    spec: &'static str,
    frames: usize,
    bytes: usize,
    sniffed: Sniffed,
    /// Where the true spec ends frames in the examined bytes.
    truth: Vec<usize>,
    /// Where the first answer's first spec ends them.
    answer: Vec<usize>,
    /// Whether they are the same.
    right: bool,
    /// When they are not: the first answer that ends frames where the true spec does.
    truth_rank: Option<usize>,
    /// What `sniff -` says of the stream as it arrives, deciding at [`LIVE_FRAMES`] frames.
    live: Live,
}

/// How many frames `sniff -` waits for by default (`--frames`).
const LIVE_FRAMES: usize = 20;

/// The verdict on a stream sniffed as it arrives ([`Progressive`]): decided early on its first
/// `examined` bytes, or at its end as a file is.
struct Live {
    /// Decided before the stream ended.
    early: bool,
    examined: usize,
    confident: bool,
    /// Whether the first answer ends frames where the true spec does, over the bytes examined.
    right: bool,
}

/// `sniff -` on `data` arriving a byte at a time (the schedule of tries is the same whatever
/// the chunks: by length), with the whole-stream verdict `whole` when it does not decide early.
fn live(spec: &str, data: &[u8], whole: &Sniffed) -> Live {
    let mut judge = Progressive::new(LIVE_FRAMES);
    let verdict =
        (1..=data.len()).find_map(|len| judge.judge(&data[..len]).map(|s| (s, len < data.len())));
    let (sniffed, early) = match &verdict {
        Some((sniffed, early)) => (sniffed, *early),
        None => (whole, false),
    };
    let examined = &data[..sniffed.examined];
    Live {
        early,
        examined: sniffed.examined,
        confident: sniffed.confident().is_some(),
        right: ends(&sniffed.answers[0].specs[0], examined) == ends(spec, examined),
    }
}

/// Where `spec` ends each frame of `stream`, from the start, as far as whole frames go.
fn ends(spec: &str, stream: &[u8]) -> Vec<usize> {
    let Ok(mut f) = spec.parse::<Framing>() else {
        return Vec::new();
    };
    let mut at = 0;
    let mut out = Vec::new();
    while at < stream.len() {
        match f.decode_slice(&stream[at..]) {
            Ok(Decoded::Frame { consumed, .. }) => {
                at += consumed;
                out.push(at);
            }
            Ok(Decoded::Skip { consumed }) if consumed > 0 => at += consumed,
            _ => break,
        }
    }
    out
}

/// Sniffs one direction and compares with the truth; panics when the true spec does not cut the
/// whole stream into exactly the messages exchanged (the stream was not read whole).
fn evaluate(
    c: &Conv,
    framer: &'static str,
    direction: String,
    frames: usize,
    data: &[u8],
    stats: &[String],
) -> Row {
    let whole = ends(c.spec, data);
    assert!(
        whole.len() == frames && whole.last().copied() == Some(data.len()),
        "{direction}: `{}` cuts {} frames over {} of the {} bytes captured, not the {frames} \
         sent; tcpdump: {stats:?}",
        c.spec,
        whole.len(),
        whole.last().copied().unwrap_or(0),
        data.len(),
    );
    let sniffed = sniff(data);
    let examined = &data[..sniffed.examined];
    let truth = ends(c.spec, examined);
    let answer = ends(&sniffed.answers[0].specs[0], examined);
    let right = answer == truth;
    let truth_rank = if right {
        Some(0)
    } else {
        sniffed
            .answers
            .iter()
            .position(|a| ends(&a.specs[0], examined) == truth)
    };
    let live = live(c.spec, data, &sniffed);
    Row {
        framer,
        direction,
        spec: c.spec,
        frames,
        bytes: data.len(),
        live,
        sniffed,
        truth,
        answer,
        right,
        truth_rank,
    }
}

/// Records the conversations `convs` while `drive` makes them, then sniffs both directions of
/// each. `name` names the capture file: `<name>.pcap` once the capture is checked, written as
/// `<name>.<process id>.pcap` until then (so that runs side by side never write one file, and a
/// capture that fails a check stays under the name in the panic message).
fn record(name: &str, convs: &[Conv], drive: impl FnOnce()) -> Vec<Row> {
    let file = capture_dir().join(format!("{name}.{}.pcap", std::process::id()));
    let ports: Vec<u16> = convs.iter().map(|c| c.port).collect();
    let tcpdump = Tcpdump::start(&file, &ports);
    drive();
    let stats = tcpdump.stop();
    let capture = msgframe_capture::read_capture(
        std::fs::File::open(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert!(
        capture.truncated.is_none(),
        "{}: {:?}",
        file.display(),
        capture.truncated
    );
    let mut rows = Vec::new();
    for c in convs {
        let found: Vec<_> = capture
            .conversations
            .iter()
            .filter(|k| k.server.port() == c.port)
            .collect();
        let [k] = found[..] else {
            panic!(
                "{}: {} conversations with {} on port {}, not one; tcpdump: {stats:?}",
                file.display(),
                found.len(),
                c.server,
                c.port
            );
        };
        let directions = [
            (
                c.client_framer,
                format!("{} → {}", c.client, c.server),
                c.messages,
                &k.to_server,
            ),
            (
                c.server_framer,
                format!("{} → {}", c.server, c.client),
                c.messages + c.closing,
                &k.to_client,
            ),
        ];
        for (framer, direction, frames, flow) in directions {
            assert!(
                flow.gaps.is_empty(),
                "{direction} in {}: the capture lacks {:?}; tcpdump: {stats:?}",
                file.display(),
                flow.gaps
            );
            rows.push(evaluate(c, framer, direction, frames, &flow.data, &stats));
        }
    }
    keep_as(&file, &capture_dir().join(format!("{name}.pcap")));
    rows
}

/// Moves `file` to `kept` in one rename (replacing an older one: the last run's is kept).
fn keep_as(file: &Path, kept: &Path) {
    std::fs::rename(file, kept)
        .unwrap_or_else(|e| panic!("{} to {}: {e}", file.display(), kept.display()));
}

// ------------------------------------------------------------------------------------ messages

/// xorshift64*: message sizes from a seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }
}

/// Messages per stream, by the stream's number.
const COUNTS: [usize; 6] = [20, 30, 50, 80, 120, 200];

fn count(i: usize) -> usize {
    COUNTS[i % COUNTS.len()]
}

/// `count` message sizes up to `max`: 0, 1 and 100 bytes (as the other interop tests send), then
/// mostly small ones, some of hundreds and thousands of bytes, a few up to 20000.
fn sizes(seed: u64, count: usize, max: usize) -> Vec<usize> {
    let mut rng = Rng::new(seed);
    let mut out: Vec<usize> = [0, 1, 100].iter().map(|&n| n.min(max)).collect();
    while out.len() < count {
        let n = match rng.next() % 20 {
            0 => rng.between(3000, 20_000),
            1..=5 => rng.between(300, 3000),
            _ => rng.between(2, 300),
        };
        out.push(if n > max { rng.between(0, max) } else { n });
    }
    out
}

fn sizes_text(sizes: &[usize]) -> String {
    sizes
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(":")
}

/// A message of `n` bytes: lower-case letters, as the Netty and Erlang peers build them.
fn body(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + ((i * 7 + n) % 26) as u8).collect()
}

// ----------------------------------------------------------------------------- Netty, Erlang

const NETTY_JARS: [&str; 5] = [
    "netty-common",
    "netty-buffer",
    "netty-transport",
    "netty-codec",
    "netty-resolver",
];

/// The classpath to run `NettyPeer` with (compiled once per version into the target directory,
/// as tests/interop_jvm_erlang.rs does), or `None` when Netty or a JDK is missing.
fn netty() -> Option<&'static str> {
    static CLASSPATH: OnceLock<Option<String>> = OnceLock::new();
    let classpath = CLASSPATH.get_or_init(|| {
        let dir = std::env::var_os("NETTY_JAR_DIR")
            .map_or_else(|| PathBuf::from("/usr/share/java"), PathBuf::from);
        let jars: Vec<PathBuf> = NETTY_JARS
            .iter()
            .map(|j| dir.join(format!("{j}.jar")))
            .collect();
        if !jars.iter().all(|j| j.is_file()) || !harness::runs("javac", &["-version"]) {
            return None;
        }
        let jars = jars
            .iter()
            .map(|j| j.display().to_string())
            .collect::<Vec<_>>()
            .join(":");
        let source =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/netty/NettyPeer.java");
        let out = harness::compiled_java("netty-peer", &source, &jars);
        Some(format!("{}:{jars}", out.display()))
    });
    let present = classpath.is_some();
    if harness::available(
        "Netty (libnetty-java, JDK)",
        present,
        "bash .ci/install-interop-jvm-erlang.sh, or apt-get install libnetty-java and a JDK",
    ) {
        classpath.as_deref()
    } else {
        None
    }
}

fn netty_command(classpath: &str, mode: &str, args: &[String]) -> Command {
    let mut c = Command::new("java");
    c.args([
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-cp",
        classpath,
        "NettyPeer",
        mode,
    ])
    .args(args);
    c
}

fn erlang() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    let present = *PRESENT.get_or_init(|| {
        erlang_command("version", &[])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    harness::available(
        "Erlang/OTP (erlang-base, escript)",
        present,
        "bash .ci/install-interop-jvm-erlang.sh, or apt-get install erlang-base",
    )
}

fn erlang_command(mode: &str, args: &[String]) -> Command {
    let mut c = Command::new("escript");
    c.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/erlang/peer.escript"))
        .arg(mode)
        .args(args);
    c
}

/// The named ports a peer server prints after its `PORT` line (`LISTEN <name> <port>`), up to
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
        let words: Vec<&str> = line.split_whitespace().collect();
        let port: u16 = words[2]
            .parse()
            .unwrap_or_else(|_| panic!("{} printed {line:?}", peer.name()));
        ports.insert(
            words[1].to_owned(),
            SocketAddr::from(([127, 0, 0, 1], port)),
        );
    }
}

fn start_server(name: &str, command: Command) -> (Peer, HashMap<String, SocketAddr>) {
    let mut peer = Peer::start_server(name, command);
    let ports = listening(&mut peer);
    (peer, ports)
}

/// Runs a Netty or Erlang client to its end; panics unless every job printed `OK <job>`.
fn run_job_client(name: &str, command: Command, jobs: usize) {
    let mut peer = Peer::spawn(name, command);
    let deadline = Instant::now() + CLIENT_LIMIT;
    let mut results = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(line) = peer.next_line_matching(left, |_| true) else {
            panic!("{name} did not finish within {CLIENT_LIMIT:?}; it printed {results:?}");
        };
        if line == "DONE" {
            break;
        }
        results.push(line);
    }
    assert!(
        results.len() == jobs && results.iter().all(|l| l.starts_with("OK ")),
        "{name}: {results:?}"
    );
    assert_eq!(
        peer.wait(Duration::from_secs(10)),
        Some(true),
        "{name} did not exit cleanly"
    );
}

/// Netty pipelines and Erlang configurations that frame alike: name, Netty pipeline, Erlang
/// configuration, the spec for the same bytes, the largest message.
const PAIRS: &[(&str, &str, &str, &str, usize)] = &[
    ("be1", "lf,len=1", "packet=1", "be:1", 255),
    ("be2", "lf,len=2", "packet=2", "be:2", 65535),
    ("be4", "lf,len=4", "packet=4", "be:4", MIB),
    (
        "lines",
        "line",
        "packet=line,size=1048577,buffer=1048577",
        "lines",
        MIB,
    ),
    (
        "semicolon",
        "delim,hex=3b",
        "packet=line,delim=59,size=1048577,buffer=1048577",
        "delim:3b",
        MIB,
    ),
    // TPKT: 03 00 and a 2-byte length counting the header; Netty's prepender writes the four
    // bytes as one field (see NettyPeer.java), Erlang's {packet, tpkt} echoes packets whole.
    (
        "tpkt",
        "lf,offset=2,len=2,adj=-4,plen=4,padj=50331648,incl",
        "packet=tpkt",
        "be:2,before=0300,counts-header",
        65531,
    ),
    // Every message is 16 bytes (and, built from its size, the same 16 bytes).
    ("fixed16", "fixed,len=16", "fixed=16", "fixed:16", 16),
];

/// Netty pipelines for msgframe clients and Twisted clients: name, pipeline, spec, largest.
const NETTY_ONLY: &[(&str, &str, &str, usize)] = &[
    ("le2", "lf,len=2,order=le", "le:2", 65535),
    ("le4", "lf,len=4,order=le", "le:4", MIB),
    ("be3", "lf,len=3", "be:3", MIB),
    ("be8", "lf,len=8", "be:8", MIB),
    (
        "be4-counts-header",
        "lf,len=4,adj=-4,incl",
        "be:4,counts-header",
        MIB,
    ),
    (
        "be2-adjust",
        "lf,len=2,adj=-2,incl",
        "be:2,adjust=-2",
        65533,
    ),
    ("etx", "delim,hex=03", "delim:03", MIB),
    ("crlf-delim", "delim,hex=0d0a", "delim:0d0a", MIB),
    ("lines-crlf", "line,eol=crlf", "lines:crlf", MIB),
];

/// Netty client → Erlang server and Erlang client → Netty server, for every pair.
fn netty_and_erlang(
    cp: &str,
    netty: &HashMap<String, SocketAddr>,
    erlang: &HashMap<String, SocketAddr>,
) -> Vec<Row> {
    let mut convs = Vec::new();
    let (mut netty_jobs, mut erlang_jobs) = (Vec::new(), Vec::new());
    for (i, &(name, pipeline, config, spec, max)) in PAIRS.iter().enumerate() {
        let sized = |seed: u64, n: usize| {
            if spec.starts_with("fixed") {
                vec![16; n]
            } else {
                sizes(seed, n, max)
            }
        };
        let n = count(i);
        let port = erlang[name].port();
        netty_jobs.push(format!(
            "{name}/{pipeline}/{port}/{}",
            sizes_text(&sized(i as u64, n))
        ));
        convs.push(Conv {
            client: "Netty client",
            server: "Erlang server",
            client_framer: "Netty",
            server_framer: "Erlang",
            port,
            spec,
            messages: n,
            closing: 0,
        });
        let n = count(i + 3);
        let port = netty[name].port();
        erlang_jobs.push(format!(
            "{name}/{config}/{port}/{}",
            sizes_text(&sized(100 + i as u64, n))
        ));
        convs.push(Conv {
            client: "Erlang client",
            server: "Netty server",
            client_framer: "Erlang",
            server_framer: "Netty",
            port,
            spec,
            messages: n,
            closing: netty_closing(spec),
        });
    }
    record("netty-erlang", &convs, || {
        run_job_client(
            "Netty client",
            netty_command(cp, "client", &netty_jobs),
            netty_jobs.len(),
        );
        run_job_client(
            "Erlang client",
            erlang_command("client", &erlang_jobs),
            erlang_jobs.len(),
        );
    })
}

/// msgframe's blocking client: sends each body, checks its echo.
fn msgframe_echoes(addr: SocketAddr, spec: &str, bodies: &[Vec<u8>]) {
    let framing: Framing = spec.parse().unwrap();
    let stream = TcpStream::connect_timeout(&addr, DEADLINE).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut reader =
        BlockingReader::new(stream.try_clone().unwrap(), framing.clone()).with_timeout(DEADLINE);
    let mut writer = BlockingWriter::new(stream, framing).with_timeout(DEADLINE);
    for (i, b) in bodies.iter().enumerate() {
        writer
            .write_message(b)
            .unwrap_or_else(|e| panic!("`{spec}` to {addr}: message #{i}: {e}"));
        let echo = reader
            .read_message()
            .unwrap_or_else(|e| panic!("`{spec}` from {addr}: echo #{i}: {e}"));
        assert!(echo[..] == b[..], "`{spec}`: echo #{i} differs");
    }
}

/// msgframe client → Netty server, for the pipelines only Netty has here.
fn msgframe_and_netty(netty: &HashMap<String, SocketAddr>) -> Vec<Row> {
    let mut convs = Vec::new();
    let mut runs = Vec::new();
    for (i, &(name, _, spec, max)) in NETTY_ONLY.iter().enumerate() {
        let n = count(i + 1);
        let addr = netty[name];
        runs.push((addr, spec, sizes(200 + i as u64, n, max)));
        convs.push(Conv {
            client: "msgframe client",
            server: "Netty server",
            client_framer: MSGFRAME,
            server_framer: "Netty",
            port: addr.port(),
            spec,
            messages: n,
            closing: netty_closing(spec),
        });
    }
    record("msgframe-netty", &convs, || {
        for (addr, spec, sizes) in &runs {
            let bodies: Vec<Vec<u8>> = sizes.iter().map(|&n| body(n)).collect();
            msgframe_echoes(*addr, spec, &bodies);
        }
    })
}

// ------------------------------------------------------------------------------------- Python

fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

const PYTHON_INSTALL: &str = "bash .ci/install-interop-python.sh";

fn python_peer(name: &str, module: &str) -> bool {
    static PRESENT: OnceLock<std::sync::Mutex<HashMap<String, bool>>> = OnceLock::new();
    let present = *PRESENT
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(module.to_owned())
        .or_insert_with(|| python_has(module));
    harness::available(name, present, PYTHON_INSTALL)
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

/// Runs a client peer to its end and returns everything it printed; panics unless it exits 0
/// within [`CLIENT_LIMIT`].
fn run_client(name: &str, command: Command) -> Vec<String> {
    let mut peer = Peer::spawn(name, command);
    let status = peer.wait(CLIENT_LIMIT);
    let output = std::mem::replace(&mut peer.lines, mpsc::channel().1);
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

/// Where a Twisted client job connects.
#[derive(Clone, Copy)]
enum Target {
    Erlang(&'static str),
    Netty(&'static str),
    Twisted,
}

/// Twisted receivers (kinds of twisted_peer.py), the server each talks to, the spec, the largest
/// message.
const TWISTED_JOBS: &[(&str, Target, &str, usize)] = &[
    ("int8", Target::Erlang("be1"), "be:1", 255),
    ("int16", Target::Erlang("be2"), "be:2", 65535),
    ("int32", Target::Erlang("be4"), "be:4", MIB),
    ("lf", Target::Erlang("lines"), "lines", MIB),
    ("le16", Target::Netty("le2"), "le:2", 65535),
    ("le32", Target::Netty("le4"), "le:4", MIB),
    ("crlf", Target::Netty("lines-crlf"), "lines:crlf", MIB),
    ("netstring", Target::Twisted, "netstring", MIB),
];

/// Twisted clients → Erlang, Netty and Twisted servers.
fn twisted(netty: &HashMap<String, SocketAddr>, erlang: &HashMap<String, SocketAddr>) -> Vec<Row> {
    let (_server, twisted) = start_server(
        "Twisted server",
        python("twisted_peer.py", ["serve", "netstring=netstring:1048576"]),
    );
    let mut convs = Vec::new();
    let mut jobs = Vec::new();
    for (i, &(kind, target, spec, max)) in TWISTED_JOBS.iter().enumerate() {
        let (addr, server) = match target {
            Target::Erlang(name) => (erlang[name], "Erlang server"),
            Target::Netty(name) => (netty[name], "Netty server"),
            Target::Twisted => (twisted["netstring"], "Twisted server"),
        };
        let n = count(i + 2);
        jobs.push(format!(
            r#"{{"name": "{kind}", "kind": "{kind}", "port": {}, "max": {MIB}, "sizes": [{}]}}"#,
            addr.port(),
            sizes(300 + i as u64, n, max)
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
        convs.push(Conv {
            client: "Twisted client",
            server,
            client_framer: "Twisted",
            server_framer: server.trim_end_matches(" server"),
            port: addr.port(),
            spec,
            messages: n,
            closing: if server == "Netty server" {
                netty_closing(spec)
            } else {
                0
            },
        });
    }
    record("twisted", &convs, || {
        let lines = run_client(
            "Twisted client",
            python(
                "twisted_peer.py",
                ["client", &format!("[{}]", jobs.join(", "))],
            ),
        );
        for (&(kind, ..), c) in TWISTED_JOBS.iter().zip(&convs) {
            let mine: Vec<&String> = lines
                .iter()
                .filter(|l| l.split_whitespace().nth(1) == Some(kind))
                .collect();
            let echoes = mine.iter().filter(|l| l.starts_with("ECHO ")).count();
            assert!(
                echoes == c.messages && mine.last().is_some_and(|l| l.starts_with("DONE ")),
                "Twisted client {kind}: {echoes} echoes of {}; {:?}",
                c.messages,
                mine.iter()
                    .filter(|l| !l.starts_with("ECHO "))
                    .collect::<Vec<_>>()
            );
        }
    })
}

/// pyiso8583 host layouts (iso8583_host.py), their spec, whether a TPDU leads the body.
const ISO_LAYOUTS: &[(&str, &str, bool)] = &[
    ("ascii4", "ascii:4", false),
    ("bcd2", "bcd:2", false),
    ("be2", "be:2", false),
    ("tpdu", "be:2", true),
    ("be4", "be:4", false),
];

/// The `k`th request of a terminal: a 0200 purchase, some declined, one in four filled out with
/// LLLVAR fields to a few hundred or thousand bytes.
fn iso_request(k: usize, rng: &mut Rng) -> iso8583::Message {
    let stan = format!("{:06}", 300 + k);
    let amount = if k % 7 == 3 {
        iso8583::DECLINED_AMOUNT.to_owned()
    } else {
        format!("{:012}", 100 + k * 1237 % 99_999)
    };
    let request = iso8583::request(&stan, &amount);
    if k % 4 == 1 {
        iso8583::filled(&request, rng.between(120, 3000))
    } else {
        request
    }
}

/// A msgframe terminal → the pyiso8583 host, for every layout: requests, and every tenth message
/// a keepalive (an empty frame, answered with one).
fn pyiso8583() -> Vec<Row> {
    let (_host, ports) = start_server("pyiso8583 host", python("iso8583_host.py", ["serve"]));
    let mut convs = Vec::new();
    for (i, &(layout, spec, _)) in ISO_LAYOUTS.iter().enumerate() {
        convs.push(Conv {
            client: "msgframe terminal",
            server: "pyiso8583 host",
            client_framer: MSGFRAME,
            server_framer: "pyiso8583 host",
            port: ports[layout].port(),
            spec,
            messages: count(i + 1),
            closing: 0,
        });
    }
    record("pyiso8583", &convs, || {
        for (i, (&(layout, spec, tpdu), c)) in ISO_LAYOUTS.iter().zip(&convs).enumerate() {
            let framing: Framing = spec.parse().unwrap();
            let stream = TcpStream::connect_timeout(&ports[layout], DEADLINE).unwrap();
            stream.set_nodelay(true).unwrap();
            let mut r = BlockingReader::new(stream.try_clone().unwrap(), framing.clone())
                .with_timeout(DEADLINE);
            let mut w = BlockingWriter::new(stream, framing).with_timeout(DEADLINE);
            let mut rng = Rng::new(400 + i as u64);
            for k in 0..c.messages {
                if k % 10 == 9 {
                    w.write_message(b"").unwrap();
                    let reply = r.read_message().unwrap();
                    assert!(reply.is_empty(), "{layout}: keepalive answered {reply:?}");
                    continue;
                }
                let request = iso_request(k, &mut rng);
                let iso = request.encode();
                let body = if tpdu {
                    [&iso8583::TPDU[..], &iso].concat()
                } else {
                    iso
                };
                w.write_message(&body)
                    .unwrap_or_else(|e| panic!("{layout}: request #{k}: {e}"));
                let reply = r
                    .read_message()
                    .unwrap_or_else(|e| panic!("{layout}: reply #{k}: {e}"));
                let iso = if tpdu {
                    assert_eq!(reply[..5], iso8583::swapped(&iso8583::TPDU), "{layout}");
                    &reply[5..]
                } else {
                    &reply[..]
                };
                let decoded = iso8583::Message::decode(iso)
                    .unwrap_or_else(|e| panic!("{layout}: reply #{k}: {e}"));
                assert_eq!(decoded, iso8583::answer(&request), "{layout}: reply #{k}");
            }
        }
    })
}

/// Rounds of smpplib's four short messages: 4 × 8 submit_sm, and bind, enquire_link, two
/// responses and unbind (37 PDUs each way).
const SMPP_ROUNDS: usize = 8;

/// smpplib client → a msgframe SMSC.
fn smpplib() -> Vec<Row> {
    // Held until the capture is read, so that no other process may listen on the port while
    // tcpdump records it.
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let listener = held.try_clone().unwrap();
    let port = listener.local_addr().unwrap().port();
    let convs = [Conv {
        client: "smpplib client",
        server: "msgframe SMSC",
        client_framer: "smpplib",
        server_framer: MSGFRAME,
        port,
        spec: "be:4,counts-header",
        messages: 4 * SMPP_ROUNDS + 5,
        closing: 0,
    }];
    record("smpplib", &convs, || {
        let smsc = thread::spawn(move || {
            listener.set_nonblocking(true).unwrap();
            let start = Instant::now();
            let stream = loop {
                match listener.accept() {
                    Ok((stream, _)) => break stream,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        assert!(start.elapsed() < ACCEPT_LIMIT, "no SMPP client");
                        thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            };
            stream.set_nonblocking(false).unwrap();
            stream.set_nodelay(true).unwrap();
            let framing: Framing = "be:4,counts-header".parse().unwrap();
            let mut r = BlockingReader::new(stream.try_clone().unwrap(), framing.clone())
                .with_timeout(DEADLINE);
            let mut w = BlockingWriter::new(stream, framing).with_timeout(DEADLINE);
            let mut smsc = smpp::Smsc::new();
            loop {
                match r.read_message() {
                    Ok(frame) => {
                        let pdu = smpp::Pdu::parse(&frame).unwrap();
                        for out in smsc.handle(&pdu) {
                            w.write_message(&out.to_bytes()).unwrap();
                        }
                    }
                    Err(Error::Closed) => return smsc,
                    Err(e) => panic!("SMSC: {e}; so far {:?}", smsc.log),
                }
            }
        });
        let lines = run_client(
            "smpplib client",
            python(
                "smpp_client.py",
                [port.to_string(), SMPP_ROUNDS.to_string()],
            ),
        );
        let smsc = smsc.join().expect("the SMSC thread");
        assert!(
            lines.last().is_some_and(|l| l.starts_with("OK ")),
            "smpplib printed:\n{}",
            lines.join("\n")
        );
        assert_eq!(smsc.short_messages.len(), 4 * SMPP_ROUNDS);
        assert!(smsc.unbound && smsc.awaiting.is_empty(), "{:?}", smsc.log);
    })
}

// -------------------------------------------------------------------------------------- table

fn answer_line(a: &Answer) -> String {
    let more = if a.specs.len() > 1 {
        format!(" (+{} alike)", a.specs.len() - 1)
    } else {
        String::new()
    };
    format!("{}{more}", a.specs[0])
}

fn first_ends(ends: &[usize]) -> String {
    let shown: Vec<String> = ends.iter().take(8).map(usize::to_string).collect();
    let more = if ends.len() > 8 { ", ..." } else { "" };
    format!("[{}{more}] ({} frames)", shown.join(", "), ends.len())
}

fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>3}  {:<15} {:<36} {:<31} {:>6} {:>7}  {:<40} {:>6}  {:<24} live at {LIVE_FRAMES} frames",
        "#", "peer", "direction", "true spec", "frames", "bytes", "sniff's first answer", "conf", "verdict"
    );
    for (i, r) in rows.iter().enumerate() {
        let top = &r.sniffed.answers[0];
        let peer = if r.framer == MSGFRAME {
            "(msgframe)"
        } else {
            r.framer
        };
        let examined = if r.sniffed.examined < r.bytes {
            "*"
        } else {
            ""
        };
        let verdict = match (r.right, r.sniffed.confident().is_some()) {
            (true, true) => "right",
            (true, false) => "right (not confident)",
            (false, true) => "WRONG, confident  <<<",
            (false, false) => "WRONG  <<<",
        };
        let live = match (r.live.right, r.live.confident) {
            (true, true) => "right",
            (true, false) => "right (not confident)",
            (false, true) => "WRONG, confident  <<<",
            (false, false) => "WRONG  <<<",
        };
        let when = if r.live.early {
            format!("after {} bytes", r.live.examined)
        } else {
            "at the end".to_owned()
        };
        let _ = writeln!(
            out,
            "{:>3}  {peer:<15} {:<36} {:<31} {:>6} {:>7}{examined:1} {:<40} {:>6.3}  {verdict:<24} {live}, {when}",
            i + 1,
            r.direction,
            r.spec,
            r.frames,
            r.bytes,
            answer_line(top),
            top.confidence,
        );
    }
    let _ = writeln!(
        out,
        "peer: whose code framed the stream; (msgframe): msgframe's own encoding, not independent \
         data. conf: the first answer's confidence; confident means at least 0.95. *: sniff \
         examined the first {} bytes.",
        msgframe::codec::sniff::SNIFF_LIMIT
    );
    let tally = |independent: bool| {
        let chosen: Vec<&Row> = rows
            .iter()
            .filter(|r| !independent || r.framer != MSGFRAME)
            .collect();
        let right = chosen.iter().filter(|r| r.right).count();
        let confident = chosen
            .iter()
            .filter(|r| r.sniffed.confident().is_some())
            .count();
        let confident_right = chosen
            .iter()
            .filter(|r| r.right && r.sniffed.confident().is_some())
            .count();
        format!(
            "right first {right} of {}; confident {confident} (of which right {confident_right}, \
             wrong {})",
            chosen.len(),
            confident - confident_right
        )
    };
    let _ = writeln!(out, "third-party streams: {}", tally(true));
    let _ = writeln!(out, "all streams:         {}", tally(false));
    let live_tally = |independent: bool| {
        let chosen: Vec<&Live> = rows
            .iter()
            .filter(|r| !independent || r.framer != MSGFRAME)
            .map(|r| &r.live)
            .collect();
        let count = |f: &dyn Fn(&Live) -> bool| chosen.iter().filter(|l| f(l)).count();
        format!(
            "decided early {} of {}; right first {}; confident {} (of which wrong {})",
            count(&|l| l.early),
            chosen.len(),
            count(&|l| l.right),
            count(&|l| l.confident),
            count(&|l| l.confident && !l.right),
        )
    };
    let _ = writeln!(
        out,
        "live at {LIVE_FRAMES} frames, third-party: {}",
        live_tally(true)
    );
    let _ = writeln!(
        out,
        "live at {LIVE_FRAMES} frames, all:         {}",
        live_tally(false)
    );
    for (i, r) in rows.iter().enumerate().filter(|(_, r)| !r.right) {
        let _ = writeln!(
            out,
            "\nWRONG #{}: {} ({}), true `{}`, {} frames, {} bytes ({} examined)",
            i + 1,
            r.direction,
            r.framer,
            r.spec,
            r.frames,
            r.bytes,
            r.sniffed.examined
        );
        let _ = writeln!(out, "  true ends:   {}", first_ends(&r.truth));
        let _ = writeln!(out, "  answer ends: {}", first_ends(&r.answer));
        match r.truth_rank {
            Some(rank) => {
                let a = &r.sniffed.answers[rank];
                let _ = writeln!(
                    out,
                    "  the true framing is answer {} of {}: {:.1} bits, confidence {:.3}",
                    rank + 1,
                    r.sniffed.answers.len(),
                    a.bits,
                    a.confidence
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "  the true framing is not among the {} answers",
                    r.sniffed.answers.len()
                );
            }
        }
        for (k, a) in r.sniffed.answers.iter().take(3).enumerate() {
            let specs: Vec<&str> = a.specs.iter().take(4).map(String::as_str).collect();
            let more = if a.specs.len() > 4 {
                format!(" and {} more", a.specs.len() - 4)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "  {}. {}{more}: {} frames over {} bytes, {:.1} bits, confidence {:.3}",
                k + 1,
                specs.join(" | "),
                a.frames,
                a.explained,
                a.bits,
                a.confidence
            );
            for e in &a.evidence {
                let _ = writeln!(out, "       - {e}");
            }
            if let Some(u) = &a.undecided {
                let _ = writeln!(out, "       undecided: {u}");
            }
        }
    }
    out
}

// --------------------------------------------------------------------------------------- test

#[test]
fn sniff_on_captures_of_the_interop_peers() {
    if !tcpdump_available() {
        return;
    }
    let mut rows = Vec::new();
    let cp = netty();
    let erl = erlang();
    let netty_server = cp.map(|cp| {
        let configs: Vec<String> = PAIRS
            .iter()
            .map(|p| format!("{}/{}", p.0, p.1))
            .chain(NETTY_ONLY.iter().map(|p| format!("{}/{}", p.0, p.1)))
            .collect();
        start_server("Netty server", netty_command(cp, "server", &configs))
    });
    let erlang_server = erl.then(|| {
        let configs: Vec<String> = PAIRS.iter().map(|p| format!("{}/{}", p.0, p.2)).collect();
        start_server("Erlang server", erlang_command("server", &configs))
    });
    if let (Some(cp), Some((_, netty)), Some((_, erlang))) = (cp, &netty_server, &erlang_server) {
        rows.extend(netty_and_erlang(cp, netty, erlang));
    }
    if let Some((_, netty)) = &netty_server {
        rows.extend(msgframe_and_netty(netty));
    }
    if python_peer("Twisted (PyPI twisted)", "twisted") {
        if let (Some((_, netty)), Some((_, erlang))) = (&netty_server, &erlang_server) {
            rows.extend(twisted(netty, erlang));
        }
    }
    if python_peer("pyiso8583 (PyPI pyiso8583)", "iso8583") {
        rows.extend(pyiso8583());
    }
    if python_peer("smpplib (PyPI smpplib)", "smpplib") {
        rows.extend(smpplib());
    }
    drop((netty_server, erlang_server));
    if rows.is_empty() {
        println!("no interop peer available: nothing captured");
        return;
    }
    let text = table(&rows);
    println!("\n{text}");
    let table_file = capture_dir().join(format!("table.{}.txt", std::process::id()));
    std::fs::write(&table_file, &text).expect("write the table");
    keep_as(&table_file, &capture_dir().join("table.txt"));
    println!("(table and captures in {})", capture_dir().display());
    // What sniff promises on these independent streams: no confident answer is wrong, and the
    // right one comes first on at least nine in ten (the misses measured: streams of repeated
    // bytes cut in fixed sizes, which carry no evidence and are called not confident).
    let confidently_wrong: Vec<String> = rows
        .iter()
        .filter(|r| !r.right && r.sniffed.confident().is_some())
        .map(|r| format!("{} ({})", r.direction, r.spec))
        .collect();
    assert!(
        confidently_wrong.is_empty(),
        "confident and wrong: {confidently_wrong:?}"
    );
    let right = rows.iter().filter(|r| r.right).count();
    assert!(
        10 * right >= 9 * rows.len(),
        "right first on {right} of {} streams",
        rows.len()
    );
    // The same promise for `sniff -`, deciding as soon as a framing is confident over 20 frames.
    let live_confidently_wrong: Vec<String> = rows
        .iter()
        .filter(|r| !r.live.right && r.live.confident)
        .map(|r| {
            format!(
                "{} ({}) after {} bytes",
                r.direction, r.spec, r.live.examined
            )
        })
        .collect();
    assert!(
        live_confidently_wrong.is_empty(),
        "confident and wrong as it arrives: {live_confidently_wrong:?}"
    );
    let live_right = rows.iter().filter(|r| r.live.right).count();
    assert!(
        10 * live_right >= 9 * rows.len(),
        "right first as it arrives on {live_right} of {} streams",
        rows.len()
    );
}

/// Connections a short-connection terminal makes to the pyiso8583 host, per layout.
const SHORT_CONNECTIONS: usize = 30;

/// `sniff --port P` on a host of short connections (`sniff_joined`): a msgframe terminal makes
/// a connection per request to the pyiso8583 host, for every layout; tcpdump records them; each
/// direction of the conversations on each port, joined, must be sniffed right and confidently
/// (the host's replies are pyiso8583's own bytes). One conversation alone is too short to judge.
#[test]
fn joined_sniff_on_short_connections_to_the_pyiso8583_host() {
    if !tcpdump_available() || !python_peer("pyiso8583 (PyPI pyiso8583)", "iso8583") {
        return;
    }
    let (_host, ports) = start_server("pyiso8583 host", python("iso8583_host.py", ["serve"]));
    let file = capture_dir().join(format!("pyiso8583-short.{}.pcap", std::process::id()));
    let watched: Vec<u16> = ISO_LAYOUTS.iter().map(|l| ports[l.0].port()).collect();
    let tcpdump = Tcpdump::start(&file, &watched);
    for (i, &(layout, spec, tpdu)) in ISO_LAYOUTS.iter().enumerate() {
        let framing: Framing = spec.parse().unwrap();
        let mut rng = Rng::new(700 + i as u64);
        for k in 0..SHORT_CONNECTIONS {
            let stream = TcpStream::connect_timeout(&ports[layout], DEADLINE).unwrap();
            let mut r = BlockingReader::new(stream.try_clone().unwrap(), framing.clone())
                .with_timeout(DEADLINE);
            let mut w = BlockingWriter::new(stream, framing.clone()).with_timeout(DEADLINE);
            let iso = iso_request(k, &mut rng).encode();
            let body = if tpdu {
                [&iso8583::TPDU[..], &iso].concat()
            } else {
                iso
            };
            w.write_message(&body)
                .unwrap_or_else(|e| panic!("{layout}: request #{k}: {e}"));
            r.read_message()
                .unwrap_or_else(|e| panic!("{layout}: reply #{k}: {e}"));
        }
    }
    let stats = tcpdump.stop();
    let capture = msgframe_capture::read_capture(std::fs::File::open(&file).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut lines = Vec::new();
    let mut wrong = Vec::new();
    for &(layout, spec, _) in ISO_LAYOUTS {
        let port = ports[layout].port();
        let convs: Vec<_> = capture
            .conversations
            .iter()
            .filter(|c| c.server.port() == port)
            .collect();
        assert_eq!(
            convs.len(),
            SHORT_CONNECTIONS,
            "{layout}: conversations on port {port}; tcpdump: {stats:?}"
        );
        for (to_server, who) in [(true, "msgframe terminal"), (false, "pyiso8583 host")] {
            let pieces: Vec<&[u8]> = convs
                .iter()
                .map(|c| {
                    let flow = if to_server {
                        &c.to_server
                    } else {
                        &c.to_client
                    };
                    assert!(flow.gaps.is_empty(), "{layout}: {:?}", flow.gaps);
                    &flow.data[..]
                })
                .collect();
            let one = sniff(pieces[0]);
            let joined = msgframe::codec::sniff::sniff_joined(pieces.iter().copied());
            let all = pieces.concat();
            let examined = &all[..joined.examined];
            let first = &joined.answers[0];
            let right = ends(&first.specs[0], examined) == ends(spec, examined);
            let confident = joined.confident().is_some();
            lines.push(format!(
                "{who:<18} {layout:<7} {spec:<8} {SHORT_CONNECTIONS} connections joined: {:<10} {:>6.1} %  {}; one alone: {}",
                first.specs[0],
                100.0 * first.confidence,
                if right { "right" } else { "WRONG" },
                if one.confident().is_some() { "confident" } else { "not confident" },
            ));
            if !(right && confident) {
                wrong.push(format!("{who} {layout}"));
            }
        }
    }
    println!("\n{}", lines.join("\n"));
    keep_as(&file, &capture_dir().join("pyiso8583-short.pcap"));
    assert!(wrong.is_empty(), "not right and confident: {wrong:?}");
}
