//! What a long client reports about its connection.

use std::net::SocketAddr;
use std::time::Duration;

/// Something that happened to a long client's connection, in order. Read them from
/// [`LongClient::events`](crate::LongClient::events); each is also logged with `tracing`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Connected (after the after-connect hook, when there is one): the connection is in use.
    Connected {
        /// The host as configured.
        host: String,
        /// The address connected to.
        addr: SocketAddr,
    },
    /// A host could not be connected to (each address tried), or its after-connect hook failed.
    ConnectFailed {
        /// The host as configured.
        host: String,
        /// Why.
        error: String,
    },
    /// The connection ended.
    Disconnected {
        /// The host it was to.
        host: String,
        /// Why (the peer closed, a malformed frame, the peer declared dead, ...).
        reason: String,
    },
    /// Waiting `delay` before reconnect attempt `attempt` (1 for the first).
    Reconnecting {
        /// The attempt about to be made.
        attempt: u32,
        /// How long the client waits before it.
        delay: Duration,
    },
    /// A heartbeat got no answer in time; another is sent at once.
    HeartbeatMissed {
        /// Heartbeats missed in a row.
        missed: u32,
    },
    /// The peer missed too many heartbeats and the connection is dropped.
    PeerDead {
        /// Heartbeats missed in a row.
        missed: u32,
    },
    /// The client was shut down.
    Shutdown,
}
