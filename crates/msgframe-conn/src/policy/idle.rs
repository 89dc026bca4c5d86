//! When a server connection is closed for lack of activity. Pure: time is passed in.

use std::time::{Duration, Instant};

use super::heartbeat::far_future;

/// Reaping deadlines for one connection.
///
/// Only **complete** messages count as activity, read or written. Between messages, a
/// connection with no message for `idle` is reaped. Once the first bytes of a message have
/// arrived, that message must be whole within `message`: a client trickling a message byte by
/// byte (slow loris) is closed at the message deadline, however steadily it sends.
///
/// ```text
///  last message   first byte of the next             whole
///  ----|--------------|~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~|---------------
///      |<-- idle -->X |<----------- message ---------->X
///        reaped here if no byte came   reaped here if still not whole
/// ```
#[derive(Debug, Clone)]
pub struct IdleClock {
    idle: Option<Duration>,
    message: Option<Duration>,
    last_activity: Instant,
    message_started: Option<Instant>,
}

impl IdleClock {
    /// The clock of a connection opened at `now`; `None` disables a deadline.
    pub fn new(idle: Option<Duration>, message: Option<Duration>, now: Instant) -> Self {
        IdleClock {
            idle,
            message,
            last_activity: now,
            message_started: None,
        }
    }

    /// A whole message was read or written at `now`. `partial` says whether bytes of a further
    /// message are already buffered (its deadline then starts now).
    pub fn message_done(&mut self, now: Instant, partial: bool) {
        self.last_activity = now;
        self.message_started = partial.then_some(now);
    }

    /// Activity of the server's own at `now` (a whole message written, a handler done): the idle
    /// time starts again, and a message being received keeps its own deadline.
    pub fn activity(&mut self, now: Instant) {
        self.last_activity = now;
    }

    /// Bytes arrived at `now` without completing a message; the first such bytes start the
    /// message's deadline.
    pub fn bytes_arrived(&mut self, now: Instant) {
        self.message_started.get_or_insert(now);
    }

    /// When the last whole message or server activity was.
    pub fn last_activity(&self) -> Instant {
        self.last_activity
    }

    /// Whether a partial message is being received.
    pub fn in_message(&self) -> bool {
        self.message_started.is_some()
    }

    /// When the connection is to be closed if nothing else happens.
    pub fn deadline(&self) -> Instant {
        let (from, limit) = match self.message_started {
            Some(started) => (started, self.message),
            None => (self.last_activity, self.idle),
        };
        limit
            .and_then(|limit| from.checked_add(limit))
            .unwrap_or_else(|| far_future(from))
    }

    /// Why the connection would be reaped at its deadline.
    pub fn reason(&self) -> Reaped {
        if self.message_started.is_some() {
            Reaped::MessageTooSlow
        } else {
            Reaped::Idle
        }
    }
}

/// Why a connection was closed by its clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaped {
    /// No message read or written for the idle time.
    Idle,
    /// A message started but was not whole within the message time.
    MessageTooSlow,
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn an_idle_connection_is_reaped_after_the_idle_time() {
        let t0 = Instant::now();
        let mut c = IdleClock::new(Some(60 * S), Some(5 * S), t0);
        assert_eq!(c.deadline(), t0 + 60 * S);
        c.message_done(t0 + 10 * S, false);
        assert_eq!(c.deadline(), t0 + 70 * S);
        assert_eq!(c.reason(), Reaped::Idle);
    }

    #[test]
    fn a_trickled_message_must_be_whole_within_the_message_time() {
        let t0 = Instant::now();
        let mut c = IdleClock::new(Some(60 * S), Some(5 * S), t0);
        c.bytes_arrived(t0 + 50 * S);
        assert_eq!(c.deadline(), t0 + 55 * S);
        // More bytes do not move the deadline.
        c.bytes_arrived(t0 + 54 * S);
        assert_eq!(c.deadline(), t0 + 55 * S);
        assert_eq!(c.reason(), Reaped::MessageTooSlow);
        c.message_done(t0 + 54 * S, false);
        assert_eq!(c.deadline(), t0 + 114 * S);
    }

    #[test]
    fn a_message_may_outlast_the_rest_of_the_idle_time() {
        let t0 = Instant::now();
        let mut c = IdleClock::new(Some(60 * S), Some(5 * S), t0);
        c.bytes_arrived(t0 + 59 * S);
        assert_eq!(c.deadline(), t0 + 64 * S);
    }

    #[test]
    fn no_limits_means_no_deadline_soon() {
        let t0 = Instant::now();
        let c = IdleClock::new(None, None, t0);
        assert!(c.deadline() > t0 + 86_400 * 365 * S);
    }

    #[test]
    fn bytes_of_the_next_message_start_its_deadline_at_once() {
        let t0 = Instant::now();
        let mut c = IdleClock::new(Some(60 * S), Some(5 * S), t0);
        c.message_done(t0 + S, true);
        assert!(c.in_message());
        assert_eq!(c.deadline(), t0 + 6 * S);
    }
}
