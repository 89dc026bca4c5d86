//! One direction of a TCP conversation put back in sequence order, as its segments arrive. Pure:
//! segments in, bytes out.

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
    /// From stream offset `released` on: the bytes before were let go while reading (see
    /// [`Reassembler::release`]); offsets elsewhere (gaps, `captured`) count them.
    pub data: Vec<u8>,
    /// Bytes of the stream before `data`, let go while reading; 0 unless
    /// [`Reassembler::release`] was called.
    pub released: usize,
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
        captured_by(&self.captured, end)
    }
}

/// How much a [`Reassembler`] holds aside past a hole before it gives up waiting for the hole to
/// be filled and declares it a [`Gap`].
///
/// A segment that arrives after a hole (its sequence number past the bytes placed so far) is
/// held aside until the segments before it arrive: a reordered or retransmitted segment fills the
/// hole within a round trip or a retransmission timeout. A capture that dropped a packet never
/// fills it, and a reader that shows the stream as it arrives ([`Reassembler::contiguous`],
/// [`CaptureReader`](crate::CaptureReader)) would wait for it forever. With a limit, once the
/// bytes held aside exceed [`bytes`](HoldLimit::bytes), or the segments held exceed
/// [`segments`](HoldLimit::segments), or (with a [`wait`](HoldLimit::wait)) a segment has been
/// held longer than that in capture time, the first hole is declared a gap: the bytes after it are
/// placed, the gap is reported in [`Reassembler::gaps`] and [`Flow::gaps`] as one found at the
/// end would be, and a segment that fills the hole later is dropped (counted as out of order).
///
/// ```
/// use msgframe_capture::{Gap, HoldLimit, Reassembler};
///
/// let mut r = Reassembler::with_hold_limit(HoldLimit::new(8, 100));
/// r.syn(99);
/// r.segment(100, b"0004ping");
/// r.segment(112, b"0004pong"); // 100 + 8 + the 4 bytes the capture lacks
/// assert_eq!(r.contiguous(), b"0004ping"); // waiting for the hole
/// r.segment(120, b"0"); // past the limit: the hole is a gap
/// assert_eq!(r.contiguous(), b"0004ping0004pong0");
/// assert_eq!(r.gaps(), [Gap { offset: 8, missing: 4 }]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldLimit {
    bytes: usize,
    segments: usize,
    wait: Option<Duration>,
}

impl HoldLimit {
    /// For captures read as they arrive ([`CaptureReader::new`](crate::CaptureReader::new)): 4 MiB
    /// or 4096 segments held past a hole, more than a TCP window holds in all but the fastest
    /// links, and a bound on the memory a hole costs.
    ///
    /// And 5 seconds of capture time: slow traffic (a few messages a minute) may take hours to
    /// reach the other limits, while a lost segment is sent again within a few retransmission
    /// timeouts (200 ms and more, doubling), so a hole still open after 5 s is one the capture
    /// will not fill. See [`Reassembler::expire`].
    pub const LIVE: HoldLimit = HoldLimit {
        bytes: 4 * 1024 * 1024,
        segments: 4096,
        wait: Some(Duration::from_secs(5)),
    };

    /// No limit: holes are only declared gaps when the flow is finished, whatever came after
    /// them. What [`Reassembler::default`] and [`parse_capture`](crate::parse_capture) use.
    pub const NONE: HoldLimit = HoldLimit {
        bytes: usize::MAX,
        segments: usize::MAX,
        wait: None,
    };

    /// A hole is declared a gap once more than `bytes` bytes, or more than `segments` segments,
    /// are held aside past it.
    pub const fn new(bytes: usize, segments: usize) -> Self {
        HoldLimit {
            bytes,
            segments,
            wait: None,
        }
    }

    /// This limit, and a hole is declared a gap too once a segment held past it was captured
    /// more than `wait` before the latest packet ([`Reassembler::expire`]).
    pub const fn with_wait(self, wait: Duration) -> Self {
        HoldLimit {
            wait: Some(wait),
            ..self
        }
    }

    /// How long (in capture time) a hole is waited for, if there is a limit.
    pub const fn wait(&self) -> Option<Duration> {
        self.wait
    }

    /// The bytes that may be held aside past a hole.
    pub const fn bytes(&self) -> usize {
        self.bytes
    }

    /// The segments that may be held aside past a hole.
    pub const fn segments(&self) -> usize {
        self.segments
    }
}

/// A segment placed in the stream (one that brought new bytes, in sequence order), and the
/// stream after it: what a segment that reaches back before it needs to place itself where
/// sequence order puts it.
#[derive(Debug, Clone, Copy)]
struct Placed {
    /// Its first byte, as an offset from the base.
    start: u64,
    /// The end of the bytes placed after it (offset from the base).
    end: u64,
    /// The length of the bytes placed after it.
    len: usize,
    /// The latest packet among those placed up to it.
    latest: Option<Captured>,
    /// The `captured` marks up to it.
    marks: usize,
}

/// Puts one direction's segments back in sequence order as they arrive (in capture order).
///
/// Bytes are placed as soon as every byte before them has arrived: [`contiguous`] grows with
/// in-order segments, a segment past a hole is held aside until the hole is filled, and
/// [`captured_by`] tells which packet completed the stream up to any point so far. [`finish`]
/// gives the whole [`Flow`]: the holes still open become [`Gap`]s, and the bytes after them are
/// placed.
///
/// The rules, the same whatever order the segments come in: a segment whose bytes have all been
/// seen is a retransmission, and dropped; of two segments that overlap, the one that starts first
/// in sequence order gives the bytes they share (the first captured, when they start at the same
/// place); a segment that starts inside the bytes placed and ends past them adds only its new
/// bytes. The result is that of sorting every segment by sequence number and laying them end to
/// end, whenever the segments arrive; see [`HoldLimit`] for the one exception, a hole given up
/// on while reading.
///
/// [`contiguous`]: Reassembler::contiguous
/// [`captured_by`]: Reassembler::captured_by
/// [`finish`]: Reassembler::finish
///
/// ```
/// use msgframe_capture::Reassembler;
///
/// let mut r = Reassembler::default();
/// r.syn(99);
/// r.segment(100, b"0004");
/// r.segment(108, b"0004pong"); // ahead of a hole: held aside
/// assert_eq!(r.contiguous(), b"0004");
/// r.segment(104, b"ping"); // fills it
/// assert_eq!(r.contiguous(), b"0004ping0004pong");
/// let flow = r.finish();
/// assert_eq!((flow.segments, flow.out_of_order), (3, 1));
/// ```
#[derive(Debug, Clone)]
pub struct Reassembler {
    /// The sequence number of the first byte: the SYN's plus one, or the first segment's.
    base: Option<u32>,
    /// Segments kept (with bytes not seen before).
    kept: usize,
    /// Byte ranges seen so far, sorted and merged, to tell retransmissions from new bytes.
    seen: Vec<(u64, u64)>,
    retransmitted: usize,
    out_of_order: usize,
    highest_end: u64,
    /// The bytes placed so far, in sequence order (gaps declared left out), from stream offset
    /// `released` on.
    data: Vec<u8>,
    /// Bytes placed and let go ([`Reassembler::release`]).
    released: usize,
    /// Holes declared gaps so far.
    gaps: Vec<Gap>,
    /// `(end, packet)`: see [`Flow::captured`].
    captured: Vec<(usize, Captured)>,
    /// Where the bytes placed end, as an offset from the base.
    cursor: u64,
    /// The latest packet among those that brought the bytes placed.
    latest: Option<Captured>,
    /// The segments placed since the last gap, in sequence order.
    placed: Vec<Placed>,
    /// Segments past a hole, by (offset from the base, arrival): payload and packet.
    held: std::collections::BTreeMap<(u64, u64), (Vec<u8>, Option<Captured>)>,
    /// The bytes of the segments held.
    held_bytes: usize,
    /// Segments kept so far: the arrival order of the next one.
    arrivals: u64,
    limit: HoldLimit,
}

impl Default for Reassembler {
    /// A reassembler with no [`HoldLimit`]: holes wait for [`finish`](Reassembler::finish).
    fn default() -> Self {
        Reassembler::with_hold_limit(HoldLimit::NONE)
    }
}

impl Reassembler {
    /// A reassembler that declares a hole a gap once `limit` is exceeded past it.
    pub fn with_hold_limit(limit: HoldLimit) -> Self {
        Reassembler {
            base: None,
            kept: 0,
            seen: Vec::new(),
            retransmitted: 0,
            out_of_order: 0,
            highest_end: 0,
            data: Vec::new(),
            released: 0,
            gaps: Vec::new(),
            captured: Vec::new(),
            cursor: 0,
            latest: None,
            placed: Vec::new(),
            held: std::collections::BTreeMap::new(),
            held_bytes: 0,
            arrivals: 0,
            limit,
        }
    }

    /// A direction whose SYN carried `isn`: data starts at `isn + 1`.
    pub fn syn(&mut self, isn: u32) {
        if self.base.is_none() && self.kept == 0 {
            self.base = Some(isn.wrapping_add(1));
        }
    }

    /// Whether nothing has been recorded yet.
    pub fn is_empty(&self) -> bool {
        self.base.is_none() && self.kept == 0
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

    /// The bytes placed so far, in sequence order: every byte up to the first hole (bytes still
    /// missing that may yet arrive), holes declared gaps left out ([`gaps`](Self::gaps)). It only
    /// grows; [`finish`](Self::finish) gives these bytes and, after any hole still open, the
    /// rest.
    ///
    /// Bytes [released](Self::release) are no longer there: it starts at stream offset
    /// [`released()`](Self::released).
    pub fn contiguous(&self) -> &[u8] {
        &self.data
    }

    /// Where [`contiguous`](Self::contiguous) starts in the stream: the bytes released.
    pub fn released(&self) -> usize {
        self.released
    }

    /// Lets go of the bytes placed before stream offset `upto` (those a reader has used: the
    /// frames already cut), so that a flow read for hours holds only what is not used yet. The
    /// bytes released are final: a later segment that overlaps them adds only what lies past
    /// them. Offsets (gaps, [`captured_by`](Self::captured_by)) still count from the start of the
    /// stream.
    ///
    /// ```
    /// use msgframe_capture::Reassembler;
    ///
    /// let mut r = Reassembler::default();
    /// r.syn(99);
    /// r.segment(100, b"0004ping0004po");
    /// r.release(8); // the first frame was cut
    /// assert_eq!((r.released(), r.contiguous()), (8, &b"0004po"[..]));
    /// r.segment(114, b"ng");
    /// assert_eq!(r.contiguous(), b"0004pong");
    /// let flow = r.finish();
    /// assert_eq!((flow.released, flow.data.as_slice()), (8, &b"0004pong"[..]));
    /// ```
    pub fn release(&mut self, upto: usize) {
        let upto = upto.min(self.len());
        if upto <= self.released {
            return;
        }
        self.data.drain(..upto - self.released);
        self.released = upto;
        // A segment placed before can no longer be gone back to (its bytes may be gone), and
        // marks before `upto` tell nothing about the bytes that are left.
        self.placed.retain(|p| p.len >= upto);
        let dropped = self.captured.partition_point(|&(end, _)| end < upto);
        self.captured.drain(..dropped);
        for p in &mut self.placed {
            p.marks -= dropped;
        }
    }

    /// The length of the stream placed so far, released bytes included.
    fn len(&self) -> usize {
        self.released + self.data.len()
    }

    /// The packet that completed the first `end` bytes of [`contiguous`](Self::contiguous), when
    /// they are there and the segments were given with their packets: as
    /// [`Flow::captured_by`], so far.
    pub fn captured_by(&self, end: usize) -> Option<Captured> {
        captured_by(&self.captured, end)
    }

    /// When the bytes placed so far were whole up to where: see [`Flow::captured`].
    pub fn captured(&self) -> &[(usize, Captured)] {
        &self.captured
    }

    /// The holes declared gaps so far (past a [`HoldLimit`]); [`finish`](Self::finish) declares
    /// those still open.
    pub fn gaps(&self) -> &[Gap] {
        &self.gaps
    }

    /// The bytes held aside past a hole, waiting for it to be filled.
    pub fn held(&self) -> usize {
        self.held_bytes
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
        self.kept += 1;
        let arrival = self.arrivals;
        self.arrivals += 1;
        if start > self.cursor {
            self.held_bytes += payload.len();
            self.held.insert((start, arrival), (payload.to_vec(), at));
            self.limit();
            if let Some(at) = at {
                self.expire(at.time);
            }
            return;
        }
        if end <= self.cursor {
            // Bytes of a hole already declared a gap: too late to place.
            return;
        }
        // A segment that starts before the last one placed, and brings bytes past the end: in
        // sequence order it comes before that one, and gives the bytes from where the segments
        // before it end (the ones after it then add nothing).
        if self.placed.last().is_some_and(|last| start < last.start) {
            self.rewind(start);
        }
        self.put(start, payload, at);
        self.take_held();
    }

    /// Goes back to the stream as it was after the segments placed that start at or before
    /// `start` (since the last gap).
    fn rewind(&mut self, start: u64) {
        let before = self.placed.partition_point(|p| p.start <= start);
        let Some(&p) = before.checked_sub(1).and_then(|i| self.placed.get(i)) else {
            return;
        };
        self.placed.truncate(before);
        self.data.truncate(p.len - self.released);
        self.captured.truncate(p.marks);
        self.cursor = p.end;
        self.latest = p.latest;
    }

    /// Lays a segment at the end of the bytes placed, as sequence order has it: after a gap when
    /// it starts past them, only its new bytes when it starts inside them, nothing when it ends
    /// inside them.
    fn put(&mut self, start: u64, payload: &[u8], at: Option<Captured>) {
        let end = start + payload.len() as u64;
        if end <= self.cursor {
            return;
        }
        if start > self.cursor {
            self.gaps.push(Gap {
                offset: self.len(),
                missing: start - self.cursor,
            });
            self.placed.clear();
            self.data.extend_from_slice(payload);
        } else {
            // Overlaps what is already placed: only the new part.
            let skip = (self.cursor - start) as usize;
            self.data.extend_from_slice(&payload[skip..]);
        }
        self.cursor = end;
        if let Some(at) = at {
            let at = self.latest.map_or(at, |l| l.max(at));
            self.latest = Some(at);
            let len = self.len();
            self.captured.push((len, at));
        }
        self.placed.push(Placed {
            start,
            end,
            len: self.len(),
            latest: self.latest,
            marks: self.captured.len(),
        });
    }

    /// Places the segments held that the bytes placed now reach.
    fn take_held(&mut self) {
        while let Some(entry) = self.held.first_entry() {
            if entry.key().0 > self.cursor {
                return;
            }
            let ((start, _), (payload, at)) = entry.remove_entry();
            self.held_bytes -= payload.len();
            self.put(start, &payload, at);
        }
    }

    /// Declares holes gaps while a segment held past the first of them was captured more than
    /// the hold limit's [`wait`](HoldLimit::wait) before `now` (a capture time, such as the
    /// latest packet's): holes the capture will not fill, on traffic too slow to reach the
    /// limit's bytes or segments. Nothing without a wait. [`CaptureReader`](crate::CaptureReader)
    /// calls it for every direction it keeps, with each packet's time.
    ///
    /// ```
    /// use std::time::Duration;
    /// use msgframe_capture::{Captured, Gap, HoldLimit, Reassembler};
    ///
    /// let at = |s| Captured { packet: s, time: Duration::from_secs(s) };
    /// let mut r = Reassembler::with_hold_limit(HoldLimit::LIVE);
    /// r.syn(99);
    /// r.segment_at(100, b"0004ping", at(1));
    /// r.segment_at(112, b"0004pong", at(2)); // 4 bytes the capture lacks before it
    /// r.expire(Duration::from_secs(6));
    /// assert_eq!(r.contiguous(), b"0004ping"); // held 4 s: still waited for
    /// r.expire(Duration::from_secs(8));
    /// assert_eq!(r.contiguous(), b"0004ping0004pong");
    /// assert_eq!(r.gaps(), [Gap { offset: 8, missing: 4 }]);
    /// ```
    pub fn expire(&mut self, now: Duration) {
        let Some(wait) = self.limit.wait else {
            return;
        };
        while let Some(oldest) = self
            .held
            .values()
            .filter_map(|(_, at)| *at)
            .map(|at| at.time)
            .min()
        {
            if now.saturating_sub(oldest) <= wait {
                return;
            }
            let Some(((start, _), (payload, at))) = self.held.pop_first() else {
                return;
            };
            self.held_bytes -= payload.len();
            self.put(start, &payload, at);
            self.take_held();
        }
    }

    /// Past the hold limit, declares holes gaps until what is held is within it.
    fn limit(&mut self) {
        while self.held_bytes > self.limit.bytes || self.held.len() > self.limit.segments {
            let Some(((start, _), (payload, at))) = self.held.pop_first() else {
                return;
            };
            self.held_bytes -= payload.len();
            self.put(start, &payload, at);
            self.take_held();
        }
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

    /// The bytes in sequence order, with the gaps the capture leaves: the holes still open are
    /// declared gaps, and the bytes held past them placed.
    pub fn finish(mut self) -> Flow {
        while let Some(((start, _), (payload, at))) = self.held.pop_first() {
            self.put(start, &payload, at);
        }
        Flow {
            data: self.data,
            released: self.released,
            gaps: self.gaps,
            segments: self.kept + self.retransmitted,
            retransmitted: self.retransmitted,
            out_of_order: self.out_of_order,
            packets: 0,
            captured: self.captured,
        }
    }
}

/// The packet of the first mark at or past `end`.
fn captured_by(captured: &[(usize, Captured)], end: usize) -> Option<Captured> {
    let i = captured.partition_point(|&(e, _)| e < end);
    captured.get(i).map(|&(_, c)| c)
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

    /// The reassembly every segment sorted at the end gives, as a reference: the rules the
    /// incremental placement must agree with.
    fn sorted_at_the_end(isn: Option<u32>, segments: &[(u32, Vec<u8>, Option<Captured>)]) -> Flow {
        let mut base = isn.map(|isn| isn.wrapping_add(1));
        let mut kept: Vec<(u64, &[u8], Option<Captured>)> = Vec::new();
        let mut seen: Vec<(u64, u64)> = Vec::new();
        let (mut retransmitted, mut out_of_order, mut highest_end) = (0, 0, 0u64);
        for (seq, payload, at) in segments {
            if payload.is_empty() {
                continue;
            }
            let offset = seq.wrapping_sub(*base.get_or_insert(*seq));
            if offset > u32::MAX / 2 {
                retransmitted += 1;
                continue;
            }
            let (start, end) = (u64::from(offset), u64::from(offset) + payload.len() as u64);
            if seen.iter().any(|&(s, e)| s <= start && end <= e) {
                retransmitted += 1;
                continue;
            }
            if start < highest_end && seen.last().is_none_or(|&(s, _)| s > start) {
                out_of_order += 1;
            }
            highest_end = highest_end.max(end);
            seen.push((start, end));
            seen.sort_unstable();
            let mut merged: Vec<(u64, u64)> = Vec::new();
            for &(s, e) in &seen {
                match merged.last_mut() {
                    Some(last) if s <= last.1 => last.1 = last.1.max(e),
                    _ => merged.push((s, e)),
                }
            }
            seen = merged;
            kept.push((start, payload, *at));
        }
        let mut flow = Flow {
            segments: kept.len() + retransmitted,
            retransmitted,
            out_of_order,
            ..Flow::default()
        };
        kept.sort_by_key(|(start, _, _)| *start);
        let (mut cursor, mut latest) = (0u64, None::<Captured>);
        for (start, payload, at) in kept {
            let end = start + payload.len() as u64;
            if end <= cursor {
                continue;
            }
            if start > cursor {
                flow.gaps.push(Gap {
                    offset: flow.data.len(),
                    missing: start - cursor,
                });
                flow.data.extend_from_slice(payload);
            } else {
                flow.data
                    .extend_from_slice(&payload[(cursor - start) as usize..]);
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

    /// A small deterministic generator (xorshift).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[test]
    fn placing_segments_as_they_arrive_gives_what_sorting_them_at_the_end_gives() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..20_000 {
            // Segments cut from a stream of 64 bytes (or, one round in four, each with bytes of
            // its own, as a damaged capture may have), most near where the last one ended,
            // some anywhere: in order, reordered, retransmitted, overlapping, missing.
            let isn = (rng.below(4) != 0).then(|| rng.next() as u32);
            let first = isn.map_or(rng.next() as u32, |isn| isn.wrapping_add(1));
            let consistent = rng.below(4) != 0;
            let count = rng.below(12) as usize;
            let mut segments = Vec::new();
            let mut next = 0i64;
            for packet in 0..count {
                // Offsets from the first byte; a few before it (older than the capture).
                let start = if rng.below(3) == 0 {
                    rng.below(68) as i64 - 4
                } else {
                    next - rng.below(6) as i64 + rng.below(3) as i64
                };
                let len = rng.below(12) as i64;
                let payload: Vec<u8> = (start..start + len)
                    .map(|i| {
                        if consistent {
                            i as u8
                        } else {
                            rng.next() as u8
                        }
                    })
                    .collect();
                next = next.max(start + len);
                let at = (rng.below(5) != 0).then_some(Captured {
                    packet: packet as u64 + 1,
                    time: Duration::from_millis(packet as u64),
                });
                segments.push((first.wrapping_add(start as u32), payload, at));
            }
            let mut r = Reassembler::default();
            if let Some(isn) = isn {
                r.syn(isn);
            }
            let mut contiguous = Vec::new();
            for (seq, payload, at) in &segments {
                match at {
                    Some(at) => r.segment_at(*seq, payload, *at),
                    None => r.segment(*seq, payload),
                }
                // What was placed stays placed (one round in four, with bytes that differ
                // between retransmissions, the bytes may be replaced, never shortened).
                assert!(r.contiguous().len() >= contiguous.len(), "round {round}");
                if consistent {
                    assert!(r.contiguous().starts_with(&contiguous), "round {round}");
                }
                contiguous = r.contiguous().to_vec();
            }
            let expected = sorted_at_the_end(isn, &segments);
            let flow = r.finish();
            assert!(
                flow.data.starts_with(&contiguous) || !consistent,
                "round {round}"
            );
            assert_eq!(flow, expected, "round {round}: {isn:?} {segments:?}");
        }
    }

    #[test]
    fn releasing_what_was_read_leaves_the_rest_of_the_stream_as_it_was() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for round in 0..20_000 {
            // A 64-byte stream in segments as above (every copy of a byte the same), read by
            // one reassembler that keeps everything and one that releases as it goes.
            let first = rng.next() as u32;
            let mut segments = Vec::new();
            let mut next = 0i64;
            for _ in 0..rng.below(12) {
                let start = if rng.below(3) == 0 {
                    rng.below(64) as i64
                } else {
                    (next - rng.below(6) as i64 + rng.below(3) as i64).max(0)
                };
                let len = rng.below(12) as i64;
                let payload: Vec<u8> = (start..start + len).map(|i| i as u8).collect();
                next = next.max(start + len);
                segments.push((first.wrapping_add(start as u32), payload));
            }
            let (mut whole, mut released) = (Reassembler::default(), Reassembler::default());
            whole.syn(first.wrapping_sub(1));
            released.syn(first.wrapping_sub(1));
            for (seq, payload) in &segments {
                whole.segment(*seq, payload);
                released.segment(*seq, payload);
                let upto = released.released()
                    + rng.below(released.contiguous().len() as u64 + 2) as usize;
                released.release(upto);
                assert_eq!(
                    released.contiguous(),
                    &whole.contiguous()[released.released()..],
                    "round {round}: {segments:?}"
                );
            }
            let (whole, released) = (whole.finish(), released.finish());
            assert_eq!(
                released.data,
                whole.data[released.released..],
                "round {round}"
            );
            assert_eq!(
                (
                    released.gaps,
                    released.segments,
                    released.retransmitted,
                    released.out_of_order
                ),
                (
                    whole.gaps,
                    whole.segments,
                    whole.retransmitted,
                    whole.out_of_order
                ),
                "round {round}: {segments:?}"
            );
        }
    }

    #[test]
    fn a_segment_reaching_back_before_the_last_placed_one_takes_its_place_in_sequence_order() {
        let at = |packet| Captured {
            packet,
            time: Duration::from_millis(packet),
        };
        let mut r = Reassembler::default();
        r.syn(99);
        r.segment_at(100, b"abcd", at(1));
        r.segment_at(104, b"efgh", at(2));
        assert_eq!(r.captured(), [(4, at(1)), (8, at(2))]);
        // From the middle of the first to past the second: in sequence order it comes before
        // the second, which then adds nothing.
        r.segment_at(102, b"cdefghij", at(3));
        assert_eq!(r.contiguous(), b"abcdefghij");
        assert_eq!(r.captured(), [(4, at(1)), (10, at(3))]);
        let f = r.finish();
        assert_eq!(f.captured, [(4, at(1)), (10, at(3))]);
        assert_eq!((f.segments, f.retransmitted, f.out_of_order), (3, 0, 0));
    }

    #[test]
    fn past_the_hold_limit_a_hole_is_declared_a_gap_while_reading() {
        let at = |packet| Captured {
            packet,
            time: Duration::from_millis(packet),
        };
        let mut r = Reassembler::with_hold_limit(HoldLimit::new(6, 100));
        r.syn(99);
        r.segment_at(100, b"abc", at(1));
        // def is lost; ghi and jkl wait for it until more than 6 bytes are held.
        r.segment_at(106, b"ghi", at(2));
        r.segment_at(109, b"jkl", at(3));
        assert_eq!((r.contiguous(), r.held()), (&b"abc"[..], 6));
        assert!(r.gaps().is_empty());
        r.segment_at(112, b"m", at(4));
        assert_eq!((r.contiguous(), r.held()), (&b"abcghijklm"[..], 0));
        assert_eq!(
            r.gaps(),
            [Gap {
                offset: 3,
                missing: 3
            }]
        );
        // The bytes up to the gap's end came with ghi (the gap itself was declared with m).
        assert_eq!(r.captured_by(6), Some(at(2)));
        // def, too late: dropped.
        r.segment_at(103, b"def", at(5));
        r.segment_at(113, b"n", at(6));
        let f = r.finish();
        assert_eq!(f.data, b"abcghijklmn");
        assert_eq!(
            f.gaps,
            [Gap {
                offset: 3,
                missing: 3
            }]
        );
        assert_eq!((f.segments, f.out_of_order), (6, 1));
        // A hole never filled gives the same flow with a limit as without.
        let flow = |limit| {
            let mut r = Reassembler::with_hold_limit(limit);
            r.syn(99);
            for (i, seq) in [100u32, 106, 109, 112, 120, 121].into_iter().enumerate() {
                r.segment_at(seq, b"xyz", at(i as u64 + 1));
            }
            r.finish()
        };
        assert_eq!(flow(HoldLimit::new(4, 100)), flow(HoldLimit::NONE));
        // By count of segments too.
        assert_eq!(flow(HoldLimit::new(usize::MAX, 1)), flow(HoldLimit::NONE));
    }

    #[test]
    fn with_a_hold_limit_what_is_placed_only_grows_and_the_flow_stays_consistent() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for round in 0..20_000 {
            let limit = HoldLimit::new(rng.below(24) as usize, rng.below(4) as usize + 1);
            let mut r = Reassembler::with_hold_limit(limit);
            let isn = rng.next() as u32;
            r.syn(isn);
            let (mut len, mut next) = (0, 0u32);
            for packet in 0..rng.below(16) {
                let start = if rng.below(3) == 0 {
                    rng.below(80) as u32
                } else {
                    next.saturating_sub(rng.below(6) as u32) + rng.below(8) as u32
                };
                let payload: Vec<u8> = (start..start + rng.below(10) as u32)
                    .map(|i| i as u8)
                    .collect();
                next = next.max(start + payload.len() as u32);
                let at = Captured {
                    packet: packet + 1,
                    time: Duration::from_millis(packet),
                };
                r.segment_at(isn.wrapping_add(1).wrapping_add(start), &payload, at);
                assert!(r.contiguous().len() >= len, "round {round}");
                assert!(r.held() <= limit.bytes(), "round {round}");
                len = r.contiguous().len();
                if let Some(&(end, _)) = r.captured().last() {
                    assert_eq!(end, len, "round {round}");
                }
            }
            let flow = r.finish();
            assert!(flow.data.len() >= len, "round {round}");
            assert!(flow
                .captured
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
            assert!(flow.gaps.windows(2).all(|w| w[0].offset < w[1].offset));
            assert!(flow
                .gaps
                .iter()
                .all(|g| g.offset <= flow.data.len() && g.missing > 0));
            assert_eq!(
                flow.captured.last().map(|c| c.0),
                (!flow.data.is_empty()).then_some(flow.data.len())
            );
        }
    }
}
