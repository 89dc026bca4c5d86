//! `msgframe send`: send messages to a host and show its replies.

use std::time::{Duration, Instant};

use bytes::Bytes;
use msgframe_codec::header::hex;
use msgframe_conn::{Backoff, LongClient, ShortClient};
use serde_json::json;

use crate::cli::{OutputMode, SendArgs};
use crate::dump::{self, Style};
use crate::error::{Failure, Result};
use crate::input;
use crate::out::{errln, out, outln};

/// The message to send: --hex, --file, or stdin.
fn message(args: &SendArgs) -> Result<Vec<u8>> {
    match (&args.hex, &args.file) {
        (Some(hex), _) => input::hex(hex),
        (None, Some(path)) => input::read_file(path),
        (None, None) => input::read_file(std::path::Path::new("-")),
    }
}

pub async fn run(args: SendArgs) -> Result<()> {
    let framing = input::framing(&args.framing)?;
    let reply_framing = match &args.reply_framing {
        Some(spec) => input::framing(spec)?,
        None => framing.clone(),
    };
    let body = Bytes::from(message(&args)?);
    // Refuse a message the framing cannot carry before connecting.
    input::frameable(&framing, &args.framing, &body, "the message")?;
    let tls = input::client_tls(
        args.tls.tls,
        args.tls.ca.as_deref(),
        args.tls.cert.as_deref().zip(args.tls.key.as_deref()),
        args.tls.server_name.as_deref(),
        args.tls.insecure,
    )?;
    let style = Style::new(args.common.json);
    let mut shown = Shown {
        style,
        mode: args.out,
        quiet: args.quiet,
        count: 0,
    };
    if args.short {
        let mut client = ShortClient::new(framing)
            .reply_framing(reply_framing)
            .connect_timeout(args.timeout)
            .timeout(args.timeout)
            .close(args.short_args.close)
            .local_addresses(args.short_args.local_addresses.iter().copied());
        if let Some(tls) = tls {
            client = client.tls(tls);
        }
        for i in 1..=args.repeat {
            let start = Instant::now();
            let reply = client.request(&args.to, &body).await?;
            shown.reply(i, &reply, start.elapsed())?;
        }
        return Ok(());
    }
    if args.reply_framing.is_some() {
        return Err(Failure::usage(
            "--reply-framing needs --short (a long connection uses one framing both ways)",
        ));
    }
    let mut builder = LongClient::builder([args.to.clone()], framing)
        .connect_timeout(args.timeout)
        // One attempt is what a user of `send` wants: no retrying in the background.
        .backoff(Backoff::new(
            Duration::from_secs(3600),
            Duration::from_secs(3600),
        ))
        .timeout(args.timeout);
    if let Some(tls) = tls {
        builder = builder.tls(tls);
    }
    if let Some(inbound) = &args.simplex_in {
        builder = builder.simplex_dial([inbound.clone()]);
    }
    let mut client = builder.start()?;
    let mut events = client.events();
    // The client's first events say whether it got connected, or why not.
    let connected = match tokio::time::timeout(args.timeout, connection_outcome(&mut events)).await
    {
        Ok(outcome) => outcome.map_err(Failure::peer),
        Err(_) => Err(Failure::peer(format!(
            "not connected to {} within {:?}",
            args.to, args.timeout
        ))),
    };
    if let Err(e) = connected {
        client.close().await;
        return Err(e);
    }
    let result = exchange(&args, &client, &body, &mut shown).await;
    if result.is_ok() && args.keep_open {
        // Until the host closes (or Ctrl-C ends the program).
        loop {
            tokio::select! {
                message = client.recv() => match message {
                    Some(message) => shown.unsolicited(&message)?,
                    None => break,
                },
                event = events.recv() => match event {
                    Ok(msgframe_conn::Event::Disconnected { reason, .. }) => {
                        if !shown.style.json {
                            errln!("{}", shown.style.dim(&format!("connection ended: {reason}")));
                        }
                        break;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    _ => {}
                },
            }
        }
    }
    client.close().await;
    result
}

async fn exchange(
    args: &SendArgs,
    client: &LongClient,
    body: &Bytes,
    shown: &mut Shown,
) -> Result<()> {
    for i in 1..=args.repeat {
        let start = Instant::now();
        if args.no_reply {
            client.send_timeout(body.clone(), args.timeout).await?;
            shown.sent(i, body.len(), start.elapsed())?;
        } else {
            let reply = client.request(body.clone(), args.timeout).await?;
            shown.reply(i, &reply, start.elapsed())?;
        }
    }
    Ok(())
}

/// The first connection failure among the client's events.
/// Connected, or why not: the first connection failure, or a connection lost at once (a TLS
/// client certificate refused after the handshake).
async fn connection_outcome(
    events: &mut tokio::sync::broadcast::Receiver<msgframe_conn::Event>,
) -> std::result::Result<(), String> {
    use msgframe_conn::Event;
    loop {
        match events.recv().await {
            Ok(Event::ConnectFailed { error, .. }) => return Err(error.to_string()),
            Ok(Event::Disconnected { reason, .. }) => return Err(reason.to_string()),
            // Give a connection a moment to be refused after its handshake.
            Ok(Event::Connected { .. }) => {
                match tokio::time::timeout(Duration::from_millis(50), events.recv()).await {
                    Ok(Ok(Event::Disconnected { reason, .. })) => return Err(reason.to_string()),
                    _ => return Ok(()),
                }
            }
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(_) => return Err("the client stopped".into()),
        }
    }
}

struct Shown {
    style: Style,
    mode: OutputMode,
    /// One line per message, without the hex dump.
    quiet: bool,
    count: u64,
}

impl Shown {
    fn reply(&mut self, index: u64, reply: &[u8], rtt: Duration) -> Result<()> {
        self.count += 1;
        if self.style.json {
            return dump::json_line(json!({
                "event": "reply",
                "index": index,
                "length": reply.len(),
                "rtt_ms": dump::millis(rtt),
                "hex": hex::display(reply).to_string(),
            }));
        }
        match self.mode {
            OutputMode::Raw => crate::out::bytes(reply),
            OutputMode::Dump => {
                outln!(
                    "{}",
                    self.style.heading(&format!(
                        "reply {index}: {} bytes in {:.3} ms",
                        reply.len(),
                        dump::millis(rtt)
                    ))
                )?;
                self.dump(reply)
            }
        }
    }

    fn sent(&mut self, index: u64, len: usize, took: Duration) -> Result<()> {
        if self.style.json {
            dump::json_line(json!({
                "event": "sent",
                "index": index,
                "length": len,
                "ms": dump::millis(took),
            }))
        } else if self.mode == OutputMode::Dump {
            outln!("sent {index}: {len} bytes in {:.3} ms", dump::millis(took))
        } else {
            Ok(())
        }
    }

    fn unsolicited(&mut self, message: &[u8]) -> Result<()> {
        if self.style.json {
            return dump::json_line(json!({
                "event": "message",
                "length": message.len(),
                "hex": hex::display(message).to_string(),
            }));
        }
        match self.mode {
            OutputMode::Raw => crate::out::bytes(message),
            OutputMode::Dump => {
                outln!(
                    "{}",
                    self.style
                        .heading(&format!("message from the host: {} bytes", message.len()))
                )?;
                self.dump(message)
            }
        }
    }

    /// The hex dump under a message's heading, unless quiet.
    fn dump(&self, message: &[u8]) -> Result<()> {
        if self.quiet {
            return Ok(());
        }
        out!("{}", self.style.hexdump(message, "  "))
    }
}
