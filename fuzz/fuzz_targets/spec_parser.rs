//! `FramingSpec` text form: arbitrary UTF-8 (and lossily converted bytes) must never panic the
//! parser; a spec that parses prints as text that parses back to the same spec, builds, and is the
//! spec of the framing it builds. Errors point inside the input.
#![no_main]

use std::str::FromStr;

use libfuzzer_sys::fuzz_target;
use msgframe_codec::{Framing, FramingSpec};

fn check(text: &str) {
    let parsed = FramingSpec::from_str(text);
    let framing = Framing::from_str(text);
    match parsed {
        Ok(spec) => {
            let printed = spec.to_string();
            let back: FramingSpec = printed
                .parse()
                .unwrap_or_else(|e| panic!("`{text}` prints as `{printed}`, which fails: {e}"));
            assert_eq!(back, spec, "`{text}` -> `{printed}` parses to another spec");
            assert_eq!(back.to_string(), printed, "printing is not stable");
            let built = spec
                .build()
                .unwrap_or_else(|e| panic!("`{text}` parses but does not build: {e}"));
            let expected = spec.clone();
            assert_eq!(
                built.spec(),
                expected,
                "`{text}`: the built framing has another spec"
            );
            assert_eq!(built.to_string(), expected.to_string());
            let framing =
                framing.unwrap_or_else(|e| panic!("`{text}`: Framing::from_str fails: {e}"));
            assert_eq!(framing.spec(), expected);
        }
        Err(e) => {
            assert!(
                framing.is_err(),
                "`{text}`: Framing parses where FramingSpec does not"
            );
            let span = e.span();
            assert!(
                span.start <= span.end && span.end <= text.len(),
                "`{text}`: error span {span:?} outside the input"
            );
            assert!(
                text.is_char_boundary(span.start) && text.is_char_boundary(span.end),
                "`{text}`: error span {span:?} splits a character"
            );
            // Neither may panic.
            let _ = e.to_string();
            let pointer = e.pointer();
            assert!(pointer.starts_with(text));
            assert!(!e.message().is_empty());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    match std::str::from_utf8(data) {
        Ok(text) => check(text),
        Err(_) => check(&String::from_utf8_lossy(data)),
    }
});
