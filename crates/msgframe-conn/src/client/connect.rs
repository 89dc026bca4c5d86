//! Opening a connection: resolve a host, try each address in turn within the time left.

use std::io;
use std::time::Duration;

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
