//! The facade crate re-exports every layer: a user needs only `msgframe`.

use bytes::BytesMut;
use msgframe::{Decoder, Encoder, Framing, LengthEncoding, LengthField, LengthPrefixed};

#[test]
fn every_spec_in_the_readme_frames_and_unframes_through_the_facade() {
    for spec in [
        "ascii:4",
        "hex:4",
        "bcd:2",
        "be:2",
        "le:4",
        "be:4,counts-header",
        "be:2,after=0000",
        "be:2,before=0300,counts-header",
        "fixed:5",
        "delim:03",
        "lines",
        "lines:crlf",
        "eof",
    ] {
        let mut framing: Framing = spec.parse().unwrap();
        let mut wire = BytesMut::new();
        framing.encode(b"hello", &mut wire).unwrap();
        let frame = framing.decode_eof(&mut wire).unwrap().unwrap();
        assert_eq!(&frame[..], b"hello", "{spec}");
        assert!(wire.is_empty(), "{spec}");
    }
}

#[test]
fn header_encodings_are_reachable_from_the_facade() {
    let bcd = msgframe::PackedBcd::new(2).unwrap();
    assert_eq!(bcd.decode(&[0x01, 0x23]).unwrap(), 123);
    let framing = LengthPrefixed::new(LengthEncoding::from(bcd)).unwrap();
    let mut out = BytesMut::new();
    framing.encode(&[0; 123], &mut out).unwrap();
    assert_eq!(&out[..2], &[0x01, 0x23]);
}
