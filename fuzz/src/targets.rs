//! The bodies of the framing targets that share code.

use msgframe_codec::header::LengthEncoding;
use msgframe_codec::{EmptyFrames, FramingSpec, LengthCounts, LengthPrefixedConfig, Oversize};

use crate::{check_decoder, check_model, check_parse, model, ChunkPlan, Expect, Reader};

/// The length encoding a `length_*` target fuzzes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `length_ascii`: 1..=10 digits, strict or lenient.
    Ascii,
    /// `length_hex`: 1..=16 digits.
    Hex,
    /// `length_bcd`: 1..=5 bytes.
    Bcd,
    /// `length_be`: 1..=8 bytes.
    BigEndian,
    /// `length_le`: 1..=8 bytes.
    LittleEndian,
}

/// A length-prefixed configuration read from the input, then the chunk plan, then the stream.
///
/// Input layout (every byte is read, used or not; missing bytes read as 0):
///
/// | byte | meaning |
/// |------|---------|
/// | 0 | width: `1 + b % widths` (ascii 10, hex 16, bcd 5, be/le 8) |
/// | 1 | flags: bits 0-1 counts (0 body, 1 from-length, 2 whole frame, 3 body), bit 2 oversize=discard, bit 3 empty=skip, bit 4 lenient (ascii only), bit 5 explicit strip, bit 6 explicit max, bit 7 no-verify |
/// | 2 | bits 0-1: bytes before the length field (0-3); bits 2-3: bytes after it (0-3) |
/// | .. | the `before` bytes, then the `after` bytes |
/// | +0 | adjustment: `(b as i8) % 17`, so -16..=16 |
/// | +1 | strip: `b % (header_len + 1)` (when bit 5) |
/// | +2, +3 | max: u16 little-endian (when bit 6) |
/// | .. | chunk plan ([`ChunkPlan`]), then the stream |
pub fn length_prefixed(kind: Kind, data: &[u8]) {
    let mut r = Reader::new(data);
    let width_byte = usize::from(r.u8());
    let flags = r.u8();
    let sizes = r.u8();
    let encoding = match kind {
        Kind::Ascii => {
            let e = msgframe_codec::header::AsciiDecimal::new(1 + width_byte % 10).unwrap();
            if flags & 0x10 != 0 {
                LengthEncoding::from(e.lenient())
            } else {
                LengthEncoding::from(e)
            }
        }
        Kind::Hex => LengthEncoding::ascii_hex(1 + width_byte % 16).unwrap(),
        Kind::Bcd => LengthEncoding::packed_bcd(1 + width_byte % 5).unwrap(),
        Kind::BigEndian => LengthEncoding::big_endian(1 + width_byte % 8).unwrap(),
        Kind::LittleEndian => LengthEncoding::little_endian(1 + width_byte % 8).unwrap(),
    };
    let before = r.bytes(usize::from(sizes & 3)).to_vec();
    let after = r.bytes(usize::from((sizes >> 2) & 3)).to_vec();
    let adjustment = i64::from(r.u8() as i8 % 17);
    let strip_byte = usize::from(r.u8());
    let max = r.uint_le(2) as usize;

    let mut cfg = LengthPrefixedConfig::new(encoding)
        .before(before)
        .after(after)
        .verify_fixed(flags & 0x80 == 0)
        .counts(match flags & 3 {
            1 => LengthCounts::FromLengthField,
            2 => LengthCounts::WholeFrame,
            _ => LengthCounts::Body,
        })
        .adjustment(adjustment)
        .oversize(if flags & 4 != 0 {
            Oversize::Discard
        } else {
            Oversize::Fail
        })
        .empty(if flags & 8 != 0 {
            EmptyFrames::Skip
        } else {
            EmptyFrames::Deliver
        });
    let header_len = cfg.header_len();
    if flags & 0x20 != 0 {
        cfg = cfg.strip(strip_byte % (header_len + 1));
    }
    if flags & 0x40 != 0 {
        cfg = cfg.max_frame_length(max);
    }
    let plan = ChunkPlan::read(&mut r);
    let stream = r.rest();

    let decoder = match cfg.clone().build() {
        Ok(d) => d,
        Err(e) => {
            assert!(!e.is_resumable());
            let _ = e.to_string();
            return;
        }
    };
    // A buildable configuration prints as a spec that parses back to itself.
    let spec = FramingSpec::LengthPrefixed(cfg.clone());
    let text = spec.to_string();
    match text.parse::<FramingSpec>() {
        Ok(back) => assert_eq!(
            back, spec,
            "spec `{text}` does not parse back to its config"
        ),
        Err(e) => panic!("buildable config prints as `{text}`, which does not parse: {e}"),
    }

    let max = decoder.max_frame_length();
    let strip = cfg.strip.unwrap_or(header_len);
    // A delivered frame is the body plus the header bytes that are not stripped.
    let max_frame = max + (header_len - strip);
    let whole = check_decoder(
        &decoder,
        stream,
        &plan,
        Expect {
            max_frame,
            relax_inexact: false,
        },
    );
    if cfg.empty == EmptyFrames::Skip {
        for e in &whole.events {
            if let crate::Event::Frame(f) = e {
                assert_ne!(
                    f.len(),
                    header_len - strip,
                    "an empty frame was not skipped"
                );
            }
        }
    }
    check_model(&whole, &model::length_prefixed(&cfg, max, stream));
    if cfg.oversize == Oversize::Fail {
        check_parse(&decoder, stream, &whole);
    }
}
