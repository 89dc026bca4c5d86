//! Long connections: one persistent connection for many messages, kept healthy and re-established
//! by a task; the handles callers use to send, request and receive.

use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use msgframe_codec::Framing;
use msgframe_tokio::{MessageReader, MessageWriter};
use tokio::sync::{broadcast, mpsc, oneshot, watch, Semaphore};
use tokio::time::Instant;

use super::driver::{Driver, LinkState, Shared};
use super::event::Event;
use super::heartbeat::{AnswerHeartbeats, Heartbeat};
use super::message::IntoMessage;
use super::outgoing::{CancelOnDrop, Outgoing, Ticket, Waiter};
use crate::policy::backoff::{Backoff, HostOrder};
use crate::policy::matcher::Matcher;
use crate::socket::Keepalive;
use crate::Error;

/// A future returned by an after-connect hook.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub(crate) type KeyFn<K> = Arc<dyn Fn(&[u8]) -> Option<K> + Send + Sync>;
pub(crate) type Hook =
    Arc<dyn for<'a> Fn(&'a mut Session) -> BoxFuture<'a, Result<(), Error>> + Send + Sync>;

/// What request matching needs of a key: comparable, hashable, printable, and movable between
/// tasks. Implemented for every such type.
pub trait Key: Eq + Hash + Clone + fmt::Debug + Send + Sync + 'static {}
impl<T: Eq + Hash + Clone + fmt::Debug + Send + Sync + 'static> Key for T {}

/// The configuration a client's task runs with.
pub(crate) struct Config<K> {
    pub(crate) hosts: Vec<String>,
    pub(crate) framing: Framing,
    pub(crate) keepalive: Option<Keepalive>,
    pub(crate) heartbeat: Option<Heartbeat>,
    pub(crate) answer: Option<AnswerHeartbeats>,
    pub(crate) backoff: Backoff,
    pub(crate) order: HostOrder,
    pub(crate) stable_after: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) on_connect: Option<Hook>,
    pub(crate) key: KeyFn<K>,
    pub(crate) security: super::connect::Security,
}

/// Options of a [`LongClient`]; [`start`](LongClientBuilder::start) it inside a tokio runtime or
/// [`start_blocking`](LongClientBuilder::start_blocking) from plain threads.
///
/// `K` is the request-matching key: `()` until [`match_replies`](Self::match_replies) sets a key
/// function. Without one, [`LongClient::request`] is synchronous request/response: one request at
/// a time, and the next message the peer sends (heartbeats aside) is its reply.
pub struct LongClientBuilder<K = ()> {
    config: Config<K>,
    max_in_flight: usize,
    queue: usize,
    incoming: usize,
    timeout: Duration,
}

impl<K> fmt::Debug for LongClientBuilder<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LongClientBuilder")
            .field("hosts", &self.config.hosts)
            .field("framing", &self.config.framing)
            .field("keepalive", &self.config.keepalive)
            .field("heartbeat", &self.config.heartbeat)
            .field("backoff", &self.config.backoff)
            .field("max_in_flight", &self.max_in_flight)
            .finish_non_exhaustive()
    }
}

impl LongClientBuilder<()> {
    fn new(hosts: Vec<String>, framing: Framing) -> Self {
        LongClientBuilder {
            config: Config {
                hosts,
                framing,
                keepalive: Some(Keepalive::default()),
                heartbeat: None,
                answer: None,
                backoff: Backoff::default(),
                order: HostOrder::PrimaryFirst,
                stable_after: Duration::from_secs(10),
                connect_timeout: Duration::from_secs(5),
                on_connect: None,
                key: Arc::new(|_| Some(())),
                security: super::connect::Security::Plain,
            },
            max_in_flight: 1,
            queue: 64,
            incoming: 1024,
            timeout: Duration::from_secs(30),
        }
    }
}

impl<K: Key> LongClientBuilder<K> {
    /// Matches replies to requests by key, so that many requests share the connection and replies
    /// may come in any order. `key` extracts the key from each outgoing request and each incoming
    /// message (a CMPP sequence id; an ISO 8583 MTI class with STAN and terminal id); a message
    /// without a key, or whose key no request waits for, goes to the incoming channel. Up to
    /// [`max_in_flight`](Self::max_in_flight) requests (256 unless set) wait at once.
    pub fn match_replies<K2: Key>(
        self,
        key: impl Fn(&[u8]) -> Option<K2> + Send + Sync + 'static,
    ) -> LongClientBuilder<K2> {
        let c = self.config;
        LongClientBuilder {
            config: Config {
                hosts: c.hosts,
                framing: c.framing,
                keepalive: c.keepalive,
                heartbeat: c.heartbeat,
                answer: c.answer,
                backoff: c.backoff,
                order: c.order,
                stable_after: c.stable_after,
                connect_timeout: c.connect_timeout,
                on_connect: c.on_connect,
                key: Arc::new(key),
                security: c.security,
            },
            max_in_flight: if self.max_in_flight == 1 {
                256
            } else {
                self.max_in_flight
            },
            queue: self.queue,
            incoming: self.incoming,
            timeout: self.timeout,
        }
    }

    /// TCP keepalive on the connection (on by default: [`Keepalive::default`]); `None` turns it off.
    pub fn keepalive(mut self, keepalive: Option<Keepalive>) -> Self {
        self.config.keepalive = keepalive;
        self
    }

    /// Secures every connection with TLS (feature `tls`): each connect, reconnects included,
    /// performs a new handshake.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::tls::TlsConnector) -> Self {
        self.config.security = super::connect::Security::Tls(tls);
        self
    }

    /// Sends application heartbeats when the link is quiet and drops a peer that stops answering.
    pub fn heartbeat(mut self, heartbeat: Heartbeat) -> Self {
        self.config.heartbeat = Some(heartbeat);
        self
    }

    /// Answers the peer's heartbeats.
    pub fn answer_heartbeats(mut self, answer: AnswerHeartbeats) -> Self {
        self.config.answer = Some(answer);
        self
    }

    /// Delays between reconnect rounds (default: from 1 s, doubling, up to 60 s, 20% jitter).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.config.backoff = backoff;
        self
    }

    /// Which host each round of connection attempts starts with (default: the primary, the
    /// first host given).
    pub fn host_order(mut self, order: HostOrder) -> Self {
        self.config.order = order;
        self
    }

    /// How long a connection must last for the backoff to start over (default 10 s): a host that
    /// accepts and at once drops connections is retried ever more slowly.
    pub fn stable_after(mut self, lasted: Duration) -> Self {
        self.config.stable_after = lasted;
        self
    }

    /// The longest wait for each connection attempt (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// Runs `hook` on every new connection before it is used (a logon or sign-on exchange). If it
    /// fails, the connection is dropped and the client tries again after the backoff.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// # fn demo(builder: msgframe_conn::LongClientBuilder) {
    /// let builder = builder.on_connect(|session| {
    ///     Box::pin(async move {
    ///         let reply = session.request(b"0800 sign-on", Duration::from_secs(5)).await?;
    ///         if !reply.starts_with(b"0810") {
    ///             return Err(msgframe_conn::Error::Config("sign-on refused".into()));
    ///         }
    ///         Ok(())
    ///     })
    /// });
    /// # }
    /// ```
    pub fn on_connect<F>(mut self, hook: F) -> Self
    where
        F: for<'a> Fn(&'a mut Session) -> BoxFuture<'a, Result<(), Error>> + Send + Sync + 'static,
    {
        self.config.on_connect = Some(Arc::new(hook));
        self
    }

    /// How many requests may wait for replies at once (1 without request matching; 256 with it).
    /// A request beyond it waits for a slot within its own timeout.
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = max.max(1);
        self
    }

    /// How many messages may wait to be written (default 64). A send beyond it waits for room
    /// within its own timeout.
    pub fn queue(mut self, messages: usize) -> Self {
        self.queue = messages.max(1);
        self
    }

    /// How many received messages may wait for [`LongClient::recv`] (default 1024). When it is
    /// full the client stops reading (back-pressure) until the application takes one.
    pub fn incoming(mut self, messages: usize) -> Self {
        self.incoming = messages.max(1);
        self
    }

    /// The time limit of [`LongClient::send`] and of requests made without one (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn validate(&self) -> Result<(), Error> {
        if self.config.hosts.is_empty() {
            return Err(Error::Config(
                "a long client needs at least one host".into(),
            ));
        }
        Ok(())
    }

    /// Starts the client's task on the current tokio runtime; it connects at once and keeps the
    /// connection up until [`LongClient::close`] or until every handle is dropped.
    ///
    /// # Errors
    /// [`Error::Config`] for no host, or when called outside a tokio runtime.
    pub fn start(self) -> Result<LongClient<K>, Error> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::Config("LongClientBuilder::start needs a tokio runtime; use start_blocking from plain threads".into())
        })?;
        self.start_on(&handle)
    }

    /// Starts the client on a runtime this crate owns, for synchronous programs.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_blocking(self) -> Result<crate::client::BlockingLongClient<K>, Error> {
        let handle = crate::blocking::handle()?;
        Ok(crate::client::BlockingLongClient::new(
            self.start_on(&handle)?,
            handle,
        ))
    }

    fn start_on(self, runtime: &tokio::runtime::Handle) -> Result<LongClient<K>, Error> {
        self.validate()?;
        let (queue_tx, queue_rx) = mpsc::channel(self.queue);
        let (incoming_tx, incoming_rx) = mpsc::channel(self.incoming);
        let (events_tx, events_rx) = broadcast::channel(256);
        let (state_tx, state_rx) = watch::channel(LinkState::default());
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let matcher = Arc::new(Mutex::new(Matcher::new()));
        let config = Arc::new(self.config);
        let shared = Shared {
            config: Arc::clone(&config),
            queue: Arc::new(tokio::sync::Mutex::new(queue_rx)),
            matcher: Arc::clone(&matcher),
            incoming: incoming_tx,
            events: events_tx.clone(),
            state: state_tx,
            shutdown: shutdown_rx,
        };
        let driver = runtime.spawn(Driver::new(shared).run());
        let lifeline = Arc::new(Lifeline {
            shutdown: shutdown_tx,
            driver: Mutex::new(Some(driver)),
        });
        Ok(LongClient {
            sender: LongSender {
                inner: Arc::new(SenderInner {
                    queue: queue_tx,
                    matcher,
                    key: Arc::clone(&config.key),
                    in_flight: Arc::new(Semaphore::new(self.max_in_flight)),
                    timeout: self.timeout,
                    next_id: AtomicU64::new(0),
                    state: state_rx.clone(),
                    lifeline: Arc::clone(&lifeline),
                }),
            },
            receiver: LongReceiver {
                incoming: incoming_rx,
                _lifeline: Arc::clone(&lifeline),
            },
            events: Mutex::new(Some(events_rx)),
            events_tx,
            state: state_rx,
            lifeline,
        })
    }
}

/// Ends the client's task when the last handle goes.
struct Lifeline {
    shutdown: watch::Sender<bool>,
    driver: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for Lifeline {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}

/// A persistent connection to one of a list of hosts, kept up by a task: TCP keepalive,
/// application heartbeats, reconnect with capped exponential backoff and jitter, failover to
/// alternate hosts, an after-connect hook (logon), and events to observe it all.
///
/// Messages go out with [`send`](Self::send) (fire and forget, but the call says whether the
/// message was written) and [`request`](Self::request) (wait for the reply, with a timeout);
/// messages that answer no waiting request come out of [`recv`](Self::recv). [`split`](Self::split)
/// gives a sender and a receiver for different tasks; the sender clones.
///
/// ```no_run
/// use std::time::Duration;
/// use msgframe_conn::{Heartbeat, HeartbeatTiming, LongClient};
///
/// # async fn demo() -> Result<(), msgframe_conn::Error> {
/// let client = LongClient::builder(["10.0.0.1:9000", "10.0.0.2:9000"], "be:2".parse().unwrap())
///     .heartbeat(Heartbeat::empty_frame(HeartbeatTiming::default()))
///     .start()?;
/// let reply = client.request(b"0800...", Duration::from_secs(10)).await?;
/// client.close().await;
/// # Ok(())
/// # }
/// ```
///
/// Nothing is lost silently: a call either returns `Ok` (the message was written whole; for a
/// request, its reply arrived) or an [`Error`] that says whether the message was sent
/// ([`Error::is_not_sent`]). When the connection drops, every request waiting for a reply fails
/// at once with [`Error::ConnectionLost`]; queued messages wait for the next connection within
/// their own timeouts.
pub struct LongClient<K = ()> {
    sender: LongSender<K>,
    receiver: LongReceiver,
    events: Mutex<Option<broadcast::Receiver<Event>>>,
    events_tx: broadcast::Sender<Event>,
    state: watch::Receiver<LinkState>,
    lifeline: Arc<Lifeline>,
}

impl<K> fmt::Debug for LongClient<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LongClient")
            .field("connected_to", &self.state.borrow().connected)
            .finish_non_exhaustive()
    }
}

impl LongClient<()> {
    /// Options for a client of `hosts` (`name:port`; the first is the primary, the others
    /// alternates) speaking `framing`.
    pub fn builder<H: Into<String>>(
        hosts: impl IntoIterator<Item = H>,
        framing: Framing,
    ) -> LongClientBuilder<()> {
        LongClientBuilder::new(hosts.into_iter().map(Into::into).collect(), framing)
    }
}

impl<K: Key> LongClient<K> {
    /// Sends `body` within the client's default timeout. See [`LongSender::send`].
    ///
    /// # Errors
    /// As [`LongSender::send`].
    pub async fn send(&self, body: impl IntoMessage) -> Result<(), Error> {
        self.sender.send(body).await
    }

    /// Sends `body` within `timeout`. See [`LongSender::send_timeout`].
    ///
    /// # Errors
    /// As [`LongSender::send_timeout`].
    pub async fn send_timeout(
        &self,
        body: impl IntoMessage,
        timeout: Duration,
    ) -> Result<(), Error> {
        self.sender.send_timeout(body, timeout).await
    }

    /// Sends a request and waits for its reply, all within `timeout`. See [`LongSender::request`].
    ///
    /// # Errors
    /// As [`LongSender::request`].
    pub async fn request(&self, body: impl IntoMessage, timeout: Duration) -> Result<Bytes, Error> {
        self.sender.request(body, timeout).await
    }

    /// The next message that answers no waiting request (unsolicited messages, late replies),
    /// `None` once the client has shut down. See [`LongReceiver::recv`].
    pub async fn recv(&mut self) -> Option<Bytes> {
        self.receiver.recv().await
    }

    pub(crate) fn receiver_mut(&mut self) -> &mut LongReceiver {
        &mut self.receiver
    }

    /// A sender and a receiver, usable from different tasks at once (the sender clones). The
    /// client runs until [`LongSender::close`] or until both are dropped.
    pub fn split(self) -> (LongSender<K>, LongReceiver) {
        (self.sender, self.receiver)
    }

    /// Another handle for sending (it keeps the client running too).
    pub fn sender(&self) -> LongSender<K> {
        self.sender.clone()
    }

    /// The connection's events. The first call receives every event since the client started;
    /// later calls receive events from then on. A receiver that falls more than 256 events behind
    /// loses the oldest (it is told how many).
    pub fn events(&self) -> broadcast::Receiver<Event> {
        let first = self.events.lock().ok().and_then(|mut e| e.take());
        first.unwrap_or_else(|| self.events_tx.subscribe())
    }

    /// The host connected to now, if any.
    pub fn connected_to(&self) -> Option<String> {
        self.state.borrow().connected.clone()
    }

    /// Waits until the client is connected (after its hook), within `timeout`; returns the host.
    ///
    /// # Errors
    /// [`Error::NotConnected`] when no connection was up in time, or one came and was lost while
    /// waiting (with the reason), or [`Error::Shutdown`].
    pub async fn wait_connected(&self, timeout: Duration) -> Result<String, Error> {
        let start = Instant::now();
        let mut state = self.state.clone();
        let before = state.borrow().connections;
        let wait = async move {
            let result = state
                .wait_for(|s| s.connected.is_some() || s.connections > before)
                .await
                .map(|s| (s.connected.clone(), s.last_failure.clone()));
            (result, state)
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok((Ok((Some(host), _)), _)) => Ok(host),
            // Connected, then lost before this call saw it.
            Ok((Ok((None, last)), _)) => Err(Error::NotConnected {
                waited: start.elapsed(),
                last,
            }),
            Ok((Err(_), _)) => Err(Error::Shutdown),
            Err(_) => Err(Error::NotConnected {
                waited: start.elapsed(),
                last: self.state.borrow().last_failure.clone(),
            }),
        }
    }

    /// Shuts the client down: no new connection, queued messages fail with [`Error::Shutdown`]
    /// (not sent), the message being written is finished, and the connection closes. Returns
    /// when the task has ended.
    pub async fn close(&self) {
        self.lifeline.close().await;
    }
}

impl Lifeline {
    async fn close(&self) {
        self.shutdown.send_replace(true);
        let driver = self.driver.lock().ok().and_then(|mut d| d.take());
        if let Some(driver) = driver {
            let _ = driver.await;
        }
    }
}

struct SenderInner<K> {
    queue: mpsc::Sender<Outgoing<K>>,
    matcher: Arc<Mutex<Matcher<K, Waiter>>>,
    key: KeyFn<K>,
    in_flight: Arc<Semaphore>,
    timeout: Duration,
    next_id: AtomicU64,
    state: watch::Receiver<LinkState>,
    lifeline: Arc<Lifeline>,
}

/// The sending half of a [`LongClient`]; clones share the connection.
pub struct LongSender<K = ()> {
    inner: Arc<SenderInner<K>>,
}

impl<K> Clone for LongSender<K> {
    fn clone(&self) -> Self {
        LongSender {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K> fmt::Debug for LongSender<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LongSender").finish_non_exhaustive()
    }
}

/// Removes a request's registration when its call ends without a reply (timed out, failed or
/// dropped), unless a later request has reused the key.
struct Registration<'a, K: Key> {
    matcher: &'a Mutex<Matcher<K, Waiter>>,
    key: K,
    id: u64,
}

impl<K: Key> Drop for Registration<'_, K> {
    fn drop(&mut self) {
        if let Ok(mut m) = self.matcher.lock() {
            m.cancel_if(&self.key, |w| w.id == self.id);
        }
    }
}

impl<K: Key> LongSender<K> {
    /// Sends `body` within the client's default timeout (see
    /// [`LongClientBuilder::timeout`]).
    ///
    /// # Errors
    /// As [`send_timeout`](Self::send_timeout).
    pub async fn send(&self, body: impl IntoMessage) -> Result<(), Error> {
        self.send_timeout(body, self.inner.timeout).await
    }

    /// Queues `body` and returns once it is written whole to the connection. While the client is
    /// reconnecting the message waits in the queue.
    ///
    /// # Errors
    /// - [`Error::NotSent`]: no connection took it within `timeout`, or the queue stayed full;
    ///   nothing of it was sent.
    /// - [`Error::TimedOut`] (`written: false`): the time ran out while it was being written; its
    ///   rest still goes out before any later message.
    /// - [`Error::ConnectionLost`]: the connection failed while it was being written.
    /// - [`Error::Frame`]: it cannot be framed (too long, ...); not sent.
    /// - [`Error::Shutdown`]: the client is shut down; not sent.
    pub async fn send_timeout(
        &self,
        body: impl IntoMessage,
        timeout: Duration,
    ) -> Result<(), Error> {
        let deadline = deadline_after(timeout);
        self.submit(body.into_message(), deadline, None).await
    }

    /// Sends `body` as a request and waits for its reply, all within `timeout`: waiting for a
    /// free request slot and for a connection, writing, and the reply.
    ///
    /// Without request matching, requests go one at a time and the next message the peer sends is
    /// the reply. With it, the reply is the next message whose key equals the request's.
    ///
    /// # Errors
    /// As [`send_timeout`](Self::send_timeout), and:
    /// - [`Error::TimedOut`] (`written: true`): the request went out but no reply came in time. A
    ///   reply that comes later goes to the incoming channel.
    /// - [`Error::ConnectionLost`] (`written: true`): the connection dropped before the reply.
    /// - [`Error::NoKey`] / [`Error::DuplicateKey`]: the request has no key, or a request with the
    ///   same key is waiting; not sent.
    pub async fn request(&self, body: impl IntoMessage, timeout: Duration) -> Result<Bytes, Error> {
        let start = Instant::now();
        let deadline = deadline_after(timeout);
        let body = body.into_message();
        let inner = &*self.inner;
        let key = (inner.key)(&body).ok_or(Error::NoKey)?;
        let _permit = match tokio::time::timeout_at(deadline, inner.in_flight.acquire()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(Error::Shutdown),
            Err(_) => {
                return Err(Error::not_sent(
                    "every request slot stayed busy until the deadline",
                ))
            }
        };
        let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, mut rx) = oneshot::channel();
        // Declared after the permit: dropped first, before another request can take the slot.
        let _registration = Registration {
            matcher: &inner.matcher,
            key: key.clone(),
            id,
        };
        self.submit(body, deadline, Some((key.clone(), Waiter { id, tx })))
            .await?;
        match tokio::time::timeout_at(deadline, &mut rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(Error::ConnectionLost {
                written: true,
                reason: "the client's task ended".into(),
            }),
            Err(_) => {
                // The reply may have arrived just now.
                if let Ok(result) = rx.try_recv() {
                    return result;
                }
                Err(Error::TimedOut {
                    written: true,
                    elapsed: start.elapsed(),
                })
            }
        }
    }

    /// Queues a message and waits until it is written, refused, or given up at `deadline`.
    async fn submit(
        &self,
        body: Bytes,
        deadline: Instant,
        reply: Option<(K, Waiter)>,
    ) -> Result<(), Error> {
        let ticket = Ticket::default();
        let _cancel_on_drop = CancelOnDrop(ticket.clone());
        let (done_tx, mut done_rx) = oneshot::channel();
        let outgoing = Outgoing {
            body,
            deadline,
            ticket: ticket.clone(),
            reply,
            done: done_tx,
        };
        match tokio::time::timeout_at(deadline, self.inner.queue.send(outgoing)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(Error::Shutdown),
            Err(_) => {
                return Err(Error::not_sent(
                    "the send queue stayed full until the deadline",
                ))
            }
        }
        let outcome = tokio::select! {
            outcome = &mut done_rx => Some(outcome),
            () = tokio::time::sleep_until(deadline) => None,
        };
        let outcome = match outcome {
            Some(outcome) => outcome,
            None if ticket.cancel() => {
                let state = self.inner.state.borrow();
                return Err(Error::not_sent(
                    match (&state.connected, &state.last_failure) {
                        (None, Some(last)) => format!(
                        "no connection took the message before the deadline (last failure: {last})"
                    ),
                        _ => "no connection took the message before the deadline".to_owned(),
                    },
                ));
            }
            // Taken: the writer reports by the deadline it was given.
            None => done_rx.await,
        };
        outcome.unwrap_or_else(|_| {
            Err(if ticket.was_taken() {
                Error::ConnectionLost {
                    written: false,
                    reason: "the connection was lost while the message was being written".into(),
                }
            } else {
                Error::Shutdown
            })
        })
    }

    /// Shuts the client down (see [`LongClient::close`]).
    pub async fn close(&self) {
        self.inner.lifeline.close().await;
    }
}

/// `timeout` from now; a timeout too large to represent is as good as none.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| Instant::from_std(crate::policy::heartbeat::far_future(now.into_std())))
}

/// The receiving half of a [`LongClient`]: messages that answer no waiting request.
pub struct LongReceiver {
    incoming: mpsc::Receiver<Bytes>,
    _lifeline: Arc<Lifeline>,
}

impl fmt::Debug for LongReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LongReceiver").finish_non_exhaustive()
    }
}

impl LongReceiver {
    /// The next message that answers no waiting request: a message the peer sends on its own
    /// (SMPP deliver_sm, a CMPP MO), a reply whose request timed out, or one whose key matches
    /// nothing. `None` once the client has shut down and every message was taken.
    pub async fn recv(&mut self) -> Option<Bytes> {
        self.incoming.recv().await
    }

    /// [`recv`](Self::recv) within `timeout`; `Ok(None)` once the client has shut down.
    ///
    /// # Errors
    /// [`Error::TimedOut`] when no message came in time.
    pub async fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Bytes>, Error> {
        let start = Instant::now();
        tokio::time::timeout(timeout, self.incoming.recv())
            .await
            .map_err(|_| Error::TimedOut {
                written: false,
                elapsed: start.elapsed(),
            })
    }

    /// A message if one is waiting now.
    pub fn try_recv(&mut self) -> Option<Bytes> {
        self.incoming.try_recv().ok()
    }
}

/// A new connection, lent to the after-connect hook before the client uses it: send and read
/// messages for a logon or sign-on exchange.
pub struct Session {
    pub(crate) host: String,
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) reader: MessageReader<super::connect::BoxRead, Framing>,
    pub(crate) writer: MessageWriter<super::connect::BoxWrite, Framing>,
    pub(crate) keepalive: std::io::Result<Keepalive>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("host", &self.host)
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The host as configured.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The address connected to.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// The TCP keepalive settings the kernel reported for this connection right after it was
    /// made (Linux).
    ///
    /// # Errors
    /// Keepalive is off, or the operating system refused to answer (or this is not Linux).
    pub fn keepalive(&self) -> std::io::Result<Keepalive> {
        match &self.keepalive {
            Ok(k) => Ok(*k),
            Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
        }
    }

    /// Writes one message.
    ///
    /// # Errors
    /// [`Error::Frame`] when it cannot be framed or written.
    pub async fn send(&mut self, body: &[u8]) -> Result<(), Error> {
        Ok(self.writer.write_message(body).await?)
    }

    /// Reads one message within `timeout`.
    ///
    /// # Errors
    /// [`Error::Frame`] ([`msgframe_io::Error::TimedOut`] when none came in time).
    pub async fn read(&mut self, timeout: Duration) -> Result<Bytes, Error> {
        Ok(self.reader.read_message_timeout(timeout).await?)
    }

    /// Writes one message and reads the next, both within `timeout`.
    ///
    /// # Errors
    /// As [`send`](Self::send) and [`read`](Self::read).
    pub async fn request(&mut self, body: &[u8], timeout: Duration) -> Result<Bytes, Error> {
        let start = Instant::now();
        match tokio::time::timeout(timeout, self.writer.write_message(body)).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(Error::TimedOut {
                    written: false,
                    elapsed: start.elapsed(),
                })
            }
        }
        self.read(timeout.saturating_sub(start.elapsed())).await
    }
}
