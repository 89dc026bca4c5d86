//! The receiving half of a long client: messages that answer no waiting request.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::lifeline::Lifeline;
use crate::Error;

/// The receiving half of a [`LongClient`](crate::LongClient): messages that answer no waiting request.
pub struct LongReceiver {
    incoming: mpsc::Receiver<Bytes>,
    _lifeline: Arc<Lifeline>,
}

impl LongReceiver {
    pub(crate) fn new(incoming: mpsc::Receiver<Bytes>, lifeline: Arc<Lifeline>) -> Self {
        LongReceiver {
            incoming,
            _lifeline: lifeline,
        }
    }
}

impl fmt::Debug for LongReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LongReceiver").finish_non_exhaustive()
    }
}

impl LongReceiver {
    /// The next message that answers no waiting request: a message the peer sends on its own
    /// (SMPP deliver_sm, a CMPP MO), a reply whose request timed out, or one whose key matches
    /// nothing. `None` once the client has shut down and every message was taken.
    pub async fn recv(&mut self) -> Option<Bytes> {
        self.incoming.recv().await
    }

    /// [`recv`](Self::recv) within `timeout`; `Ok(None)` once the client has shut down.
    ///
    /// # Errors
    /// [`Error::TimedOut`] when no message came in time.
    pub async fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Bytes>, Error> {
        let start = Instant::now();
        tokio::time::timeout(timeout, self.incoming.recv())
            .await
            .map_err(|_| Error::TimedOut {
                written: false,
                elapsed: start.elapsed(),
            })
    }

    /// A message if one is waiting now.
    pub fn try_recv(&mut self) -> Option<Bytes> {
        self.incoming.try_recv().ok()
    }
}
