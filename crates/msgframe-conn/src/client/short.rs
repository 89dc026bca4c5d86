//! Short connections: connect, send one message, read the reply, close — within one deadline.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use msgframe_codec::Framing;
use msgframe_tokio::exchange;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::connect::{connect_from, secure, Secured, Security};
use crate::error::NotSent;
use crate::Error;

/// How a short connection is closed once its reply is whole: who keeps the connection in
/// `TIME_WAIT` for 2MSL (60 s on Linux), which bounds how many exchanges a second one client can
/// make to one host:port (about 470 with Linux's default 28,232 ephemeral ports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClosePolicy {
    /// Close first with a FIN: `TIME_WAIT` stays on the client. The default.
    #[default]
    Graceful,
    /// Reset the connection (`SO_LINGER` 0) once the reply is whole and nothing is left unsent:
    /// no `TIME_WAIT` anywhere. A failed exchange still closes gracefully.
    Abortive,
    /// Wait, within the exchange's deadline, for the host to close first, then close: `TIME_WAIT`
    /// stays on the host. A host that does not close in time is closed gracefully; the reply is
    /// returned all the same.
    HostFirst,
}

impl std::str::FromStr for ClosePolicy {
    type Err = String;

    /// `graceful`, `abortive` or `host-first`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "graceful" => Ok(ClosePolicy::Graceful),
            "abortive" => Ok(ClosePolicy::Abortive),
            "host-first" => Ok(ClosePolicy::HostFirst),
            other => Err(format!(
                "`{other}` is not a close policy: graceful, abortive or host-first"
            )),
        }
    }
}

/// Connection slots per host, shared by the clones of a client.
type PerHost = Arc<Mutex<HashMap<String, Arc<Semaphore>>>>;

/// One connection per exchange, as hosts that mandate a connection per transaction require:
/// connect (every address the host resolves to in turn) → send one message → read the reply (by
/// its framing, or until the peer closes for [`UntilEof`](msgframe_codec::UntilEof)) → close. One
/// deadline covers the whole exchange, connecting (and waiting for a slot) included.
///
/// The side that closes first keeps the connection in `TIME_WAIT` for 60 s (Linux), so a client
/// closing first can make only about 470 exchanges a second to one host:port before its ports run
/// out ([`Error::NoLocalPort`] then says so). [`close`](Self::close) picks the policy:
/// [`ClosePolicy::Graceful`] (the default: this side closes first), [`ClosePolicy::Abortive`] (a
/// reset once the reply is whole: no `TIME_WAIT`) or [`ClosePolicy::HostFirst`] (the host closes
/// first, within the deadline: `TIME_WAIT` on the host; the call returns when it has, or at the
/// deadline). [`max_per_host`](Self::max_per_host) caps the connections open at once to one host.
///
/// ```no_run
/// use std::time::Duration;
/// use msgframe_conn::ShortClient;
///
/// # async fn demo() -> Result<(), msgframe_conn::Error> {
/// let client = ShortClient::new("ascii:4".parse().unwrap())
///     .connect_timeout(Duration::from_secs(3))
///     .timeout(Duration::from_secs(10));
/// let reply = client.request("10.1.2.3:9000", b"0200...").await?;
/// # Ok(())
/// # }
/// ```
///
/// From synchronous code, [`request_blocking`](ShortClient::request_blocking) runs the same
/// exchange on a runtime this crate owns.
#[derive(Debug, Clone)]
pub struct ShortClient {
    request: Framing,
    reply: Framing,
    connect_timeout: Duration,
    timeout: Duration,
    security: Security,
    close: ClosePolicy,
    max_per_host: Option<usize>,
    per_host: PerHost,
    /// Local addresses to connect from, in turn.
    local: Arc<[std::net::IpAddr]>,
    next_local: Arc<std::sync::atomic::AtomicUsize>,
    /// The client's name in its metrics; each request's host when not given.
    name: Option<Arc<str>>,
}

impl ShortClient {
    /// Requests and replies framed alike; each connection attempt within 5 s, the whole exchange
    /// within 30 s.
    pub fn new(framing: Framing) -> Self {
        ShortClient {
            reply: framing.clone(),
            request: framing,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            security: Security::Plain,
            close: ClosePolicy::Graceful,
            max_per_host: None,
            per_host: PerHost::default(),
            local: Arc::new([]),
            next_local: Arc::default(),
            name: None,
        }
    }

    /// The client's name in its metrics (feature `metrics`): the `client` label of its
    /// `msgframe_client_requests_total` (by `outcome`) and `msgframe_client_request_seconds`,
    /// by default each request's host.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(Arc::from(name.into()));
        self
    }

    /// Connects from these local addresses in turn (each bound with a port the system picks, only
    /// to hosts of its family): each gives its own range of ephemeral ports, so more short
    /// connections can wait in `TIME_WAIT` toward one host. (Linux's `IP_BIND_ADDRESS_NO_PORT`
    /// is not set: the port is reserved at bind time, one range per local address.)
    pub fn local_addresses(mut self, addrs: impl IntoIterator<Item = std::net::IpAddr>) -> Self {
        self.local = addrs.into_iter().collect();
        self
    }

    /// How each connection is closed once its reply is whole (default [`ClosePolicy::Graceful`]).
    pub fn close(mut self, policy: ClosePolicy) -> Self {
        self.close = policy;
        self
    }

    /// The most short connections open at once to one host (as given to
    /// [`request`](Self::request)), over every clone of this client; a request beyond it waits
    /// for a slot within its own deadline.
    pub fn max_per_host(mut self, max: usize) -> Self {
        self.max_per_host = Some(max.max(1));
        self
    }

    /// Frames replies differently from requests (for example `eof`: replies that end when the peer closes).
    pub fn reply_framing(mut self, framing: Framing) -> Self {
        self.reply = framing;
        self
    }

    /// The longest wait for each connection attempt (still within the overall timeout).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The deadline for the whole exchange: connecting, sending, and reading the whole reply.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Secures every connection with TLS (feature `tls`): a handshake after connecting, within
    /// the same deadline.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::tls::TlsConnector) -> Self {
        self.security = Security::Tls(tls);
        self
    }

    /// Sends `body` to `host` (`name:port`) on a new connection and returns the reply.
    ///
    /// # Errors
    /// [`Error::Connect`] when no address accepted (nothing was sent); [`Error::TimedOut`] when the
    /// deadline passed after connecting (`written` says whether the request had gone out whole);
    /// [`Error::Frame`] for a reply that is malformed, oversized or cut short, or a connection
    /// reset.
    pub async fn request(&self, host: &str, body: &[u8]) -> Result<Bytes, Error> {
        #[cfg(feature = "metrics")]
        {
            let started = Instant::now();
            let result = self.exchange(host, body).await;
            let client = self.name.as_deref().unwrap_or(host);
            super::metrics::short_request_done(client, started.elapsed(), &result);
            result
        }
        #[cfg(not(feature = "metrics"))]
        self.exchange(host, body).await
    }

    async fn exchange(&self, host: &str, body: &[u8]) -> Result<Bytes, Error> {
        let start = Instant::now();
        let deadline = crate::task::deadline_after(self.timeout);
        let _slot = match self.slots(host) {
            Some(slots) => match tokio::time::timeout_at(deadline, slots.acquire_owned()).await {
                Ok(Ok(permit)) => Some(permit),
                Ok(Err(_)) => return Err(Error::Shutdown),
                Err(_) => return Err(Error::not_sent(NotSent::SlotsBusy)),
            },
            None => None,
        };
        let local = (!self.local.is_empty()).then(|| {
            let turn = self
                .next_local
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.local[turn % self.local.len()]
        });
        let stream = match connect_from(host, local, self.connect_timeout, deadline, None).await {
            Err(Error::Connect { host, source })
                if source.kind() == std::io::ErrorKind::AddrNotAvailable =>
            {
                return Err(no_local_port(host, source).await);
            }
            other => other?,
        };
        let (request, reply) = (&self.request, &self.reply);
        let result = match secure(host, stream, deadline, &self.security).await? {
            Secured::Plain(mut stream) => {
                let result = exchange(&mut stream, request, reply, body, deadline).await;
                close(&mut stream, result.is_ok(), self.close, deadline).await;
                result
            }
            #[cfg(feature = "tls")]
            Secured::Tls(mut stream) => {
                let result = exchange(&mut *stream, request, reply, body, deadline).await;
                close_tls(&mut stream, result.is_ok(), self.close, deadline).await;
                result
            }
        };
        result.map_err(|e| match e {
            msgframe_io::Error::TimedOut { writing, .. } => Error::TimedOut {
                written: !writing,
                elapsed: start.elapsed(),
            },
            e => Error::from(e),
        })
    }

    /// The slots of `host`, when connections to a host are capped.
    fn slots(&self, host: &str) -> Option<Arc<Semaphore>> {
        let max = self.max_per_host?;
        let mut per_host = self.per_host.lock().ok()?;
        Some(Arc::clone(
            per_host
                .entry(host.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(max))),
        ))
    }

    /// [`request`](Self::request) from synchronous code, on a runtime this crate owns.
    ///
    /// # Errors
    /// As `request`; [`Error::Config`] when called from inside an async runtime (use `request`
    /// there).
    pub fn request_blocking(&self, host: &str, body: &[u8]) -> Result<Bytes, Error> {
        crate::blocking::block_on(self.request(host, body))?
    }
}

/// Closes a plain connection after its exchange as `policy` says (the stream is dropped after).
async fn close(stream: &mut TcpStream, whole: bool, policy: ClosePolicy, deadline: Instant) {
    match policy {
        ClosePolicy::Graceful => {}
        ClosePolicy::Abortive if whole => {
            // Nothing is left unsent: the exchange wrote the request whole before reading.
            let _ = socket2::SockRef::from(&*stream).set_linger(Some(Duration::ZERO));
        }
        ClosePolicy::Abortive => {}
        ClosePolicy::HostFirst if whole => host_closes(stream, deadline).await,
        ClosePolicy::HostFirst => {}
    }
}

#[cfg(feature = "tls")]
async fn close_tls(
    stream: &mut tokio_rustls::client::TlsStream<TcpStream>,
    whole: bool,
    policy: ClosePolicy,
    deadline: Instant,
) {
    match policy {
        ClosePolicy::Abortive if whole => {
            let _ = socket2::SockRef::from(stream.get_ref().0).set_linger(Some(Duration::ZERO));
        }
        ClosePolicy::HostFirst if whole => host_closes(stream, deadline).await,
        _ => {}
    }
}

/// Waits, until `deadline`, for the host to close the connection (end of stream).
async fn host_closes<S: tokio::io::AsyncRead + Unpin>(stream: &mut S, deadline: Instant) {
    let mut byte = [0u8; 1];
    // Anything but the end of stream (bytes after the reply, an error, the deadline) ends the
    // wait too: this side then closes.
    let _ = tokio::time::timeout_at(deadline, stream.read(&mut byte)).await;
}

/// The error for a connection that found no local port: how many connections toward the host
/// wait in `TIME_WAIT`, and the way out.
async fn no_local_port(host: String, source: std::io::Error) -> Error {
    let target = tokio::net::lookup_host(&host)
        .await
        .ok()
        .and_then(|mut addrs| addrs.next());
    Error::NoLocalPort {
        time_wait: target.and_then(crate::socket::time_wait_toward),
        host,
        source,
    }
}
