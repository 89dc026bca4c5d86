//! `msgframe serve`: a mock host that answers every message.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use msgframe_codec::header::hex;
use msgframe_conn::{
    AnswerHeartbeats, Connection, Disconnect, Handler, Reply, Server, ServerBuilder, ServerHandle,
    Stats,
};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::cli::{ServeArgs, ServerLimitArgs, ServerTlsArgs};
use crate::dump::{self, Style};
use crate::error::{Failure, Result};
use crate::event::{self, Closes, Pending};
use crate::input;
use crate::out::{errln, out, outln};

/// How long an --exec command may run without --exec-timeout.
const EXEC_TIMEOUT: Duration = Duration::from_secs(30);

/// How the mock host answers.
enum Answer {
    Echo,
    Fixed(Bytes),
    Exec { cmd: String, timeout: Duration },
}

/// `:9000` means every interface.
pub fn listen_addr(addr: &str) -> String {
    if addr.starts_with(':') {
        format!("0.0.0.0{addr}")
    } else {
        addr.to_owned()
    }
}

pub async fn run(args: ServeArgs) -> Result<()> {
    let framing = input::framing(&args.framing)?;
    let answer = if args.reply.echo {
        Answer::Echo
    } else if let Some(hex) = &args.reply.reply_hex {
        Answer::Fixed(input::hex(hex)?.into())
    } else if let Some(path) = &args.reply.reply_file {
        Answer::Fixed(input::read_file(path)?.into())
    } else if let Some(cmd) = &args.reply.exec {
        Answer::Exec {
            cmd: cmd.clone(),
            timeout: args.exec_timeout.unwrap_or(EXEC_TIMEOUT),
        }
    } else {
        return Err(Failure::usage(
            "one of --echo, --reply-hex, --reply-file, --exec",
        ));
    };
    if args.exec_timeout.is_some() && args.reply.exec.is_none() {
        return Err(Failure::usage("--exec-timeout applies to --exec only"));
    }
    if let Answer::Fixed(reply) = &answer {
        input::frameable(&framing, &args.framing, reply, "the reply")?;
    }
    // Before the server is built: its metrics reach the recorder installed now.
    let metrics = start_metrics(&args.limits).await?;
    let mut builder =
        server_builder(framing, &args.limits, &args.tls)?.write_timeout(args.write_timeout);
    if args.answer_keepalives {
        builder = builder.answer_heartbeats(AnswerHeartbeats::empty_frames());
    }
    if let Some(back) = &args.simplex_return {
        let back = listen_addr(back);
        builder = builder
            .simplex_return(back.as_str(), Duration::from_secs(10))
            .map_err(|e| Failure::usage(format!("cannot listen on {back}: {e}")))?;
    }
    let return_links = builder.simplex_return_addr();
    let addr = listen_addr(&args.listen);
    let server = builder
        .bind(addr.as_str())
        .await
        .map_err(|e| Failure::usage(format!("cannot listen on {addr}: {e}")))?;
    let style = Style::new(args.common.json);
    announce_listening(&style, server.local_addr(), &args.framing)?;
    announce_metrics(&style, metrics)?;
    if let Some(addr) = return_links {
        if style.json {
            dump::json_line(json!({
                "event": "return_links",
                "ts": dump::now(),
                "addr": addr.to_string(),
            }))?;
        } else {
            outln!("return links on {addr}")?;
        }
        crate::out::flush()?;
    }
    let stop = Stop::new(server.handle());
    let handle = server.handle();
    let stopping = handle.clone();
    tokio::spawn(async move {
        stop_signal().await;
        stopping.shutdown();
    });
    let host = Host {
        answer,
        log: Arc::new(Log {
            style,
            quiet: args.quiet,
            started: Instant::now(),
            stop: Arc::clone(&stop),
            closes: Closes::default(),
            pending: Pending::default(),
            notes: Mutex::default(),
        }),
    };
    let log = Arc::clone(&host.log);
    server.serve(host).await?;
    // The last connections' close lines, then the counters.
    log.pending.written(CLOSE_LINES_WAIT).await;
    stop.outcome()?;
    log.counters(&handle.stats())
}

/// How long a stopping server waits for the close lines of its last connections.
const CLOSE_LINES_WAIT: Duration = Duration::from_secs(2);

/// Ctrl-C, or (Unix) SIGTERM: the server stops gracefully.
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    // Without a signal handler, only an ended program stops it.
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The mock host: answers every message, and logs connections, refusals and messages.
struct Host {
    answer: Answer,
    log: Arc<Log>,
}

impl Handler for Host {
    type Future = Pin<Box<dyn Future<Output = Reply> + Send>>;

    fn opened(&self, connection: &Connection) {
        let log = Arc::clone(&self.log);
        if !log.stop.check(log.connected(connection)) {
            connection.close();
        }
        log.pending.add();
    }

    fn closed(&self, connection: &Connection, why: &msgframe_conn::Disconnect) {
        let log = &self.log;
        log.closes.count(why);
        log.stop.check(log.closed(connection, why));
        log.pending.done();
    }

    fn refused(&self, peer: SocketAddr, refusal: &msgframe_conn::policy::Refusal) {
        let log = &self.log;
        log.stop
            .check(event::log_refused(&log.style, peer, refusal));
    }

    fn handle(&self, conn: Connection, message: Bytes) -> Self::Future {
        let log = Arc::clone(&self.log);
        if !log.stop.check(log.message(&conn, &message)) {
            return Box::pin(async { Reply::Close });
        }
        match &self.answer {
            Answer::Echo => Box::pin(async { Reply::Send(message) }),
            Answer::Fixed(reply) => {
                let reply = reply.clone();
                Box::pin(async { Reply::Send(reply) })
            }
            Answer::Exec { cmd, timeout } => {
                let (cmd, timeout) = (cmd.clone(), *timeout);
                Box::pin(async move {
                    match exec(&cmd, timeout, conn.peer(), &message).await {
                        Ok(reply) if reply.is_empty() => Reply::Nothing,
                        Ok(reply) => Reply::Send(reply.into()),
                        Err(e) => {
                            let why = format!("--exec `{cmd}` failed: {e}");
                            errln!("msgframe: {why}; closing the connection");
                            log.note(conn.id(), why);
                            Reply::Close
                        }
                    }
                })
            }
        }
    }
}

/// `serve`'s log on stdout: every connection opened, closed (with why) or refused, and every
/// message, each line starting with the time it happened (JSON: `ts`); the counters at the end.
struct Log {
    style: Style,
    quiet: bool,
    started: Instant,
    /// Shuts the server down when the log cannot be written.
    stop: Arc<Stop>,
    closes: Closes,
    pending: Pending,
    /// Why the handler closed a connection, by connection, for its close line.
    notes: Mutex<HashMap<u64, String>>,
}

impl Log {
    fn connected(&self, conn: &Connection) -> Result<()> {
        let certificate = conn.peer_identity().map(|id| id.subject.clone());
        if self.style.json {
            dump::json_line(json!({
                "event": "connected",
                "ts": dump::now(),
                "connection": conn.id(),
                "peer": conn.peer().to_string(),
                "certificate": certificate,
            }))?;
        } else {
            let who = match certificate {
                Some(subject) => format!(" ({subject})"),
                None => String::new(),
            };
            let line = format!("#{} {} connected{who}", conn.id(), conn.peer());
            outln!("{} {}", dump::now(), self.style.dim(&line))?;
        }
        crate::out::flush()
    }

    fn closed(&self, conn: &Connection, end: &Disconnect) -> Result<()> {
        let note = self
            .notes
            .lock()
            .ok()
            .and_then(|mut n| n.remove(&conn.id()));
        let reason = match note {
            Some(note) if matches!(end, Disconnect::Handler) => format!("{end}: {note}"),
            _ => end.to_string(),
        };
        if self.style.json {
            dump::json_line(json!({
                "event": "closed",
                "ts": dump::now(),
                "connection": conn.id(),
                "peer": conn.peer().to_string(),
                "cause": event::cause(end),
                "reason": reason,
            }))?;
        } else {
            let line = format!("#{} {} closed: {reason}", conn.id(), conn.peer());
            let line = if event::is_clean(end) {
                self.style.dim(&line)
            } else {
                self.style.bad(&line)
            };
            outln!("{} {line}", dump::now())?;
        }
        crate::out::flush()
    }

    fn message(&self, conn: &Connection, message: &[u8]) -> Result<()> {
        if self.style.json {
            dump::json_line(json!({
                "event": "message",
                "ts": dump::now(),
                "connection": conn.id(),
                "peer": conn.peer().to_string(),
                "certificate": conn.peer_identity().map(|id| id.subject.clone()),
                "length": message.len(),
                "at_ms": dump::millis(self.started.elapsed()),
                "hex": hex::display(message).to_string(),
            }))?;
        } else {
            let head = format!("#{} {} -> {} bytes", conn.id(), conn.peer(), message.len());
            if self.quiet {
                outln!("{} {head}", dump::now())?;
            } else {
                out!(
                    "{} {}\n{}",
                    dump::now(),
                    self.style.heading(&head),
                    self.style.hexdump(message, "  ")
                )?;
            }
        }
        crate::out::flush()
    }

    /// Keeps why the handler is about to close connection `id`, for its close line.
    fn note(&self, id: u64, why: String) {
        if let Ok(mut notes) = self.notes.lock() {
            notes.insert(id, why);
        }
    }

    /// The server's counters, once it has stopped.
    fn counters(&self, stats: &Stats) -> Result<()> {
        let closes = self.closes.counts();
        let refused = stats.refused_address + stats.refused_total_cap + stats.refused_per_client;
        if self.style.json {
            dump::json_line(json!({
                "event": "stopped",
                "ts": dump::now(),
                "accepted": stats.accepted,
                "refused": {
                    "address": stats.refused_address,
                    "total_cap": stats.refused_total_cap,
                    "per_client_cap": stats.refused_per_client,
                },
                "frames_in": stats.frames_in,
                "bytes_in": stats.bytes_in,
                "frames_out": stats.frames_out,
                "bytes_out": stats.bytes_out,
                "closed": closes,
                "reaped_idle": stats.reaped_idle,
                "reaped_slow": stats.reaped_slow,
                "errors": stats.errors,
                "tls_handshake_failed": stats.tls_handshake_failed,
                "tls_handshake_timeout": stats.tls_handshake_timeout,
            }))?;
            return crate::out::flush();
        }
        outln!(
            "{} {}",
            dump::now(),
            self.style.heading(&format!(
                "stopped: {} accepted, {refused} refused ({} by address, {} server full, {} client at its cap)",
                stats.accepted,
                stats.refused_address,
                stats.refused_total_cap,
                stats.refused_per_client
            ))
        )?;
        outln!(
            "  in: {} frames, {} bytes; out: {} frames, {} bytes",
            stats.frames_in,
            stats.bytes_in,
            stats.frames_out,
            stats.bytes_out
        )?;
        let closed: Vec<String> = closes
            .iter()
            .map(|(cause, n)| format!("{n} {}", cause.replace('_', " ")))
            .collect();
        if closed.is_empty() {
            outln!("  closed: none")?;
        } else {
            outln!("  closed: {}", closed.join(", "))?;
        }
        if stats.tls_handshake_failed + stats.tls_handshake_timeout > 0 {
            outln!(
                "  TLS handshakes: {} failed, {} not finished in time",
                stats.tls_handshake_failed,
                stats.tls_handshake_timeout
            )?;
        }
        crate::out::flush()
    }
}

/// Ends a server whose output can no longer be written: the first such failure is kept and the
/// server shut down; the command then ends with it (quietly, when the reader of stdout went away).
pub struct Stop {
    handle: ServerHandle,
    failure: Mutex<Option<Failure>>,
}

impl Stop {
    pub fn new(handle: ServerHandle) -> Arc<Stop> {
        Arc::new(Stop {
            handle,
            failure: Mutex::new(None),
        })
    }

    /// `true` when `written` is `Ok`; otherwise keeps its failure, shuts the server down, and
    /// returns `false`.
    pub fn check(&self, written: Result<()>) -> bool {
        let Err(failure) = written else {
            return true;
        };
        if let Ok(mut kept) = self.failure.lock() {
            kept.get_or_insert(failure);
        }
        self.handle.shutdown();
        false
    }

    /// What the command ends with once the server has stopped.
    pub fn outcome(&self) -> Result<()> {
        match self.failure.lock().ok().and_then(|mut kept| kept.take()) {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    }
}

/// A server speaking `framing` with the limits and TLS given on the command line.
pub fn server_builder(
    framing: msgframe_codec::Framing,
    limits: &ServerLimitArgs,
    tls: &ServerTlsArgs,
) -> Result<ServerBuilder> {
    let mut builder = Server::builder(framing)
        .idle_timeout(Some(limits.idle_timeout))
        .message_timeout(Some(limits.message_timeout));
    if let Some(tls) = input::server_tls(tls)? {
        builder = builder.tls(tls);
    }
    if let Some(n) = limits.max_per_client {
        builder = builder.max_per_client(n);
    }
    if let Some(n) = limits.max_connections {
        builder = builder.max_connections(n);
    }
    Ok(builder
        .allow(limits.allow.iter().copied())
        .deny(limits.deny.iter().copied()))
}

/// The first line a server prints: where it listens (tests and scripts read the port from it).
/// `--metrics ADDR`: installs the Prometheus recorder and serves it; the address bound.
pub async fn start_metrics(limits: &ServerLimitArgs) -> Result<Option<std::net::SocketAddr>> {
    match &limits.metrics {
        Some(addr) => Ok(Some(crate::metrics::serve(&listen_addr(addr)).await?)),
        None => Ok(None),
    }
}

/// Says where the metrics are served, when they are.
pub fn announce_metrics(style: &Style, addr: Option<std::net::SocketAddr>) -> Result<()> {
    let Some(addr) = addr else { return Ok(()) };
    if style.json {
        dump::json_line(json!({
            "event": "metrics",
            "ts": dump::now(),
            "url": format!("http://{addr}/metrics"),
        }))?;
    } else {
        outln!("metrics on http://{addr}/metrics")?;
    }
    crate::out::flush()
}

pub fn announce_listening(style: &Style, addr: std::net::SocketAddr, framing: &str) -> Result<()> {
    if style.json {
        dump::json_line(json!({
            "event": "listening",
            "ts": dump::now(),
            "addr": addr.to_string(),
            "framing": framing,
        }))?;
    } else {
        outln!("listening on {addr} ({framing})")?;
    }
    crate::out::flush()
}

/// Runs `cmd` through the shell with `message` on its stdin and the client's address in its
/// environment (as socat does); its stdout is the reply. A command still running after
/// `timeout` is killed.
async fn exec(
    cmd: &str,
    timeout: Duration,
    peer: std::net::SocketAddr,
    message: &[u8],
) -> std::io::Result<Vec<u8>> {
    match tokio::time::timeout(timeout, run_command(cmd, peer, message)).await {
        Ok(outcome) => outcome,
        // Dropping the command's future kills it.
        Err(_) => Err(std::io::Error::other(format!(
            "still running after {} (--exec-timeout)",
            dump::duration(timeout)
        ))),
    }
}

async fn run_command(
    cmd: &str,
    peer: std::net::SocketAddr,
    message: &[u8],
) -> std::io::Result<Vec<u8>> {
    let mut command = tokio::process::Command::new("sh");
    command
        .arg("-c")
        .arg(cmd)
        .env("MSGFRAME_PEER_ADDR", peer.ip().to_canonical().to_string())
        .env("MSGFRAME_PEER_PORT", peer.port().to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    // A process group of its own, so that a command cut short is killed with all it started.
    #[cfg(unix)]
    command.process_group(0);
    let mut child = command.spawn()?;
    let group = ProcessGroup::of(child.id());
    if let Some(mut stdin) = child.stdin.take() {
        match stdin.write_all(message).await {
            // A command need not read the message.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            written => written?,
        }
    }
    let output = child.wait_with_output().await?;
    // It ran to its end: what it left running in the background is its own business.
    group.release();
    if !output.status.success() {
        return Err(std::io::Error::other(format!(
            "exited with {}",
            output.status
        )));
    }
    Ok(output.stdout)
}

/// The process group of an --exec command, killed when dropped before the command ends (an
/// overrun, a failure, a server that stops waiting).
struct ProcessGroup(Option<u32>);

impl ProcessGroup {
    fn of(leader: Option<u32>) -> ProcessGroup {
        ProcessGroup(leader)
    }

    fn release(mut self) {
        self.0 = None;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(pid) = self.0.and_then(|id| i32::try_from(id).ok()) {
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
        }
    }
}
