//! `StreamFrames`: a whole stream walked frame by frame, with each frame's offset and the offset
//! where the stream stops being valid frames.

use bytes::BytesMut;
use msgframe_codec::{CodecError, Decoder, Encoder, Framing, StreamFrame, StreamFrames};
use proptest::prelude::*;

fn framing(spec: &str) -> Framing {
    spec.parse().unwrap()
}

fn encoded(spec: &str, bodies: &[&[u8]]) -> Vec<u8> {
    let f = framing(spec);
    let mut wire = BytesMut::new();
    for body in bodies {
        f.encode(body, &mut wire).unwrap();
    }
    wire.to_vec()
}

/// (offset, len, frame) of each frame, and the error the walk ended with.
type Walk = (Vec<(usize, usize, Vec<u8>)>, Option<(usize, CodecError)>);

fn walk(spec: &str, stream: &[u8]) -> Walk {
    let mut frames = Vec::new();
    let mut end = None;
    for item in StreamFrames::new(framing(spec), stream) {
        match item {
            Ok(StreamFrame { offset, len, frame }) => frames.push((offset, len, frame.to_vec())),
            Err(e) => end = Some((e.offset, e.error)),
        }
    }
    (frames, end)
}

#[test]
fn frames_come_with_their_offsets_and_spans() {
    let stream = encoded("be:2", &[b"0800", b"0810 ok", b"0200 pay"]);
    let (frames, end) = walk("be:2", &stream);
    assert_eq!(
        frames,
        [
            (0, 6, b"0800".to_vec()),
            (6, 9, b"0810 ok".to_vec()),
            (15, 10, b"0200 pay".to_vec()),
        ]
    );
    assert_eq!(end, None);

    let stream = b"0003abc00000002xy";
    let (frames, end) = walk("ascii:4", stream);
    let offsets: Vec<_> = frames.iter().map(|(o, l, _)| (*o, *l)).collect();
    assert_eq!(offsets, [(0, 7), (7, 4), (11, 6)]);
    assert_eq!(frames[1].2, b"");
    assert_eq!(end, None);
}

#[test]
fn a_frame_knows_where_the_next_one_starts() {
    let stream = encoded("lines", &[b"one", b"three"]);
    let mut frames = StreamFrames::new(framing("lines"), &stream);
    let first = frames.next().unwrap().unwrap();
    assert_eq!(first.end(), 4);
    assert_eq!(frames.offset(), 4);
    let second = frames.next().unwrap().unwrap();
    assert_eq!((second.offset, second.end()), (4, 10));
    assert!(frames.next().is_none());
    assert!(frames.next().is_none());
}

#[test]
fn an_empty_stream_has_no_frames_and_no_error() {
    for spec in ["be:2", "lines", "eof", "fixed:4", "netstring"] {
        assert_eq!(walk(spec, b""), (vec![], None), "{spec}");
    }
}

#[test]
fn a_truncated_tail_ends_the_walk_at_the_last_whole_frame() {
    let mut stream = encoded("be:2", &[b"0800", b"0810 ok"]);
    stream.extend_from_slice(b"\x00\x09020"); // a header claiming 9 bytes, and 3 of them
    let mut frames = StreamFrames::new(framing("be:2"), &stream);
    assert_eq!(frames.next().unwrap().unwrap().offset, 0);
    assert_eq!(frames.next().unwrap().unwrap().offset, 6);
    let end = frames.next().unwrap().unwrap_err();
    assert_eq!(end.offset, 15);
    assert!(end.is_truncated(), "{end}");
    assert!(matches!(
        end.error,
        CodecError::UnexpectedEof {
            offset: 15,
            buffered: 5,
            expected: Some(11)
        }
    ));
    assert_eq!(
        end.to_string(),
        "stopped at stream offset 15: stream ended inside the frame at stream offset 15: 5 bytes buffered, 11 expected"
    );
    assert!(frames.next().is_none());

    // Half a length field.
    let (frames, end) = walk("be:2", b"\x00\x01a\x00");
    assert_eq!(frames.len(), 1);
    let (offset, error) = end.unwrap();
    assert_eq!(offset, 3);
    assert!(matches!(error, CodecError::UnexpectedEof { .. }), "{error}");

    // A last line with no newline.
    let (frames, end) = walk("lines", b"one\ntwo");
    assert_eq!(frames, [(0, 4, b"one".to_vec())]);
    assert_eq!(end.unwrap().0, 4);
}

#[test]
fn an_invalid_frame_in_the_middle_is_named_by_its_offset() {
    let mut stream = encoded("ascii:4", &[b"0800", b"0810 ok"]);
    let bad = stream.len();
    stream.extend_from_slice(b"00x3abc");
    stream.extend_from_slice(&encoded("ascii:4", &[b"never reached"]));
    let mut frames = StreamFrames::new(framing("ascii:4"), &stream);
    assert_eq!(frames.next().unwrap().unwrap().frame, b"0800");
    assert_eq!(frames.next().unwrap().unwrap().frame, b"0810 ok");
    let end = frames.next().unwrap().unwrap_err();
    assert_eq!(end.offset, bad);
    assert_eq!(bad, 19);
    assert!(!end.is_truncated());
    assert!(
        matches!(end.error, CodecError::Header { offset: 19, .. }),
        "{}",
        end.error
    );
    assert!(
        end.to_string()
            .starts_with("stopped at stream offset 19: frame at stream offset 19:"),
        "{end}"
    );
    assert!(frames.next().is_none(), "the walk stops at the first error");
}

#[test]
fn an_oversized_frame_stops_the_walk_even_when_it_could_be_discarded() {
    let mut stream = encoded("be:2", &[b"ok"]);
    stream.extend_from_slice(&encoded("be:2", &[&[b'x'; 20]]));
    let (frames, end) = walk("be:2,max=10,oversize=discard", &stream);
    assert_eq!(frames.len(), 1);
    let (offset, error) = end.unwrap();
    assert_eq!(offset, 4);
    assert!(error.is_resumable(), "{error}");
}

#[test]
fn the_end_of_the_stream_ends_the_last_frame_where_the_framing_says_so() {
    // Until end-of-stream: the whole stream is one frame.
    assert_eq!(
        walk("eof", b"all of it"),
        (vec![(0, 9, b"all of it".to_vec())], None)
    );
    // Bytes after the last delimiter, delivered at end of stream.
    assert_eq!(
        walk("delim:03,eof=deliver", b"a\x03bc"),
        (vec![(0, 2, b"a".to_vec()), (2, 2, b"bc".to_vec())], None)
    );
}

#[test]
fn skipped_keepalives_count_as_the_next_frames_bytes() {
    // An empty frame (a keepalive) between two frames, skipped.
    let stream = b"0001a00000001b";
    let (frames, end) = walk("ascii:4,empty=skip", stream);
    assert_eq!(frames, [(0, 5, b"a".to_vec()), (5, 9, b"b".to_vec())]);
    assert_eq!(end, None);
}

const SPECS: &[&str] = &[
    "ascii:4",
    "hex:4",
    "bcd:2",
    "be:2",
    "le:2",
    "be:2,before=0300,counts-header",
    "be:2,trailer=03",
    "ascii:4,empty=skip",
    "be:2,max=100",
    "be:2,max=20,oversize=discard",
    "fixed:7",
    "delim:03",
    "delim:03,eof=deliver",
    "lines",
    "lines:crlf,max=40",
    "netstring",
    "eof",
    "eof,max=50",
];

/// How a stream used to be walked by hand: `decode`, and `decode_eof` when that finds no whole
/// frame in the bytes left; the offset before each call.
fn by_hand(spec: &str, stream: &[u8]) -> Walk {
    let mut f = framing(spec);
    let mut buf = BytesMut::from(stream);
    let mut frames = Vec::new();
    loop {
        let offset = stream.len() - buf.len();
        let result = match f.decode(&mut buf) {
            Ok(None) if !buf.is_empty() => f.decode_eof(&mut buf),
            other => other,
        };
        match result {
            Ok(Some(frame)) => {
                frames.push((offset, stream.len() - buf.len() - offset, frame.to_vec()));
            }
            Ok(None) => return (frames, None),
            Err(e) => return (frames, Some((offset, e))),
        }
    }
}

fn stream_for(spec: &'static str) -> impl Strategy<Value = (&'static str, Vec<u8>)> {
    // Well-formed frames, then a tail of anything (often garbage or a cut-short frame).
    let bodies = prop::collection::vec(prop::collection::vec(any::<u8>(), 0..30), 0..6);
    let tail = prop::collection::vec(any::<u8>(), 0..12);
    (bodies, tail).prop_map(move |(bodies, tail)| {
        let f = framing(spec);
        let mut wire = BytesMut::new();
        for body in &bodies {
            let _ = f.encode(body, &mut wire);
        }
        let mut stream = wire.to_vec();
        stream.extend_from_slice(&tail);
        (spec, stream)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The walk finds what decoding by hand finds: the same frames at the same offsets, and the
    /// same error at the same offset.
    #[test]
    fn the_walk_agrees_with_decoding_by_hand(
        (spec, stream) in prop::sample::select(SPECS).prop_flat_map(stream_for)
    ) {
        prop_assert_eq!(walk(spec, &stream), by_hand(spec, &stream), "{}", spec);
    }
}
