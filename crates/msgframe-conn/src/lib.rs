//! Connection templates for framed messages: what runs the connections that
//! [msgframe](https://docs.rs/msgframe) framings travel on.
//!
//! - [`ShortClient`]: connect → send one message → read the reply → close, within one deadline;
//!   a [`ClosePolicy`] (graceful, abortive, host-first) decides who keeps `TIME_WAIT`, with local
//!   addresses in turn and a cap per host for sustained rates.
//! - [`LongClient`]: one persistent connection for many messages, with TCP [`Keepalive`],
//!   application [`Heartbeat`]s (and answers to the peer's), reconnect with capped exponential
//!   [`Backoff`] and jitter over a list of hosts, an after-connect hook for logon, [`Event`]s,
//!   synchronous request/response with a timeout, request matching by key (many requests in
//!   flight, replies in any order), and a duplex split. [`BlockingLongClient`] serves plain
//!   threads. The same client runs **two links** (simplex: requests out on one connection,
//!   replies back on another), and [`LongPool`] runs **pools** and **link groups** of them
//!   ([`GroupRule::AllOrNothing`] or independent).
//! - [`Server`]: accepts connections and runs a [`Handler`] per message (reply, no reply, close),
//!   pushes messages on its own, reaps idle connections (a per-message deadline stops slow
//!   loris), caps connections per client address and in total before any per-connection work,
//!   allows or denies networks, shuts down gracefully, counts everything ([`Stats`]) and traces one
//!   span per connection. A connection between messages holds no read buffer, and a quiet
//!   plain-TCP connection is set aside from the runtime (no task, a few hundred bytes) until it
//!   has something to do ([`ServerBuilder::set_aside_quiet`]). It hosts two-link peers too,
//!   and [`BlockingServer`] runs each connection on the thread that owns its socket.
//!
//! Every rule of a connection is pure state with time passed in: a
//! [`ClientSession`](session::ClientSession) and a [`ServerSession`](session::ServerSession) per
//! connection (heartbeats, answers, reply matching, deadlines, reaping, what happens to messages
//! the application does not take), built on the machines of [`policy`] (backoff, heartbeat
//! timing, admission caps, idle clocks, a pool's spread, a group's rule), all tested without
//! sockets or clocks; thin tokio tasks drive them, one timer each. No framing logic lives here: messages are read and written
//! by `msgframe-tokio` with `msgframe-codec` framings.
//!
//! Nothing is lost silently: every call that carries a message ends in `Ok` (written whole; for a
//! request, answered) or an [`Error`] that says whether the message was sent
//! ([`Error::is_not_sent`]), and a reply nobody waits for goes to the receiver, never to the floor.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod blocking;
mod blocks;
mod client;
mod error;
mod heartbeat;
pub mod keys;
mod message;
pub mod policy;
mod server;
pub mod session;
mod socket;
mod task;
#[cfg(feature = "tls")]
pub mod tls;

pub use client::{
    BlockingLongClient, BlockingLongPool, BlockingReceiver, BlockingSender, BoxFuture, ClosePolicy,
    Event, GroupEvent, LongClient, LongClientBuilder, LongPool, LongReceiver, LongSender,
    OutboundReads, PoolLink, Session, ShortClient,
};
pub use error::{
    CertificateProblem, ConfigError, Disconnect, Error, Fault, NotSent, ReadableDuration, TlsError,
};
pub use heartbeat::{AnswerHeartbeats, Heartbeat};
pub use message::{IntoMessage, Key};
pub use policy::admission::IpNet;
pub use policy::backoff::{Backoff, HostOrder};
pub use policy::group::GroupRule;
pub use policy::heartbeat::HeartbeatTiming;
pub use server::{
    BlockingServer, Connection, Handler, Reply, Server, ServerBuilder, ServerHandle, Stats,
};
pub use session::Overflow;
pub use socket::{time_wait_toward, Keepalive};

/// The crate's README.md examples, compiled (and run) with the doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
