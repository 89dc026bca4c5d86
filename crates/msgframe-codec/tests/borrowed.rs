//! Borrowed frames (`Parse`, `frames()`) agree with owned decoding (`Decoder::decode`) on every
//! framing: the same frames, the same first error, the same bytes consumed.

use bytes::BytesMut;
use msgframe_codec::{CodecError, Decoder, Encoder, Framing, Parse, Status};
use proptest::prelude::*;

const SPECS: &[&str] = &[
    "ascii:4",
    "ascii:3,lenient",
    "hex:4",
    "bcd:2",
    "be:1",
    "be:2",
    "le:2",
    "be:3",
    "be:4,counts-header",
    "be:2,before=0300,counts-header",
    "be:2,after=0000",
    "be:2,before=aa,after=bb,counts-from-length,strip=1",
    "be:2,adjust=-2,max=300",
    "ascii:4,empty=skip",
    "be:2,max=100",
    "fixed:7",
    "delim:03",
    "delim:0d0a,keep",
    "delim:616161,max=50",
    "lines",
    "lines:crlf,max=40",
    "netstring",
    "netstring,max=60",
    "eof,max=500",
];

/// Owned decoding of the whole buffer: frames until `None` or the first error, and bytes consumed.
fn owned(spec: &str, input: &[u8]) -> (Vec<Vec<u8>>, Option<CodecError>, usize) {
    let mut f: Framing = spec.parse().unwrap();
    let mut buf = BytesMut::from(input);
    let mut frames = Vec::new();
    loop {
        match f.decode(&mut buf) {
            Ok(Some(frame)) => frames.push(frame.to_vec()),
            Ok(None) => return (frames, None, input.len() - buf.len()),
            Err(e) => return (frames, Some(e), 0),
        }
    }
}

fn borrowed(spec: &str, input: &[u8]) -> (Vec<Vec<u8>>, Option<CodecError>, usize) {
    let f: Framing = spec.parse().unwrap();
    let mut iter = f.frames(input);
    let mut frames = Vec::new();
    for item in &mut iter {
        match item {
            Ok(frame) => frames.push(frame.to_vec()),
            Err(e) => return (frames, Some(e), 0),
        }
    }
    (frames, None, iter.consumed())
}

fn stream(spec: &str, msgs: &[Vec<u8>], garbage: &[u8]) -> Vec<u8> {
    let f: Framing = spec.parse().unwrap();
    let mut wire = BytesMut::new();
    for m in msgs {
        let _ = f.encode(m, &mut wire); // messages a framing refuses are left out
    }
    wire.extend_from_slice(garbage);
    wire.to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn borrowed_and_owned_decoding_agree(
        spec in prop::sample::select(SPECS),
        msgs in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..120), 0..8),
        garbage in prop::collection::vec(any::<u8>(), 0..40),
        cut in any::<prop::sample::Index>(),
    ) {
        let full = stream(spec, &msgs, &garbage);
        // Also any prefix of the stream: a buffer that ends mid-frame.
        let input = &full[..cut.index(full.len() + 1)];
        let (o_frames, o_err, o_consumed) = owned(spec, input);
        let (b_frames, b_err, b_consumed) = borrowed(spec, input);
        prop_assert_eq!(&b_frames, &o_frames, "{}", spec);
        prop_assert_eq!(&b_err, &o_err, "{}", spec);
        prop_assert_eq!(b_consumed, o_consumed, "{}", spec);
    }
}

#[test]
fn frames_report_what_the_partial_frame_needs() {
    let f: Framing = "ascii:4".parse().unwrap();
    let mut frames = f.frames(b"0002ok0005abc");
    assert_eq!(frames.next(), Some(Ok(&b"ok"[..])));
    assert_eq!(frames.next(), None);
    assert_eq!(frames.consumed(), 6);
    assert_eq!(frames.remaining(), b"0005abc");
    assert_eq!(frames.needed(), Some(2));
    assert_eq!(frames.next(), None, "fused");
}

#[test]
fn keepalives_are_skipped_and_counted_as_consumed() {
    let f: Framing = "be:2,empty=skip".parse().unwrap();
    let frames: Vec<_> = f.frames(b"\x00\x00\x00\x01x\x00\x00").collect();
    assert_eq!(frames, vec![Ok(&b"x"[..])]);
    assert_eq!(f.parse(b"\x00\x00", 0).unwrap(), Status::Skip { len: 2 });
}

#[test]
fn an_oversized_frame_is_an_error_even_under_discard() {
    let f: Framing = "be:2,max=4,oversize=discard".parse().unwrap();
    let mut frames = f.frames(b"\x00\x09");
    assert!(matches!(
        frames.next(),
        Some(Err(CodecError::FrameTooLong {
            discarding: false,
            ..
        }))
    ));
    assert_eq!(frames.next(), None);
}

#[test]
fn errors_carry_the_stream_offset_given() {
    let f: Framing = "ascii:4".parse().unwrap();
    let mut frames = msgframe_codec::Frames::new(&f, b"0001a00x1", 1000);
    assert_eq!(frames.next(), Some(Ok(&b"a"[..])));
    let err = frames.next().unwrap().unwrap_err();
    assert!(
        matches!(err, CodecError::Header { offset: 1005, .. }),
        "{err}"
    );
}
