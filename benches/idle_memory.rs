//! Memory per idle connection, with the client in a process of its own: what a server's resident
//! memory (`VmRSS` in `/proc/PID/status`) grows by for each of N long connections that sent one
//! message and then went quiet, and what it falls back to once they have all closed.
//!
//! Every server runs in a child process: this executable again in a server role, or an external
//! program. A load client in another child process opens N connections (default 10,000; env
//! `IDLE_CONNECTIONS`) to it as fast as it accepts them (at most 100 between connect and echo,
//! under the listeners' accept backlog), sends one 100-byte be:2 message on each, reads the echo,
//! and holds them idle until told to close them all. The children get an open-files limit of
//! 20,000, the most a process may have here: 10,000 connections a side.
//!
//! Servers (all echo be:2 messages):
//!
//! - `mio-slab`: one thread, a mio poll and a slab of connection states, one shared 64 KiB read
//!   buffer; a connection keeps only the bytes of an incomplete frame (the floor in user space).
//! - `tokio-task`: a task per connection, `readable().await` then `try_read` into a stack buffer:
//!   no buffer while idle.
//! - `tokio-util`: tokio-util's `Framed` with `LengthDelimitedCodec` (a 2-byte length) per
//!   connection.
//! - `msgframe-server`: msgframe-conn's `Server` (`ServerBuilder` defaults) with an echo handler.
//! - `msgframe-serve`: the `msgframe serve --echo --framing be:2 --quiet` binary (built by
//!   `cargo build --release -p msgframe-cli`; env `MSGFRAME_BIN` to point elsewhere).
//! - `erlang`: Erlang/OTP `gen_tcp` with `{packet, 2}`, a process per connection
//!   (`benches/idle_memory/erlang_echo.escript`), when `escript` is installed.
//! - `netty`: Netty 4.1 `LengthFieldBasedFrameDecoder` + `LengthFieldPrepender` (the interop
//!   peer `tests/interop/netty/NettyPeer.java`; JVM options from `IDLE_JAVA_OPTS`, by default the
//!   serial collector and the JIT's first tier), when the jars and a JDK are installed.
//!
//! The tokio servers run on a multi-threaded runtime with two workers, as `msgframe serve` does.
//! Readings of the server: at start (listening, no connection), right after the burst, after a
//! settle time (env `IDLE_SETTLE_MS`, default 2,000: msgframe's server sets a quiet connection
//! aside after 100 ms), the peak of the burst (`VmHWM` when it rose during the burst,
//! else the largest `VmRSS` sampled every 10 ms), and one second after the client closed all.
//!
//! A second table weighs a client process holding N msgframe-conn `LongClient`s (after one
//! request each, to a `mio-slab` echo server) against the same process holding N plain tokio
//! `TcpStream`s.
//!
//! Run with `cargo build --release -p msgframe-cli && cargo bench --bench idle_memory --features
//! conn` (under a minute of measuring); `IDLE_CONNECTIONS=500` for a quick run; `IDLE_CONTENDERS=mio-slab,
//! msgframe-server,long-client` for some only. The tables are printed and written to
//! `target/criterion/msgframe-idle-memory.txt`.

mod support;

#[path = "idle_memory/child.rs"]
mod child;
#[path = "idle_memory/frames.rs"]
mod frames;
#[path = "idle_memory/load.rs"]
mod load;
#[path = "idle_memory/long.rs"]
mod long;
#[path = "idle_memory/servers.rs"]
mod servers;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use child::{Child, Memory, ROLE_FLAG};

/// How long a child may take to start and say it is ready (a JVM on a busy machine).
const START_LIMIT: Duration = Duration::from_secs(60);
/// How long a server or client is left alone after starting, before its first reading.
const QUIET: Duration = Duration::from_millis(500);
/// How long opening all connections may take (the load client gives up after 60 s).
const OPEN_LIMIT: Duration = Duration::from_secs(120);
/// How long closing all connections may take.
const CLOSE_LIMIT: Duration = Duration::from_secs(60);
/// How long after the client closed everything the last reading is taken.
const AFTER_CLOSE: Duration = Duration::from_secs(1);
/// How often memory is sampled during the burst.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// The server contenders, in the order measured.
const SERVERS: [&str; 7] = [
    "mio-slab",
    "tokio-task",
    "tokio-util",
    "msgframe-server",
    "msgframe-serve",
    "erlang",
    "netty",
];
/// The name of the long-client measurement, for `IDLE_CONTENDERS`.
const LONG_CLIENT: &str = "long-client";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(ROLE_FLAG) {
        play_role(&args[2..]);
        return;
    }
    if !args.iter().any(|a| a == "--bench") {
        // `cargo test` runs benches once in test mode: nothing to check here.
        return;
    }
    let settings = Settings::from_env();
    let load_before = support::load_average();
    let started = Instant::now();
    let mut notes = Vec::new();
    let servers = server_table(&settings, &mut notes);
    let clients = settings
        .wanted(LONG_CLIENT)
        .then(|| long_client_table(&settings, &mut notes));
    let body = report_body(servers, clients, &notes, started.elapsed());
    support::report(
        &format!(
            "Memory per idle connection, client in its own process: {} connections, one 100-byte \
             be:2 echo each, then idle (settle {:.1} s)",
            settings.connections,
            settings.settle.as_secs_f64()
        ),
        body,
        load_before,
        "msgframe-idle-memory.txt",
    );
}

/// The tables, the notes, and how to read them.
fn report_body(
    servers: String,
    clients: Option<String>,
    notes: &[String],
    took: Duration,
) -> String {
    let mut body = servers;
    if let Some(clients) = clients {
        body.push_str(&format!(
            "\nA client process holding the connections (to a mio-slab echo server), one \
             request each:\n\n{clients}"
        ));
    }
    body.push('\n');
    for note in notes {
        body.push_str(&format!("{note}\n"));
    }
    body.push_str(&format!(
        "KiB/conn: (reading - start) / connections held; peak: VmHWM (or the largest VmRSS \
         sampled) during the burst; closed: 1 s after the client closed all. {:.0} s in all.\n",
        took.as_secs_f64()
    ));
    body
}

/// This executable started as a child: `server NAME`, `load ADDR N` or `long KIND ADDR N`.
fn play_role(args: &[String]) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let addr = |s: &str| -> SocketAddr { s.parse().expect("an address") };
    let count = |s: &str| -> usize { s.parse().expect("a count") };
    match args.as_slice() {
        ["server", name] => servers::run(name),
        ["load", a, n] => load::run(addr(a), count(n)),
        ["long", kind, a, n] => long::run(kind, addr(a), count(n)),
        other => panic!("unknown role {other:?}"),
    }
}

/// What the environment asks of this run.
struct Settings {
    connections: usize,
    settle: Duration,
    /// The contenders to measure; all when `None`.
    only: Option<Vec<String>>,
}

impl Settings {
    fn from_env() -> Settings {
        let number = |name: &str, default: u64| -> u64 {
            std::env::var(name).map_or(default, |v| {
                v.trim()
                    .replace(['_', ','], "")
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))
            })
        };
        let connections = number("IDLE_CONNECTIONS", 10_000) as usize;
        assert!(
            (1..=19_000).contains(&connections),
            "IDLE_CONNECTIONS must be 1 to 19,000 (20,000 open files a process)"
        );
        let only: Option<Vec<String>> = std::env::var("IDLE_CONTENDERS")
            .ok()
            .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect());
        for name in only.iter().flatten() {
            assert!(
                SERVERS.contains(&name.as_str()) || name == LONG_CLIENT,
                "IDLE_CONTENDERS: no contender {name:?} (there are {}, {LONG_CLIENT})",
                SERVERS.join(", ")
            );
        }
        Settings {
            connections,
            settle: Duration::from_millis(number("IDLE_SETTLE_MS", 2_000)),
            only,
        }
    }

    fn wanted(&self, name: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|o| o == name))
    }
}

// ------------------------------------------------------------------------------------ readings

/// The readings of the measured process over one run of the load.
struct Readings {
    start: Memory,
    /// The peak of the burst, KiB.
    peak: u64,
    after_burst: Memory,
    idle: Memory,
    closed: Memory,
    opened: Opened,
}

/// How the opening went, as the client tells it.
struct Opened {
    /// Seconds until all were connected.
    connected: f64,
    /// Seconds until all echoes were read.
    echoed: f64,
    failed: usize,
}

impl Opened {
    /// Reads `OPEN <connected> <echoed> <failed>`.
    fn parse(line: &str) -> Opened {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let field = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
        Opened {
            connected: field(1).unwrap_or(f64::NAN),
            echoed: field(2).unwrap_or(f64::NAN),
            failed: field(3).map_or(0, |f| f as usize),
        }
    }
}

/// Runs the client through open, idle and close, reading the memory of process `measured`.
fn run_load(client: &mut Child, measured: u32, settings: &Settings) -> Readings {
    client.expect("READY", START_LIMIT);
    std::thread::sleep(QUIET);
    let start = Memory::of(measured);
    client.say("open");
    let mut sampled = 0;
    let open = client.expect_sampling("OPEN ", OPEN_LIMIT, SAMPLE_EVERY, || {
        sampled = sampled.max(Memory::of(measured).rss);
    });
    let after_burst = Memory::of(measured);
    assert!(after_burst.rss > 0, "process {measured} is gone");
    let peak = burst_peak(start, after_burst, sampled);
    std::thread::sleep(settings.settle);
    let idle = Memory::of(measured);
    assert!(idle.rss > 0, "process {measured} is gone");
    client.say("close");
    client.expect("CLOSED", CLOSE_LIMIT);
    std::thread::sleep(AFTER_CLOSE);
    let closed = Memory::of(measured);
    Readings {
        start,
        peak,
        after_burst,
        idle,
        closed,
        opened: Opened::parse(&open),
    }
}

/// The peak of the burst: `VmHWM` when it rose during the burst (then it is the exact peak),
/// else the largest `VmRSS` sampled.
fn burst_peak(start: Memory, after: Memory, sampled: u64) -> u64 {
    if after.hwm > start.hwm {
        after.hwm
    } else {
        sampled.max(after.rss)
    }
}

impl Readings {
    fn held(&self, connections: usize) -> usize {
        connections.saturating_sub(self.opened.failed).max(1)
    }

    /// KiB per connection held that `kib` is above the start.
    fn per_connection(&self, kib: u64, connections: usize) -> f64 {
        (kib as f64 - self.start.rss as f64) / self.held(connections) as f64
    }

    /// The table cells: start, after burst, idle, peak, closed - start, open time, rate.
    fn cells(&self, connections: usize) -> Vec<String> {
        let mib = |kib: f64| format!("{:.1}", kib / 1024.0);
        let per = |kib: u64| format!("{:.2}", self.per_connection(kib, connections));
        vec![
            mib(self.start.rss as f64),
            per(self.after_burst.rss),
            per(self.idle.rss),
            per(self.peak),
            mib(self.closed.rss as f64 - self.start.rss as f64),
            format!("{:.2}", self.opened.echoed),
            format!("{:.0}", self.held(connections) as f64 / self.opened.echoed),
        ]
    }
}

const COLUMNS: [&str; 7] = [
    "start MiB",
    "after burst KiB/conn",
    "idle KiB/conn",
    "peak KiB/conn",
    "closed - start MiB",
    "open s",
    "conn/s",
];

fn header(first: &str) -> Vec<String> {
    std::iter::once(first)
        .chain(COLUMNS)
        .map(str::to_owned)
        .collect()
}

// ------------------------------------------------------------------------------------ servers

/// Measures every server wanted; returns the table.
fn server_table(settings: &Settings, notes: &mut Vec<String>) -> String {
    let mut rows = vec![header("server")];
    for name in SERVERS.iter().filter(|n| settings.wanted(n)) {
        let Some((server, port)) = start_server(name, notes) else {
            continue;
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port)).to_string();
        let n = settings.connections.to_string();
        let mut client = Child::role("load client", &["load", &addr, &n]);
        let readings = run_load(&mut client, server.pid(), settings);
        drop(client);
        drop(server);
        print_readings(name, &readings, settings.connections, notes);
        let mut row = vec![(*name).to_owned()];
        row.extend(readings.cells(settings.connections));
        rows.push(row);
    }
    support::table(&rows)
}

/// A server started and listening, with its port; `None` (and a note) when it cannot run here.
fn start_server(name: &str, notes: &mut Vec<String>) -> Option<(Child, u16)> {
    if servers::IN_PROCESS.contains(&name) {
        let mut server = Child::role(name, &["server", name]);
        let port = port_after(&server.expect("PORT ", START_LIMIT), "PORT ");
        return Some((server, port));
    }
    let started = match name {
        "msgframe-serve" => msgframe_serve(),
        "erlang" => erlang(),
        "netty" => netty(),
        other => panic!("no server called {other}"),
    };
    match started {
        Ok((server, port, version)) => {
            notes.push(format!("{name}: {version}"));
            Some((server, port))
        }
        Err(why) => {
            let note = format!("{name}: skipped ({why})");
            println!("{note}");
            notes.push(note);
            None
        }
    }
}

/// The port in `line` after `prefix` (`PORT 4242`, `listening on 127.0.0.1:4242 (be:2)`).
fn port_after(line: &str, prefix: &str) -> u16 {
    let rest = line[prefix.len()..].trim();
    let port = rest
        .split_whitespace()
        .next()
        .and_then(|w| w.rsplit(':').next())
        .and_then(|p| p.parse().ok());
    port.unwrap_or_else(|| panic!("no port in {line:?}"))
}

/// A started external server, its port, and what it is.
type Started = Result<(Child, u16, String), String>;

/// `msgframe serve --echo`: the binary next to this bench's `deps` directory, or `MSGFRAME_BIN`.
fn msgframe_serve() -> Started {
    let bin = std::env::var_os("MSGFRAME_BIN").map_or_else(
        || {
            let exe = std::env::current_exe().expect("the bench's own executable");
            exe.parent()
                .and_then(Path::parent)
                .map_or_else(|| PathBuf::from("msgframe"), |dir| dir.join("msgframe"))
        },
        PathBuf::from,
    );
    if !bin.is_file() {
        return Err(format!(
            "{} not found: build it with `cargo build --release -p msgframe-cli`",
            bin.display()
        ));
    }
    let args = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--framing",
        "be:2",
        "--echo",
        "--quiet",
    ];
    let mut server = Child::start("msgframe serve", &bin, &args);
    let port = port_after(
        &server.expect("listening on ", START_LIMIT),
        "listening on ",
    );
    let mut what = format!("{} {}", bin.display(), args.join(" "));
    if built_before_this_bench(&bin) {
        what.push_str(" (built before this bench: rebuild it if the library changed)");
    }
    Ok((server, port, what))
}

/// Whether `bin` is older than this executable.
fn built_before_this_bench(bin: &Path) -> bool {
    let modified = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    let exe = std::env::current_exe().ok();
    matches!(
        (modified(bin), exe.as_deref().and_then(modified)),
        (Some(bin), Some(exe)) if bin < exe
    )
}

/// The Erlang/OTP echo server, when `escript` runs.
fn erlang() -> Started {
    let release = output(
        "erl",
        &[
            "-noshell",
            "-eval",
            "io:format(\"~s\", [erlang:system_info(otp_release)]), halt().",
        ],
    )
    .ok_or("Erlang/OTP not installed: apt-get install erlang-base")?;
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/idle_memory/erlang_echo.escript");
    let script = script.to_str().expect("a UTF-8 path");
    let mut server = Child::start("erlang", Path::new("escript"), &[script]);
    let port = port_after(&server.expect("PORT ", START_LIMIT), "PORT ");
    Ok((
        server,
        port,
        format!("OTP {release}, gen_tcp {{packet, 2}}, {{active, false}}"),
    ))
}

/// The jars the Netty peer needs (Debian's `libnetty-java`).
const NETTY_JARS: [&str; 5] = [
    "netty-common",
    "netty-buffer",
    "netty-transport",
    "netty-codec",
    "netty-resolver",
];

/// The Netty echo server, when its jars and a JDK are installed (the interop peer, compiled
/// into the target directory when stale).
fn netty() -> Started {
    let classpath = netty_classpath()?;
    let peer = ["-cp", classpath.as_str(), "NettyPeer"];
    let version = output("java", &[&peer[..], &["version"]].concat()).unwrap_or_default();
    let options = java_options();
    let mut args: Vec<&str> = options.split_whitespace().collect();
    args.extend(peer);
    args.extend(["server", "idle/lf,len=2"]);
    let mut server = Child::start("netty", Path::new("java"), &args);
    let port = port_after(&server.expect("PORT ", START_LIMIT), "PORT ");
    Ok((server, port, format!("{version}, JVM options: {options:?}")))
}

/// The JVM's options for the Netty server: `IDLE_JAVA_OPTS`, else the interop tests' (a quick
/// start on a small machine: the serial collector, the JIT's first tier).
fn java_options() -> String {
    std::env::var("IDLE_JAVA_OPTS")
        .unwrap_or_else(|_| "-XX:+UseSerialGC -XX:TieredStopAtLevel=1".to_owned())
}

/// The classpath to run `NettyPeer` with, compiling it first when its class is older than its
/// source.
fn netty_classpath() -> Result<String, String> {
    let dir = std::env::var_os("NETTY_JAR_DIR")
        .map_or_else(|| PathBuf::from("/usr/share/java"), PathBuf::from);
    let jars: Vec<PathBuf> = NETTY_JARS
        .iter()
        .map(|j| dir.join(format!("{j}.jar")))
        .collect();
    if !jars.iter().all(|j| j.is_file()) || output("javac", &["-version"]).is_none() {
        return Err(
            "Netty jars or a JDK not installed: apt-get install libnetty-java \
                    default-jdk-headless"
                .to_owned(),
        );
    }
    let jars = jars
        .iter()
        .map(|j| j.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/netty/NettyPeer.java");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("netty-peer");
    let modified = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    if modified(&out.join("NettyPeer.class")) < modified(&source) {
        std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        let javac = Command::new("javac")
            .arg("-d")
            .arg(&out)
            .args(["-cp", &jars])
            .arg(&source)
            .output()
            .map_err(|e| format!("javac: {e}"))?;
        if !javac.status.success() {
            return Err(format!(
                "javac NettyPeer.java failed: {}",
                String::from_utf8_lossy(&javac.stderr)
            ));
        }
    }
    Ok(format!("{}:{jars}", out.display()))
}

/// What `program args` prints, when it runs and succeeds.
fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// One line per contender as it is measured (the table comes at the end).
fn print_readings(name: &str, r: &Readings, connections: usize, notes: &mut Vec<String>) {
    println!(
        "{name}: start {} KiB (VmHWM {}), after burst {}, idle {}, peak {}, closed {} KiB; \
         all connected in {:.2} s, all echoed in {:.2} s",
        r.start.rss,
        r.start.hwm,
        r.after_burst.rss,
        r.idle.rss,
        r.peak,
        r.closed.rss,
        r.opened.connected,
        r.opened.echoed
    );
    if r.opened.failed > 0 {
        notes.push(format!(
            "{name}: {} of {connections} connections failed or were not open in time",
            r.opened.failed
        ));
    }
}

// ------------------------------------------------------------------------------- long clients

/// Measures a client process holding plain tokio streams, then one holding `LongClient`s.
fn long_client_table(settings: &Settings, notes: &mut Vec<String>) -> String {
    let mut rows = vec![header("client")];
    let mut server = Child::role("echo server", &["server", "mio-slab"]);
    let port = port_after(&server.expect("PORT ", START_LIMIT), "PORT ");
    let addr = SocketAddr::from(([127, 0, 0, 1], port)).to_string();
    let n = settings.connections.to_string();
    for (name, kind) in [
        ("tokio TcpStream", "plain"),
        ("msgframe LongClient", "msgframe"),
    ] {
        let mut client = Child::role(name, &["long", kind, &addr, &n]);
        let pid = client.pid();
        let readings = run_load(&mut client, pid, settings);
        print_readings(name, &readings, settings.connections, notes);
        let mut row = vec![name.to_owned()];
        row.extend(readings.cells(settings.connections));
        rows.push(row);
    }
    drop(server);
    support::table(&rows)
}
