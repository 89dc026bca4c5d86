//! One accepted connection: read messages, hand each to the handler, write its reply and any
//! pushes, and close when the handler says so, on an error, when reaped, or at shutdown.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use msgframe_codec::Framing;
use msgframe_tokio::{MessageReader, MessageWriter};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
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
    push: mpsc::Sender<Push>,
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
        let (tx, rx) = mpsc::channel(queue.max(1));
        (
            Connection {
                inner: Arc::new(ConnectionInner { id, peer, push: tx }),
            },
            PushQueue(rx),
        )
    }

    /// The server's number for this connection (unique while the server runs).
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.inner.peer
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.inner.push.is_closed()
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
        let push = Push {
            body: body.into_message(),
            ticket: ticket.clone(),
            done: done_tx,
        };
        match tokio::time::timeout_at(deadline, self.inner.push.send(push)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(Error::not_sent("the connection is closed")),
            Err(_) => return Err(Error::not_sent("the connection's push queue stayed full")),
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

/// The receiving end of a connection's pushes.
pub(crate) struct PushQueue(mpsc::Receiver<Push>);

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
pub(crate) async fn run<H: Handler>(
    stream: TcpStream,
    connection: Connection,
    pushes: PushQueue,
    handler: Arc<H>,
    config: Arc<ServerConfig>,
    counters: Arc<Counters>,
    mut shutdown: watch::Receiver<bool>,
) -> End {
    let PushQueue(mut pushes) = pushes;
    let (read_half, write_half) = stream.into_split();
    let mut reader = MessageReader::new(read_half, config.framing.clone());
    let mut writer = MessageWriter::new(write_half, config.framing.clone());
    let mut clock = IdleClock::new(config.idle_timeout, config.message_timeout, now());
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
                        if let Err(e) = write(&mut writer, &reply, &config, &counters).await {
                            return End::Failed(e);
                        }
                        clock.message_done(now(), !reader.is_between_messages());
                        continue;
                    }
                }
                let reply = handler.handle(connection.clone(), message).await;
                let (body, close) = match reply {
                    Reply::Send(body) => (Some(body), false),
                    Reply::Nothing => (None, false),
                    Reply::Close => (None, true),
                    Reply::SendAndClose(body) => (Some(body), true),
                };
                if let Some(body) = body {
                    if let Err(e) = write(&mut writer, &body, &config, &counters).await {
                        return End::Failed(e);
                    }
                    clock.message_done(now(), !reader.is_between_messages());
                }
                if close {
                    let _ = writer.shutdown().await;
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
        tokio::select! {
            biased;
            () = signalled(&mut shutdown) => return End::Shutdown,
            read = reader.fill() => {
                if let Err(e) = read {
                    return End::Failed(Error::Frame(e));
                }
                released = false;
            }
            push = pushes.recv() => {
                let Some(push) = push else { continue };
                if !push.ticket.take() {
                    continue;
                }
                let result = write(&mut writer, &push.body, &config, &counters).await;
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
            () = tokio::time::sleep_until(deadline) => return End::Reaped(clock.reason()),
            () = tokio::time::sleep(RELEASE_BUFFERS_AFTER), if !released => {
                reader.release_idle_buffer();
                writer.release_idle_buffer();
                released = true;
            }
        }
    }
}

/// Writes one message within the write timeout, counting it.
async fn write(
    writer: &mut MessageWriter<OwnedWriteHalf, Framing>,
    body: &[u8],
    config: &ServerConfig,
    counters: &Counters,
) -> Result<(), Error> {
    writer
        .write_message_timeout(body, config.write_timeout)
        .await
        .map_err(Error::Frame)?;
    Counters::add(&counters.frames_out, 1);
    Counters::add(&counters.bytes_out, body.len() as u64);
    Ok(())
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}
