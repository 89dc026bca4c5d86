//! The binary length decoder on its own, big- and little-endian, for every width 1..=8: decode vs
//! a reference, encode(decode(x)) == x byte for byte, the nom parsers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msgframe_fuzz::header::{check_field, check_named_parser, Captured};
use msgframe_header::{parse, Binary, ByteOrder, LengthEncoding, LengthField};

fn big_endian(field: &[u8]) -> Option<u64> {
    Some(field.iter().fold(0u64, |v, &b| v << 8 | u64::from(b)))
}

fn little_endian(field: &[u8]) -> Option<u64> {
    Some(field.iter().rev().fold(0u64, |v, &b| v << 8 | u64::from(b)))
}

fuzz_target!(|data: &[u8]| {
    let probe = msgframe_fuzz::Reader::new(data).uint_le(8);
    assert!(Binary::big_endian(0).is_err() && Binary::little_endian(9).is_err());
    for w in 1..=Binary::MAX_BYTES {
        let max = if w == 8 {
            u64::MAX
        } else {
            (1u64 << (8 * w)) - 1
        };
        for order in [ByteOrder::BigEndian, ByteOrder::LittleEndian] {
            let typed = Binary::new(w, order).unwrap();
            let enc = LengthEncoding::from(typed);
            assert_eq!(typed.order(), order);
            assert_eq!(typed.width(), w);
            assert_eq!(typed.max_length(), max);
            assert_eq!(typed.decode(data), enc.decode(data));
            match order {
                ByteOrder::BigEndian => {
                    check_field(enc, data, big_endian, <[u8]>::to_vec, probe);
                    check_named_parser(enc, data, parse::big_endian::<Captured<'_>>(w)(data));
                }
                ByteOrder::LittleEndian => {
                    check_field(enc, data, little_endian, <[u8]>::to_vec, probe);
                    check_named_parser(enc, data, parse::little_endian::<Captured<'_>>(w)(data));
                }
            }
        }
    }
});
