//! Reconnect delays: capped exponential backoff with jitter, and the order hosts are tried in.

use std::time::Duration;

/// How long to wait before each reconnect attempt: `initial × multiplier^attempt`, capped at `max`,
/// then shortened by up to `jitter` of itself so that many clients cut off together do not all
/// come back at the same instant.
///
/// ```text
/// attempt:   0      1      2      3      4      5 ...
/// delay:     1 s    2 s    4 s    8 s    16 s   30 s (max) ...   (initial 1 s, ×2, max 30 s)
/// jittered:  each one uniformly within [delay × (1 − jitter), delay]
/// ```
///
/// [`delay`](Backoff::delay) is a pure function of the attempt and a random sample, so it can be
/// tested without waiting.
///
/// ```
/// use std::time::Duration;
/// use msgframe_conn::Backoff;
///
/// let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30)).jitter(0.0);
/// assert_eq!(backoff.delay(0, 0.5), Duration::from_secs(1));
/// assert_eq!(backoff.delay(3, 0.5), Duration::from_secs(8));
/// assert_eq!(backoff.delay(10, 0.5), Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    multiplier: f64,
    jitter: f64,
}

impl Default for Backoff {
    /// 1 s, doubling, capped at 60 s, with 20% jitter.
    fn default() -> Self {
        Backoff::new(Duration::from_secs(1), Duration::from_secs(60))
    }
}

impl Backoff {
    /// Delays from `initial`, doubling, capped at `max` (raised to `initial` if lower), with 20%
    /// jitter.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            multiplier: 2.0,
            jitter: 0.2,
        }
    }

    /// The factor between consecutive delays; values below 1 (or not a number) are taken as 1.
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = if multiplier >= 1.0 { multiplier } else { 1.0 };
        self
    }

    /// The fraction of each delay that may be cut off at random, clamped to `0.0..=1.0` (not a
    /// number is taken as 0).
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        self
    }

    /// The first delay.
    pub fn initial(&self) -> Duration {
        self.initial
    }

    /// The cap.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The delay before attempt `attempt` (0 for the first retry), with `random` a sample in
    /// `[0, 1)` (values outside are clamped).
    pub fn delay(&self, attempt: u32, random: f64) -> Duration {
        let random = if random.is_nan() {
            0.0
        } else {
            random.clamp(0.0, 1.0)
        };
        // powi saturates to infinity for large attempts; `min` then caps it.
        let exponent = i32::try_from(attempt).unwrap_or(i32::MAX);
        let base = (self.initial.as_secs_f64() * self.multiplier.powi(exponent))
            .min(self.max.as_secs_f64());
        let jittered = base * (1.0 - self.jitter * random);
        // `jittered` is finite and within [0, max]: this cannot panic.
        Duration::from_secs_f64(jittered.clamp(0.0, self.max.as_secs_f64()))
    }
}

/// Which host a connection attempt goes to first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostOrder {
    /// Every round of attempts starts with the first host (the primary), then the alternates in
    /// order: traffic returns to the primary as soon as it is back.
    #[default]
    PrimaryFirst,
    /// Each round starts with the host after the one last connected to, spreading reconnects
    /// over all hosts.
    RoundRobin,
}

/// The reconnect state of one client: which hosts to try in the next round and how long to wait
/// before it. Pure; the connection task drives it.
///
/// A *round* tries every host once, in [`HostOrder`]; after a round in which none accepted, the
/// client waits [`Backoff::delay`] for the number of failed rounds so far. A connection that stays
/// up for at least `stable_after` resets the count, so a host that accepts and at once drops
/// connections does not make the client reconnect in a tight loop.
#[derive(Debug, Clone)]
pub struct Reconnect {
    backoff: Backoff,
    order: HostOrder,
    hosts: usize,
    stable_after: Duration,
    failed_rounds: u32,
    last_connected: Option<usize>,
}

impl Reconnect {
    /// Reconnect state for `hosts` hosts (at least one is assumed).
    pub fn new(backoff: Backoff, order: HostOrder, hosts: usize, stable_after: Duration) -> Self {
        Reconnect {
            backoff,
            order,
            hosts: hosts.max(1),
            stable_after,
            failed_rounds: 0,
            last_connected: None,
        }
    }

    /// The host indices to try in the next round, in order.
    pub fn round(&self) -> impl Iterator<Item = usize> + '_ {
        let start = match (self.order, self.last_connected) {
            (HostOrder::RoundRobin, Some(last)) => (last + 1) % self.hosts,
            _ => 0,
        };
        (0..self.hosts).map(move |i| (start + i) % self.hosts)
    }

    /// Records a round in which no host accepted; returns the attempt number (1 for the first
    /// failed round) and the delay to wait before the next round.
    pub fn round_failed(&mut self, random: f64) -> (u32, Duration) {
        let delay = self.backoff.delay(self.failed_rounds, random);
        self.failed_rounds = self.failed_rounds.saturating_add(1);
        (self.failed_rounds, delay)
    }

    /// Records a connection to host `host`.
    pub fn connected(&mut self, host: usize) {
        self.last_connected = Some(host);
    }

    /// Records the end of a connection that lasted `lasted`; returns the attempt number and the
    /// delay before the next round, like [`round_failed`](Self::round_failed) (a connection shorter
    /// than `stable_after` counts as one more failure; a longer one starts the count over).
    pub fn disconnected(&mut self, lasted: Duration, random: f64) -> (u32, Duration) {
        if lasted >= self.stable_after {
            self.failed_rounds = 0;
        }
        self.round_failed(random)
    }
}

/// A small, fast pseudo-random source for jitter (xorshift64*), seeded from the standard
/// library's per-process random hash keys. Not for cryptography.
#[derive(Debug, Clone)]
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn new() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(0x9E37_79B9_7F4A_7C15);
        Jitter(hasher.finish() | 1)
    }

    /// A sample in `[0, 1)`.
    pub(crate) fn sample(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        // The top 53 bits, as a fraction.
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn delays_double_from_the_initial_delay_up_to_the_cap() {
        let b = Backoff::new(S, 10 * S).jitter(0.0);
        let delays: Vec<_> = (0..6).map(|a| b.delay(a, 0.7).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 10, 10]);
    }

    #[test]
    fn jitter_shortens_a_delay_by_at_most_its_fraction() {
        let b = Backoff::new(S, 60 * S).jitter(0.25);
        assert_eq!(b.delay(2, 0.0), 4 * S);
        assert_eq!(b.delay(2, 1.0), 3 * S);
        let mut jitter = Jitter::new();
        for _ in 0..1000 {
            let d = b.delay(2, jitter.sample());
            assert!(d > 3 * S - Duration::from_millis(1) && d <= 4 * S, "{d:?}");
        }
    }

    #[test]
    fn jittered_delays_differ_between_samples() {
        let b = Backoff::default();
        let mut jitter = Jitter::new();
        let delays: std::collections::HashSet<_> =
            (0..20).map(|_| b.delay(3, jitter.sample())).collect();
        assert!(delays.len() > 10, "{delays:?}");
    }

    #[test]
    fn huge_attempt_numbers_and_odd_parameters_stay_within_the_cap() {
        let b = Backoff::new(S, 5 * S)
            .multiplier(f64::NAN)
            .jitter(f64::INFINITY);
        assert_eq!(b.delay(u32::MAX, 0.0), S, "multiplier NaN is 1");
        let b = Backoff::new(S, 5 * S).multiplier(1e300);
        assert_eq!(b.delay(u32::MAX, f64::NAN), 5 * S);
        assert_eq!(Backoff::new(10 * S, S).max(), 10 * S, "max below initial");
    }

    #[test]
    fn jitter_samples_are_in_the_unit_interval() {
        let mut jitter = Jitter::new();
        for _ in 0..10_000 {
            let x = jitter.sample();
            assert!((0.0..1.0).contains(&x), "{x}");
        }
    }

    #[test]
    fn primary_first_always_starts_with_the_primary() {
        let mut r = Reconnect::new(Backoff::default(), HostOrder::PrimaryFirst, 3, S);
        assert_eq!(r.round().collect::<Vec<_>>(), [0, 1, 2]);
        r.connected(1);
        assert_eq!(r.round().collect::<Vec<_>>(), [0, 1, 2]);
    }

    #[test]
    fn round_robin_starts_after_the_host_last_connected() {
        let mut r = Reconnect::new(Backoff::default(), HostOrder::RoundRobin, 3, S);
        assert_eq!(r.round().collect::<Vec<_>>(), [0, 1, 2]);
        r.connected(0);
        assert_eq!(r.round().collect::<Vec<_>>(), [1, 2, 0]);
        r.connected(2);
        assert_eq!(r.round().collect::<Vec<_>>(), [0, 1, 2]);
    }

    #[test]
    fn failed_rounds_back_off_and_a_stable_connection_resets_them() {
        let b = Backoff::new(S, 60 * S).jitter(0.0);
        let mut r = Reconnect::new(b, HostOrder::PrimaryFirst, 2, 10 * S);
        assert_eq!(r.round_failed(0.0), (1, S));
        assert_eq!(r.round_failed(0.0), (2, 2 * S));
        r.connected(0);
        // Dropped at once: still backing off.
        assert_eq!(r.disconnected(S, 0.0), (3, 4 * S));
        r.connected(0);
        // Up for long enough: start over.
        assert_eq!(r.disconnected(10 * S, 0.0), (1, S));
    }
}
