//! The one error type of this crate, with the typed causes it carries: why a connection ended
//! ([`Disconnect`]) and why a message was not sent ([`NotSent`]).

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::policy::idle::Reaped;

/// Who is at fault for an [`Error`]: what to fix, or whom to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The peer broke the framing or the protocol, or stopped answering.
    Peer,
    /// The network or the peer's host: refused, reset, unreachable, too slow.
    Network,
    /// The calling program: a message that cannot be framed or matched, a client used after
    /// shutdown.
    Caller,
    /// The configuration: an option out of range, no host given.
    Configuration,
}

/// Everything that can go wrong running a connection.
///
/// Every error says whether the message concerned was sent: the variants that carry a message
/// ([`NotSent`](Error::NotSent), [`ConnectionLost`](Error::ConnectionLost),
/// [`TimedOut`](Error::TimedOut)) spell it out, so no message is lost without its sender knowing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No address of a host accepted a connection: the last address tried and its error.
    #[error("connecting to {host}: {source}")]
    Connect {
        /// The host as configured (`name:port`), with the address tried when it resolved.
        host: String,
        /// The last connection error.
        #[source]
        source: io::Error,
    },

    /// No local port was free to connect from (`EADDRNOTAVAIL`): the ephemeral ports toward this
    /// host are used up, most often by short connections waiting in `TIME_WAIT` (60 s each on
    /// Linux, kept by the side that closes first). Nothing was sent.
    #[error("no local port free to connect to {host}{}: close short connections with `abortive` (a reset, no TIME_WAIT) or `host-first` (TIME_WAIT on the host), use more local addresses, or allow more ports (net.ipv4.ip_local_port_range)", match .time_wait { Some(n) => format!(" ({n} connections toward it in TIME_WAIT)"), None => String::new() })]
    NoLocalPort {
        /// The host as given.
        host: String,
        /// Connections toward it in `TIME_WAIT` (Linux), when they could be counted.
        time_wait: Option<usize>,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// Reading or writing on the connection failed: a malformed or oversized frame from the peer,
    /// the peer closing, a reset. The connection is dropped (a long client reconnects).
    #[error(transparent)]
    Frame(msgframe_io::Error),

    /// The message was not sent, and nothing of it is kept: `reason` says why (no connection
    /// within the call's timeout, the writer busy with earlier messages). Offer it again.
    #[error("message not sent: {reason}")]
    NotSent {
        /// Why.
        reason: NotSent,
    },

    /// The connection was lost after the message was taken for sending and before the call
    /// completed: it may have reached the peer (`written` says whether it was written whole to
    /// the socket); a request got no reply. Not retried automatically: the caller decides
    /// whether repeating it is safe.
    #[error("connection lost{}: {cause}", if *.written { " after the message was written" } else { " while the message was being sent" })]
    ConnectionLost {
        /// Whether the whole message was written to the socket.
        written: bool,
        /// Why the connection ended.
        cause: Arc<Disconnect>,
    },

    /// A connection ended (the last failure a client reports when it has no connection).
    #[error("connection ended: {0}")]
    Disconnected(Arc<Disconnect>),

    /// The call's time ran out after its message was sent (a request without reply), or while
    /// its message was being written (`written: false`: the rest still goes out before any later
    /// message, so the stream stays well framed).
    #[error("timed out after {} {}", ReadableDuration(*.elapsed), if *.written { "waiting for the reply" } else { "writing the message" })]
    TimedOut {
        /// Whether the whole message was written.
        written: bool,
        /// How long the call waited.
        elapsed: Duration,
    },

    /// No connection was up within the time waited (or one came and was lost); `last` says why
    /// the last attempt failed or the last connection ended.
    #[error("not connected after {}{}", ReadableDuration(*.waited), match .last { Some(l) => format!(" (last failure: {l})"), None => String::new() })]
    NotConnected {
        /// How long the call waited.
        waited: Duration,
        /// Why the last attempt failed or the last connection ended.
        last: Option<Arc<Error>>,
    },

    /// The peer stopped answering heartbeats and was declared dead.
    #[error("peer declared dead after {missed} missed heartbeats")]
    PeerDead {
        /// Heartbeats missed in a row.
        missed: u32,
    },

    /// The request's key function found no key in the outgoing message (it is not sent).
    #[error("no matching key in the request (not sent)")]
    NoKey,

    /// A request with the same key is already waiting for its reply (this one is not sent).
    #[error("a request with key {key} is already in flight (not sent)")]
    DuplicateKey {
        /// The key, as `Debug` shows it.
        key: String,
    },

    /// A long client's after-connect hook (a logon) failed; the connection was dropped.
    #[error("the after-connect hook failed: {0}")]
    Hook(#[source] Box<Error>),

    /// The client or server was shut down (or its task ended); nothing more is sent.
    #[error("shut down")]
    Shutdown,

    /// A TLS handshake failed (or TLS failed on a connection): a certificate refused (named by
    /// its subject), a client certificate missing or refused, a handshake not finished in time.
    /// Nothing was sent.
    #[error("{}{failure}", match .peer { Some(p) => format!("{p}: "), None => String::new() })]
    Tls {
        /// The peer, when known (`host:port`, or the client's address).
        peer: Option<String>,
        /// What failed.
        #[source]
        failure: TlsError,
    },

    /// An option is invalid, or a call was made where it cannot run.
    #[error("configuration: {0}")]
    Config(#[source] ConfigError),

    /// A socket option or listener failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

impl From<msgframe_io::Error> for Error {
    /// A TLS failure met while reading or writing (with TLS 1.3 a refused client certificate
    /// shows after the handshake, on the first read) becomes [`Error::Tls`] with its meaning;
    /// anything else is [`Error::Frame`].
    fn from(e: msgframe_io::Error) -> Self {
        #[cfg(feature = "tls")]
        if let msgframe_io::Error::Io(io) = &e {
            if let Some(failure) = crate::tls::failure(io) {
                return Error::Tls {
                    peer: None,
                    failure,
                };
            }
        }
        Error::Frame(e)
    }
}

impl From<msgframe_io::ConnectError> for Error {
    /// [`Error::Connect`]: the host as given with the last address tried, and its error.
    fn from(e: msgframe_io::ConnectError) -> Self {
        Error::Connect {
            host: e.target(),
            source: e.source,
        }
    }
}

/// A read or write error in words: a TLS failure by its meaning, anything else as it is.
pub(crate) fn describe(e: &msgframe_io::Error) -> String {
    #[cfg(feature = "tls")]
    if let msgframe_io::Error::Io(io) = e {
        if let Some(failure) = crate::tls::failure(io) {
            return failure.to_string();
        }
    }
    e.to_string()
}

impl Error {
    /// Who is at fault.
    pub fn fault(&self) -> Fault {
        match self {
            Error::Connect { .. } | Error::Io(_) | Error::NoLocalPort { .. } => Fault::Network,
            Error::ConnectionLost { cause, .. } | Error::Disconnected(cause) => cause.fault(),
            Error::Frame(e) => io_fault(e),
            Error::NotSent { .. } | Error::TimedOut { .. } | Error::NotConnected { .. } => {
                Fault::Network
            }
            Error::PeerDead { .. } | Error::Tls { .. } => Fault::Peer,
            Error::Hook(e) => e.fault(),
            Error::NoKey | Error::DuplicateKey { .. } | Error::Shutdown => Fault::Caller,
            Error::Config(_) => Fault::Configuration,
        }
    }

    /// Whether the message of the failed call certainly did not reach the peer, so sending it
    /// again cannot duplicate it.
    pub fn is_not_sent(&self) -> bool {
        match self {
            Error::NotSent { .. }
            | Error::NotConnected { .. }
            | Error::NoKey
            | Error::DuplicateKey { .. }
            | Error::Shutdown
            | Error::Config(_)
            | Error::Tls { .. }
            | Error::Connect { .. }
            | Error::NoLocalPort { .. } => true,
            Error::Frame(e) => e.is_not_sent() || matches!(e, msgframe_io::Error::Message(_)),
            _ => false,
        }
    }

    pub(crate) fn not_sent(reason: NotSent) -> Self {
        Error::NotSent { reason }
    }

    /// A call whose message was lost with its connection.
    pub(crate) fn lost(written: bool, cause: &Arc<Disconnect>) -> Self {
        Error::ConnectionLost {
            written,
            cause: Arc::clone(cause),
        }
    }
}

/// Whether a codec error is about a message the caller asked to send.
fn is_encode_error(err: &msgframe_codec::CodecError) -> bool {
    matches!(err, msgframe_codec::CodecError::MessageTooLong { .. })
}

/// Why a message was not sent. Nothing of it reached the peer; offering it again cannot
/// duplicate it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum NotSent {
    /// No connection took the message before its deadline (the client was connecting, or busy
    /// writing earlier messages); `last_failure` says why the last attempt failed or the last
    /// connection ended, when the client was not connected.
    #[error("no connection took the message before the deadline{}", match .last_failure { Some(l) => format!(" (last failure: {l})"), None => String::new() })]
    Deadline {
        /// Why the last attempt failed or the last connection ended, when not connected.
        last_failure: Option<Arc<Error>>,
    },
    /// The send queue stayed full until the deadline.
    #[error("the send queue stayed full until the deadline")]
    QueueFull,
    /// Every request slot stayed busy until the deadline.
    #[error("every request slot stayed busy until the deadline")]
    SlotsBusy,
    /// `pending` bytes of earlier messages could not be written before the deadline, so this one
    /// was not taken.
    #[error("{pending} bytes of earlier messages were still unwritten at the deadline")]
    WriterBusy {
        /// Bytes of earlier messages still unwritten.
        pending: usize,
    },
    /// The connection was closed (or closing) before it took the message.
    #[error("the connection is closed")]
    Closed,
    /// The connection's push queue stayed full until the deadline.
    #[error("the connection's push queue stayed full until the deadline")]
    PushQueueFull,
}

/// Why a connection ended: the peer, the network, a rule of the connection, or the program.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Disconnect {
    /// The peer closed the connection between messages.
    #[error("the peer closed the connection")]
    PeerClosed,
    /// The peer stopped answering heartbeats.
    #[error("peer declared dead after {missed} missed heartbeats")]
    PeerDead {
        /// Heartbeats missed in a row.
        missed: u32,
    },
    /// Reading failed: a malformed or oversized frame, a reset, end of stream inside a message.
    #[error("reading failed: {}", describe(.0))]
    Read(#[source] msgframe_io::Error),
    /// Writing failed: a reset, a broken pipe.
    #[error("writing failed: {}", describe(.0))]
    Write(#[source] msgframe_io::Error),
    /// A reply or push was not written within the write time limit (a peer that does not read).
    #[error("a message was not written within {}", ReadableDuration(*.0))]
    WriteTimedOut(Duration),
    /// The application did not take incoming messages and the overflow policy is to close.
    #[error("the application's queue of incoming messages was full (overflow policy: close)")]
    IncomingOverflow,
    /// The server's handler asked to close.
    #[error("closed by the handler")]
    Handler,
    /// A server's clock closed the connection.
    #[error("{}", match .0 { Reaped::Idle => "reaped: idle", Reaped::MessageTooSlow => "reaped: a message was not whole in time" })]
    Reaped(Reaped),
    /// The program shut the client or server down.
    #[error("shut down")]
    Shutdown,
    /// Another link of this connection's all-or-nothing group broke: every link is closed and the
    /// group rebuilt together.
    #[error("another link of its group broke")]
    GroupBroken,
    /// A simplex peer's return link did not come in time.
    #[error("the peer's return link did not come in time")]
    NoReturnLink,
    /// The program closed this connection ([`Connection::close`](crate::Connection::close)).
    #[error("closed by the server")]
    Closed,
}

impl Disconnect {
    /// Who is at fault.
    pub fn fault(&self) -> Fault {
        match self {
            Disconnect::PeerClosed
            | Disconnect::PeerDead { .. }
            | Disconnect::WriteTimedOut(_)
            | Disconnect::Reaped(_) => Fault::Peer,
            Disconnect::Read(e) | Disconnect::Write(e) => io_fault(e),
            Disconnect::GroupBroken => Fault::Network,
            Disconnect::NoReturnLink => Fault::Peer,
            Disconnect::IncomingOverflow
            | Disconnect::Handler
            | Disconnect::Shutdown
            | Disconnect::Closed => Fault::Caller,
        }
    }

    /// Whether the program ended the connection on purpose (a shutdown), rather than something
    /// going wrong.
    pub fn is_shutdown(&self) -> bool {
        matches!(self, Disconnect::Shutdown)
    }

    /// The cause of a failed read: end of stream between messages is the peer closing.
    pub(crate) fn read(e: msgframe_io::Error) -> Self {
        match e {
            msgframe_io::Error::Closed => Disconnect::PeerClosed,
            e => Disconnect::Read(e),
        }
    }
}

/// Who is at fault for a read or write error.
fn io_fault(e: &msgframe_io::Error) -> Fault {
    match e {
        msgframe_io::Error::Malformed(_)
        | msgframe_io::Error::UnexpectedEof { .. }
        | msgframe_io::Error::Closed => Fault::Peer,
        // Too long to send is the caller's; too long received, the peer's.
        msgframe_io::Error::TooLong(c) if is_encode_error(c) => Fault::Caller,
        msgframe_io::Error::TooLong(_) => Fault::Peer,
        msgframe_io::Error::Message(_) => Fault::Caller,
        _ => Fault::Network,
    }
}

/// Why TLS failed: what the handshake found wrong, in terms a reader can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A certificate was refused by this side's check, named by its subject.
    #[error("the {whose} certificate `{subject}` {problem}")]
    CertificateRefused {
        /// Whose certificate: `server's` or `client`.
        whose: &'static str,
        /// Its subject, as `CN=..., O=...`.
        subject: String,
        /// What is wrong with it.
        problem: CertificateProblem,
    },
    /// The client presented no certificate, and one is required.
    #[error("the client presented no certificate, and one is required")]
    NoClientCertificate,
    /// The server requires a client certificate; none was given.
    #[error("the server requires a client certificate; none was given")]
    ClientCertificateRequired,
    /// The peer refused our certificate.
    #[error("the peer refused our certificate{}", if *.expired { ": expired" } else { " (not signed by a CA it trusts?)" })]
    OurCertificateRefused {
        /// Whether it said it has expired.
        expired: bool,
    },
    /// The peer aborted the handshake with this alert.
    #[error("the peer aborted the handshake: {alert}")]
    Alert {
        /// The alert, by name.
        alert: String,
    },
    /// The name to check the server's certificate against is not a valid TLS server name.
    #[error("`{name}` is not a valid TLS server name")]
    InvalidServerName {
        /// The name.
        name: String,
    },
    /// The handshake did not finish in time.
    #[error("TLS handshake not finished{}", match .timeout { Some(t) => format!(" within {}", ReadableDuration(*t)), None => " in time".to_owned() })]
    HandshakeTimeout {
        /// The time allowed, when known.
        timeout: Option<Duration>,
    },
    /// Any other TLS failure: rustls's error is the source.
    #[error("TLS: {0}")]
    Protocol(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// What is wrong with a refused certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateProblem {
    /// It has expired.
    #[error("has expired")]
    Expired,
    /// It is not valid yet.
    #[error("is not valid yet")]
    NotValidYet,
    /// No trusted CA signed it.
    #[error("is not signed by a trusted CA (check the CA file)")]
    UnknownIssuer,
    /// It is not valid for the name asked for.
    #[error("is not valid for the server name asked for (see the server name option)")]
    NameMismatch,
    /// It is revoked.
    #[error("is revoked")]
    Revoked,
    /// Its signature is bad.
    #[error("has a bad signature")]
    BadSignature,
    /// It is not for this purpose (extended key usage).
    #[error("is not for this purpose (extended key usage)")]
    WrongPurpose,
    /// Something else, as rustls names it.
    #[error("is refused: {0}")]
    Other(String),
}

/// A configuration that cannot work, or a call made where it cannot run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A long client was given no host.
    #[error("a long client needs at least one host")]
    NoHost,
    /// An async start outside a tokio runtime.
    #[error("{0} needs a tokio runtime; use its blocking form from plain threads")]
    NoRuntime(&'static str),
    /// A blocking call inside an async runtime, where it would stall the runtime.
    #[error("a blocking call was made from inside an async runtime; use the async API there")]
    BlockingInRuntime,
    /// The runtime behind the blocking forms could not start.
    #[error("cannot start the blocking runtime: {0}")]
    Runtime(#[source] Arc<io::Error>),
    /// A file could not be read.
    #[error("reading {what} {}: {source}", .path.display())]
    File {
        /// What the file was to hold.
        what: &'static str,
        /// Its path.
        path: std::path::PathBuf,
        /// Why it could not be read.
        #[source]
        source: io::Error,
    },
    /// PEM text that holds no usable certificate or key.
    #[error("{what}: {problem}")]
    Pem {
        /// What it was to hold.
        what: String,
        /// What is wrong.
        problem: &'static str,
        /// The parser's error, when there was one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// No CA to trust, with verification on.
    #[error("TLS: no CA to trust: give a CA file or the platform roots")]
    NoTrustedCa,
    /// No root certificate found on the platform.
    #[error("no platform root certificates found ({errors} errors)")]
    NoPlatformRoots {
        /// How many errors reading them gave.
        errors: usize,
    },
    /// rustls refused the TLS configuration (a key that does not suit its certificate).
    #[error("TLS: {what}: {source}")]
    Tls {
        /// What was being configured.
        what: &'static str,
        /// rustls's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The program's own reason (an after-connect hook refusing a sign-on).
    #[error("{0}")]
    Other(String),
}

impl From<&str> for ConfigError {
    fn from(reason: &str) -> Self {
        ConfigError::Other(reason.to_owned())
    }
}

impl From<String> for ConfigError {
    fn from(reason: String) -> Self {
        ConfigError::Other(reason)
    }
}

/// A duration as a message shows it: three significant digits in the largest unit that fits
/// (`1.00 s`, `250 ms`, `12.5 µs`), whole seconds from 100 s on. Every duration in this
/// crate's errors is shown this way; logs and tools may use it too.
///
/// ```
/// use std::time::Duration;
/// use msgframe_conn::ReadableDuration;
///
/// assert_eq!(ReadableDuration(Duration::from_nanos(1_001_150_624)).to_string(), "1.00 s");
/// assert_eq!(ReadableDuration(Duration::from_micros(999_700)).to_string(), "1.00 s");
/// assert_eq!(ReadableDuration(Duration::from_millis(250)).to_string(), "250 ms");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadableDuration(pub Duration);

impl fmt::Display for ReadableDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos == 0 {
            return f.write_str("0 s");
        }
        if nanos < 1_000 {
            return write!(f, "{nanos} ns");
        }
        let units = [(1e3, "µs"), (1e6, "ms"), (1e9, "s")];
        let mut unit = units
            .iter()
            .rposition(|&(scale, _)| nanos as f64 >= scale)
            .unwrap_or(0);
        loop {
            let (scale, name) = units[unit];
            let value = nanos as f64 / scale;
            let decimals = match value {
                v if v >= 99.95 => 0,
                v if v >= 9.995 => 1,
                _ => 2,
            };
            // 999.7 ms reads 1.00 s, not 1000 ms.
            if decimals == 0 && value >= 999.5 && unit + 1 < units.len() {
                unit += 1;
                continue;
            }
            return write!(f, "{value:.decimals$} {name}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_messages_read_as_people_write_them() {
        let shown = |d: Duration| ReadableDuration(d).to_string();
        assert_eq!(shown(Duration::from_nanos(1_001_150_624)), "1.00 s");
        assert_eq!(shown(Duration::from_millis(250)), "250 ms");
        assert_eq!(shown(Duration::from_micros(1_234)), "1.23 ms");
        assert_eq!(shown(Duration::from_micros(12_345)), "12.3 ms");
        assert_eq!(shown(Duration::from_micros(999_700)), "1.00 s");
        assert_eq!(shown(Duration::from_micros(9_999)), "10.0 ms");
        assert_eq!(shown(Duration::from_nanos(12_500)), "12.5 µs");
        assert_eq!(shown(Duration::from_nanos(800)), "800 ns");
        assert_eq!(shown(Duration::from_secs(30)), "30.0 s");
        assert_eq!(shown(Duration::from_secs(3600)), "3600 s");
        assert_eq!(shown(Duration::ZERO), "0 s");
        let e = Error::TimedOut {
            written: true,
            elapsed: Duration::from_nanos(5_000_183_992),
        };
        assert_eq!(
            e.to_string(),
            "timed out after 5.00 s waiting for the reply"
        );
        let d = Disconnect::WriteTimedOut(Duration::from_millis(250));
        assert_eq!(d.to_string(), "a message was not written within 250 ms");
    }
}
