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
