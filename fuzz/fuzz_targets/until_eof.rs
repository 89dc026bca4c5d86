//! Until-EOF framing: the whole stream is one message of at most `max` bytes.
//!
//! Input: bytes 0-1 max (u16 little-endian; 0xFFFF means the default 8 MiB), then the chunk plan
//! and the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msgframe_codec::{Framing, UntilEof};
use msgframe_fuzz::{check_decoder, check_model, check_parse, model, ChunkPlan, Expect, Reader};

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    let max = r.uint_le(2) as usize;
    let decoder = if max == 0xFFFF {
        UntilEof::default()
    } else {
        UntilEof::new(max)
    };
    let max = decoder.max_frame_length();
    let plan = ChunkPlan::read(&mut r);
    let stream = r.rest();
    let expect = Expect {
        max_frame: max,
        relax_inexact: true,
    };
    let whole = check_decoder(&decoder, stream, &plan, expect);
    check_model(&whole, &model::until_eof(max, stream));
    check_parse(&decoder, stream, &whole);
    // The same through the run-time `Framing` enum.
    let framing = Framing::from(decoder);
    let via_enum = check_decoder(&framing, stream, &plan, expect);
    assert_eq!(
        via_enum.events, whole.events,
        "Framing::UntilEof differs from UntilEof"
    );
});
