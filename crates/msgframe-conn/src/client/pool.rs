//! A pool of long connections to one host or host list, as one client: requests spread over the
//! connections, a request not yet written moved to a healthy connection, a dead connection failing
//! only its own requests.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;

use super::event::Event;
use super::long::LongClient;
use super::pool_call::{Calls, Member};
use crate::error::Disconnect;
use crate::message::{IntoMessage, Key};
use crate::policy::group::{GroupRule, GroupState};
use crate::policy::spread::Spread;
use crate::task::deadline_after;
use crate::Error;

/// A connection of a pool at one moment: its health and counters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolLink {
    /// The host it is connected to now, if any.
    pub connected_to: Option<String>,
    /// Requests in flight on it now.
    pub in_flight: usize,
    /// Requests it ended (answered or failed).
    pub requests: u64,
    /// Requests it ended with an error.
    pub failed: u64,
    /// Requests it did not take in time that went to another connection.
    pub moved: u64,
}

/// Several long connections to one host or host list (as jPOS's MUXPool), used as one client:
/// from [`LongClientBuilder::start_pool`](crate::LongClientBuilder::start_pool).
///
/// - Each request goes to a connected connection by the pool's [`Spread`] (round robin, or the
///   one with the fewest requests in flight); with none connected, it waits on one for its
///   reconnect.
/// - A request that its connection has not taken when the connection drops goes to another
///   connection; one it took ends there, with its exact outcome. So a dead connection fails only
///   its own requests in flight, and a message is never written twice.
/// - A call's deadline covers every try.
/// - Each connection keeps its heartbeats, reconnects and events; [`links`](Self::links) gives
///   health and counters per connection.
///
/// The same type is a **link group** from
/// [`LongClientBuilder::start_group`](crate::LongClientBuilder::start_group): under
/// [`GroupRule::AllOrNothing`] a broken link closes every other, requests in flight fail at once,
/// and requests wait (within their deadlines) until the group is complete again
/// ([`group_events`](Self::group_events), [`is_complete`](Self::is_complete)). Its links may be
/// two-link pairs (a builder with [`simplex_dial`](crate::LongClientBuilder::simplex_dial)).
///
/// ```no_run
/// use std::time::Duration;
/// use msgframe_conn::{policy::Spread, LongClient};
///
/// # async fn demo() -> Result<(), msgframe_conn::Error> {
/// let pool = LongClient::builder(["10.0.0.1:9000", "10.0.0.2:9000"], "bcd:2".parse().unwrap())
///     .match_replies(|m| m.get(4..10).map(|stan| stan.to_vec()))
///     .start_pool(4, Spread::FewestInFlight)?;
/// let reply = pool.request(b"0200...", Duration::from_secs(10)).await?;
/// pool.close().await;
/// # Ok(())
/// # }
/// ```
pub struct LongPool<K = ()> {
    members: Vec<Member<LongClient<K>>>,
    calls: Calls,
    timeout: Duration,
    group_events: broadcast::Sender<GroupEvent>,
}

/// Something that happened to a link group as a whole (each link's own events come from
/// [`LongPool::clients`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum GroupEvent {
    /// Every link is connected.
    Complete,
    /// Link `link` broke (under [`GroupRule::AllOrNothing`] the others are closed too).
    Broken {
        /// The link, in the group's order.
        link: usize,
        /// Why.
        reason: Arc<Disconnect>,
    },
}

impl<K> fmt::Debug for LongPool<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LongPool")
            .field("links", &self.members.len())
            .field("spread", &self.calls.spread)
            .finish_non_exhaustive()
    }
}

impl<K: Key> LongPool<K> {
    pub(crate) fn new(
        clients: Vec<LongClient<K>>,
        spread: Spread,
        timeout: Duration,
        rule: GroupRule,
        runtime: &tokio::runtime::Handle,
    ) -> Self {
        let (complete_tx, complete) = watch::channel(false);
        let (group_events, _) = broadcast::channel(256);
        let events = clients.iter().map(LongClient::events).collect();
        let resets = clients.iter().map(LongClient::reset_handle).collect();
        runtime.spawn(supervise(
            events,
            resets,
            rule,
            complete_tx,
            group_events.clone(),
        ));
        LongPool {
            calls: Calls {
                spread,
                turn: AtomicUsize::new(0),
                rule,
                complete,
            },
            group_events,
            members: clients.into_iter().map(Member::new).collect(),
            timeout,
        }
    }

    /// Sends a request on one of the connections and waits for its reply, all within `timeout`
    /// (every try included). See [`LongSender::request`](crate::LongSender::request).
    ///
    /// # Errors
    /// As `LongSender::request`; [`Error::NotSent`] when no connection took it in time.
    pub async fn request(&self, body: impl IntoMessage, timeout: Duration) -> Result<Bytes, Error> {
        let deadline = deadline_after(timeout);
        self.calls
            .request(&self.members, body.into_message(), deadline)
            .await
    }

    /// [`request`](Self::request) within the pool's default timeout (the builder's `timeout`).
    ///
    /// # Errors
    /// As `request`.
    pub async fn request_default(&self, body: impl IntoMessage) -> Result<Bytes, Error> {
        self.request(body, self.timeout).await
    }

    /// The connections now: health and counters, in the pool's order.
    pub fn links(&self) -> Vec<PoolLink> {
        self.members
            .iter()
            .map(|m| PoolLink {
                connected_to: m.link.connected_to(),
                in_flight: m.in_flight.load(Ordering::Relaxed),
                requests: m.requests.load(Ordering::Relaxed),
                failed: m.failed.load(Ordering::Relaxed),
                moved: m.moved.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// The pool's connections, for their events and incoming messages.
    pub fn clients(&self) -> impl Iterator<Item = &LongClient<K>> {
        self.members.iter().map(|m| &m.link)
    }

    /// Waits until at least one connection is up, within `timeout`; returns how many are.
    ///
    /// # Errors
    /// [`Error::NotConnected`] when none came up in time.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<usize, Error> {
        let deadline = deadline_after(timeout);
        let up = || {
            self.members
                .iter()
                .filter(|m| m.link.connected_to().is_some())
                .count()
        };
        let mut last = None;
        for m in &self.members {
            let left = deadline.saturating_duration_since(Instant::now());
            match m.link.wait_connected(left).await {
                Ok(_) => {}
                Err(e) => last = Some(e),
            }
        }
        match up() {
            0 => Err(last.unwrap_or(Error::NotConnected {
                waited: timeout,
                last: None,
            })),
            n => Ok(n),
        }
    }

    /// The group's events: complete, broken (each link's own come from
    /// [`clients`](Self::clients)). Events from before the call are not replayed.
    pub fn group_events(&self) -> broadcast::Receiver<GroupEvent> {
        self.group_events.subscribe()
    }

    /// Whether every link is connected now.
    pub fn is_complete(&self) -> bool {
        *self.calls.complete.borrow()
    }

    /// Closes every connection (see [`LongClient::close`]).
    pub async fn close(&self) {
        for m in &self.members {
            m.link.close().await;
        }
    }
}

/// A [`LongPool`] for plain threads, from
/// [`LongClientBuilder::start_pool_blocking`](crate::LongClientBuilder::start_pool_blocking):
/// every call blocks the calling thread (not from inside an async runtime: [`Error::Config`]
/// there).
#[derive(Debug)]
pub struct BlockingLongPool<K = ()> {
    pool: LongPool<K>,
    runtime: tokio::runtime::Handle,
}

impl<K: Key> BlockingLongPool<K> {
    pub(crate) fn new(pool: LongPool<K>, runtime: tokio::runtime::Handle) -> Self {
        BlockingLongPool { pool, runtime }
    }

    fn block_on<F: std::future::Future>(&self, future: F) -> Result<F::Output, Error> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::Config(crate::error::ConfigError::BlockingInRuntime));
        }
        Ok(self.runtime.block_on(future))
    }

    /// See [`LongPool::request`].
    ///
    /// # Errors
    /// As `LongPool::request`.
    pub fn request(&self, body: impl IntoMessage, timeout: Duration) -> Result<Bytes, Error> {
        self.block_on(self.pool.request(body, timeout))?
    }

    /// See [`LongPool::wait_connected`].
    ///
    /// # Errors
    /// As `LongPool::wait_connected`.
    pub fn wait_connected(&self, timeout: Duration) -> Result<usize, Error> {
        self.block_on(self.pool.wait_connected(timeout))?
    }

    /// See [`LongPool::links`].
    pub fn links(&self) -> Vec<PoolLink> {
        self.pool.links()
    }

    /// Closes every connection.
    pub fn close(&self) {
        let _ = self.block_on(self.pool.close());
    }
}

/// Watches a group's links: completeness, breaks, and under [`GroupRule::AllOrNothing`] the
/// closing of every other link when one breaks. Ends when every link's events end.
async fn supervise(
    events: Vec<broadcast::Receiver<Event>>,
    resets: Vec<Arc<watch::Sender<u64>>>,
    rule: GroupRule,
    complete: watch::Sender<bool>,
    group_events: broadcast::Sender<GroupEvent>,
) {
    let n = events.len();
    let (tx, mut rx) = mpsc::unbounded_channel();
    for (i, mut link_events) in events.into_iter().enumerate() {
        let tx = tx.clone();
        tokio::spawn(async move {
            loop {
                match link_events.recv().await {
                    Ok(event) => {
                        if tx.send((i, event)).is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }
    drop(tx);
    let mut group = GroupState::new(n, rule);
    while let Some((i, event)) = rx.recv().await {
        let actions = match event {
            Event::Connected { .. } => group.connected(i),
            Event::Disconnected { reason, .. } => {
                complete.send_replace(false);
                let actions = group.disconnected(i, matches!(*reason, Disconnect::GroupBroken));
                if actions.broken.is_some() {
                    let _ = group_events.send(GroupEvent::Broken { link: i, reason });
                }
                actions
            }
            Event::Shutdown => {
                complete.send_replace(false);
                group.disconnected(i, true)
            }
            _ => continue,
        };
        for j in actions.close {
            resets[j].send_modify(|generation| *generation += 1);
        }
        if actions.complete {
            complete.send_replace(true);
            let _ = group_events.send(GroupEvent::Complete);
        }
    }
}
