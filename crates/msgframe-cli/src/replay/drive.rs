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

/// Where replays go: the only addresses a replay ever connects to.
pub struct Target {
    /// `HOST:PORT`, as `--to` gives it.
    pub to: String,
    /// A simplex pair's second link, for the replies (`--simplex-in`).
    pub simplex_in: Option<String>,
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
    let mut played = Played::of(script);
    if !short {
        let steps = in_order(script);
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
    for (i, request) in script.requests.iter().enumerate() {
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

impl Played {
    /// Nothing played yet of `script`: no request sent.
    fn of(script: &Script) -> Self {
        Played {
            sent: vec![None; script.requests.len()],
            ..Played::default()
        }
    }
}

/// The requests of `script` in order on one connection, each after the replies captured before
/// it.
fn in_order(script: &Script) -> Vec<Step<'_>> {
    script
        .requests
        .iter()
        .enumerate()
        .map(|(index, request)| Step {
            index,
            request,
            wait_for: request.replies_before,
        })
        .collect()
}

/// A request to send on a connection, after `wait_for` of its replies.
struct Step<'a> {
    index: usize,
    request: &'a Request,
    wait_for: usize,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Connects to `to` (the target's `--to` or `--simplex-in`), over TLS when asked.
async fn connect(target: &Target, to: &str, timeout: Duration) -> Result<Box<dyn Io>, String> {
    let tcp = match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(to)).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => return Err(format!("connecting to {to}: {e}")),
        Err(_) => return Err(format!("connecting to {to}: no answer within {timeout:?}")),
    };
    let _ = tcp.set_nodelay(true);
    match &target.tls {
        None => Ok(Box::new(tcp)),
        Some(tls) => tls
            .connect(to, tcp, timeout)
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
    let stream = match connect(target, &target.to, settings.timeout).await {
        Ok(stream) => stream,
        Err(why) => {
            played.notes.push(why);
            return;
        }
    };
    played.connections += 1;
    let (read, write) = tokio::io::split(stream);
    let link = Link::new(
        MessageReader::new(read, settings.reply_framing.clone()),
        settings.timeout,
    );
    let writer = MessageWriter::new(write, settings.framing.clone());
    exchange(
        steps, expect, settle, link, writer, settings, pacing, played,
    )
    .await;
}

/// A simplex pair's replay: the replies' link dialled to `--simplex-in`, then the requests' link
/// to `--to` (as `send --simplex-in` does, so a host that pairs the links finds the way back
/// first); the requests in order on the one, the replies read on the other. A message the host
/// sends on the requests' link counts as a reply too, and is said.
pub async fn play_simplex(
    script: &Script,
    target: &Target,
    settings: &Settings,
    pacing: &Pacing,
) -> Played {
    let mut played = Played::of(script);
    let Some(simplex_in) = &target.simplex_in else {
        return played;
    };
    let mut links = Vec::new();
    for to in [simplex_in, &target.to] {
        match connect(target, to, settings.timeout).await {
            Ok(stream) => links.push(stream),
            Err(why) => {
                played.notes.push(why);
                return played;
            }
        }
        played.connections += 1;
    }
    let (Some(requests), Some(replies)) = (links.pop(), links.pop()) else {
        return played;
    };
    let (replies_read, _replies_write) = tokio::io::split(replies);
    let (requests_read, requests_write) = tokio::io::split(requests);
    let source = TwoLinks::start(
        MessageReader::new(replies_read, settings.reply_framing.clone()),
        MessageReader::new(requests_read, settings.reply_framing.clone()),
    );
    let link = Link::new(source, settings.timeout);
    let writer = MessageWriter::new(requests_write, settings.framing.clone());
    let steps = in_order(script);
    let settle = settings.settle.unwrap_or(SETTLE);
    let on_requests_link = exchange(
        &steps,
        script.replies.len(),
        settle,
        link,
        writer,
        settings,
        pacing,
        &mut played,
    )
    .await;
    if on_requests_link > 0 {
        played.notes.push(format!(
            "{on_requests_link} of the replies came on the requests' link, not on the replies' (--simplex-in)"
        ));
    }
    played
}

/// The steps in order on one link, then the replies still expected (`expect`), then `settle`
/// for more: the messages that came on a simplex pair's requests' link.
#[allow(clippy::too_many_arguments)]
async fn exchange<S: Replies, W: AsyncWrite + Unpin>(
    steps: &[Step<'_>],
    expect: usize,
    settle: Duration,
    mut link: Link<S>,
    mut writer: MessageWriter<W, Framing>,
    settings: &Settings,
    pacing: &Pacing,
    played: &mut Played,
) -> usize {
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
    link.replies.stray()
}

/// Where a connection's replies come from.
trait Replies {
    /// The next reply (cancel-safe: a call dropped before it is ready loses nothing).
    async fn next(&mut self) -> Result<Bytes, msgframe_io::Error>;

    /// Replies that came where none were expected (a simplex pair's requests' link).
    fn stray(&self) -> usize {
        0
    }
}

impl<R: AsyncRead + Unpin> Replies for MessageReader<R, Framing> {
    async fn next(&mut self) -> Result<Bytes, msgframe_io::Error> {
        self.read_message().await
    }
}

/// A simplex pair's replies: read on the replies' link, and on the requests' link too (what a
/// host sends there is a reply all the same, and reading it keeps the link from filling up);
/// the pair ends when the replies' link does.
struct TwoLinks {
    rx: tokio::sync::mpsc::Receiver<(bool, Result<Bytes, msgframe_io::Error>)>,
    readers: [tokio::task::JoinHandle<()>; 2],
    stray: usize,
}

impl TwoLinks {
    fn start<A, B>(replies: MessageReader<A, Framing>, requests: MessageReader<B, Framing>) -> Self
    where
        A: AsyncRead + Unpin + Send + 'static,
        B: AsyncRead + Unpin + Send + 'static,
    {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        fn reader<R: AsyncRead + Unpin + Send + 'static>(
            mut reader: MessageReader<R, Framing>,
            on_replies_link: bool,
            tx: tokio::sync::mpsc::Sender<(bool, Result<Bytes, msgframe_io::Error>)>,
        ) -> tokio::task::JoinHandle<()> {
            tokio::spawn(async move {
                loop {
                    let read = reader.read_message().await;
                    let end = read.is_err();
                    if tx.send((on_replies_link, read)).await.is_err() || end {
                        return;
                    }
                }
            })
        }
        TwoLinks {
            readers: [
                reader(replies, true, tx.clone()),
                reader(requests, false, tx),
            ],
            rx,
            stray: 0,
        }
    }
}

impl Replies for TwoLinks {
    async fn next(&mut self) -> Result<Bytes, msgframe_io::Error> {
        loop {
            match self.rx.recv().await {
                Some((true, read)) => return read,
                Some((false, Ok(body))) => {
                    self.stray += 1;
                    return Ok(body);
                }
                // The requests' link ended: the replies' may go on.
                Some((false, Err(_))) => {}
                None => return Err(msgframe_io::Error::Closed),
            }
        }
    }

    fn stray(&self) -> usize {
        self.stray
    }
}

impl Drop for TwoLinks {
    fn drop(&mut self) {
        for reader in &self.readers {
            reader.abort();
        }
    }
}

/// The reading side of a connection.
struct Link<S> {
    replies: S,
    /// Until the host closes, or sends something that is not a frame.
    open: bool,
    /// Replies so far on this connection.
    got: usize,
    /// The last send or reply: a wait for a reply ends `timeout` after it.
    last: Instant,
    timeout: Duration,
}

impl<S: Replies> Link<S> {
    fn new(replies: S, timeout: Duration) -> Self {
        Link {
            replies,
            open: true,
            got: 0,
            last: Instant::now(),
            timeout,
        }
    }

    /// Reads until the connection has `count` replies, the host stops, or no reply came for
    /// the timeout.
    async fn wait_for(&mut self, count: usize, played: &mut Played) {
        while self.open && self.got < count {
            let deadline = self.last + self.timeout;
            match tokio::time::timeout_at(deadline, self.replies.next()).await {
                Ok(read) => self.take(read, played),
                Err(_) => return,
            }
        }
    }

    /// Reads whatever comes until `when`.
    async fn until(&mut self, when: Instant, played: &mut Played) {
        while self.open {
            match tokio::time::timeout_at(when, self.replies.next()).await {
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
                read = self.replies.next(), if self.open => self.take(read, played),
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
