//! Pairing each captured reply with the new host's reply to the same request: in order, or by a
//! key both carry (a sequence number, an ISO 8583 STAN and terminal id).

use std::collections::{HashMap, VecDeque};

use crate::iso8583;

/// Where a message's key lies.
#[derive(Debug, Clone)]
pub enum Key {
    /// `len` bytes at `offset` of the body.
    Span { offset: usize, len: usize },
    /// These ISO 8583 fields' values, the bitmap walked.
    Fields {
        fields: Vec<u8>,
        layout: iso8583::Layout,
    },
}

impl Key {
    /// The key of `message`, or `None` when it has none (too short, a field absent).
    pub fn of(&self, message: &[u8]) -> Option<Vec<u8>> {
        match self {
            Key::Span { offset, len } => message
                .get(*offset..offset.checked_add(*len)?)
                .map(<[u8]>::to_vec),
            Key::Fields { fields, layout } => {
                let walked = iso8583::walk(message, *layout).ok()?;
                let mut key = Vec::new();
                for &n in fields {
                    let value = walked.value(message, n)?;
                    // Length-prefixed so that two fields' values cannot run together.
                    key.extend_from_slice(&(value.len() as u32).to_be_bytes());
                    key.extend_from_slice(value);
                }
                Some(key)
            }
        }
    }
}

/// How replies are paired.
#[derive(Debug, Clone)]
pub enum Matching {
    /// The k-th reply with the k-th: for traffic with one request at a time.
    Order,
    /// Replies with the same key, the n-th of a key with the n-th; replies without a key in order
    /// among themselves.
    Key(Key),
}

/// One pair: indexes into the captured replies, the new replies, and the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair {
    /// The request answered (for latencies), when known.
    pub request: Option<usize>,
    /// The captured reply; `None` for a new reply that pairs with none (unexpected).
    pub captured: Option<usize>,
    /// The new reply; `None` for a captured reply the new host did not send (missing).
    pub new: Option<usize>,
}

/// Pairs `captured` replies with `new` ones (each a body), and each with the request it answers
/// among `requests`. Pairs come in captured order, the unexpected new replies after them in the
/// order they arrived.
pub fn pair(
    requests: &[&[u8]],
    captured: &[&[u8]],
    new: &[&[u8]],
    matching: &Matching,
) -> Vec<Pair> {
    match matching {
        Matching::Order => {
            let n = captured.len().max(new.len());
            (0..n)
                .map(|k| Pair {
                    request: (k < requests.len()).then_some(k),
                    captured: (k < captured.len()).then_some(k),
                    new: (k < new.len()).then_some(k),
                })
                .collect()
        }
        Matching::Key(key) => {
            // Each key's messages, first first; `None` gathers those without a key.
            let index = |messages: &[&[u8]]| {
                let mut by_key: HashMap<Option<Vec<u8>>, VecDeque<usize>> = HashMap::new();
                for (i, m) in messages.iter().enumerate() {
                    by_key.entry(key.of(m)).or_default().push_back(i);
                }
                by_key
            };
            let mut new_by_key = index(new);
            let mut requests_by_key = index(requests);
            let mut pairs: Vec<Pair> = captured
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let k = key.of(m);
                    let take = |by_key: &mut HashMap<_, VecDeque<usize>>| {
                        by_key.get_mut(&k).and_then(VecDeque::pop_front)
                    };
                    Pair {
                        request: take(&mut requests_by_key),
                        captured: Some(i),
                        new: take(&mut new_by_key),
                    }
                })
                .collect();
            let mut unexpected: Vec<(usize, Option<Vec<u8>>)> = new_by_key
                .into_iter()
                .flat_map(|(k, left)| left.into_iter().map(move |i| (i, k.clone())))
                .collect();
            unexpected.sort_by_key(|(i, _)| *i);
            for (i, k) in unexpected {
                let request = requests_by_key.get_mut(&k).and_then(VecDeque::pop_front);
                pairs.push(Pair {
                    request,
                    captured: None,
                    new: Some(i),
                });
            }
            pairs
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(request: Option<usize>, captured: Option<usize>, new: Option<usize>) -> Pair {
        Pair {
            request,
            captured,
            new,
        }
    }

    #[test]
    fn in_order_the_kth_reply_pairs_with_the_kth() {
        let requests: [&[u8]; 3] = [b"q1", b"q2", b"q3"];
        let captured: [&[u8]; 3] = [b"r1", b"r2", b"r3"];
        let new: [&[u8]; 2] = [b"r1", b"r2"];
        assert_eq!(
            pair(&requests, &captured, &new, &Matching::Order),
            [
                p(Some(0), Some(0), Some(0)),
                p(Some(1), Some(1), Some(1)),
                p(Some(2), Some(2), None)
            ]
        );
        // More new replies than captured: the rest are unexpected.
        assert_eq!(
            pair(&requests[..1], &captured[..1], &new, &Matching::Order),
            [p(Some(0), Some(0), Some(0)), p(None, None, Some(1))]
        );
    }

    #[test]
    fn by_key_replies_in_another_order_find_their_pairs() {
        let key = Matching::Key(Key::Span { offset: 1, len: 1 });
        let requests: [&[u8]; 3] = [b"Q1", b"Q2", b"Q3"];
        let captured: [&[u8]; 3] = [b"R1", b"R2", b"R3"];
        // The new host answers 3, 1, an unknown 9, and not 2.
        let new: [&[u8]; 3] = [b"R3", b"R1", b"R9"];
        assert_eq!(
            pair(&requests, &captured, &new, &key),
            [
                p(Some(0), Some(0), Some(1)),
                p(Some(1), Some(1), None),
                p(Some(2), Some(2), Some(0)),
                p(None, None, Some(2)),
            ]
        );
    }

    #[test]
    fn by_key_repeated_keys_pair_first_with_first_and_keyless_in_order() {
        let key = Matching::Key(Key::Span { offset: 1, len: 1 });
        let requests: [&[u8]; 3] = [b"Q1", b"Q1", b"Q"];
        let captured: [&[u8]; 3] = [b"R1a", b"R1b", b"R"];
        let new: [&[u8]; 3] = [b"R", b"R1a", b"R1b"];
        assert_eq!(
            pair(&requests, &captured, &new, &key),
            [
                p(Some(0), Some(0), Some(1)),
                p(Some(1), Some(1), Some(2)),
                p(Some(2), Some(2), Some(0)),
            ]
        );
    }

    #[test]
    fn an_iso_8583_key_is_the_fields_values() {
        let key = Key::Fields {
            fields: vec![11, 41],
            layout: iso8583::Layout::default(),
        };
        // 0200 and 0210 with fields 11 and 41.
        let request = b"02000020000000800000123456TERM0042";
        let reply = b"02100020000000800000123456TERM0042";
        assert_eq!(key.of(request), key.of(reply));
        assert!(key.of(request).is_some());
        assert_ne!(key.of(b"02100020000000800000123457TERM0042"), key.of(reply));
        // Field 41 absent: no key.
        assert_eq!(key.of(b"02000020000000000000123456"), None);
    }
}
