//! Netstrings: `<length>:<data>,`, the bytes Twisted's `NetstringReceiver` and other netstring
//! peers exchange.

use bytes::{Bytes, BytesMut};
use msgframe_codec::{CodecError, Decoder, Encoder, Framing, Netstring};
use proptest::prelude::*;

fn decode_all(framing: &mut Netstring, wire: &[u8]) -> Result<Vec<Bytes>, CodecError> {
    let mut buf = BytesMut::from(wire);
    let mut out = Vec::new();
    while let Some(f) = framing.decode_eof(&mut buf)? {
        out.push(f);
    }
    Ok(out)
}

#[test]
fn hello_is_five_colon_hello_comma() {
    let n = Netstring::default();
    let mut wire = BytesMut::new();
    n.encode(b"hello", &mut wire).unwrap();
    n.encode(b"", &mut wire).unwrap();
    n.encode(&[b'x'; 12], &mut wire).unwrap();
    assert_eq!(&wire[..], b"5:hello,0:,12:xxxxxxxxxxxx,");
    let frames = decode_all(&mut Netstring::default(), &wire).unwrap();
    assert_eq!(frames, vec![&b"hello"[..], b"", b"xxxxxxxxxxxx"]);
}

#[test]
fn a_leading_zero_is_malformed() {
    let err = decode_all(&mut Netstring::default(), b"05:hello,").unwrap_err();
    assert_eq!(
        err.to_string(),
        "frame at stream offset 0: [30 35]: a netstring length has no leading zeros"
    );
}

#[test]
fn a_missing_comma_is_malformed_at_its_offset() {
    let err = decode_all(&mut Netstring::default(), b"2:ok,2:ok;").unwrap_err();
    assert_eq!(
        err.to_string(),
        "frame at stream offset 5: [3B]: a netstring ends with ','"
    );
}

#[test]
fn a_non_digit_before_the_colon_is_malformed() {
    let err = decode_all(&mut Netstring::default(), b"1x:a,").unwrap_err();
    assert!(
        matches!(err, CodecError::Malformed { offset: 0, .. }),
        "{err}"
    );
    let err = decode_all(&mut Netstring::default(), b":a,").unwrap_err();
    assert!(matches!(err, CodecError::Malformed { .. }), "{err}");
}

#[test]
fn a_length_above_the_maximum_is_refused_from_its_digits_alone() {
    let mut n = Netstring::new(99);
    let mut buf = BytesMut::from(&b"100"[..]);
    let err = n.decode(&mut buf).unwrap_err();
    assert!(
        matches!(err, CodecError::FrameTooLong { max: 99, .. }),
        "{err}"
    );
    // A never-ending run of digits is refused once it has more digits than the maximum.
    let mut n = Netstring::new(99);
    let mut buf = BytesMut::from(&b"000"[..]);
    assert!(n.decode(&mut buf).is_err());
    let mut out = BytesMut::new();
    assert!(Netstring::new(3).encode(b"four", &mut out).is_err());
}

#[test]
fn end_of_stream_inside_a_netstring_says_what_was_expected() {
    let err = decode_all(&mut Netstring::default(), b"5:hel").unwrap_err();
    assert_eq!(
        err,
        CodecError::UnexpectedEof {
            offset: 0,
            buffered: 5,
            expected: Some(8)
        }
    );
    let err = decode_all(&mut Netstring::default(), b"12").unwrap_err();
    assert!(matches!(
        err,
        CodecError::UnexpectedEof { expected: None, .. }
    ));
}

#[test]
fn the_spec_netstring_builds_it() {
    let f: Framing = "netstring,max=100".parse().unwrap();
    assert_eq!(f.to_string(), "netstring,max=100");
    let f: Framing = "netstring".parse().unwrap();
    assert_eq!(f.to_string(), "netstring");
}

proptest! {
    #[test]
    fn any_messages_in_any_chunks_round_trip(
        msgs in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..10),
        chunk in 1usize..50,
    ) {
        let n = Netstring::new(1000);
        let mut wire = BytesMut::new();
        for m in &msgs {
            n.encode(m, &mut wire).unwrap();
        }
        let mut decoder = n.clone();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for piece in wire.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some(f) = decoder.decode(&mut buf).unwrap() {
                got.push(f);
            }
        }
        prop_assert!(decoder.decode_eof(&mut buf).unwrap().is_none());
        prop_assert_eq!(got.len(), msgs.len());
        for (g, m) in got.iter().zip(&msgs) {
            prop_assert_eq!(&g[..], &m[..]);
        }
    }

    #[test]
    fn garbage_never_panics(input in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut n = Netstring::new(50);
        let _ = decode_all(&mut n, &input);
    }
}

#[test]
fn a_netstring_maximum_beyond_one_buffer_is_refused_in_a_spec() {
    let too_big = format!("netstring,max={}", Netstring::MAX + 1);
    assert!(too_big.parse::<Framing>().is_err());
    let largest = format!("netstring,max={}", Netstring::MAX);
    let f: Framing = largest.parse().unwrap();
    assert_eq!(f.to_string(), largest);
}

/// The first result of decoding `wire` whole, then of feeding it one byte at a time (they must agree).
fn first_result(max: usize, wire: &[u8]) -> Result<Option<Bytes>, CodecError> {
    let whole = Netstring::new(max).decode(&mut BytesMut::from(wire));
    let mut n = Netstring::new(max);
    let mut buf = BytesMut::new();
    let mut bytewise = Ok(None);
    for &b in wire {
        buf.extend_from_slice(&[b]);
        bytewise = n.decode(&mut buf);
        if !matches!(bytewise, Ok(None)) {
            break;
        }
    }
    assert_eq!(
        whole, bytewise,
        "whole and byte-at-a-time decoding of {wire:?}"
    );
    whole
}

fn too_long(length: u64, max: usize) -> CodecError {
    CodecError::FrameTooLong {
        offset: 0,
        length,
        exact: false,
        max: max as u64,
        discarding: false,
    }
}

#[cfg(target_pointer_width = "64")]
#[test]
fn a_length_that_overflows_under_a_huge_maximum_is_too_long_not_a_panic() {
    const MAX: usize = 2_000_000_000_000_000_000;
    // 19 digits fit the maximum; the 20th takes the length past u64::MAX: reported saturated.
    assert_eq!(
        first_result(MAX, b"19999999999999999999:"),
        Err(too_long(u64::MAX, MAX))
    );
    // Past the maximum without overflowing: the exact value so far.
    assert_eq!(
        first_result(MAX, b"2000000000000000001:"),
        Err(too_long(2_000_000_000_000_000_001, MAX))
    );
    assert_eq!(
        first_result(MAX, b"10000000000000000000"),
        Err(too_long(10_000_000_000_000_000_000, MAX))
    );
    // At the maximum: a partial frame, waiting for its data.
    assert_eq!(first_result(MAX, b"2000000000000000000:"), Ok(None));
    // The same through the spec, the borrowed API and end-of-stream.
    let mut framing: Framing = "netstring,max=2000000000000000000".parse().unwrap();
    let mut buf = BytesMut::from(&b"19999999999999999999:"[..]);
    assert_eq!(framing.decode_eof(&mut buf), Err(too_long(u64::MAX, MAX)));
    let n = Netstring::new(MAX);
    let mut frames = msgframe_codec::Parse::frames(&n, b"5:hello,19999999999999999999:");
    assert_eq!(frames.next(), Some(Ok(&b"hello"[..])));
    assert_eq!(
        frames.next(),
        Some(Err(CodecError::FrameTooLong {
            offset: 8,
            length: u64::MAX,
            exact: false,
            max: MAX as u64,
            discarding: false,
        }))
    );
}

#[cfg(target_pointer_width = "64")]
#[test]
fn the_largest_maximums_never_overflow() {
    let m = Netstring::MAX;
    for max in [usize::MAX, m + 1, m, isize::MAX as usize] {
        let n = Netstring::new(max);
        assert_eq!(n.max_frame_length(), m, "Netstring::new({max})");
        for (wire, expected) in [
            (format!("{m}:"), Ok(None)),
            (format!("{}:", m + 1), Err(too_long(m as u64 + 1, m))),
            // Past the maximum at the 19th digit, before any overflow.
            ("9".repeat(100), Err(too_long(9_999_999_999_999_999_999, m))),
            // Within the maximum for 19 digits; the 20th overflows: saturated.
            ("19999999999999999999:".into(), Err(too_long(u64::MAX, m))),
            ("18446744073709551616:".into(), Err(too_long(u64::MAX, m))),
            (format!("{}:", usize::MAX), Err(too_long(u64::MAX, m))),
        ] {
            assert_eq!(first_result(max, wire.as_bytes()), expected, "{wire}");
        }
        // It still frames and encodes small messages.
        let mut wire = BytesMut::new();
        n.encode(b"hello", &mut wire).unwrap();
        assert_eq!(
            decode_all(&mut n.clone(), &wire).unwrap(),
            vec![&b"hello"[..]]
        );
    }
}

/// What a netstring length prefix (`digits` then `:`) must give: computed in u128, which no digit
/// string of the tested lengths can overflow.
#[derive(Debug, PartialEq)]
enum Verdict {
    /// A frame of this many data bytes follows.
    Accept(u128),
    /// Refused at the digit that took the value past the maximum: the value then, saturated to u64.
    TooLong(u64),
    /// A leading zero.
    Malformed,
}

fn verdict(digits: &[u8], max: usize) -> Verdict {
    let max = max.min(Netstring::MAX) as u128;
    if digits.len() > 1 && digits[0] == b'0' {
        return Verdict::Malformed;
    }
    let mut value = 0u128;
    for &d in digits {
        value = value * 10 + u128::from(d - b'0');
        if value > max {
            return Verdict::TooLong(u64::try_from(value).unwrap_or(u64::MAX));
        }
    }
    Verdict::Accept(value)
}

fn any_maximum() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(usize::MAX),
        Just(Netstring::MAX),
        Just(Netstring::MAX + 1),
        Just(Netstring::MAX - 1),
        Just(0),
        any::<usize>(),
        0usize..100_000,
        // Around the powers of ten, where the digit count changes.
        (0u32..20, -3i64..=3).prop_map(|(k, d)| {
            usize::try_from(10u64.pow(k))
                .unwrap_or(usize::MAX)
                .saturating_add_signed(d as isize)
        }),
        (0usize..1000).prop_map(|d| usize::MAX - d),
        (0usize..1000).prop_map(|d| Netstring::MAX - d),
    ]
}

proptest! {
    #[test]
    fn any_digits_under_any_maximum_agree_with_a_u128_model_and_never_panic(
        digits in "[0-9]{1,38}",
        max in any_maximum(),
    ) {
        let wire = format!("{digits}:");
        let n = Netstring::new(max);
        let limit = max.min(Netstring::MAX);
        prop_assert_eq!(n.max_frame_length(), limit);
        let got = first_result(max, wire.as_bytes());
        match verdict(digits.as_bytes(), max) {
            Verdict::Accept(len) => {
                prop_assert_eq!(got, Ok(None));
                // The borrowed parser asks for the data and the comma.
                let status = msgframe_codec::Parse::parse(&n, wire.as_bytes(), 0).unwrap();
                prop_assert_eq!(
                    status,
                    msgframe_codec::Status::Partial { needed: Some(usize::try_from(len + 1).unwrap()) }
                );
            }
            Verdict::TooLong(length) => prop_assert_eq!(got, Err(too_long(length, limit))),
            Verdict::Malformed => {
                prop_assert!(matches!(got, Err(CodecError::Malformed { offset: 0, .. })), "{:?}", got)
            }
        }
    }

    #[test]
    fn any_bytes_under_any_maximum_never_panic(
        input in prop::collection::vec(prop_oneof![4 => b'0'..=b'9', 1 => any::<u8>()], 0..60),
        max in any_maximum(),
    ) {
        let _ = decode_all(&mut Netstring::new(max), &input);
        let _ = msgframe_codec::Parse::frames(&Netstring::new(max), &input).count();
    }
}
