//! Reference decoders: straight-line restatements of each framing's documented rules, for the whole
//! stream at once followed by end-of-stream. Deliberately naive (no incremental state, no memchr), so
//! that a disagreement points at the optimised decoder or at the documentation.

use bytes::Bytes;
use msgframe_codec::header::LengthField;
use msgframe_codec::{
    CodecError, DelimitedConfig, EmptyForm, EmptyFrames, FixedPart, Hex, LengthCounts,
    LengthPrefixedConfig, Oversize, UnterminatedAtEof,
};

use crate::Event;

fn frame(bytes: &[u8]) -> Event {
    Event::Frame(Bytes::copy_from_slice(bytes))
}

fn hex(bytes: &[u8]) -> Hex {
    Hex(bytes.into())
}

/// Length-prefixed framing with `cfg` and the effective maximum body length `max`.
///
/// A frame is `before | length field | after | body | trailer`. The body length is the field's
/// value + adjustment - the counted header bytes - the trailer's length when the length counts it;
/// the frame is complete only with its trailer, whose bytes are then verified (unless `no-verify`)
/// before an empty body is skipped; the delivered frame keeps the trailer only with `keep-trailer`.
/// An oversized frame under `oversize=discard` is reported once and its header, body and trailer
/// skipped; a stream that ends inside it is `UnexpectedEof` for that frame. With a trailer, a length
/// field of 0 whose fixed bytes are right is a bare empty frame (the header alone) where the length
/// counts more than the adjustment adds, or where the empty form is `bare`.
pub fn length_prefixed(cfg: &LengthPrefixedConfig, max: usize, input: &[u8]) -> Vec<Event> {
    let b = cfg.before.len();
    let w = cfg.encoding.width();
    let a = cfg.after.len();
    let h = b + w + a;
    let t = cfg.trailer.len();
    let strip = cfg.strip.unwrap_or(h);
    let kept = if cfg.keep_trailer { t } else { 0 };
    let counted = match cfg.counts {
        LengthCounts::Body => 0,
        LengthCounts::FromLengthField => w + a,
        LengthCounts::WholeFrame => h,
    } as i128
        + if cfg.counts_trailer { t as i128 } else { 0 };
    let bare =
        t > 0 && (counted > i128::from(cfg.adjustment) || cfg.empty_form == Some(EmptyForm::Bare));
    let mut events = Vec::new();
    let mut pos = 0usize;
    loop {
        let rem = input.len() - pos;
        if rem == 0 {
            break;
        }
        if rem < h {
            events.push(Event::Error(CodecError::UnexpectedEof {
                offset: pos as u64,
                buffered: rem,
                expected: Some(h as u64),
            }));
            break;
        }
        let head = &input[pos..pos + h];
        let offset = pos as u64;
        if cfg.verify_fixed && head[..b] != cfg.before[..] {
            events.push(Event::Error(CodecError::FixedBytesMismatch {
                offset,
                part: FixedPart::BeforeLength,
                expected: hex(&cfg.before),
                found: hex(&head[..b]),
            }));
            break;
        }
        let field = &head[b..b + w];
        let value = match cfg.encoding.decode(field) {
            Ok(v) => v,
            Err(source) => {
                events.push(Event::Error(CodecError::Header { offset, source }));
                break;
            }
        };
        if cfg.verify_fixed && head[b + w..] != cfg.after[..] {
            events.push(Event::Error(CodecError::FixedBytesMismatch {
                offset,
                part: FixedPart::AfterLength,
                expected: hex(&cfg.after),
                found: hex(&head[b + w..]),
            }));
            break;
        }
        if bare && value == 0 {
            if cfg.empty != EmptyFrames::Skip {
                events.push(frame(&input[pos + strip..pos + h]));
            }
            pos += h;
            continue;
        }
        let body = i128::from(value) + i128::from(cfg.adjustment) - counted;
        if body < 0 {
            events.push(Event::Error(CodecError::LengthTooSmall {
                offset,
                field: hex(field),
                length: value,
                minimum: (counted - i128::from(cfg.adjustment)) as u64,
            }));
            break;
        }
        let body = u64::try_from(body).unwrap_or(u64::MAX);
        if body > max as u64 {
            let discarding = cfg.oversize == Oversize::Discard;
            events.push(Event::Error(CodecError::FrameTooLong {
                offset,
                length: body,
                exact: true,
                max: max as u64,
                discarding,
            }));
            if !discarding {
                break;
            }
            // Header, body and trailer are skipped; the frame's size saturates like its length.
            let total = body.saturating_add((h + t) as u64);
            if (rem as u64) < total {
                events.push(Event::Error(CodecError::UnexpectedEof {
                    offset,
                    buffered: rem,
                    expected: Some(total),
                }));
                break;
            }
            pos += total as usize;
            continue;
        }
        let end = h + body as usize;
        let total = end + t;
        if rem < total {
            events.push(Event::Error(CodecError::UnexpectedEof {
                offset,
                buffered: rem,
                expected: Some(total as u64),
            }));
            break;
        }
        let trailer = &input[pos + end..pos + total];
        if cfg.verify_fixed && trailer != &cfg.trailer[..] {
            events.push(Event::Error(CodecError::FixedBytesMismatch {
                offset,
                part: FixedPart::Trailer,
                expected: hex(&cfg.trailer),
                found: hex(trailer),
            }));
            break;
        }
        if body == 0 && cfg.empty == EmptyFrames::Skip {
            pos += total;
            continue;
        }
        events.push(frame(&input[pos + strip..pos + end + kept]));
        pos += total;
    }
    events
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    (0..=haystack.len().checked_sub(needle.len())?)
        .find(|&i| &haystack[i..i + needle.len()] == needle)
}

/// Delimited framing with `cfg` and the effective maximum `max`.
pub fn delimited(cfg: &DelimitedConfig, max: usize, input: &[u8]) -> Vec<Event> {
    let d = &cfg.delimiter[..];
    let discarding = cfg.oversize == Oversize::Discard;
    let mut events = Vec::new();
    let mut pos = 0usize;
    loop {
        let offset = pos as u64;
        match find(&input[pos..], d).map(|i| pos + i) {
            Some(found) => {
                let body_end = if cfg.crlf && found > pos && input[found - 1] == b'\r' {
                    found - 1
                } else {
                    found
                };
                let end = found + d.len();
                let len = body_end - pos;
                if len > max {
                    events.push(Event::Error(CodecError::FrameTooLong {
                        offset,
                        length: len as u64,
                        exact: true,
                        max: max as u64,
                        discarding,
                    }));
                    if !discarding {
                        break;
                    }
                    pos = end;
                    continue;
                }
                events.push(frame(
                    &input[pos..if cfg.keep_delimiter { end } else { body_end }],
                ));
                pos = end;
            }
            None => {
                let rest = input.len() - pos;
                // The last d.len() - 1 bytes may start a delimiter, and under crlf a `\r` before it
                // would not count: only more than max + that slack is surely too long.
                let slack = d.len() - 1 + usize::from(cfg.crlf);
                if rest > max.saturating_add(slack) {
                    events.push(Event::Error(CodecError::FrameTooLong {
                        offset,
                        length: (rest - slack) as u64,
                        exact: false,
                        max: max as u64,
                        discarding,
                    }));
                    // Discarding: the frame never ends; the stream ended inside it.
                    if discarding {
                        events.push(Event::Error(CodecError::UnexpectedEof {
                            offset,
                            buffered: rest,
                            expected: None,
                        }));
                    }
                    break;
                }
                if rest == 0 {
                    break;
                }
                events.push(match cfg.at_eof {
                    UnterminatedAtEof::Error => Event::Error(CodecError::UnexpectedEof {
                        offset,
                        buffered: rest,
                        expected: None,
                    }),
                    // The unterminated rest is a frame too: above the maximum it is refused.
                    UnterminatedAtEof::Deliver if rest > max => {
                        Event::Error(CodecError::FrameTooLong {
                            offset,
                            length: rest as u64,
                            exact: true,
                            max: max as u64,
                            discarding: false,
                        })
                    }
                    UnterminatedAtEof::Deliver => frame(&input[pos..]),
                });
                break;
            }
        }
    }
    events
}

/// Fixed-length framing of `len` bytes.
pub fn fixed_length(len: usize, input: &[u8]) -> Vec<Event> {
    let mut events: Vec<Event> = input.chunks_exact(len).map(frame).collect();
    let rest = input.len() % len;
    if rest > 0 {
        events.push(Event::Error(CodecError::UnexpectedEof {
            offset: (input.len() - rest) as u64,
            buffered: rest,
            expected: Some(len as u64),
        }));
    }
    events
}

/// Until-EOF framing with maximum `max`.
pub fn until_eof(max: usize, input: &[u8]) -> Vec<Event> {
    if input.len() > max {
        vec![Event::Error(CodecError::FrameTooLong {
            offset: 0,
            length: input.len() as u64,
            exact: false,
            max: max as u64,
            discarding: false,
        })]
    } else {
        vec![frame(input)]
    }
}

/// Netstrings (`length ':' data ','`) with the effective maximum `max`: the length in decimal
/// digits with no leading zero, refused at the first digit that takes it past `max` (with the value
/// then, saturated to u64), then `:`, the data and `,`. Lengths are computed in u128, which stays
/// below `10 * max + 9` and so never overflows.
pub fn netstring(max: usize, input: &[u8]) -> Vec<Event> {
    const DIGITS_THEN_COLON: &str = "a netstring starts with decimal digits, then ':'";
    let mut events = Vec::new();
    let mut pos = 0usize;
    while pos < input.len() {
        let offset = pos as u64;
        let rest = &input[pos..];
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits > 1 && rest[0] == b'0' {
            events.push(Event::Error(CodecError::Malformed {
                offset,
                bytes: hex(&rest[..2]),
                reason: "a netstring length has no leading zeros",
            }));
            break;
        }
        let mut len = 0u128;
        let mut too_long = None;
        for &d in &rest[..digits] {
            len = len * 10 + u128::from(d - b'0');
            if len > max as u128 {
                too_long = Some(u64::try_from(len).unwrap_or(u64::MAX));
                break;
            }
        }
        if let Some(length) = too_long {
            events.push(Event::Error(CodecError::FrameTooLong {
                offset,
                length,
                exact: false,
                max: max as u64,
                discarding: false,
            }));
            break;
        }
        if digits == rest.len() {
            // The stream ends inside the length.
            events.push(Event::Error(CodecError::UnexpectedEof {
                offset,
                buffered: rest.len(),
                expected: None,
            }));
            break;
        }
        if digits == 0 || rest[digits] != b':' {
            events.push(Event::Error(CodecError::Malformed {
                offset,
                bytes: hex(&rest[..(digits + 1).min(16)]),
                reason: DIGITS_THEN_COLON,
            }));
            break;
        }
        let len = len as usize; // at most max
        let total = digits + 1 + len + 1;
        if rest.len() < total {
            events.push(Event::Error(CodecError::UnexpectedEof {
                offset,
                buffered: rest.len(),
                expected: Some(total as u64),
            }));
            break;
        }
        if rest[total - 1] != b',' {
            events.push(Event::Error(CodecError::Malformed {
                offset,
                bytes: hex(&rest[total - 1..total]),
                reason: "a netstring ends with ','",
            }));
            break;
        }
        events.push(frame(&rest[digits + 1..digits + 1 + len]));
        pos += total;
    }
    events
}
