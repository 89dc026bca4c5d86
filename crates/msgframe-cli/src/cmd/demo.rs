//! `msgframe demo`: a mock host and a client in one process, exchanging messages in several
//! framings over loopback, with a tap between them that shows the bytes on the wire.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use msgframe_conn::{Connection, LongClient, Reply, Server, ShortClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::dump::Style;
use crate::error::{Failure, Result};
use crate::input;
use crate::out::{out, outln};

const TIMEOUT: Duration = Duration::from_secs(5);

struct Scenario {
    title: &'static str,
    spec: &'static str,
    request: &'static [u8],
    short: bool,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        title: "ISO 8583 host, length in 4 ASCII digits",
        spec: "ascii:4",
        request: b"0800 network echo",
        short: false,
    },
    Scenario {
        title: "ISO 8583 over POS, length in 2 bytes of packed BCD",
        spec: "bcd:2",
        request: b"0200 purchase 12.50",
        short: false,
    },
    Scenario {
        title: "2-byte big-endian binary length",
        spec: "be:2",
        request: b"0800 sign-on",
        short: false,
    },
    Scenario {
        title: "CMPP-style: a 4-byte length counting the whole PDU",
        spec: "be:4,counts-header",
        // ACTIVE_TEST: command id 0x00000008, sequence id 1.
        request: b"\x00\x00\x00\x08\x00\x00\x00\x01",
        short: false,
    },
    Scenario {
        title: "ETX-terminated messages",
        spec: "delim:03",
        request: b"STATUS?",
        short: false,
    },
    Scenario {
        title: "short connection: the message ends when the sender closes",
        spec: "eof",
        request: b"<request>balance</request>",
        short: true,
    },
];

/// The host's answer: an ISO 8583-like request gets its response MTI (0800 -> 0810), a
/// CMPP-like one its response command id (ACTIVE_TEST 0x00000008 -> ACTIVE_TEST_RESP
/// 0x80000008, plus the reserved byte), anything else comes back prefixed with `ok:`.
async fn host(_conn: Connection, request: Bytes) -> Reply {
    let mut reply = request.to_vec();
    if reply.len() >= 4 && reply[..4].iter().all(u8::is_ascii_digit) && reply[2] == b'0' {
        reply[2] = b'1';
    } else if reply.len() >= 8 && reply[0] == 0 {
        reply[0] = 0x80;
        reply.push(0);
    } else {
        reply.splice(0..0, b"ok:".iter().copied());
    }
    Reply::Send(reply.into())
}

pub async fn run() -> Result<()> {
    let style = Style::new(false);
    outln!(
        "{}",
        style.heading("msgframe demo: a mock host and a client on loopback, a tap between them")
    )?;
    for scenario in SCENARIOS {
        run_one(&style, scenario).await?;
    }
    run_pair(&style).await?;
    outln!("\nEvery exchange above crossed real TCP connections on 127.0.0.1.")?;
    Ok(())
}

async fn run_one(style: &Style, s: &Scenario) -> Result<()> {
    let framing = input::framing(s.spec)?;
    let server = Server::builder(framing.clone())
        .bind("127.0.0.1:0")
        .await
        .map_err(|e| Failure::peer(format!("demo host: {e}")))?;
    let host_addr = server.local_addr();
    let handle = server.handle();
    let serving = tokio::spawn(server.serve(host));
    let (tap_addr, wire) = tap(host_addr).await?;

    outln!(
        "\n{}",
        style.heading(&format!("{}  (--framing {})", s.title, s.spec))
    )?;
    let reply = if s.short {
        ShortClient::new(framing)
            .timeout(TIMEOUT)
            .request(&tap_addr.to_string(), s.request)
            .await?
    } else {
        let client = LongClient::builder([tap_addr.to_string()], framing).start()?;
        let reply = client.request(Bytes::from_static(s.request), TIMEOUT).await;
        client.close().await;
        reply?
    };
    // Let the tap see both ends close.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (to_host, to_client) = {
        let wire = wire.lock().map_err(|_| Failure::peer("demo tap failed"))?;
        (wire.0.clone(), wire.1.clone())
    };
    outln!("  client sends {}", shown(s.request))?;
    outln!("  on the wire, client -> host ({} bytes):", to_host.len())?;
    out!("{}", style.hexdump(&to_host, "    "))?;
    outln!("  on the wire, host -> client ({} bytes):", to_client.len())?;
    out!("{}", style.hexdump(&to_client, "    "))?;
    outln!("  client receives {}", shown(&reply))?;
    handle.shutdown();
    let _ = serving.await;
    Ok(())
}

/// Two links (simplex): the request goes out on one connection, the reply comes back on another.
async fn run_pair(style: &Style) -> Result<()> {
    let spec = "bcd:2";
    let framing = input::framing(spec)?;
    let builder = Server::builder(framing.clone())
        .simplex_return("127.0.0.1:0", TIMEOUT)
        .map_err(|e| Failure::peer(format!("demo host: {e}")))?;
    let return_addr = builder
        .simplex_return_addr()
        .ok_or_else(|| Failure::peer("demo host: no return link listener"))?;
    let server = builder
        .bind("127.0.0.1:0")
        .await
        .map_err(|e| Failure::peer(format!("demo host: {e}")))?;
    let host_addr = server.local_addr();
    let handle = server.handle();
    let serving = tokio::spawn(server.serve(host));
    let (out_tap, out_wire) = tap(host_addr).await?;
    let (in_tap, in_wire) = tap(return_addr).await?;
    outln!(
        "\n{}",
        style.heading(&format!(
            "two links (simplex): out on one connection, back on another  (--framing {spec}, send --simplex-in)"
        ))
    )?;
    let request = b"0200 purchase 99.00";
    let client = LongClient::builder([out_tap.to_string()], framing)
        .simplex_dial([in_tap.to_string()])
        .start()?;
    let reply = client.request(Bytes::from_static(request), TIMEOUT).await;
    client.close().await;
    let reply = reply?;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let recorded = |wire: &Wire, to_host: bool| {
        wire.lock()
            .map(|w| if to_host { w.0.clone() } else { w.1.clone() })
            .map_err(|_| Failure::peer("demo tap failed"))
    };
    let (sent, back) = (recorded(&out_wire, true)?, recorded(&in_wire, false)?);
    outln!("  client sends {}", shown(request))?;
    outln!(
        "  on the outbound link, client -> host ({} bytes):",
        sent.len()
    )?;
    out!("{}", style.hexdump(&sent, "    "))?;
    outln!(
        "  on the inbound link, host -> client ({} bytes):",
        back.len()
    )?;
    out!("{}", style.hexdump(&back, "    "))?;
    outln!("  client receives {}", shown(&reply))?;
    handle.shutdown();
    let _ = serving.await;
    Ok(())
}

type Wire = Arc<Mutex<(Vec<u8>, Vec<u8>)>>;

/// A relay in front of `host` that records the bytes of its first connection, both ways.
async fn tap(host: SocketAddr) -> Result<(SocketAddr, Wire)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let wire: Wire = Arc::default();
    let recorded = Arc::clone(&wire);
    tokio::spawn(async move {
        let Ok((client, _)) = listener.accept().await else {
            return;
        };
        let Ok(upstream) = TcpStream::connect(host).await else {
            return;
        };
        let (cr, cw) = client.into_split();
        let (ur, uw) = upstream.into_split();
        let a = copy(cr, uw, Arc::clone(&recorded), true);
        let b = copy(ur, cw, recorded, false);
        let _ = tokio::join!(a, b);
    });
    Ok((addr, wire))
}

async fn copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    wire: Wire,
    to_host: bool,
) {
    let mut buf = [0u8; 4096];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Ok(mut w) = wire.lock() {
            if to_host {
                w.0.extend_from_slice(&buf[..n]);
            } else {
                w.1.extend_from_slice(&buf[..n]);
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    // Pass the end of stream on (a short connection's request ends with it).
    let _ = to.shutdown().await;
}

/// Text in quotes, or bytes in hex when they are not printable.
fn shown(bytes: &[u8]) -> String {
    if bytes.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("{:?}", String::from_utf8_lossy(bytes))
    } else {
        format!("{} (hex)", msgframe_codec::header::hex::display(bytes))
    }
}
