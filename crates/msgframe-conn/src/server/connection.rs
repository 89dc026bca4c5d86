//! One accepted connection: a thin loop driving its [`ServerSession`]: read into it, call the
//! handler when it says so, write what it says (replies, heartbeat answers, pushes), one timer,
//! close when it says so.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use msgframe_codec::{Decoder, Encoder, Framing};
use msgframe_tokio::MessageReader;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::accept::Admitted;
use super::park::{Lot, Parked};
use super::return_link::ReturnLink;
use crate::blocks;
use tokio::sync::{oneshot, Notify};

use super::reply::Reply;
use super::stats::Counters;
use super::ServerConfig;
use crate::error::{Disconnect, NotSent};
use crate::message::IntoMessage;
use crate::session::{ServerEvent, ServerSession};
use crate::task::{now, outcome, CancelOnDrop, Reply as Outcome, Ticket, Timer};
use crate::Error;

/// What a server runs for every message: given the connection and the message, the reply.
/// Messages of one connection are handled one at a time, in order; connections run
/// concurrently. Implemented for `Fn(Connection, Bytes) -> impl Future<Output = Reply>`.
///
/// ```
/// use msgframe_conn::{Connection, Reply};
///
/// async fn echo(_conn: Connection, message: bytes::Bytes) -> Reply {
///     Reply::Send(message)
/// }
/// # fn is_handler(_: impl msgframe_conn::Handler) {}
/// # is_handler(echo);
/// ```
pub trait Handler: Send + Sync + 'static {
    /// The future of one call.
    type Future: Future<Output = Reply> + Send + 'static;

    /// Handles one message from `connection`.
    fn handle(&self, connection: Connection, message: Bytes) -> Self::Future;

    /// A connection was accepted (and its TLS handshake done), before its first message is read:
    /// a place to start what lives as long as the connection (an upstream connection of a proxy,
    /// a task pushing to it; [`Connection::closed`] tells it when to stop). Does nothing unless
    /// implemented.
    fn opened(&self, connection: &Connection) {
        let _ = connection;
    }

    /// A connection that [`opened`](Handler::opened) ended, and why: for logs, without a task
    /// per connection waiting on [`Connection::closed`] (which would cost every quiet
    /// connection a task again). Not called for connections cut off when the shutdown grace
    /// runs out. Does nothing unless implemented.
    fn closed(&self, connection: &Connection, why: &Disconnect) {
        let _ = (connection, why);
    }

    /// A connection from `peer` was refused before any work for it: by the allow or deny list,
    /// or a cap (see [`Refusal`](crate::policy::Refusal)). For logs; does nothing unless
    /// implemented. (Why an accepted connection ended: [`closed`](Handler::closed).)
    fn refused(&self, peer: std::net::SocketAddr, refusal: &crate::policy::Refusal) {
        let _ = (peer, refusal);
    }
}

impl<F, Fut> Handler for F
where
    F: Fn(Connection, Bytes) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    type Future = Fut;

    fn handle(&self, connection: Connection, message: Bytes) -> Fut {
        self(connection, message)
    }
}

/// A message pushed to a connection by the server side on its own.
pub(crate) struct Push {
    pub(crate) body: Bytes,
    pub(crate) ticket: Ticket,
    pub(crate) done: Outcome<()>,
}

/// A handle to one open connection: who it is, and a way to push messages to it at any time
/// (as an SMSC delivers `deliver_sm`). Clones refer to the same connection.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<ConnectionInner>,
}

struct ConnectionInner {
    id: u64,
    peer: SocketAddr,
    /// Pushes waiting for the connection's task. A queue under a lock rather than a channel: it
    /// allocates nothing until used, and an idle connection should hold little.
    pushes: Mutex<Pushes>,
    /// Wakes the connection's task when a push is queued.
    queued: Notify,
    /// Wakes pushers waiting for room and whoever waits for the connection to end (all of them:
    /// each looks again at what it waits for).
    changed: Notify,
    /// Wakes the connection's thread, when it runs on one (the blocking server).
    waker: std::sync::OnceLock<Arc<mio::Waker>>,
    /// Where the connection waits when it is set aside while quiet.
    lot: std::sync::OnceLock<Arc<Lot>>,
    /// The client's certificate, with TLS and client certificates.
    #[cfg(feature = "tls")]
    identity: std::sync::OnceLock<Box<crate::tls::PeerIdentity>>,
}

struct Pushes {
    waiting: VecDeque<Push>,
    max: usize,
    closed: bool,
    /// Why the connection ended, once it has.
    ended: Option<Arc<Disconnect>>,
    /// Why the connection's task is asked to close (the server shuts down, or the program closes
    /// it): it does once its handler is done.
    closing: Option<Arc<Disconnect>>,
    /// Whether the connection is set aside in its lot (it has no task): a push or a close
    /// request takes it back.
    parked: bool,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.inner.id)
            .field("peer", &self.inner.peer)
            .finish()
    }
}

impl Connection {
    pub(crate) fn new(id: u64, peer: SocketAddr, queue: usize) -> (Self, PushQueue) {
        let connection = Connection {
            inner: Arc::new(ConnectionInner {
                id,
                peer,
                pushes: Mutex::new(Pushes {
                    waiting: VecDeque::new(),
                    max: queue.max(1),
                    closed: false,
                    ended: None,
                    closing: None,
                    parked: false,
                }),
                queued: Notify::new(),
                changed: Notify::new(),
                waker: std::sync::OnceLock::new(),
                lot: std::sync::OnceLock::new(),
                #[cfg(feature = "tls")]
                identity: std::sync::OnceLock::new(),
            }),
        };
        let queue = PushQueue(Arc::clone(&connection.inner));
        (connection, queue)
    }

    /// The server's number for this connection (unique while the server runs).
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.inner.peer
    }

    /// The client's certificate (feature `tls`, with client certificates required): who it is.
    #[cfg(feature = "tls")]
    pub fn peer_identity(&self) -> Option<&crate::tls::PeerIdentity> {
        self.inner.identity.get().map(|identity| &**identity)
    }

    #[cfg(feature = "tls")]
    pub(crate) fn set_identity(&self, identity: crate::tls::PeerIdentity) {
        let _ = self.inner.identity.set(Box::new(identity));
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.inner.pushes.lock().map_or(true, |p| p.closed)
    }

    /// Asks the connection's task to close gracefully, `cause` saying why. Through the push
    /// queue's wake-up: an idle connection holds no shutdown watcher of its own.
    fn ask_to_close(&self, cause: Disconnect) {
        let parked = match self.inner.pushes.lock() {
            Ok(mut pushes) => {
                pushes.closing.get_or_insert_with(|| Arc::new(cause));
                std::mem::take(&mut pushes.parked)
            }
            Err(_) => false,
        };
        self.wake(parked);
    }

    /// Wakes the connection's task (or thread) for a push or a close request; takes it back from
    /// its lot when it was `parked` there.
    fn wake(&self, parked: bool) {
        if parked {
            if let Some(lot) = self.inner.lot.get() {
                lot.wake(self.inner.id);
            }
        }
        self.inner.queued.notify_one();
        if let Some(waker) = self.inner.waker.get() {
            // A failed wake-up leaves the thread to its next event or timer.
            let _ = waker.wake();
        }
    }

    /// The connection runs on a thread of its own, woken by `waker`.
    pub(crate) fn set_waker(&self, waker: Arc<mio::Waker>) {
        let _ = self.inner.waker.set(waker);
    }

    /// Sends `body` to the client on the server's own initiative, blocking the calling thread
    /// until it is written, within `timeout`: for programs without an async runtime (the
    /// [`BlockingServer`](crate::BlockingServer)). Not from inside the connection's own handler,
    /// which would wait for itself: return the message as the handler's reply there.
    ///
    /// # Errors
    /// As [`push`](Self::push); [`Error::Config`] when called from inside an async runtime.
    pub fn push_blocking(&self, body: impl IntoMessage, timeout: Duration) -> Result<(), Error> {
        crate::blocking::block_on(self.push(body, timeout))?
    }

    /// The server is shutting down.
    pub(crate) fn shut_down(&self) {
        self.ask_to_close(Disconnect::Shutdown);
    }

    /// Closes the connection gracefully: the handler in progress finishes and its reply is
    /// written, then the connection closes ([`Disconnect::Closed`]). Returns at once; see
    /// [`closed`](Self::closed).
    pub fn close(&self) {
        self.ask_to_close(Disconnect::Closed);
    }

    /// Returns once the connection has ended, with why.
    pub async fn closed(&self) -> Arc<Disconnect> {
        loop {
            let ended = self.inner.changed.notified();
            if let Some(cause) = self.ended() {
                return cause;
            }
            ended.await;
        }
    }

    /// Why the connection ended, once it has (a connection cut short by the end of the shutdown
    /// grace ends as a shutdown).
    fn ended(&self) -> Option<Arc<Disconnect>> {
        let pushes = self.inner.pushes.lock().ok()?;
        pushes.closed.then(|| {
            pushes
                .ended
                .clone()
                .unwrap_or_else(|| Arc::new(Disconnect::Shutdown))
        })
    }

    /// Queues `push` unless the connection is closed or its queue is full (`Err` gives it back
    /// with the reason).
    fn try_queue(&self, push: Push) -> Result<(), (Push, bool)> {
        let Ok(mut pushes) = self.inner.pushes.lock() else {
            return Err((push, true));
        };
        if pushes.closed {
            return Err((push, true));
        }
        if pushes.waiting.len() >= pushes.max {
            return Err((push, false));
        }
        pushes.waiting.push_back(push);
        let parked = std::mem::take(&mut pushes.parked);
        drop(pushes);
        self.wake(parked);
        Ok(())
    }

    /// Sends `body` to the client on the server's own initiative, between replies; returns once
    /// it is written, within `timeout`.
    ///
    /// # Errors
    /// [`Error::NotSent`] when the connection is closed or did not take it in time (nothing
    /// sent); [`Error::ConnectionLost`] when the connection ended while writing it;
    /// [`Error::TimedOut`] when writing it took too long (the connection is then closed).
    pub async fn push(&self, body: impl IntoMessage, timeout: Duration) -> Result<(), Error> {
        let deadline = crate::task::deadline_after(timeout);
        let ticket = Ticket::default();
        let _cancel_on_drop = CancelOnDrop(ticket.clone());
        let (tx, rx) = oneshot::channel();
        let mut push = Push {
            body: body.into_message(),
            ticket: ticket.clone(),
            done: Outcome(tx),
        };
        loop {
            // Registered before trying, so that room made in between is not missed.
            let room = self.inner.changed.notified();
            match self.try_queue(push) {
                Ok(()) => break,
                Err((_, true)) => return Err(Error::not_sent(NotSent::Closed)),
                Err((back, false)) => {
                    push = back;
                    if tokio::time::timeout_at(deadline, room).await.is_err() {
                        return Err(Error::not_sent(NotSent::PushQueueFull));
                    }
                }
            }
        }
        outcome(
            rx,
            &ticket,
            deadline,
            || NotSent::Deadline { last_failure: None },
            || Error::not_sent(NotSent::Closed),
            std::future::pending(),
        )
        .await
    }
}

/// The connection task's end of its pushes; closes the queue (failing what waits in it) when the
/// task ends.
pub(crate) struct PushQueue(Arc<ConnectionInner>);

impl PushQueue {
    /// The connection's handle.
    pub(crate) fn connection(&self) -> Connection {
        Connection {
            inner: Arc::clone(&self.0),
        }
    }

    /// The connection's number.
    pub(crate) fn id(&self) -> u64 {
        self.0.id
    }

    /// The client's address.
    pub(crate) fn peer(&self) -> SocketAddr {
        self.0.peer
    }

    /// The next push, waiting for one; or why the connection is asked to close.
    async fn next(&self) -> Result<Push, Arc<Disconnect>> {
        loop {
            let queued = self.0.queued.notified();
            if let Some(next) = self.try_next() {
                return next;
            }
            queued.await;
        }
    }

    /// The next push if one waits, or why the connection is asked to close.
    pub(crate) fn try_next(&self) -> Option<Result<Push, Arc<Disconnect>>> {
        let next = match self.0.pushes.lock() {
            Ok(p) if p.closing.is_some() => {
                let cause = p.closing.clone();
                return Some(Err(cause.unwrap_or_else(|| Arc::new(Disconnect::Shutdown))));
            }
            Ok(mut p) => p.waiting.pop_front(),
            Err(_) => return Some(Err(Arc::new(Disconnect::Shutdown))),
        };
        let push = next?;
        self.0.changed.notify_waiters();
        Some(Ok(push))
    }

    /// A task serves the connection again: it is no longer set aside.
    fn unpark(&self) {
        if let Ok(mut pushes) = self.0.pushes.lock() {
            pushes.parked = false;
        }
    }

    /// Records why the connection ended, for [`Connection::closed`].
    pub(crate) fn ended(&self, cause: &Arc<Disconnect>) {
        if let Ok(mut p) = self.0.pushes.lock() {
            p.ended = Some(Arc::clone(cause));
        }
    }
}

impl Drop for PushQueue {
    fn drop(&mut self) {
        let waiting = match self.0.pushes.lock() {
            Ok(mut p) => {
                p.closed = true;
                std::mem::take(&mut p.waiting)
            }
            Err(_) => VecDeque::new(),
        };
        // Dropped outside the lock: each caller learns its push was not taken.
        drop(waiting);
        self.0.changed.notify_waiters();
    }
}

/// A connection's byte stream: plain TCP, or TLS over it.
pub(crate) trait Transport: AsyncRead + AsyncWrite + Unpin + Send + Sized + 'static {
    /// The TCP socket underneath, to wait for readability without a buffer.
    fn tcp(&self) -> &TcpStream;

    /// Whether every byte to read is still in the socket once the reader has taken what the
    /// stream gave: then a connection between messages can give its buffers back at once and
    /// wait for the socket to be readable. Not so over TLS, whose layer may hold decrypted bytes
    /// the socket no longer shows; such a connection keeps its buffers until it is quiet.
    const UNBUFFERED: bool;

    /// The plain socket, to be watched by the lot of quiet connections: only for
    /// [`UNBUFFERED`](Transport::UNBUFFERED) transports.
    fn into_std(self) -> io::Result<std::net::TcpStream>;

    /// The transport again over a socket taken back from [`into_std`](Transport::into_std).
    fn from_std(stream: std::net::TcpStream) -> io::Result<Self>;
}

impl Transport for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }

    const UNBUFFERED: bool = true;

    fn into_std(self) -> io::Result<std::net::TcpStream> {
        TcpStream::into_std(self)
    }

    fn from_std(stream: std::net::TcpStream) -> io::Result<Self> {
        TcpStream::from_std(stream)
    }
}

#[cfg(feature = "tls")]
impl Transport for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }

    const UNBUFFERED: bool = false;

    fn into_std(self) -> io::Result<std::net::TcpStream> {
        Err(io::ErrorKind::Unsupported.into())
    }

    fn from_std(_: std::net::TcpStream) -> io::Result<Self> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// Runs one connection until it ends (returns why) or is set aside in `lot` while quiet
/// (returns `None`: a later task continues it with [`resume`]).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run<H: Handler, S: Transport>(
    stream: S,
    connection: Connection,
    pushes: PushQueue,
    handler: Arc<H>,
    config: Arc<ServerConfig>,
    counters: Arc<Counters>,
    admitted: Admitted,
    lot: Option<Arc<Lot>>,
) -> Option<Arc<Disconnect>> {
    // A simplex pair: this connection carries the peer's requests; replies and pushes go on its
    // return link, which the peer dials on the second listener.
    // One task reads and writes in turn: no split. Writes borrow the stream from the reader.
    let mut reader = MessageReader::new(stream, config.framing.clone());
    // Boxed, as every rarely-run step here: an idle connection's task then holds only what
    // waiting needs.
    let (back, first) = match &config.simplex {
        Some(links) => match Box::pin(pair_links(links, &mut reader, connection.peer())).await {
            Some(pair) => pair,
            None => {
                let cause = Arc::new(Disconnect::NoReturnLink);
                pushes.ended(&cause);
                return Some(cause);
            }
        },
        None => (None, None),
    };
    handler.opened(&connection);
    let mut session = ServerSession::new(Arc::clone(&config.rules), now());
    let served = Served {
        connection,
        pushes,
        admitted,
        lot: lot.filter(|_| S::UNBUFFERED && back.is_none()),
    };
    if served.lot.is_some() {
        // A fresh connection holds a task only for its first exchange, unless it is busy.
        session.quiet_after_exchange();
    }
    serve(
        reader, session, back, first, served, handler, config, counters,
    )
    .await
}

/// Continues a connection that was set aside while quiet, from where its last task left it.
pub(crate) async fn resume<H: Handler>(
    parked: Box<Parked>,
    handler: Arc<H>,
    config: Arc<ServerConfig>,
    counters: Arc<Counters>,
    lot: Arc<Lot>,
) -> Option<Arc<Disconnect>> {
    let Parked {
        stream,
        pushes,
        admitted,
        offset,
        last_activity,
        set_aside_at,
        ..
    } = *parked;
    let connection = pushes.connection();
    pushes.unpark();
    let stream = match TcpStream::from_std(std::net::TcpStream::from(stream)) {
        Ok(stream) => stream,
        Err(e) => {
            let cause = Arc::new(Disconnect::read(e.into()));
            pushes.ended(&cause);
            handler.closed(&connection, &cause);
            return Some(cause);
        }
    };
    let mut framing = config.framing.clone();
    framing.continue_at(offset);
    let reader = MessageReader::new(stream, framing);
    let session = ServerSession::resumed(
        Arc::clone(&config.rules),
        now(),
        last_activity,
        set_aside_at,
    );
    let served = Served {
        connection,
        pushes,
        admitted,
        lot: Some(lot),
    };
    serve(
        reader, session, None, None, served, handler, config, counters,
    )
    .await
}

/// Ends a connection set aside whose socket ended while it was aside (`error`: the end of the
/// stream, or why the socket failed), without a task: its session says why, as a task's would.
pub(crate) fn end_aside<H: Handler>(
    parked: Parked,
    error: msgframe_io::Error,
    handler: &H,
    config: &ServerConfig,
) -> Arc<Disconnect> {
    let Parked {
        stream,
        pushes,
        admitted,
        last_activity,
        set_aside_at,
        ..
    } = parked;
    let connection = pushes.connection();
    pushes.unpark();
    let now = now();
    let mut session: ServerSession<Outcome<()>> =
        ServerSession::resumed(Arc::clone(&config.rules), now, last_activity, set_aside_at);
    session.handle_read_error(now, error);
    let cause = std::iter::from_fn(|| session.poll_event())
        .find_map(|event| match event {
            ServerEvent::Closed(cause) => Some(cause),
            _ => None,
        })
        .unwrap_or_else(|| Arc::new(Disconnect::PeerClosed));
    pushes.ended(&cause);
    // Pushes that came meanwhile fail as not taken.
    drop(pushes);
    handler.closed(&connection, &cause);
    drop((stream, admitted));
    cause
}

/// Whether, with `framing`, the end of the stream between messages ends a connection without a
/// message (so a connection set aside can be ended without reading): not so when messages are
/// framed until the end of the stream.
pub(crate) fn eof_closes(framing: &Framing) -> bool {
    matches!(framing.clone().decode_eof(&mut BytesMut::new()), Ok(None))
}

/// What a connection's task holds besides its socket and session.
struct Served {
    connection: Connection,
    pushes: PushQueue,
    /// The connection's place in the counts: given back when it ends.
    admitted: Admitted,
    /// Where to set the connection aside when it is quiet; `None` never does.
    lot: Option<Arc<Lot>>,
}

/// Drives the connection's session until it ends (then closes the socket and returns why) or is
/// quiet and set aside (returns `None`).
#[allow(clippy::too_many_arguments)]
async fn serve<H: Handler, S: Transport>(
    mut reader: MessageReader<S, Framing>,
    mut session: ServerSession<Outcome<()>>,
    mut back: Option<ReturnLink>,
    mut first: Option<Box<Bytes>>,
    mut served: Served,
    handler: Arc<H>,
    config: Arc<ServerConfig>,
    counters: Arc<Counters>,
) -> Option<Arc<Disconnect>> {
    let cause = loop {
        let parking = served.lot.is_some();
        let driven = Box::pin(drive(
            &mut reader,
            &mut session,
            PairLinks {
                back: back.as_mut(),
                first: first.take(),
            },
            parking,
            &served.connection,
            &served.pushes,
            &*handler,
            &config,
            &counters,
        ))
        .await;
        match driven {
            Driven::Closed(cause) => break cause,
            Driven::Quiet(last_activity) => {
                match set_aside(reader, &session, last_activity, served, &config) {
                    SetAside::Done => return None,
                    SetAside::Not(again) => {
                        // A push or a close came first, or the socket cannot be watched.
                        (reader, served) = *again;
                    }
                    SetAside::Failed(cause, connection) => {
                        handler.closed(&connection, &cause);
                        return Some(cause);
                    }
                }
            }
        }
    };
    let Served {
        connection,
        pushes,
        admitted: _admitted,
        ..
    } = served;
    pushes.ended(&cause);
    drop(pushes);
    handler.closed(&connection, &cause);
    // Close politely (with TLS, a close_notify), unless the connection is broken.
    if !matches!(
        *cause,
        Disconnect::Read(_) | Disconnect::Write(_) | Disconnect::WriteTimedOut(_)
    ) {
        // Boxed: an idle connection's task must not carry the room closing needs.
        let _ = Box::pin(tokio::time::timeout(
            CLOSE_TIMEOUT,
            reader.get_mut().shutdown(),
        ))
        .await;
        if let Some(back) = back.as_mut() {
            let _ = Box::pin(tokio::time::timeout(CLOSE_TIMEOUT, back.shutdown())).await;
        }
    }
    Some(cause)
}

/// How setting a quiet connection aside went.
enum SetAside<S> {
    /// It waits in its lot; its task ends.
    Done,
    /// Not now (a push or a close request came first, or its socket cannot be watched): the task
    /// goes on serving it.
    Not(Box<(MessageReader<S, Framing>, Served)>),
    /// Its socket failed on the way: why, and the connection's handle.
    Failed(Arc<Disconnect>, Connection),
}

/// Sets a quiet connection aside in its lot, unless a push or a close request is waiting: the
/// push queue is held from that check until the connection is in the lot and marked so, so none
/// is missed.
fn set_aside<S: Transport>(
    reader: MessageReader<S, Framing>,
    session: &ServerSession<Outcome<()>>,
    last_activity: Instant,
    served: Served,
    config: &ServerConfig,
) -> SetAside<S> {
    let Some(lot) = served.lot.clone() else {
        return SetAside::Not(Box::new((reader, served)));
    };
    let inner = Arc::clone(&served.connection.inner);
    let Some(mut queue) = quiet(&inner) else {
        return SetAside::Not(Box::new((reader, served)));
    };
    let offset = reader.decoder().stream_offset();
    let deadline = session
        .poll_timeout()
        .unwrap_or_else(|| crate::policy::heartbeat::far_future(last_activity));
    let (stream, rest) = reader.into_parts();
    debug_assert!(rest.is_empty(), "a quiet connection has nothing buffered");
    let stream = match stream.into_std() {
        Ok(stream) => mio::net::TcpStream::from_std(stream),
        Err(e) => {
            drop(queue);
            let cause = Arc::new(Disconnect::read(e.into()));
            served.pushes.ended(&cause);
            return SetAside::Failed(cause, served.connection);
        }
    };
    let _ = inner.lot.get_or_init(|| Arc::clone(&lot));
    let parked = Parked {
        stream,
        pushes: served.pushes,
        admitted: served.admitted,
        offset,
        last_activity,
        set_aside_at: now(),
        deadline,
    };
    match lot.park(parked) {
        Ok(()) => {
            queue.parked = true;
            SetAside::Done
        }
        Err(parked) => {
            drop(queue);
            let Parked {
                stream,
                pushes,
                admitted,
                ..
            } = *parked;
            let connection = pushes.connection();
            let stream = match S::from_std(std::net::TcpStream::from(stream)) {
                Ok(stream) => stream,
                Err(e) => {
                    let cause = Arc::new(Disconnect::read(e.into()));
                    pushes.ended(&cause);
                    return SetAside::Failed(cause, connection);
                }
            };
            let mut framing = config.framing.clone();
            framing.continue_at(offset);
            SetAside::Not(Box::new((
                MessageReader::new(stream, framing),
                Served {
                    connection,
                    pushes,
                    admitted,
                    lot: None,
                },
            )))
        }
    }
}

/// The push queue, held, when nothing waits in it and no close is asked for: nothing can be
/// queued until the lock is let go.
fn quiet(inner: &ConnectionInner) -> Option<std::sync::MutexGuard<'_, Pushes>> {
    let pushes = inner.pushes.lock().ok()?;
    let quiet = pushes.waiting.is_empty() && pushes.closing.is_none() && !pushes.closed;
    quiet.then_some(pushes)
}

/// How long closing a connection may take (a TLS close_notify to a peer that does not read).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// What woke the connection's loop.
enum Input<R> {
    Replied(R),
    Io(Result<Io, msgframe_io::Error>),
    /// A push, or why the connection is asked to close.
    Push(Result<Push, Arc<Disconnect>>),
    Timer,
}

/// What the connection's reads and writes did.
enum Io {
    /// Bytes were read into the buffer.
    Filled,
    /// The message being written went out whole.
    Written,
}

/// A simplex pair's return link (and the request link's first message, when it was read to pair
/// the links by key), or `None` when none came in time.
async fn pair_links<S: Transport>(
    links: &super::return_link::ReturnSource,
    reader: &mut MessageReader<S, Framing>,
    peer: SocketAddr,
) -> Option<(Option<ReturnLink>, Option<Box<Bytes>>)> {
    let mut first = None;
    let key = match links.pairing() {
        Some(pairing) => {
            first = tokio::time::timeout(links.within(), reader.read_message())
                .await
                .ok()
                .and_then(Result::ok);
            Some(first.as_deref().and_then(|m| (pairing.key)(m))?)
        }
        None => None,
    };
    let back = links.for_peer(peer.ip(), key).await?;
    // Boxed: an idle connection's task should not carry their room.
    Some((Some(back), first.map(Box::new)))
}

/// A simplex pair's extras: its return link, and the request link's first message when it was
/// read to pair the links.
struct PairLinks<'a> {
    back: Option<&'a mut ReturnLink>,
    first: Option<Box<Bytes>>,
}

/// How a connection's loop ended.
enum Driven {
    /// The connection is over.
    Closed(Arc<Disconnect>),
    /// The connection is quiet (last active then) and may be set aside.
    Quiet(Instant),
}

/// The connection's loop: do what the session says, wait for what happens next, tell the
/// session. With `parking`, it returns once the connection is quiet enough to be set aside.
#[allow(clippy::too_many_arguments)]
async fn drive<H: Handler, S: Transport>(
    reader: &mut MessageReader<S, Framing>,
    session: &mut ServerSession<Outcome<()>>,
    pair: PairLinks<'_>,
    parking: bool,
    connection: &Connection,
    pushes: &PushQueue,
    handler: &H,
    config: &ServerConfig,
    counters: &Counters,
) -> Driven {
    let PairLinks {
        mut back,
        mut first,
    } = pair;
    // The write buffer, kept between messages and given back with the read buffer when idle.
    let mut out = BytesMut::new();
    // The length of the body being written, counted once it is out.
    let mut writing: Option<usize> = None;
    // The handler's call in progress. Boxed, as every rarely-awaited future here: an idle
    // connection's task then holds only what waiting needs.
    let mut replying: Option<Pin<Box<H::Future>>> = None;
    // When the handler was called, for its latency in the metrics.
    #[cfg(feature = "metrics")]
    let mut handler_called = now();
    let mut timer = Timer::new();
    let mut closing = false;
    loop {
        // A message read before the session began (a pair's first, which named it).
        if let Some(message) = first.take().map(|m| *m) {
            counters.frames_in.add(1);
            counters.bytes_in.add(message.len() as u64);
            session.handle_message(now(), message, !reader.is_between_messages());
        }
        // Every whole message already buffered first.
        if session.wants_read() {
            match reader.try_message() {
                Ok(Some(message)) => {
                    counters.frames_in.add(1);
                    counters.bytes_in.add(message.len() as u64);
                    session.handle_message(now(), message, !reader.is_between_messages());
                }
                Ok(None) => {
                    if !reader.is_between_messages() {
                        session.bytes_arrived(now());
                    }
                }
                Err(e) => session.handle_read_error(now(), e),
            }
        }
        if S::UNBUFFERED && reader.has_block() && reader.is_between_messages() {
            // Between messages, the read block goes back to the pool at once.
            if !blocks::reclaim(reader) {
                reader.release_idle_buffer();
            }
        }
        while let Some(event) = session.poll_event() {
            match event {
                ServerEvent::Handle(message) => {
                    #[cfg(feature = "metrics")]
                    {
                        handler_called = now();
                    }
                    replying = Some(Box::pin(handler.handle(connection.clone(), message)));
                }
                ServerEvent::Done { caller, outcome } => {
                    let _ = caller.send(outcome);
                }
                ServerEvent::ReleaseBuffers => {
                    reader.release_idle_buffer();
                    out = BytesMut::new();
                }
                ServerEvent::Closed(cause) => return Driven::Closed(cause),
            }
        }
        if parking && replying.is_none() && writing.is_none() && !closing {
            if let Some(last_activity) = session.quiet() {
                if reader.is_between_messages() && quiet(&connection.inner).is_some() {
                    return Driven::Quiet(last_activity);
                }
            }
        }
        if writing.is_none() {
            if let Some(transmit) = session.poll_transmit(now()) {
                match config.encoder.encode(&transmit.body, &mut out) {
                    Ok(()) => writing = Some(transmit.body.len()),
                    Err(e) => session.write_done(now(), Err(msgframe_io::Error::from_encode(e))),
                }
                continue;
            }
        }
        timer.arm(session.poll_timeout());
        let io = if writing.is_some() {
            Some(Direction::Write)
        } else if session.wants_read() {
            Some(Direction::Read {
                wait_first: session.is_released() || (S::UNBUFFERED && !reader.has_block()),
            })
        } else {
            None
        };
        let input = tokio::select! {
            biased;
            reply = async { replying.as_mut().expect("a handler call").await }, if replying.is_some() => Input::Replied(reply),
            done = connection_io(reader, back.as_deref_mut(), &mut out, io.unwrap_or(Direction::Write)), if io.is_some() => Input::Io(done),
            push = pushes.next(), if !closing && session.wants_push() => Input::Push(push),
            () = timer.fired() => Input::Timer,
        };
        let now = now();
        match input {
            Input::Push(Err(cause)) => {
                closing = true;
                session.close_with(now, cause);
            }
            Input::Replied(reply) => {
                replying = None;
                #[cfg(feature = "metrics")]
                counters.handler_done(now.saturating_duration_since(handler_called));
                session.handler_done(now, reply);
            }
            Input::Io(Ok(Io::Filled)) => session.readable(now),
            Input::Io(Ok(Io::Written)) => {
                if S::UNBUFFERED {
                    // Nothing kept between messages: the next reply allocates its own.
                    out = BytesMut::new();
                }
                if let Some(len) = writing.take() {
                    counters.frames_out.add(1);
                    counters.bytes_out.add(len as u64);
                }
                session.write_done(now, Ok(()));
            }
            Input::Io(Err(e)) => {
                if writing.take().is_some() {
                    session.write_done(now, Err(e));
                } else {
                    session.handle_read_error(now, e);
                }
            }
            Input::Push(Ok(push)) => {
                // A pusher that gave up first reports that itself.
                if push.ticket.take() {
                    session.push(now, push.body, push.done);
                }
            }
            Input::Timer => session.handle_timeout(now),
        }
    }
}

/// Which way the connection's bytes go now: one task reads and writes in turn.
#[derive(Clone, Copy)]
enum Direction {
    /// Read; `wait_first`: the connection holds no read block, so it waits for the socket to be
    /// readable before it takes one.
    Read {
        wait_first: bool,
    },
    Write,
}

/// Reads once into the reader's buffer (first waiting, when it has no block, until the socket is
/// readable, then taking a block from the pool); or writes the framed message in `out`
/// whole. Cancel-safe: bytes read stay buffered, bytes not yet written stay in `out`.
async fn connection_io<S: Transport>(
    reader: &mut MessageReader<S, Framing>,
    back: Option<&mut ReturnLink>,
    out: &mut BytesMut,
    direction: Direction,
) -> Result<Io, msgframe_io::Error> {
    if let (Direction::Write, Some(back)) = (direction, back) {
        // A simplex pair writes on its return link.
        while !out.is_empty() {
            if back.write_buf(out).await? == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::WriteZero).into());
            }
        }
        back.flush().await?;
        return Ok(Io::Written);
    }
    match direction {
        Direction::Read { wait_first } => {
            if wait_first {
                reader.get_ref().tcp().readable().await?;
            }
            blocks::lend(reader);
            reader.fill().await?;
            Ok(Io::Filled)
        }
        Direction::Write => {
            let stream = reader.get_mut();
            while !out.is_empty() {
                if stream.write_buf(out).await? == 0 {
                    return Err(std::io::Error::from(std::io::ErrorKind::WriteZero).into());
                }
            }
            stream.flush().await?;
            Ok(Io::Written)
        }
    }
}
