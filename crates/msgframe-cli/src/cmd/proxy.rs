//! `msgframe proxy`: a logging man-in-the-middle that can re-frame between two framings.
//!
//! It runs on the library's server and long client: the clients' side gets the caps, allow and
//! deny lists, idle reaping, per-message deadlines, keepalive and TLS of `serve`; each accepted
//! connection opens its own upstream connection at once (a host may speak first), and each
//! direction is relayed on its own (a host may send without being asked). When either side ends,
//! both connections close.
//!
//! With `--pcap` and `--hex-dump`, every message is also written down as it crosses, as framed on
//! the client's side; the files are complete when the proxy stops (Ctrl-C, or SIGTERM).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use msgframe_capture::synth::Side;
use msgframe_codec::header::hex;
use msgframe_codec::{Encoder, Framing};
use msgframe_conn::{Connection, Handler, LongClient, LongSender, Reply};
use serde_json::json;
use tokio::sync::watch;

use crate::cli::ProxyArgs;
use crate::cmd::serve::{announce_listening, listen_addr, server_builder, Stop};
use crate::dump::{self, Style};
use crate::error::{Failure, Result};
use crate::input;
use crate::out::{errln, out, outln};
use crate::record::{self, Recording};

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
    /// The clients' framing: messages are written down as framed for them.
    client_framing: Framing,
    recording: Option<Recording>,
}

impl Setup {
    /// Writes down `message` of connection `id`, sent by `from`, as framed on the client's side.
    fn record(&self, id: u64, from: Side, message: &[u8]) {
        let Some(recording) = &self.recording else {
            return;
        };
        let mut framed = BytesMut::new();
        match self.client_framing.encode(message, &mut framed) {
            Ok(_) => recording.message(id, from, &framed),
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

/// The server's handler: each client message goes upstream; each connection gets its upstream.
struct Proxy {
    setup: Arc<Setup>,
    upstreams: Arc<Mutex<HashMap<u64, watch::Receiver<Upstream>>>>,
}

pub async fn run(args: ProxyArgs) -> Result<()> {
    let client_framing = input::framing(&args.framing)?;
    let host_framing = match &args.upstream_framing {
        Some(spec) => input::framing(spec)?,
        None => client_framing.clone(),
    };
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
        }),
        upstreams: Arc::default(),
    };
    let setup = Arc::clone(&proxy.setup);
    let served = server.serve(proxy).await;
    // Connections still open are closed in the files, which are then complete (also when the
    // log's reader went away).
    if let Some(recording) = &setup.recording {
        recording.finish()?;
    }
    served?;
    stop.outcome()
}

/// Ctrl-C, or (Unix) SIGTERM: the proxy stops.
async fn stop_signal() {
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

impl Handler for Proxy {
    type Future = Pin<Box<dyn Future<Output = Reply> + Send>>;

    fn opened(&self, connection: &Connection) {
        if let Some(recording) = &self.setup.recording {
            let local = record::local_end(self.setup.listening, connection.peer());
            recording.opened(connection.id(), connection.peer(), local);
        }
        let (tx, rx) = watch::channel(Upstream::Connecting);
        if let Ok(mut upstreams) = self.upstreams.lock() {
            upstreams.insert(connection.id(), rx);
        }
        tokio::spawn(upstream(
            Arc::clone(&self.setup),
            connection.clone(),
            tx,
            Arc::clone(&self.upstreams),
        ));
    }

    fn handle(&self, connection: Connection, message: Bytes) -> Self::Future {
        let setup = Arc::clone(&self.setup);
        let shown = show(&setup, connection.id(), "client -> host", &message);
        // The client sent it, whether or not the log could show it.
        setup.record(connection.id(), Side::Client, &message);
        if !shown {
            return Box::pin(async { Reply::Close });
        }
        let upstream = self
            .upstreams
            .lock()
            .ok()
            .and_then(|u| u.get(&connection.id()).cloned());
        Box::pin(async move {
            let Some(mut upstream) = upstream else {
                return Reply::Close;
            };
            let sender = match upstream
                .wait_for(|u| !matches!(u, Upstream::Connecting))
                .await
                .map(|u| u.clone())
            {
                Ok(Upstream::Ready(sender)) => sender,
                _ => return Reply::Close,
            };
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
/// until either side ends; then close both.
async fn upstream(
    setup: Arc<Setup>,
    connection: Connection,
    ready: watch::Sender<Upstream>,
    upstreams: Arc<Mutex<HashMap<u64, watch::Receiver<Upstream>>>>,
) {
    let id = connection.id();
    let (reason, first) = relay(&setup, &connection, &ready).await;
    ready.send_replace(Upstream::Gone);
    note(&setup, id, &format!("closed: {reason}"));
    if let Some(recording) = &setup.recording {
        recording.closed(id, first, &reason);
    }
    connection.close();
    if let Ok(mut upstreams) = upstreams.lock() {
        upstreams.remove(&id);
    }
}

/// Relays the host's messages to the client; returns why it stopped, and which side of the
/// client's connection closes it first: the client, or the proxy (for the host).
async fn relay(
    setup: &Setup,
    connection: &Connection,
    ready: &watch::Sender<Upstream>,
) -> (String, Side) {
    let id = connection.id();
    let mut builder = LongClient::builder([setup.to.clone()], setup.host_framing.clone())
        .reconnect(false)
        .connect_timeout(setup.connect_timeout)
        .timeout(setup.write_timeout);
    if let Some(tls) = &setup.connect_tls {
        builder = builder.tls(tls.clone());
    }
    let mut client = match builder.start() {
        Ok(client) => client,
        Err(e) => return (format!("connecting to {}: {e}", setup.to), Side::Server),
    };
    if let Err(e) = client.wait_connected(setup.connect_timeout).await {
        client.close().await;
        return (format!("connecting to {}: {e}", setup.to), Side::Server);
    }
    let connected = format!("{} connected; relaying to {}", connection.peer(), setup.to);
    if !note(setup, id, &connected) {
        client.close().await;
        return ("the log cannot be written".to_owned(), Side::Server);
    }
    ready.send_replace(Upstream::Ready(client.sender()));
    let reason = loop {
        tokio::select! {
            message = client.recv() => match message {
                Some(message) => {
                    if !show(setup, id, "host -> client", &message) {
                        // Not relayed, so not written down.
                        break ("the log cannot be written".to_owned(), Side::Server);
                    }
                    // Written down before it is written: the client's answer cannot come first.
                    setup.record(id, Side::Server, &message);
                    if let Err(e) = connection.push(message, setup.write_timeout).await {
                        break (format!("writing host -> client: {e}"), Side::Server);
                    }
                }
                None => {
                    break match client.last_failure() {
                        Some(e) => (format!("host side: {e}"), Side::Server),
                        None => ("host side: closed".to_owned(), Side::Server),
                    }
                }
            },
            cause = connection.closed() => {
                // The client closed or broke it, or the proxy closed it (reaped, shutting down).
                let first = match *cause {
                    msgframe_conn::Disconnect::PeerClosed
                    | msgframe_conn::Disconnect::Read(_)
                    | msgframe_conn::Disconnect::Write(_) => Side::Client,
                    _ => Side::Server,
                };
                break (format!("client side: {cause}"), first);
            }
        }
    };
    client.close().await;
    reason
}

/// Logs a note on a connection; `false` when the log cannot be written (the server is stopping).
fn note(setup: &Setup, id: u64, text: &str) -> bool {
    let written = if setup.style.json {
        dump::json_line(json!({"event": "note", "connection": id, "text": text}))
    } else {
        outln!("{}", setup.style.dim(&format!("#{id} {text}")))
    };
    setup.stop.check(written.and_then(|()| crate::out::flush()))
}

/// Logs a message; `false` when the log cannot be written (the server is stopping).
fn show(setup: &Setup, id: u64, direction: &str, message: &[u8]) -> bool {
    setup.stop.check(log(setup, id, direction, message))
}

fn log(setup: &Setup, id: u64, direction: &str, message: &[u8]) -> Result<()> {
    let style = &setup.style;
    if style.json {
        dump::json_line(json!({
            "event": "message",
            "connection": id,
            "direction": direction,
            "length": message.len(),
            "at_ms": dump::millis(setup.started.elapsed()),
            "hex": hex::display(message).to_string(),
        }))?;
    } else {
        let head = format!("#{id} {direction}: {} bytes", message.len());
        if setup.quiet {
            outln!("{head}")?;
        } else {
            out!("{}\n{}", style.heading(&head), style.hexdump(message, "  "))?;
        }
    }
    crate::out::flush()
}
