//! Sniffing a stream as it arrives (a live capture on a pipe): judged again as it grows, decided
//! once a framing is confident over enough frames.

use super::{sniff, Sniffed, SNIFF_LIMIT};

/// A stream sniffed as it arrives: give it the stream so far, as often as bytes come;
/// it sniffs again only when the stream has grown by half since the last try (from
/// [`FIRST_TRY`](Progressive::FIRST_TRY) bytes on, so the work stays within a small multiple of
/// one sniff of the whole), and decides once the confident answer ([`Sniffed::confident`]) has
/// at least the frames asked for, or [`SNIFF_LIMIT`] bytes were examined (more bytes change
/// nothing).
///
/// Deciding early trades certainty for time: the evaluation on real peers' captures
/// (`tests/interop_sniff.rs`) measures it at 20 frames beside the verdict on the whole stream.
///
/// ```
/// use bytes::BytesMut;
/// use msgframe_codec::sniff::Progressive;
/// use msgframe_codec::{Encoder, Framing};
///
/// let framing: Framing = "be:2".parse()?;
/// let mut stream = BytesMut::new();
/// let mut judge = Progressive::new(20);
/// let mut decided = None;
/// for n in 1..=200u32 {
///     framing.encode(format!("message {n}: {}", "x".repeat(n as usize % 13)).as_bytes(), &mut stream)?;
///     if let Some(sniffed) = judge.judge(&stream) {
///         decided = Some((n, sniffed));
///         break;
///     }
/// }
/// let (n, sniffed) = decided.expect("decided before the stream ends");
/// let answer = sniffed.confident().unwrap();
/// assert_eq!(answer.specs[0], "be:2");
/// assert!(answer.frames >= 20 && n < 200);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Progressive {
    frames: usize,
    /// The length judged last (0: none yet).
    tried: usize,
    decided: bool,
}

impl Progressive {
    /// The first length judged.
    pub const FIRST_TRY: usize = 64;

    /// Decides once a framing is confident with at least `frames` frames (at least 1).
    pub fn new(frames: usize) -> Self {
        Progressive {
            frames: frames.max(1),
            tried: 0,
            decided: false,
        }
    }

    /// Judges `stream`, the stream so far (only its first [`SNIFF_LIMIT`] bytes matter), when it
    /// has grown enough since the last try: the verdict when it is decided now, `None` when it is
    /// not (or was decided before). The verdict may be that no framing is confident, when
    /// [`SNIFF_LIMIT`] bytes did not make one.
    pub fn judge(&mut self, stream: &[u8]) -> Option<Sniffed> {
        let examined = stream.len().min(SNIFF_LIMIT);
        if self.decided || examined < self.due() || examined == self.tried {
            return None;
        }
        self.tried = examined;
        let sniffed = sniff(&stream[..examined]);
        let ready =
            sniffed.confident().is_some_and(|a| a.frames >= self.frames) || examined == SNIFF_LIMIT;
        self.decided = ready;
        ready.then_some(sniffed)
    }

    /// Whether a verdict was given.
    pub fn is_decided(&self) -> bool {
        self.decided
    }

    /// The length judged last (0 before the first try).
    pub fn tried(&self) -> usize {
        self.tried
    }

    /// The length the next try waits for.
    fn due(&self) -> usize {
        if self.tried == 0 {
            Self::FIRST_TRY
        } else {
            (self.tried + self.tried / 2).min(SNIFF_LIMIT)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_judges_again_only_when_the_stream_has_grown_by_half() {
        let mut p = Progressive::new(1000);
        let stream = vec![0x41u8; 1000];
        assert!(p.judge(&stream[..63]).is_none());
        assert_eq!(p.tried(), 0);
        assert!(p.judge(&stream[..64]).is_none());
        assert_eq!(p.tried(), 64);
        assert!(p.judge(&stream[..95]).is_none());
        assert_eq!(p.tried(), 64);
        assert!(p.judge(&stream[..96]).is_none());
        assert_eq!(p.tried(), 96);
        assert!(!p.is_decided());
    }

    #[test]
    fn at_the_sniff_limit_it_decides_whatever_it_found() {
        let mut p = Progressive::new(20);
        // Bytes no framing explains.
        let mut state = 0x2545_f491_u32;
        let stream: Vec<u8> = (0..SNIFF_LIMIT + 10)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as u8
            })
            .collect();
        let sniffed = p.judge(&stream).expect("decided at the limit");
        assert!(sniffed.confident().is_none());
        assert!(p.is_decided());
        assert!(p.judge(&stream).is_none(), "decided once");
    }
}
