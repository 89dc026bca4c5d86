//! Application heartbeats: when one is due, when the peer counts as dead, and when to answer the
//! peer's own heartbeats. Pure: time is passed in.

use std::time::{Duration, Instant};

/// When heartbeats are sent and when a silent peer is given up.
///
/// ```text
///  last message received
///        |<------ idle ------>| heartbeat sent
///                             |<- reply_timeout ->| missed 1, next heartbeat sent at once
///                                                 |<- reply_timeout ->| missed 2 ... missed N: dead
/// ```
///
/// Any message from the peer proves it alive: it resets the idle time and the count of missed
/// heartbeats. So heartbeats flow only on a link that has been quiet for `idle`, and a peer that
/// stops answering is declared dead at most `idle + max_missed × reply_timeout` after the last
/// message it sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatTiming {
    /// How long the peer may stay silent before a heartbeat is sent.
    pub idle: Duration,
    /// How long to wait for any message after sending a heartbeat before counting it missed.
    pub reply_timeout: Duration,
    /// How many heartbeats in a row may be missed before the peer is declared dead (at least 1).
    pub max_missed: u32,
}

impl Default for HeartbeatTiming {
    /// 30 s idle, 10 s to answer, 3 misses.
    fn default() -> Self {
        HeartbeatTiming {
            idle: Duration::from_secs(30),
            reply_timeout: Duration::from_secs(10),
            max_missed: 3,
        }
    }
}

impl HeartbeatTiming {
    /// The longest a dead peer goes unnoticed: `idle + max_missed × reply_timeout`.
    pub fn dead_after(&self) -> Duration {
        self.idle
            .saturating_add(self.reply_timeout.saturating_mul(self.max_missed.max(1)))
    }
}

/// What the heartbeat state wants done now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartbeatAction {
    /// Nothing before `until` (unless a message arrives).
    Wait {
        /// When to ask again.
        until: Instant,
    },
    /// Send a heartbeat now, then call [`HeartbeatState::sent`].
    Send {
        /// Heartbeats missed in a row so far (0 for the first after an idle period).
        missed: u32,
    },
    /// The peer missed `missed` heartbeats in a row: drop the connection.
    Dead {
        /// Heartbeats missed in a row.
        missed: u32,
    },
}

/// The heartbeat state of one connection.
#[derive(Debug, Clone)]
pub struct HeartbeatState {
    timing: HeartbeatTiming,
    last_received: Instant,
    /// When our unanswered heartbeat went out.
    outstanding: Option<Instant>,
    missed: u32,
    /// Set when a timed-out heartbeat must be followed by the next one at once.
    resend: bool,
    last_answer: Option<Instant>,
}

impl HeartbeatState {
    /// The state of a connection that opened at `now`.
    pub fn new(timing: HeartbeatTiming, now: Instant) -> Self {
        HeartbeatState {
            timing: HeartbeatTiming {
                max_missed: timing.max_missed.max(1),
                ..timing
            },
            last_received: now,
            outstanding: None,
            missed: 0,
            resend: false,
            last_answer: None,
        }
    }

    /// A message (any message) arrived from the peer at `now`: it is alive.
    pub fn received(&mut self, now: Instant) {
        self.last_received = now;
        self.outstanding = None;
        self.missed = 0;
        self.resend = false;
    }

    /// A heartbeat went out at `now`.
    pub fn sent(&mut self, now: Instant) {
        self.outstanding = Some(now);
        self.resend = false;
    }

    /// Whether our last heartbeat is still unanswered.
    pub fn is_outstanding(&self) -> bool {
        self.outstanding.is_some()
    }

    /// Heartbeats missed in a row so far.
    pub fn missed(&self) -> u32 {
        self.missed
    }

    /// When [`poll`](Self::poll) next has something to do if no message arrives: the end of the
    /// outstanding heartbeat's reply time, or the end of the idle time.
    pub fn next_deadline(&self) -> Instant {
        let (from, wait) = match self.outstanding {
            Some(sent) => (sent, self.timing.reply_timeout),
            None if self.resend => return self.last_received,
            None => (self.last_received, self.timing.idle),
        };
        from.checked_add(wait).unwrap_or_else(|| far_future(from))
    }

    /// What to do at `now`. Call it when the time it last gave has come, and after every event.
    pub fn poll(&mut self, now: Instant) -> HeartbeatAction {
        if let Some(sent) = self.outstanding {
            let expires = sent.checked_add(self.timing.reply_timeout);
            match expires {
                Some(at) if now < at => return HeartbeatAction::Wait { until: at },
                _ => {
                    self.outstanding = None;
                    self.missed += 1;
                    if self.missed >= self.timing.max_missed {
                        return HeartbeatAction::Dead {
                            missed: self.missed,
                        };
                    }
                    self.resend = true;
                }
            }
        }
        if self.resend {
            return HeartbeatAction::Send {
                missed: self.missed,
            };
        }
        match self.last_received.checked_add(self.timing.idle) {
            Some(due) if now < due => HeartbeatAction::Wait { until: due },
            // Overflow: an idle time too large to represent never comes.
            None => HeartbeatAction::Wait {
                until: far_future(now),
            },
            Some(_) => HeartbeatAction::Send { missed: 0 },
        }
    }

    /// The peer sent a heartbeat at `now` whose answer would itself look like a heartbeat (a
    /// zero-length frame answered by a zero-length frame): whether to answer it. Two ends that
    /// both answer such heartbeats could otherwise bounce one back and forth forever, so it is
    /// answered only when it is not the reply to our own outstanding heartbeat, and at most once
    /// per `idle`. (Heartbeats whose answer looks different, such as CMPP's ACTIVE_TEST and
    /// ACTIVE_TEST_RESP, need no guard and are always answered.)
    pub fn answer_lookalike(&mut self, now: Instant) -> bool {
        if self.outstanding.is_some() {
            // It answers ours (`received` is called for it too).
            return false;
        }
        if let Some(last) = self.last_answer {
            if now.saturating_duration_since(last) < self.timing.idle {
                return false;
            }
        }
        self.last_answer = Some(now);
        true
    }
}

/// A time so far ahead that waiting for it means waiting for something else.
pub(crate) fn far_future(now: Instant) -> Instant {
    // About 30 years; always representable on supported platforms.
    now + Duration::from_secs(86_400 * 365 * 30)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn timing() -> HeartbeatTiming {
        HeartbeatTiming {
            idle: 30 * S,
            reply_timeout: 5 * S,
            max_missed: 3,
        }
    }

    #[test]
    fn a_heartbeat_is_due_after_idle_without_messages() {
        let t0 = Instant::now();
        let mut hb = HeartbeatState::new(timing(), t0);
        assert_eq!(hb.poll(t0), HeartbeatAction::Wait { until: t0 + 30 * S });
        assert_eq!(
            hb.poll(t0 + 29 * S),
            HeartbeatAction::Wait { until: t0 + 30 * S }
        );
        assert_eq!(hb.poll(t0 + 30 * S), HeartbeatAction::Send { missed: 0 });
    }

    #[test]
    fn traffic_from_the_peer_postpones_heartbeats() {
        let t0 = Instant::now();
        let mut hb = HeartbeatState::new(timing(), t0);
        for i in 1..100 {
            hb.received(t0 + i * 20 * S);
            assert!(matches!(
                hb.poll(t0 + i * 20 * S + 10 * S),
                HeartbeatAction::Wait { .. }
            ));
        }
    }

    #[test]
    fn an_answer_clears_the_outstanding_heartbeat() {
        let t0 = Instant::now();
        let mut hb = HeartbeatState::new(timing(), t0);
        hb.sent(t0 + 30 * S);
        assert_eq!(
            hb.poll(t0 + 31 * S),
            HeartbeatAction::Wait { until: t0 + 35 * S }
        );
        hb.received(t0 + 32 * S);
        assert_eq!(
            hb.poll(t0 + 36 * S),
            HeartbeatAction::Wait { until: t0 + 62 * S }
        );
        assert_eq!(hb.missed(), 0);
    }

    #[test]
    fn a_silent_peer_is_dead_after_max_missed_heartbeats() {
        let t0 = Instant::now();
        let mut hb = HeartbeatState::new(timing(), t0);
        let mut now = t0;
        let mut sent = 0;
        let dead_at = loop {
            match hb.poll(now) {
                HeartbeatAction::Wait { until } => now = until,
                HeartbeatAction::Send { missed } => {
                    assert_eq!(missed, sent);
                    sent += 1;
                    hb.sent(now);
                }
                HeartbeatAction::Dead { missed } => {
                    assert_eq!(missed, 3);
                    break now;
                }
            }
            assert!(sent <= 3, "at most max_missed heartbeats");
        };
        assert_eq!(sent, 3);
        assert_eq!(dead_at - t0, timing().dead_after());
        assert_eq!(dead_at - t0, 45 * S);
    }

    #[test]
    fn a_late_answer_resets_the_missed_count() {
        let t0 = Instant::now();
        let mut hb = HeartbeatState::new(timing(), t0);
        hb.sent(t0 + 30 * S);
        assert_eq!(hb.poll(t0 + 35 * S), HeartbeatAction::Send { missed: 1 });
        hb.sent(t0 + 35 * S);
        hb.received(t0 + 36 * S);
        assert_eq!(hb.missed(), 0);
        assert_eq!(
            hb.poll(t0 + 37 * S),
            HeartbeatAction::Wait { until: t0 + 66 * S }
        );
    }

    #[test]
    fn a_lookalike_heartbeat_is_not_answered_while_ours_is_outstanding() {
        let t0 = Instant::now();
        let mut hb = HeartbeatState::new(timing(), t0);
        hb.sent(t0 + 30 * S);
        assert!(!hb.answer_lookalike(t0 + 31 * S));
    }

    #[test]
    fn lookalike_heartbeats_are_answered_at_most_once_per_idle_period() {
        let t0 = Instant::now();
        let mut hb = HeartbeatState::new(timing(), t0);
        assert!(hb.answer_lookalike(t0 + S));
        assert!(!hb.answer_lookalike(t0 + 2 * S));
        assert!(!hb.answer_lookalike(t0 + 30 * S));
        assert!(hb.answer_lookalike(t0 + 31 * S));
    }

    #[test]
    fn an_unrepresentable_idle_time_never_sends() {
        let t0 = Instant::now();
        let mut hb = HeartbeatState::new(
            HeartbeatTiming {
                idle: Duration::MAX,
                ..timing()
            },
            t0,
        );
        assert!(matches!(
            hb.poll(t0 + 1000 * S),
            HeartbeatAction::Wait { .. }
        ));
    }
}
