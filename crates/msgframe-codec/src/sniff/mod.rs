//! Guessing the framing of a captured byte stream, with a confidence.
//!
//! Every framing worth trying is decoded over the stream (length headers whose frames chain
//! through it, delimiters that occur in it, netstrings, fixed sizes) and weighed by the **bits it
//! saves** describing the stream, against the null hypothesis that the stream is unframed bytes
//! (the `eof` answer): a minimum description length. A length header that matches every body
//! saves what its bytes cost, less what the lengths cost; fixed bytes and trailers that verify
//! in every frame save their bytes; frames that begin alike (a message type, an MTI) save more
//! under the right boundaries; describing the framing costs bits (its options, and how many
//! framings were tried). A structure that holds by chance saves nothing: a 1-byte length
//! chaining through random bytes pays for each length what its header byte cost.
//!
//! Framings that end every frame at the same places are **one answer**, listed together; when
//! their encoders would differ on frames the stream does not hold (`be:2` and `bcd:2` when every
//! length is below 10), the answer says which frame would decide. Each answer gets a
//! **confidence**, its posterior probability (2^bits, normalised over the answers and the null
//! hypothesis); [`Sniffed::confident`] is the answer at 95 % or more with 64 bits of evidence or
//! more that explains the whole stream, if any: random bytes and too few frames have none.
//!
//! ```
//! use bytes::BytesMut;
//! use msgframe_codec::{sniff, Encoder, Framing};
//!
//! // Twenty ISO 8583 messages behind 4-digit ASCII lengths, as a capture would hold them.
//! let framing: Framing = "ascii:4".parse()?;
//! let mut stream = BytesMut::new();
//! for stan in 1..=20u32 {
//!     let body = format!("0200{stan:06}0000{:012}{}", stan * 125, "*".repeat(stan as usize % 7));
//!     framing.encode(body.as_bytes(), &mut stream)?;
//! }
//! let sniffed = sniff::sniff(&stream);
//! let answer = sniffed.confident().expect("twenty frames are enough");
//! assert_eq!(answer.specs[0], "ascii:4");
//! assert_eq!(answer.frames, 20);
//! assert!(answer.confidence > 0.99);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod evidence;
mod progressive;
mod search;

pub use progressive::Progressive;

use msgframe_header::hex;

use crate::{Decoded, Decoder, Encoder, Framing, FramingSpec};
use evidence::{ByteModel, Columns, LengthCode};

/// How much of a stream is examined: enough frames to judge, bounded work for large captures.
pub const SNIFF_LIMIT: usize = 256 * 1024;

/// The confidence an answer needs to be [`Sniffed::confident`].
pub const CONFIDENT: f64 = 0.95;

/// The evidence an answer needs to be [`Sniffed::confident`], in bits: the bits are estimates,
/// and a few frames' worth can come from structure no framing caused (runs of zeros read as
/// empty frames, say).
pub const CONFIDENT_BITS: f64 = 64.0;

/// Answers considered in full (after a first pass over the stream's start).
const FINALISTS: usize = 48;
/// Framings of one first-pass answer considered in full, besides its best: the simplest.
const SIMPLEST: usize = 4;
/// The first pass: this many bytes.
const FIRST_PASS: usize = 16 * 1024;

/// What sniffing found: answers, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct Sniffed {
    /// Answers with at least one frame, best first; `eof` (one message, no framing: the null
    /// hypothesis) among them.
    pub answers: Vec<Answer>,
    /// Bytes examined (the stream, or its first [`SNIFF_LIMIT`] bytes).
    pub examined: usize,
    /// Framings tried.
    pub tried: usize,
}

impl Sniffed {
    /// The best answer, when its confidence is at least [`CONFIDENT`], its evidence at least
    /// [`CONFIDENT_BITS`], it is a framing (not
    /// `eof`, the answer that nothing frames the stream) and it explains the whole stream (one
    /// last frame cut short allowed).
    pub fn confident(&self) -> Option<&Answer> {
        self.answers.first().filter(|a| {
            a.confidence >= CONFIDENT
                && a.bits >= CONFIDENT_BITS
                && a.specs[0] != "eof"
                && a.stopped.is_none()
        })
    }
}

/// One answer: framings that end every frame at the same places, with what speaks for them.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The framings, as specs (for `--framing` or [`FramingSpec`]'s parser), the simplest first:
    /// they cut this stream alike, and a spec with fewer options (no fixed bytes that may be
    /// bodies agreeing by chance) is likelier to cut the next capture right too.
    pub specs: Vec<String>,
    /// Whole frames found from the start of the stream.
    pub frames: usize,
    /// Bytes those frames span.
    pub explained: usize,
    /// Bytes after them that are the start of a frame cut short (a capture cut mid-frame).
    pub partial: usize,
    /// Bytes examined.
    pub examined: usize,
    /// Why decoding stopped before the end, if it did: the rest is not explained.
    pub stopped: Option<String>,
    /// The evidence: bits saved describing the stream with this framing rather than as unframed
    /// bytes. Comparable between answers of one stream only.
    pub bits: f64,
    /// The posterior probability of this answer among all (0.0 to 1.0).
    pub confidence: f64,
    /// What speaks for (and against) it, one short sentence each.
    pub evidence: Vec<String>,
    /// When the specs differ on frames this stream does not hold: which frame would decide.
    pub undecided: Option<String>,
}

impl Answer {
    /// Whether every examined byte is in a frame (or in one last frame cut short).
    pub fn explains_all(&self) -> bool {
        self.explained + self.partial == self.examined
    }

    /// The fraction of the examined bytes explained, 0.0 to 1.0.
    pub fn coverage(&self) -> f64 {
        if self.examined == 0 {
            0.0
        } else {
            (self.explained + self.partial) as f64 / self.examined as f64
        }
    }
}

/// Sniffs several streams framed alike, each starting at a frame boundary: the conversations a
/// host of short connections holds, one exchange each, too few frames apiece to judge. They
/// are judged joined end to end (up to [`SNIFF_LIMIT`] bytes in all): streams of whole frames
/// joined are whole frames of the same framing. The answer's frames and offsets count in the
/// joined bytes.
///
/// ```
/// use bytes::BytesMut;
/// use msgframe_codec::{sniff, Encoder, Framing};
///
/// // Thirty short connections, one ISO 8583 request each behind a 2-byte binary length.
/// let framing: Framing = "be:2".parse()?;
/// let connections: Vec<BytesMut> = (1..=30u32)
///     .map(|stan| {
///         let mut stream = BytesMut::new();
///         let body = format!("0200{stan:06}0000{:012}", stan * 125);
///         framing.encode(body.as_bytes(), &mut stream).map(|()| stream)
///     })
///     .collect::<Result<_, _>>()?;
/// // One is too short to judge; all of them are not.
/// assert!(sniff::sniff(&connections[0]).confident().is_none());
/// let joined = sniff::sniff_joined(connections.iter().map(|c| &c[..]));
/// let answer = joined.confident().expect("thirty frames are enough");
/// assert_eq!((answer.specs[0].as_str(), answer.frames), ("be:2", 30));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn sniff_joined<'a>(streams: impl IntoIterator<Item = &'a [u8]>) -> Sniffed {
    let mut joined = Vec::new();
    for stream in streams {
        let room = SNIFF_LIMIT - joined.len();
        joined.extend_from_slice(&stream[..stream.len().min(room)]);
        if joined.len() == SNIFF_LIMIT {
            break;
        }
    }
    sniff(&joined)
}

/// Sniffs `stream` (its first [`SNIFF_LIMIT`] bytes).
pub fn sniff(stream: &[u8]) -> Sniffed {
    let stream = &stream[..stream.len().min(SNIFF_LIMIT)];
    let trials = search::trials(stream);
    let tried = trials.len() + 1;
    // Choosing one framing among those tried costs its index.
    let choice = (tried as f64).log2();
    // Bodies of a delimited framing never hold its (last) delimiter byte: what that says is
    // weighed against the null hypothesis's own chance of that byte at each place.
    let mut tracked: Vec<u8> = trials
        .iter()
        .filter_map(|t| match &t.spec {
            FramingSpec::Delimited(c) => c.delimiter.last().copied(),
            _ => None,
        })
        .collect();
    tracked.sort_unstable();
    tracked.dedup();
    let null = ByteModel::of(stream, &tracked);
    let first = &stream[..stream.len().min(FIRST_PASS)];
    // The first pass groups the framings by where they end frames; the best groups go on, each
    // with its best framing and its simplest ones.
    let mut firsts: Vec<(Weighed, &search::Trial)> = trials
        .iter()
        .filter_map(|t| Some((weigh(t, first, &null, choice)?, t)))
        .collect();
    firsts.sort_by(|a, b| b.0.bits.total_cmp(&a.0.bits));
    let mut cuts: Vec<(&[usize], Vec<&search::Trial>)> = Vec::new();
    for (w, t) in &firsts {
        if let Some((_, members)) = cuts.iter_mut().find(|(ends, _)| *ends == w.ends.as_slice()) {
            members.push(t);
        } else if cuts.len() < FINALISTS {
            cuts.push((w.ends.as_slice(), vec![t]));
        }
    }
    let mut weighed: Vec<Weighed> = Vec::new();
    for (_, mut members) in cuts {
        let best = members[0];
        members.sort_by(|a, b| a.option_bits.total_cmp(&b.option_bits));
        members.truncate(SIMPLEST);
        if !members.iter().any(|m| std::ptr::eq(*m, best)) {
            members.push(best);
        }
        weighed.extend(
            members
                .iter()
                .filter_map(|t| weigh(t, stream, &null, choice)),
        );
    }
    weighed.push(Weighed::null(stream));
    weighed.sort_by(|a, b| b.bits.total_cmp(&a.bits));
    let answers = group(weighed, stream.len());
    Sniffed {
        answers,
        examined: stream.len(),
        tried,
    }
}

/// A framing decoded over the stream, and its evidence.
struct Weighed {
    spec: String,
    option_bits: f64,
    framing: Option<Framing>,
    ends: Vec<usize>,
    partial: usize,
    stopped: Option<String>,
    bits: f64,
    evidence: Vec<String>,
}

impl Weighed {
    /// `eof`: one message, nothing framed; saves nothing.
    fn null(stream: &[u8]) -> Self {
        Weighed {
            spec: "eof".to_owned(),
            option_bits: 0.0,
            framing: None,
            ends: vec![stream.len()],
            partial: 0,
            stopped: None,
            bits: 0.0,
            evidence: vec!["the whole stream as one message: no framing".to_owned()],
        }
    }
}

/// Decodes `stream` with the trial's framing and weighs it; `None` when it finds no frame.
fn weigh(trial: &search::Trial, stream: &[u8], null: &ByteModel, choice: f64) -> Option<Weighed> {
    let mut framing = trial.spec.build().ok()?;
    let mut lengths = LengthCode::default();
    let mut columns = Columns::new();
    let mut saved = 0.0;
    let mut ends = Vec::new();
    let mut stopped = None;
    let mut largest = 0;
    let mut empty = 0;
    // A fixed size codes no lengths.
    let codes_lengths = !matches!(trial.spec, FramingSpec::FixedLength { .. });
    // A single-byte delimiter never occurs in a body: each body byte says "not the delimiter",
    // worth what the null hypothesis gave the delimiter there.
    let excluded = match &trial.spec {
        FramingSpec::Delimited(c) if c.delimiter.len() == 1 => c.delimiter.first().copied(),
        _ => None,
    };
    let mut at = 0;
    while at < stream.len() {
        match framing.decode_slice(&stream[at..]) {
            Ok(Decoded::Frame {
                start,
                end,
                consumed,
            }) => {
                let body = &stream[at + start..at + end];
                saved += null.cost(at..at + consumed) - null.cost(at + start..at + end);
                if let Some(d) = excluded {
                    saved += null.not(d, at + start..at + end);
                }
                if codes_lengths {
                    lengths.code(body.len() as u64);
                }
                columns.code(stream, at, start..end, null);
                largest = largest.max(consumed);
                empty += usize::from(body.is_empty());
                at += consumed;
                ends.push(at);
            }
            Ok(Decoded::Skip { consumed }) if consumed > 0 => {
                saved += null.cost(at..at + consumed);
                lengths.code(0);
                at += consumed;
            }
            Ok(Decoded::Skip { .. } | Decoded::Partial { .. }) => break,
            Err(e) => {
                stopped = Some(e.to_string());
                break;
            }
        }
    }
    if ends.is_empty() {
        return None;
    }
    let explained = *ends.last().unwrap_or(&0);
    let mut partial = 0;
    if stopped.is_none() && explained < stream.len() {
        let tail = &stream[explained..];
        if plausible_tail(&trial.spec, tail, largest) {
            partial = tail.len();
        } else {
            stopped = Some(format!(
                "the last {} bytes are not the start of a plausible frame",
                tail.len()
            ));
        }
    }
    let mut bits = saved - lengths.bits + columns.saved() - trial.option_bits - choice;
    if stopped.is_some() {
        // Saying where the framing stops.
        bits -= (stream.len() as f64).log2() + 8.0;
    }
    let mut evidence = vec![format!(
        "{} frame{} explain {} of {} bytes",
        ends.len(),
        if ends.len() == 1 { "" } else { "s" },
        explained + partial,
        stream.len(),
    )];
    if partial > 0 {
        evidence.push(format!(
            "ends inside a frame after {explained} bytes (a capture cut short?)"
        ));
    }
    if let Some(reason) = &stopped {
        evidence.push(format!("stops at stream offset {explained}: {reason}"));
    }
    if columns.saved() > 8.0 {
        evidence.push(format!(
            "frames begin alike ({:.0} bits saved on their first bytes)",
            columns.saved()
        ));
    }
    if empty > 0 {
        evidence.push(format!("{empty} empty frames (keep-alives?)"));
    }
    Some(Weighed {
        spec: trial.spec.to_string(),
        option_bits: trial.option_bits,
        framing: trial.spec.build().ok(),
        ends,
        partial,
        stopped,
        bits,
        evidence,
    })
}

/// Whether `tail` may be the start of a frame cut short: for a length header, its declared
/// length is within reach of the frames seen (at most 4 times the largest, or 64 KiB).
fn plausible_tail(spec: &FramingSpec, tail: &[u8], largest: usize) -> bool {
    let reach = (4 * largest).max(64 * 1024);
    match spec {
        FramingSpec::LengthPrefixed(c) => {
            let (b, w) = (c.before.len(), c.encoding.width());
            if tail.len() < b + w {
                return true;
            }
            use msgframe_header::LengthField;
            c.encoding
                .decode(&tail[b..b + w])
                .is_ok_and(|d| usize::try_from(d).is_ok_and(|d| d <= reach))
        }
        _ => tail.len() <= reach,
    }
}

/// Framings with the same frame ends become one answer; confidences from the bits.
fn group(weighed: Vec<Weighed>, examined: usize) -> Vec<Answer> {
    let mut groups: Vec<Vec<Weighed>> = Vec::new();
    for w in weighed {
        match groups.iter_mut().find(|g| {
            g[0].ends == w.ends
                && g[0].partial == w.partial
                && g[0].stopped.is_some() == w.stopped.is_some()
        }) {
            Some(g) => g.push(w),
            None => groups.push(vec![w]),
        }
    }
    // A true framing does not break mid-stream: when a framing explains the whole stream with
    // positive evidence, it goes before every framing that stops (those stay, for a capture
    // that goes wrong later, after the best whole answer). The order is otherwise by evidence.
    let best_whole = groups
        .iter()
        .filter(|g| g[0].stopped.is_none() && g[0].framing.is_some())
        .map(|g| g[0].bits)
        .fold(f64::NEG_INFINITY, f64::max);
    if best_whole > 0.0 {
        groups.sort_by_key(|g| g[0].stopped.is_some() && g[0].bits > best_whole);
    }
    // Confidence: the posterior among all the answers, those that stop included (with what
    // saying where they stop costs), so that a framing swallowing a garbage tail as a frame cut
    // short is not confident while a better one stops at the garbage.
    let best = groups.iter().map(|g| g[0].bits).fold(0.0, f64::max);
    let total: f64 = groups.iter().map(|g| (g[0].bits - best).exp2()).sum();
    groups
        .into_iter()
        .map(|mut g| {
            // The evidence is the best member's; the simplest member comes first.
            let bits = g[0].bits;
            g.sort_by(|a, b| {
                a.option_bits
                    .total_cmp(&b.option_bits)
                    .then(b.bits.total_cmp(&a.bits))
            });
            let head = &g[0];
            let confidence = (bits - best).exp2() / total;
            let undecided = undecided(&g);
            Answer {
                specs: g.iter().map(|w| w.spec.clone()).collect(),
                frames: head.ends.len(),
                explained: *head.ends.last().unwrap_or(&0),
                partial: head.partial,
                examined,
                stopped: head.stopped.clone(),
                bits,
                confidence,
                evidence: head.evidence.clone(),
                undecided,
            }
        })
        .collect()
}

/// Frame sizes that tell length encodings apart: every size to 300, and the edges of decimal,
/// hex and binary widths.
const DECIDING_SIZES: &[usize] = &[
    999, 1000, 4095, 4096, 9999, 10000, 65535, 65536, 99999, 100_000,
];

/// For framings that cut this stream alike: for each of the first few beside the head, the
/// smallest frame on which their encoders differ and how (or that they are the same framing).
fn undecided(group: &[Weighed]) -> Option<String> {
    let framings: Vec<(&str, &Framing)> = group
        .iter()
        .filter_map(|w| Some((w.spec.as_str(), w.framing.as_ref()?)))
        .collect();
    let ((head, head_framing), others) = framings.split_first()?;
    let encode = |f: &Framing, size: usize| {
        let mut out = bytes::BytesMut::new();
        f.encode(&vec![b'x'; size], &mut out).ok()?;
        Some(out.to_vec())
    };
    let mut said = Vec::new();
    let mut same = Vec::new();
    for (spec, framing) in others.iter().take(3) {
        let differs = (0..=300)
            .chain(DECIDING_SIZES.iter().copied())
            .find_map(|size| {
                let (a, b) = (encode(head_framing, size), encode(framing, size));
                (a != b).then_some((size, a, b))
            });
        match differs {
            None => same.push(*spec),
            Some((size, a, b)) => {
                // The bytes up to where they part, and one more.
                let upto = match (&a, &b) {
                    (Some(a), Some(b)) => a.iter().zip(b).take_while(|(x, y)| x == y).count() + 1,
                    _ => 2,
                };
                let show = |e: &Option<Vec<u8>>| match e {
                    Some(e) => format!(
                        "writes {}",
                        hex::display(&e[..e.len().min(upto.min(8))]).spaced()
                    ),
                    None => "cannot".to_owned(),
                };
                said.push(format!(
                    "a frame of {size} bytes would tell {head} from {spec} ({head} {}, {spec} {})",
                    show(&a),
                    show(&b)
                ));
            }
        }
    }
    if !same.is_empty() {
        said.push(format!(
            "{} frame{} as {head} does",
            same.join(", "),
            if same.len() == 1 { "s" } else { "" }
        ));
    }
    (!said.is_empty()).then(|| said.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_tiny_streams_have_no_confident_answer() {
        assert!(sniff(b"").confident().is_none());
        assert!(sniff(b"x").confident().is_none());
    }
}
