//! Property tests for the framings: round trips under arbitrary chunking, encoder consistency, spec
//! text round trips, oversized claims, and robustness against garbage input.
//!
//! Every streaming test goes through one helper, [`drive`], which feeds a stream to a decoder chunk by
//! chunk the way a reader would: append a chunk to a `BytesMut`, call `decode` until it returns
//! `None`, and at the end call `decode_eof` until it returns `None`.

use bytes::{Bytes, BytesMut};
use msgframe_codec::header::{LengthEncoding, LengthField};
use msgframe_codec::{
    CodecError, Decoder, Delimited, DelimitedConfig, EmptyForm, EmptyFrames, Encoder, FixedLength,
    Framing, FramingSpec, LengthCounts, LengthPrefixed, LengthPrefixedConfig, Oversize,
    UnterminatedAtEof, UntilEof,
};
use proptest::collection::vec;
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

// =============================================================================================
// The one streaming helper
// =============================================================================================

/// How a stream is cut into reads: chunk sizes, used in turn and cycled.
#[derive(Debug, Clone)]
struct Chunks(Vec<usize>);

impl Chunks {
    fn ones() -> Self {
        Chunks(vec![1])
    }

    fn split<'a>(&self, stream: &'a [u8]) -> Vec<&'a [u8]> {
        let mut out = Vec::new();
        let mut rest = stream;
        let mut sizes = self.0.iter().cycle();
        while !rest.is_empty() {
            let n = (*sizes.next().unwrap()).clamp(1, rest.len());
            let (chunk, tail) = rest.split_at(n);
            out.push(chunk);
            rest = tail;
        }
        out
    }
}

/// Arbitrary ways to cut a stream: one byte at a time, small and large reads, or all at once.
fn chunking() -> impl Strategy<Value = Chunks> {
    prop_oneof![
        1 => Just(Chunks::ones()),
        3 => vec(1usize..=8, 1..16).prop_map(Chunks),
        2 => vec(1usize..=600, 1..8).prop_map(Chunks),
        1 => Just(Chunks(vec![usize::MAX])),
    ]
}

/// What a decoder returned.
#[derive(Debug, Clone, PartialEq)]
enum Event {
    Frame(Bytes),
    Error(CodecError),
}

/// Everything observed while driving a decoder over a stream.
#[derive(Debug)]
struct Trace {
    /// Frames and errors, in order, up to and including the first non-resumable error.
    events: Vec<Event>,
    /// The buffer at the end.
    buf: BytesMut,
    /// The largest buffer capacity seen after a decode call.
    max_capacity: usize,
    /// The largest buffer length seen when a decode call returned `Ok(None)` (waiting for bytes).
    max_len_waiting: usize,
    /// How many bytes had been fed when `decode` returned a non-resumable error, if it did.
    fatal_at: Option<usize>,
    /// What every call returned after a non-resumable error from `decode`: one `decode` per later
    /// chunk (at least one), then one `decode_eof`.
    after_fatal: Vec<Result<Option<Bytes>, CodecError>>,
}

impl Trace {
    fn frames(&self) -> Vec<Bytes> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Frame(f) => Some(f.clone()),
                Event::Error(_) => None,
            })
            .collect()
    }

    fn errors(&self) -> Vec<CodecError> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Error(e) => Some(e.clone()),
                Event::Frame(_) => None,
            })
            .collect()
    }

    fn fatal(&self) -> Option<&CodecError> {
        match self.events.last() {
            Some(Event::Error(e)) if !e.is_resumable() => Some(e),
            _ => None,
        }
    }
}

/// A decoder that only says where frames are: `decode` and `decode_eof` are the trait's
/// defaults, built on `decode_slice`, with no fast path of the framing's own.
struct SliceOnly<D>(D);

impl<D: Decoder> Decoder for SliceOnly<D> {
    fn decode_slice(&mut self, buf: &[u8]) -> Result<msgframe_codec::Decoded, CodecError> {
        self.0.decode_slice(buf)
    }

    fn decode_slice_eof(&mut self, buf: &[u8]) -> Result<msgframe_codec::Decoded, CodecError> {
        self.0.decode_slice_eof(buf)
    }
}

/// A bound on decode calls per read, so that a decoder stuck yielding frames fails instead of hanging.
const MAX_CALLS_PER_READ: usize = 100_000;

/// Feeds `stream` to `decoder` in `chunks`, decoding after every chunk until `None`, then decodes at
/// end-of-stream until `None`. Resumable errors are recorded and decoding goes on; after a
/// non-resumable one the remaining chunks are still fed, with one `decode` call each, and the results
/// are kept in `after_fatal`.
fn drive<D: Decoder>(decoder: &mut D, stream: &[u8], chunks: &Chunks) -> Trace {
    drive_with(decoder, stream, chunks, false)
}

/// [`drive`], taking frames with [`Decoder::decode_whole`] first when `whole_first`, and with
/// `decode` for the rest.
fn drive_with<D: Decoder>(
    decoder: &mut D,
    stream: &[u8],
    chunks: &Chunks,
    whole_first: bool,
) -> Trace {
    let mut t = Trace {
        events: Vec::new(),
        buf: BytesMut::new(),
        max_capacity: 0,
        max_len_waiting: 0,
        fatal_at: None,
        after_fatal: Vec::new(),
    };
    let mut fatal = false;
    let mut fed = 0;
    for chunk in chunks.split(stream) {
        t.buf.extend_from_slice(chunk);
        fed += chunk.len();
        if fatal {
            let r = decoder.decode(&mut t.buf);
            t.after_fatal.push(r);
            continue;
        }
        for call in 0.. {
            assert!(call < MAX_CALLS_PER_READ, "decode never returned None");
            if whole_first {
                if let Some(frame) = decoder.decode_whole(&mut t.buf) {
                    t.events.push(Event::Frame(frame));
                    continue;
                }
            }
            let r = decoder.decode(&mut t.buf);
            t.max_capacity = t.max_capacity.max(t.buf.capacity());
            match r {
                Ok(Some(frame)) => t.events.push(Event::Frame(frame)),
                Ok(None) => {
                    t.max_len_waiting = t.max_len_waiting.max(t.buf.len());
                    break;
                }
                Err(e) => {
                    let resumable = e.is_resumable();
                    t.events.push(Event::Error(e));
                    if !resumable {
                        fatal = true;
                        t.fatal_at = Some(fed);
                        break;
                    }
                }
            }
        }
    }
    if fatal {
        if t.after_fatal.is_empty() {
            let r = decoder.decode(&mut t.buf);
            t.after_fatal.push(r);
        }
        let r = decoder.decode_eof(&mut t.buf);
        t.after_fatal.push(r);
        return t;
    }
    for call in 0.. {
        assert!(call < MAX_CALLS_PER_READ, "decode_eof never returned None");
        let r = decoder.decode_eof(&mut t.buf);
        t.max_capacity = t.max_capacity.max(t.buf.capacity());
        match r {
            Ok(Some(frame)) => t.events.push(Event::Frame(frame)),
            Ok(None) => break,
            Err(e) => {
                let resumable = e.is_resumable();
                t.events.push(Event::Error(e));
                if !resumable {
                    break;
                }
            }
        }
    }
    t
}

/// Encodes `messages` with `framing` (checking that `encode` is `encode_head + body + tail`), drives
/// a fresh copy of the framing over the wire bytes in `chunks`, and checks that exactly `expected`
/// comes out, in order, with no error and an empty buffer at the end.
fn check_round_trip<F>(
    framing: &F,
    messages: &[Vec<u8>],
    expected: &[Vec<u8>],
    chunks: &Chunks,
) -> Result<(), TestCaseError>
where
    F: Decoder + Encoder + Clone,
{
    let wire = encode_all(framing, messages)?;
    let mut decoder = framing.clone();
    let trace = drive(&mut decoder, &wire, chunks);
    prop_assert!(
        trace.errors().is_empty(),
        "errors: {:?}\nwire: {:02X?}",
        trace.errors(),
        &wire[..]
    );
    let frames = trace.frames();
    prop_assert_eq!(frames.len(), expected.len(), "frames: {:02X?}", frames);
    for (i, (frame, want)) in frames.iter().zip(expected).enumerate() {
        prop_assert_eq!(&frame[..], &want[..], "frame {}", i);
    }
    prop_assert!(
        trace.buf.is_empty(),
        "{} bytes left in the buffer",
        trace.buf.len()
    );
    Ok(())
}

/// Encodes every message, checking `encode == encode_head + body + tail` for each.
fn encode_all<F: Encoder>(framing: &F, messages: &[Vec<u8>]) -> Result<BytesMut, TestCaseError> {
    let mut wire = BytesMut::new();
    for m in messages {
        check_encode_is_head_body_tail(framing, m)?;
        framing
            .encode(m, &mut wire)
            .map_err(|e| TestCaseError::fail(format!("encode of {} bytes: {e}", m.len())))?;
    }
    Ok(wire)
}

fn check_encode_is_head_body_tail<F: Encoder>(
    framing: &F,
    body: &[u8],
) -> Result<(), TestCaseError> {
    let mut whole = BytesMut::from(&b"prefix"[..]);
    framing
        .encode(body, &mut whole)
        .map_err(|e| TestCaseError::fail(format!("encode of {} bytes: {e}", body.len())))?;
    let mut head = BytesMut::new();
    framing.encode_head(body, &mut head).unwrap();
    prop_assert_eq!(head.len(), framing.head_len());
    let parts = [&b"prefix"[..], &head, body, framing.tail_for(body.len())].concat();
    prop_assert_eq!(&whole[..], &parts[..]);
    Ok(())
}

// =============================================================================================
// Messages
// =============================================================================================

fn messages(max_count: usize) -> impl Strategy<Value = Vec<Vec<u8>>> {
    vec(vec(any::<u8>(), 0..300), 0..=max_count)
}

/// Resizes every message into `min..=max`, padding with a recognisable pattern.
fn clamp_sizes(messages: Vec<Vec<u8>>, min: usize, max: usize) -> Vec<Vec<u8>> {
    messages
        .into_iter()
        .map(|mut m| {
            m.truncate(max);
            while m.len() < min {
                m.push(m.len() as u8);
            }
            m
        })
        .collect()
}

// =============================================================================================
// Length-prefixed
// =============================================================================================

fn ascii_decimal() -> impl Strategy<Value = LengthEncoding> {
    (1usize..=10, any::<bool>()).prop_map(|(w, lenient)| match LengthEncoding::ascii_decimal(w) {
        Ok(LengthEncoding::AsciiDecimal(d)) if lenient => d.lenient().into(),
        e => e.unwrap(),
    })
}

fn ascii_hex() -> impl Strategy<Value = LengthEncoding> {
    (1usize..=16).prop_map(|w| LengthEncoding::ascii_hex(w).unwrap())
}

fn packed_bcd() -> impl Strategy<Value = LengthEncoding> {
    (1usize..=5).prop_map(|w| LengthEncoding::packed_bcd(w).unwrap())
}

fn big_endian() -> impl Strategy<Value = LengthEncoding> {
    (1usize..=8).prop_map(|w| LengthEncoding::big_endian(w).unwrap())
}

fn little_endian() -> impl Strategy<Value = LengthEncoding> {
    (1usize..=8).prop_map(|w| LengthEncoding::little_endian(w).unwrap())
}

fn any_encoding() -> BoxedStrategy<LengthEncoding> {
    prop_oneof![
        ascii_decimal(),
        ascii_hex(),
        packed_bcd(),
        big_endian(),
        little_endian()
    ]
    .boxed()
}

fn any_counts() -> impl Strategy<Value = LengthCounts> {
    prop_oneof![
        Just(LengthCounts::Body),
        Just(LengthCounts::FromLengthField),
        Just(LengthCounts::WholeFrame),
    ]
}

fn fixed_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![Just(vec![]), vec(any::<u8>(), 1..=4)]
}

/// The body length the decoder adds to the field's value (`adjustment - counted header bytes`),
/// computed independently from the config.
fn body_offset(c: &LengthPrefixedConfig) -> i128 {
    let counted = match c.counts {
        LengthCounts::Body => 0,
        LengthCounts::FromLengthField => c.encoding.width() + c.after.len(),
        LengthCounts::WholeFrame => c.before.len() + c.encoding.width() + c.after.len(),
    } + if c.counts_trailer { c.trailer.len() } else { 0 };
    i128::from(c.adjustment) - counted as i128
}

/// A trailer after the body: none, or 1-3 bytes, counted in the length or not, kept or not.
fn trailer() -> impl Strategy<Value = (Vec<u8>, bool, bool)> {
    prop_oneof![
        2 => Just((vec![], false, false)),
        1 => (vec(any::<u8>(), 1..=3), any::<bool>(), any::<bool>()),
    ]
}

/// Length-prefixed configs that build: the given encodings and counts, before/after bytes (checked
/// or not), small adjustments, maybe a strip, maybe an explicit maximum below what the field can
/// express, oversize policy, and empty frames delivered.
fn length_prefixed(
    encodings: BoxedStrategy<LengthEncoding>,
    counts: BoxedStrategy<LengthCounts>,
) -> impl Strategy<Value = LengthPrefixed> {
    (
        encodings,
        fixed_bytes(),
        fixed_bytes(),
        any::<bool>(),
        counts,
        prop_oneof![Just(0i64), -8i64..=8],
        proptest::option::of(any::<proptest::sample::Index>()),
        proptest::option::of(0usize..=400),
        prop_oneof![Just(Oversize::Fail), Just(Oversize::Discard)],
        (trailer(), 0u8..3),
    )
        .prop_filter_map(
            "config does not build",
            |(enc, before, after, verify, counts, adj, strip, max, oversize, (trailer, form))| {
                let (trailer, counts_trailer, keep_trailer) = trailer;
                let mut c = LengthPrefixed::builder(enc)
                    .before(before)
                    .after(after)
                    .trailer(trailer)
                    .counts_trailer(counts_trailer)
                    .keep_trailer(keep_trailer)
                    .verify_fixed(verify)
                    .counts(counts)
                    .adjustment(adj)
                    .oversize(oversize)
                    .empty(EmptyFrames::Deliver);
                // The empty frame's form: the default, or either one set (bare needs a trailer).
                match form {
                    1 => c = c.empty_form(EmptyForm::Bare),
                    2 => c = c.empty_form(EmptyForm::Framed),
                    _ => {}
                }
                if let Some(i) = strip {
                    let header_len = c.header_len();
                    c = c.strip(i.index(header_len + 1));
                }
                // The largest body this header can describe, then maybe a smaller explicit maximum.
                let expressible = c.clone().build().ok()?.max_frame_length();
                if let Some(m) = max {
                    c = c.max_frame_length(m.min(expressible));
                }
                c.build().ok()
            },
        )
}

/// Messages to encode, and the frames the decoder should deliver for them.
type Case = (Vec<Vec<u8>>, Vec<Vec<u8>>);

/// The bodies a length-prefixed framing can carry, and the frames it delivers for them.
fn length_prefixed_case(framing: &LengthPrefixed, msgs: Vec<Vec<u8>>) -> Option<Case> {
    let c = framing.config();
    let min = usize::try_from(body_offset(c).max(0)).ok()?;
    let max = framing.max_frame_length().min(299);
    if min > max {
        return None;
    }
    let msgs = clamp_sizes(msgs, min, max);
    let strip = c.strip.unwrap_or(c.header_len());
    // A bare empty frame has no trailer to remove.
    let msgs: Vec<Vec<u8>> = msgs
        .into_iter()
        .filter(|m| framing.encode(m, &mut BytesMut::new()).is_ok())
        .collect();
    let expected = msgs
        .iter()
        .map(|m| {
            let mut framed = BytesMut::new();
            framing.encode(m, &mut framed).unwrap();
            let removed = if c.keep_trailer {
                0
            } else {
                framing.tail_for(m.len()).len()
            };
            framed[strip..framed.len() - removed].to_vec()
        })
        .collect();
    Some((msgs, expected))
}

fn check_length_prefixed(
    framing: &LengthPrefixed,
    msgs: Vec<Vec<u8>>,
    chunks: &Chunks,
) -> Result<(), TestCaseError> {
    let Some((msgs, expected)) = length_prefixed_case(framing, msgs) else {
        return Err(TestCaseError::reject("no body length fits"));
    };
    for m in &msgs {
        check_header_layout(framing, m)?;
    }
    check_round_trip(framing, &msgs, &expected, chunks)
}

/// Checks the head written for `body` against the documented layout: `before`, then the length field
/// holding `body length - adjustment + counted header bytes` (0 for a bare empty frame), then
/// `after`.
fn check_header_layout(framing: &LengthPrefixed, body: &[u8]) -> Result<(), TestCaseError> {
    let c = framing.config();
    let mut head = BytesMut::new();
    framing.encode_head(body, &mut head).unwrap();
    prop_assert_eq!(head.len(), c.header_len());
    prop_assert_eq!(&head[..c.before.len()], &c.before[..]);
    prop_assert_eq!(&head[head.len() - c.after.len()..], &c.after[..]);
    let field = &head[c.before.len()..c.before.len() + c.encoding.width()];
    let value = c.encoding.decode(field).unwrap();
    let bare = body.is_empty() && c.empty_form_in_effect() == EmptyForm::Bare;
    prop_assert_eq!(
        i128::from(value),
        if bare {
            0
        } else {
            body.len() as i128 - body_offset(c)
        },
        "field {:02X?} for a {}-byte body",
        field,
        body.len()
    );
    Ok(())
}

fn all_counts() -> BoxedStrategy<LengthCounts> {
    any_counts().boxed()
}

proptest! {
    #![proptest_config(config(256))]

    /// The fast path sees exactly what decoding by positions alone sees, on valid streams and on
    /// garbage: the same frames and errors in the same order, at the same stream offsets, the
    /// same bytes left.
    #[test]
    fn decode_whole_then_decode_sees_what_decode_alone_sees(
        framing in length_prefixed(any_encoding(), all_counts()),
        msgs in messages(8),
        garbage in proptest::collection::vec(any::<u8>(), 0..64),
        garbage_first in any::<bool>(),
        chunks in chunking(),
    ) {
        // Messages the framing cannot carry leave only the garbage.
        let mut wire = encode_all(&framing, &msgs).map(|w| w.to_vec()).unwrap_or_default();
        if garbage_first {
            wire.splice(0..0, garbage.iter().copied());
        } else {
            wire.extend_from_slice(&garbage);
        }
        // The reference: the framing's positions alone, taken out by the default `decode`.
        let alone = drive(&mut SliceOnly(framing.clone()), &wire, &chunks);
        let mut fast = framing.clone();
        let whole_first = drive_with(&mut fast, &wire, &chunks, true);
        prop_assert_eq!(&alone.events, &whole_first.events);
        prop_assert_eq!(alone.fatal_at, whole_first.fatal_at);
        prop_assert_eq!(&alone.buf[..], &whole_first.buf[..]);
        prop_assert_eq!(format!("{:?}", alone.after_fatal), format!("{:?}", whole_first.after_fatal));
    }

    #[test]
    fn length_prefixed_ascii_decimal_round_trips_any_messages_any_chunking(
        framing in length_prefixed(ascii_decimal().boxed(), all_counts()),
        msgs in messages(8),
        chunks in chunking(),
    ) {
        check_length_prefixed(&framing, msgs, &chunks)?;
    }

    #[test]
    fn length_prefixed_ascii_hex_round_trips_any_messages_any_chunking(
        framing in length_prefixed(ascii_hex().boxed(), all_counts()),
        msgs in messages(8),
        chunks in chunking(),
    ) {
        check_length_prefixed(&framing, msgs, &chunks)?;
    }

    #[test]
    fn length_prefixed_packed_bcd_round_trips_any_messages_any_chunking(
        framing in length_prefixed(packed_bcd().boxed(), all_counts()),
        msgs in messages(8),
        chunks in chunking(),
    ) {
        check_length_prefixed(&framing, msgs, &chunks)?;
    }

    #[test]
    fn length_prefixed_big_endian_round_trips_any_messages_any_chunking(
        framing in length_prefixed(big_endian().boxed(), all_counts()),
        msgs in messages(8),
        chunks in chunking(),
    ) {
        check_length_prefixed(&framing, msgs, &chunks)?;
    }

    #[test]
    fn length_prefixed_little_endian_round_trips_any_messages_any_chunking(
        framing in length_prefixed(little_endian().boxed(), all_counts()),
        msgs in messages(8),
        chunks in chunking(),
    ) {
        check_length_prefixed(&framing, msgs, &chunks)?;
    }

    #[test]
    fn length_prefixed_counting_the_body_round_trips(
        framing in length_prefixed(any_encoding(), Just(LengthCounts::Body).boxed()),
        msgs in messages(8),
        chunks in chunking(),
    ) {
        check_length_prefixed(&framing, msgs, &chunks)?;
    }

    #[test]
    fn length_prefixed_counting_from_the_length_field_round_trips(
        framing in length_prefixed(any_encoding(), Just(LengthCounts::FromLengthField).boxed()),
        msgs in messages(8),
        chunks in chunking(),
    ) {
        check_length_prefixed(&framing, msgs, &chunks)?;
    }

    #[test]
    fn length_prefixed_counting_the_whole_frame_round_trips(
        framing in length_prefixed(any_encoding(), Just(LengthCounts::WholeFrame).boxed()),
        msgs in messages(8),
        chunks in chunking(),
    ) {
        check_length_prefixed(&framing, msgs, &chunks)?;
    }

    #[test]
    fn length_prefixed_round_trips_with_one_byte_chunks(
        framing in length_prefixed(any_encoding(), all_counts()),
        msgs in messages(6),
    ) {
        check_length_prefixed(&framing, msgs, &Chunks::ones())?;
    }

    #[test]
    fn length_prefixed_empty_skip_drops_exactly_the_empty_messages(
        framing in length_prefixed(any_encoding(), all_counts())
            .prop_filter_map("strip", |f| {
                // Only bodies are delivered (full strip), so an empty body is an empty frame.
                let c = f.config().clone();
                if c.strip.is_some() { return None; }
                c.empty(EmptyFrames::Skip).build().ok()
            }),
        msgs in vec(prop_oneof![Just(vec![]), vec(any::<u8>(), 0..40)], 0..12),
        chunks in chunking(),
    ) {
        let Some((msgs, _)) = length_prefixed_case(&framing, msgs) else {
            return Err(TestCaseError::reject("no body length fits"));
        };
        // Frames are bodies, with the trailer when it is kept.
        let kept = if framing.config().keep_trailer { &framing.config().trailer[..] } else { &[] };
        let expected: Vec<Vec<u8>> = msgs
            .iter()
            .filter(|m| !m.is_empty())
            .map(|m| [&m[..], kept].concat())
            .collect();
        let wire = encode_all(&framing, &msgs)?;
        let mut decoder = framing.clone();
        let trace = drive(&mut decoder, &wire, &chunks);
        prop_assert!(trace.errors().is_empty(), "{:?}", trace.errors());
        prop_assert_eq!(trace.frames(), expected.iter().map(|m| Bytes::from(m.clone())).collect::<Vec<_>>());
        prop_assert_eq!(decoder.keepalives_skipped(), (msgs.len() - expected.len()) as u64);
        prop_assert!(trace.buf.is_empty());
    }

    #[test]
    fn length_prefixed_stream_offset_counts_every_consumed_byte(
        framing in length_prefixed(any_encoding(), all_counts()),
        msgs in messages(6),
        chunks in chunking(),
    ) {
        let Some((msgs, _)) = length_prefixed_case(&framing, msgs) else {
            return Err(TestCaseError::reject("no body length fits"));
        };
        let wire = encode_all(&framing, &msgs)?;
        let mut decoder = framing.clone();
        let trace = drive(&mut decoder, &wire, &chunks);
        prop_assert!(trace.errors().is_empty());
        prop_assert_eq!(decoder.stream_offset(), wire.len() as u64);
    }
}

/// A bare length field of any encoding and width (no offset, fixed bytes or trailer: what the
/// encoder's fast paths write) with a maximum small enough to write a body of its length: the
/// field's largest value or the default where either is at most `70 000`, else one drawn below.
fn bare_length_field() -> impl Strategy<Value = LengthPrefixed> {
    (any_encoding(), any::<bool>(), 1usize..=70_000).prop_map(|(encoding, default, cap)| {
        let field_max = usize::try_from(encoding.max_length()).unwrap_or(usize::MAX);
        let mut config = LengthPrefixedConfig::new(encoding);
        if !(default && field_max <= 70_000) {
            config.max_frame_length = Some(cap.min(field_max));
        }
        config.build().unwrap()
    })
}

/// A body length for a framing whose largest body is `largest`: the edges (empty, one byte, the
/// largest, one more) half of the time, any length up to one more than the largest otherwise.
fn body_length(largest: usize, pick: usize, any: usize) -> usize {
    match pick {
        0 => 0,
        1 => 1,
        2 => largest,
        3 => largest + 1,
        _ => any % (largest + 2),
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// `encode` writes the header crate's encoding of the length, then the body, exactly as
    /// `encode_head` + body does, for every encoding and width and the edges of each; one byte
    /// over the maximum is refused with the same error on both, and nothing is written.
    #[test]
    fn bare_length_fields_encode_as_the_header_crate_does(
        framing in bare_length_field(),
        pick in 0usize..8,
        any_len in any::<usize>(),
    ) {
        let encoding = framing.config().encoding;
        let largest = framing.max_frame_length();
        let len = body_length(largest, pick, any_len);
        let body = vec![0xA5u8; len];
        let mut whole = BytesMut::from(&b"prefix"[..]);
        let encoded = framing.encode(&body, &mut whole);
        let mut head = BytesMut::from(&b"prefix"[..]);
        let head_encoded = framing.encode_head(&body, &mut head);
        prop_assert_eq!(&encoded, &head_encoded, "{} for {} bytes", encoding, len);
        if len > largest {
            prop_assert_eq!(
                encoded,
                Err(CodecError::MessageTooLong { length: len, max: largest }),
                "{} for {} bytes", encoding, len
            );
            prop_assert_eq!(&whole[..], b"prefix");
            prop_assert_eq!(&head[..], b"prefix");
        } else {
            let field = encoding.encode(len as u64).unwrap();
            prop_assert_eq!(&head[6..], &field[..], "{} for {} bytes", encoding, len);
            let expected = [&b"prefix"[..], &field, &body].concat();
            prop_assert_eq!(&whole[..], &expected[..], "{} for {} bytes", encoding, len);
        }
    }
}

// =============================================================================================
// Fixed length and until-EOF
// =============================================================================================

fn fixed_case() -> impl Strategy<Value = (usize, Vec<Vec<u8>>)> {
    (1usize..300).prop_flat_map(|len| (Just(len), vec(vec(any::<u8>(), len), 0..8)))
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn fixed_length_round_trips_any_messages_any_chunking(
        (len, msgs) in fixed_case(),
        chunks in chunking(),
    ) {
        check_round_trip(&FixedLength::new(len).unwrap(), &msgs, &msgs, &chunks)?;
    }

    #[test]
    fn fixed_length_round_trips_with_one_byte_chunks((len, msgs) in fixed_case()) {
        check_round_trip(&FixedLength::new(len).unwrap(), &msgs, &msgs, &Chunks::ones())?;
    }

    #[test]
    fn fixed_length_rejects_any_other_message_size(len in 1usize..300, other in 0usize..600) {
        prop_assume!(other != len);
        let fixed = FixedLength::new(len).unwrap();
        let mut dst = BytesMut::from(&b"x"[..]);
        prop_assert_eq!(
            fixed.encode(&vec![0; other], &mut dst),
            Err(CodecError::WrongLength { length: other, expected: len })
        );
        prop_assert_eq!(&dst[..], b"x");
    }

    #[test]
    fn fixed_length_cut_short_at_eof_is_unexpected_eof(
        (len, msgs) in fixed_case(),
        cut in any::<proptest::sample::Index>(),
        chunks in chunking(),
    ) {
        prop_assume!(len >= 2);
        let fixed = FixedLength::new(len).unwrap();
        let mut wire = encode_all(&fixed, &msgs)?.to_vec();
        let partial = 1 + cut.index(len - 1);
        wire.extend(vec![7u8; partial]);
        let trace = drive(&mut fixed.clone(), &wire, &chunks);
        prop_assert_eq!(trace.frames().len(), msgs.len());
        prop_assert_eq!(
            trace.errors(),
            vec![CodecError::UnexpectedEof {
                offset: (msgs.len() * len) as u64,
                buffered: partial,
                expected: Some(len as u64),
            }]
        );
    }

    #[test]
    fn until_eof_round_trips_one_message_any_chunking(
        msg in vec(any::<u8>(), 0..300),
        slack in prop_oneof![Just(0usize), 0usize..1000],
        chunks in chunking(),
    ) {
        let eof = UntilEof::new(msg.len() + slack);
        check_round_trip(&eof, std::slice::from_ref(&msg), std::slice::from_ref(&msg), &chunks)?;
    }

    #[test]
    fn until_eof_round_trips_with_one_byte_chunks(msg in vec(any::<u8>(), 0..300)) {
        let eof = UntilEof::new(msg.len());
        check_round_trip(&eof, std::slice::from_ref(&msg), std::slice::from_ref(&msg), &Chunks::ones())?;
    }

    #[test]
    fn until_eof_fails_and_poisons_past_its_maximum(
        max in 0usize..200,
        extra in 1usize..200,
        chunks in chunking(),
    ) {
        let stream = vec![b'x'; max + extra];
        let trace = drive(&mut UntilEof::new(max), &stream, &chunks);
        prop_assert!(trace.frames().is_empty());
        prop_assert!(matches!(
            trace.fatal(),
            Some(CodecError::FrameTooLong { exact: false, discarding: false, max: m, length, .. })
                if *m == max as u64 && *length > max as u64
        ), "{:?}", trace.events);
        prop_assert!(trace.max_len_waiting <= max);
        for r in &trace.after_fatal {
            prop_assert!(matches!(r, Err(CodecError::Poisoned { .. })), "{:?}", r);
        }
    }
}

// =============================================================================================
// Delimiters
// =============================================================================================

/// A byte that is in none of the delimiter's bytes and is not `\r`.
fn filler(delimiter: &[u8]) -> u8 {
    (0u8..=255)
        .rev()
        .find(|b| !delimiter.contains(b) && *b != b'\r')
        .unwrap()
}

/// Makes `body` encodable: while the encoder says it contains the delimiter (possibly spanning into
/// the tail), replaces the reported byte with a byte that is in no delimiter. Also checks that the
/// reported offset really starts an occurrence of the delimiter in `body + tail`.
fn repair(framing: &Delimited, mut body: Vec<u8>) -> Result<Vec<u8>, TestCaseError> {
    let delimiter = framing.config().delimiter.clone();
    let fill = filler(&delimiter);
    // An encoder with no maximum, so that long bodies can be repaired too.
    let unbounded = DelimitedConfig {
        max_frame_length: Some(usize::MAX),
        ..framing.config().clone()
    }
    .build()
    .unwrap();
    loop {
        match unbounded.encode_head(&body, &mut BytesMut::new()) {
            Ok(()) => return Ok(body),
            Err(CodecError::ContainsDelimiter { offset, .. }) => {
                let joined = [&body[..], unbounded.tail()].concat();
                prop_assert!(
                    joined[offset..].starts_with(&delimiter),
                    "ContainsDelimiter offset {} of {:02X?} does not start the delimiter {:02X?}",
                    offset,
                    body,
                    &delimiter[..]
                );
                body[offset] = fill;
            }
            Err(e) => return Err(TestCaseError::fail(format!("encode_head: {e}"))),
        }
    }
}

/// Body bytes likely to contain pieces of the delimiter.
fn body_with_delimiter_bytes(
    delimiter: Vec<u8>,
    len: impl Into<proptest::collection::SizeRange>,
) -> BoxedStrategy<Vec<u8>> {
    let mut alphabet = delimiter;
    alphabet.push(b'\r');
    vec(prop_oneof![2 => any::<u8>(), 3 => select(alphabet)], len).boxed()
}

fn delimiter_of_len(len: usize) -> BoxedStrategy<Vec<u8>> {
    let special: Vec<Vec<u8>> = match len {
        1 => vec![b"\n".to_vec(), vec![0x03], vec![0x00], vec![b'a']],
        2 => vec![
            b"\r\n".to_vec(),
            b"aa".to_vec(),
            b"ab".to_vec(),
            vec![0x03, 0x03],
        ],
        _ => vec![
            b"END".to_vec(),
            b"aaa".to_vec(),
            b"aba".to_vec(),
            b"aab".to_vec(),
            b"\r\n\r".to_vec(),
        ],
    };
    prop_oneof![
        select(special),
        vec(select(b"ab\r\n\x03".to_vec()), len),
        vec(any::<u8>(), len),
    ]
    .boxed()
}

/// Delimited configs that build, with the given delimiters: crlf, keep, end-of-stream policy and
/// oversize policy arbitrary, maximum the default.
fn delimited_with(delimiters: BoxedStrategy<Vec<u8>>) -> impl Strategy<Value = Delimited> {
    (
        delimiters,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_filter_map(
            "config does not build",
            |(delimiter, crlf, keep, deliver, discard)| {
                Delimited::builder(delimiter)
                    .crlf(crlf)
                    .keep_delimiter(keep)
                    .at_eof(if deliver {
                        UnterminatedAtEof::Deliver
                    } else {
                        UnterminatedAtEof::Error
                    })
                    .oversize(if discard {
                        Oversize::Discard
                    } else {
                        Oversize::Fail
                    })
                    .build()
                    .ok()
            },
        )
}

/// A delimited framing and bodies for it (up to 8 of 0..300 bytes, none holding the delimiter).
fn delimited_case(
    framings: impl Strategy<Value = Delimited>,
    count: usize,
) -> impl Strategy<Value = (Delimited, Vec<Vec<u8>>)> {
    framings.prop_flat_map(move |f| {
        let delimiter = f.config().delimiter.to_vec();
        (
            Just(f),
            vec(body_with_delimiter_bytes(delimiter, 0..300), 0..=count),
        )
    })
}

fn check_delimited(
    framing: &Delimited,
    bodies: Vec<Vec<u8>>,
    chunks: &Chunks,
) -> Result<(), TestCaseError> {
    let bodies = bodies
        .into_iter()
        .map(|b| repair(framing, b))
        .collect::<Result<Vec<_>, _>>()?;
    let expected: Vec<Vec<u8>> = if framing.config().keep_delimiter {
        bodies
            .iter()
            .map(|b| [&b[..], framing.tail()].concat())
            .collect()
    } else {
        bodies.clone()
    };
    check_round_trip(framing, &bodies, &expected, chunks)
}

fn lines_framings() -> impl Strategy<Value = Delimited> {
    (any::<bool>(), any::<bool>()).prop_map(|(keep, deliver)| {
        Delimited::builder(&b"\n"[..])
            .keep_delimiter(keep)
            .at_eof(if deliver {
                UnterminatedAtEof::Deliver
            } else {
                UnterminatedAtEof::Error
            })
            .build()
            .unwrap()
    })
}

fn crlf_lines_framings() -> impl Strategy<Value = Delimited> {
    (any::<bool>(), any::<bool>()).prop_map(|(keep, deliver)| {
        Delimited::builder(&b"\n"[..])
            .crlf(true)
            .keep_delimiter(keep)
            .at_eof(if deliver {
                UnterminatedAtEof::Deliver
            } else {
                UnterminatedAtEof::Error
            })
            .build()
            .unwrap()
    })
}

fn any_delimited() -> BoxedStrategy<Delimited> {
    prop_oneof![
        delimited_with(delimiter_of_len(1)),
        delimited_with(delimiter_of_len(2)),
        delimited_with(delimiter_of_len(3)),
        lines_framings(),
        crlf_lines_framings(),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn delimited_one_byte_delimiter_round_trips_any_messages_any_chunking(
        (framing, bodies) in delimited_case(delimited_with(delimiter_of_len(1)), 8),
        chunks in chunking(),
    ) {
        check_delimited(&framing, bodies, &chunks)?;
    }

    #[test]
    fn delimited_two_byte_delimiter_round_trips_any_messages_any_chunking(
        (framing, bodies) in delimited_case(delimited_with(delimiter_of_len(2)), 8),
        chunks in chunking(),
    ) {
        check_delimited(&framing, bodies, &chunks)?;
    }

    #[test]
    fn delimited_three_byte_delimiter_round_trips_any_messages_any_chunking(
        (framing, bodies) in delimited_case(delimited_with(delimiter_of_len(3)), 8),
        chunks in chunking(),
    ) {
        check_delimited(&framing, bodies, &chunks)?;
    }

    #[test]
    fn lines_round_trip_any_messages_any_chunking(
        (framing, bodies) in delimited_case(lines_framings(), 8),
        chunks in chunking(),
    ) {
        check_delimited(&framing, bodies, &chunks)?;
    }

    #[test]
    fn crlf_lines_round_trip_any_messages_any_chunking(
        (framing, bodies) in delimited_case(crlf_lines_framings(), 8),
        chunks in chunking(),
    ) {
        check_delimited(&framing, bodies, &chunks)?;
    }

    #[test]
    fn delimited_round_trips_with_one_byte_chunks(
        (framing, bodies) in delimited_case(any_delimited(), 6),
    ) {
        check_delimited(&framing, bodies, &Chunks::ones())?;
    }

    #[test]
    fn crlf_lines_decode_bare_lf_and_crlf_line_endings(
        lines in vec((vec(any::<u8>().prop_filter("lf", |b| *b != b'\n'), 0..50), any::<bool>()), 0..8),
        chunks in chunking(),
    ) {
        // A line ending in "\r\n" loses both bytes; one ending in a bare "\n" keeps a final '\r' it has.
        let mut wire = Vec::new();
        let mut expected = Vec::new();
        for (line, crlf) in &lines {
            wire.extend(line);
            if *crlf {
                wire.extend(b"\r\n");
                expected.push(line.clone());
            } else {
                wire.push(b'\n');
                let mut e = line.clone();
                if e.last() == Some(&b'\r') {
                    e.pop();
                }
                expected.push(e);
            }
        }
        let trace = drive(&mut Delimited::crlf_lines().unwrap(), &wire, &chunks);
        prop_assert!(trace.errors().is_empty(), "{:?}", trace.errors());
        prop_assert_eq!(trace.frames(), expected.into_iter().map(Bytes::from).collect::<Vec<_>>());
    }

    #[test]
    fn delimited_eof_deliver_yields_the_unterminated_last_message(
        (framing, bodies) in delimited_case(any_delimited(), 6),
        last in vec(any::<u8>(), 1..100),
        chunks in chunking(),
    ) {
        let framing = DelimitedConfig { at_eof: UnterminatedAtEof::Deliver, ..framing.config().clone() }
            .build()
            .unwrap();
        let bodies = bodies.into_iter().map(|b| repair(&framing, b)).collect::<Result<Vec<_>, _>>()?;
        let last = repair(&framing, last)?;
        let mut wire = encode_all(&framing, &bodies)?.to_vec();
        wire.extend(&last);
        let trace = drive(&mut framing.clone(), &wire, &chunks);
        prop_assert!(trace.errors().is_empty(), "{:?}", trace.errors());
        let frames = trace.frames();
        prop_assert_eq!(frames.len(), bodies.len() + 1);
        prop_assert_eq!(&frames[bodies.len()][..], &last[..]);
    }

    #[test]
    fn delimited_eof_error_reports_the_unterminated_last_message(
        (framing, bodies) in delimited_case(any_delimited(), 6),
        last in vec(any::<u8>(), 1..100),
        chunks in chunking(),
    ) {
        let framing = DelimitedConfig { at_eof: UnterminatedAtEof::Error, ..framing.config().clone() }
            .build()
            .unwrap();
        let bodies = bodies.into_iter().map(|b| repair(&framing, b)).collect::<Result<Vec<_>, _>>()?;
        let last = repair(&framing, last)?;
        let prefix = encode_all(&framing, &bodies)?;
        let wire = [&prefix[..], &last[..]].concat();
        let trace = drive(&mut framing.clone(), &wire, &chunks);
        prop_assert_eq!(trace.frames().len(), bodies.len());
        prop_assert_eq!(
            trace.errors(),
            vec![CodecError::UnexpectedEof {
                offset: prefix.len() as u64,
                buffered: last.len(),
                expected: None,
            }]
        );
    }

    #[test]
    fn delimited_encoder_rejects_bodies_containing_the_delimiter(
        framing in any_delimited(),
        before in vec(any::<u8>(), 0..20),
        after in vec(any::<u8>(), 0..20),
    ) {
        let delimiter = framing.config().delimiter.to_vec();
        let body = [&before[..], &delimiter[..], &after[..]].concat();
        let mut dst = BytesMut::from(&b"x"[..]);
        let r = framing.encode(&body, &mut dst);
        prop_assert!(matches!(r, Err(CodecError::ContainsDelimiter { .. })), "{:?}", r);
        prop_assert_eq!(&dst[..], b"x");
    }
}

/// Decodes one body of exactly `max` bytes (the largest the encoder accepts) with `framing`, whose
/// maximum is `max`.
fn check_body_of_exactly_max(
    config: DelimitedConfig,
    max: usize,
    body: Vec<u8>,
    chunks: &Chunks,
) -> Result<(), TestCaseError> {
    let framing = config.max_frame_length(max).build().unwrap();
    let mut body = repair(&framing, body)?;
    body.resize(max, filler(&framing.config().delimiter));
    let body = repair(&framing, body)?;
    prop_assert_eq!(body.len(), max);
    let expected = if framing.config().keep_delimiter {
        [&body[..], framing.tail()].concat()
    } else {
        body.clone()
    };
    check_round_trip(&framing, &[body], &[expected], chunks)
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn delimited_round_trips_a_body_of_exactly_max_length(
        framing in prop_oneof![
            delimited_with(delimiter_of_len(1)),
            delimited_with(delimiter_of_len(2)),
            delimited_with(delimiter_of_len(3)),
            lines_framings(),
        ].prop_filter("crlf", |f| !f.config().crlf),
        max in 0usize..100,
        body in vec(any::<u8>(), 0..100),
        chunks in chunking(),
    ) {
        check_body_of_exactly_max(framing.config().clone(), max, body, &chunks)?;
    }

    /// With `crlf`, the `\r` written before the delimiter is not part of the body, so a body of exactly
    /// `max` bytes that the encoder accepts also decodes.
    #[test]
    fn crlf_delimited_round_trips_a_body_of_exactly_max_length(
        framing in prop_oneof![
            delimited_with(delimiter_of_len(1)),
            delimited_with(delimiter_of_len(2)),
            crlf_lines_framings(),
        ].prop_filter("crlf", |f| f.config().crlf),
        max in 0usize..100,
        body in vec(any::<u8>(), 0..100),
        chunks in chunking(),
    ) {
        check_body_of_exactly_max(framing.config().clone(), max, body, &chunks)?;
    }
}

/// `lines:crlf,max=4` encodes `"abcd"` as `61 62 63 64 0D 0A`, and decodes those exact bytes.
#[test]
fn crlf_lines_decode_their_own_encoding_of_a_max_length_body() {
    let mut framing: Framing = "lines:crlf,max=4".parse().unwrap();
    let mut wire = BytesMut::new();
    framing.encode(b"abcd", &mut wire).unwrap();
    assert_eq!(&wire[..], b"abcd\r\n");
    assert_eq!(
        framing.decode(&mut wire),
        Ok(Some(Bytes::from_static(b"abcd"))),
        "a body the encoder accepted must decode"
    );
}

// =============================================================================================
// FramingSpec
// =============================================================================================

fn any_size() -> impl Strategy<Value = usize> {
    prop_oneof![
        0usize..=100,
        0usize..=100_000,
        any::<usize>(),
        select(vec![1024, 65536, 8 * 1024 * 1024, usize::MAX]),
    ]
}

fn any_length_prefixed_config() -> impl Strategy<Value = LengthPrefixedConfig> {
    (
        any_encoding(),
        (fixed_bytes(), fixed_bytes(), any::<bool>(), any_counts()),
        prop_oneof![-10i64..=10, any::<i64>(), Just(i64::MIN), Just(i64::MAX)],
        proptest::option::of(prop_oneof![0usize..=24, any::<usize>()]),
        proptest::option::of(any_size()),
        any::<bool>(),
        any::<bool>(),
        (trailer(), 0u8..3),
    )
        .prop_map(
            |(
                enc,
                (before, after, verify, counts),
                adjustment,
                strip,
                max,
                discard,
                skip,
                ((trailer, counts_trailer, keep_trailer), form),
            )| {
                let mut c = LengthPrefixedConfig {
                    encoding: enc,
                    before: before.into(),
                    after: after.into(),
                    trailer: trailer.into(),
                    counts_trailer,
                    keep_trailer,
                    verify_fixed: verify,
                    counts,
                    adjustment,
                    strip,
                    max_frame_length: max,
                    oversize: if discard {
                        Oversize::Discard
                    } else {
                        Oversize::Fail
                    },
                    empty: if skip {
                        EmptyFrames::Skip
                    } else {
                        EmptyFrames::Deliver
                    },
                    empty_form: None,
                };
                // A form other than the default, where there is a trailer to leave out.
                let form = match form {
                    1 if !c.trailer.is_empty() => Some(EmptyForm::Bare),
                    2 => Some(EmptyForm::Framed),
                    _ => None,
                };
                if form.is_some_and(|f| f != c.empty_form_in_effect()) {
                    c.empty_form = form;
                }
                c
            },
        )
}

fn any_delimited_config() -> impl Strategy<Value = DelimitedConfig> {
    (
        prop_oneof![
            Just(b"\n".to_vec()),
            delimiter_of_len(1),
            delimiter_of_len(2),
            delimiter_of_len(3),
            vec(any::<u8>(), 0..=6),
        ],
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(any_size()),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(delimiter, crlf, keep, max, discard, deliver)| DelimitedConfig {
                delimiter: delimiter.into(),
                crlf,
                keep_delimiter: keep,
                max_frame_length: max,
                oversize: if discard {
                    Oversize::Discard
                } else {
                    Oversize::Fail
                },
                at_eof: if deliver {
                    UnterminatedAtEof::Deliver
                } else {
                    UnterminatedAtEof::Error
                },
            },
        )
}

/// Arbitrary spec values (not only those that build).
fn any_spec_value() -> impl Strategy<Value = FramingSpec> {
    prop_oneof![
        3 => any_length_prefixed_config().prop_map(FramingSpec::LengthPrefixed),
        1 => any_size().prop_map(|max| FramingSpec::UntilEof { max }),
        1 => any_size().prop_map(|len| FramingSpec::FixedLength { len }),
        2 => any_delimited_config().prop_map(FramingSpec::Delimited),
        1 => any_size().prop_map(|max| FramingSpec::Netstring { max }),
    ]
}

/// Spec values that build.
fn any_valid_spec() -> impl Strategy<Value = FramingSpec> {
    any_spec_value().prop_filter("does not build", |s| s.build().is_ok())
}

/// Strings made of spec vocabulary, so that parsing gets past the first token often.
fn spec_token_soup() -> impl Strategy<Value = String> {
    let tokens = vec![
        "ascii",
        "hex",
        "bcd",
        "be",
        "le",
        "eof",
        "fixed",
        "delim",
        "lines",
        "netstring",
        ":",
        ":",
        ",",
        ",",
        ",",
        "=",
        "=",
        "crlf",
        "lenient",
        "before",
        "after",
        "no-verify",
        "counts-header",
        "counts-from-length",
        "counts-",
        "adjust",
        "strip",
        "max",
        "oversize",
        "empty",
        "keep",
        "discard",
        "fail",
        "skip",
        "deliver",
        "error",
        "0",
        "1",
        "2",
        "4",
        "9",
        "10",
        "17",
        "+",
        "-",
        "k",
        "m",
        "K",
        "0a",
        "0d0a",
        "03",
        "ff",
        "F",
        "é",
        "€",
        "😀",
        "\u{301}",
        " ",
        "\t",
        "18446744073709551615",
        "18446744073709551616",
        "9223372036854775808",
        "-9223372036854775808",
    ];
    vec(select(tokens), 0..12).prop_map(|t| t.concat())
}

/// Strings shaped like specs (`kind:arg,key=value,...`) whose arguments and values mix hex digits,
/// signs, unit suffixes and multi-byte characters.
fn spec_shaped_string() -> impl Strategy<Value = String> {
    let value = "[0-9a-fA-Fxk+\\-é€😀]{0,7}";
    (
        select(vec![
            "ascii", "hex", "bcd", "be", "le", "eof", "fixed", "delim", "lines",
        ]),
        proptest::option::of(value),
        vec(
            (
                select(vec![
                    "lenient",
                    "before",
                    "after",
                    "no-verify",
                    "counts-header",
                    "adjust",
                    "strip",
                    "max",
                    "oversize",
                    "empty",
                    "crlf",
                    "keep",
                    "eof",
                    "x",
                ]),
                proptest::option::of(value),
            ),
            0..4,
        ),
    )
        .prop_map(|(kind, arg, options)| {
            let mut s = kind.to_string();
            if let Some(a) = arg {
                s.push(':');
                s.push_str(&a);
            }
            for (k, v) in options {
                s.push(',');
                s.push_str(k);
                if let Some(v) = v {
                    s.push('=');
                    s.push_str(&v);
                }
            }
            s
        })
}

/// Spec-like text: token soup or spec-shaped strings.
fn spec_like_string() -> impl Strategy<Value = String> {
    prop_oneof![spec_token_soup(), spec_shaped_string()]
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn valid_spec_prints_text_that_parses_back_to_the_same_spec(spec in any_valid_spec()) {
        let text = spec.to_string();
        prop_assert_eq!(text.parse::<FramingSpec>(), Ok(spec.clone()), "text: {}", text);
        // And the framing built from the text prints the same text again, up to made-explicit defaults.
        let framing: Framing = text.parse().unwrap();
        let again: FramingSpec = framing.to_string().parse().unwrap();
        prop_assert_eq!(again.build().unwrap().to_string(), framing.to_string());
    }

    #[test]
    fn spec_that_does_not_build_is_not_printed_as_parseable_text(spec in any_spec_value()) {
        // Parsing checks that the spec builds, so text of a spec that does not build must not parse.
        if spec.build().is_err() {
            prop_assert!(spec.to_string().parse::<FramingSpec>().is_err(), "{}", spec);
        }
    }

}

proptest! {
    // Cheap cases; many of them, so that odd spellings (a multi-byte character at an odd offset in hex
    // bytes, say) come up on every run.
    #![proptest_config(config(4096))]

    #[test]
    fn parsing_arbitrary_strings_never_panics(
        text in prop_oneof![any::<String>(), spec_like_string()]
    ) {
        check_parse_is_sound(&text)?;
    }
}

/// Parses `text` and checks the outcome is consistent: a spec that builds and prints back to itself,
/// or an error whose span lies within the input on character boundaries.
fn check_parse_is_sound(text: &str) -> Result<(), TestCaseError> {
    match text.parse::<FramingSpec>() {
        Ok(spec) => {
            prop_assert!(spec.build().is_ok(), "{:?} parsed but does not build", text);
            prop_assert_eq!(spec.to_string().parse::<FramingSpec>(), Ok(spec));
        }
        Err(e) => {
            let span = e.span();
            prop_assert!(span.start <= span.end && span.end <= text.len());
            prop_assert!(text.is_char_boundary(span.start) && text.is_char_boundary(span.end));
            let _ = e.pointer();
            let _ = e.to_string();
            prop_assert!(!e.message().is_empty());
        }
    }
    Ok(())
}

/// A multi-byte character inside hex bytes is a `SpecError` pointing at it, never a panic from slicing
/// inside the character.
#[test]
fn spec_parser_does_not_panic_on_multibyte_character_in_hex_bytes() {
    for text in ["delim:0é0", "be:2,before=0é0", "be:2,after=a€"] {
        let r = std::panic::catch_unwind(|| text.parse::<FramingSpec>());
        match r {
            Ok(r) => assert!(r.is_err(), "{text:?} parsed"),
            Err(_) => panic!("parsing {text:?} panicked"),
        }
    }
}

// =============================================================================================
// Oversized frames
// =============================================================================================

/// A buffer capacity no decoder may reach when fed only a few KiB.
const CAPACITY_BOUND: usize = 64 * 1024;

#[test]
fn four_byte_header_claiming_ffffffff_fails_without_buffering() {
    let configs = [
        LengthPrefixed::new(LengthEncoding::big_endian(4).unwrap()).unwrap(),
        LengthPrefixed::builder(LengthEncoding::big_endian(4).unwrap())
            .max_frame_length(1024)
            .build()
            .unwrap(),
        LengthPrefixed::builder(LengthEncoding::big_endian(4).unwrap())
            .counts(LengthCounts::WholeFrame)
            .build()
            .unwrap(),
    ];
    for framing in configs {
        for chunks in [Chunks::ones(), Chunks(vec![usize::MAX]), Chunks(vec![3, 5])] {
            let stream = [&[0xFF, 0xFF, 0xFF, 0xFF][..], &[0xAB; 100][..]].concat();
            let trace = drive(&mut framing.clone(), &stream, &chunks);
            let max = framing.max_frame_length() as u64;
            let claimed = match framing.config().counts {
                LengthCounts::WholeFrame => 0xFFFF_FFFF - 4,
                _ => 0xFFFF_FFFF,
            };
            assert_eq!(
                trace.events,
                vec![Event::Error(CodecError::FrameTooLong {
                    offset: 0,
                    length: claimed,
                    exact: true,
                    max,
                    discarding: false,
                })],
                "{framing:?}"
            );
            assert!(
                trace.max_capacity < CAPACITY_BOUND,
                "{}",
                trace.max_capacity
            );
            for r in &trace.after_fatal {
                assert_eq!(r, &Err(CodecError::Poisoned { offset: 0 }));
            }
        }
    }
}

/// Decodes `input` with the framing of `spec`, turning a panic into an error message.
fn decode_catching_panics(spec: &str, input: &[u8]) -> Result<Option<Bytes>, String> {
    let mut framing: Framing = spec.parse().unwrap();
    let mut buf = BytesMut::from(input);
    let result =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| framing.decode(&mut buf)));
    match result {
        // An error is a fine answer; only a panic is not.
        Ok(r) => Ok(r.unwrap_or(None)),
        Err(panic) => Err(panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()),
    }
}

/// A maximum beyond what a buffer can address (`isize::MAX` minus the header) is refused when
/// building, and with the largest accepted maximum, claims near `u64::MAX` neither overflow nor
/// reserve what they claim.
#[test]
fn length_prefixed_with_max_usize_does_not_panic_on_a_huge_claim() {
    assert!(format!("be:8,max={}", usize::MAX)
        .parse::<FramingSpec>()
        .is_err());
    let spec = format!("be:8,max={}", isize::MAX as usize - 8);
    for claim in [u64::MAX, u64::MAX - 7, u64::MAX / 2, isize::MAX as u64 - 8] {
        let r = decode_catching_panics(&spec, &claim.to_be_bytes());
        assert!(
            r.is_ok(),
            "{spec}, header {:016X}: decode panicked: {}",
            claim,
            r.unwrap_err()
        );
    }
}

/// `FixedLength::decode` reserves buffer space only as bytes arrive, so a huge fixed length
/// (`fixed:18446744073709551615`) neither panics nor allocates before a frame arrives.
#[test]
fn fixed_length_with_huge_length_does_not_panic_before_a_frame_arrives() {
    let spec = format!("fixed:{}", usize::MAX);
    let r = decode_catching_panics(&spec, b"abc");
    assert!(
        r.is_ok(),
        "{spec}: decode of 3 bytes panicked: {}",
        r.unwrap_err()
    );
}

/// Encodings that can express lengths above 1024.
fn encoding_above_1024() -> impl Strategy<Value = LengthEncoding> {
    any_encoding().prop_filter("max <= 1024", |e| e.max_length() > 1024)
}

/// A claim above 1024 that the encoding can express, at most `cap` when given.
fn claim_above_1024(enc: LengthEncoding, cap: u64) -> BoxedStrategy<u64> {
    let max = enc.max_length().min(cap);
    prop_oneof![Just(1025u64), Just(max), 1025..=max].boxed()
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn length_prefixed_claim_above_max_fails_before_buffering_and_then_is_poisoned(
        (enc, claim) in encoding_above_1024().prop_flat_map(|e| (Just(e), claim_above_1024(e, u64::MAX))),
        body in vec(any::<u8>(), 0..2000),
        chunks in chunking(),
    ) {
        let framing = LengthPrefixed::builder(enc).max_frame_length(1024).build().unwrap();
        let mut stream = enc.encode(claim).unwrap().to_vec();
        stream.extend(&body);
        let trace = drive(&mut framing.clone(), &stream, &chunks);
        prop_assert_eq!(
            trace.events,
            vec![Event::Error(CodecError::FrameTooLong {
                offset: 0,
                length: claim,
                exact: true,
                max: 1024,
                discarding: false,
            })]
        );
        prop_assert!(trace.max_capacity < CAPACITY_BOUND, "capacity {}", trace.max_capacity);
        for r in &trace.after_fatal {
            prop_assert_eq!(r, &Err(CodecError::Poisoned { offset: 0 }));
        }
    }

    #[test]
    fn length_prefixed_discard_skips_an_oversized_frame_and_resumes(
        (enc, claim) in encoding_above_1024().prop_flat_map(|e| (Just(e), claim_above_1024(e, 3000))),
        first in vec(any::<u8>(), 0..200),
        oversized in vec(any::<u8>(), 3000),
        last in vec(any::<u8>(), 0..200),
        chunks in chunking(),
    ) {
        let framing = LengthPrefixed::builder(enc)
            .max_frame_length(1024)
            .oversize(Oversize::Discard)
            .build()
            .unwrap();
        let mut stream = BytesMut::new();
        framing.encode(&first, &mut stream).unwrap();
        let oversized_at = stream.len() as u64;
        stream.extend_from_slice(&enc.encode(claim).unwrap());
        stream.extend_from_slice(&oversized[..claim as usize]);
        framing.encode(&last, &mut stream).unwrap();

        let trace = drive(&mut framing.clone(), &stream, &chunks);
        prop_assert_eq!(
            trace.events,
            vec![
                Event::Frame(first.into()),
                Event::Error(CodecError::FrameTooLong {
                    offset: oversized_at,
                    length: claim,
                    exact: true,
                    max: 1024,
                    discarding: true,
                }),
                Event::Frame(last.into()),
            ]
        );
        prop_assert!(trace.buf.is_empty());
        prop_assert!(trace.max_capacity < CAPACITY_BOUND, "capacity {}", trace.max_capacity);
    }
}

/// A delimited framing with a small maximum, and a body longer than that maximum without the delimiter.
fn delimited_oversize_case(policy: Oversize) -> impl Strategy<Value = (Delimited, usize, Vec<u8>)> {
    (any_delimited(), 0usize..64).prop_flat_map(move |(f, max)| {
        let framing = DelimitedConfig {
            max_frame_length: Some(max),
            oversize: policy,
            ..f.config().clone()
        }
        .build()
        .unwrap();
        let delimiter = framing.config().delimiter.to_vec();
        let dlen = delimiter.len();
        (
            Just(framing),
            Just(max),
            body_with_delimiter_bytes(delimiter, max + dlen + 1..max + dlen + 200),
        )
    })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn delimited_stream_without_delimiter_fails_once_past_max_and_then_is_poisoned(
        (framing, max, garbage) in delimited_oversize_case(Oversize::Fail),
        chunks in chunking(),
    ) {
        let garbage = repair(&framing, garbage)?;
        let dlen = framing.config().delimiter.len();
        let trace = drive(&mut framing.clone(), &garbage, &chunks);
        prop_assert!(trace.frames().is_empty());
        prop_assert!(matches!(
            trace.fatal(),
            Some(CodecError::FrameTooLong { offset: 0, exact: false, discarding: false, max: m, length, .. })
                if *m == max as u64 && *length > max as u64
        ), "{:?}", trace.events);
        // While waiting, the buffer never held max + delimiter length bytes or more.
        let slack = usize::from(framing.config().crlf);
        prop_assert!(trace.max_len_waiting < max + dlen + slack, "{} buffered, max {}", trace.max_len_waiting, max);
        for r in &trace.after_fatal {
            prop_assert!(matches!(r, Err(CodecError::Poisoned { offset: 0 })), "{:?}", r);
        }
    }

    #[test]
    fn delimited_with_one_byte_chunks_never_buffers_more_than_max_plus_delimiter(
        (framing, max, garbage) in delimited_oversize_case(Oversize::Fail),
    ) {
        let garbage = repair(&framing, garbage)?;
        let dlen = framing.config().delimiter.len();
        let trace = drive(&mut framing.clone(), &garbage, &Chunks::ones());
        prop_assert!(trace.fatal().is_some(), "{:?}", trace.events);
        // Fed one byte at a time, the error comes with byte max + delimiter length (+ 1 for the `\r`
        // a crlf frame may carry before its delimiter), not later.
        let slack = usize::from(framing.config().crlf);
        prop_assert_eq!(trace.fatal_at, Some(max + dlen + slack));
        prop_assert!(trace.max_len_waiting < max + dlen + slack);
    }

    #[test]
    fn delimited_discard_resynchronises_at_the_next_delimiter(
        (framing, max, garbage) in delimited_oversize_case(Oversize::Discard),
        valid in vec(any::<u8>(), 0..64),
        chunks in chunking(),
    ) {
        let garbage = repair(&framing, garbage)?;
        let dlen = framing.config().delimiter.len();
        let mut valid = repair(&framing, valid)?;
        valid.truncate(max.saturating_sub(1));
        let valid = repair(&framing, valid)?;
        let mut stream = [&garbage[..], framing.tail()].concat();

        framing.encode(&valid, &mut BytesMut::new()).unwrap();
        stream.extend(&valid);
        stream.extend(framing.tail());
        let expected = if framing.config().keep_delimiter {
            [&valid[..], framing.tail()].concat()
        } else {
            valid.clone()
        };

        let mut decoder = framing.clone();
        let trace = drive(&mut decoder, &stream, &chunks);
        let errors = trace.errors();
        prop_assert_eq!(errors.len(), 1, "{:?}", trace.events);
        prop_assert!(matches!(
            &errors[0],
            CodecError::FrameTooLong { offset: 0, discarding: true, max: m, length, .. }
                if *m == max as u64 && *length > max as u64
        ), "{:?}", errors[0]);
        prop_assert_eq!(trace.frames(), vec![Bytes::from(expected)]);
        prop_assert!(trace.buf.is_empty());
        prop_assert!(trace.max_len_waiting < max + dlen + usize::from(framing.config().crlf));
    }
}

// =============================================================================================
// Garbage
// =============================================================================================

/// Framings with small maximums, for feeding garbage: built from arbitrary spec values, with
/// fixed lengths and maximums kept small so that garbage can reach them.
fn garbage_framing() -> impl Strategy<Value = Framing> {
    any_spec_value().prop_filter_map("does not build", |spec| {
        let spec = match spec {
            FramingSpec::FixedLength { len } => FramingSpec::FixedLength { len: len % 512 },
            FramingSpec::UntilEof { max } => FramingSpec::UntilEof { max: max % 4096 },
            FramingSpec::LengthPrefixed(mut c) => {
                c.max_frame_length = match c.max_frame_length {
                    Some(m) => Some(m % 4096),
                    None => {
                        let expressible = c.clone().build().ok()?.max_frame_length();
                        Some(expressible.min(4096))
                    }
                };
                FramingSpec::LengthPrefixed(c)
            }
            FramingSpec::Delimited(mut c) => {
                c.max_frame_length = Some(c.max_frame_length.unwrap_or(4096) % 4096);
                FramingSpec::Delimited(c)
            }
            FramingSpec::Netstring { max } => FramingSpec::Netstring { max: max % 4096 },
        };
        spec.build().ok()
    })
}

/// Garbage with a bias towards bytes that look like headers and delimiters.
fn garbage() -> impl Strategy<Value = Vec<u8>> {
    vec(
        prop_oneof![
            3 => any::<u8>(),
            2 => b'0'..=b'9',
            1 => select(b"\r\n \x00\x01\x03\xFF".to_vec()),
        ],
        0..3000,
    )
}

/// The longest frame `framing` may deliver.
fn largest_frame(framing: &Framing) -> usize {
    match framing {
        Framing::LengthPrefixed(f) => {
            let c = f.config();
            let kept_trailer = if c.keep_trailer { c.trailer.len() } else { 0 };
            f.max_frame_length() + c.header_len() - c.strip.unwrap_or(c.header_len()) + kept_trailer
        }
        Framing::UntilEof(f) => f.max_frame_length(),
        Framing::FixedLength(f) => f.len(),
        // A kept delimiter adds its length, and under crlf the '\r' before it (not part of the
        // body the maximum counts); a frame delivered unterminated at end-of-stream is below that.
        Framing::Delimited(f) => {
            f.max_frame_length() + f.config().delimiter.len() + usize::from(f.config().crlf)
        }
        Framing::Netstring(f) => f.max_frame_length(),
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn garbage_never_panics_and_fatal_errors_stick(
        framing in garbage_framing(),
        stream in garbage(),
        chunks in chunking(),
    ) {
        let mut decoder = framing.clone();
        let trace = drive(&mut decoder, &stream, &chunks);
        let largest = largest_frame(&framing);
        for f in trace.frames() {
            prop_assert!(f.len() <= largest, "{}: frame of {} bytes > {}", framing, f.len(), largest);
            if let Framing::FixedLength(fixed) = &framing {
                prop_assert_eq!(f.len(), fixed.len());
            }
        }
        if let (Some(_), Some(fatal)) = (trace.fatal_at, trace.fatal()) {
            prop_assert!(!trace.after_fatal.is_empty());
            for r in &trace.after_fatal {
                prop_assert!(r.is_err(), "{}: after {:?}, a call returned {:?}", framing, fatal, r);
                if !matches!(fatal, CodecError::UnexpectedEof { .. }) {
                    prop_assert!(matches!(r, Err(CodecError::Poisoned { .. })), "{}: {:?}", framing, r);
                }
            }
        }
        prop_assert!(
            trace.max_capacity < CAPACITY_BOUND,
            "{}: capacity grew to {}", framing, trace.max_capacity
        );
    }
}

// =============================================================================================
// Encoders and bytes_wanted
// =============================================================================================

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn encode_errors_leave_dst_unchanged(
        framing in garbage_framing(),
        body in vec(any::<u8>(), 0..600),
        prefix in vec(any::<u8>(), 0..8),
    ) {
        let mut dst = BytesMut::from(&prefix[..]);
        match framing.encode(&body, &mut dst) {
            Ok(()) => {
                let mut head = BytesMut::new();
                framing.encode_head(&body, &mut head).unwrap();
                prop_assert_eq!(&dst[..], &[&prefix[..], &head[..], &body[..], framing.tail_for(body.len())].concat()[..]);
            }
            Err(_) => prop_assert_eq!(&dst[..], &prefix[..]),
        }
    }

    #[test]
    fn reading_exactly_bytes_wanted_never_reads_into_the_next_frame(
        framing in prop_oneof![
            length_prefixed(any_encoding(), all_counts()).prop_map(Framing::from),
            (1usize..300).prop_map(|n| Framing::from(FixedLength::new(n).unwrap())),
        ],
        msgs in messages(6),
    ) {
        let msgs = match &framing {
            Framing::LengthPrefixed(f) => match length_prefixed_case(f, msgs) {
                Some((m, _)) => m,
                None => return Err(TestCaseError::reject("no body length fits")),
            },
            Framing::FixedLength(f) => clamp_sizes(msgs, f.len(), f.len()),
            _ => unreachable!(),
        };
        let wire = encode_all(&framing, &msgs)?;
        let mut decoder = framing.clone();
        let mut buf = BytesMut::new();
        let mut rest = &wire[..];
        let mut frames = 0;
        while !rest.is_empty() {
            let want = decoder.bytes_wanted(buf.len()).unwrap();
            prop_assert!(want >= 1);
            let n = want.min(rest.len());
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            while decoder.decode(&mut buf).unwrap().is_some() {
                frames += 1;
                prop_assert!(buf.is_empty(), "{} bytes of the next frame were read", buf.len());
            }
        }
        prop_assert_eq!(frames, msgs.len());
    }
}
