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

// ---- Bare zero-length keep-alives (BASE24-TCP) ----

fn base24() -> Framing {
    spec("be:2,trailer=03,counts-trailer")
}

/// Decodes `wire` fed in the chunks `cuts` makes, to the end.
fn decode_in_chunks(framing: &Framing, wire: &[u8], cuts: &[usize]) -> Vec<Bytes> {
    let mut decoder = framing.clone();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut fed = 0;
    for &cut in cuts.iter().chain(std::iter::once(&wire.len())) {
        buf.extend_from_slice(&wire[fed..cut]);
        fed = cut;
        while let Some(frame) = decoder.decode(&mut buf).unwrap() {
            frames.push(frame);
        }
    }
    assert!(buf.is_empty(), "{buf:?} left");
    frames
}

#[test]
fn a_bare_zero_length_between_base24_frames_is_an_empty_frame_at_every_chunking() {
    let framing = base24();
    let wire = [&b"\x00\x050200\x03"[..], b"\x00\x00", b"\x00\x050210\x03"].concat();
    let expected = [&b"0200"[..], b"", b"0210"];
    // Every single cut, and every pair of cuts.
    for a in 0..=wire.len() {
        for b in a..=wire.len() {
            let frames = decode_in_chunks(&framing, &wire, &[a, b]);
            assert_eq!(frames, expected, "cut at {a} and {b}");
        }
    }
    // Byte by byte.
    let ones: Vec<usize> = (1..wire.len()).collect();
    assert_eq!(decode_in_chunks(&framing, &wire, &ones), expected);
    // And borrowed, with no allocation.
    let mut offset = 0;
    let mut borrowed = Vec::new();
    while offset < wire.len() {
        match framing.parse(&wire[offset..], offset as u64).unwrap() {
            Status::Frame { frame, len } => {
                borrowed.push(frame.to_vec());
                offset += len;
            }
            other => panic!("{other:?} at {offset}"),
        }
    }
    assert_eq!(borrowed, expected);
}

#[test]
fn an_empty_frame_on_base24_is_written_as_the_bare_zero_length() {
    assert_eq!(encode(&base24(), b""), b"\x00\x00");
    // Non-empty frames keep their trailer.
    assert_eq!(encode(&base24(), b"x"), b"\x00\x02x\x03");
    // The framed form on request, and both forms read as an empty frame.
    let framed = spec("be:2,trailer=03,counts-trailer,empty-form=framed");
    assert_eq!(encode(&framed, b""), b"\x00\x01\x03");
    for framing in [base24(), framed] {
        for wire in [&b"\x00\x00"[..], b"\x00\x01\x03"] {
            assert_eq!(
                decode_in_chunks(&framing, wire, &[]),
                [Bytes::new()],
                "{wire:02X?}"
            );
        }
    }
}

#[test]
fn bare_keepalives_are_skipped_and_counted_with_empty_skip() {
    let framing = spec("be:2,trailer=03,counts-trailer,empty=skip");
    let wire = b"\x00\x00\x00\x00\x00\x02x\x03\x00\x00";
    let frames = decode_in_chunks(&framing, wire, &[1, 3]);
    assert_eq!(frames, [Bytes::from_static(b"x")]);
    let Framing::LengthPrefixed(mut lp) = framing else {
        panic!("a length framing")
    };
    let mut buf = BytesMut::from(&wire[..]);
    while lp.decode(&mut buf).unwrap().is_some() {}
    assert_eq!(lp.keepalives_skipped(), 3);
}

#[test]
fn the_empty_form_is_printed_back_as_given() {
    for (given, printed) in [
        (
            "be:2,trailer=03,counts-trailer",
            "be:2,trailer=03,counts-trailer",
        ),
        (
            "be:2,trailer=03,counts-trailer,empty-form=bare",
            "be:2,trailer=03,counts-trailer,empty-form=bare",
        ),
        (
            "be:2,trailer=03,counts-trailer,empty-form=framed",
            "be:2,trailer=03,counts-trailer,empty-form=framed",
        ),
        ("ascii:4,trailer=03", "ascii:4,trailer=03"),
        (
            "ascii:4,trailer=03,empty-form=bare",
            "ascii:4,trailer=03,empty-form=bare",
        ),
    ] {
        let parsed: FramingSpec = given.parse().unwrap();
        assert_eq!(parsed.to_string(), printed, "{given}");
    }
    // Every other framing's empty frame is as it was.
    assert_eq!(encode(&spec("ascii:4"), b""), b"0000");
    assert_eq!(encode(&spec("be:2,before=0000"), b""), b"\x00\x00\x00\x00");
    assert_eq!(encode(&spec("ascii:4,trailer=03"), b""), b"0000\x03");
    // Without a trailer there is nothing to leave out.
    let err = "be:2,empty-form=bare".parse::<Framing>().unwrap_err();
    assert!(err.to_string().contains("trailer"), "{err}");
}

#[test]
fn with_a_bare_empty_frame_no_other_body_may_have_a_zero_length() {
    // The length does not count the trailer here, so a body of 0 bytes would be `00 00 03`; set
    // bare, `00 00` is the empty frame and nothing else is written with a zero length.
    let framing = spec("be:2,trailer=03,empty-form=bare,adjust=2");
    assert_eq!(encode(&framing, b""), b"\x00\x00");
    let mut out = BytesMut::new();
    let err = framing.encode(b"ab", &mut out).unwrap_err();
    assert!(
        matches!(err, CodecError::MessageTooShort { length: 2, .. }),
        "{err}"
    );
    assert!(out.is_empty());
    assert_eq!(encode(&framing, b"abc"), b"\x00\x01abc\x03");
}
