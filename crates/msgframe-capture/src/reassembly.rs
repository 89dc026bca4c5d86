//! One direction of a TCP conversation put back in sequence order. Pure: segments in, bytes out.

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
}

/// Collects one direction's segments, in capture order, then puts them in sequence order.
#[derive(Debug, Clone, Default)]
pub struct Reassembler {
    /// The sequence number of the first byte: the SYN's plus one, or the first segment's.
    base: Option<u32>,
    /// (offset from base, payload), in arrival order.
    segments: Vec<(u64, Vec<u8>)>,
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
        self.segments.push((start, payload.to_vec()));
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
        self.segments.sort_by_key(|(start, _)| *start);
        let mut flow = Flow {
            segments,
            retransmitted: self.retransmitted,
            out_of_order: self.out_of_order,
            ..Flow::default()
        };
        let mut cursor = 0u64;
        for (start, payload) in self.segments {
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
    fn without_a_syn_the_first_segment_starts_the_stream() {
        let f = flow(None, &[(5000, b"xy"), (5002, b"z")]);
        assert_eq!(f.data, b"xyz");
    }
}
