//! The packed BCD length decoder on its own, for every width 1..=5: decode vs a reference,
//! encode(decode(x)) == x byte for byte, the nom parsers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msgframe_fuzz::header::{check_field, check_named_parser, Captured};
use msgframe_header::{parse, LengthEncoding, LengthField, PackedBcd};

fn reference(field: &[u8]) -> Option<u64> {
    field.iter().try_fold(0u64, |v, &b| {
        let (hi, lo) = (b >> 4, b & 0xF);
        (hi <= 9 && lo <= 9).then(|| v * 100 + u64::from(hi * 10 + lo))
    })
}

fuzz_target!(|data: &[u8]| {
    let probe = msgframe_fuzz::Reader::new(data).uint_le(8);
    assert!(PackedBcd::new(0).is_err() && PackedBcd::new(6).is_err());
    for w in 1..=PackedBcd::MAX_BYTES {
        let typed = PackedBcd::new(w).unwrap();
        let enc = LengthEncoding::from(typed);
        assert_eq!(typed.width(), w);
        assert_eq!(typed.max_length(), 10u64.pow(2 * w as u32) - 1);
        assert_eq!(typed.decode(data), enc.decode(data));
        check_field(enc, data, reference, <[u8]>::to_vec, probe);
        check_named_parser(enc, data, parse::packed_bcd::<Captured<'_>>(w)(data));
    }
});
