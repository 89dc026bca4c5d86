//! Cutting a stream into frames as its bytes come: the same cuts whether the stream is whole (a
//! file) or arriving (a pipe).

use msgframe_capture::Captured;
use msgframe_codec::{ArrivingFrames, Framing};

use super::{End, Item};

/// Cuts a stream into frames as its bytes come (all at once for a file): the frames whole so
/// far, with the gaps before them, and at the end of the stream how it ended. The frames are
/// [`ArrivingFrames`]' (those of [`msgframe_codec::StreamFrames`] over the whole stream, however
/// the bytes came); this adds the gaps and the ends as `split` shows them.
pub(super) struct Cutter {
    walk: ArrivingFrames<Framing>,
    pub(super) frames: usize,
    /// Gaps shown so far.
    gaps: usize,
    /// How the stream ended, once it did (or stopped being valid).
    pub(super) end: Option<End>,
}

impl Cutter {
    pub(super) fn new(framing: Framing) -> Self {
        Cutter {
            walk: ArrivingFrames::new(framing),
            frames: 0,
            gaps: 0,
            end: None,
        }
    }

    /// The stream's bytes the walk has taken: those before are no longer needed.
    pub(super) fn consumed(&self) -> usize {
        self.walk.consumed()
    }

    /// The frames `data` completes, the stream's bytes from offset `base` on (every byte from
    /// [`consumed`](Self::consumed) on), with `gaps` (all so far: offset, bytes missing) shown
    /// before the frame they fall in or after the last one; `ended` when no more bytes follow.
    /// `packet` tells which packet completed the stream up to an offset.
    pub(super) fn cut<'a>(
        &mut self,
        data: &'a [u8],
        base: usize,
        ended: bool,
        gaps: &[(usize, u64)],
        packet: impl Fn(usize) -> Option<Captured>,
    ) -> Vec<Item<'a>> {
        let mut items = Vec::new();
        while self.end.is_none() {
            let frame = match self.walk.next(data, base, ended) {
                Some(Ok(frame)) => frame,
                Some(Err(e)) => {
                    self.end = Some(if e.is_truncated() {
                        End::Partial {
                            offset: e.offset,
                            buffered: base + data.len() - e.offset,
                        }
                    } else {
                        End::Invalid {
                            offset: e.offset,
                            reason: e.error.to_string(),
                        }
                    });
                    break;
                }
                None => {
                    if ended {
                        self.end = Some(End::Complete);
                    }
                    break;
                }
            };
            self.frames += 1;
            // A gap inside the frame (or at its start) comes before it; one where it ends, after.
            while let Some(&(at, missing)) = gaps.get(self.gaps) {
                if at >= frame.end() {
                    break;
                }
                self.gaps += 1;
                items.push(Item::Gap { at, missing });
            }
            items.push(Item::Frame {
                index: self.frames,
                offset: frame.offset,
                span: frame.len,
                body: frame.frame,
                packet: packet(frame.end()),
            });
        }
        if ended {
            for &(at, missing) in gaps.get(self.gaps..).unwrap_or_default() {
                items.push(Item::Gap { at, missing });
            }
            self.gaps = gaps.len();
        }
        items
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use msgframe_codec::StreamFrames;

    /// What a walk found: each frame (offset, length, body), and how it ended.
    type Walk = (Vec<(usize, usize, Vec<u8>)>, String);

    fn describe(end: &End) -> String {
        match end {
            End::Complete => "complete".to_owned(),
            End::Partial { offset, buffered } => format!("partial {offset} {buffered}"),
            End::Invalid { offset, reason } => format!("invalid {offset} {reason}"),
        }
    }

    /// The whole stream walked by the codec's own walk.
    fn stream_frames(spec: &str, data: &[u8]) -> Walk {
        let mut frames = Vec::new();
        let mut end = End::Complete;
        for item in StreamFrames::new(spec.parse::<Framing>().unwrap(), data) {
            match item {
                Ok(f) => frames.push((f.offset, f.len, f.frame.to_vec())),
                Err(e) if e.is_truncated() => {
                    end = End::Partial {
                        offset: e.offset,
                        buffered: data.len() - e.offset,
                    }
                }
                Err(e) => {
                    end = End::Invalid {
                        offset: e.offset,
                        reason: e.error.to_string(),
                    }
                }
            }
        }
        (frames, describe(&end))
    }

    /// The stream given to a cutter in chunks of the sizes `size` gives, the bytes frames took
    /// dropped as it goes (as stdin's are).
    fn cutter(spec: &str, data: &[u8], mut size: impl FnMut() -> usize) -> Walk {
        let mut cutter = Cutter::new(spec.parse().unwrap());
        let (mut kept, mut base, mut at) = (Vec::new(), 0, 0);
        let mut frames = Vec::new();
        loop {
            let next = (at + size()).min(data.len());
            kept.extend_from_slice(&data[at..next]);
            at = next;
            let ended = at == data.len();
            for item in cutter.cut(&kept, base, ended, &[], |_| None) {
                if let Item::Frame {
                    offset, span, body, ..
                } = item
                {
                    frames.push((offset, span, body.to_vec()));
                }
            }
            let done = cutter.consumed() - base;
            kept.drain(..done);
            base += done;
            if ended {
                break;
            }
        }
        (frames, describe(cutter.end.as_ref().unwrap()))
    }

    #[test]
    fn a_stream_cut_as_it_arrives_gives_what_the_whole_stream_gives() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as usize
        };
        let streams: [(&str, &[u8]); 10] = [
            ("ascii:4", b"0004ping0002ok0000"),
            ("ascii:4", b"0004ping00x2ok"),
            ("ascii:4", b"0004ping0010cut"),
            (
                "be:2,empty=skip",
                b"\x00\x00\x00\x02hi\x00\x00\x00\x00\x00\x01!",
            ),
            (
                "be:2,max=3,oversize=discard",
                b"\x00\x02hi\x00\x05toolong\x00\x01!\x00",
            ),
            ("be:2,max=3", b"\x00\x02hi\x00\x05toolong"),
            ("delim:03", b"one\x03two\x03\x03three"),
            ("delim:03,eof=deliver", b"one\x03two\x03three"),
            ("lines:crlf", b"a\r\nb\nc\r\n\r\nd"),
            ("eof", b"everything at once"),
        ];
        for (spec, data) in streams {
            let whole = stream_frames(spec, data);
            assert_eq!(cutter(spec, data, || data.len()), whole, "{spec} whole");
            assert_eq!(cutter(spec, data, || 1), whole, "{spec} a byte at a time");
            for _ in 0..200 {
                assert_eq!(cutter(spec, data, || next() % 6), whole, "{spec}");
            }
        }
    }

    #[test]
    fn gaps_come_before_the_frame_they_fall_in_and_the_rest_at_the_end() {
        // A gap where a frame ends comes after it, before the next (whose bytes follow the hole);
        // one after the last frame, at the end.
        let data = b"0004ping0004pong0004more00";
        let gaps = [(8, 3), (20, 1), (26, 5)];
        let mut cutter = Cutter::new("ascii:4".parse().unwrap());
        let kinds: Vec<String> = cutter
            .cut(data, 0, true, &gaps, |_| None)
            .iter()
            .map(|item| match item {
                Item::Frame { index, .. } => format!("#{index}"),
                Item::Gap { at, .. } => format!("gap {at}"),
            })
            .collect();
        assert_eq!(kinds, ["#1", "gap 8", "#2", "gap 20", "#3", "gap 26"]);
    }
}
