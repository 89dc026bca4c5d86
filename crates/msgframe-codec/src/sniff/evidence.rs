//! How many bits a framing saves on a stream: the evidence for it, as a minimum description
//! length.
//!
//! Without a framing, the stream is bytes drawn from its own byte frequencies (the null
//! hypothesis; `eof` is that answer). With one, each frame's length is coded once and its
//! header, fixed bytes, trailer or delimiter follow from it: they cost nothing, so a framing
//! saves what those bytes cost under the null hypothesis, less what the lengths cost. Frames
//! that look alike at their start (a message type, an MTI) save more under the right
//! boundaries than under wrong ones. Describing the framing itself costs bits too: its options,
//! and the number of framings tried (a framing picked among many must save more to count).
//!
//! A structure that holds by chance saves nothing on average: a 1-byte binary length chaining
//! through random bytes codes each length in about the 8 bits its header byte cost. A 4-digit
//! ASCII length that matches every body saves ~20 bits a frame.

/// What each byte of the stream costs under the null hypothesis: the best, as the stream goes,
/// of three predictions — the stream's byte frequencies; the byte before (order 1, learnt as the
/// stream goes, pulled towards the frequencies); and what followed the last time the four
/// bytes before came up (a match model: repeated and cyclic content) — mixed by how well each
/// has done lately (a fixed-share mixture: never much worse than the best). A framing's fixed
/// bytes, headers and delimiters save what they cost here. Structure a framing did not cause —
/// runs of padding, repeated pairs, bodies that repeat — is cheap already, so it is no evidence
/// for one; and random bytes cost what their frequencies say, so a chance chain saves nothing.
pub(super) struct ByteModel {
    /// Bits of the bytes before each offset (prefix sums).
    before: Vec<f64>,
    /// The stream's byte frequencies, smoothed.
    order0: [f64; 256],
    /// For each byte tracked (a delimiter tried): what saying "not this byte" at each offset
    /// is worth under the null hypothesis, `-log2(1 - p)` (prefix sums).
    not: Vec<(u8, Vec<f64>)>,
}

/// How strongly the order-1 counts are pulled towards the byte frequencies.
const PULL: f64 = 16.0;
/// How much weight each prediction keeps whatever it did (lets the mixture switch).
const SHARE: f64 = 1.0 / 256.0;
/// The context a match is looked up by.
const MATCH_CONTEXT: usize = 4;

impl ByteModel {
    /// The null hypothesis over `stream`, tracking the chance of each byte of `tracked` at
    /// every offset.
    pub(super) fn of(stream: &[u8], tracked: &[u8]) -> Self {
        let mut counts = [0u64; 256];
        for &b in stream {
            counts[usize::from(b)] += 1;
        }
        let total = stream.len() as f64 + 128.0;
        let mut order0 = [0.0; 256];
        for (b, c) in counts.iter().enumerate() {
            order0[b] = (*c as f64 + 0.5) / total;
        }
        let mut pairs = vec![[0u32; 256]; 256];
        let mut seen = [0u32; 256];
        // Where each 4-byte context was last seen (hashed), and the current match.
        let mut last_seen = vec![u32::MAX; 1 << 16];
        let mut matched: Option<usize> = None;
        let mut match_len = 0usize;
        let mut before = Vec::with_capacity(stream.len() + 1);
        before.push(0.0);
        let mut not: Vec<(u8, Vec<f64>)> = tracked
            .iter()
            .map(|&d| (d, Vec::with_capacity(stream.len() + 1)))
            .collect();
        for (_, sums) in &mut not {
            sums.push(0.0);
        }
        let mut sum = 0.0;
        // The weights of the three predictions: frequencies, order 1, match.
        let mut w = [1.0 / 3.0; 3];
        for (i, &byte) in stream.iter().enumerate() {
            let b = usize::from(byte);
            let p0 = order0[b];
            let p1 = match i.checked_sub(1).map(|j| usize::from(stream[j])) {
                None => p0,
                Some(prev) => {
                    (f64::from(pairs[prev][b]) + PULL * p0) / (f64::from(seen[prev]) + PULL)
                }
            };
            let pm = match matched {
                None => p0,
                Some(at) => {
                    let sure = 1.0 - 1.0 / (match_len as f64 + 2.0);
                    let predicted = stream[at];
                    if predicted == byte {
                        sure
                    } else {
                        (1.0 - sure) * p0 / (1.0 - order0[usize::from(predicted)]).max(1e-9)
                    }
                }
            };
            // What each tracked byte's chance was here, before this byte is learnt.
            let prev = i.checked_sub(1).map(|j| usize::from(stream[j]));
            for (d, sums) in &mut not {
                let d0 = order0[usize::from(*d)];
                let d1 = match prev {
                    None => d0,
                    Some(prev) => {
                        (f64::from(pairs[prev][usize::from(*d)]) + PULL * d0)
                            / (f64::from(seen[prev]) + PULL)
                    }
                };
                let dm = match matched {
                    None => d0,
                    Some(at) => {
                        let sure = 1.0 - 1.0 / (match_len as f64 + 2.0);
                        let predicted = stream[at];
                        if predicted == *d {
                            sure
                        } else {
                            (1.0 - sure) * d0 / (1.0 - order0[usize::from(predicted)]).max(1e-9)
                        }
                    }
                };
                let pd = (w[0] * d0 + w[1] * d1 + w[2] * dm).min(0.999_999);
                let last = *sums.last().unwrap_or(&0.0);
                sums.push(last - (1.0 - pd).log2());
            }
            let experts = [p0, p1, pm];
            let p: f64 = w.iter().zip(experts).map(|(w, e)| w * e).sum();
            for (w, e) in w.iter_mut().zip(experts) {
                *w = (1.0 - SHARE) * (*w * e / p) + SHARE / 3.0;
            }
            sum -= p.log2();
            before.push(sum);
            if i > 0 {
                let prev = usize::from(stream[i - 1]);
                pairs[prev][b] += 1;
                seen[prev] += 1;
            }
            // The match goes on when it predicted right; otherwise look the context up again.
            matched = match matched {
                Some(at) if stream[at] == byte && at + 1 < i + 1 => {
                    match_len += 1;
                    Some(at + 1)
                }
                _ => {
                    match_len = 0;
                    None
                }
            };
            if i + 1 >= MATCH_CONTEXT {
                let context = &stream[i + 1 - MATCH_CONTEXT..=i];
                let slot = usize::from(context_hash(context));
                if matched.is_none() {
                    let at = last_seen[slot];
                    if at != u32::MAX && (at as usize) < stream.len() {
                        matched = Some(at as usize);
                    }
                }
                last_seen[slot] = u32::try_from(i + 1).unwrap_or(u32::MAX);
            }
        }
        ByteModel {
            before,
            order0,
            not,
        }
    }

    /// What the bytes at `range` of the stream cost under the null hypothesis.
    pub(super) fn cost(&self, range: std::ops::Range<usize>) -> f64 {
        self.before[range.end] - self.before[range.start]
    }

    /// What saying "not `d`" at every offset of `range` is worth under the null hypothesis (0
    /// when `d` was not tracked).
    pub(super) fn not(&self, d: u8, range: std::ops::Range<usize>) -> f64 {
        self.not
            .iter()
            .find(|(t, _)| *t == d)
            .map_or(0.0, |(_, sums)| sums[range.end] - sums[range.start])
    }

    /// The frequency of byte `b` in the stream.
    pub(super) fn p(&self, b: u8) -> f64 {
        self.order0[usize::from(b)]
    }
}

/// A 16-bit hash of a match context.
fn context_hash(context: &[u8]) -> u16 {
    let h = context.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    (h ^ (h >> 16)) as u16
}

/// An adaptive code for a sequence of lengths: the length's bit-length class, learnt as it goes
/// (a sparse Dirichlet prior), then its place within the class, uniform. Regular lengths cost few
/// bits; lengths scattered as a chance chain's are cost what they carry.
pub(super) struct LengthCode {
    classes: [u32; 65],
    seen: u32,
    /// Total bits so far.
    pub(super) bits: f64,
}

impl Default for LengthCode {
    fn default() -> Self {
        LengthCode {
            classes: [0; 65],
            seen: 0,
            bits: 0.0,
        }
    }
}

impl LengthCode {
    pub(super) fn code(&mut self, length: u64) {
        let class = (64 - length.leading_zeros()) as usize;
        // A sparse prior: a few classes in use are learnt fast.
        let p = (f64::from(self.classes[class]) + 0.05) / (f64::from(self.seen) + 3.25);
        self.bits += -p.log2();
        if class > 1 {
            self.bits += (class - 1) as f64;
        }
        self.classes[class] += 1;
        self.seen += 1;
    }
}

/// How many leading bytes of each body the column model looks at.
pub(super) const COLUMNS: usize = 64;

/// Bytes at the same place in every frame, coded per place (counts learnt as the frames go):
/// what frames that begin alike save over the null hypothesis. Each place is modelled
/// only where that saves bits (a place of random bytes is left to the null hypothesis), so
/// bodies without structure neither help nor hurt a framing.
pub(super) struct Columns {
    counts: Vec<[u32; 256]>,
    seen: [u32; COLUMNS],
    saved: [f64; COLUMNS],
}

impl Columns {
    pub(super) fn new() -> Self {
        Columns {
            counts: vec![[0; 256]; COLUMNS],
            seen: [0; COLUMNS],
            saved: [0.0; COLUMNS],
        }
    }

    /// Codes the body of the frame at stream offset `at`, found at `body` within the frame.
    /// Places count from the body's start, so framings that agree on where bodies start look at
    /// the same bytes whatever their headers.
    pub(super) fn code(
        &mut self,
        stream: &[u8],
        at: usize,
        body: std::ops::Range<usize>,
        null: &ByteModel,
    ) {
        let len = (body.end - body.start).min(COLUMNS);
        for i in 0..len {
            let offset = at + body.start + i;
            let b = stream[offset];
            let count = self.counts[i][usize::from(b)];
            // Counts pulled towards the byte's frequency in the stream: a place of random
            // bytes costs what the null hypothesis says, a place that repeats itself little.
            let p = (f64::from(count) + 2.0 * null.p(b)) / (f64::from(self.seen[i]) + 2.0);
            // Against the null hypothesis's cost of that very byte, as every saving here.
            self.saved[i] += null.cost(offset..offset + 1) + p.log2();
            self.counts[i][usize::from(b)] += 1;
            self.seen[i] += 1;
        }
    }

    /// Bits saved by the places worth modelling (one bit each to say which).
    pub(super) fn saved(&self) -> f64 {
        self.saved.iter().map(|s| (s - 1.0).max(0.0)).sum()
    }
}
