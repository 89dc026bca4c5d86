//! Fixed trailer bytes after a length-prefixed body: BASE24-style `LL LL body 03`, where the length
//! counts the ETX, and layouts where it does not. Golden bytes, spec text, verification, errors.

use bytes::{Bytes, BytesMut};
use msgframe_codec::header::LengthEncoding;
use msgframe_codec::{
    CodecError, Decoder, Encoder, FixedPart, Framing, FramingSpec, LengthPrefixed, Parse, Status,
};

fn spec(s: &str) -> Framing {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn encode(framing: &Framing, body: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    framing.encode(body, &mut out).unwrap();
    out.to_vec()
}

#[test]
fn base24_style_length_counts_the_etx_after_the_body() {
    let mut framing = spec("be:2,trailer=03,counts-trailer");
    let wire = encode(&framing, b"0200 hello");
    assert_eq!(wire, b"\x00\x0B0200 hello\x03");
    let mut buf = BytesMut::from(&wire[..]);
    assert_eq!(
        framing.decode(&mut buf).unwrap(),
        Some(Bytes::from_static(b"0200 hello")),
        "the trailer is removed by default"
    );
    assert!(buf.is_empty());
}

#[test]
fn a_trailer_the_length_does_not_count() {
    let mut framing = spec("ascii:4,trailer=03");
    let wire = encode(&framing, b"abc");
    assert_eq!(wire, b"0003abc\x03");
    let mut buf = BytesMut::from(&wire[..]);
    assert_eq!(
        framing.decode(&mut buf).unwrap().as_deref(),
        Some(&b"abc"[..])
    );
}

#[test]
fn keep_trailer_delivers_it_with_the_body() {
    let mut framing = spec("bcd:2,trailer=0d0a,keep-trailer");
    let wire = encode(&framing, b"abc");
    assert_eq!(wire, b"\x00\x03abc\r\n");
    let mut buf = BytesMut::from(&wire[..]);
    assert_eq!(
        framing.decode(&mut buf).unwrap().as_deref(),
        Some(&b"abc\r\n"[..])
    );
}

#[test]
fn the_builder_and_the_spec_agree() {
    let built = LengthPrefixed::builder(LengthEncoding::big_endian(2).unwrap())
        .trailer(&[0x03][..])
        .counts_trailer(true)
        .build()
        .unwrap();
    let from_text: Framing = "be:2,trailer=03,counts-trailer".parse().unwrap();
    assert_eq!(Framing::from(built).spec(), from_text.spec());
    for text in [
        "be:2,trailer=03,counts-trailer",
        "ascii:4,trailer=03",
        "be:4,before=0300,trailer=0d0a,no-verify,counts-header,counts-trailer,keep-trailer",
    ] {
        let parsed: FramingSpec = text.parse().unwrap();
        assert_eq!(parsed.to_string(), text, "round trip");
    }
}

#[test]
fn a_wrong_trailer_poisons_the_decoder_and_names_the_bytes() {
    let mut framing = spec("be:2,trailer=03,counts-trailer");
    let mut buf = BytesMut::from(&b"\x00\x03ab\x03\x00\x03ab\x04"[..]);
    assert_eq!(
        framing.decode(&mut buf).unwrap().as_deref(),
        Some(&b"ab"[..])
    );
    let err = framing.decode(&mut buf).unwrap_err();
    assert_eq!(
        err,
        CodecError::FixedBytesMismatch {
            offset: 5,
            part: FixedPart::Trailer,
            expected: msgframe_codec::Hex(Box::new([0x03])),
            found: msgframe_codec::Hex(Box::new([0x04])),
        }
    );
    assert_eq!(
        err.to_string(),
        "frame at stream offset 5: trailer bytes after the body are [04], expected [03]"
    );
    assert!(matches!(
        framing.decode(&mut buf),
        Err(CodecError::Poisoned { offset: 5 })
    ));
}

#[test]
fn no_verify_accepts_any_trailer_bytes() {
    let mut framing = spec("be:2,trailer=03,no-verify");
    let mut buf = BytesMut::from(&b"\x00\x02ab\xFF"[..]);
    assert_eq!(
        framing.decode(&mut buf).unwrap().as_deref(),
        Some(&b"ab"[..])
    );
}

#[test]
fn a_frame_waits_for_its_trailer() {
    let mut framing = spec("be:2,trailer=0304,counts-trailer");
    let mut buf = BytesMut::from(&b"\x00\x04ab\x03"[..]);
    assert_eq!(framing.decode(&mut buf).unwrap(), None);
    assert_eq!(framing.bytes_wanted(buf.len()), Some(1));
    assert!(matches!(
        framing.parse(&buf, 0),
        Ok(Status::Partial { needed: Some(1) })
    ));
    buf.extend_from_slice(b"\x04");
    assert_eq!(
        framing.decode(&mut buf).unwrap().as_deref(),
        Some(&b"ab"[..])
    );
}

#[test]
fn a_length_smaller_than_the_counted_trailer_is_an_error() {
    let mut framing = spec("be:2,trailer=0304,counts-trailer");
    let mut buf = BytesMut::from(&b"\x00\x01ab"[..]);
    assert!(matches!(
        framing.decode(&mut buf),
        Err(CodecError::LengthTooSmall {
            length: 1,
            minimum: 2,
            ..
        })
    ));
}

#[test]
fn the_maximum_counts_the_body_only() {
    let framing = spec("be:1,trailer=03,counts-trailer");
    // One byte of length counting the trailer: bodies of at most 254 bytes.
    assert_eq!(
        match &framing {
            Framing::LengthPrefixed(f) => f.max_frame_length(),
            _ => unreachable!(),
        },
        254
    );
    assert!(matches!(
        framing.encode(&[0; 255], &mut BytesMut::new()),
        Err(CodecError::MessageTooLong {
            length: 255,
            max: 254
        })
    ));
    let wire = encode(&framing, &[7; 254]);
    assert_eq!(wire[0], 255);
    assert_eq!(wire.len(), 256);
}

#[test]
fn trailer_options_without_a_trailer_are_refused_and_point_at_the_option() {
    for text in ["be:2,counts-trailer", "be:2,keep-trailer"] {
        let err = text.parse::<FramingSpec>().unwrap_err();
        assert_eq!(&text[err.span()], &text[5..], "{text}: {err}");
    }
}

#[test]
fn every_chunking_of_a_trailered_stream_gives_the_same_frames() {
    let framing = spec("ascii:4,trailer=03,counts-trailer,empty=skip");
    let mut wire = Vec::new();
    let bodies: Vec<Vec<u8>> = (0..20).map(|i| vec![b'a' + i as u8; i * 7]).collect();
    for b in &bodies {
        wire.extend_from_slice(&encode(&framing, b));
    }
    for chunk in [1, 2, 3, 5, 64] {
        let mut decoder = framing.clone();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for piece in wire.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some(frame) = decoder.decode(&mut buf).unwrap() {
                got.push(frame.to_vec());
            }
        }
        assert!(decoder.decode_eof(&mut buf).unwrap().is_none());
        // The empty body was a keepalive.
        assert_eq!(got, bodies[1..], "chunks of {chunk}");
    }
}
