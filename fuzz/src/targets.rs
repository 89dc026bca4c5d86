//! The bodies of the framing targets that share code.

use bytes::BytesMut;
use msgframe_codec::header::LengthEncoding;
use msgframe_codec::{
    CodecError, Decoder, EmptyForm, EmptyFrames, Encoder, FramingSpec, LengthCounts,
    LengthPrefixed, LengthPrefixedConfig, Oversize,
};

use crate::{
    check_decoder, check_model, check_parse, model, ChunkPlan, Event, Expect, Outcome, Reader,
};

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
/// Most inputs have no trailer: byte 2's bit 4 clear (all the seeds without one), or a trailer
/// byte asking for 0 bytes (with counts-trailer or keep-trailer, a configuration `build()` must
/// refuse); the others have a 1-3 byte trailer.
///
/// Input layout (every byte is read, used or not; missing bytes read as 0):
///
/// | byte | meaning |
/// |------|---------|
/// | 0 | width: `1 + b % widths` (ascii 10, hex 16, bcd 5, be/le 8) |
/// | 1 | flags: bits 0-1 counts (0 body, 1 from-length, 2 whole frame, 3 body), bit 2 oversize=discard, bit 3 empty=skip, bit 4 lenient (ascii only), bit 5 explicit strip, bit 6 explicit max, bit 7 no-verify |
/// | 2 | bits 0-1: bytes before the length field (0-3); bits 2-3: bytes after it (0-3); bit 4: a trailer byte follows the `after` bytes |
/// | .. | the `before` bytes, then the `after` bytes |
/// | .. | (when bit 4) the trailer byte: bits 0-1 trailer length (0-3), bit 2 counts-trailer, bit 3 keep-trailer, bits 4-5 the empty form (1 bare, 2 framed, else the default); then the trailer bytes |
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
    let trailer_byte = if sizes & 0x10 != 0 { r.u8() } else { 0 };
    let trailer = r.bytes(usize::from(trailer_byte & 3)).to_vec();
    let adjustment = i64::from(r.u8() as i8 % 17);
    let strip_byte = usize::from(r.u8());
    let max = r.uint_le(2) as usize;

    let mut cfg = LengthPrefixedConfig::new(encoding)
        .before(before)
        .after(after)
        .trailer(trailer)
        .counts_trailer(trailer_byte & 4 != 0)
        .keep_trailer(trailer_byte & 8 != 0)
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
    match (trailer_byte >> 4) & 3 {
        1 => cfg = cfg.empty_form(EmptyForm::Bare),
        2 => cfg = cfg.empty_form(EmptyForm::Framed),
        _ => {}
    }
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
            assert!(
                matches!(e, CodecError::InvalidConfig(_)),
                "build() fails with {e:?}"
            );
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
    if cfg.trailer.is_empty() {
        assert!(
            !cfg.counts_trailer && !cfg.keep_trailer,
            "counts-trailer / keep-trailer without a trailer built"
        );
    }

    let max = decoder.max_frame_length();
    let strip = cfg.strip.unwrap_or(header_len);
    // A delivered frame is the body plus the header bytes that are not stripped, plus the trailer
    // when it is kept.
    let kept = if cfg.keep_trailer {
        cfg.trailer.len()
    } else {
        0
    };
    let max_frame = max + (header_len - strip) + kept;
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
            if let Event::Frame(f) = e {
                assert_ne!(
                    f.len(),
                    header_len - strip + kept,
                    "an empty frame was not skipped"
                );
            }
        }
    }
    check_model(&whole, &model::length_prefixed(&cfg, max, stream));
    if cfg.oversize == Oversize::Fail {
        check_parse(&decoder, stream, &whole);
    }
    check_reencode(&decoder, &cfg, &whole);
}

/// Every delivered frame's body re-encodes: `encode` writes `before`, a length field, `after`, the
/// body and the trailer (`tail_for(body)`: none after a bare empty frame, which is also delivered
/// without one), `head_len()` is the header's length, and decoding what was
/// written gives the body back (with the configured trailer when it is kept). The header bytes are
/// not compared with the stream's: a lenient or lower-case length field re-encodes differently,
/// and unverified fixed bytes may differ.
fn check_reencode(decoder: &LengthPrefixed, cfg: &LengthPrefixedConfig, whole: &Outcome) {
    let (b, a, t) = (cfg.before.len(), cfg.after.len(), cfg.trailer.len());
    let h = cfg.header_len();
    let unstripped = h - cfg.strip.unwrap_or(h);
    let kept = if cfg.keep_trailer { t } else { 0 };
    assert_eq!(decoder.head_len(), h);
    assert_eq!(
        decoder.tail(),
        &cfg.trailer[..],
        "tail() is not the trailer"
    );
    for event in &whole.events {
        let Event::Frame(frame) = event else { continue };
        // Shorter than a framed empty frame: a bare one, the header alone.
        let in_frame = if frame.len() < unstripped + kept {
            0
        } else {
            kept
        };
        let body = &frame[unstripped..frame.len() - in_frame];
        let tail = decoder.tail_for(body.len());
        assert!(
            tail.is_empty() || tail == &cfg.trailer[..],
            "tail_for() is not the trailer"
        );
        let mut wire = BytesMut::new();
        decoder.encode(body, &mut wire).unwrap_or_else(|e| {
            panic!(
                "a delivered body of {} bytes does not encode: {e}",
                body.len()
            )
        });
        assert_eq!(wire.len(), h + body.len() + tail.len(), "encoded length");
        assert_eq!(&wire[..b], &cfg.before[..], "encoded `before`");
        assert_eq!(&wire[h - a..h], &cfg.after[..], "encoded `after`");
        assert_eq!(&wire[h..h + body.len()], body, "encoded body");
        assert_eq!(&wire[h + body.len()..], tail, "encoded trailer");
        let mut fresh = decoder.clone();
        let again = fresh
            .decode_eof(&mut wire)
            .unwrap_or_else(|e| panic!("an encoded frame does not decode: {e}"));
        if body.is_empty() && cfg.empty == EmptyFrames::Skip {
            assert_eq!(again, None);
            continue;
        }
        let again = again.expect("an encoded frame decodes to a frame");
        let kept = if tail.is_empty() { 0 } else { kept };
        assert_eq!(again.len(), unstripped + body.len() + kept);
        assert_eq!(
            &again[unstripped..again.len() - kept],
            body,
            "re-decoded body"
        );
        assert_eq!(
            &again[again.len() - kept..],
            &cfg.trailer[..kept],
            "re-decoded trailer"
        );
        assert!(wire.is_empty(), "an encoded frame leaves bytes behind");
    }
}
