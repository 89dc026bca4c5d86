//! Which waiting request a reply answers: requests in flight by key. Pure.

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;

/// Requests in flight on one connection, by the key a user function extracts from each message
/// (a CMPP sequence id; an ISO 8583 MTI class with STAN and terminal id). Each waiting request
/// holds a `W` (in the client, the channel its reply goes to).
///
/// ```
/// use msgframe_conn::policy::Matcher;
///
/// let mut m: Matcher<u32, &str> = Matcher::new();
/// m.insert(7, "request 7").unwrap();
/// m.insert(8, "request 8").unwrap();
/// assert_eq!(m.complete(&8), Some("request 8")); // replies may come in any order
/// assert_eq!(m.complete(&8), None);              // a second reply to 8 answers nobody
/// assert_eq!(m.len(), 1);
/// ```
#[derive(Debug)]
pub struct Matcher<K, W> {
    waiting: HashMap<K, W>,
}

impl<K, W> Default for Matcher<K, W> {
    fn default() -> Self {
        Matcher {
            waiting: HashMap::new(),
        }
    }
}

/// A request with this key is already waiting for its reply: the second could not be told
/// apart from the first. The caller's message is not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateKey<K>(pub K);

impl<K: Eq + Hash + Debug, W> Matcher<K, W> {
    /// No request in flight.
    pub fn new() -> Self {
        Matcher::default()
    }

    /// Registers a request before it is sent (so that no reply can arrive before it is waited
    /// for).
    ///
    /// # Errors
    /// [`DuplicateKey`] when a request with the same key is in flight; nothing is registered.
    pub fn insert(&mut self, key: K, waiter: W) -> Result<(), DuplicateKey<K>> {
        if self.waiting.contains_key(&key) {
            return Err(DuplicateKey(key));
        }
        self.waiting.insert(key, waiter);
        Ok(())
    }

    /// A reply with `key` arrived: the request it answers, if one is waiting (it stops waiting).
    pub fn complete(&mut self, key: &K) -> Option<W> {
        self.waiting.remove(key)
    }

    /// The request with `key` gave up (timed out, or its sender went away).
    pub fn cancel(&mut self, key: &K) -> Option<W> {
        self.waiting.remove(key)
    }

    /// The request with `key` gave up, if `is_mine` says the one waiting is its own (another
    /// request may have reused the key since).
    pub fn cancel_if(&mut self, key: &K, is_mine: impl FnOnce(&W) -> bool) -> Option<W> {
        if self.waiting.get(key).is_some_and(is_mine) {
            self.waiting.remove(key)
        } else {
            None
        }
    }

    /// The connection is gone: every request in flight, to be failed at once.
    pub fn drain(&mut self) -> impl Iterator<Item = (K, W)> + '_ {
        self.waiting.drain()
    }

    /// How many requests are waiting.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether no request is waiting.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duplicate_key_is_refused_and_the_first_request_keeps_waiting() {
        let mut m = Matcher::new();
        m.insert("0200/000001", 1).unwrap();
        assert_eq!(m.insert("0200/000001", 2), Err(DuplicateKey("0200/000001")));
        assert_eq!(m.complete(&"0200/000001"), Some(1));
    }

    #[test]
    fn replies_in_any_order_find_their_requests() {
        let mut m = Matcher::new();
        for k in 0..100u32 {
            m.insert(k, k * 10).unwrap();
        }
        for k in (0..100u32).rev().step_by(2).chain((0..100u32).step_by(2)) {
            assert_eq!(m.complete(&k), Some(k * 10));
        }
        assert!(m.is_empty());
    }

    #[test]
    fn a_cancelled_request_no_longer_matches() {
        let mut m = Matcher::new();
        m.insert(1u8, ()).unwrap();
        assert_eq!(m.cancel(&1), Some(()));
        assert_eq!(m.complete(&1), None);
    }

    #[test]
    fn drain_hands_back_every_request_in_flight() {
        let mut m = Matcher::new();
        for k in 0..5u8 {
            m.insert(k, k).unwrap();
        }
        let mut all: Vec<_> = m.drain().map(|(k, _)| k).collect();
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2, 3, 4]);
        assert!(m.is_empty());
    }
}
