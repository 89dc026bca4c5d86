//! What the tokio tasks of the clients and the server share: a message on its way from a caller
//! to a connection's task with the one-way state that decides whether it was sent, the caller's
//! wait for its outcome by a deadline, the shutdown signal, and the clock.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::error::{Disconnect, NotSent};
use crate::session::Caller;
use crate::Error;

const QUEUED: u8 = 0;
const TAKEN: u8 = 1;
const CANCELLED: u8 = 2;

/// Whether a queued message was taken by the connection's task or given up by its caller:
/// exactly one of the two happens, so a caller that gives up knows for sure that nothing of its
/// message will be sent.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ticket(Arc<AtomicU8>);

impl Ticket {
    /// The task takes the message; `false` when its caller gave up first.
    pub(crate) fn take(&self) -> bool {
        self.0
            .compare_exchange(QUEUED, TAKEN, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The caller gives up; `false` when the task took the message first.
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

/// Gives the message up when the caller's future is dropped before the task took it.
pub(crate) struct CancelOnDrop(pub(crate) Ticket);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Where a call's outcome goes: the caller's end of a one-shot channel.
#[derive(Debug)]
pub(crate) struct Reply<T>(pub(crate) oneshot::Sender<Result<T, Error>>);

impl<T> Caller for Reply<T> {
    fn gave_up(&self) -> bool {
        self.0.is_closed()
    }
}

impl<T> Reply<T> {
    /// Hands the outcome over; gives it back when the caller is gone.
    pub(crate) fn send(self, outcome: Result<T, Error>) -> Result<(), Result<T, Error>> {
        self.0.send(outcome)
    }
}

/// Waits for the outcome of a message queued with `ticket`: by `deadline`, the connection's task
/// answers, or the caller gives the message up (`not_taken` says why) when the task has not taken
/// it; a message taken is answered by the task itself, which keeps the same deadline. A message
/// dropped untaken with its queue (the task ended) gets `dropped`. When `leave` completes first and
/// the message is not taken yet, the caller gives it up too ([`NotSent::Closed`]: a pool then
/// offers it to another connection).
pub(crate) async fn outcome<T>(
    mut rx: oneshot::Receiver<Result<T, Error>>,
    ticket: &Ticket,
    deadline: Instant,
    not_taken: impl FnOnce() -> NotSent,
    dropped: impl FnOnce() -> Error,
    leave: impl std::future::Future<Output = ()>,
) -> Result<T, Error> {
    tokio::pin!(leave);
    let mut leaving = true;
    let outcome = loop {
        tokio::select! {
            outcome = &mut rx => break outcome,
            () = &mut leave, if leaving => {
                leaving = false;
                if ticket.cancel() {
                    return Err(Error::not_sent(NotSent::Closed));
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                if ticket.cancel() {
                    return Err(Error::not_sent(not_taken()));
                }
                break rx.await;
            }
        }
    };
    outcome.unwrap_or_else(|_| {
        Err(if ticket.was_taken() {
            // The task ended without answering (its runtime shut down).
            Error::lost(false, &Arc::new(Disconnect::Shutdown))
        } else {
            dropped()
        })
    })
}

/// Returns once `shutdown` is set (or its sender is gone).
pub(crate) async fn signalled(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

/// The time now, for the sessions (tokio's clock, so paused-time tests drive them).
pub(crate) fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// `timeout` from now; a timeout too large to represent is as good as none.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| Instant::from_std(crate::policy::heartbeat::far_future(now.into_std())))
}

/// One timer a task re-arms to the time its session asks for.
pub(crate) struct Timer {
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
    /// The time armed; `None` once fired (the next `arm` resets it whatever the time).
    armed: Option<Option<std::time::Instant>>,
}

impl Timer {
    pub(crate) fn new() -> Self {
        let far = crate::policy::heartbeat::far_future(now());
        Timer {
            sleep: Box::pin(tokio::time::sleep_until(Instant::from_std(far))),
            armed: Some(None),
        }
    }

    /// Arms the timer for `at` (`None`: not at all). A timer already armed earlier is left as it
    /// is: firing early costs one call that finds nothing due, where moving the timer costs a
    /// lock on the runtime's timer wheel for every request.
    pub(crate) fn arm(&mut self, at: Option<std::time::Instant>) {
        match (self.armed, at) {
            (Some(armed), at) if armed == at => return,
            (Some(Some(armed)), Some(at)) if armed <= at => return,
            (Some(Some(_)), None) => return,
            _ => {}
        }
        self.armed = Some(at);
        let at = at.unwrap_or_else(|| crate::policy::heartbeat::far_future(now()));
        self.sleep.as_mut().reset(Instant::from_std(at));
    }

    /// Fires at the armed time.
    pub(crate) async fn fired(&mut self) {
        (&mut self.sleep).await;
        self.armed = None;
    }
}
