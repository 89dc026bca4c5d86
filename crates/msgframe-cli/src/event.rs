//! What the live logs of `serve` and `proxy` share: short names for why a connection ended or
//! was refused (JSON `cause`, and the keys of `serve`'s counters), a tally of closes by cause, and
//! the close lines still to be written when the server stops.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use msgframe_conn::policy::{Reaped, Refusal};
use msgframe_conn::Disconnect;
use serde_json::json;
use tokio::sync::watch;

use crate::dump::{self, Style};
use crate::error::Result;
use crate::out::outln;

/// Whether a read failed on a frame the peer got wrong: malformed, or longer than allowed.
pub fn invalid_frame(read: &msgframe_io::Error) -> bool {
    matches!(
        read,
        msgframe_io::Error::Malformed(_)
            | msgframe_io::Error::TooLong(msgframe_codec::CodecError::FrameTooLong { .. })
    )
}

/// A short, stable name for why a connection ended.
pub fn cause(end: &Disconnect) -> &'static str {
    match end {
        Disconnect::PeerClosed => "peer_closed",
        Disconnect::PeerDead { .. } => "peer_dead",
        Disconnect::Read(read) if invalid_frame(read) => "invalid_frame",
        Disconnect::Read(msgframe_io::Error::UnexpectedEof { .. }) => "closed_inside_frame",
        Disconnect::Read(_) => "read_failed",
        Disconnect::Write(_) => "write_failed",
        Disconnect::WriteTimedOut(_) => "write_timed_out",
        Disconnect::IncomingOverflow => "incoming_overflow",
        Disconnect::Handler => "handler",
        Disconnect::Reaped(Reaped::Idle) => "reaped_idle",
        Disconnect::Reaped(Reaped::MessageTooSlow) => "reaped_slow",
        Disconnect::Shutdown => "shutdown",
        Disconnect::GroupBroken => "group_broken",
        Disconnect::NoReturnLink => "no_return_link",
        Disconnect::Closed => "closed",
        _ => "other",
    }
}

/// Whether a connection ended as connections do (the peer or this program closed it), rather than
/// by an error or a deadline.
pub fn is_clean(end: &Disconnect) -> bool {
    matches!(
        end,
        Disconnect::PeerClosed | Disconnect::Handler | Disconnect::Shutdown | Disconnect::Closed
    )
}

/// A short, stable name for why a connection was refused.
pub fn refusal(refusal: &Refusal) -> &'static str {
    match refusal {
        Refusal::Denied => "denied",
        Refusal::NotAllowed => "not_allowed",
        Refusal::TotalCap { .. } => "total_cap",
        Refusal::PerClientCap { .. } => "per_client_cap",
    }
}

/// Logs a connection from `peer` refused before it was served: `TS PEER refused: REASON`, or a
/// `refused` event.
pub fn log_refused(style: &Style, peer: SocketAddr, refused: &Refusal) -> Result<()> {
    if style.json {
        dump::json_line(json!({
            "event": "refused",
            "ts": dump::now(),
            "peer": peer.to_string(),
            "cause": refusal(refused),
            "reason": refused.to_string(),
        }))?;
    } else {
        let line = format!("{peer} refused: {refused}");
        outln!("{} {}", dump::now(), style.bad(&line))?;
    }
    crate::out::flush()
}

/// Connections closed, counted by [`cause`].
#[derive(Debug, Default)]
pub struct Closes(Mutex<BTreeMap<&'static str, u64>>);

impl Closes {
    pub fn count(&self, end: &Disconnect) {
        if let Ok(mut closes) = self.0.lock() {
            *closes.entry(cause(end)).or_default() += 1;
        }
    }

    /// The counts so far, by cause.
    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        self.0.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

/// Close lines still to be written: one for each connection open; the server's last lines wait
/// for them.
#[derive(Debug)]
pub struct Pending(watch::Sender<usize>);

impl Default for Pending {
    fn default() -> Self {
        Pending(watch::Sender::new(0))
    }
}

impl Pending {
    /// A connection opened: its close line is to come.
    pub fn add(&self) {
        self.0.send_modify(|n| *n += 1);
    }

    /// A close line was written (or could not be).
    pub fn done(&self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }

    /// Returns once every close line is written, or after `within`.
    pub async fn written(&self, within: Duration) {
        let mut pending = self.0.subscribe();
        let _ = tokio::time::timeout(within, pending.wait_for(|n| *n == 0)).await;
    }
}
