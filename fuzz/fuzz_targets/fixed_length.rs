//! Fixed-length framing.
//!
//! Input: byte 0 is the length (0 must be refused), except 255: then bytes 1-3 (u24
//! little-endian, always read) are the length, to exercise lengths far beyond the input (the
//! decoder must reserve at most 64 KiB ahead). Then the chunk plan and the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msgframe_codec::FixedLength;
use msgframe_fuzz::{check_decoder, check_model, check_parse, model, ChunkPlan, Expect, Reader};

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    let small = r.u8();
    let big = r.uint_le(3) as usize;
    let len = if small == 255 {
        big
    } else {
        usize::from(small)
    };
    let decoder = match FixedLength::new(len) {
        Ok(d) => d,
        Err(e) => {
            assert_eq!(len, 0, "FixedLength::new({len}) failed: {e}");
            return;
        }
    };
    assert_ne!(len, 0, "FixedLength::new(0) succeeded");
    assert_eq!(decoder.len(), len);
    let plan = ChunkPlan::read(&mut r);
    let stream = r.rest();
    let whole = check_decoder(
        &decoder,
        stream,
        &plan,
        Expect {
            max_frame: len,
            relax_inexact: false,
        },
    );
    check_model(&whole, &model::fixed_length(len, stream));
    check_parse(&decoder, stream, &whole);
});
