//! Sniffing: on streams written by the library's own encoders, in every framing it encodes, the
//! true framing (or an equivalent one: it ends every frame at the same place) ranks first — also
//! when the capture is cut mid-frame or ends in garbage.

use bytes::BytesMut;
use msgframe_codec::sniff::sniff;
use msgframe_codec::{Decoder, Encoder, Framing};

/// Every framing the tour shows, the way hosts use them.
const SPECS: &[&str] = &[
    "ascii:4",
    "ascii:3",
    "ascii:6",
    "hex:2",
    "hex:4",
    "hex:6",
    "bcd:1",
    "bcd:2",
    "bcd:3",
    "be:1",
    "be:2",
    "le:2",
    "be:3",
    "be:4",
    "le:4",
    "be:8",
    "le:8",
    "be:2,after=0000",
    "be:2,before=0300,counts-header",
    "be:2,counts-header",
    "be:4,counts-header",
    "be:2,trailer=03,counts-trailer",
    "ascii:4,trailer=03",
    "fixed:25",
    "delim:03",
    "lines",
    "lines:crlf",
    "netstring",
];

fn framing(spec: &str) -> Framing {
    spec.parse().unwrap()
}

/// Six ISO 8583-like bodies of different lengths (25 bytes each for `fixed:25`).
fn bodies(spec: &str) -> Vec<Vec<u8>> {
    (1..=6u32)
        .map(|i| {
            let mut body = format!("0200{i:06}amount={:08}", i * 125).into_bytes();
            if !spec.starts_with("fixed") {
                body.extend(std::iter::repeat_n(b'x', (i as usize * 7) % 23));
            }
            body
        })
        .collect()
}

fn stream(spec: &str) -> BytesMut {
    let f = framing(spec);
    let mut out = BytesMut::new();
    for body in bodies(spec) {
        f.encode(&body, &mut out).unwrap();
    }
    out
}

/// Where `spec` ends each frame of `stream` (stream offsets), from the start, until it cannot go
/// on. Two framings that end frames at the same places are equivalent for finding messages (one
/// may strip a fixed prefix the other keeps).
fn boundaries(spec: &str, stream: &[u8]) -> Vec<usize> {
    let mut f = framing(spec);
    let mut buf = BytesMut::from(stream);
    let mut out = Vec::new();
    while let Ok(Some(_)) = f.decode(&mut buf) {
        out.push(stream.len() - buf.len());
    }
    out
}

fn assert_top_is_equivalent(truth: &str, stream: &[u8], case: &str) {
    let sniffed = sniff(stream);
    let top = sniffed
        .answers
        .first()
        .unwrap_or_else(|| panic!("{truth} {case}: no answer"));
    let expected = boundaries(truth, stream);
    let got = boundaries(&top.specs[0], stream);
    assert!(
        top.specs.iter().any(|s| s == truth) || got == expected,
        "{truth} {case}: ranked first {:?} ({:.1} bits, {:?}); the truth ranked {:?}",
        top.specs,
        top.bits,
        top.evidence,
        sniffed
            .answers
            .iter()
            .position(|a| a.specs.iter().any(|s| s == truth))
            .map(|p| (p + 1, sniffed.answers[p].bits)),
    );
}

#[test]
fn the_true_framing_ranks_first_on_whole_streams() {
    for spec in SPECS {
        assert_top_is_equivalent(spec, &stream(spec), "whole");
    }
}

#[test]
fn the_true_framing_ranks_first_on_a_stream_cut_mid_frame() {
    for spec in SPECS.iter().filter(|s| !s.starts_with("fixed")) {
        let whole = stream(spec);
        let cut = &whole[..whole.len() - 5];
        assert_top_is_equivalent(spec, cut, "cut mid-frame");
    }
}

#[test]
fn the_true_framing_ranks_first_despite_a_garbage_tail() {
    for spec in SPECS.iter().filter(|s| !s.starts_with("fixed")) {
        let mut s = stream(spec).to_vec();
        s.extend_from_slice(b"\xff\xfe garbage \x01");
        assert_top_is_equivalent(spec, &s, "garbage tail");
    }
}

#[test]
fn a_single_message_until_end_of_stream_is_recognised() {
    let body = b"HTTP-like reply without any framing, just ended by the peer closing".to_vec();
    let sniffed = sniff(&body);
    assert_eq!(sniffed.answers[0].specs[0], "eof", "{sniffed:?}");
    assert!(sniffed.confident().is_none(), "{sniffed:?}");
}

#[test]
fn candidates_are_specs_that_parse_and_carry_evidence() {
    for a in sniff(&stream("bcd:2")).answers {
        for spec in &a.specs {
            assert!(spec.parse::<Framing>().is_ok(), "{spec}");
        }
        assert!(!a.evidence.is_empty());
        assert!(a.explained + a.partial <= a.examined);
    }
}

#[test]
fn length_headers_are_found_without_iso_8583_bodies_too() {
    // Binary bodies (CMPP/SMPP-like: a command id, a sequence number, fields), no MTI anywhere.
    for spec in SPECS.iter().filter(|s| {
        !s.starts_with("fixed")
            && !s.starts_with("delim")
            && !s.starts_with("lines")
            && !s.contains("trailer")
    }) {
        let f = framing(spec);
        let mut s = BytesMut::new();
        for i in 0..8u32 {
            let mut body = vec![0x00, 0x00, 0x00, 0x04 + (i % 3) as u8];
            body.extend_from_slice(&i.to_be_bytes());
            body.extend((0..(i * 13 % 40)).map(|j| (j * 37 + i) as u8));
            f.encode(&body, &mut s).unwrap();
        }
        assert_top_is_equivalent(spec, &s, "binary bodies");
    }
}

#[test]
fn framings_the_data_cannot_tell_apart_are_one_answer_with_the_frame_that_would_decide() {
    // Every length below 10: `be:2` and `bcd:2` read every header alike.
    let f = framing("be:2");
    let mut s = BytesMut::new();
    for i in 0..40u8 {
        let body: Vec<u8> = [b'Q', b'0' + i % 10]
            .iter()
            .copied()
            .chain((0..i % 8).map(|j| b'a' + j))
            .collect();
        f.encode(&body, &mut s).unwrap();
    }
    let sniffed = sniff(&s);
    let top = &sniffed.answers[0];
    assert!(top.specs.iter().any(|s| s == "be:2"), "{top:?}");
    assert!(top.specs.iter().any(|s| s == "bcd:2"), "{top:?}");
    let undecided = top.undecided.as_deref().unwrap_or_default();
    assert!(
        undecided.contains("a frame of 10 bytes would tell")
            && undecided.contains("00 0a")
            && undecided.contains("00 10"),
        "{undecided}"
    );
}
