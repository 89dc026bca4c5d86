//! Every rule of a connection as pure state, with time passed in and no I/O: a
//! [`ClientSession`] and a [`ServerSession`] per connection, in the shape of `quinn-proto`.
//!
//! A driver feeds a session what happens — a message read, a write finished, the timer, a
//! caller's command — and does what the session says: the next message to write
//! (`poll_transmit`), when to wake it (`poll_timeout`, one timer), and events (`poll_event`:
//! deliver a message, end a call with its outcome, close with a typed [`Disconnect`]). The
//! clients and the server of this crate are such drivers, thin tokio loops; a driver of your own
//! (mio, a test harness, a simulation) gets the same rules.
//!
//! Nothing here imports tokio or a socket type, so every rule is tested in memory on simulated
//! time, down to two sessions talking through a simulated link.
//!
//! [`Disconnect`]: crate::Disconnect

mod client;
mod server;

use bytes::Bytes;

pub use client::{ClientEvent, ClientRules, ClientSession, Completed, Overflow};
pub use server::{ServerEvent, ServerRules, ServerSession};

/// Whoever waits for a call's outcome. A session asks it whether it still waits: a reply to a
/// caller that gave up goes to the application instead, and its key is free again.
pub trait Caller {
    /// Whether the caller stopped waiting (its future was dropped).
    fn gave_up(&self) -> bool;
}

/// A message for the driver to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The body, to be framed.
    pub body: Bytes,
    /// What it is.
    pub kind: TransmitKind,
}

/// What a [`Transmit`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransmitKind {
    /// A caller's message, a reply or a push.
    Message,
    /// Our heartbeat.
    Heartbeat,
    /// An answer to the peer's heartbeat.
    Answer,
}
