//! Netstrings (`5:hello,`) under any maximum, from 0 to far beyond one buffer (`usize::MAX`): the
//! length prefix has as many digits as the peer sends, so it must never overflow, whatever the
//! maximum.
//!
//! Input: byte 0 picks how bytes 1-8 (`m`, u64 little-endian, always read) make the maximum:
//! `0` m & 0xFF, `1` m & 0xFFFF, `2` m (any u64), `3` 10^(byte 1 % 20) + byte 2 % 7 - 3 (around a
//! change of digit count), `4` usize::MAX - (m & 0xFF), `5` Netstring::MAX + (m & 0xFF) - 128,
//! `6` the default (8 MiB). Then the chunk plan and the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msgframe_codec::{Encoder, Framing, FramingSpec, Netstring};
use msgframe_fuzz::{
    check_decoder, check_model, check_parse, model, ChunkPlan, Event, Expect, Reader,
};

/// The configured maximum (before `Netstring::new` lowers it to `Netstring::MAX`); `None` for the
/// default.
fn maximum(r: &mut Reader<'_>) -> Option<usize> {
    let mode = r.u8() % 7;
    let m = r.uint_le(8);
    let wide = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    Some(match mode {
        0 => wide(m & 0xFF),
        1 => wide(m & 0xFFFF),
        2 => wide(m),
        3 => wide(10u64.pow((m & 0xFF) as u32 % 20))
            .saturating_add_signed(((m >> 8) & 0xFF) as isize % 7 - 3),
        4 => usize::MAX - wide(m & 0xFF),
        5 => (Netstring::MAX - 128).saturating_add(wide(m & 0xFF)),
        _ => return None,
    })
}

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    let configured = maximum(&mut r);
    let decoder = configured.map_or_else(Netstring::default, Netstring::new);
    let max = decoder.max_frame_length();
    if let Some(configured) = configured {
        assert_eq!(
            max,
            configured.min(Netstring::MAX),
            "Netstring::new({configured})"
        );
        // In a spec, a maximum beyond one buffer is refused rather than lowered.
        let spec = FramingSpec::Netstring { max: configured };
        match spec.build() {
            Ok(framing) => {
                assert!(configured <= Netstring::MAX, "{spec} builds");
                assert_eq!(framing.spec(), spec);
                let text = spec.to_string();
                assert_eq!(text.parse::<FramingSpec>().as_ref(), Ok(&spec), "{text}");
            }
            Err(e) => {
                let _ = e.to_string();
                assert!(configured > Netstring::MAX, "{spec} refused: {e}");
            }
        }
    }
    let plan = ChunkPlan::read(&mut r);
    let stream = r.rest();
    // The first digit past the maximum fails in every chunking: no relaxation needed.
    let expect = Expect {
        max_frame: max,
        relax_inexact: false,
    };
    let whole = check_decoder(&decoder, stream, &plan, expect);
    check_model(&whole, &model::netstring(max, stream));
    check_parse(&decoder, stream, &whole);
    // Netstrings have one encoding: the frames delivered re-encode to the bytes they came from.
    let mut wire = bytes::BytesMut::new();
    for e in &whole.events {
        if let Event::Frame(f) = e {
            decoder
                .encode(f, &mut wire)
                .expect("a delivered frame encodes");
        }
    }
    assert_eq!(
        &wire[..],
        &stream[..wire.len().min(stream.len())],
        "re-encoded frames differ from the stream"
    );
    // The same through the run-time `Framing` enum.
    let framing = Framing::from(decoder);
    let via_enum = check_decoder(&framing, stream, &plan, expect);
    assert_eq!(
        via_enum.events, whole.events,
        "Framing::Netstring differs from Netstring"
    );
});
