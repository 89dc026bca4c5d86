//! TCP options for long connections: keepalive probes tuned to notice a dead host in minutes
//! rather than hours, and `TCP_NODELAY`.

use std::io;
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};

/// TCP keepalive settings, applied with `socket2` to every connection a client opens or a server
/// accepts.
///
/// The kernel's defaults (probe after 2 hours idle, then every 75 s, give up after 9 probes on
/// Linux) leave a dead host unnoticed for more than two hours. Keepalive only proves that the
/// peer's kernel answers; application [heartbeats](crate::Heartbeat) prove the application does.
///
/// `user_timeout` (Linux `TCP_USER_TIMEOUT`; ignored elsewhere) bounds how long sent data may stay
/// unacknowledged before the kernel drops the connection: without it a connection whose peer
/// vanished while data was in flight hangs for the full retransmission time (about 15 minutes).
///
/// ```no_run
/// use std::time::Duration;
/// use msgframe_conn::Keepalive;
///
/// # async fn demo() -> std::io::Result<()> {
/// let stream = tokio::net::TcpStream::connect("127.0.0.1:9000").await?;
/// Keepalive::default().apply(&stream)?;
/// assert_eq!(Keepalive::read(&stream)?.idle, Duration::from_secs(60));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe (`TCP_KEEPIDLE`).
    pub idle: Duration,
    /// Time between probes (`TCP_KEEPINTVL`).
    pub interval: Duration,
    /// Unanswered probes before the connection is dropped (`TCP_KEEPCNT`).
    pub retries: u32,
    /// `TCP_USER_TIMEOUT` (Linux only); `None` leaves the kernel's default.
    pub user_timeout: Option<Duration>,
}

impl Default for Keepalive {
    /// Probe after 60 s idle, every 10 s, give up after 5: a dead host is noticed within about two
    /// minutes. `TCP_USER_TIMEOUT` 110 s (the same bound for data in flight).
    fn default() -> Self {
        Keepalive {
            idle: Duration::from_secs(60),
            interval: Duration::from_secs(10),
            retries: 5,
            user_timeout: Some(Duration::from_secs(110)),
        }
    }
}

impl Keepalive {
    /// Turns keepalive on for `socket` with these settings.
    ///
    /// # Errors
    /// The operating system refused an option (a value out of its range).
    pub fn apply<'s, S>(&self, socket: &'s S) -> io::Result<()>
    where
        SockRef<'s>: From<&'s S>,
    {
        let sock = SockRef::from(socket);
        let keepalive = TcpKeepalive::new().with_time(self.idle);
        #[cfg(any(
            target_os = "linux",
            target_os = "android",
            target_os = "macos",
            target_os = "ios",
            target_os = "freebsd",
            target_os = "netbsd",
            target_os = "windows"
        ))]
        let keepalive = keepalive.with_interval(self.interval);
        #[cfg(any(
            target_os = "linux",
            target_os = "android",
            target_os = "macos",
            target_os = "ios",
            target_os = "freebsd",
            target_os = "netbsd"
        ))]
        let keepalive = keepalive.with_retries(self.retries);
        sock.set_tcp_keepalive(&keepalive)?;
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(timeout) = self.user_timeout {
            sock.set_tcp_user_timeout(Some(timeout))?;
        }
        Ok(())
    }

    /// Reads the settings back from `socket` (Linux): what the kernel really uses.
    ///
    /// # Errors
    /// Keepalive is off on the socket (`InvalidInput`), or the operating system refused to answer.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn read<'s, S>(socket: &'s S) -> io::Result<Keepalive>
    where
        SockRef<'s>: From<&'s S>,
    {
        let sock = SockRef::from(socket);
        if !sock.keepalive()? {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "TCP keepalive is off on this socket",
            ));
        }
        Ok(Keepalive {
            idle: sock.tcp_keepalive_time()?,
            interval: sock.tcp_keepalive_interval()?,
            retries: sock.tcp_keepalive_retries()?,
            user_timeout: sock.tcp_user_timeout()?,
        })
    }
}

/// Applies the options every msgframe connection gets: `TCP_NODELAY` (messages go out at once)
/// and, when given, keepalive.
pub(crate) fn configure<'s, S>(stream: &'s S, keepalive: Option<&Keepalive>) -> io::Result<()>
where
    SockRef<'s>: From<&'s S>,
{
    SockRef::from(stream).set_tcp_nodelay(true)?;
    if let Some(keepalive) = keepalive {
        keepalive.apply(stream)?;
    }
    Ok(())
}

/// Sets the options of accepted connections on the listening socket itself, where accepted
/// sockets inherit them (Linux copies `TCP_NODELAY`, keepalive and `TCP_USER_TIMEOUT` from the
/// listener): no system call per connection. Returns whether they are inherited; elsewhere each
/// accepted connection must be [`configure`]d.
pub(crate) fn configure_listener<'s, S>(
    listener: &'s S,
    keepalive: Option<&Keepalive>,
) -> io::Result<bool>
where
    SockRef<'s>: From<&'s S>,
{
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let sock = SockRef::from(listener);
        sock.set_tcp_nodelay(true)?;
        if let Some(keepalive) = keepalive {
            keepalive.apply(listener)?;
        }
        Ok(true)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = (listener, keepalive);
        Ok(false)
    }
}

/// How many TCP connections toward `addr` are in `TIME_WAIT` now, on this machine or in this
/// network namespace (Linux: `/proc/net/tcp` and
/// `/proc/net/tcp6`); `None` where that cannot be read.
pub fn time_wait_toward(addr: std::net::SocketAddr) -> Option<usize> {
    let (file, remote) = match addr {
        std::net::SocketAddr::V4(a) => (
            "/proc/net/tcp",
            format!(
                "{:08X}:{:04X}",
                u32::from_le_bytes(a.ip().octets()),
                a.port()
            ),
        ),
        std::net::SocketAddr::V6(a) => {
            let words: String = a
                .ip()
                .octets()
                .chunks(4)
                .map(|w| format!("{:08X}", u32::from_le_bytes([w[0], w[1], w[2], w[3]])))
                .collect();
            ("/proc/net/tcp6", format!("{words}:{:04X}", a.port()))
        }
    };
    let table = std::fs::read_to_string(file).ok()?;
    // Columns: sl, local address, remote address, st (06: TIME_WAIT), ...
    Some(
        table
            .lines()
            .skip(1)
            .filter(|line| {
                let mut cols = line.split_whitespace().skip(2);
                cols.next() == Some(remote.as_str()) && cols.next() == Some("06")
            })
            .count(),
    )
}
