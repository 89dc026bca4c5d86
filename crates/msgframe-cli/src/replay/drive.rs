//! Playing scripts against the new host: connections to `--to` only, requests in captured order
//! and pace, every reply read (while waiting, pacing and writing alike) and timed.

use std::time::Duration;

use bytes::Bytes;
use msgframe_codec::Framing;
use msgframe_tokio::{MessageReader, MessageWriter};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::plan::{Request, Script};

/// Where replays go: the only address a replay ever connects to.
pub struct Target {
    /// `HOST:PORT`, as `--to` gives it.
    pub to: String,
    pub tls: Option<msgframe_conn::tls::TlsConnector>,
}

/// How the messages cross.
pub struct Settings {
    pub framing: Framing,
    pub reply_framing: Framing,
    /// The longest wait to connect, for a write, and for each reply expected.
    pub timeout: Duration,
    /// How long a connection stays open after its last expected reply, to catch replies the
    /// capture does not have; `None`: [`SETTLE`] for a conversation of several requests, none
    /// for a single exchange.
    pub settle: Option<Duration>,
}

/// How long a connection of several requests stays open after its last expected reply, unless
/// told otherwise.
pub const SETTLE: Duration = Duration::from_millis(100);

/// When requests go out.
pub enum Pacing {
    /// As soon as the replies captured before them have come.
    Fast,
    /// At their captured times, counted from `start` for the capture time `origin`.
    Captured { origin: Duration, start: Instant },
    /// At most one every `interval`, across all connections: the next slot free.
    Rate {
        interval: Duration,
        next: Mutex<Instant>,
    },
}

impl Pacing {
    /// When a request captured at `time` may go (a rate's slot is taken by asking).
    async fn when(&self, time: Duration) -> Instant {
        match self {
            Pacing::Fast => Instant::now(),
            Pacing::Captured { origin, start } => *start + time.saturating_sub(*origin),
            Pacing::Rate { interval, next } => {
                let mut next = next.lock().await;
                let slot = (*next).max(Instant::now());
                *next = slot + *interval;
                slot
            }
        }
    }
}

/// What one script's replay saw.
#[derive(Debug, Default)]
pub struct Played {
    /// When each request was sent; `None` for one not sent (no connection, a failed write).
    pub sent: Vec<Option<Instant>>,
    /// The new host's replies, in arrival order (connection after connection).
    pub replies: Vec<(Bytes, Instant)>,
    /// What happened to the connections beyond messages: refused, closed by the host early, a
    /// reply that was not a valid frame, a failed write.
    pub notes: Vec<String>,
    /// Connections opened.
    pub connections: usize,
}

/// Plays `script`: over one connection, or with `short` one connection per request (each
/// waiting for the replies the capture holds between it and the next request).
pub async fn play(
    script: &Script,
    short: bool,
    target: &Target,
    settings: &Settings,
    pacing: &Pacing,
) -> Played {
    let mut played = Played {
        sent: vec![None; script.requests.len()],
        ..Played::default()
    };
    let all: Vec<usize> = (0..script.requests.len()).collect();
    if !short {
        let steps: Vec<Step<'_>> = all
            .iter()
            .map(|&i| Step {
                index: i,
                request: &script.requests[i],
                wait_for: script.requests[i].replies_before,
            })
            .collect();
        let settle = settings.settle.unwrap_or(if steps.len() > 1 {
            SETTLE
        } else {
            Duration::ZERO
        });
        connection(
            &steps,
            script.replies.len(),
            settle,
            target,
            settings,
            pacing,
            &mut played,
        )
        .await;
        return played;
    }
    for i in all {
        let request = &script.requests[i];
        let from = if i == 0 { 0 } else { request.replies_before };
        let to = script
            .requests
            .get(i + 1)
            .map_or(script.replies.len(), |next| next.replies_before);
        let step = Step {
            index: i,
            request,
            wait_for: 0,
        };
        connection(
            &[step],
            to.saturating_sub(from),
            settings.settle.unwrap_or(Duration::ZERO),
            target,
            settings,
            pacing,
            &mut played,
        )
        .await;
    }
    played
}

/// A request to send on a connection, after `wait_for` of its replies.
struct Step<'a> {
    index: usize,
    request: &'a Request,
    wait_for: usize,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Connects to the target, over TLS when asked.
async fn connect(target: &Target, timeout: Duration) -> Result<Box<dyn Io>, String> {
    let tcp = match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&target.to)).await
    {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => return Err(format!("connecting to {}: {e}", target.to)),
        Err(_) => {
            return Err(format!(
                "connecting to {}: no answer within {timeout:?}",
                target.to
            ))
        }
    };
    let _ = tcp.set_nodelay(true);
    match &target.tls {
        None => Ok(Box::new(tcp)),
        Some(tls) => tls
            .connect(&target.to, tcp, timeout)
            .await
            .map(|s| Box::new(s) as Box<dyn Io>)
            .map_err(|e| e.to_string()),
    }
}

/// One connection: the steps in order, then the replies still expected (`expect` in all on this
/// connection), then `settle` for more.
async fn connection(
    steps: &[Step<'_>],
    expect: usize,
    settle: Duration,
    target: &Target,
    settings: &Settings,
    pacing: &Pacing,
    played: &mut Played,
) {
    if let (Pacing::Captured { .. }, Some(first)) = (pacing, steps.first()) {
        // At the captured pace, a connection opens when its first request is due, not before.
        tokio::time::sleep_until(pacing.when(first.request.message.time).await).await;
    }
    let stream = match connect(target, settings.timeout).await {
        Ok(stream) => stream,
        Err(why) => {
            played.notes.push(why);
            return;
        }
    };
    played.connections += 1;
    let (read, write) = tokio::io::split(stream);
    let mut link = Link {
        reader: MessageReader::new(read, settings.reply_framing.clone()),
        open: true,
        got: 0,
        last: Instant::now(),
        timeout: settings.timeout,
    };
    let mut writer = MessageWriter::new(write, settings.framing.clone());
    for step in steps {
        // The replies the capture had before this request.
        link.wait_for(step.wait_for, played).await;
        let when = pacing.when(step.request.message.time).await;
        link.until(when, played).await;
        match link
            .send(&mut writer, &step.request.message.body, played)
            .await
        {
            Ok(at) => played.sent[step.index] = Some(at),
            Err(why) => {
                played.notes.push(why);
                break;
            }
        }
    }
    if matches!(settings.framing, Framing::UntilEof(_)) {
        // The last request ends where the stream does.
        let _ = tokio::time::timeout(settings.timeout, writer.shutdown()).await;
    }
    link.wait_for(expect, played).await;
    if link.open && !settle.is_zero() {
        link.until(Instant::now() + settle, played).await;
    }
    let _ = tokio::time::timeout(Duration::from_millis(200), writer.shutdown()).await;
}

/// The reading side of a connection.
struct Link<R> {
    reader: MessageReader<R, Framing>,
    /// Until the host closes, or sends something that is not a frame.
    open: bool,
    /// Replies so far on this connection.
    got: usize,
    /// The last send or reply: a wait for a reply ends `timeout` after it.
    last: Instant,
    timeout: Duration,
}

impl<R: AsyncRead + Unpin> Link<R> {
    /// Reads until the connection has `count` replies, the host stops, or no reply came for
    /// the timeout.
    async fn wait_for(&mut self, count: usize, played: &mut Played) {
        while self.open && self.got < count {
            let deadline = self.last + self.timeout;
            match tokio::time::timeout_at(deadline, self.reader.read_message()).await {
                Ok(read) => self.take(read, played),
                Err(_) => return,
            }
        }
    }

    /// Reads whatever comes until `when`.
    async fn until(&mut self, when: Instant, played: &mut Played) {
        while self.open {
            match tokio::time::timeout_at(when, self.reader.read_message()).await {
                Ok(read) => self.take(read, played),
                Err(_) => return,
            }
        }
        tokio::time::sleep_until(when).await;
    }

    /// Sends `body` (reading replies meanwhile, so that neither side's buffers can fill up and
    /// wedge the connection); when it went, or why not.
    async fn send<W: AsyncWrite + Unpin>(
        &mut self,
        writer: &mut MessageWriter<W, Framing>,
        body: &[u8],
        played: &mut Played,
    ) -> Result<Instant, String> {
        writer
            .start_message(body)
            .map_err(|e| format!("a request cannot be framed: {e}"))?;
        let deadline = Instant::now() + self.timeout;
        loop {
            tokio::select! {
                written = tokio::time::timeout_at(deadline, writer.flush()) => {
                    return match written {
                        Ok(Ok(())) => {
                            self.last = Instant::now();
                            Ok(self.last)
                        }
                        Ok(Err(e)) => Err(format!("writing a request: {e}")),
                        Err(_) => Err(format!("a request not written within {:?}", self.timeout)),
                    };
                }
                read = self.reader.read_message(), if self.open => self.take(read, played),
            }
        }
    }

    fn take(&mut self, read: Result<Bytes, msgframe_io::Error>, played: &mut Played) {
        match read {
            Ok(body) => {
                self.last = Instant::now();
                self.got += 1;
                played.replies.push((body, self.last));
            }
            Err(msgframe_io::Error::Closed) => {
                self.open = false;
                played.notes.push(format!(
                    "the host closed the connection after {} repl{}",
                    self.got,
                    if self.got == 1 { "y" } else { "ies" }
                ));
            }
            Err(e) => {
                self.open = false;
                played.notes.push(format!("reading replies: {e}"));
            }
        }
    }
}
