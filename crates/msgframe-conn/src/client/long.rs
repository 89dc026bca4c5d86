//! A long client: one persistent connection for many messages, kept healthy and re-established
//! by a task ([`Driver`]); the handle that owns the client.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use super::event::Event;
use super::event_hub::EventHub;
use super::lifeline::Lifeline;
use super::receiver::LongReceiver;
use super::sender::LongSender;
use super::state::LinkState;
use crate::message::{IntoMessage, Key};
use crate::Error;

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
    events: Arc<EventHub>,
    state: watch::Receiver<LinkState>,
    lifeline: Arc<Lifeline>,
    reset: Arc<watch::Sender<u64>>,
}

impl<K> fmt::Debug for LongClient<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LongClient")
            .field("connected_to", &self.state.borrow().connected)
            .finish_non_exhaustive()
    }
}

impl<K> LongClient<K> {
    pub(crate) fn new(
        sender: LongSender<K>,
        receiver: LongReceiver,
        events: Arc<EventHub>,
        state: watch::Receiver<LinkState>,
        lifeline: Arc<Lifeline>,
        reset: watch::Sender<u64>,
    ) -> Self {
        LongClient {
            sender,
            receiver,
            events,
            state,
            lifeline,
            reset: Arc::new(reset),
        }
    }

    /// What drops the current connection at once (requests in flight end with their exact
    /// outcome; the client then reconnects as after any loss): bump its generation.
    pub(crate) fn reset_handle(&self) -> Arc<watch::Sender<u64>> {
        Arc::clone(&self.reset)
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

    /// The connection's state, to watch.
    pub(crate) fn state(&self) -> watch::Receiver<LinkState> {
        self.state.clone()
    }

    pub(crate) fn receiver_mut(&mut self) -> &mut LongReceiver {
        &mut self.receiver
    }

    /// A sender and a receiver, usable from different tasks at once (the sender clones). The
    /// client runs until [`LongSender::close`] or until both are dropped.
    pub fn split(self) -> (LongSender<K>, LongReceiver) {
        (self.sender, self.receiver)
    }

    /// The client's sender, borrowed.
    pub(crate) fn sender_ref(&self) -> &LongSender<K> {
        &self.sender
    }

    /// Another handle for sending (it keeps the client running too).
    pub fn sender(&self) -> LongSender<K> {
        self.sender.clone()
    }

    /// The connection's events. The first call receives every event since the client started;
    /// later calls receive events from then on. A receiver that falls more events behind than
    /// [`LongClientBuilder::events`](crate::LongClientBuilder::events) allows (32 unless set) loses
    /// the oldest (it is told how many).
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// The host connected to now, if any.
    pub fn connected_to(&self) -> Option<String> {
        self.state.borrow().connected.clone()
    }

    /// The local address (this end's address and port) of the connection up now, if any: with
    /// [`Event::Connected`]'s `addr`, the two ends of the connection. For a simplex pair, its
    /// outbound link's.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.state.borrow().local
    }

    /// Why the last connection attempt failed or the last connection ended, if one did.
    pub fn last_failure(&self) -> Option<Arc<Error>> {
        self.state.borrow().last_failure.clone()
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
