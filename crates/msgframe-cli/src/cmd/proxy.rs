//! `msgframe proxy`: a logging man-in-the-middle that can re-frame between two framings.
//!
//! Each direction is relayed on its own (a host may send without being asked), so the proxy uses
//! `msgframe-tokio`'s message readers and writers directly rather than the request/reply server.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use msgframe_codec::header::hex;
use msgframe_codec::Framing;
use msgframe_tokio::{MessageReader, MessageWriter};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};

use crate::cli::ProxyArgs;
use crate::cmd::serve::{announce_listening, listen_addr};
use crate::dump::{self, Style};
use crate::error::{Failure, Result};
use crate::input;

type BoxRead = Box<dyn tokio::io::AsyncRead + Send + Unpin>;
type BoxWrite = Box<dyn tokio::io::AsyncWrite + Send + Unpin>;

struct Setup {
    to: String,
    /// TLS towards the clients (terminated here).
    accept_tls: Option<msgframe_conn::tls::TlsAcceptor>,
    /// TLS towards the host.
    connect_tls: Option<msgframe_conn::tls::TlsConnector>,
    client_framing: Framing,
    host_framing: Framing,
    connect_timeout: std::time::Duration,
    style: Style,
    quiet: bool,
    started: Instant,
}

pub async fn run(args: ProxyArgs) -> Result<()> {
    let client_framing = input::framing(&args.framing)?;
    let host_framing = match &args.upstream_framing {
        Some(spec) => input::framing(spec)?,
        None => client_framing.clone(),
    };
    let addr = listen_addr(&args.listen);
    let listener = TcpListener::bind(addr.as_str())
        .await
        .map_err(|e| Failure::usage(format!("cannot listen on {addr}: {e}")))?;
    let style = Style::new(args.common.json);
    let shown = match &args.upstream_framing {
        Some(up) => format!("{} <-> {up}", args.framing),
        None => args.framing.clone(),
    };
    announce_listening(&style, listener.local_addr()?, &shown)?;
    let accept_tls = input::server_tls(&args.tls)?;
    let up = &args.upstream_tls;
    let connect_tls = input::client_tls(
        up.upstream_tls,
        up.upstream_ca.as_deref(),
        up.upstream_cert.as_deref().zip(up.upstream_key.as_deref()),
        up.server_name.as_deref(),
        up.insecure,
    )?;
    let setup = Arc::new(Setup {
        to: args.to.clone(),
        accept_tls,
        connect_tls,
        client_framing,
        host_framing,
        connect_timeout: args.connect_timeout,
        style,
        quiet: args.quiet,
        started: Instant::now(),
    });
    let ids = AtomicU64::new(0);
    loop {
        let (client, peer) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let id = ids.fetch_add(1, Ordering::Relaxed) + 1;
        let setup = Arc::clone(&setup);
        tokio::spawn(async move {
            if let Err(e) = relay(&setup, id, client, peer).await {
                note(&setup, id, &e.message);
            }
        });
    }
}

fn note(setup: &Setup, id: u64, text: &str) {
    if setup.style.json {
        dump::json_line(json!({"event": "note", "connection": id, "text": text}));
    } else {
        println!("{}", setup.style.dim(&format!("#{id} {text}")));
    }
}

/// Splits a stream, plain or TLS, into boxed halves.
fn halves<S>(stream: S) -> (BoxRead, BoxWrite)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (r, w) = tokio::io::split(stream);
    (Box::new(r), Box::new(w))
}

async fn relay(setup: &Setup, id: u64, client: TcpStream, peer: SocketAddr) -> Result<()> {
    client.set_nodelay(true)?;
    let (client_read, client_write) = match &setup.accept_tls {
        Some(tls) => halves(tls.accept(client).await?),
        None => halves(client),
    };
    let host = tokio::time::timeout(setup.connect_timeout, TcpStream::connect(&setup.to))
        .await
        .map_err(|_| Failure::peer(format!("connecting to {}: timed out", setup.to)))?
        .map_err(|e| Failure::peer(format!("connecting to {}: {e}", setup.to)))?;
    host.set_nodelay(true)?;
    let (host_read, host_write) = match &setup.connect_tls {
        Some(tls) => halves(tls.connect(&setup.to, host, setup.connect_timeout).await?),
        None => halves(host),
    };
    note(
        setup,
        id,
        &format!("{peer} connected; relaying to {}", setup.to),
    );
    let upstream = pump(
        setup,
        id,
        "client -> host",
        MessageReader::new(client_read, setup.client_framing.clone()),
        MessageWriter::new(host_write, setup.host_framing.clone()),
    );
    let downstream = pump(
        setup,
        id,
        "host -> client",
        MessageReader::new(host_read, setup.host_framing.clone()),
        MessageWriter::new(client_write, setup.client_framing.clone()),
    );
    // When either side ends, both connections close.
    let ended = tokio::select! {
        r = upstream => r,
        r = downstream => r,
    };
    note(setup, id, &format!("closed: {ended}"));
    Ok(())
}

/// Relays messages from `reader` to `writer`, logging each; returns why it stopped.
async fn pump(
    setup: &Setup,
    id: u64,
    direction: &str,
    mut reader: MessageReader<BoxRead, Framing>,
    mut writer: MessageWriter<BoxWrite, Framing>,
) -> String {
    let side = if direction.starts_with("client") {
        "the client"
    } else {
        "the host"
    };
    loop {
        let message = match reader.read_message().await {
            Ok(m) => m,
            Err(e) if e.is_closed() => return format!("{side} closed"),
            Err(e) => return format!("{side}: {e}"),
        };
        show(setup, id, direction, &message);
        if let Err(e) = writer.write_message(&message).await {
            return format!("writing {direction}: {e}");
        }
    }
}

fn show(setup: &Setup, id: u64, direction: &str, message: &[u8]) {
    let style = &setup.style;
    if style.json {
        dump::json_line(json!({
            "event": "message",
            "connection": id,
            "direction": direction,
            "length": message.len(),
            "at_ms": dump::millis(setup.started.elapsed()),
            "hex": hex::display(message).to_string(),
        }));
    } else {
        let head = format!("#{id} {direction}: {} bytes", message.len());
        if setup.quiet {
            println!("{head}");
        } else {
            print!("{}\n{}", style.heading(&head), style.hexdump(message, "  "));
        }
    }
    let _ = std::io::Write::flush(&mut std::io::stdout());
}
