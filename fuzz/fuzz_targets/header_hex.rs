//! The ASCII hex length decoder on its own, for every width 1..=16: decode vs a reference,
//! encode(decode(x)) == x up to letter case (encoding writes upper case), the nom parsers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msgframe_fuzz::header::{check_field, check_named_parser, Captured};
use msgframe_header::{parse, AsciiHex, LengthEncoding, LengthField};

fn reference(field: &[u8]) -> Option<u64> {
    field.iter().try_fold(0u64, |v, &b| {
        let d = (b as char).to_digit(16)?;
        Some(v << 4 | u64::from(d))
    })
}

fuzz_target!(|data: &[u8]| {
    let probe = msgframe_fuzz::Reader::new(data).uint_le(8);
    assert!(AsciiHex::new(0).is_err() && AsciiHex::new(17).is_err());
    for w in 1..=AsciiHex::MAX_DIGITS {
        let typed = AsciiHex::new(w).unwrap();
        let enc = LengthEncoding::from(typed);
        assert_eq!(typed.width(), w);
        assert_eq!(
            typed.max_length(),
            if w == 16 {
                u64::MAX
            } else {
                (1u64 << (4 * w)) - 1
            }
        );
        assert_eq!(typed.decode(data), enc.decode(data));
        check_field(enc, data, reference, <[u8]>::to_ascii_uppercase, probe);
        check_named_parser(enc, data, parse::ascii_hex::<Captured<'_>>(w)(data));
    }
});
