//! Opening a connection: resolve a host, try each address in turn within the time left.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio::time::Instant;

use msgframe_io::ConnectError;

use crate::socket::Keepalive;
use crate::Error;

/// Connects to `host` (`name:port` or `address:port`) as [`msgframe_tokio::connect`] does: every
/// address it resolves to in turn, each within `per_attempt` and all before `deadline`, with
/// `TCP_NODELAY`; then turns keepalive on when given.
///
/// # Errors
/// [`Error::Connect`] naming the host and the last address tried, with its error (`TimedOut` when
/// the time ran out).
pub(crate) async fn connect(
    host: &str,
    per_attempt: Duration,
    deadline: Instant,
    keepalive: Option<&Keepalive>,
) -> Result<TcpStream, Error> {
    connect_from(host, None, per_attempt, deadline, keepalive).await
}

/// [`connect`] from the local address `local`, when given.
pub(crate) async fn connect_from(
    host: &str,
    local: Option<std::net::IpAddr>,
    per_attempt: Duration,
    deadline: Instant,
    keepalive: Option<&Keepalive>,
) -> Result<TcpStream, Error> {
    let stream = match local {
        Some(ip) => msgframe_tokio::connect_from(host, ip, per_attempt, Some(deadline)).await?,
        None => msgframe_tokio::connect(host, per_attempt, Some(deadline)).await?,
    };
    if let Some(keepalive) = keepalive {
        keepalive.apply(&stream).map_err(|source| ConnectError {
            host: host.to_owned(),
            addr: stream.peer_addr().ok(),
            source,
        })?;
    }
    Ok(stream)
}

/// A connected stream, secured as configured.
pub(crate) enum Secured {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS, the handshake done.
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// Secures a stream connected to `host` as `security` says: a TLS handshake within what is left
/// of `deadline`, or nothing.
///
/// # Errors
/// [`Error::Tls`] for a failed handshake.
pub(crate) async fn secure(
    host: &str,
    stream: TcpStream,
    deadline: Instant,
    security: &Security,
) -> Result<Secured, Error> {
    match security {
        Security::Plain => {
            let _ = (host, deadline);
            Ok(Secured::Plain(stream))
        }
        #[cfg(feature = "tls")]
        Security::Tls(tls) => {
            let left = deadline.saturating_duration_since(Instant::now());
            let stream = tls.connect(host, stream, left).await?;
            Ok(Secured::Tls(Box::new(stream)))
        }
    }
}

/// How a client secures its connections.
#[derive(Debug, Clone, Default)]
pub(crate) enum Security {
    /// Plain TCP.
    #[default]
    Plain,
    /// TLS, with a handshake on every new connection.
    #[cfg(feature = "tls")]
    Tls(crate::tls::TlsConnector),
}

/// The reading half of a connection, plain or TLS.
pub(crate) type BoxRead = Box<dyn LinkRead>;

/// A connection's reading half, which says whether it is plain TCP.
pub(crate) trait LinkRead: AsyncRead + Send + Unpin {
    /// The plain TCP half, when every byte to read is still in the socket: the reader may then
    /// hold no buffer while it waits for the socket to be readable. `None` over TLS (whose layer
    /// may hold decrypted bytes the socket no longer shows) or behind bytes already read.
    fn plain(&self) -> Option<&OwnedReadHalf> {
        None
    }
}

impl LinkRead for OwnedReadHalf {
    fn plain(&self) -> Option<&OwnedReadHalf> {
        Some(self)
    }
}

impl<T: AsyncRead + Send> LinkRead for tokio::io::ReadHalf<T> {}

impl<A: AsyncRead + Send + Unpin, B: AsyncRead + Send + Unpin> LinkRead for tokio::io::Chain<A, B> {}
/// The writing half of a connection, plain or TLS.
pub(crate) type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// A connection ready for messages: connected, secured as configured, split in two halves.
pub(crate) struct Link {
    pub(crate) read: BoxRead,
    pub(crate) write: BoxWrite,
    pub(crate) peer: std::net::SocketAddr,
    /// This end's address, when the socket tells it.
    pub(crate) local: Option<std::net::SocketAddr>,
    /// The keepalive settings the kernel reported right after connecting.
    pub(crate) keepalive: io::Result<Keepalive>,
}

/// Connects to `host` as [`connect`] does, then secures the connection (a TLS handshake within
/// what is left of the deadline) and splits it.
///
/// # Errors
/// As [`connect`]; [`Error::Tls`] for a failed handshake.
pub(crate) async fn open(
    host: &str,
    per_attempt: Duration,
    deadline: Instant,
    keepalive: Option<&Keepalive>,
    security: &Security,
) -> Result<Link, Error> {
    let stream = connect(host, per_attempt, deadline, keepalive).await?;
    let peer = stream.peer_addr()?;
    let local = stream.local_addr().ok();
    let keepalive = read_keepalive(&stream);
    match secure(host, stream, deadline, security).await? {
        Secured::Plain(stream) => {
            let (read, write) = stream.into_split();
            Ok(Link {
                read: Box::new(read),
                write: Box::new(write),
                peer,
                local,
                keepalive,
            })
        }
        #[cfg(feature = "tls")]
        Secured::Tls(stream) => {
            let (read, write) = tokio::io::split(*stream);
            Ok(Link {
                read: Box::new(read),
                write: Box::new(write),
                peer,
                local,
                keepalive,
            })
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn read_keepalive(stream: &TcpStream) -> io::Result<Keepalive> {
    Keepalive::read(stream)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn read_keepalive(_: &TcpStream) -> io::Result<Keepalive> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "read back on Linux only",
    ))
}
