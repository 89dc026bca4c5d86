//! `msgframe replay`: a capture's requests played against a new host, and its replies compared
//! with the captured ones.
//!
//! Pure parts — what to send ([`plan`]), how replies pair ([`pair`]), how they compare
//! ([`diff`]) and the verdict on each pair ([`check`]) — apart from the one that does I/O
//! ([`drive`]).

pub mod diff;
pub mod drive;
pub mod pair;
pub mod plan;

use std::time::Duration;

use bytes::Bytes;

use diff::{Difference, Masks};
use drive::Played;
use pair::{Matching, Pair};
use plan::Script;

/// What became of one pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The new reply is the captured one (under the masks).
    Equal,
    /// They differ, first where it says.
    Different(Difference),
    /// The capture has a reply the new host did not send (in time).
    Missing,
    /// The new host sent a reply the capture does not have.
    Unexpected,
}

impl Outcome {
    /// Its name in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Equal => "equal",
            Outcome::Different(_) => "different",
            Outcome::Missing => "missing",
            Outcome::Unexpected => "unexpected",
        }
    }
}

/// One pair, judged.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The captured conversation's index.
    pub conversation: usize,
    /// The pair's number in its conversation, from 1.
    pub number: usize,
    pub pair: Pair,
    pub outcome: Outcome,
    pub captured: Option<Bytes>,
    pub new: Option<Bytes>,
    /// Request to reply, as captured.
    pub old_latency: Option<Duration>,
    /// Request sent to reply received.
    pub new_latency: Option<Duration>,
    /// Why masks could not be applied, when they could not.
    pub notes: Vec<String>,
}

/// Pairs and judges the replies of one script's replay.
pub fn check(script: &Script, played: &Played, matching: &Matching, masks: &Masks) -> Vec<Checked> {
    let requests: Vec<&[u8]> = script
        .requests
        .iter()
        .map(|r| &r.message.body[..])
        .collect();
    let captured: Vec<&[u8]> = script.replies.iter().map(|r| &r.body[..]).collect();
    let new: Vec<&[u8]> = played.replies.iter().map(|(b, _)| &b[..]).collect();
    pair::pair(&requests, &captured, &new, matching)
        .into_iter()
        .enumerate()
        .map(|(k, pair)| {
            let old = pair.captured.map(|i| &script.replies[i]);
            let new = pair.new.map(|i| &played.replies[i]);
            let (outcome, notes) = match (old, new) {
                (Some(old), Some((new, _))) => match diff::compare(&old.body, new, masks) {
                    (None, notes) => (Outcome::Equal, notes),
                    (Some(d), notes) => (Outcome::Different(d), notes),
                },
                (Some(_), None) => (Outcome::Missing, Vec::new()),
                _ => (Outcome::Unexpected, Vec::new()),
            };
            let request = pair.request.map(|i| &script.requests[i]);
            let old_latency = request
                .zip(old)
                .and_then(|(q, r)| r.time.checked_sub(q.message.time));
            let sent = pair.request.and_then(|i| played.sent[i]);
            let new_latency = sent
                .zip(new)
                .map(|(s, (_, at))| at.saturating_duration_since(s));
            Checked {
                conversation: script.index,
                number: k + 1,
                pair,
                outcome,
                captured: old.map(|r| r.body.clone()),
                new: new.map(|(b, _)| b.clone()),
                old_latency,
                new_latency,
                notes,
            }
        })
        .collect()
}

/// Latency percentiles: p50, p90, p99 and the maximum, of `latencies` (`None` when empty).
pub fn percentiles(latencies: &mut [Duration]) -> Option<[Duration; 4]> {
    if latencies.is_empty() {
        return None;
    }
    latencies.sort_unstable();
    let at = |q: f64| {
        let rank = (q * latencies.len() as f64).ceil() as usize;
        latencies[rank.clamp(1, latencies.len()) - 1]
    };
    Some([at(0.50), at(0.90), at(0.99), latencies[latencies.len() - 1]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut ms: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let [p50, p90, p99, max] = percentiles(&mut ms).unwrap();
        assert_eq!(
            [p50, p90, p99, max].map(|d| d.as_millis()),
            [50, 90, 99, 100]
        );
        assert_eq!(percentiles(&mut []), None);
        let mut one = [Duration::from_millis(7)];
        assert_eq!(
            percentiles(&mut one).unwrap(),
            [Duration::from_millis(7); 4]
        );
    }
}
