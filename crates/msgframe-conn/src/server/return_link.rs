//! The return links of a server of simplex pairs: where each pair's way back comes from (the peer
//! dials a second listener, or the server dials the peer), how its two links are matched (the
//! peer's address, or a key from each link's first message), and TLS on them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use msgframe_codec::Framing;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

use super::ServerTlsConfig;

/// A byte stream a return link runs on: plain TCP, or TLS over it.
pub(crate) trait LinkStream: AsyncRead + AsyncWrite + Send + Unpin {}

impl<S: AsyncRead + AsyncWrite + Send + Unpin> LinkStream for S {}

/// A simplex pair's return link, ready to carry replies and pushes.
pub(crate) type ReturnLink = Box<dyn LinkStream>;

/// What the server dials return links with: TLS when set.
#[cfg(feature = "tls")]
pub(crate) type DialTls = crate::tls::TlsConnector;
/// Without the `tls` feature there is nothing to configure.
#[cfg(not(feature = "tls"))]
pub(crate) type DialTls = std::convert::Infallible;

/// Where a simplex pair's return link comes from.
#[derive(Clone)]
pub(crate) enum ReturnSource {
    /// The peer dials it, on this listener.
    Accept(Arc<ReturnLinks>),
    /// The server dials the peer's address at `port`, with TLS when `tls` is set.
    Dial {
        port: u16,
        within: Duration,
        tls: Option<DialTls>,
    },
}

impl ReturnSource {
    /// How the pair's links are matched: by a key from their first messages, when set.
    pub(crate) fn pairing(&self) -> Option<&Pairing> {
        match self {
            ReturnSource::Accept(links) => links.pairing.as_ref(),
            ReturnSource::Dial { .. } => None,
        }
    }

    /// How long a link waits for its partner.
    pub(crate) fn within(&self) -> Duration {
        match self {
            ReturnSource::Accept(links) => links.within,
            ReturnSource::Dial { within, .. } => *within,
        }
    }

    /// The address return links are accepted on.
    pub(crate) fn listening_on(&self) -> Option<SocketAddr> {
        match self {
            ReturnSource::Accept(links) => links.listener.local_addr().ok(),
            ReturnSource::Dial { .. } => None,
        }
    }

    /// The return link of the pair whose requests come from `peer`, or carry `key` in their
    /// first message.
    pub(crate) async fn for_peer(
        &self,
        peer: std::net::IpAddr,
        key: Option<Vec<u8>>,
    ) -> Option<ReturnLink> {
        match self {
            ReturnSource::Accept(links) => {
                let by = match key {
                    Some(key) => PairKey::Key(key),
                    None => PairKey::Address(peer),
                };
                links.take(by).await
            }
            ReturnSource::Dial { port, within, tls } => {
                let target = SocketAddr::new(peer, *port);
                let deadline = Instant::now() + *within;
                match tokio::time::timeout_at(deadline, dial(target, deadline, tls.as_ref())).await
                {
                    Ok(Ok(link)) => Some(link),
                    Ok(Err(e)) => {
                        tracing::warn!(%target, error = %e, "dialling the return link failed: closed");
                        None
                    }
                    Err(_) => {
                        tracing::warn!(%target, "the return link not made in time: closed");
                        None
                    }
                }
            }
        }
    }
}

/// Dials a return link to `target`, with a TLS handshake when `tls` is set.
async fn dial(
    target: SocketAddr,
    deadline: Instant,
    tls: Option<&DialTls>,
) -> Result<ReturnLink, crate::Error> {
    let stream = TcpStream::connect(target).await?;
    let _ = stream.set_nodelay(true);
    match tls {
        None => Ok(Box::new(stream)),
        #[cfg(feature = "tls")]
        Some(tls) => {
            let left = deadline.saturating_duration_since(Instant::now());
            Ok(Box::new(
                tls.connect(&target.to_string(), stream, left).await?,
            ))
        }
        #[cfg(not(feature = "tls"))]
        Some(never) => {
            let _ = deadline;
            match *never {}
        }
    }
}

/// What matches the two links of a pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum PairKey {
    Address(std::net::IpAddr),
    Key(Vec<u8>),
}

/// A function finding a pair's key in a link's first message.
pub(crate) type PairKeyFn = Arc<dyn Fn(&[u8]) -> Option<Vec<u8>> + Send + Sync>;

/// Matching a pair's links by a key from their first messages.
#[derive(Clone)]
pub(crate) struct Pairing {
    pub(crate) key: PairKeyFn,
    pub(crate) framing: Framing,
}

/// Return links held at once before their request links take them (those in their TLS handshake
/// or being read for their key included); one more is closed on arrival.
pub(crate) const RETURN_LINKS_PENDING_AT_MOST: usize = 1024;

/// A return link waiting for its request link, and since when.
type Waiting = std::collections::VecDeque<(Instant, ReturnLink)>;

/// The return links of simplex pairs: accepted on their own listener (secured with the server's
/// TLS when it has one), waiting (by the peer's address, or a key from their first message) for
/// the request link they belong to. A link not taken within `within` is closed; at most
/// [`RETURN_LINKS_PENDING_AT_MOST`] are held at once.
pub(crate) struct ReturnLinks {
    listener: std::net::TcpListener,
    within: Duration,
    pairing: Option<Pairing>,
    waiting: Mutex<HashMap<PairKey, Waiting>>,
    /// Links in their TLS handshake or being read for their key.
    preparing: AtomicUsize,
    arrived: tokio::sync::Notify,
}

impl ReturnLinks {
    pub(crate) fn new(
        listener: std::net::TcpListener,
        within: Duration,
        pairing: Option<Pairing>,
    ) -> Self {
        ReturnLinks {
            listener,
            within,
            pairing,
            waiting: Mutex::new(HashMap::new()),
            preparing: AtomicUsize::new(0),
            arrived: tokio::sync::Notify::new(),
        }
    }

    fn arrived(&self, key: PairKey, link: ReturnLink) {
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting
                .entry(key)
                .or_default()
                .push_back((Instant::now(), link));
        }
        self.arrived.notify_waiters();
    }

    /// Closes the links no request link took in time; returns how many are held now.
    fn close_stale(&self) -> usize {
        let Ok(mut waiting) = self.waiting.lock() else {
            return 0;
        };
        let now = Instant::now();
        let mut closed = 0;
        waiting.retain(|_, links| {
            let before = links.len();
            links.retain(|(since, _)| now.saturating_duration_since(*since) < self.within);
            closed += before - links.len();
            !links.is_empty()
        });
        if closed > 0 {
            tracing::warn!(closed, "return links no request link took in time: closed");
        }
        waiting.values().map(|links| links.len()).sum()
    }

    /// Whether one more return link may be held.
    fn has_room(&self) -> bool {
        self.close_stale() + self.preparing.load(Ordering::Relaxed) < RETURN_LINKS_PENDING_AT_MOST
    }

    /// Accepts return links until the server shuts down, completing a TLS handshake on each when
    /// `tls` is set.
    pub(crate) async fn accept(
        self: Arc<Self>,
        tls: Option<ServerTlsConfig>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let Ok(listener) = self.listener.try_clone().and_then(TcpListener::from_std) else {
            tracing::error!("the return-link listener cannot be watched");
            return;
        };
        let mut sweep = tokio::time::interval(self.within.max(Duration::from_millis(10)));
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = sweep.tick() => {
                    self.close_stale();
                    continue;
                }
                () = crate::task::signalled(&mut shutdown) => return,
            };
            match accepted {
                Ok((_, peer)) if !self.has_room() => {
                    tracing::warn!(%peer, at_most = RETURN_LINKS_PENDING_AT_MOST, "a return link beyond the number held at once: closed");
                }
                Ok((stream, peer)) if tls.is_none() && self.pairing.is_none() => {
                    let _ = stream.set_nodelay(true);
                    self.arrived(PairKey::Address(peer.ip()), Box::new(stream));
                }
                Ok((stream, peer)) => {
                    // A handshake, a first message: without holding up the others.
                    let _ = stream.set_nodelay(true);
                    let links = Arc::clone(&self);
                    links.preparing.fetch_add(1, Ordering::Relaxed);
                    let tls = tls.clone();
                    tokio::spawn(async move {
                        let deadline = Instant::now() + links.within;
                        let prepared = links.prepare(stream, peer, tls.as_ref(), deadline).await;
                        links.preparing.fetch_sub(1, Ordering::Relaxed);
                        if let Some((key, link)) = prepared {
                            links.arrived(key, link);
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a return link failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// Secures an accepted return link and finds what pairs it, by `deadline`; `None` when it
    /// cannot be (reported here).
    async fn prepare(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        tls: Option<&ServerTlsConfig>,
        deadline: Instant,
    ) -> Option<(PairKey, ReturnLink)> {
        let link: ReturnLink = match tls {
            None => Box::new(stream),
            #[cfg(feature = "tls")]
            Some(tls) => match tokio::time::timeout_at(deadline, tls.accept(stream)).await {
                Ok(Ok(stream)) => Box::new(stream),
                Ok(Err(e)) => {
                    tracing::warn!(%peer, error = %e, "a return link's TLS handshake failed: closed");
                    return None;
                }
                Err(_) => {
                    tracing::warn!(%peer, "a return link's TLS handshake not finished in time: closed");
                    return None;
                }
            },
            #[cfg(not(feature = "tls"))]
            Some(never) => match *never {},
        };
        let Some(pairing) = &self.pairing else {
            return Some((PairKey::Address(peer.ip()), link));
        };
        // Its first message names it.
        let mut reader = msgframe_tokio::MessageReader::new(link, pairing.framing.clone());
        let first = tokio::time::timeout_at(deadline, reader.read_message()).await;
        match first
            .ok()
            .and_then(Result::ok)
            .and_then(|m| (pairing.key)(&m))
        {
            Some(key) => Some((PairKey::Key(key), reader.into_parts().0)),
            None => {
                tracing::warn!(%peer, "a return link without a pairing key: closed");
                None
            }
        }
    }

    /// The return link matched by `peer`, waiting for it within the time allowed.
    pub(crate) async fn take(&self, peer: PairKey) -> Option<ReturnLink> {
        let until = Instant::now() + self.within;
        loop {
            let arrived = self.arrived.notified();
            let found = self
                .waiting
                .lock()
                .ok()
                .and_then(|mut w| w.get_mut(&peer).and_then(|q| q.pop_front()));
            if let Some((_, link)) = found {
                return Some(link);
            }
            if tokio::time::timeout_at(until, arrived).await.is_err() {
                tracing::warn!(?peer, "no return link in time: closed");
                return None;
            }
        }
    }
}
