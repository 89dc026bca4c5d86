//! Counters a server keeps while it runs, readable at any time.

use std::sync::atomic::{AtomicU64, Ordering};

/// A server's counters at one moment (see [`ServerHandle::stats`](crate::ServerHandle::stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Connections accepted and admitted.
    pub accepted: u64,
    /// Connections refused because the server was at its total cap.
    pub refused_total_cap: u64,
    /// Connections refused because their client address was at its cap.
    pub refused_per_client: u64,
    /// Connections refused by the allow or deny lists.
    pub refused_address: u64,
    /// Connections closed after the idle time without a message.
    pub reaped_idle: u64,
    /// Connections closed because a message was not whole within the message time.
    pub reaped_slow: u64,
    /// Messages received.
    pub frames_in: u64,
    /// Messages sent (replies and pushes).
    pub frames_out: u64,
    /// Bytes of message bodies received.
    pub bytes_in: u64,
    /// Bytes of message bodies sent.
    pub bytes_out: u64,
    /// Connections ended by an error: a malformed or oversized frame, a reset, a write that
    /// timed out.
    pub errors: u64,
    /// Connections open now.
    pub open: u64,
    /// Of those, connections set aside now: quiet, with no task and no buffer (see
    /// [`ServerBuilder::set_aside_quiet`](crate::ServerBuilder::set_aside_quiet)).
    pub set_aside: u64,
    /// TLS handshakes that failed (a certificate refused, a protocol error).
    pub tls_handshake_failed: u64,
    /// TLS handshakes not finished within the handshake deadline.
    pub tls_handshake_timeout: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) accepted: AtomicU64,
    pub(crate) refused_total_cap: AtomicU64,
    pub(crate) refused_per_client: AtomicU64,
    pub(crate) refused_address: AtomicU64,
    pub(crate) reaped_idle: AtomicU64,
    pub(crate) reaped_slow: AtomicU64,
    pub(crate) frames_in: AtomicU64,
    pub(crate) frames_out: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) open: AtomicU64,
    pub(crate) set_aside: AtomicU64,
    pub(crate) tls_handshake_failed: AtomicU64,
    pub(crate) tls_handshake_timeout: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            accepted: get(&self.accepted),
            refused_total_cap: get(&self.refused_total_cap),
            refused_per_client: get(&self.refused_per_client),
            refused_address: get(&self.refused_address),
            reaped_idle: get(&self.reaped_idle),
            reaped_slow: get(&self.reaped_slow),
            frames_in: get(&self.frames_in),
            frames_out: get(&self.frames_out),
            bytes_in: get(&self.bytes_in),
            bytes_out: get(&self.bytes_out),
            errors: get(&self.errors),
            open: get(&self.open),
            set_aside: get(&self.set_aside),
            tls_handshake_failed: get(&self.tls_handshake_failed),
            tls_handshake_timeout: get(&self.tls_handshake_timeout),
        }
    }
}
