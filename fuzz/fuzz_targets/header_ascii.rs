//! The ASCII decimal length decoder on its own, strict and lenient, for every width 1..=10:
//! decode vs a reference, encode(decode(x)) == x (leading spaces written as zeros), the nom parsers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msgframe_fuzz::header::{check_field, check_named_parser, Captured};
use msgframe_header::{parse, AsciiDecimal, LengthEncoding, LengthField};

fn digits(field: &[u8]) -> Option<u64> {
    if field.is_empty() || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(field.iter().fold(0, |v, &b| v * 10 + u64::from(b - b'0')))
}

fn lenient(field: &[u8]) -> Option<u64> {
    let spaces = field.iter().take_while(|&&b| b == b' ').count();
    digits(&field[spaces..])
}

fn spaces_as_zeros(field: &[u8]) -> Vec<u8> {
    let spaces = field.iter().take_while(|&&b| b == b' ').count();
    let mut out = vec![b'0'; spaces];
    out.extend_from_slice(&field[spaces..]);
    out
}

fuzz_target!(|data: &[u8]| {
    let probe = msgframe_fuzz::Reader::new(data).uint_le(8);
    assert!(AsciiDecimal::new(0).is_err() && AsciiDecimal::new(11).is_err());
    for w in 1..=AsciiDecimal::MAX_DIGITS {
        let strict = AsciiDecimal::new(w).unwrap();
        assert_eq!(strict.width(), w);
        assert_eq!(strict.max_length(), 10u64.pow(w as u32) - 1);
        for typed in [strict, strict.lenient()] {
            let enc = LengthEncoding::from(typed);
            assert_eq!(typed.decode(data), enc.decode(data));
            if typed.is_lenient() {
                check_field(enc, data, lenient, spaces_as_zeros, probe);
            } else {
                check_field(enc, data, digits, <[u8]>::to_vec, probe);
                check_named_parser(enc, data, parse::ascii_decimal::<Captured<'_>>(w)(data));
            }
        }
    }
});
