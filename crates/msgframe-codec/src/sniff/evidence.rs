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

/// What each byte of the stream costs under the null hypothesis: the better, as the stream goes,
/// of two predictions — the stream's byte frequencies, and the byte before (order 1, learnt as the
/// stream goes, pulled towards the frequencies) — mixed by how well each has done lately (a
/// fixed-share mixture: never much worse than the better one). A framing's fixed bytes, headers
/// and delimiters save what they cost here; runs and repeated pairs a framing did not cause are
/// cheap already, so they are no evidence for one (a "delimiter" found in runs of padding), and
/// random bytes cost what their frequencies say, so a chance chain saves nothing.
pub(super) struct ByteModel {
    /// Bits of the bytes before each offset (prefix sums).
    before: Vec<f64>,
    /// The stream's byte frequencies, smoothed.
    order0: [f64; 256],
}

/// How strongly the order-1 counts are pulled towards the byte frequencies.
const PULL: f64 = 16.0;
/// How much weight each prediction keeps whatever it did (lets the mixture switch).
const SHARE: f64 = 1.0 / 256.0;

impl ByteModel {
    pub(super) fn of(stream: &[u8]) -> Self {
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
        let mut before = Vec::with_capacity(stream.len() + 1);
        before.push(0.0);
        let mut sum = 0.0;
        let mut prev = None::<usize>;
        // The weight of the order-1 prediction.
        let mut w1 = 0.5;
        for &b in stream {
            let b = usize::from(b);
            let p0 = order0[b];
            let p = match prev {
                None => p0,
                Some(prev) => {
                    let p1 =
                        (f64::from(pairs[prev][b]) + PULL * p0) / (f64::from(seen[prev]) + PULL);
                    let p = (1.0 - w1) * p0 + w1 * p1;
                    let posterior = w1 * p1 / p;
                    w1 = (1.0 - SHARE) * posterior + SHARE * 0.5;
                    pairs[prev][b] += 1;
                    seen[prev] += 1;
                    p
                }
            };
            sum -= p.log2();
            before.push(sum);
            prev = Some(b);
        }
        ByteModel { before, order0 }
    }

    /// What the bytes at `range` of the stream cost under the null hypothesis.
    pub(super) fn cost(&self, range: std::ops::Range<usize>) -> f64 {
        self.before[range.end] - self.before[range.start]
    }

    /// The frequency of byte `b` in the stream.
    pub(super) fn p(&self, b: u8) -> f64 {
        self.order0[usize::from(b)]
    }
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

/// How many leading bytes of each frame the column model looks at.
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
    /// Places count from the frame's start, so framings that cut the stream alike look at the
    /// same bytes, whatever they call header: bytes a framing takes as fixed are not coded again.
    pub(super) fn code(
        &mut self,
        stream: &[u8],
        at: usize,
        body: std::ops::Range<usize>,
        null: &ByteModel,
    ) {
        for i in body.start.min(COLUMNS)..body.end.min(COLUMNS) {
            let b = stream[at + i];
            let count = self.counts[i][usize::from(b)];
            // Counts pulled towards the byte's frequency in the stream: a place of random
            // bytes costs what the null hypothesis says, a place that repeats itself little.
            let p = (f64::from(count) + 2.0 * null.p(b)) / (f64::from(self.seen[i]) + 2.0);
            // Against the null hypothesis's cost of that very byte, as every saving here.
            self.saved[i] += null.cost(at + i..at + i + 1) + p.log2();
            self.counts[i][usize::from(b)] += 1;
            self.seen[i] += 1;
        }
    }

    /// Bits saved by the places worth modelling (one bit each to say which).
    pub(super) fn saved(&self) -> f64 {
        self.saved.iter().map(|s| (s - 1.0).max(0.0)).sum()
    }
}
