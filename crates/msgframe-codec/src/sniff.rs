//! Guessing the framing of a captured byte stream: every framing this crate knows is tried on it,
//! and the candidates are ranked by how much of the stream they explain and how plausible their
//! frames look.
//!
//! ```
//! use bytes::BytesMut;
//! use msgframe_codec::{sniff, Encoder, Framing};
//!
//! // Five ISO 8583 messages behind 2-byte BCD lengths, as a capture would hold them.
//! let framing: Framing = "bcd:2".parse()?;
//! let mut stream = BytesMut::new();
//! for stan in 1..=5 {
//!     framing.encode(format!("0200{stan:06}...amount={}", stan * 100).as_bytes(), &mut stream)?;
//! }
//! let candidates = sniff::sniff(&stream);
//! assert_eq!(candidates[0].spec, "bcd:2");
//! assert_eq!(candidates[0].frames, 5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use bytes::BytesMut;
use msgframe_header::hex;

use crate::{CodecError, Decoder, FramingSpec};

/// How much of a stream is examined: enough frames to judge, bounded work for large captures.
pub const SNIFF_LIMIT: usize = 1024 * 1024;

/// One way to frame the stream, with what speaks for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The framing as a spec, ready for `--framing` or [`FramingSpec`]'s parser.
    pub spec: String,
    /// Whole frames found from the start of the stream.
    pub frames: usize,
    /// Bytes of the stream those frames span.
    pub explained: usize,
    /// Bytes examined (the stream, or its first [`SNIFF_LIMIT`] bytes).
    pub examined: usize,
    /// Why decoding stopped before the end, if it did.
    pub stopped: Option<String>,
    /// The ranking score (higher is better); comparable between candidates of one stream only.
    pub score: f64,
    /// What speaks for (and against) this candidate, one short sentence each.
    pub evidence: Vec<String>,
}

impl Candidate {
    /// The fraction of the examined bytes the frames explain, 0.0 to 1.0.
    pub fn coverage(&self) -> f64 {
        if self.examined == 0 {
            0.0
        } else {
            self.explained as f64 / self.examined as f64
        }
    }
}

/// Every candidate framing that finds at least one frame at the start of `stream`, best first.
pub fn sniff(stream: &[u8]) -> Vec<Candidate> {
    let stream = &stream[..stream.len().min(SNIFF_LIMIT)];
    let mut out: Vec<Candidate> = candidate_specs(stream)
        .into_iter()
        .filter_map(|(spec, prior)| evaluate(&spec, prior, stream))
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out
}

/// The specs to try, each with a prior penalty: simpler and more common framings first.
fn candidate_specs(stream: &[u8]) -> Vec<(String, f64)> {
    let mut specs = Vec::new();
    let widths: &[(&str, &[usize], f64)] = &[
        ("ascii", &[1, 2, 3, 4, 5, 6, 7, 8], 0.0),
        ("bcd", &[1, 2, 3, 4], 0.0),
        ("be", &[1, 2, 3, 4, 5, 6, 7, 8], 0.0),
        ("hex", &[2, 3, 4, 6, 8], 1.0),
        ("le", &[2, 3, 4, 8], 1.0),
    ];
    for (encoding, ws, prior) in widths {
        for w in *ws {
            specs.push((format!("{encoding}:{w}"), *prior));
            specs.push((format!("{encoding}:{w},counts-header"), prior + 0.5));
        }
    }
    // Fixed bytes around the length, taken from the stream's first frame.
    if stream.len() >= 4 {
        let first2 = hex::display(&stream[..2]);
        let next2 = hex::display(&stream[2..4]);
        for counts in ["", ",counts-header"] {
            specs.push((format!("be:2,before={first2}{counts}"), 3.0));
            specs.push((format!("be:2,after={next2}{counts}"), 3.0));
        }
        if stream.len() >= 6 {
            specs.push((
                format!("ascii:4,after={}", hex::display(&stream[4..6])),
                3.0,
            ));
        }
    }
    // An ETX after the body, counted in the length or not (BASE24-style).
    if stream.contains(&0x03) {
        for base in ["be:2", "ascii:4", "bcd:2", "hex:4"] {
            specs.push((format!("{base},trailer=03"), 3.0));
            specs.push((format!("{base},trailer=03,counts-trailer"), 3.5));
        }
    }
    // Delimiters that occur in the stream.
    if stream.contains(&b'\n') {
        specs.push(("lines".into(), 1.0));
        if stream.windows(2).any(|w| w == b"\r\n") {
            specs.push(("lines:crlf".into(), 1.5));
        }
    }
    for delimiter in [0x03u8, 0x00, 0x04, 0x1c, 0x1e, 0x7e] {
        if stream.contains(&delimiter) {
            specs.push((format!("delim:{}", hex::display(&[delimiter])), 1.0));
        }
    }
    specs.push(("netstring".into(), 1.0));
    // Fixed sizes: only those whose frames all begin alike (the evidence a fixed size lacks).
    for n in 4..=stream.len().min(64 * 1024) / 2 {
        if stream.len().is_multiple_of(n) {
            let first = &stream[..2];
            if stream.chunks(n).all(|frame| frame.starts_with(first)) {
                specs.push((format!("fixed:{n}"), 8.0));
                break;
            }
        }
    }
    specs.push(("eof".into(), 10.0));
    specs
}

/// Decodes `stream` with `spec` and scores the result; `None` when the spec finds no frame.
fn evaluate(spec: &str, prior: f64, stream: &[u8]) -> Option<Candidate> {
    let mut framing = spec.parse::<FramingSpec>().ok()?.build().ok()?;
    let mut buf = BytesMut::from(stream);
    let mut bodies = Vec::new();
    let mut stopped = None;
    loop {
        match framing.decode(&mut buf) {
            Ok(Some(frame)) => bodies.push(frame),
            Ok(None) => break,
            Err(e) => {
                stopped = Some(stop_reason(&e));
                break;
            }
        }
    }
    if stopped.is_none() && !buf.is_empty() {
        match framing.decode_eof(&mut buf) {
            Ok(Some(frame)) => bodies.push(frame),
            Ok(None) => {}
            Err(e) => stopped = Some(stop_reason(&e)),
        }
    }
    let whole = stream.len() - buf.len();
    let frames = bodies.len();
    if frames == 0 || whole == 0 {
        return None;
    }
    // A capture cut short ends inside a frame: such a tail is explained by the framing, though
    // with less certainty than a whole frame.
    let partial_tail = stopped
        .as_deref()
        .is_some_and(|r| r.contains("ended inside"))
        || (stopped.is_none() && whole < stream.len());
    let explained = whole;
    let mut candidate = Candidate {
        spec: spec.to_owned(),
        frames,
        explained,
        examined: stream.len(),
        stopped,
        score: 0.0,
        evidence: Vec::new(),
    };
    score(
        &mut candidate,
        &bodies,
        prior,
        partial_tail,
        verifies_fixed_bytes(spec),
    );
    Some(candidate)
}

fn stop_reason(err: &CodecError) -> String {
    err.to_string()
}

/// Whether `body` starts like an ISO 8583 message: a 4-digit MTI (version 0-2, class 1-9).
fn starts_with_mti(body: &[u8]) -> bool {
    matches!(body, [v, c, f, o, ..]
        if (b'0'..=b'2').contains(v) && (b'1'..=b'9').contains(c)
            && f.is_ascii_digit() && o.is_ascii_digit())
}

/// Whether the spec has fixed bytes that every frame must carry: each frame found then verifies
/// them, which is evidence a bare length lacks. Zero bytes next to a length field are no such
/// evidence: a wider length field explains them as well.
fn verifies_fixed_bytes(spec: &str) -> bool {
    spec.split(',').any(|option| {
        ["before=", "after=", "trailer="].iter().any(|key| {
            option
                .strip_prefix(key)
                .is_some_and(|hex| hex.bytes().any(|d| d != b'0'))
        })
    })
}

fn score(
    c: &mut Candidate,
    bodies: &[bytes::Bytes],
    prior: f64,
    partial_tail: bool,
    fixed_bytes: bool,
) {
    let coverage = c.coverage();
    let n = bodies.len() as f64;
    let tail = (c.examined - c.explained) as f64 / c.examined.max(1) as f64;
    let mut score = 100.0 * coverage;
    if partial_tail && c.explained < c.examined {
        // Half credit for a tail that is the start of a frame.
        score += 50.0 * tail;
        c.evidence.push(format!(
            "ends inside a frame after {} bytes (a capture cut short?)",
            c.explained
        ));
    }
    if fixed_bytes && c.frames > 1 {
        score += 6.0 * (1.0 + n).ln();
        c.evidence.push(format!(
            "the fixed bytes are present in all {} frames",
            c.frames
        ));
    }
    c.evidence.push(format!(
        "{} frame{} explain {:.1}% of {} bytes",
        c.frames,
        if c.frames == 1 { "" } else { "s" },
        100.0 * coverage,
        c.examined
    ));
    // Each frame boundary found is evidence, with diminishing returns.
    score += 8.0 * (1.0 + n).ln();
    let mti = bodies.iter().filter(|b| starts_with_mti(b)).count();
    if mti > 0 {
        let share = mti as f64 / n;
        score += 30.0 * share;
        c.evidence.push(format!(
            "{mti} of {} bodies start with an ISO 8583 MTI",
            c.frames
        ));
    }
    let empty = bodies.iter().filter(|b| b.is_empty()).count();
    if empty > 0 {
        score -= 30.0 * empty as f64 / n;
        c.evidence
            .push(format!("{empty} empty frames (keepalives?)"));
    }
    if c.spec == "lines" && c.frames > 1 && bodies.iter().all(|b| b.ends_with(b"\r")) {
        score -= 3.0;
        c.evidence
            .push("every line ends in CR: `lines:crlf` fits better".to_owned());
    }
    let mut lengths: Vec<usize> = bodies.iter().map(|b| b.len()).collect();
    lengths.sort_unstable();
    let median = lengths[lengths.len() / 2];
    if median < 3 && c.frames > 1 {
        score -= 30.0;
        c.evidence
            .push(format!("implausibly short frames (median {median} bytes)"));
    }
    if let Some(reason) = &c.stopped {
        if !partial_tail {
            c.evidence
                .push(format!("stops at stream offset {}: {reason}", c.explained));
        }
    }
    c.score = score - prior;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_tiny_streams_give_few_or_no_candidates() {
        assert!(sniff(b"").is_empty());
        let one = sniff(b"x");
        assert!(one.iter().all(|c| c.frames == 1));
    }

    #[test]
    fn the_mti_test_is_strict() {
        assert!(starts_with_mti(b"0200..."));
        assert!(starts_with_mti(b"1814"));
        assert!(!starts_with_mti(b"0000"));
        assert!(!starts_with_mti(b"3200"));
        assert!(!starts_with_mti(b"02a0"));
    }
}
