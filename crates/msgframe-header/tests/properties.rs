//! Property tests for the length-field encodings and their nom parsers.
//!
//! Every encoding is checked against a small reference implementation written here, independently of
//! the library: round trips, boundaries, overflow, the first offending byte of invalid fields,
//! truncation, and agreement of the nom parsers with `LengthField::decode`.

use msgframe_header::parse;
use msgframe_header::{
    AsciiDecimal, AsciiHex, Binary, ByteOrder, FieldBytes, HeaderError, LengthEncoding,
    LengthField, PackedBcd,
};
use nom::error::{ErrorKind, FromExternalError, ParseError};
use nom::{Err as NomErr, IResult, Needed};
use proptest::prelude::*;
use proptest::sample::select;

/// `cases` cases, a fast generator, and no regression files written next to the tests (a failing
/// case is printed in full instead).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        // Much faster than the default ChaCha generator in unoptimised test builds.
        rng_algorithm: proptest::test_runner::RngAlgorithm::XorShift,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Encodings
// ---------------------------------------------------------------------------------------------

fn decimal(width: usize, lenient: bool) -> LengthEncoding {
    let d = AsciiDecimal::new(width).unwrap();
    if lenient {
        d.lenient().into()
    } else {
        d.into()
    }
}

fn strict_decimal_encoding() -> impl Strategy<Value = LengthEncoding> {
    (1usize..=10).prop_map(|w| decimal(w, false))
}

fn lenient_decimal_encoding() -> impl Strategy<Value = LengthEncoding> {
    (1usize..=10).prop_map(|w| decimal(w, true))
}

fn hex_encoding() -> impl Strategy<Value = LengthEncoding> {
    (1usize..=16).prop_map(|w| AsciiHex::new(w).unwrap().into())
}

fn bcd_encoding() -> impl Strategy<Value = LengthEncoding> {
    (1usize..=5).prop_map(|w| PackedBcd::new(w).unwrap().into())
}

fn be_encoding() -> impl Strategy<Value = LengthEncoding> {
    (1usize..=8).prop_map(|w| Binary::big_endian(w).unwrap().into())
}

fn le_encoding() -> impl Strategy<Value = LengthEncoding> {
    (1usize..=8).prop_map(|w| Binary::little_endian(w).unwrap().into())
}

fn any_encoding() -> impl Strategy<Value = LengthEncoding> {
    prop_oneof![
        strict_decimal_encoding(),
        lenient_decimal_encoding(),
        hex_encoding(),
        bcd_encoding(),
        be_encoding(),
        le_encoding(),
    ]
}

/// Every supported encoding, each width, each variant: 57 in all.
fn every_encoding() -> Vec<LengthEncoding> {
    let mut all = Vec::new();
    for w in 1..=10 {
        all.push(decimal(w, false));
        all.push(decimal(w, true));
    }
    for w in 1..=16 {
        all.push(AsciiHex::new(w).unwrap().into());
    }
    for w in 1..=5 {
        all.push(PackedBcd::new(w).unwrap().into());
    }
    for w in 1..=8 {
        all.push(Binary::big_endian(w).unwrap().into());
        all.push(Binary::little_endian(w).unwrap().into());
    }
    all
}

// ---------------------------------------------------------------------------------------------
// Reference implementation
// ---------------------------------------------------------------------------------------------

/// The largest length of each encoding, computed independently.
fn reference_max(enc: LengthEncoding) -> u64 {
    let w = enc.width() as u32;
    match enc {
        LengthEncoding::AsciiDecimal(_) => 10u64.pow(w) - 1,
        LengthEncoding::AsciiHex(_) => {
            if w == 16 {
                u64::MAX
            } else {
                (1u64 << (4 * w)) - 1
            }
        }
        LengthEncoding::PackedBcd(_) => 10u64.pow(2 * w) - 1,
        LengthEncoding::Binary(_) => {
            if w == 8 {
                u64::MAX
            } else {
                (1u64 << (8 * w)) - 1
            }
        }
    }
}

/// The canonical bytes of `value` in `enc` (zero-padded, upper-case hex), computed independently.
fn reference_encode(enc: LengthEncoding, value: u64) -> Vec<u8> {
    let w = enc.width();
    match enc {
        LengthEncoding::AsciiDecimal(_) => format!("{value:0w$}").into_bytes(),
        LengthEncoding::AsciiHex(_) => format!("{value:0w$X}").into_bytes(),
        LengthEncoding::PackedBcd(_) => {
            let digits = format!("{value:0width$}", width = 2 * w).into_bytes();
            digits
                .chunks(2)
                .map(|p| ((p[0] - b'0') << 4) | (p[1] - b'0'))
                .collect()
        }
        LengthEncoding::Binary(b) => {
            let be = value.to_be_bytes();
            let mut out = be[8 - w..].to_vec();
            if b.order() == ByteOrder::LittleEndian {
                out.reverse();
            }
            out
        }
    }
}

/// What decoding the first `width` bytes of `field` should give: the value, or the offset of the
/// first offending byte. `field` must hold at least `width` bytes. All-spaces lenient fields are
/// reported as `Err(None)` (no single byte is wrong there; see `lenient_decimal_rejects_all_spaces`).
fn reference_decode(enc: LengthEncoding, field: &[u8]) -> Result<u64, Option<usize>> {
    let field = &field[..enc.width()];
    match enc {
        LengthEncoding::AsciiDecimal(d) => {
            let start = if d.is_lenient() {
                field.iter().take_while(|&&b| b == b' ').count()
            } else {
                0
            };
            if start == field.len() {
                return Err(None);
            }
            if let Some(i) = field[start..].iter().position(|b| !b.is_ascii_digit()) {
                return Err(Some(start + i));
            }
            Ok(std::str::from_utf8(&field[start..])
                .unwrap()
                .parse::<u64>()
                .unwrap())
        }
        LengthEncoding::AsciiHex(_) => {
            if let Some(i) = field.iter().position(|b| !b.is_ascii_hexdigit()) {
                return Err(Some(i));
            }
            Ok(u64::from_str_radix(std::str::from_utf8(field).unwrap(), 16).unwrap())
        }
        LengthEncoding::PackedBcd(_) => {
            if let Some(i) = field.iter().position(|b| b >> 4 > 9 || b & 0xF > 9) {
                return Err(Some(i));
            }
            let digits: String = field.iter().map(|b| format!("{b:02X}")).collect();
            Ok(digits.parse::<u64>().unwrap())
        }
        LengthEncoding::Binary(b) => {
            let fold = |acc: u64, &byte: &u8| (acc << 8) | u64::from(byte);
            Ok(match b.order() {
                ByteOrder::BigEndian => field.iter().fold(0, fold),
                ByteOrder::LittleEndian => field.iter().rev().fold(0, fold),
            })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Lengths
// ---------------------------------------------------------------------------------------------

/// 0, 1, max, max - 1, max / 2, and b^k - 1, b^k, b^k + 1 for b in 10, 16, 256, all at most `max`.
fn boundary_lengths(max: u64) -> Vec<u64> {
    let mut v = vec![0, 1, max, max.saturating_sub(1), max / 2];
    for base in [10u64, 16, 256] {
        let mut p = 1u64;
        loop {
            v.extend([p - 1, p, p + 1]);
            match p.checked_mul(base) {
                Some(n) if n < u64::MAX => p = n,
                _ => break,
            }
        }
    }
    v.retain(|&x| x <= max);
    v.sort_unstable();
    v.dedup();
    v
}

/// Lengths in `0..=max`: boundaries, uniform values, and values of every magnitude.
fn length_up_to(max: u64) -> BoxedStrategy<u64> {
    prop_oneof![
        2 => select(boundary_lengths(max)),
        1 => 0..=max,
        2 => (any::<u64>(), 0u32..64).prop_map(move |(x, shift)| {
            let x = x >> shift;
            if max == u64::MAX {
                x
            } else {
                x % (max + 1)
            }
        }),
    ]
    .boxed()
}

/// An encoding and a length it can hold.
fn encoding_and_length(
    encodings: impl Strategy<Value = LengthEncoding>,
) -> impl Strategy<Value = (LengthEncoding, u64)> {
    encodings.prop_flat_map(|e| (Just(e), length_up_to(e.max_length())))
}

/// An encoding whose maximum is below `u64::MAX` and a length above it.
fn encoding_and_too_large_length(
    encodings: impl Strategy<Value = LengthEncoding>,
) -> impl Strategy<Value = (LengthEncoding, u64)> {
    encodings
        .prop_filter("max is u64::MAX", |e| e.max_length() < u64::MAX)
        .prop_flat_map(|e| {
            let max = e.max_length();
            let above = prop_oneof![
                Just(max + 1),
                Just(u64::MAX),
                (max + 1)..=u64::MAX,
                (max + 1)..=max.saturating_mul(2).max(max + 1),
            ];
            (Just(e), above)
        })
}

// ---------------------------------------------------------------------------------------------
// Fields
// ---------------------------------------------------------------------------------------------

fn digit() -> impl Strategy<Value = u8> {
    b'0'..=b'9'
}

fn hex_digit() -> impl Strategy<Value = u8> {
    select(b"0123456789abcdefABCDEF".to_vec())
}

fn bcd_byte() -> impl Strategy<Value = u8> {
    (0u8..=9, 0u8..=9).prop_map(|(h, l)| (h << 4) | l)
}

/// Bytes that are mostly valid for some encoding, with some spaces and arbitrary bytes mixed in.
fn mixed_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        4 => digit(),
        2 => hex_digit(),
        2 => Just(b' '),
        1 => bcd_byte(),
        2 => any::<u8>(),
    ]
}

/// A valid field of exactly `enc.width()` bytes (any valid spelling, not only the canonical one).
fn valid_field(enc: LengthEncoding) -> BoxedStrategy<Vec<u8>> {
    let w = enc.width();
    match enc {
        LengthEncoding::AsciiDecimal(d) if d.is_lenient() => (0..w)
            .prop_flat_map(move |spaces| proptest::collection::vec(digit(), w - spaces))
            .prop_map(move |digits| {
                let mut field = vec![b' '; w - digits.len()];
                field.extend(digits);
                field
            })
            .boxed(),
        LengthEncoding::AsciiDecimal(_) => proptest::collection::vec(digit(), w).boxed(),
        LengthEncoding::AsciiHex(_) => proptest::collection::vec(hex_digit(), w).boxed(),
        LengthEncoding::PackedBcd(_) => proptest::collection::vec(bcd_byte(), w).boxed(),
        LengthEncoding::Binary(_) => proptest::collection::vec(any::<u8>(), w).boxed(),
    }
}

fn encoding_and_valid_field(
    encodings: impl Strategy<Value = LengthEncoding>,
) -> impl Strategy<Value = (LengthEncoding, Vec<u8>)> {
    encodings.prop_flat_map(|e| (Just(e), valid_field(e)))
}

/// A field of `width` bytes in which byte `at` is replaced by `bad`, the rest drawn from `good`.
fn field_with_bad_byte(
    width: usize,
    good: impl Strategy<Value = u8>,
    bad: impl Strategy<Value = u8>,
) -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec(prop_oneof![3 => good, 1 => any::<u8>()], width),
        0..width,
        bad,
    )
        .prop_map(|(mut field, at, bad)| {
            field[at] = bad;
            field
        })
}

fn not_digit() -> impl Strategy<Value = u8> {
    any::<u8>().prop_filter("a digit", |b| !b.is_ascii_digit())
}

fn not_hex_digit() -> impl Strategy<Value = u8> {
    any::<u8>().prop_filter("a hex digit", |b| !b.is_ascii_hexdigit())
}

fn bad_bcd_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        (10u8..=15, 0u8..=15).prop_map(|(h, l)| (h << 4) | l),
        (0u8..=15, 10u8..=15).prop_map(|(h, l)| (h << 4) | l),
    ]
}

/// Checks that decoding `field` with `enc` fails with `InvalidByte` at the first offending byte the
/// reference finds.
fn assert_invalid_at_first_offending_byte(
    enc: LengthEncoding,
    field: &[u8],
) -> Result<(), TestCaseError> {
    let expected_offset = match reference_decode(enc, field) {
        Err(Some(offset)) => offset,
        other => {
            return Err(TestCaseError::fail(format!(
                "test bug: field {field:02X?} is not invalid for {enc}: {other:?}"
            )))
        }
    };
    match enc.decode(field) {
        Err(HeaderError::InvalidByte {
            encoding,
            field: shown,
            offset,
            byte,
            expected,
        }) => {
            prop_assert_eq!(encoding, enc);
            prop_assert_eq!(
                offset,
                expected_offset,
                "{} field {:02X?}: wrong offset",
                enc,
                field
            );
            prop_assert_eq!(byte, field[offset]);
            prop_assert_eq!(shown, FieldBytes::new(&field[..enc.width()]));
            prop_assert!(!expected.is_empty());
        }
        other => prop_assert!(
            false,
            "{} field {:02X?}: expected InvalidByte at {}, got {:?}",
            enc,
            field,
            expected_offset,
            other
        ),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Round trips and boundaries
// ---------------------------------------------------------------------------------------------

fn check_round_trip(enc: LengthEncoding, length: u64) -> Result<(), TestCaseError> {
    prop_assert_eq!(enc.max_length(), reference_max(enc), "{} max_length", enc);
    let encoded = enc
        .encode(length)
        .map_err(|e| TestCaseError::fail(format!("{enc}: encode({length}) failed: {e}")))?;
    prop_assert_eq!(encoded.len(), enc.width());
    prop_assert_eq!(
        encoded.as_slice(),
        &reference_encode(enc, length)[..],
        "{} encode({})",
        enc,
        length
    );
    prop_assert_eq!(enc.decode(&encoded), Ok(length), "{} decode", enc);
    Ok(())
}

fn check_too_large(enc: LengthEncoding, length: u64) -> Result<(), TestCaseError> {
    let max = enc.max_length();
    let expected = HeaderError::LengthTooLarge {
        encoding: enc,
        length,
        max,
    };
    prop_assert_eq!(enc.encode(length), Err(expected.clone()));
    // encode_into leaves the output untouched on error: no partial or truncated write.
    let mut out = [0xEEu8; 20];
    prop_assert_eq!(enc.encode_into(length, &mut out), Err(expected));
    prop_assert_eq!(out, [0xEEu8; 20]);
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn strict_ascii_decimal_round_trips_every_length_up_to_max(
        (enc, len) in encoding_and_length(strict_decimal_encoding())
    ) {
        check_round_trip(enc, len)?;
    }

    #[test]
    fn lenient_ascii_decimal_round_trips_every_length_up_to_max(
        (enc, len) in encoding_and_length(lenient_decimal_encoding())
    ) {
        check_round_trip(enc, len)?;
    }

    #[test]
    fn ascii_hex_round_trips_every_length_up_to_max(
        (enc, len) in encoding_and_length(hex_encoding())
    ) {
        check_round_trip(enc, len)?;
    }

    #[test]
    fn packed_bcd_round_trips_every_length_up_to_max(
        (enc, len) in encoding_and_length(bcd_encoding())
    ) {
        check_round_trip(enc, len)?;
    }

    #[test]
    fn big_endian_round_trips_every_length_up_to_max(
        (enc, len) in encoding_and_length(be_encoding())
    ) {
        check_round_trip(enc, len)?;
    }

    #[test]
    fn little_endian_round_trips_every_length_up_to_max(
        (enc, len) in encoding_and_length(le_encoding())
    ) {
        check_round_trip(enc, len)?;
    }

    #[test]
    fn encoding_a_length_above_max_is_length_too_large_never_truncated(
        (enc, len) in encoding_and_too_large_length(any_encoding())
    ) {
        check_too_large(enc, len)?;
    }

    #[test]
    fn encode_into_writes_only_the_first_width_bytes(
        (enc, len) in encoding_and_length(any_encoding())
    ) {
        let mut out = [0xEEu8; 24];
        enc.encode_into(len, &mut out).unwrap();
        prop_assert_eq!(&out[..enc.width()], &reference_encode(enc, len)[..]);
        prop_assert!(out[enc.width()..].iter().all(|&b| b == 0xEE));
    }

    #[test]
    fn encode_writes_only_allowed_bytes_and_never_spaces(
        (enc, len) in encoding_and_length(any_encoding())
    ) {
        let encoded = enc.encode(len).unwrap();
        match enc {
            LengthEncoding::AsciiDecimal(_) => {
                prop_assert!(encoded.iter().all(u8::is_ascii_digit), "{:?}", encoded);
            }
            LengthEncoding::AsciiHex(_) => prop_assert!(
                encoded.iter().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b)),
                "{:?}",
                encoded
            ),
            LengthEncoding::PackedBcd(_) => prop_assert!(
                encoded.iter().all(|b| b >> 4 <= 9 && b & 0xF <= 9),
                "{:?}",
                encoded
            ),
            LengthEncoding::Binary(_) => {}
        }
    }
}

#[test]
fn every_encoding_round_trips_its_boundary_lengths() {
    for enc in every_encoding() {
        let max = enc.max_length();
        assert_eq!(max, reference_max(enc), "{enc} max_length");
        for len in boundary_lengths(max) {
            check_round_trip(enc, len).unwrap_or_else(|e| panic!("{enc}, length {len}: {e}"));
        }
    }
}

#[test]
fn every_encoding_rejects_max_plus_one_and_u64_max_with_length_too_large() {
    for enc in every_encoding() {
        let max = enc.max_length();
        if max == u64::MAX {
            // 16 hex digits and 8 binary bytes hold every u64: nothing is too large.
            assert!(enc.encode(u64::MAX).is_ok(), "{enc}");
            continue;
        }
        for len in [max + 1, max + 2, max.saturating_mul(10), u64::MAX] {
            check_too_large(enc, len).unwrap_or_else(|e| panic!("{enc}, length {len}: {e}"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding against the reference
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn decode_agrees_with_reference_on_valid_fields(
        (enc, field) in encoding_and_valid_field(any_encoding())
    ) {
        let expected = reference_decode(enc, &field)
            .map_err(|e| TestCaseError::fail(format!("test bug: invalid field {e:?}")))?;
        prop_assert_eq!(enc.decode(&field), Ok(expected), "{} {:02X?}", enc, field);
    }

    #[test]
    fn decode_agrees_with_reference_on_arbitrary_fields(
        enc in any_encoding(),
        field in proptest::collection::vec(mixed_byte(), 16),
    ) {
        match (reference_decode(enc, &field), enc.decode(&field)) {
            (Ok(expected), actual) => prop_assert_eq!(actual, Ok(expected)),
            (Err(Some(offset)), Err(HeaderError::InvalidByte { offset: actual, byte, .. })) => {
                prop_assert_eq!(actual, offset);
                prop_assert_eq!(byte, field[offset]);
            }
            (Err(None), Err(HeaderError::InvalidByte { byte, .. })) => prop_assert_eq!(byte, b' '),
            (expected, actual) => {
                prop_assert!(false, "{} {:02X?}: reference {:?}, got {:?}", enc, field, expected, actual)
            }
        }
    }

    #[test]
    fn decode_ignores_bytes_after_the_width(
        (enc, field) in encoding_and_valid_field(any_encoding()),
        extra in proptest::collection::vec(any::<u8>(), 0..8),
    ) {
        let mut longer = field.clone();
        longer.extend(&extra);
        prop_assert_eq!(enc.decode(&longer), enc.decode(&field));
    }

    #[test]
    fn decoding_then_encoding_gives_back_the_canonical_field(
        (enc, field) in encoding_and_valid_field(any_encoding())
    ) {
        let value = enc.decode(&field).unwrap();
        let canonical: Vec<u8> = match enc {
            LengthEncoding::AsciiDecimal(_) => {
                field.iter().map(|&b| if b == b' ' { b'0' } else { b }).collect()
            }
            LengthEncoding::AsciiHex(_) => field.to_ascii_uppercase(),
            _ => field.clone(),
        };
        let encoded = enc.encode(value).unwrap();
        prop_assert_eq!(encoded.as_slice(), &canonical[..]);
    }

    #[test]
    fn decode_of_a_field_shorter_than_its_width_is_truncated(
        (enc, input) in any_encoding().prop_flat_map(|e| {
            (Just(e), proptest::collection::vec(mixed_byte(), 0..e.width()))
        })
    ) {
        prop_assert_eq!(
            enc.decode(&input),
            Err(HeaderError::Truncated { encoding: enc, needed: enc.width(), got: input.len() })
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Invalid bytes: the first offending byte is reported
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn strict_ascii_decimal_reports_first_non_digit(
        (enc, field) in strict_decimal_encoding()
            .prop_flat_map(|e| (Just(e), field_with_bad_byte(e.width(), digit(), not_digit())))
    ) {
        assert_invalid_at_first_offending_byte(enc, &field)?;
    }

    #[test]
    fn strict_ascii_decimal_rejects_leading_spaces(
        (enc, field) in strict_decimal_encoding().prop_flat_map(|e| {
            let w = e.width();
            (Just(e), (1..=w).prop_flat_map(move |spaces| {
                proptest::collection::vec(digit(), w - spaces)
                    .prop_map(move |d| [vec![b' '; spaces], d].concat())
            }))
        })
    ) {
        assert_invalid_at_first_offending_byte(enc, &field)?;
        prop_assert!(matches!(
            enc.decode(&field),
            Err(HeaderError::InvalidByte { offset: 0, byte: b' ', .. })
        ), "{:?}", enc.decode(&field));
    }

    #[test]
    fn lenient_ascii_decimal_reports_first_byte_that_is_neither_digit_nor_leading_space(
        (enc, field) in lenient_decimal_encoding()
            .prop_flat_map(|e| (Just(e), proptest::collection::vec(mixed_byte(), e.width())))
            .prop_filter("valid or all spaces", |(e, f)| {
                matches!(reference_decode(*e, f), Err(Some(_)))
            })
    ) {
        assert_invalid_at_first_offending_byte(enc, &field)?;
    }

    #[test]
    fn lenient_ascii_decimal_rejects_a_space_after_a_digit(
        (enc, field, at) in (2usize..=10).prop_flat_map(|w| {
            (
                Just(decimal(w, true)),
                proptest::collection::vec(digit(), w),
                1..w,
            )
        })
    ) {
        // Leading spaces, then a digit, then a space somewhere later: " 1 2", "12 4".
        let mut field = field;
        let lead = at - 1;
        for b in &mut field[..lead] {
            *b = b' ';
        }
        field[at] = b' ';
        prop_assert!(matches!(
            enc.decode(&field),
            Err(HeaderError::InvalidByte { offset, byte: b' ', .. }) if offset == at
        ), "{:?} -> {:?}", String::from_utf8_lossy(&field), enc.decode(&field));
    }

    #[test]
    fn lenient_ascii_decimal_accepts_leading_spaces(
        (w, spaces, value) in (1usize..=10).prop_flat_map(|w| {
            (Just(w), 0..w).prop_flat_map(move |(w, spaces)| {
                let digits = (w - spaces) as u32;
                (Just(w), Just(spaces), 0..10u64.pow(digits))
            })
        })
    ) {
        let enc = decimal(w, true);
        let field = format!("{:>w$}", value).into_bytes();
        // Right-aligned with spaces; also the spelling with exactly `spaces` spaces and zero padding.
        prop_assert_eq!(enc.decode(&field), Ok(value), "{:?}", String::from_utf8_lossy(&field));
        let padded = format!("{}{:0digits$}", " ".repeat(spaces), value, digits = w - spaces);
        prop_assert_eq!(enc.decode(padded.as_bytes()), Ok(value), "{:?}", padded);
        // The strict decoder rejects the same field when it has a space.
        if field[0] == b' ' {
            prop_assert!(decimal(w, false).decode(&field).is_err());
        }
    }

    #[test]
    fn lenient_ascii_decimal_encodes_with_zeros_like_strict(
        (w, value) in (1usize..=10).prop_flat_map(|w| (Just(w), length_up_to(10u64.pow(w as u32) - 1)))
    ) {
        let lenient = decimal(w, true).encode(value).unwrap();
        let strict = decimal(w, false).encode(value).unwrap();
        prop_assert_eq!(lenient, strict);
        prop_assert!(!lenient.contains(&b' '));
    }

    #[test]
    fn ascii_hex_reports_first_non_hex_byte(
        (enc, field) in hex_encoding()
            .prop_flat_map(|e| (Just(e), field_with_bad_byte(e.width(), hex_digit(), not_hex_digit())))
    ) {
        assert_invalid_at_first_offending_byte(enc, &field)?;
    }

    #[test]
    fn bcd_rejects_any_nibble_above_nine(
        (enc, field) in bcd_encoding()
            .prop_flat_map(|e| (Just(e), field_with_bad_byte(e.width(), bcd_byte(), bad_bcd_byte())))
    ) {
        assert_invalid_at_first_offending_byte(enc, &field)?;
    }

    #[test]
    fn binary_accepts_every_byte_pattern(
        (enc, field) in prop_oneof![be_encoding(), le_encoding()]
            .prop_flat_map(|e| (Just(e), proptest::collection::vec(any::<u8>(), e.width())))
    ) {
        prop_assert_eq!(enc.decode(&field), reference_decode(enc, &field).map_err(|_| unreachable!()));
    }
}

#[test]
fn lenient_decimal_examples() {
    let four = decimal(4, true);
    assert_eq!(four.decode(b"  12"), Ok(12));
    assert_eq!(four.decode(b"   0"), Ok(0));
    assert_eq!(four.decode(b"0012"), Ok(12));
    assert_eq!(four.decode(b" 012"), Ok(12));
    assert!(matches!(
        four.decode(b" 1 2"),
        Err(HeaderError::InvalidByte {
            offset: 2,
            byte: b' ',
            ..
        })
    ));
    assert!(matches!(
        four.decode(b"12  "),
        Err(HeaderError::InvalidByte {
            offset: 2,
            byte: b' ',
            ..
        })
    ));
    assert_eq!(four.encode(12).unwrap().as_slice(), b"0012");
}

#[test]
fn lenient_decimal_rejects_all_spaces() {
    for w in 1..=10 {
        let enc = decimal(w, true);
        let field = vec![b' '; w];
        match enc.decode(&field) {
            Err(HeaderError::InvalidByte {
                encoding,
                offset,
                byte,
                field: shown,
                ..
            }) => {
                assert_eq!(encoding, enc);
                assert!(offset < w);
                assert_eq!(byte, b' ');
                assert_eq!(byte, field[offset]);
                assert_eq!(shown.as_slice(), &field[..]);
            }
            other => panic!("width {w}: all spaces gave {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// nom parsers
// ---------------------------------------------------------------------------------------------

/// A nom error that keeps the external `HeaderError`, to check it is passed through.
#[derive(Debug, Clone, PartialEq)]
struct Captured<'a> {
    input: &'a [u8],
    kind: ErrorKind,
    header: Option<HeaderError>,
}

impl<'a> ParseError<&'a [u8]> for Captured<'a> {
    fn from_error_kind(input: &'a [u8], kind: ErrorKind) -> Self {
        Captured {
            input,
            kind,
            header: None,
        }
    }

    fn append(_: &'a [u8], _: ErrorKind, other: Self) -> Self {
        other
    }
}

impl<'a> FromExternalError<&'a [u8], HeaderError> for Captured<'a> {
    fn from_external_error(input: &'a [u8], kind: ErrorKind, e: HeaderError) -> Self {
        Captured {
            input,
            kind,
            header: Some(e),
        }
    }
}

/// Inputs for the parsers: a valid field followed by anything, or arbitrary (often short) bytes.
fn parser_input(enc: LengthEncoding) -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        (
            valid_field(enc),
            proptest::collection::vec(any::<u8>(), 0..8)
        )
            .prop_map(|(f, rest)| [f, rest].concat()),
        proptest::collection::vec(mixed_byte(), 0..24),
    ]
    .boxed()
}

fn encoding_and_parser_input() -> impl Strategy<Value = (LengthEncoding, Vec<u8>)> {
    any_encoding().prop_flat_map(|e| (Just(e), parser_input(e)))
}

/// Checks the result of a complete parser against `LengthField::decode`.
fn check_complete_result(
    enc: LengthEncoding,
    input: &[u8],
    result: IResult<&[u8], u64, Captured<'_>>,
) -> Result<(), TestCaseError> {
    match (enc.decode(input), result) {
        (Ok(value), Ok((rest, parsed))) => {
            prop_assert_eq!(parsed, value);
            prop_assert_eq!(rest, &input[enc.width()..]);
        }
        (Err(e @ HeaderError::Truncated { .. }), Err(NomErr::Error(c))) => {
            prop_assert_eq!(c.kind, ErrorKind::Eof);
            prop_assert_eq!(c.input, input);
            prop_assert_eq!(c.header, Some(e));
        }
        (Err(e), Err(NomErr::Error(c))) => {
            prop_assert_eq!(c.kind, ErrorKind::MapRes);
            prop_assert_eq!(c.input, input);
            prop_assert_eq!(c.header, Some(e));
        }
        (decoded, parsed) => prop_assert!(
            false,
            "{} {:02X?}: decode {:?}, parser {:?}",
            enc,
            input,
            decoded,
            parsed
        ),
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn nom_length_agrees_with_decode_and_returns_the_rest((enc, input) in encoding_and_parser_input()) {
        let mut parser = parse::length::<Captured<'_>>(enc);
        check_complete_result(enc, &input, parser(&input))?;
    }

    #[test]
    fn nom_length_with_default_error_uses_map_res_and_eof((enc, input) in encoding_and_parser_input()) {
        let mut parser = parse::length::<nom::error::Error<&[u8]>>(enc);
        match (enc.decode(&input), parser(&input)) {
            (Ok(v), Ok((rest, p))) => {
                prop_assert_eq!(p, v);
                prop_assert_eq!(rest, &input[enc.width()..]);
            }
            (Err(HeaderError::Truncated { .. }), Err(NomErr::Error(e))) => {
                prop_assert_eq!(e.code, ErrorKind::Eof);
            }
            (Err(_), Err(NomErr::Error(e))) => prop_assert_eq!(e.code, ErrorKind::MapRes),
            (d, p) => prop_assert!(false, "decode {:?}, parser {:?}", d, p),
        }
    }

    #[test]
    fn nom_length_streaming_is_incomplete_on_short_input_else_agrees_with_decode(
        (enc, input) in encoding_and_parser_input()
    ) {
        let mut parser = parse::length_streaming::<Captured<'_>>(enc);
        let result = parser(&input);
        if input.len() < enc.width() {
            prop_assert_eq!(result, Err(NomErr::Incomplete(Needed::new(enc.width() - input.len()))));
        } else {
            check_complete_result(enc, &input, result)?;
        }
    }

    #[test]
    fn nom_named_parsers_agree_with_length_of_the_same_encoding((enc, input) in encoding_and_parser_input()) {
        let w = enc.width();
        let named: IResult<&[u8], u64, Captured<'_>> = match enc {
            LengthEncoding::AsciiDecimal(d) if d.is_lenient() => return Ok(()), // no named lenient parser
            LengthEncoding::AsciiDecimal(_) => parse::ascii_decimal(w)(&input),
            LengthEncoding::AsciiHex(_) => parse::ascii_hex(w)(&input),
            LengthEncoding::PackedBcd(_) => parse::packed_bcd(w)(&input),
            LengthEncoding::Binary(b) if b.order() == ByteOrder::BigEndian => parse::big_endian(w)(&input),
            LengthEncoding::Binary(_) => parse::little_endian(w)(&input),
        };
        check_complete_result(enc, &input, named)?;
    }
}

#[test]
fn nom_named_parsers_panic_on_unsupported_widths() {
    type E<'a> = nom::error::Error<&'a [u8]>;
    let cases: [(&str, fn()); 10] = [
        ("ascii 0", || drop(parse::ascii_decimal::<E<'static>>(0))),
        ("ascii 11", || drop(parse::ascii_decimal::<E<'static>>(11))),
        ("hex 0", || drop(parse::ascii_hex::<E<'static>>(0))),
        ("hex 17", || drop(parse::ascii_hex::<E<'static>>(17))),
        ("bcd 0", || drop(parse::packed_bcd::<E<'static>>(0))),
        ("bcd 6", || drop(parse::packed_bcd::<E<'static>>(6))),
        ("be 0", || drop(parse::big_endian::<E<'static>>(0))),
        ("be 9", || drop(parse::big_endian::<E<'static>>(9))),
        ("le 0", || drop(parse::little_endian::<E<'static>>(0))),
        ("le 9", || drop(parse::little_endian::<E<'static>>(9))),
    ];
    for (name, f) in cases {
        assert!(std::panic::catch_unwind(f).is_err(), "{name} did not panic");
    }
}

#[test]
fn constructors_reject_unsupported_widths() {
    for w in [0, 11, 100] {
        assert!(matches!(
            AsciiDecimal::new(w),
            Err(HeaderError::UnsupportedWidth { width, .. }) if width == w
        ));
    }
    for w in [0, 17] {
        assert!(AsciiHex::new(w).is_err());
    }
    for w in [0, 6] {
        assert!(PackedBcd::new(w).is_err());
    }
    for w in [0, 9] {
        assert!(Binary::big_endian(w).is_err());
        assert!(Binary::little_endian(w).is_err());
    }
}
