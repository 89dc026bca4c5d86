//! One direction of a TCP conversation put back in sequence order. Pure: segments in, bytes out.

use std::time::Duration;

/// A packet of a capture: its number (from 1, every packet of the file counted, as Wireshark
/// numbers them) and its timestamp. Ordered by number, then time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Captured {
    /// The packet's number in the capture, from 1.
    pub packet: u64,
    /// When it was captured, since 1970-01-01 00:00:00 UTC.
    pub time: Duration,
}

/// A stretch of the stream the capture does not hold: bytes the sender sent (their sequence
/// numbers were skipped) that were never captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// Where in the reassembled bytes the missing ones belong.
    pub offset: usize,
    /// How many bytes are missing.
    pub missing: u64,
}

/// One direction's bytes, in sequence order, and what reassembly had to deal with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flow {
    /// The bytes, in sequence order; missing stretches are left out (see `gaps`), not filled.
    pub data: Vec<u8>,
    /// Stretches the capture lacks, in order.
    pub gaps: Vec<Gap>,
    /// Segments with payload seen.
    pub segments: usize,
    /// Segments whose bytes had all been seen already (retransmissions), dropped.
    pub retransmitted: usize,
    /// Segments that arrived after a segment with later bytes (reordered), put in place.
    pub out_of_order: usize,
    /// TCP packets in this direction, with or without payload (handshake, acknowledgements and
    /// retransmissions included). Set by whoever feeds the reassembler; see
    /// [`Conversation`](crate::Conversation).
    pub packets: usize,
    /// When the stream was whole up to where: `(end, packet)` says its first `end` bytes had all
    /// been captured once `packet` was (the last of them to arrive, a reordered segment filling a
    /// hole included). Ends increase, packets never decrease. Empty for segments given without
    /// their packet ([`Reassembler::segment`]). See [`captured_by`](Flow::captured_by).
    pub captured: Vec<(usize, Captured)>,
}

impl Flow {
    /// The packet that completed the stream's first `end` bytes (the one that completed a frame
    /// ending there), when the segments were given with their packets.
    ///
    /// ```
    /// use std::time::Duration;
    /// use msgframe_capture::{Captured, Reassembler};
    ///
    /// let at = |packet, ms| Captured { packet, time: Duration::from_millis(ms) };
    /// let mut r = Reassembler::default();
    /// r.syn(99);
    /// r.segment_at(100, b"0004pi", at(4, 10));
    /// r.segment_at(106, b"ng0004", at(5, 20));
    /// r.segment_at(112, b"pong", at(6, 30));
    /// let flow = r.finish();
    /// assert_eq!(flow.captured_by(8), Some(at(5, 20))); // 0004ping
    /// assert_eq!(flow.captured_by(16), Some(at(6, 30))); // 0004pong
    /// assert_eq!(flow.captured_by(17), None);
    /// ```
    pub fn captured_by(&self, end: usize) -> Option<Captured> {
        let i = self.captured.partition_point(|&(e, _)| e < end);
        self.captured.get(i).map(|&(_, c)| c)
    }
}

/// Collects one direction's segments, in capture order, then puts them in sequence order.
#[derive(Debug, Clone, Default)]
pub struct Reassembler {
    /// The sequence number of the first byte: the SYN's plus one, or the first segment's.
    base: Option<u32>,
    /// (offset from base, payload, its packet), in arrival order.
    segments: Vec<(u64, Vec<u8>, Option<Captured>)>,
    /// Byte ranges seen so far, sorted and merged, to tell retransmissions from new bytes.
    seen: Vec<(u64, u64)>,
    retransmitted: usize,
    out_of_order: usize,
    highest_end: u64,
}

impl Reassembler {
    /// A direction whose SYN carried `isn`: data starts at `isn + 1`.
    pub fn syn(&mut self, isn: u32) {
        if self.base.is_none() && self.segments.is_empty() {
            self.base = Some(isn.wrapping_add(1));
        }
    }

    /// Whether nothing has been recorded yet.
    pub fn is_empty(&self) -> bool {
        self.base.is_none() && self.segments.is_empty()
    }

    /// A segment with sequence number `seq` and `payload` (empty payloads are ignored).
    pub fn segment(&mut self, seq: u32, payload: &[u8]) {
        self.add(seq, payload, None);
    }

    /// A segment, as [`segment`](Self::segment), carried by the capture's packet `at`: the flow
    /// tells which packet completed which part of the stream ([`Flow::captured`]).
    pub fn segment_at(&mut self, seq: u32, payload: &[u8], at: Captured) {
        self.add(seq, payload, Some(at));
    }

    fn add(&mut self, seq: u32, payload: &[u8], at: Option<Captured>) {
        if payload.is_empty() {
            return;
        }
        let base = *self.base.get_or_insert(seq);
        // Offsets within 2 GiB before the base count as before it (a segment older than the
        // first one captured): those bytes cannot be placed and are dropped.
        let offset = seq.wrapping_sub(base);
        if offset > u32::MAX / 2 {
            self.retransmitted += 1;
            return;
        }
        let start = u64::from(offset);
        let end = start + payload.len() as u64;
        if self.covered(start, end) {
            self.retransmitted += 1;
            return;
        }
        if start < self.highest_end && !self.overlaps_seen_end(start) {
            self.out_of_order += 1;
        }
        self.highest_end = self.highest_end.max(end);
        self.mark(start, end);
        self.segments.push((start, payload.to_vec(), at));
    }

    /// Whether `start..end` lies entirely inside bytes already seen.
    fn covered(&self, start: u64, end: u64) -> bool {
        self.seen.iter().any(|&(s, e)| s <= start && end <= e)
    }

    /// Whether a segment starting at `start` merely overlaps the end of what was seen (a partial
    /// retransmission that carries new bytes) rather than filling a hole.
    fn overlaps_seen_end(&self, start: u64) -> bool {
        self.seen.last().is_some_and(|&(s, _)| s <= start)
    }

    fn mark(&mut self, start: u64, end: u64) {
        self.seen.push((start, end));
        self.seen.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(self.seen.len());
        for &(s, e) in &self.seen {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        self.seen = merged;
    }

    /// The bytes in sequence order, with the gaps the capture leaves.
    pub fn finish(mut self) -> Flow {
        let segments = self.segments.len() + self.retransmitted;
        // Stable: of two segments starting at the same offset, the one captured first wins.
        self.segments.sort_by_key(|(start, _, _)| *start);
        let mut flow = Flow {
            segments,
            retransmitted: self.retransmitted,
            out_of_order: self.out_of_order,
            ..Flow::default()
        };
        let mut cursor = 0u64;
        // The latest packet among those that brought the bytes placed so far.
        let mut latest: Option<Captured> = None;
        for (start, payload, at) in self.segments {
            let end = start + payload.len() as u64;
            if end <= cursor {
                continue;
            }
            if start > cursor {
                flow.gaps.push(Gap {
                    offset: flow.data.len(),
                    missing: start - cursor,
                });
                flow.data.extend_from_slice(&payload);
            } else {
                // Overlaps what is already placed: only the new part.
                let skip = (cursor - start) as usize;
                flow.data.extend_from_slice(&payload[skip..]);
            }
            cursor = end;
            if let Some(at) = at {
                let at = latest.map_or(at, |l| l.max(at));
                latest = Some(at);
                flow.captured.push((flow.data.len(), at));
            }
        }
        flow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(isn: Option<u32>, segments: &[(u32, &[u8])]) -> Flow {
        let mut r = Reassembler::default();
        if let Some(isn) = isn {
            r.syn(isn);
        }
        for (seq, payload) in segments {
            r.segment(*seq, payload);
        }
        r.finish()
    }

    #[test]
    fn in_order_segments_are_concatenated() {
        let f = flow(Some(99), &[(100, b"abc"), (103, b"def")]);
        assert_eq!(f.data, b"abcdef");
        assert!(f.gaps.is_empty());
        assert_eq!((f.segments, f.retransmitted, f.out_of_order), (2, 0, 0));
    }

    #[test]
    fn a_retransmission_is_dropped() {
        let f = flow(Some(99), &[(100, b"abc"), (100, b"abc"), (103, b"def")]);
        assert_eq!(f.data, b"abcdef");
        assert_eq!(f.retransmitted, 1);
    }

    #[test]
    fn reordered_segments_are_put_in_place() {
        let f = flow(Some(99), &[(100, b"abc"), (106, b"ghi"), (103, b"def")]);
        assert_eq!(f.data, b"abcdefghi");
        assert_eq!(f.out_of_order, 1);
        assert!(f.gaps.is_empty());
    }

    #[test]
    fn a_missing_segment_is_a_gap_not_papered_over() {
        let f = flow(Some(99), &[(100, b"abc"), (106, b"ghi")]);
        assert_eq!(f.data, b"abcghi");
        assert_eq!(
            f.gaps,
            [Gap {
                offset: 3,
                missing: 3
            }]
        );
    }

    #[test]
    fn a_partly_new_retransmission_adds_only_its_new_bytes() {
        let f = flow(Some(99), &[(100, b"abc"), (102, b"cdef")]);
        assert_eq!(f.data, b"abcdef");
        assert_eq!(f.out_of_order, 0);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let f = flow(Some(u32::MAX - 2), &[(u32::MAX - 1, b"ab"), (0, b"cd")]);
        assert_eq!(f.data, b"abcd");
    }

    #[test]
    fn a_frame_is_completed_by_the_last_of_its_packets_to_arrive() {
        let at = |packet| Captured {
            packet,
            time: Duration::from_millis(packet * 10),
        };
        let mut r = Reassembler::default();
        r.syn(99);
        r.segment_at(100, b"abc", at(3));
        // def is reordered: captured after ghi, it completes everything up to the end of ghi.
        r.segment_at(106, b"ghi", at(4));
        r.segment_at(103, b"def", at(5));
        r.segment_at(109, b"jk", at(6));
        // A retransmission of abc changes nothing.
        r.segment_at(100, b"abc", at(7));
        let f = r.finish();
        assert_eq!(f.data, b"abcdefghijk");
        assert_eq!(
            f.captured,
            [(3, at(3)), (6, at(5)), (9, at(5)), (11, at(6))]
        );
        assert_eq!(f.captured_by(0), Some(at(3)));
        assert_eq!(f.captured_by(3), Some(at(3)));
        assert_eq!(f.captured_by(4), Some(at(5)));
        assert_eq!(f.captured_by(9), Some(at(5)));
        assert_eq!(f.captured_by(10), Some(at(6)));
        assert_eq!(f.captured_by(12), None);
    }

    #[test]
    fn without_a_syn_the_first_segment_starts_the_stream() {
        let f = flow(None, &[(5000, b"xy"), (5002, b"z")]);
        assert_eq!(f.data, b"xyz");
    }
}
