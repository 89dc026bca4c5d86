//! Delimiter framing with a 1-4 byte delimiter and every option taken from the input.
//!
//! Input: byte 0: delimiter length `1 + b % 4`, then the delimiter bytes; then a flags byte (bit 0
//! keep the delimiter, bit 1 crlf, bit 2 eof=deliver, bit 3 oversize=discard, bit 4 explicit max),
//! a max byte (0-255, used with bit 4), then the chunk plan and the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msgframe_codec::{DelimitedConfig, Oversize, UnterminatedAtEof};
use msgframe_fuzz::{check_decoder, check_model, check_parse, model, ChunkPlan, Expect, Reader};

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    let dlen = 1 + usize::from(r.u8() % 4);
    let delimiter = r.bytes(dlen).to_vec();
    let flags = r.u8();
    let max = usize::from(r.u8());
    let mut cfg = DelimitedConfig::new(delimiter)
        .keep_delimiter(flags & 1 != 0)
        .crlf(flags & 2 != 0)
        .at_eof(if flags & 4 != 0 {
            UnterminatedAtEof::Deliver
        } else {
            UnterminatedAtEof::Error
        })
        .oversize(if flags & 8 != 0 {
            Oversize::Discard
        } else {
            Oversize::Fail
        });
    if flags & 0x10 != 0 {
        cfg = cfg.max_frame_length(max);
    }
    let plan = ChunkPlan::read(&mut r);
    let stream = r.rest();
    let decoder = match cfg.clone().build() {
        Ok(d) => d,
        Err(e) => {
            let _ = e.to_string();
            // Only an empty delimiter (input too short) or a crlf delimiter that would be found
            // inside its own `\r`-prefixed ending are refused.
            assert!(cfg.delimiter.is_empty() || cfg.crlf, "{cfg:?} refused: {e}");
            return;
        }
    };
    let max = decoder.max_frame_length();
    // With `keep`, a frame carries its delimiter, and under crlf the `\r` before it.
    let tail = if cfg.keep_delimiter {
        cfg.delimiter.len() + usize::from(cfg.crlf)
    } else {
        0
    };
    let whole = check_decoder(
        &decoder,
        stream,
        &plan,
        Expect {
            max_frame: max + tail,
            relax_inexact: true,
        },
    );
    check_model(&whole, &model::delimited(&cfg, max, stream));
    if cfg.oversize == Oversize::Fail {
        check_parse(&decoder, stream, &whole);
    }
});
