//! Opening a connection: resolve a host, try each address in turn within the time left.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::socket::{self, Keepalive};
use crate::Error;

/// Connects to `host` (`name:port` or `address:port`): every address it resolves to in turn, each
/// within `per_attempt` and all before `deadline`. The stream gets `TCP_NODELAY` and, when given,
/// keepalive.
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
    let failed = |addr: Option<std::net::SocketAddr>, source: io::Error| Error::Connect {
        host: match addr {
            Some(addr) if addr.to_string() != host => format!("{host} ({addr})"),
            _ => host.to_owned(),
        },
        source,
    };
    let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
    let addrs = match tokio::time::timeout_at(deadline, tokio::net::lookup_host(host)).await {
        Ok(Ok(addrs)) => addrs,
        Ok(Err(e)) => return Err(failed(None, e)),
        Err(_) => return Err(failed(None, timed_out())),
    };
    let mut last = None;
    for addr in addrs {
        let now = Instant::now();
        if now >= deadline {
            last = Some((addr, timed_out()));
            break;
        }
        let until = deadline.min(now + per_attempt);
        match tokio::time::timeout_at(until, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                socket::configure(&stream, keepalive).map_err(|e| failed(Some(addr), e))?;
                return Ok(stream);
            }
            Ok(Err(e)) => last = Some((addr, e)),
            Err(_) => last = Some((addr, timed_out())),
        }
    }
    Err(match last {
        Some((addr, e)) => failed(Some(addr), e),
        None => failed(
            None,
            io::Error::new(io::ErrorKind::NotFound, "the host resolved to no address"),
        ),
    })
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
pub(crate) type BoxRead = Box<dyn AsyncRead + Send + Unpin>;
/// The writing half of a connection, plain or TLS.
pub(crate) type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// A connection ready for messages: connected, secured as configured, split in two halves.
pub(crate) struct Link {
    pub(crate) read: BoxRead,
    pub(crate) write: BoxWrite,
    pub(crate) peer: std::net::SocketAddr,
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
    let keepalive = read_keepalive(&stream);
    match security {
        Security::Plain => {
            let (read, write) = stream.into_split();
            Ok(Link {
                read: Box::new(read),
                write: Box::new(write),
                peer,
                keepalive,
            })
        }
        #[cfg(feature = "tls")]
        Security::Tls(tls) => {
            let left = deadline.saturating_duration_since(Instant::now());
            let stream = tls.connect(host, stream, left).await?;
            let (read, write) = tokio::io::split(stream);
            Ok(Link {
                read: Box::new(read),
                write: Box::new(write),
                peer,
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
