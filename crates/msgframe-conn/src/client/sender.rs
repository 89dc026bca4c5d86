//! The sending half of a long client: messages and requests queued for the client's task, each
//! call ending in its exact outcome by its deadline.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::time::Instant;

use super::lifeline::Lifeline;
use super::state::LinkState;
use crate::error::NotSent;
use crate::message::{IntoMessage, Key};
use crate::session::{ClientRules, Completed};
use crate::task::{deadline_after, outcome, CancelOnDrop, Reply, Ticket};
use crate::Error;

/// A caller's message on its way to the client's task.
#[derive(Debug)]
pub(crate) struct Outgoing<K> {
    pub(crate) body: Bytes,
    /// The caller's deadline: the message is not taken after it, and the session ends the call
    /// by it.
    pub(crate) deadline: Instant,
    /// For a request, its key.
    pub(crate) key: Option<K>,
    pub(crate) ticket: Ticket,
    pub(crate) reply: Reply<Completed>,
}

struct SenderInner<K> {
    queue: mpsc::Sender<Outgoing<K>>,
    rules: Arc<ClientRules<K>>,
    in_flight: Semaphore,
    timeout: Duration,
    state: watch::Receiver<LinkState>,
    lifeline: Arc<Lifeline>,
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    metrics: Arc<super::metrics::ClientMetrics>,
}

/// The sending half of a [`LongClient`](crate::LongClient); clones share the connection.
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

impl<K: Key> LongSender<K> {
    pub(crate) fn new(
        queue: mpsc::Sender<Outgoing<K>>,
        rules: Arc<ClientRules<K>>,
        max_in_flight: usize,
        timeout: Duration,
        state: watch::Receiver<LinkState>,
        lifeline: Arc<Lifeline>,
        metrics: Arc<super::metrics::ClientMetrics>,
    ) -> Self {
        LongSender {
            inner: Arc::new(SenderInner {
                queue,
                rules,
                in_flight: Semaphore::new(max_in_flight),
                timeout,
                state,
                lifeline,
                metrics,
            }),
        }
    }

    /// Sends `body` within the client's default timeout (see
    /// [`LongClientBuilder::timeout`](crate::LongClientBuilder::timeout)).
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
        self.submit(body.into_message(), deadline, None, std::future::pending())
            .await
            .map(|_| ())
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
        let deadline = deadline_after(timeout);
        self.request_until(body.into_message(), deadline, std::future::pending())
            .await
    }

    /// [`request`](Self::request) by `deadline`, given up untaken when `leave` completes first.
    pub(crate) async fn request_until(
        &self,
        body: Bytes,
        deadline: Instant,
        leave: impl std::future::Future<Output = ()>,
    ) -> Result<Bytes, Error> {
        #[cfg(feature = "metrics")]
        {
            let started = tokio::time::Instant::now();
            let result = self.request_inner(body, deadline, leave).await;
            self.inner.metrics.request_done(started.elapsed(), &result);
            result
        }
        #[cfg(not(feature = "metrics"))]
        self.request_inner(body, deadline, leave).await
    }

    async fn request_inner(
        &self,
        body: Bytes,
        deadline: Instant,
        leave: impl std::future::Future<Output = ()>,
    ) -> Result<Bytes, Error> {
        let inner = &*self.inner;
        let key = inner.rules.key_of(&body).ok_or(Error::NoKey)?;
        tokio::pin!(leave);
        let slot = tokio::time::timeout_at(deadline, inner.in_flight.acquire());
        let _permit = tokio::select! {
            slot = slot => match slot {
                Ok(Ok(permit)) => permit,
                Ok(Err(_)) => return Err(Error::Shutdown),
                Err(_) => return Err(Error::not_sent(NotSent::SlotsBusy)),
            },
            // Still waiting for a slot: nothing was taken.
            () = &mut leave => return Err(Error::not_sent(NotSent::Closed)),
        };
        match self.submit(body, deadline, Some(key), leave).await? {
            Completed::Reply(reply) => Ok(reply),
            // A request always ends in its reply or an error.
            Completed::Sent => Err(Error::TimedOut {
                written: true,
                elapsed: Duration::ZERO,
            }),
        }
    }

    /// Queues a message and waits until the session ends its call, or until it is given up at
    /// `deadline` before the client's task took it.
    async fn submit(
        &self,
        body: Bytes,
        deadline: Instant,
        key: Option<K>,
        leave: impl std::future::Future<Output = ()>,
    ) -> Result<Completed, Error> {
        let ticket = Ticket::default();
        let _cancel_on_drop = CancelOnDrop(ticket.clone());
        let (tx, rx) = oneshot::channel();
        let outgoing = Outgoing {
            body,
            deadline,
            key,
            ticket: ticket.clone(),
            reply: Reply(tx),
        };
        match tokio::time::timeout_at(deadline, self.inner.queue.send(outgoing)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(Error::Shutdown),
            Err(_) => return Err(Error::not_sent(NotSent::QueueFull)),
        }
        outcome(
            rx,
            &ticket,
            deadline,
            || {
                let state = self.inner.state.borrow();
                NotSent::Deadline {
                    last_failure: match &state.connected {
                        None => state.last_failure.clone(),
                        Some(_) => None,
                    },
                }
            },
            || Error::Shutdown,
            leave,
        )
        .await
    }

    /// Shuts the client down (see [`LongClient::close`](crate::LongClient::close)).
    pub async fn close(&self) {
        self.inner.lifeline.close().await;
    }
}
