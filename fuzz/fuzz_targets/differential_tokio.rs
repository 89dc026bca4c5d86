//! Differential: msgframe's `LengthPrefixed` with an n-byte big-endian body length against
//! tokio-util's `LengthDelimitedCodec` configured alike (n-byte big-endian length at offset 0, no
//! adjustment, header stripped, same maximum). Over the same bytes, whole and in the same chunks,
//! both must deliver the same frames and fail at the same frame index: tokio-util's
//! "frame size too big" is msgframe's `FrameTooLong`, its "bytes remaining on stream" at
//! end-of-stream is msgframe's `UnexpectedEof`.
//!
//! Input: byte 0 selects n from {1, 2, 3, 4, 8}; byte 1 (% 4) selects how the maximum is made from
//! the next 8 bytes `m` (u64 little-endian, always read): 0 `m & 0xFF`, 1 `m & 0xFFFF`, 2 the
//! field's largest value minus `m & 0xFF`, 3 `m` itself (anything, also beyond the field's range
//! and beyond `isize::MAX`). Then the chunk plan and the stream.
//!
//! Genuine differences between the two, encoded below rather than papered over:
//!
//! 1. A maximum above what the length field can express: tokio-util silently clips it to the
//!    field's largest value; msgframe refuses the configuration (`InvalidConfig`). The target checks
//!    both behaviours, then compares tokio-util with msgframe configured with the clipped maximum.
//! 2. 8-byte fields, maximum above `isize::MAX - 8`: tokio-util accepts any maximum up to
//!    `usize::MAX` (`u64::MAX` clipped to usize); msgframe refuses one above `isize::MAX - header`
//!    (a frame must fit in one buffer). Compared with msgframe at `isize::MAX - 8`; frames claiming
//!    more than that are cut off by (3) before either decoder sees them.
//! 3. tokio-util reserves the whole claimed frame length as soon as a header within the maximum
//!    arrives (`src.reserve(n)`), so a claim of, say, 2^40 bytes within a large maximum makes it
//!    allocate (or abort on) that much; msgframe reserves at most 64 KiB ahead of the arrived
//!    bytes. The differential stream is therefore cut before the first header that claims more than
//!    1 MiB within the maximum; msgframe alone still decodes the whole input (with its capacity
//!    check) through `check_decoder`.
//! 4. After "frame size too big" tokio-util is not poisoned: calling `decode` again re-reads the
//!    same header and fails again; msgframe returns `Poisoned`. Only the first error is compared.
//! 5. A stream that ends right after a header claiming a non-empty body, before any body byte:
//!    msgframe reports `UnexpectedEof` (the header buffered, more expected); tokio-util ends
//!    silently (its `decode_eof` fails only when bytes remain in the buffer, and it has already
//!    consumed the header). Encoded as `Ev::EofAfterHeader`, which tokio-util's runs show as
//!    nothing.
//!
//! tokio-util's maximum counts the length field's value only, which without adjustment is the body,
//! exactly msgframe's maximum: a claim equal to the maximum is delivered by both, one above it fails
//! in both (the seed corpus has both boundaries).
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use msgframe_codec::header::LengthEncoding;
use msgframe_codec::{CodecError, Decoder as _, LengthPrefixed};
use msgframe_fuzz::{check_decoder, check_model, check_parse, model, ChunkPlan, Expect, Reader};
use tokio_util::codec::{Decoder as _, LengthDelimitedCodec, LengthDelimitedCodecError};

const WIDTHS: [usize; 5] = [1, 2, 3, 4, 8];

/// Claims within the maximum above this are not fed to tokio-util (difference 3).
const TOKIO_RESERVE_LIMIT: u64 = 1 << 20;

/// What either decoder did, in common terms.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Frame(Bytes),
    /// A header claims more than the maximum.
    TooBig,
    /// The stream ended inside a frame.
    Eof,
    /// The stream ended right after a header claiming a non-empty body (difference 5): msgframe
    /// only.
    EofAfterHeader,
}

fn ours_run(template: &LengthPrefixed, stream: &[u8], plan: &ChunkPlan) -> Vec<Ev> {
    let mut d = template.clone();
    let max = d.max_frame_length() as u64;
    let header = d.header_len();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let map = |e: CodecError| match e {
        CodecError::FrameTooLong {
            length,
            exact: true,
            max: m,
            discarding: false,
            ..
        } if m == max && length > max => Ev::TooBig,
        CodecError::UnexpectedEof {
            buffered,
            expected: Some(total),
            ..
        } if buffered == header && total > header as u64 => Ev::EofAfterHeader,
        CodecError::UnexpectedEof { .. } => Ev::Eof,
        e => panic!("msgframe error impossible for a plain big-endian body length: {e:?}"),
    };
    for chunk in plan.split(stream) {
        buf.extend_from_slice(chunk);
        loop {
            match d.decode(&mut buf) {
                Ok(Some(f)) => out.push(Ev::Frame(f)),
                Ok(None) => break,
                Err(e) => {
                    out.push(map(e));
                    return out;
                }
            }
        }
    }
    loop {
        match d.decode_eof(&mut buf) {
            Ok(Some(f)) => out.push(Ev::Frame(f)),
            Ok(None) => return out,
            Err(e) => {
                out.push(map(e));
                return out;
            }
        }
    }
}

fn tokio_run(template: &LengthDelimitedCodec, stream: &[u8], plan: &ChunkPlan) -> Vec<Ev> {
    let mut c = template.clone();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let map = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::InvalidData
            && e.get_ref()
                .is_some_and(|inner| inner.is::<LengthDelimitedCodecError>())
        {
            Ev::TooBig
        } else if e.kind() == std::io::ErrorKind::Other
            && e.to_string() == "bytes remaining on stream"
        {
            Ev::Eof
        } else {
            panic!("unexpected tokio-util error: {e:?}")
        }
    };
    for chunk in plan.split(stream) {
        buf.extend_from_slice(chunk);
        loop {
            match c.decode(&mut buf) {
                Ok(Some(f)) => out.push(Ev::Frame(f.freeze())),
                Ok(None) => break,
                Err(e) => {
                    out.push(map(e));
                    return out;
                }
            }
        }
    }
    loop {
        match c.decode_eof(&mut buf) {
            Ok(Some(f)) => out.push(Ev::Frame(f.freeze())),
            Ok(None) => return out,
            Err(e) => {
                out.push(map(e));
                return out;
            }
        }
    }
}

fn big_endian(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |v, &b| v << 8 | u64::from(b))
}

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    let n = WIDTHS[usize::from(r.u8()) % WIDTHS.len()];
    let mode = r.u8() % 4;
    let m = r.uint_le(8);
    let field_max: u64 = if n == 8 { u64::MAX } else { (1 << (8 * n)) - 1 };
    let requested = match mode {
        0 => m & 0xFF,
        1 => m & 0xFFFF,
        2 => field_max.saturating_sub(m & 0xFF),
        _ => m,
    };
    // 64-bit targets only: usize is u64.
    let requested = usize::try_from(requested).expect("64-bit usize");
    let plan = ChunkPlan::read(&mut r);
    let stream = r.rest();

    let tokio = LengthDelimitedCodec::builder()
        .length_field_offset(0)
        .length_field_length(n)
        .length_adjustment(0)
        .big_endian()
        .max_frame_length(requested)
        .new_codec();
    let tokio_max = tokio.max_frame_length();
    // Difference 1 (tokio-util side): a maximum beyond the field's range is clipped to it.
    assert_eq!(tokio_max as u64, (requested as u64).min(field_max));

    let addressable = isize::MAX as usize - n;
    let ours_max = tokio_max.min(addressable);
    let build = |max: usize| {
        LengthPrefixed::builder(LengthEncoding::big_endian(n).unwrap())
            .max_frame_length(max)
            .build()
    };
    match build(requested) {
        Ok(d) => {
            assert!(requested as u64 <= field_max && requested <= addressable);
            assert_eq!(d.max_frame_length(), requested);
        }
        // Differences 1 and 2 (msgframe side): refused, not clipped.
        Err(CodecError::InvalidConfig(_)) => {
            assert!(requested as u64 > field_max || requested > addressable);
        }
        Err(e) => panic!("unexpected build error: {e}"),
    }
    let ours = build(ours_max).expect("the clipped maximum builds");
    assert_eq!(ours.max_frame_length(), ours_max);
    if ours_max != tokio_max {
        // Difference 2.
        assert!(n == 8 && tokio_max > addressable);
    }

    // msgframe alone, on the whole input: chunking, capacity, poisoning, model, borrowed API.
    let whole = check_decoder(
        &ours,
        stream,
        &plan,
        Expect {
            max_frame: ours_max,
            relax_inexact: false,
        },
    );
    check_model(
        &whole,
        &model::length_prefixed(ours.config(), ours_max, stream),
    );
    check_parse(&ours, stream, &whole);

    // Difference 3: cut the stream before a header that would make tokio-util reserve its claim.
    let mut pos = 0;
    let mut cut = stream.len();
    while pos + n <= stream.len() {
        let claim = big_endian(&stream[pos..pos + n]);
        if claim > tokio_max as u64 {
            break; // both fail here (ours_max <= tokio_max)
        }
        if claim > TOKIO_RESERVE_LIMIT {
            cut = pos;
            break;
        }
        pos += n + claim as usize;
    }
    let stream = &stream[..cut];

    let whole_plan = ChunkPlan::whole();
    let reference = ours_run(&ours, stream, &whole_plan);
    // Difference 5: what tokio-util shows for msgframe's events.
    let mut tokio_reference = reference.clone();
    if tokio_reference.last() == Some(&Ev::EofAfterHeader) {
        tokio_reference.pop();
    }
    for (who, plan, got, want) in [
        (
            "tokio-util, whole",
            &whole_plan,
            tokio_run(&tokio, stream, &whole_plan),
            &tokio_reference,
        ),
        (
            "msgframe, chunked",
            &plan,
            ours_run(&ours, stream, &plan),
            &reference,
        ),
        (
            "tokio-util, chunked",
            &plan,
            tokio_run(&tokio, stream, &plan),
            &tokio_reference,
        ),
    ] {
        assert_eq!(
            &got, want,
            "{who} differs from msgframe (whole) for n={n}, max={ours_max} (tokio {tokio_max}), plan {plan:?}"
        );
    }
});
