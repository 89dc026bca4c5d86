//! `msgframe proxy`: a logging man-in-the-middle that can re-frame between two framings.
//!
//! It runs on the library's server and long client: the clients' side gets the caps, allow and
//! deny lists, idle reaping, per-message deadlines, keepalive and TLS of `serve`; each accepted
//! connection opens its own upstream connection at once (a host may speak first), and each
//! direction is relayed on its own (a host may send without being asked). When either side ends,
//! both connections close.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use msgframe_codec::header::hex;
use msgframe_codec::Framing;
use msgframe_conn::{Connection, Handler, LongClient, LongSender, Reply};
use serde_json::json;
use tokio::sync::watch;

use crate::cli::ProxyArgs;
use crate::cmd::serve::{announce_listening, listen_addr, server_builder, Stop};
use crate::dump::{self, Style};
use crate::error::{Failure, Result};
use crate::input;
use crate::out::{out, outln};

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
    let builder =
        server_builder(client_framing, &args.limits, &args.tls)?.write_timeout(args.write_timeout);
    let addr = listen_addr(&args.listen);
    let server = builder
        .bind(addr.as_str())
        .await
        .map_err(|e| Failure::usage(format!("cannot listen on {addr}: {e}")))?;
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
        if tokio::signal::ctrl_c().await.is_ok() {
            handle.shutdown();
        }
    });
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
        }),
        upstreams: Arc::default(),
    };
    server.serve(proxy).await?;
    stop.outcome()
}

impl Handler for Proxy {
    type Future = Pin<Box<dyn Future<Output = Reply> + Send>>;

    fn opened(&self, connection: &Connection) {
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
        if !show(&setup, connection.id(), "client -> host", &message) {
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
    let reason = relay(&setup, &connection, &ready).await;
    ready.send_replace(Upstream::Gone);
    note(&setup, id, &format!("closed: {reason}"));
    connection.close();
    if let Ok(mut upstreams) = upstreams.lock() {
        upstreams.remove(&id);
    }
}

/// Relays the host's messages to the client; returns why it stopped.
async fn relay(setup: &Setup, connection: &Connection, ready: &watch::Sender<Upstream>) -> String {
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
        Err(e) => return format!("connecting to {}: {e}", setup.to),
    };
    if let Err(e) = client.wait_connected(setup.connect_timeout).await {
        client.close().await;
        return format!("connecting to {}: {e}", setup.to);
    }
    let connected = format!("{} connected; relaying to {}", connection.peer(), setup.to);
    if !note(setup, id, &connected) {
        client.close().await;
        return "the log cannot be written".to_owned();
    }
    ready.send_replace(Upstream::Ready(client.sender()));
    let reason = loop {
        tokio::select! {
            message = client.recv() => match message {
                Some(message) => {
                    if !show(setup, id, "host -> client", &message) {
                        break "the log cannot be written".to_owned();
                    }
                    if let Err(e) = connection.push(message, setup.write_timeout).await {
                        break format!("writing host -> client: {e}");
                    }
                }
                None => {
                    break match client.last_failure() {
                        Some(e) => format!("host side: {e}"),
                        None => "host side: closed".to_owned(),
                    }
                }
            },
            cause = connection.closed() => break format!("client side: {cause}"),
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
