//! Opening a TCP connection, async: every address a host resolves to in turn, each attempt within
//! a time of its own and all before an overall deadline. The blocking twin is
//! [`msgframe_io::connect`]; both fail with the same [`ConnectError`].

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use msgframe_io::ConnectError;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

/// Connects to `host` (`name:port` or `address:port`): every address it resolves to in turn, each
/// attempt within `per_attempt` and all (resolving the name included) before `deadline` (`None`:
/// no overall deadline, only `per_attempt` for each address). The stream gets `TCP_NODELAY`.
///
/// ```no_run
/// use std::time::Duration;
/// use tokio::time::Instant;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// // Each address 2 s at most, 5 s for all of them.
/// let deadline = Instant::now() + Duration::from_secs(5);
/// match msgframe_tokio::connect("bank.example:9000", Duration::from_secs(2), Some(deadline)).await {
///     Ok(stream) => println!("connected to {}", stream.peer_addr()?),
///     // connecting to bank.example:9000 (10.1.2.3:9000): Connection refused (os error 111)
///     Err(e) => eprintln!("{e}"),
/// }
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// [`ConnectError`] naming `host`, the last address tried and its error (`TimedOut` when the
/// time ran out), the resolver's error, or `NotFound` when the host resolved to no address.
pub async fn connect(
    host: &str,
    per_attempt: Duration,
    deadline: Option<Instant>,
) -> Result<TcpStream, ConnectError> {
    let addrs = resolve(host, deadline).await?;
    attempt(Some(host), addrs, None, per_attempt, deadline).await
}

/// [`connect`] from the local address `local` (bound, with a port the system picks, before
/// connecting): only the addresses of `host` in `local`'s family are tried. Spreading short
/// connections over several local addresses gives each its own range of ephemeral ports.
///
/// # Errors
/// As [`connect`]; `NotFound` when `host` has no address in `local`'s family.
pub async fn connect_from(
    host: &str,
    local: IpAddr,
    per_attempt: Duration,
    deadline: Option<Instant>,
) -> Result<TcpStream, ConnectError> {
    let addrs = resolve(host, deadline).await?;
    let same_family = addrs.into_iter().filter(|a| a.is_ipv4() == local.is_ipv4());
    attempt(Some(host), same_family, Some(local), per_attempt, deadline).await
}

/// Connects to each of `addrs` in turn, as [`connect`] does for the addresses of a host; errors
/// name the last address tried.
///
/// ```no_run
/// use std::net::SocketAddr;
/// use std::time::Duration;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let addrs: [SocketAddr; 2] = ["[::1]:9000".parse()?, "127.0.0.1:9000".parse()?];
/// let stream = msgframe_tokio::connect_addrs(&addrs, Duration::from_secs(2), None).await?;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// [`ConnectError`] naming the last address tried and its error (`TimedOut` when the time ran
/// out), or `NotFound` when `addrs` is empty.
pub async fn connect_addrs(
    addrs: &[SocketAddr],
    per_attempt: Duration,
    deadline: Option<Instant>,
) -> Result<TcpStream, ConnectError> {
    attempt(None, addrs.iter().copied(), None, per_attempt, deadline).await
}

/// The addresses `host` resolves to, before `deadline`.
async fn resolve(host: &str, deadline: Option<Instant>) -> Result<Vec<SocketAddr>, ConnectError> {
    let resolved = match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, tokio::net::lookup_host(host))
            .await
            .unwrap_or_else(|_| Err(timed_out())),
        None => tokio::net::lookup_host(host).await,
    };
    resolved
        .map(Iterator::collect)
        .map_err(|source| ConnectError {
            host: host.to_owned(),
            addr: None,
            source,
        })
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "connect timed out")
}

/// A connection to `addr`, from `local` when given.
async fn open(addr: SocketAddr, local: Option<IpAddr>) -> io::Result<TcpStream> {
    let Some(ip) = local else {
        return TcpStream::connect(addr).await;
    };
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.bind(SocketAddr::new(ip, 0))?;
    socket.connect(addr).await
}

async fn attempt(
    host: Option<&str>,
    addrs: impl IntoIterator<Item = SocketAddr>,
    local: Option<IpAddr>,
    per_attempt: Duration,
    deadline: Option<Instant>,
) -> Result<TcpStream, ConnectError> {
    let mut last = None;
    for addr in addrs {
        let left = deadline.map_or(Duration::MAX, |d| {
            d.saturating_duration_since(Instant::now())
        });
        if left.is_zero() {
            last = Some((addr, timed_out()));
            break;
        }
        match tokio::time::timeout(per_attempt.min(left), open(addr, local)).await {
            Ok(Ok(stream)) => {
                return match stream.set_nodelay(true) {
                    Ok(()) => Ok(stream),
                    Err(e) => Err(ConnectError::after_attempts(host, Some((addr, e)))),
                }
            }
            Ok(Err(e)) => last = Some((addr, e)),
            Err(_) => last = Some((addr, timed_out())),
        }
    }
    Err(ConnectError::after_attempts(host, last))
}
