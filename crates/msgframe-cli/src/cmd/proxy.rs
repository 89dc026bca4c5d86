//! `msgframe proxy`: a logging man-in-the-middle that can re-frame between two framings.
//!
//! It runs on the library's server and long client: the clients' side gets the caps, allow and
//! deny lists, idle reaping, per-message deadlines, keepalive and TLS of `serve`; each accepted
//! connection opens its own upstream connection at once (a host may speak first), and each
//! direction is relayed on its own (a host may send without being asked). When either side ends,
//! both connections close.
//!
//! With `--pcap` and `--hex-dump`, every message is also written down as it crosses: in the pcap
//! on both legs (client and proxy, as framed for the client; proxy and host, as framed for the
//! host), in the hex dump as framed for the client. The files are complete when the proxy stops
//! (Ctrl-C, or SIGTERM).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use msgframe_capture::synth::Side;
use msgframe_codec::header::hex;
use msgframe_codec::{Encoder, Framing};
use msgframe_conn::{Connection, Disconnect, Event, Handler, LongClient, LongSender, Reply};
use serde_json::json;
use tokio::sync::watch;

use crate::cli::ProxyArgs;
use crate::cmd::serve::{announce_listening, listen_addr, server_builder, stop_signal, Stop};
use crate::dump::{self, Style};
use crate::error::{Failure, Result};
use crate::event::{self, Pending};
use crate::input;
use crate::out::{errln, out, outln};
use crate::record::{self, Leg, Recording};

struct Setup {
    to: String,
    /// TLS towards the host.
    connect_tls: Option<msgframe_conn::tls::TlsConnector>,
    host_framing: Framing,
    connect_timeout: Duration,
    write_timeout: Duration,
    style: Style,
    quiet: bool,
    started: Instant,
    /// Shuts the server down when the log cannot be written.
    stop: Arc<Stop>,
    /// Where clients connect: the proxy's end of their connections.
    listening: SocketAddr,
    /// The clients' framing: messages are written down on the client leg as framed for them.
    client_framing: Framing,
    recording: Option<Recording>,
    /// Close lines still to be written.
    pending: Pending,
}

impl Setup {
    /// Writes down `message` of connection `id`, sent by `from`, on `leg`, as framed on it.
    fn record(&self, id: u64, leg: Leg, from: Side, message: &[u8]) {
        let Some(recording) = &self.recording else {
            return;
        };
        let framing = match leg {
            Leg::Client => &self.client_framing,
            Leg::Host => &self.host_framing,
        };
        let mut framed = BytesMut::new();
        match framing.encode(message, &mut framed) {
            Ok(_) => recording.message(id, leg, from, &framed),
            // It was read or is about to be written in this framing: not expected.
            Err(e) => errln!("msgframe: warning: #{id}: a message not written down: {e}"),
        }
    }
}

/// The upstream connection of one client connection, as its handler sees it.
#[derive(Clone)]
enum Upstream {
    Connecting,
    Ready(LongSender),
    Gone,
}

/// What a client connection's handler and its upstream task share.
#[derive(Clone)]
struct Link {
    upstream: watch::Receiver<Upstream>,
    asked: Asked,
}

/// When each client message not yet answered by the host arrived, oldest first: a host message
/// answers the oldest (replies in order), and its latency is the time since.
#[derive(Clone, Default)]
struct Asked(Arc<Mutex<VecDeque<Instant>>>);

/// The most client messages kept waiting for an answer on a connection (a host that answers
/// nothing must not grow the list without end): past it, the oldest is forgotten.
const ASKED_AT_MOST: usize = 1024;

impl Asked {
    fn push(&self, at: Instant) {
        if let Ok(mut asked) = self.0.lock() {
            if asked.len() >= ASKED_AT_MOST {
                asked.pop_front();
            }
            asked.push_back(at);
        }
    }

    /// The time since the oldest client message not yet answered, which this host message
    /// answers; `None` when the host speaks unasked.
    fn answered(&self) -> Option<Duration> {
        let at = self.0.lock().ok()?.pop_front()?;
        Some(at.elapsed())
    }
}

/// The server's handler: each client message goes upstream; each connection gets its upstream.
struct Proxy {
    setup: Arc<Setup>,
    links: Arc<Mutex<HashMap<u64, Link>>>,
}

/// How long a stopping proxy waits for the close lines of its last connections.
const CLOSE_LINES_WAIT: Duration = Duration::from_secs(2);

pub async fn run(args: ProxyArgs) -> Result<()> {
    let client_framing = input::framing(&args.framing)?;
    let host_framing = match &args.upstream_framing {
        Some(spec) => input::framing(spec)?,
        None => client_framing.clone(),
    };
    // Before the server and the upstream clients are built: their metrics reach it.
    let metrics = super::serve::start_metrics(&args.limits).await?;
    let builder = server_builder(client_framing.clone(), &args.limits, &args.tls)?
        .write_timeout(args.write_timeout);
    let addr = listen_addr(&args.listen);
    let server = builder
        .bind(addr.as_str())
        .await
        .map_err(|e| Failure::usage(format!("cannot listen on {addr}: {e}")))?;
    let recording = Recording::create(args.pcap.as_deref(), args.hex_dump.as_deref())?;
    let style = Style::new(args.common.json);
    let shown = match &args.upstream_framing {
        Some(up) => format!("{} <-> {up}", args.framing),
        None => args.framing.clone(),
    };
    announce_listening(&style, server.local_addr(), &shown)?;
    super::serve::announce_metrics(&style, metrics)?;
    let up = &args.upstream_tls;
    let connect_tls = input::client_tls(
        up.upstream_tls,
        up.upstream_ca.as_deref(),
        up.upstream_cert.as_deref().zip(up.upstream_key.as_deref()),
        up.server_name.as_deref(),
        up.insecure,
    )?;
    let stop = Stop::new(server.handle());
    let handle = server.handle();
    tokio::spawn(async move {
        stop_signal().await;
        handle.shutdown();
    });
    let listening = server.local_addr();
    let proxy = Proxy {
        setup: Arc::new(Setup {
            to: args.to.clone(),
            connect_tls,
            host_framing,
            connect_timeout: args.connect_timeout,
            write_timeout: args.write_timeout,
            style,
            quiet: args.quiet,
            started: Instant::now(),
            stop: Arc::clone(&stop),
            listening,
            client_framing,
            recording,
            pending: Pending::default(),
        }),
        links: Arc::default(),
    };
    let setup = Arc::clone(&proxy.setup);
    let served = server.serve(proxy).await;
    // The last connections' close lines (and their closes in the files).
    setup.pending.written(CLOSE_LINES_WAIT).await;
    // Connections still open are closed in the files, which are then complete (also when the
    // log's reader went away).
    if let Some(recording) = &setup.recording {
        recording.finish()?;
    }
    served?;
    stop.outcome()
}

impl Handler for Proxy {
    type Future = Pin<Box<dyn Future<Output = Reply> + Send>>;

    fn opened(&self, connection: &Connection) {
        let setup = &self.setup;
        if let Some(recording) = &setup.recording {
            let local = record::local_end(setup.listening, connection.peer());
            recording.opened(connection.id(), connection.peer(), local);
        }
        let peer = connection.peer().to_string();
        if !setup
            .stop
            .check(log_connected(setup, connection.id(), Side::Client, &peer))
        {
            connection.close();
        }
        let (tx, rx) = watch::channel(Upstream::Connecting);
        let asked = Asked::default();
        if let Ok(mut links) = self.links.lock() {
            links.insert(
                connection.id(),
                Link {
                    upstream: rx,
                    asked: asked.clone(),
                },
            );
        }
        setup.pending.add();
        tokio::spawn(upstream(
            Arc::clone(setup),
            connection.clone(),
            tx,
            asked,
            Arc::clone(&self.links),
        ));
    }

    fn refused(&self, peer: SocketAddr, refusal: &msgframe_conn::policy::Refusal) {
        let setup = &self.setup;
        setup
            .stop
            .check(event::log_refused(&setup.style, peer, refusal));
    }

    fn handle(&self, connection: Connection, message: Bytes) -> Self::Future {
        let setup = Arc::clone(&self.setup);
        let link = self
            .links
            .lock()
            .ok()
            .and_then(|links| links.get(&connection.id()).cloned());
        if let Some(link) = &link {
            link.asked.push(Instant::now());
        }
        let shown = show(&setup, connection.id(), "client -> host", &message, None);
        // The client sent it, whether or not the log could show it.
        setup.record(connection.id(), Leg::Client, Side::Client, &message);
        if !shown {
            return Box::pin(async { Reply::Close });
        }
        Box::pin(async move {
            let Some(mut link) = link else {
                return Reply::Close;
            };
            let sender = match link
                .upstream
                .wait_for(|u| !matches!(u, Upstream::Connecting))
                .await
                .map(|u| u.clone())
            {
                Ok(Upstream::Ready(sender)) => sender,
                _ => return Reply::Close,
            };
            // Written down before it is written: the host's answer cannot come first.
            setup.record(connection.id(), Leg::Host, Side::Client, &message);
            match sender.send_timeout(message, setup.write_timeout).await {
                Ok(()) => Reply::Nothing,
                Err(e) => {
                    note(
                        &setup,
                        connection.id(),
                        &format!("writing client -> host: {e}"),
                    );
                    Reply::Close
                }
            }
        })
    }
}

/// One client connection's upstream: connect, then relay the host's messages to the client
/// until either side ends; then close both, and log each side's close with its reason (the side
/// that ended first first).
async fn upstream(
    setup: Arc<Setup>,
    connection: Connection,
    ready: watch::Sender<Upstream>,
    asked: Asked,
    links: Arc<Mutex<HashMap<u64, Link>>>,
) {
    let id = connection.id();
    let relayed = relay(&setup, &connection, &ready, &asked).await;
    ready.send_replace(Upstream::Gone);
    if let Some(recording) = &setup.recording {
        // Both legs, the one that ended first first; on the host's, the host closes first when
        // it ended it, the proxy otherwise.
        let host_first = if relayed.host_ended {
            Side::Server
        } else {
            Side::Client
        };
        if relayed.client_ended {
            recording.closed(id, relayed.first, &relayed.reason);
            recording.host_closed(id, host_first);
        } else {
            recording.host_closed(id, host_first);
            recording.closed(id, relayed.first, &relayed.reason);
        }
    }
    let host_closed = |setup: &Setup| {
        if let Some((cause, reason)) = &relayed.host {
            let closed = Closed {
                side: Side::Server,
                peer: &setup.to,
                cause,
                reason,
                clean: matches!(*cause, "closed" | "peer_closed"),
            };
            setup.stop.check(log_closed(setup, id, &closed));
        }
    };
    if !relayed.client_ended {
        host_closed(&setup);
    }
    connection.close();
    let end = connection.closed().await;
    // Closed by the proxy: say what made it close.
    let why = match *end {
        Disconnect::Closed | Disconnect::Handler => format!("{end}: {}", relayed.reason),
        _ => end.to_string(),
    };
    let peer = connection.peer().to_string();
    let closed = Closed {
        side: Side::Client,
        peer: &peer,
        cause: event::cause(&end),
        reason: &why,
        clean: event::is_clean(&end),
    };
    setup.stop.check(log_closed(&setup, id, &closed));
    if relayed.client_ended {
        host_closed(&setup);
    }
    if let Ok(mut links) = links.lock() {
        links.remove(&id);
    }
    setup.pending.done();
}

/// How relaying one connection ended.
struct Relayed {
    /// Why (for the files).
    reason: String,
    /// Which side of the client's connection closes it first: the client, or the proxy.
    first: Side,
    /// The client's side ended before the host's.
    client_ended: bool,
    /// The host ended its connection (rather than the proxy).
    host_ended: bool,
    /// The host side's close, when it was connected: its short cause and its reason.
    host: Option<(&'static str, String)>,
}

/// Relays the host's messages to the client, logging the host side's connect (or failure to).
async fn relay(
    setup: &Setup,
    connection: &Connection,
    ready: &watch::Sender<Upstream>,
    asked: &Asked,
) -> Relayed {
    let id = connection.id();
    let to = setup.to.as_str();
    let mut builder = LongClient::builder([setup.to.clone()], setup.host_framing.clone())
        .reconnect(false)
        .connect_timeout(setup.connect_timeout)
        .timeout(setup.write_timeout);
    if let Some(tls) = &setup.connect_tls {
        builder = builder.tls(tls.clone());
    }
    let not_connected = |why: String| {
        setup.stop.check(log_connect_failed(setup, id, to, &why));
        Relayed {
            reason: format!("host side: {why}"),
            first: Side::Server,
            client_ended: false,
            host_ended: false,
            host: None,
        }
    };
    let mut client = match builder.start() {
        Ok(client) => client,
        Err(e) => return not_connected(format!("connecting to {to}: {e}")),
    };
    if let Err(e) = client.wait_connected(setup.connect_timeout).await {
        // The attempt's own error (refused, unreachable, a TLS failure) rather than the client
        // shutting down after it.
        let why = match client.last_failure() {
            Some(last) => last.to_string(),
            None => format!("connecting to {to}: {e}"),
        };
        client.close().await;
        return not_connected(why);
    }
    open_host_leg(setup, id, &client);
    if !setup.stop.check(log_connected(setup, id, Side::Server, to)) {
        client.close().await;
        return Relayed {
            reason: "the log cannot be written".to_owned(),
            first: Side::Server,
            client_ended: false,
            host_ended: false,
            host: Some(("closed", "closed by the proxy".to_owned())),
        };
    }
    ready.send_replace(Upstream::Ready(client.sender()));
    let by_proxy = |why: String| Relayed {
        host: Some(("closed", format!("closed by the proxy: {why}"))),
        reason: why,
        first: Side::Server,
        client_ended: false,
        host_ended: false,
    };
    let relayed = loop {
        tokio::select! {
            message = client.recv() => match message {
                Some(message) => {
                    // It crossed the host leg, whether or not it is relayed.
                    setup.record(id, Leg::Host, Side::Server, &message);
                    let latency = asked.answered();
                    if !show(setup, id, "host -> client", &message, latency) {
                        // Not relayed, so not written down.
                        break by_proxy("the log cannot be written".to_owned());
                    }
                    // Written down before it is written: the client's answer cannot come first.
                    setup.record(id, Leg::Client, Side::Server, &message);
                    if let Err(e) = connection.push(message, setup.write_timeout).await {
                        break by_proxy(format!("writing host -> client: {e}"));
                    }
                }
                None => {
                    let (cause, why) = match client.last_failure().as_deref() {
                        Some(msgframe_conn::Error::Disconnected(end)) => {
                            (event::cause(end), end.to_string())
                        }
                        Some(e) => ("error", e.to_string()),
                        None => ("peer_closed", "closed".to_owned()),
                    };
                    break Relayed {
                        reason: format!("host side: {why}"),
                        first: Side::Server,
                        client_ended: false,
                        host_ended: true,
                        host: Some((cause, why)),
                    };
                }
            },
            end = connection.closed() => {
                // The client closed or broke it, or the proxy closed it (reaped, shutting down).
                let first = match *end {
                    Disconnect::PeerClosed | Disconnect::Read(_) | Disconnect::Write(_) => {
                        Side::Client
                    }
                    _ => Side::Server,
                };
                break Relayed {
                    reason: format!("client side: {end}"),
                    first,
                    client_ended: true,
                    host_ended: false,
                    host: Some(("closed", "closed by the proxy: the client side ended".to_owned())),
                };
            }
        }
    };
    client.close().await;
    relayed
}

/// Opens connection `id`'s host leg in the pcap: from the upstream connection's local address
/// to the host's address it connected to.
fn open_host_leg(setup: &Setup, id: u64, client: &LongClient) {
    let Some(recording) = &setup.recording else {
        return;
    };
    let mut events = client.events();
    let mut host = None;
    while let Ok(event) = events.try_recv() {
        if let Event::Connected { addr, .. } = event {
            host = Some(addr);
        }
    }
    if let Some(host) = host {
        let local = record::upstream_end(client.local_addr(), host);
        recording.host_opened(id, local, host);
    }
}

/// Which side of a client's connection: the client's, or the host's.
fn side_name(side: Side) -> &'static str {
    match side {
        Side::Client => "client",
        Side::Server => "host",
    }
}

/// A log line starting with the time: text, dimmed (or red when `bad`).
fn timed_line(style: &Style, text: &str, bad: bool) -> Result<()> {
    let text = if bad {
        style.bad(text)
    } else {
        style.dim(text)
    };
    outln!("{} {text}", dump::now())?;
    crate::out::flush()
}

/// Connection `id`'s client (`peer`: the client) or host (`peer`: the host) side connected.
fn log_connected(setup: &Setup, id: u64, side: Side, peer: &str) -> Result<()> {
    if setup.style.json {
        dump::json_line(json!({
            "event": "connected",
            "ts": dump::now(),
            "connection": id,
            "side": side_name(side),
            "peer": peer,
        }))?;
        return crate::out::flush();
    }
    let text = format!("#{id} {} {peer} connected", side_name(side));
    timed_line(&setup.style, &text, false)
}

/// The host side of connection `id` could not connect.
fn log_connect_failed(setup: &Setup, id: u64, peer: &str, reason: &str) -> Result<()> {
    if setup.style.json {
        dump::json_line(json!({
            "event": "connect_failed",
            "ts": dump::now(),
            "connection": id,
            "side": "host",
            "peer": peer,
            "reason": reason,
        }))?;
        return crate::out::flush();
    }
    let text = format!("#{id} host {peer} not connected: {reason}");
    timed_line(&setup.style, &text, true)
}

/// One side of a connection closed.
struct Closed<'a> {
    side: Side,
    peer: &'a str,
    /// A short name for why ([`event::cause`]).
    cause: &'static str,
    reason: &'a str,
    /// Closed as connections close, not by an error.
    clean: bool,
}

fn log_closed(setup: &Setup, id: u64, closed: &Closed<'_>) -> Result<()> {
    if setup.style.json {
        dump::json_line(json!({
            "event": "closed",
            "ts": dump::now(),
            "connection": id,
            "side": side_name(closed.side),
            "peer": closed.peer,
            "cause": closed.cause,
            "reason": closed.reason,
        }))?;
        return crate::out::flush();
    }
    let text = format!(
        "#{id} {} {} closed: {}",
        side_name(closed.side),
        closed.peer,
        closed.reason
    );
    timed_line(&setup.style, &text, !closed.clean)
}

/// Logs a note on a connection; `false` when the log cannot be written (the server is stopping).
fn note(setup: &Setup, id: u64, text: &str) -> bool {
    let written = if setup.style.json {
        dump::json_line(json!({"event": "note", "ts": dump::now(), "connection": id, "text": text}))
            .and_then(|()| crate::out::flush())
    } else {
        timed_line(&setup.style, &format!("#{id} {text}"), true)
    };
    setup.stop.check(written)
}

/// Logs a message (a host message with the time since the client message it answers); `false`
/// when the log cannot be written (the server is stopping).
fn show(
    setup: &Setup,
    id: u64,
    direction: &str,
    message: &[u8],
    latency: Option<Duration>,
) -> bool {
    setup
        .stop
        .check(log(setup, id, direction, message, latency))
}

fn log(
    setup: &Setup,
    id: u64,
    direction: &str,
    message: &[u8],
    latency: Option<Duration>,
) -> Result<()> {
    let style = &setup.style;
    if style.json {
        dump::json_line(json!({
            "event": "message",
            "ts": dump::now(),
            "connection": id,
            "direction": direction,
            "length": message.len(),
            "latency_ms": latency.map(dump::millis),
            "at_ms": dump::millis(setup.started.elapsed()),
            "hex": hex::display(message).to_string(),
        }))?;
    } else {
        let after = match latency {
            Some(latency) => format!(" in {}", dump::duration(latency)),
            None => String::new(),
        };
        let head = format!("#{id} {direction}: {} bytes{after}", message.len());
        if setup.quiet {
            outln!("{} {head}", dump::now())?;
        } else {
            out!(
                "{} {}\n{}",
                dump::now(),
                style.heading(&head),
                style.hexdump(message, "  ")
            )?;
        }
    }
    crate::out::flush()
}
