//! Length-prefixed framing with an ASCII decimal length field (strict or lenient); configuration from the first input bytes
//! (see `msgframe_fuzz::targets::length_prefixed` for the layout), then the chunk plan and the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msgframe_fuzz::targets::{length_prefixed, Kind};

fuzz_target!(|data: &[u8]| length_prefixed(Kind::Ascii, data));
