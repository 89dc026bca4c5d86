//! The task behind a long client: connect (failover, backoff), run the after-connect hook, then
//! drive the connection's [`ClientSession`] — read into it, write what it says, one timer — until
//! the connection ends; then start over.

use std::sync::Arc;

use bytes::Bytes;
use msgframe_codec::Framing;
use msgframe_tokio::{MessageReader, MessageWriter};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::config::{Config, Inbound, Recognise, Simplex};
use super::connect::{open, BoxRead, BoxWrite, Link};
use super::event::{Event, OutboundReads};
use super::event_hub::EventHub;
use super::hook::Session;
use super::sender::Outgoing;
use super::state::LinkState;
use crate::error::Disconnect;
use crate::message::Key;
use crate::policy::backoff::{Jitter, Reconnect};
use crate::session::{ClientEvent, ClientSession, Completed};
use crate::task::{now, signalled, Reply, Timer};
use crate::Error;

/// The client's task and what it shares with the handles.
pub(crate) struct Driver<K> {
    pub(crate) config: Arc<Config<K>>,
    pub(crate) queue: mpsc::Receiver<Outgoing<K>>,
    pub(crate) incoming: mpsc::Sender<Bytes>,
    pub(crate) events: Arc<EventHub>,
    pub(crate) state: watch::Sender<LinkState>,
    pub(crate) shutdown: watch::Receiver<bool>,
    /// Ends the current connection at once when it changes (a link group rebuilding itself);
    /// resets asked for before a connection began do not touch it.
    pub(crate) reset: watch::Receiver<u64>,
}

type Session_<K> = ClientSession<K, Reply<Completed>>;

/// Reads what arrives on a simplex pair's outbound link.
async fn side_read(side: &mut Option<BoxRead>, buf: &mut [u8]) -> std::io::Result<usize> {
    use tokio::io::AsyncReadExt;
    match side {
        Some(side) => side.read(buf).await,
        None => std::future::pending().await,
    }
}

/// Reads the next message. A plain link between messages holds no read block: it waits for the
/// socket to be readable, then takes one from the pool (given back by [`give_back_block`]), so an
/// idle client holds none. Cancel-safe, as [`MessageReader::read_message`].
async fn read_lent(
    reader: &mut MessageReader<BoxRead, Framing>,
) -> Result<Bytes, msgframe_io::Error> {
    if !reader.has_block() {
        if let Some(plain) = reader.get_ref().plain() {
            plain.readable().await?;
            crate::blocks::lend(reader);
        }
    }
    reader.read_message().await
}

/// Gives a plain link's read block back to the pool when it holds no bytes.
fn give_back_block(reader: &mut MessageReader<BoxRead, Framing>) {
    if reader.get_ref().plain().is_some() {
        crate::blocks::reclaim(reader);
    }
}

/// What woke the connection's loop.
enum Input<K> {
    Shutdown,
    Written(Result<(), msgframe_io::Error>),
    Read(Result<Bytes, msgframe_io::Error>),
    Outgoing(Option<Outgoing<K>>),
    /// Handled where it happened.
    Done,
    Timer,
    /// Bytes (or the end) on a simplex pair's outbound link.
    Side(std::io::Result<usize>),
    /// Drop the connection now (its group broke).
    Reset,
}

impl<K: Key> Driver<K> {
    fn emit(&self, event: Event) {
        match &event {
            Event::Connected { host, addr } => tracing::info!(%host, %addr, "connected"),
            Event::ConnectFailed { host, error } => {
                tracing::warn!(%host, %error, "connection attempt failed");
            }
            Event::Disconnected { host, reason } => tracing::warn!(%host, %reason, "disconnected"),
            Event::Reconnecting { attempt, delay } => {
                tracing::info!(attempt, ?delay, "reconnecting");
            }
            Event::HeartbeatMissed { missed } => tracing::warn!(missed, "heartbeat missed"),
            Event::PeerDead { missed } => tracing::warn!(missed, "peer declared dead"),
            Event::IncomingDropped { dropped } => {
                // The first, then every power of two: a warning, not a flood.
                if dropped.is_power_of_two() {
                    tracing::warn!(
                        dropped,
                        "incoming messages are not being taken (LongClient::recv): dropped"
                    );
                }
            }
            Event::ReadingPaused => tracing::warn!(
                "incoming messages are not being taken (LongClient::recv): reading paused"
            ),
            Event::ReadingResumed => tracing::info!("reading resumed"),
            Event::Shutdown => tracing::info!("client shut down"),
        }
        let failure = match &event {
            Event::ConnectFailed { error, .. } => Some(Arc::clone(error)),
            Event::Disconnected { reason, .. } => {
                Some(Arc::new(Error::Disconnected(Arc::clone(reason))))
            }
            _ => None,
        };
        if let Some(failure) = failure {
            self.state.send_modify(|s| s.last_failure = Some(failure));
        }
        self.config.metrics.event(&event);
        self.events.emit(event);
    }

    fn shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Waits `delay`, or less if the client shuts down; returns whether it is shutting down.
    async fn pause(&mut self, delay: std::time::Duration) -> bool {
        let mut shutdown = self.shutdown.clone();
        tokio::select! {
            () = tokio::time::sleep(delay) => self.shutting_down(),
            () = signalled(&mut shutdown) => true,
        }
    }

    pub(crate) async fn run(mut self) {
        let c = Arc::clone(&self.config);
        let mut reconnect = Reconnect::new(c.backoff, c.order, c.hosts.len(), c.stable_after);
        let mut jitter = Jitter::new();
        while !self.shutting_down() {
            let (attempt, delay) = match Box::pin(self.connect_round(&reconnect)).await {
                Some((index, link)) => {
                    let host = c.hosts[index].clone();
                    // A simplex pair: the inbound link too, or the round failed.
                    let inbound = match &c.simplex {
                        None => None,
                        Some(simplex) => match Box::pin(self.inbound(simplex, link.peer)).await {
                            Ok(inbound) => Some(inbound),
                            Err(error) => {
                                self.emit(Event::ConnectFailed {
                                    host: format!("{host} (inbound link)"),
                                    error: Arc::new(error),
                                });
                                if self.shutting_down() || !c.reconnect {
                                    break;
                                }
                                let (attempt, delay) = reconnect.round_failed(jitter.sample());
                                self.emit(Event::Reconnecting { attempt, delay });
                                if self.pause(delay).await {
                                    break;
                                }
                                continue;
                            }
                        },
                    };
                    reconnect.connected(index);
                    let started = Instant::now();
                    let ended = self.connection(&host, link, inbound).await;
                    // After a shutdown, only `Shutdown` is reported, however the connection ended.
                    if self.shutting_down() {
                        break;
                    }
                    if let Some(reason) = ended {
                        self.emit(Event::Disconnected { host, reason });
                    }
                    if !c.reconnect {
                        break;
                    }
                    reconnect.disconnected(started.elapsed(), jitter.sample())
                }
                None if self.shutting_down() || !c.reconnect => break,
                None => reconnect.round_failed(jitter.sample()),
            };
            self.emit(Event::Reconnecting { attempt, delay });
            if self.pause(delay).await {
                break;
            }
        }
        self.state.send_modify(|s| {
            s.connected = None;
            s.local = None;
        });
        // Queued messages were not sent: their callers learn it when the queue goes.
        self.emit(Event::Shutdown);
    }

    /// One round of connection attempts, every host once in order.
    async fn connect_round(&mut self, reconnect: &Reconnect) -> Option<(usize, Link)> {
        let config = Arc::clone(&self.config);
        for index in reconnect.round() {
            let host = &config.hosts[index];
            let deadline = Instant::now() + config.connect_timeout;
            let mut shutdown = self.shutdown.clone();
            let result = tokio::select! {
                result = open(host, config.connect_timeout, deadline, config.keepalive.as_ref(), &config.security) => result,
                () = signalled(&mut shutdown) => return None,
            };
            match result {
                Ok(link) => return Some((index, link)),
                Err(e) => self.emit(Event::ConnectFailed {
                    host: host.clone(),
                    error: Arc::new(e),
                }),
            }
        }
        None
    }

    /// A simplex pair's inbound link: dialled to one of its hosts in turn, or accepted from the
    /// outbound link's peer on the listener, within the connect timeout.
    async fn inbound(
        &mut self,
        simplex: &Simplex,
        outbound_peer: std::net::SocketAddr,
    ) -> Result<Link, Error> {
        let c = Arc::clone(&self.config);
        let deadline = Instant::now() + c.connect_timeout;
        let mut shutdown = self.shutdown.clone();
        let obtain = async {
            match &simplex.inbound {
                Inbound::Dial(hosts) => {
                    let mut last = None;
                    for host in hosts {
                        match open(
                            host,
                            c.connect_timeout,
                            deadline,
                            c.keepalive.as_ref(),
                            &c.security,
                        )
                        .await
                        {
                            Ok(link) => return logon(link, simplex, &c.framing, deadline).await,
                            Err(e) => last = Some(e),
                        }
                    }
                    Err(
                        last.unwrap_or(Error::Config(crate::error::ConfigError::Other(
                            "a simplex pair needs at least one inbound host".into(),
                        ))),
                    )
                }
                Inbound::Listen(listener, recognise) => {
                    accept_inbound(listener, outbound_peer, recognise.as_ref(), &c, deadline).await
                }
            }
        };
        tokio::select! {
            result = obtain => result,
            () = signalled(&mut shutdown) => Err(Error::Shutdown),
        }
    }

    /// Runs one connection until it ends: why it ended, or `None` when the hook failed (already
    /// reported) or the client shut down while it ran.
    async fn connection(
        &mut self,
        host: &str,
        link: Link,
        inbound: Option<Link>,
    ) -> Option<Arc<Disconnect>> {
        let config = Arc::clone(&self.config);
        let local = link.local;
        // A simplex pair reads the inbound link, writes the outbound one, and watches the
        // outbound link's reading half; the inbound link's writing half stays open, unused.
        let (read, mut side, mut _unused) = match inbound {
            Some(inbound) => (inbound.read, Some(link.read), Some(inbound.write)),
            None => (link.read, None, None),
        };
        let session = Session {
            host: host.to_owned(),
            addr: link.peer,
            reader: MessageReader::new(read, config.framing.clone()),
            writer: MessageWriter::new(link.write, config.framing.clone()),
            keepalive: link.keepalive,
        };
        // Boxed: a connected client's task holds nothing of its logon.
        let Session {
            mut reader,
            mut writer,
            addr,
            ..
        } = Box::pin(self.after_connect(session)).await?;
        self.state.send_modify(|s| {
            s.connected = Some(host.to_owned());
            s.local = local;
            s.connections += 1;
        });
        self.emit(Event::Connected {
            host: host.to_owned(),
            addr,
        });
        loop {
            let (cause, inbound_failed) = self.drive(&mut reader, &mut writer, &mut side).await;
            self.state.send_modify(|s| {
                s.connected = None;
                s.local = None;
            });
            let simplex = match &config.simplex {
                Some(simplex) if inbound_failed && side.is_some() && !self.shutting_down() => {
                    simplex.clone()
                }
                _ => return Some(cause),
            };
            // A pair whose inbound link alone broke keeps its outbound link and gets a new
            // inbound one, with the same backoff and events.
            self.emit(Event::Disconnected {
                host: format!("{host} (inbound link)"),
                reason: cause,
            });
            // The client shut down while waiting: `None`, as for any shutdown.
            let inbound = Box::pin(self.reobtain_inbound(host, &simplex, addr)).await?;
            reader = MessageReader::new(inbound.read, config.framing.clone());
            _unused = Some(inbound.write);
            self.state.send_modify(|s| {
                s.connected = Some(host.to_owned());
                s.local = local;
                s.connections += 1;
            });
            self.emit(Event::Connected {
                host: format!("{host} (inbound link)"),
                addr: inbound.peer,
            });
        }
    }

    /// Runs the after-connect hook (logon), when there is one, on the new connection's session:
    /// the session back, or `None` when the hook failed (reported) or the client shut down.
    async fn after_connect(&mut self, mut session: Session) -> Option<Session> {
        let Some(hook) = &self.config.on_connect else {
            return Some(session);
        };
        let mut shutdown = self.shutdown.clone();
        let result = tokio::select! {
            result = hook(&mut session) => result,
            () = signalled(&mut shutdown) => return None,
        };
        if let Err(e) = result {
            self.emit(Event::ConnectFailed {
                host: session.host.clone(),
                error: Arc::new(Error::Hook(Box::new(e))),
            });
            return None;
        }
        Some(session)
    }

    /// A new inbound link for a pair whose outbound link is still up: tried after the backoff's
    /// delays until one comes or the client shuts down (`None`).
    async fn reobtain_inbound(
        &mut self,
        host: &str,
        simplex: &Simplex,
        outbound_peer: std::net::SocketAddr,
    ) -> Option<Link> {
        let mut jitter = Jitter::new();
        for attempt in 1u32.. {
            let delay = self.config.backoff.delay(attempt, jitter.sample());
            self.emit(Event::Reconnecting { attempt, delay });
            if self.pause(delay).await {
                return None;
            }
            match self.inbound(simplex, outbound_peer).await {
                Ok(link) => return Some(link),
                Err(_) if self.shutting_down() => return None,
                Err(error) => self.emit(Event::ConnectFailed {
                    host: format!("{host} (inbound link)"),
                    error: Arc::new(error),
                }),
            }
        }
        None
    }

    /// The connection's loop: do what the session says, wait for what happens next, tell the
    /// session. Returns why the connection ended, and whether reading failed (for a pair: its
    /// inbound link).
    async fn drive(
        &mut self,
        reader: &mut MessageReader<BoxRead, Framing>,
        writer: &mut MessageWriter<BoxWrite, Framing>,
        side: &mut Option<BoxRead>,
    ) -> (Arc<Disconnect>, bool) {
        let mut read_failed = false;
        let ignore_side = self
            .config
            .simplex
            .as_ref()
            .is_some_and(|s| s.outbound_reads == OutboundReads::Ignore);
        let mut side_buf = [0u8; 256];
        let mut reset = self.reset.clone();
        reset.borrow_and_update();
        // A block the hook's reads left with nothing in it goes back too.
        give_back_block(reader);
        let mut session: Session_<K> = ClientSession::new(Arc::clone(&self.config.rules), now());
        let mut shutdown = self.shutdown.clone();
        let mut timer = Timer::new();
        let mut writing = false;
        let mut closing = false;
        let mut queue_open = true;
        loop {
            if let Some(cause) = self.do_events(&mut session) {
                return (cause, read_failed);
            }
            if !writing {
                if let Some(transmit) = session.poll_transmit(now()) {
                    match writer.start_message(&transmit.body) {
                        Ok(()) => writing = true,
                        Err(e) => session.write_done(now(), Err(e)),
                    }
                    continue;
                }
            }
            timer.arm(session.poll_timeout());
            let holding = session.is_holding();
            let input = tokio::select! {
                biased;
                () = signalled(&mut shutdown), if !closing => Input::Shutdown,
                written = writer.flush(), if writing => Input::Written(written),
                read = read_lent(reader), if session.wants_read() => Input::Read(read),
                outgoing = self.queue.recv(), if queue_open && session.wants_message() => Input::Outgoing(outgoing),
                room = self.incoming.reserve(), if holding => {
                    match room {
                        Ok(permit) => {
                            if let Some(message) = session.take_held(now()) {
                                permit.send(message);
                            }
                        }
                        // Nobody will ever take them.
                        Err(_) => while session.take_held(now()).is_some() {},
                    }
                    Input::Done
                }
                () = timer.fired() => Input::Timer,
                read = side_read(side, &mut side_buf), if side.is_some() => Input::Side(read),
                Ok(()) = reset.changed() => Input::Reset,
            };
            let now = now();
            match input {
                Input::Shutdown => {
                    closing = true;
                    session.close(now);
                }
                Input::Written(result) => {
                    writing = false;
                    session.write_done(now, result);
                }
                Input::Read(Ok(message)) => {
                    give_back_block(reader);
                    session.handle_message(now, message);
                }
                Input::Read(Err(e)) => {
                    read_failed = true;
                    session.handle_read_error(now, e);
                }
                Input::Outgoing(None) => queue_open = false,
                Input::Outgoing(Some(o)) => {
                    // A caller that gave up first reports that itself.
                    if o.ticket.take() {
                        let deadline = o.deadline.into_std();
                        match o.key {
                            Some(key) => session.request(now, key, o.body, deadline, o.reply),
                            None => session.send(now, o.body, deadline, o.reply),
                        }
                    }
                }
                Input::Done => {}
                Input::Timer => session.handle_timeout(now),
                Input::Reset => session.abort(now, Disconnect::GroupBroken),
                Input::Side(Ok(0)) => {
                    // The peer closed the outbound link: the pair is lost.
                    *side = None;
                    session.handle_read_error(now, msgframe_io::Error::Closed);
                }
                Input::Side(Ok(n)) if ignore_side => {
                    tracing::warn!(bytes = n, "bytes on the outbound (send-only) link: ignored");
                }
                Input::Side(Ok(n)) => {
                    *side = None;
                    let broke = std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("the peer sent {n} bytes on the outbound (send-only) link"),
                    );
                    session.handle_read_error(now, msgframe_io::Error::Io(broke));
                }
                Input::Side(Err(e)) => {
                    *side = None;
                    session.handle_read_error(now, msgframe_io::Error::Io(e));
                }
            }
        }
    }

    /// Does what the session's events say; the cause when the connection is over.
    fn do_events(&mut self, session: &mut Session_<K>) -> Option<Arc<Disconnect>> {
        while let Some(event) = session.poll_event() {
            match event {
                ClientEvent::Done { caller, outcome } => {
                    if let Err(Ok(Completed::Reply(message))) = caller.send(outcome) {
                        // Its caller went away just now: the reply is unmatched after all.
                        self.deliver(session, message);
                    }
                }
                ClientEvent::Deliver(message) => self.deliver(session, message),
                ClientEvent::HeartbeatMissed { missed } => {
                    self.emit(Event::HeartbeatMissed { missed });
                }
                ClientEvent::PeerDead { missed } => self.emit(Event::PeerDead { missed }),
                ClientEvent::IncomingDropped { dropped } => {
                    self.emit(Event::IncomingDropped { dropped });
                }
                ClientEvent::ReadingPaused => self.emit(Event::ReadingPaused),
                ClientEvent::ReadingResumed => self.emit(Event::ReadingResumed),
                ClientEvent::Closed(cause) => return Some(cause),
            }
        }
        None
    }

    /// Hands a message to the application, or back to the session when its queue is full.
    fn deliver(&self, session: &mut Session_<K>, message: Bytes) {
        match self.incoming.try_send(message) {
            Ok(()) => {}
            Err(TrySendError::Closed(_)) => {
                tracing::debug!("message received with no receiver to take it; dropped");
            }
            Err(TrySendError::Full(message)) => session.delivery_refused(now(), message),
        }
    }
}

/// Links prepared at once (a TLS handshake, a first message read) while a pair's inbound link is
/// sought; one more is closed on arrival, so strangers cannot make the client hold sockets
/// without bound.
const RECOGNISING_AT_MOST: usize = 16;

/// The inbound link a peer dials: the first connection on `listener` from `peer`'s address, or
/// the first whose first message `recognise` accepts, secured with `config.inbound_tls` when set,
/// before `deadline` (others are closed).
///
/// Candidates are prepared side by side, each on its own task: a stranger that connects and
/// stays silent (in its handshake or before its first message) holds up no one, and is closed
/// once the real link is found or at `deadline`.
async fn accept_inbound<K>(
    listener: &std::net::TcpListener,
    peer: std::net::SocketAddr,
    recognise: Option<&Recognise>,
    config: &Config<K>,
    deadline: Instant,
) -> Result<Link, Error> {
    let listener = tokio::net::TcpListener::from_std(listener.try_clone()?)?;
    let mut candidates = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, from) = accepted?;
                crate::socket::configure(&stream, config.keepalive.as_ref())?;
                if recognise.is_none() && from.ip() != peer.ip() {
                    tracing::warn!(%from, expected = %peer.ip(), "inbound link from an unexpected address: closed");
                } else if recognise.is_none() && config.inbound_tls.is_none() {
                    let (read, write) = stream.into_split();
                    return Ok(inbound_link(Box::new(read), Box::new(write), from));
                } else if candidates.len() >= RECOGNISING_AT_MOST {
                    tracing::warn!(%from, at_most = RECOGNISING_AT_MOST, "inbound link not prepared: as many are being prepared already; closed");
                } else {
                    let candidate = Candidate {
                        from,
                        recognise: recognise.cloned(),
                        tls: config.inbound_tls.clone(),
                        framing: config.framing.clone(),
                        deadline,
                    };
                    candidates.spawn(candidate.prepare(stream));
                }
            }
            Some(done) = candidates.join_next(), if !candidates.is_empty() => {
                if let Ok(Some(link)) = done {
                    // Dropping the set closes every other candidate.
                    return Ok(link);
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                return Err(Error::NotConnected {
                    waited: config.connect_timeout,
                    last: None,
                });
            }
        }
    }
}

/// A connection on a pair's listener that may be its inbound link.
struct Candidate {
    from: std::net::SocketAddr,
    recognise: Option<Recognise>,
    tls: Option<crate::server::ServerTlsConfig>,
    framing: Framing,
    deadline: Instant,
}

impl Candidate {
    /// The link, once secured (when TLS is configured) and recognised by its first message
    /// (when a recogniser is), both by the deadline; `None` (reported here) when it is not.
    async fn prepare(self, stream: tokio::net::TcpStream) -> Option<Link> {
        let from = self.from;
        let (read, write): (BoxRead, BoxWrite) = match &self.tls {
            None => {
                let (read, write) = stream.into_split();
                (Box::new(read), Box::new(write))
            }
            #[cfg(feature = "tls")]
            Some(tls) => match tokio::time::timeout_at(self.deadline, tls.accept(stream)).await {
                Ok(Ok(stream)) => {
                    let (read, write) = tokio::io::split(stream);
                    (Box::new(read), Box::new(write))
                }
                Ok(Err(e)) => {
                    tracing::warn!(%from, error = %e, "inbound link's TLS handshake failed: closed");
                    return None;
                }
                Err(_) => {
                    tracing::warn!(%from, "inbound link's TLS handshake not finished in time: closed");
                    return None;
                }
            },
            #[cfg(not(feature = "tls"))]
            Some(never) => match *never {},
        };
        match &self.recognise {
            None => Some(inbound_link(read, write, from)),
            Some(recognise) => {
                recognised(read, write, from, recognise, self.framing, self.deadline).await
            }
        }
    }
}

/// The link accepted from `from`, when its first message (read by `deadline`) is recognised.
/// Nothing is consumed: the session is handed every byte read so far followed by the rest of the
/// stream.
async fn recognised(
    read: BoxRead,
    write: BoxWrite,
    from: std::net::SocketAddr,
    recognise: &Recognise,
    framing: Framing,
    deadline: Instant,
) -> Option<Link> {
    let recorder = Recorder {
        inner: read,
        seen: Vec::new(),
    };
    let mut reader = MessageReader::new(recorder, framing);
    match tokio::time::timeout_at(deadline, reader.read_message()).await {
        Ok(Ok(first)) if recognise(&first) => {
            let (recorder, _) = reader.into_parts();
            let seen = std::io::Cursor::new(recorder.seen);
            let read = tokio::io::AsyncReadExt::chain(seen, recorder.inner);
            Some(inbound_link(Box::new(read), write, from))
        }
        _ => {
            tracing::warn!(%from, "inbound link not recognised by its first message: closed");
            None
        }
    }
}

fn inbound_link(read: BoxRead, write: BoxWrite, from: std::net::SocketAddr) -> Link {
    Link {
        read,
        write,
        peer: from,
        local: None,
        keepalive: Err(std::io::Error::other("not read for an inbound link")),
    }
}

/// A reader that keeps a copy of every byte it reads.
struct Recorder<R> {
    inner: R,
    seen: Vec<u8>,
}

impl<R: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Recorder<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let polled = std::pin::Pin::new(&mut this.inner).poll_read(cx, buf);
        if polled.is_ready() {
            this.seen.extend_from_slice(&buf.filled()[before..]);
        }
        polled
    }
}

/// Writes a pair's inbound logon, when there is one, on the inbound link just dialled.
async fn logon(
    mut link: Link,
    simplex: &Simplex,
    framing: &Framing,
    deadline: Instant,
) -> Result<Link, Error> {
    let Some(logon) = &simplex.inbound_logon else {
        return Ok(link);
    };
    let mut writer = MessageWriter::new(link.write, framing.clone());
    let left = deadline.saturating_duration_since(Instant::now());
    writer.write_message_timeout(logon, left).await?;
    link.write = writer.into_inner();
    Ok(link)
}
