//! A message on its way from a caller to the connection's writer, and the one-way state that
//! decides whether it was sent.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::Error;

const QUEUED: u8 = 0;
const TAKEN: u8 = 1;
const CANCELLED: u8 = 2;

/// Whether a queued message was taken by the writer or given up by its caller: exactly one of
/// the two happens, so a caller that gives up knows for sure that nothing of its message will be
/// sent.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ticket(Arc<AtomicU8>);

impl Ticket {
    /// The writer takes the message; `false` when its caller gave up first.
    pub(crate) fn take(&self) -> bool {
        self.0
            .compare_exchange(QUEUED, TAKEN, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The caller gives up; `false` when the writer took the message first.
    pub(crate) fn cancel(&self) -> bool {
        self.0
            .compare_exchange(QUEUED, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
            || self.0.load(Ordering::Acquire) == CANCELLED
    }

    pub(crate) fn was_taken(&self) -> bool {
        self.0.load(Ordering::Acquire) == TAKEN
    }
}

/// A waiting request: where its reply goes, and an id that tells it apart from a later request
/// reusing its key.
#[derive(Debug)]
pub(crate) struct Waiter {
    pub(crate) id: u64,
    pub(crate) tx: oneshot::Sender<Result<Bytes, Error>>,
}

/// A message queued for the writer.
#[derive(Debug)]
pub(crate) struct Outgoing<K> {
    pub(crate) body: Bytes,
    /// The caller's deadline: the message is not taken after it, and its writing stops at it.
    pub(crate) deadline: Instant,
    pub(crate) ticket: Ticket,
    /// For a request: its key and where the reply goes, registered when the writer takes it.
    pub(crate) reply: Option<(K, Waiter)>,
    /// The outcome of sending: written whole, or why not.
    pub(crate) done: oneshot::Sender<Result<(), Error>>,
}

/// Gives the message up when the caller's future is dropped before the writer took it.
pub(crate) struct CancelOnDrop(pub(crate) Ticket);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}
