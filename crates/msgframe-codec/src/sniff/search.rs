//! Which framings to try on a stream: every length header whose frames chain through the
//! stream's first frames (encodings, widths, fixed bytes before and after it, what it counts, an
//! adjustment, a trailer: each read off the stream, not guessed), delimiters that occur in it,
//! netstrings, fixed sizes whose frames begin alike.

use std::collections::HashSet;

use msgframe_header::{LengthEncoding, LengthField};

use crate::{DelimitedConfig, FramingSpec, LengthCounts, LengthPrefixedConfig};

/// A framing to try, and what describing it costs beyond naming its kind (fixed bytes, options).
pub(super) struct Trial {
    pub(super) spec: FramingSpec,
    pub(super) option_bits: f64,
}

/// Fixed bytes tried before and after a length field, at most.
const FIXED_AT_MOST: usize = 4;
/// Adjustments tried (what a length field's value is off by).
const ADJUST: std::ops::RangeInclusive<i64> = -8..=8;
/// Trailer lengths tried.
const TRAILER_AT_MOST: usize = 2;
/// Frames followed to decide whether a length header chains through the stream.
const CHAIN: usize = 8;

fn encodings() -> Vec<LengthEncoding> {
    let mut out = Vec::new();
    out.extend((1..=10).filter_map(|w| LengthEncoding::ascii_decimal(w).ok()));
    out.extend((1..=8).filter_map(|w| LengthEncoding::ascii_hex(w).ok()));
    out.extend((1..=5).filter_map(|w| LengthEncoding::packed_bcd(w).ok()));
    out.extend((1..=8).filter_map(|w| LengthEncoding::big_endian(w).ok()));
    out.extend((2..=8).filter_map(|w| LengthEncoding::little_endian(w).ok()));
    out
}

/// Every framing worth trying on `stream`.
pub(super) fn trials(stream: &[u8]) -> Vec<Trial> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut push = |spec: FramingSpec, option_bits: f64| {
        if seen.insert(spec.to_string()) {
            out.push(Trial { spec, option_bits });
        }
    };
    length_headers(stream, &mut push);
    delimiters(stream, &mut push);
    if stream.first().is_some_and(u8::is_ascii_digit) {
        push(
            FramingSpec::Netstring {
                max: crate::DEFAULT_MAX_FRAME_LENGTH,
            },
            0.0,
        );
    }
    fixed_sizes(stream, &mut push);
    out
}

/// A length header's layout: fixed bytes before, the field, fixed bytes after.
struct Layout<'a> {
    before: &'a [u8],
    field: LengthEncoding,
    after: &'a [u8],
}

impl Layout<'_> {
    fn header_len(&self) -> usize {
        self.before.len() + self.field.width() + self.after.len()
    }

    /// The value of the length field of a header at `at`; `Ok(None)` when the stream ends inside
    /// the header (its bytes so far agree); `Err` when no header is there.
    fn read(&self, stream: &[u8], at: usize) -> Result<Option<u64>, ()> {
        let rest = &stream[at..];
        let agree = |fixed: &[u8], from: usize| {
            let have = rest.len().saturating_sub(from).min(fixed.len());
            rest.get(from..from + have) == Some(&fixed[..have])
        };
        let (b, w) = (self.before.len(), self.field.width());
        if !agree(self.before, 0) || !agree(self.after, b + w) {
            return Err(());
        }
        if rest.len() < b + w {
            return Ok(None);
        }
        self.field.decode(&rest[b..b + w]).map(Some).map_err(|_| ())
    }

    /// Where each frame ends, following the chain from the stream's start for up to [`CHAIN`]
    /// frames, when the frame starting at `at` with field value `d` ends at `end(at, d)`: `None`
    /// when a header is not where a frame ends, or fewer than two frames are whole (unless the
    /// stream ends exactly after the first).
    fn chain(
        &self,
        stream: &[u8],
        end: impl Fn(usize, u64) -> Option<usize>,
    ) -> Option<Vec<usize>> {
        let mut at = 0;
        let mut ends = Vec::new();
        while ends.len() < CHAIN && at < stream.len() {
            let d = match self.read(stream, at) {
                Ok(Some(d)) => d,
                Ok(None) => break,
                // No header where the frame ends: a chain of two frames or more stops here (the
                // capture may go wrong later), a shorter one is no chain.
                Err(()) if ends.len() >= 2 => break,
                Err(()) => return None,
            };
            let next = end(at, d)?;
            if next <= at || next < at + self.header_len() {
                return None;
            }
            if next > stream.len() {
                break;
            }
            ends.push(next);
            at = next;
        }
        let whole = ends.len() >= 2 || ends.last() == Some(&stream.len());
        whole.then_some(ends)
    }
}

fn length_headers(stream: &[u8], push: &mut impl FnMut(FramingSpec, f64)) {
    for field in encodings() {
        let w = field.width();
        for b in 0..=FIXED_AT_MOST {
            for a in 0..=FIXED_AT_MOST {
                if stream.len() < b + w + a {
                    continue;
                }
                let layout = Layout {
                    before: &stream[..b],
                    field,
                    after: &stream[b + w..b + w + a],
                };
                if layout.read(stream, 0).ok().flatten().is_none() {
                    continue;
                }
                let h = layout.header_len();
                let mut counts = vec![(LengthCounts::Body, h), (LengthCounts::WholeFrame, 0)];
                if b > 0 {
                    counts.push((LengthCounts::FromLengthField, b));
                }
                for (count, counted_from) in counts {
                    for adjust in ADJUST {
                        for trailer in 0..=TRAILER_AT_MOST {
                            for counts_trailer in [false, true] {
                                if trailer == 0 && counts_trailer {
                                    continue;
                                }
                                let extra = if counts_trailer { 0 } else { trailer };
                                let end = |at: usize, d: u64| {
                                    let len = i64::try_from(d).ok()? + adjust;
                                    let end = i64::try_from(at + counted_from + extra).ok()? + len;
                                    usize::try_from(end).ok()
                                };
                                let Some(ends) = layout.chain(stream, end) else {
                                    continue;
                                };
                                let trailer_bytes = match trailer {
                                    0 => &[][..],
                                    t => {
                                        // After the header, in every frame, the same bytes.
                                        let at = |e: usize| {
                                            e.checked_sub(t).and_then(|s| stream.get(s..e))
                                        };
                                        let Some(first) = at(ends[0]).filter(|_| ends[0] >= h + t)
                                        else {
                                            continue;
                                        };
                                        if ends.iter().any(|&e| at(e) != Some(first)) {
                                            continue;
                                        }
                                        first
                                    }
                                };
                                let mut config = LengthPrefixedConfig::new(field)
                                    .before(bytes::Bytes::copy_from_slice(layout.before))
                                    .after(bytes::Bytes::copy_from_slice(layout.after))
                                    .counts(count)
                                    .adjustment(adjust);
                                if trailer > 0 {
                                    config = config
                                        .trailer(bytes::Bytes::copy_from_slice(trailer_bytes))
                                        .counts_trailer(counts_trailer);
                                }
                                let bits = fixed_bits(layout.before)
                                    + fixed_bits(layout.after)
                                    + fixed_bits(trailer_bytes)
                                    + if count == LengthCounts::Body {
                                        0.0
                                    } else {
                                        1.0
                                    }
                                    + if adjust == 0 { 0.0 } else { 5.0 }
                                    + if trailer > 0 { 1.0 } else { 0.0 };
                                if config.clone().build().is_ok() {
                                    push(FramingSpec::LengthPrefixed(config), bits);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What naming fixed bytes costs: less for the bytes protocols put around their frames (NUL,
/// STX, ETX, 0xFF, CR, LF, FS), more for letters and digits, which are far likelier to be the
/// start or end of bodies that happen to agree.
fn fixed_bits(bytes: &[u8]) -> f64 {
    bytes
        .iter()
        .map(|b| match b {
            0x00 | 0x01 | 0x02 | 0x03 | 0x0a | 0x0d | 0x1c | 0xff => 6.0,
            b if b.is_ascii_alphanumeric() => 10.0,
            _ => 8.0,
        })
        .sum()
}

fn delimiters(stream: &[u8], push: &mut impl FnMut(FramingSpec, f64)) {
    let common: [(&[u8], f64); 10] = [
        (b"\n", 0.0),
        (b";", 5.0),
        (b"|", 5.0),
        (b"\r\n", 1.0),
        (b"\x03", 2.0),
        (b"\x00", 2.0),
        (b"\x04", 3.0),
        (b"\x1c", 3.0),
        (b"\x1e", 3.0),
        (b"\x7e", 3.0),
    ];
    let mut tried: Vec<(Vec<u8>, f64)> =
        common.iter().map(|(d, bits)| (d.to_vec(), *bits)).collect();
    // What ends the stream may be what ends every frame, when it is a control byte: printable
    // bytes (spaces, `=`, `,`) end words and fields far more often than messages.
    let may_delimit = |b: &u8| !(0x20..0x7f).contains(b);
    if let Some(last) = stream.last().filter(|b| may_delimit(b)) {
        tried.push((vec![*last], 8.0));
    }
    if let Some(last) = stream
        .get(stream.len().saturating_sub(2)..)
        .filter(|l| l.len() == 2)
    {
        if last.iter().all(may_delimit) {
            tried.push((last.to_vec(), 16.0));
        }
    }
    for (delimiter, bits) in tried {
        if !stream
            .windows(delimiter.len())
            .any(|w| w == delimiter.as_slice())
        {
            continue;
        }
        let config = if delimiter == b"\r\n" {
            DelimitedConfig::new(&b"\n"[..]).crlf(true)
        } else {
            DelimitedConfig::new(delimiter)
        };
        push(FramingSpec::Delimited(config), bits);
    }
}

/// Fixed sizes whose frames all begin with the stream's first byte (up to their eighth): the
/// smallest few.
fn fixed_sizes(stream: &[u8], push: &mut impl FnMut(FramingSpec, f64)) {
    let Some(&start) = stream.first() else {
        return;
    };
    let mut found = 0;
    for n in 2..=stream.len() / 3 {
        let frames = (stream.len() / n).min(8);
        if (1..frames).all(|k| stream[k * n] == start) {
            push(
                FramingSpec::FixedLength { len: n },
                2.0 * (n as f64).log2() + 1.0,
            );
            found += 1;
            if found == 8 {
                return;
            }
        }
    }
}
