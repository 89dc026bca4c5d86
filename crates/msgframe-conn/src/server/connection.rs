//! One accepted connection: read messages, hand each to the handler, write its reply and any
//! pushes, and close when the handler says so, on an error, when reaped, or at shutdown.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use msgframe_codec::Framing;
use msgframe_tokio::{MessageReader, MessageWriter};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch, Notify};
use tokio::time::Instant;

use super::stats::Counters;
use super::ServerConfig;
use crate::client::driver::signalled;
use crate::client::outgoing::{CancelOnDrop, Ticket};
use crate::client::IntoMessage;
use crate::policy::idle::{IdleClock, Reaped};
use crate::Error;

/// After this long without any event, an idle connection gives its read and write buffers back.
const RELEASE_BUFFERS_AFTER: Duration = Duration::from_secs(1);

/// What the handler wants done after a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Send this message back.
    Send(Bytes),
    /// Send nothing (the message needs no answer, or the answer is pushed later).
    Nothing,
    /// Close the connection without answering.
    Close,
    /// Send this message, then close the connection.
    SendAndClose(Bytes),
}

impl Reply {
    /// Send `body` back.
    pub fn send(body: impl IntoMessage) -> Self {
        Reply::Send(body.into_message())
    }
}

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
struct Push {
    body: Bytes,
    ticket: Ticket,
    done: oneshot::Sender<Result<(), Error>>,
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
    /// Wakes a pusher waiting for room.
    room: Notify,
    /// The client's certificate, with TLS and client certificates.
    #[cfg(feature = "tls")]
    identity: std::sync::OnceLock<crate::tls::PeerIdentity>,
}

struct Pushes {
    waiting: VecDeque<Push>,
    max: usize,
    closed: bool,
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
                }),
                queued: Notify::new(),
                room: Notify::new(),
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
        self.inner.identity.get()
    }

    #[cfg(feature = "tls")]
    pub(crate) fn set_identity(&self, identity: crate::tls::PeerIdentity) {
        let _ = self.inner.identity.set(identity);
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.inner.pushes.lock().map_or(true, |p| p.closed)
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
        drop(pushes);
        self.inner.queued.notify_one();
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
        let deadline = Instant::now() + timeout;
        let ticket = Ticket::default();
        let _cancel_on_drop = CancelOnDrop(ticket.clone());
        let (done_tx, mut done_rx) = oneshot::channel();
        let mut push = Push {
            body: body.into_message(),
            ticket: ticket.clone(),
            done: done_tx,
        };
        loop {
            // Registered before trying, so that room made in between is not missed.
            let room = self.inner.room.notified();
            match self.try_queue(push) {
                Ok(()) => break,
                Err((_, true)) => return Err(Error::not_sent("the connection is closed")),
                Err((back, false)) => {
                    push = back;
                    if tokio::time::timeout_at(deadline, room).await.is_err() {
                        return Err(Error::not_sent("the connection's push queue stayed full"));
                    }
                }
            }
        }
        let outcome = tokio::select! {
            outcome = &mut done_rx => Some(outcome),
            () = tokio::time::sleep_until(deadline) => None,
        };
        let outcome = match outcome {
            Some(outcome) => outcome,
            None if ticket.cancel() => {
                return Err(Error::not_sent(
                    "the connection did not take the message in time",
                ))
            }
            None => done_rx.await,
        };
        outcome.unwrap_or_else(|_| {
            Err(if ticket.was_taken() {
                Error::ConnectionLost {
                    written: false,
                    reason: "the connection ended while the message was being written".into(),
                }
            } else {
                Error::not_sent("the connection closed before taking the message")
            })
        })
    }
}

/// The connection task's end of its pushes; closes the queue (failing what waits in it) when the
/// task ends.
pub(crate) struct PushQueue(Arc<ConnectionInner>);

impl PushQueue {
    /// The next push, waiting for one.
    async fn next(&self) -> Push {
        loop {
            let queued = self.0.queued.notified();
            let next = self
                .0
                .pushes
                .lock()
                .ok()
                .and_then(|mut p| p.waiting.pop_front());
            if let Some(push) = next {
                self.0.room.notify_one();
                return push;
            }
            queued.await;
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
        self.0.room.notify_waiters();
    }
}

/// Why a connection ended.
#[derive(Debug)]
pub(crate) enum End {
    /// The client closed between messages.
    PeerClosed,
    /// The handler asked to close.
    Handler,
    Reaped(Reaped),
    Shutdown,
    Failed(Error),
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            End::PeerClosed => f.write_str("closed by the client"),
            End::Handler => f.write_str("closed by the handler"),
            End::Reaped(Reaped::Idle) => f.write_str("reaped: idle"),
            End::Reaped(Reaped::MessageTooSlow) => {
                f.write_str("reaped: a message was not whole in time")
            }
            End::Shutdown => f.write_str("server shutdown"),
            End::Failed(e) => write!(f, "{e}"),
        }
    }
}

/// Runs one connection until it ends.
/// A connection's byte stream: plain TCP, or TLS over it.
pub(crate) trait Transport: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// The TCP socket underneath, to wait for readability without a buffer.
    fn tcp(&self) -> &TcpStream;
}

impl Transport for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

#[cfg(feature = "tls")]
impl Transport for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

pub(crate) async fn run<H: Handler, S: Transport>(
    stream: S,
    connection: Connection,
    pushes: PushQueue,
    handler: Arc<H>,
    config: Arc<ServerConfig>,
    counters: Arc<Counters>,
    mut shutdown: watch::Receiver<bool>,
) -> End {
    // One task reads and writes in turn: no split. Writes borrow the stream from the reader.
    let mut reader = MessageReader::new(stream, config.framing.clone());
    let end = serve_messages(
        &mut reader,
        connection,
        pushes,
        handler,
        &config,
        &counters,
        &mut shutdown,
    )
    .await;
    // Close politely (with TLS, a close_notify), unless the connection is broken.
    if !matches!(end, End::Failed(_)) {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, reader.get_mut().shutdown()).await;
    }
    end
}

/// How long closing a connection may take (a TLS close_notify to a peer that does not read).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

async fn serve_messages<H: Handler, S: Transport>(
    reader: &mut MessageReader<S, Framing>,
    connection: Connection,
    pushes: PushQueue,
    handler: Arc<H>,
    config: &ServerConfig,
    counters: &Counters,
    shutdown: &mut watch::Receiver<bool>,
) -> End {
    // The write buffer, kept between messages and given back with the read buffer when idle.
    let mut out = BytesMut::new();
    let mut clock = IdleClock::new(config.idle_timeout, config.message_timeout, now());
    // Whether the connection has given its buffers back: it then waits for readability before
    // reading, so that an idle connection holds no read buffer. A new connection reads at once
    // (its first message is usually there already) into a first block of 8 KiB.
    let mut released = false;
    loop {
        // Every whole message already buffered first.
        match reader.try_message() {
            Ok(Some(message)) => {
                released = false;
                clock.message_done(now(), !reader.is_between_messages());
                Counters::add(&counters.frames_in, 1);
                Counters::add(&counters.bytes_in, message.len() as u64);
                if let Some(answer) = &config.answer {
                    if (answer.is_request)(&message) {
                        let reply = (answer.answer)(&message);
                        if let Err(e) =
                            Box::pin(write(reader, &mut out, &reply, config, counters)).await
                        {
                            return End::Failed(e);
                        }
                        clock.message_done(now(), !reader.is_between_messages());
                        continue;
                    }
                }
                // Boxed, as every rarely-awaited future here: an idle connection's task then
                // holds only what waiting needs.
                let reply = Box::pin(handler.handle(connection.clone(), message)).await;
                let (body, close) = match reply {
                    Reply::Send(body) => (Some(body), false),
                    Reply::Nothing => (None, false),
                    Reply::Close => (None, true),
                    Reply::SendAndClose(body) => (Some(body), true),
                };
                if let Some(body) = body {
                    if let Err(e) = Box::pin(write(reader, &mut out, &body, config, counters)).await
                    {
                        return End::Failed(e);
                    }
                    clock.message_done(now(), !reader.is_between_messages());
                }
                if close {
                    return End::Handler;
                }
                continue;
            }
            Ok(None) => {}
            Err(msgframe_io::Error::Closed) => return End::PeerClosed,
            Err(e) => return End::Failed(Error::Frame(e)),
        }
        if !reader.is_between_messages() {
            clock.bytes_arrived(now());
        }
        let deadline = Instant::from_std(clock.deadline());
        let wake = if released {
            deadline
        } else {
            deadline.min(Instant::now() + RELEASE_BUFFERS_AFTER)
        };
        tokio::select! {
            biased;
            () = signalled(shutdown) => return End::Shutdown,
            read = wait_or_fill(reader, released) => {
                if let Err(e) = read {
                    return End::Failed(Error::Frame(e));
                }
                // Readable, or read: the next turn reads (and allocates what it needs).
                released = false;
            }
            push = pushes.next() => {
                if !push.ticket.take() {
                    continue;
                }
                let result = Box::pin(write(reader, &mut out, &push.body, config, counters)).await;
                let failed = result.as_ref().err().map(|e| e.to_string());
                let _ = push.done.send(result.map_err(|e| match e {
                    Error::Frame(msgframe_io::Error::TimedOut { elapsed_ms, .. }) => Error::TimedOut {
                        written: false,
                        elapsed: Duration::from_millis(elapsed_ms),
                    },
                    other => Error::ConnectionLost { written: false, reason: other.to_string() },
                }));
                if let Some(reason) = failed {
                    return End::Failed(Error::ConnectionLost { written: false, reason });
                }
                clock.message_done(now(), !reader.is_between_messages());
                released = false;
            }
            // One timer for both: reaping, and giving the buffers back after a quiet second.
            () = tokio::time::sleep_until(wake) => {
                if Instant::now() >= deadline {
                    return End::Reaped(clock.reason());
                }
                reader.release_idle_buffer();
                out = BytesMut::new();
                released = true;
            }
        }
    }
}

/// Reads once into the reader's buffer; or, when the buffers were given back, waits until the
/// socket is readable without allocating any.
async fn wait_or_fill<S: Transport>(
    reader: &mut MessageReader<S, Framing>,
    released: bool,
) -> Result<(), msgframe_io::Error> {
    if released {
        reader.get_ref().tcp().readable().await?;
    } else {
        reader.fill().await?;
    }
    Ok(())
}

/// Writes one message within the write timeout, counting it.
async fn write<S: Transport>(
    reader: &mut MessageReader<S, Framing>,
    out: &mut BytesMut,
    body: &[u8],
    config: &ServerConfig,
    counters: &Counters,
) -> Result<(), Error> {
    // A writer borrowing the stream, framing into the connection's one buffer. Unsent bytes left
    // by a timeout are dropped with it: the connection is closed then.
    let mut writer = MessageWriter::with_buffer(
        reader.get_mut(),
        Arc::clone(&config.encoder),
        std::mem::take(out),
    );
    let result = writer
        .write_message_timeout(body, config.write_timeout)
        .await;
    *out = writer.into_parts().1;
    result.map_err(Error::Frame)?;
    Counters::add(&counters.frames_out, 1);
    Counters::add(&counters.bytes_out, body.len() as u64);
    Ok(())
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}
