//! What a long client reports about its connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Disconnect;
use crate::Error;

/// Something that happened to a long client's connection, in order. Read them from
/// [`LongClient::events`](crate::LongClient::events); each is also logged with `tracing`.
///
/// A deliberate [`close`](crate::LongClient::close) yields [`Shutdown`](Event::Shutdown) only:
/// no `Disconnected`, no `Reconnecting`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// Connected (after the after-connect hook, when there is one): the connection is in use.
    Connected {
        /// The host as configured.
        host: String,
        /// The address connected to.
        addr: SocketAddr,
    },
    /// A host could not be connected to (each address tried), or its after-connect hook failed
    /// ([`Error::Hook`]).
    ConnectFailed {
        /// The host as configured.
        host: String,
        /// Why.
        error: Arc<Error>,
    },
    /// The connection ended (not by a shutdown).
    Disconnected {
        /// The host it was to.
        host: String,
        /// Why: the peer closed, a malformed frame, the peer declared dead, ...
        reason: Arc<Disconnect>,
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
    /// A received message was dropped: the application's queue was full
    /// ([`Overflow::Drop`](crate::Overflow::Drop) or [`Overflow::Close`](crate::Overflow::Close)).
    IncomingDropped {
        /// Messages dropped so far on this connection.
        dropped: u64,
    },
    /// Reading paused: the application's queue is full
    /// ([`Overflow::Backpressure`](crate::Overflow::Backpressure)).
    ReadingPaused,
    /// Reading resumed: the application took a message.
    ReadingResumed,
    /// The client was shut down.
    Shutdown,
}

/// What bytes arriving on a simplex pair's outbound (send-only) link mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OutboundReads {
    /// The peer broke the pair's rule: the pair is dropped and re-established. The default.
    #[default]
    Error,
    /// Discarded (each time logged).
    Ignore,
}
