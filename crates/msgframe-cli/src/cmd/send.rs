//! `msgframe send`: send messages to a host and show its replies.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use bytes::Bytes;
use msgframe_codec::header::hex;
use msgframe_codec::Framing;
use msgframe_conn::{Backoff, LongClient, ShortClient};
use serde_json::json;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};

use crate::cli::{LineFormat, OutputMode, SendArgs};
use crate::dump::{self, Style};
use crate::error::{Failure, Result};
use crate::input;
use crate::out::{errln, out, outln};

/// The messages to send: one, repeated, or one per line.
enum Messages {
    /// The message of --hex, --file or stdin, `left` more times.
    Repeated { body: Bytes, left: u64 },
    /// One message per line.
    Lines(Box<Lines>),
}

/// Messages read one per line, each when it is wanted (a line typed is sent at once).
struct Lines {
    reader: Box<dyn AsyncBufRead + Unpin + Send>,
    /// Where the lines come from, for errors.
    source: String,
    format: LineFormat,
    /// A line that cannot be sent is reported and skipped, rather than ending the command.
    interactive: bool,
    /// Reports are JSON events too (--json).
    json: bool,
    /// The number of the last line read.
    number: u64,
    framing: Framing,
    spec: String,
}

impl Messages {
    /// The messages `args` name; a single message is read and checked before any connection.
    fn new(args: &SendArgs, framing: &Framing) -> Result<Messages> {
        if args.lines.is_none() && !args.interactive {
            let body = match (&args.hex, &args.file) {
                (Some(hex), _) => input::hex(hex)?,
                (None, Some(path)) => input::read_file(path)?,
                (None, None) => input::read_file(std::path::Path::new("-"))?,
            };
            // Refuse a message the framing cannot carry before connecting.
            input::frameable(framing, &args.framing, &body, "the message")?;
            return Ok(Messages::Repeated {
                body: body.into(),
                left: args.repeat,
            });
        }
        let (reader, source, terminal): (Box<dyn AsyncBufRead + Unpin + Send>, _, _) =
            match &args.file {
                // A file is read whole: its lines are all there already.
                Some(path) => (
                    Box::new(std::io::Cursor::new(input::read_file(path)?)),
                    path.display().to_string(),
                    false,
                ),
                None => (
                    Box::new(BufReader::new(tokio::io::stdin())),
                    "stdin".to_owned(),
                    std::io::stdin().is_terminal(),
                ),
            };
        Ok(Messages::Lines(Box::new(Lines {
            reader,
            source,
            format: args.lines.unwrap_or(LineFormat::Text),
            interactive: args.interactive || terminal,
            json: args.common.json,
            number: 0,
            framing: framing.clone(),
            spec: args.framing.clone(),
        })))
    }

    /// The next message, or `None` when there are no more.
    async fn next(&mut self) -> Result<Option<Bytes>> {
        match self {
            Messages::Repeated { body, left } => Ok((*left > 0).then(|| {
                *left -= 1;
                body.clone()
            })),
            Messages::Lines(lines) => lines.next().await,
        }
    }

    /// Whether a message that fails is reported and the next one sent.
    fn interactive(&self) -> bool {
        matches!(self, Messages::Lines(lines) if lines.interactive)
    }
}

impl Lines {
    async fn next(&mut self) -> Result<Option<Bytes>> {
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = self
                .reader
                .read_until(b'\n', &mut line)
                .await
                .map_err(|e| Failure::usage(format!("reading {}: {e}", self.source)))?;
            if read == 0 {
                return Ok(None);
            }
            self.number += 1;
            if line.ends_with(b"\n") {
                line.pop();
            }
            if line.ends_with(b"\r") {
                line.pop();
            }
            match self.message(&line) {
                Ok(Some(body)) => return Ok(Some(body)),
                Ok(None) => {}
                Err(e) if self.interactive => crate::out::report(&e, self.json),
                Err(e) => return Err(e),
            }
        }
    }

    /// The message on a line (without its line ending); `None` for a line to skip.
    fn message(&self, line: &[u8]) -> Result<Option<Bytes>> {
        let n = self.number;
        let body = match self.format {
            LineFormat::Text if line.is_empty() => return Ok(None),
            LineFormat::Text => line.to_vec(),
            LineFormat::Hex => {
                let text = String::from_utf8_lossy(line);
                let text = text.trim();
                if text.is_empty() || text.starts_with('#') {
                    return Ok(None);
                }
                input::hex(text).map_err(|e| Failure::usage(format!("line {n}: {}", e.message)))?
            }
        };
        input::frameable(&self.framing, &self.spec, &body, &format!("line {n}"))?;
        Ok(Some(body.into()))
    }
}

/// The connection(s) messages go out on.
enum Link {
    /// A new connection for every message.
    Short(Box<ShortClient>),
    /// One long connection.
    Long(LongClient),
}

pub async fn run(args: SendArgs) -> Result<()> {
    let framing = input::framing(&args.framing)?;
    let reply_framing = match &args.reply_framing {
        Some(spec) => input::framing(spec)?,
        None => framing.clone(),
    };
    let mut messages = Messages::new(&args, &framing)?;
    let tls = input::client_tls_of(&args.tls)?;
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
        greet(&args, &messages);
        return exchange(
            &args,
            &Link::Short(Box::new(client)),
            &mut messages,
            &mut shown,
        )
        .await;
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
    let client = builder.start()?;
    let mut events = client.events();
    // The client's first events say whether it got connected, or why not.
    let connected = match tokio::time::timeout(args.timeout, connection_outcome(&mut events)).await
    {
        Ok(outcome) => outcome.map_err(Failure::peer),
        Err(_) => Err(Failure::peer(format!(
            "not connected to {} within {}",
            args.to,
            dump::duration(args.timeout)
        ))),
    };
    if let Err(e) = connected {
        client.close().await;
        return Err(e);
    }
    greet(&args, &messages);
    let link = Link::Long(client);
    let result = exchange(&args, &link, &mut messages, &mut shown).await;
    let Link::Long(mut client) = link else {
        return result;
    };
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

/// In interactive use, says on stderr what to do.
fn greet(args: &SendArgs, messages: &Messages) {
    if let Messages::Lines(lines) = messages {
        if lines.interactive {
            let format = match lines.format {
                LineFormat::Text => "text",
                LineFormat::Hex => "hex",
            };
            errln!(
                "msgframe: sending to {} ({}): one message per line ({format}), Ctrl-D to end",
                args.to,
                args.framing
            );
        }
    }
}

/// Sends every message and shows what comes back. Interactive, a message that fails is
/// reported and the next one read.
async fn exchange(
    args: &SendArgs,
    link: &Link,
    messages: &mut Messages,
    shown: &mut Shown,
) -> Result<()> {
    let mut index = 0;
    while let Some(body) = messages.next().await? {
        index += 1;
        match exchange_one(args, link, body, index, shown).await {
            Err(e) if messages.interactive() && !e.is_stdout_closed() => {
                crate::out::report(&e, shown.style.json);
            }
            outcome => outcome?,
        }
    }
    Ok(())
}

async fn exchange_one(
    args: &SendArgs,
    link: &Link,
    body: Bytes,
    index: u64,
    shown: &mut Shown,
) -> Result<()> {
    let start = Instant::now();
    match link {
        Link::Short(client) => {
            let reply = client.request(&args.to, &body).await?;
            shown.reply(index, &reply, start.elapsed())
        }
        Link::Long(client) if args.no_reply => {
            let len = body.len();
            client.send_timeout(body, args.timeout).await?;
            shown.sent(index, len, start.elapsed())
        }
        Link::Long(client) => {
            let reply = client.request(body, args.timeout).await?;
            shown.reply(index, &reply, start.elapsed())
        }
    }
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
    /// A reply, `latency` after its request was handed over (connecting included with
    /// --short).
    fn reply(&mut self, index: u64, reply: &[u8], latency: Duration) -> Result<()> {
        self.count += 1;
        if self.style.json {
            return dump::json_line(json!({
                "event": "reply",
                "index": index,
                "length": reply.len(),
                "latency_ms": dump::millis(latency),
                "hex": hex::display(reply).to_string(),
            }));
        }
        match self.mode {
            OutputMode::Raw => crate::out::bytes(reply),
            OutputMode::Dump => {
                outln!(
                    "{}",
                    self.style.heading(&format!(
                        "reply {index}: {} bytes in {}",
                        reply.len(),
                        dump::duration(latency)
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
            outln!("sent {index}: {len} bytes in {}", dump::duration(took))
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
