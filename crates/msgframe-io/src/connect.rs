//! Opening a TCP connection, blocking: every address a host resolves to in turn, each attempt
//! within a time of its own and all before an overall deadline. The async twin is
//! `msgframe_tokio::connect`; both fail with the same [`ConnectError`].

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// No address of a host accepted a connection: the host as given, the last address tried and its
/// error.
///
/// It reads `connecting to bank.example:9000 (10.1.2.3:9000): Connection refused`, the address
/// left out when it is the host as given (`connecting to 127.0.0.1:9000: Connection refused`).
/// Converted into an [`io::Error`] (or this crate's [`Error::Io`](crate::Error::Io)) it keeps the
/// kind of the last error and this text.
#[derive(Debug)]
pub struct ConnectError {
    /// The host as given (`name:port`); when the caller gave addresses rather than a name, the
    /// last address tried.
    pub host: String,
    /// The last address tried; `None` when the host did not resolve, or resolved to no address.
    pub addr: Option<SocketAddr>,
    /// The last error: the operating system's for the last address, `TimedOut` when the time ran
    /// out, the resolver's when the host did not resolve, `NotFound` ("the host resolved to no
    /// address") when there was no address to try.
    pub source: io::Error,
}

impl ConnectError {
    /// The error after every address was tried: `last` is the last address tried and its error,
    /// `None` when there was no address at all (`NotFound`). `host` is the host as given; `None`
    /// names the target by the last address tried.
    pub fn after_attempts(host: Option<&str>, last: Option<(SocketAddr, io::Error)>) -> Self {
        match last {
            Some((addr, source)) => ConnectError {
                host: host.map_or_else(|| addr.to_string(), str::to_owned),
                addr: Some(addr),
                source,
            },
            None => ConnectError {
                host: host.unwrap_or("(no address)").to_owned(),
                addr: None,
                source: io::Error::new(io::ErrorKind::NotFound, "the host resolved to no address"),
            },
        }
    }

    /// The host as given, with the last address tried in parentheses when it differs:
    /// `bank.example:9000 (10.1.2.3:9000)`.
    pub fn target(&self) -> String {
        match self.addr {
            Some(addr) if addr.to_string() != self.host => format!("{} ({addr})", self.host),
            _ => self.host.clone(),
        }
    }

    /// The kind of the last error.
    pub fn kind(&self) -> io::ErrorKind {
        self.source.kind()
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "connecting to {}: {}", self.target(), self.source)
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl From<ConnectError> for io::Error {
    /// An I/O error of the last error's kind, carrying the [`ConnectError`] (its text and, through
    /// [`io::Error::get_ref`], the error itself).
    fn from(err: ConnectError) -> Self {
        io::Error::new(err.kind(), err)
    }
}

impl From<ConnectError> for crate::Error {
    /// [`Error::Io`](crate::Error::Io) with the [`ConnectError`] inside.
    fn from(err: ConnectError) -> Self {
        crate::Error::Io(err.into())
    }
}

/// Connects to `host` (`name:port` or `address:port`), blocking: every address it resolves to in
/// turn, each attempt within `per_attempt` and all before `deadline` (`None`: no overall
/// deadline, only `per_attempt` for each address). The stream gets `TCP_NODELAY`.
///
/// Resolving the name is the system resolver's blocking call: the deadline is checked after it,
/// not during it.
///
/// ```no_run
/// use std::time::{Duration, Instant};
///
/// // Each address 2 s at most, 5 s for all of them.
/// let deadline = Instant::now() + Duration::from_secs(5);
/// match msgframe_io::connect("bank.example:9000", Duration::from_secs(2), Some(deadline)) {
///     Ok(stream) => println!("connected to {}", stream.peer_addr()?),
///     // connecting to bank.example:9000 (10.1.2.3:9000): Connection refused (os error 111)
///     Err(e) => eprintln!("{e}"),
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
/// [`ConnectError`] naming `host`, the last address tried and its error (`TimedOut` when the
/// time ran out), the resolver's error, or `NotFound` when the host resolved to no address.
pub fn connect(
    host: &str,
    per_attempt: Duration,
    deadline: Option<Instant>,
) -> Result<TcpStream, ConnectError> {
    let addrs = host.to_socket_addrs().map_err(|source| ConnectError {
        host: host.to_owned(),
        addr: None,
        source,
    })?;
    attempt(Some(host), addrs, per_attempt, deadline)
}

/// Connects to each of `addrs` in turn, blocking, as [`connect`] does for the addresses of a
/// host; errors name the last address tried.
///
/// ```no_run
/// use std::net::SocketAddr;
/// use std::time::Duration;
///
/// let addrs: [SocketAddr; 2] = ["[::1]:9000".parse()?, "127.0.0.1:9000".parse()?];
/// let stream = msgframe_io::connect_addrs(&addrs, Duration::from_secs(2), None)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`ConnectError`] naming the last address tried and its error (`TimedOut` when the time ran
/// out), or `NotFound` when `addrs` is empty.
pub fn connect_addrs(
    addrs: &[SocketAddr],
    per_attempt: Duration,
    deadline: Option<Instant>,
) -> Result<TcpStream, ConnectError> {
    attempt(None, addrs.iter().copied(), per_attempt, deadline)
}

fn attempt(
    host: Option<&str>,
    addrs: impl IntoIterator<Item = SocketAddr>,
    per_attempt: Duration,
    deadline: Option<Instant>,
) -> Result<TcpStream, ConnectError> {
    let mut last = None;
    for addr in addrs {
        let left = deadline.map_or(Duration::MAX, |d| {
            d.saturating_duration_since(Instant::now())
        });
        if left.is_zero() {
            let timed_out = io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
            last = Some((addr, timed_out));
            break;
        }
        match TcpStream::connect_timeout(&addr, per_attempt.min(left)) {
            Ok(stream) => {
                return match stream.set_nodelay(true) {
                    Ok(()) => Ok(stream),
                    Err(e) => Err(ConnectError::after_attempts(host, Some((addr, e)))),
                }
            }
            Err(e) => last = Some((addr, e)),
        }
    }
    Err(ConnectError::after_attempts(host, last))
}
