//! `msgframe send`: send messages to a host and show its replies.

use std::io::Write;
use std::time::{Duration, Instant};

use bytes::Bytes;
use msgframe_conn::{Backoff, LongClient, ShortClient};
use serde_json::json;

use crate::cli::{OutputMode, SendArgs};
use crate::dump::{self, Style};
use crate::error::{Failure, Result};
use crate::input;

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
    let mut probe = bytes::BytesMut::new();
    msgframe_codec::Encoder::encode(&framing, &body, &mut probe).map_err(|e| {
        Failure::usage(format!(
            "the message cannot be framed as {}: {e}",
            args.framing
        ))
    })?;
    let style = Style::new(args.common.json);
    let mut shown = Shown {
        style,
        mode: args.out,
        count: 0,
    };
    if args.short {
        let client = ShortClient::new(framing)
            .reply_framing(reply_framing)
            .connect_timeout(args.timeout)
            .timeout(args.timeout);
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
    let mut client = LongClient::builder([args.to.clone()], framing)
        .connect_timeout(args.timeout)
        // One attempt is what a user of `send` wants: no retrying in the background.
        .backoff(Backoff::new(
            Duration::from_secs(3600),
            Duration::from_secs(3600),
        ))
        .timeout(args.timeout)
        .start()?;
    let mut events = client.events();
    let connected = tokio::select! {
        connected = client.wait_connected(args.timeout) => connected.map_err(Failure::from),
        failed = first_failure(&mut events) => Err(Failure::peer(failed)),
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
                            eprintln!("{}", shown.style.dim(&format!("connection ended: {reason}")));
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
async fn first_failure(
    events: &mut tokio::sync::broadcast::Receiver<msgframe_conn::Event>,
) -> String {
    loop {
        match events.recv().await {
            Ok(msgframe_conn::Event::ConnectFailed { error, .. }) => return error,
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(_) => return "the client stopped".into(),
        }
    }
}

struct Shown {
    style: Style,
    mode: OutputMode,
    count: u64,
}

impl Shown {
    fn reply(&mut self, index: u64, reply: &[u8], rtt: Duration) -> Result<()> {
        self.count += 1;
        if self.style.json {
            dump::json_line(json!({
                "event": "reply",
                "index": index,
                "length": reply.len(),
                "rtt_ms": dump::millis(rtt),
                "hex": dump::hex(reply),
            }));
            return Ok(());
        }
        match self.mode {
            OutputMode::Raw => {
                let mut out = std::io::stdout().lock();
                out.write_all(reply)?;
                out.flush()?;
            }
            OutputMode::Dump => {
                println!(
                    "{}",
                    self.style.heading(&format!(
                        "reply {index}: {} bytes in {:.3} ms",
                        reply.len(),
                        dump::millis(rtt)
                    ))
                );
                print!("{}", self.style.hexdump(reply, "  "));
            }
        }
        Ok(())
    }

    fn sent(&mut self, index: u64, len: usize, took: Duration) -> Result<()> {
        if self.style.json {
            dump::json_line(json!({
                "event": "sent",
                "index": index,
                "length": len,
                "ms": dump::millis(took),
            }));
        } else if self.mode == OutputMode::Dump {
            println!("sent {index}: {len} bytes in {:.3} ms", dump::millis(took));
        }
        Ok(())
    }

    fn unsolicited(&mut self, message: &[u8]) -> Result<()> {
        if self.style.json {
            dump::json_line(json!({
                "event": "message",
                "length": message.len(),
                "hex": dump::hex(message),
            }));
            return Ok(());
        }
        match self.mode {
            OutputMode::Raw => {
                let mut out = std::io::stdout().lock();
                out.write_all(message)?;
                out.flush()?;
            }
            OutputMode::Dump => {
                println!(
                    "{}",
                    self.style
                        .heading(&format!("message from the host: {} bytes", message.len()))
                );
                print!("{}", self.style.hexdump(message, "  "));
            }
        }
        Ok(())
    }
}
