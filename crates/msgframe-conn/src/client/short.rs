//! Short connections: connect, send one message, read the reply, close — within one deadline.

use std::time::Duration;

use bytes::Bytes;
use msgframe_codec::Framing;
use msgframe_tokio::exchange;
use tokio::time::Instant;

use super::connect::{connect, secure, Secured, Security};
use crate::Error;

/// One connection per exchange, as hosts that mandate a connection per transaction require:
/// connect (every address the host resolves to in turn) → send one message → read the reply (by
/// its framing, or until the peer closes for [`UntilEof`](msgframe_codec::UntilEof)) → close, this
/// side closing first (so `TIME_WAIT` stays on the client, not on the host). One deadline covers
/// the whole exchange, connecting included.
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
        }
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
        let start = Instant::now();
        let deadline = crate::task::deadline_after(self.timeout);
        let stream = connect(host, self.connect_timeout, deadline, None).await?;
        let (request, reply) = (&self.request, &self.reply);
        // The exchange drops the stream when it ends: the client closes first.
        let result = match secure(host, stream, deadline, &self.security).await? {
            Secured::Plain(stream) => exchange(stream, request, reply, body, deadline).await,
            #[cfg(feature = "tls")]
            Secured::Tls(stream) => exchange(stream, request, reply, body, deadline).await,
        };
        result.map_err(|e| match e {
            msgframe_io::Error::TimedOut { writing, .. } => Error::TimedOut {
                written: !writing,
                elapsed: start.elapsed(),
            },
            e => Error::from(e),
        })
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
