//! Line framing: `Delimited::lines()` (`\n`) and `Delimited::crlf_lines()` (`\n` or `\r\n`), on
//! their own and through the run-time `Framing` enum.
//!
//! Input: byte 0 (bit 0: crlf lines), then the chunk plan and the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msgframe_codec::{Delimited, Framing};
use msgframe_fuzz::{check_decoder, check_model, check_parse, model, ChunkPlan, Expect, Reader};

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    let crlf = r.u8() & 1 != 0;
    let decoder = if crlf {
        Delimited::crlf_lines()
    } else {
        Delimited::lines()
    }
    .expect("line framings build");
    assert!(decoder.config().is_lines());
    assert_eq!(decoder.config().crlf, crlf);
    let plan = ChunkPlan::read(&mut r);
    let stream = r.rest();
    let max = decoder.max_frame_length();
    let expect = Expect {
        max_frame: max,
        relax_inexact: true,
    };
    let whole = check_decoder(&decoder, stream, &plan, expect);
    check_model(&whole, &model::delimited(decoder.config(), max, stream));
    check_parse(&decoder, stream, &whole);
    // A line never contains its delimiter.
    for e in &whole.events {
        if let msgframe_fuzz::Event::Frame(f) = e {
            assert!(!f.contains(&b'\n'), "line contains \\n: {f:?}");
        }
    }
    let framing = Framing::from(decoder);
    let via_enum = check_decoder(&framing, stream, &plan, expect);
    assert_eq!(
        via_enum.events, whole.events,
        "Framing::Delimited differs from Delimited"
    );
});
