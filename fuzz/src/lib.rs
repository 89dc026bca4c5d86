//! Shared harness code for the msgframe fuzz targets.
//!
//! * [`Reader`] turns the first bytes of a fuzz input into a configuration (missing bytes read as 0).
//! * [`ChunkPlan`] turns a few more bytes into the sizes of the pieces the stream arrives in.
//! * [`check_decoder`] decodes a stream twice, as one buffer and in the planned chunks, and checks
//!   the invariants every decoder must keep (see its docs); [`check_parse`] compares the borrowed
//!   [`Parse`] API with it.
//! * [`model`] holds small, obviously-correct reference decoders that the owned decoders are
//!   compared with.
//! * [`header`] checks a single length field decoder against a reference, its encoder and the nom
//!   parsers.
//!
//! Set `MSGFRAME_FUZZ_STRICT=1` to turn the documented exemptions for known library behaviour (see
//! [`strict`]) back into failures.

use std::sync::OnceLock;

use bytes::{Bytes, BytesMut};
use msgframe_codec::{CodecError, Decoder, Parse};

pub mod header;
pub mod model;

/// `MSGFRAME_FUZZ_STRICT=1`: fail on the known library behaviour the harness otherwise tolerates.
///
/// Known and tolerated by default:
/// 1. [`CodecError::UnexpectedEof`] does not poison the decoder (documented: it is neither
///    resumable nor poisoning, the stream has ended): a later `decode` returns `Ok(None)`, and if
///    more bytes arrive decoding simply goes on. Checked: a repeated `decode_eof` on the same bytes
///    fails again. Strict mode demands the poisoning rule of the other non-resumable errors.
///
/// (Three more found by these targets were fixed in the library: `eof=deliver` now refuses an
/// unterminated last frame above the maximum, a netstring maximum beyond one buffer is refused
/// when a spec is built, and a netstring length prefix no longer overflows under a maximum above
/// `u64::MAX / 10`.)
pub fn strict() -> bool {
    static STRICT: OnceLock<bool> = OnceLock::new();
    *STRICT.get_or_init(|| {
        std::env::var_os("MSGFRAME_FUZZ_STRICT").is_some_and(|v| !v.is_empty() && v != "0")
    })
}

/// Reads configuration bytes from the front of a fuzz input; past its end every byte reads as 0.
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over the whole input.
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    /// The next byte, or 0.
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// The next `n` bytes, fewer at the end of the input.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }

    /// A little-endian integer of `n <= 8` bytes (missing bytes are 0).
    pub fn uint_le(&mut self, n: usize) -> u64 {
        (0..n).fold(0u64, |acc, i| acc | u64::from(self.u8()) << (8 * i))
    }

    /// Everything not read yet: the stream to decode.
    pub fn rest(self) -> &'a [u8] {
        self.data
    }
}

/// The sizes of the pieces a stream arrives in.
///
/// Read from the input as one byte `n` (`n % 8` sizes follow), then the sizes, one byte each
/// (0 = an empty read: `decode` is called with no new bytes). The sizes are used in turn, cycling.
/// No sizes, or only zeros, means one byte at a time.
#[derive(Debug, Clone)]
pub struct ChunkPlan {
    sizes: Vec<usize>,
}

impl ChunkPlan {
    /// Reads a plan.
    pub fn read(r: &mut Reader<'_>) -> Self {
        let n = usize::from(r.u8() % 8);
        ChunkPlan {
            sizes: (0..n).map(|_| usize::from(r.u8())).collect(),
        }
    }

    /// One piece: the whole stream at once.
    pub fn whole() -> Self {
        ChunkPlan {
            sizes: vec![usize::MAX],
        }
    }

    /// The pieces of `data`.
    pub fn split<'a>(&self, data: &'a [u8]) -> Vec<&'a [u8]> {
        let sizes: &[usize] = if self.sizes.iter().any(|&s| s > 0) {
            &self.sizes
        } else {
            &[1]
        };
        let mut out = Vec::new();
        let mut rest = data;
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes[i % sizes.len()].min(rest.len());
            let (head, tail) = rest.split_at(n);
            out.push(head);
            rest = tail;
            i += 1;
        }
        out
    }
}

/// What a decoder produced, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A frame.
    Frame(Bytes),
    /// An error (resumable or not; after a non-resumable one nothing more is recorded).
    Error(CodecError),
}

/// The events of one decoding run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Frames and errors in order.
    pub events: Vec<Event>,
    /// Index of the first event produced by `decode_eof` (== `events.len()` when there was none).
    pub eof_at: usize,
    /// Bytes left in the buffer when end-of-stream was signalled (before `decode_eof`).
    pub left_at_eof: usize,
}

impl Outcome {
    /// The first error, if any.
    pub fn first_error(&self) -> Option<&CodecError> {
        self.events.iter().find_map(|e| match e {
            Event::Error(e) => Some(e),
            Event::Frame(_) => None,
        })
    }
}

/// Most bytes of spare buffer capacity tolerated beyond `input + 64 KiB` (allocator rounding,
/// `Vec`'s minimum capacity of 8).
pub const CAPACITY_SLACK: usize = 64;

/// How far ahead of the arrived bytes decoders may reserve (msgframe_codec's `RESERVE_AHEAD`).
pub const RESERVE_AHEAD: usize = 64 * 1024;

/// Appends `chunk` without `BytesMut`'s amortised doubling: when it does not fit, the buffer is
/// replaced by an exactly-sized one. All capacity beyond the arrived bytes is then the decoder's.
fn append(buf: &mut BytesMut, chunk: &[u8]) {
    if buf.capacity() - buf.len() >= chunk.len() {
        buf.extend_from_slice(chunk);
    } else {
        let mut grown = BytesMut::with_capacity(buf.len() + chunk.len());
        grown.extend_from_slice(buf);
        grown.extend_from_slice(chunk);
        *buf = grown;
    }
}

/// Before each decoder call: if the buffer has spare capacity (from an earlier reservation), copy it
/// into an exactly-sized one, so that the capacity after the call measures what *this* call
/// reserved. Without this, `BytesMut`'s amortised growth (it doubles the old allocation when a
/// reservation does not fit) legitimately takes a buffer fed in small pieces past `arrived + 64 KiB`
/// although no call asked for more than 64 KiB ahead.
fn normalize(buf: &mut BytesMut) {
    if buf.capacity() > buf.len() {
        *buf = BytesMut::from(&buf[..]);
    }
}

/// Bytes appended after a fatal error, to check the decoder keeps failing when more data comes.
const PROBE: &[u8] = b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\n0000\r\n";

struct Runner<'s, D> {
    decoder: D,
    buf: BytesMut,
    events: Vec<Event>,
    fatal: Option<CodecError>,
    max_frame: usize,
    capacity_bound: usize,
    label: &'s str,
    /// Takes frames with `decode_whole` before each `decode` (not at end of stream).
    whole_first: bool,
}

impl<D: Decoder> Runner<'_, D> {
    fn check_capacity(&self, call: &str) {
        assert!(
            self.buf.capacity() <= self.capacity_bound,
            "[{}] buffer capacity {} after {call} exceeds input + 64 KiB + {CAPACITY_SLACK} = {} \
             (len {}): the decoder reserved for what a header claims",
            self.label,
            self.buf.capacity(),
            self.capacity_bound,
            self.buf.len(),
        );
    }

    /// Calls `decode` (or `decode_eof`) until it returns `Ok(None)` or a fatal error.
    fn drain(&mut self, eof: bool) {
        let mut stalled = 0;
        loop {
            normalize(&mut self.buf);
            if self.whole_first && !eof {
                while let Some(frame) = self.decoder.decode_whole(&mut self.buf) {
                    self.check_capacity("decode_whole");
                    assert!(
                        frame.len() <= self.max_frame,
                        "[{}] decode_whole: a frame of {} bytes is longer than the maximum {}",
                        self.label,
                        frame.len(),
                        self.max_frame,
                    );
                    self.events.push(Event::Frame(frame));
                    normalize(&mut self.buf);
                }
            }
            let before = self.buf.len();
            let result = if eof {
                self.decoder.decode_eof(&mut self.buf)
            } else {
                self.decoder.decode(&mut self.buf)
            };
            self.check_capacity(if eof { "decode_eof" } else { "decode" });
            if result.as_ref().is_ok_and(|r| r.is_none()) {
                return;
            }
            if self.buf.len() == before {
                stalled += 1;
                assert!(
                    stalled <= 2,
                    "[{}] decoder returns results without consuming bytes: {result:?}",
                    self.label
                );
            } else {
                stalled = 0;
            }
            match result {
                Ok(Some(frame)) => {
                    assert!(
                        frame.len() <= self.max_frame,
                        "[{}] frame of {} bytes is longer than the configured maximum {}: {:?}",
                        self.label,
                        frame.len(),
                        self.max_frame,
                        Bytes::copy_from_slice(&frame[..frame.len().min(64)]),
                    );
                    self.events.push(Event::Frame(frame));
                }
                Ok(None) => unreachable!(),
                Err(err) => {
                    // Display must not panic.
                    let _ = err.to_string();
                    self.events.push(Event::Error(err.clone()));
                    if !err.is_resumable() {
                        self.fatal = Some(err);
                        return;
                    }
                }
            }
        }
    }

    /// After a fatal error every further call must fail. `more` says whether bytes arrived after
    /// the error.
    fn probe_dead(&mut self, call_eof: bool, more: bool) {
        let fatal = self.fatal.clone().expect("probing a live decoder");
        // Known behaviour 1 (see `strict`): UnexpectedEof does not poison; only a repeated
        // decode_eof on the same bytes must fail again.
        let must_fail =
            strict() || !matches!(fatal, CodecError::UnexpectedEof { .. }) || (call_eof && !more);
        normalize(&mut self.buf);
        let result = if call_eof {
            self.decoder.decode_eof(&mut self.buf)
        } else {
            self.decoder.decode(&mut self.buf)
        };
        self.check_capacity("a call after a fatal error");
        if must_fail {
            assert!(
                result.is_err(),
                "[{}] after the non-resumable error {fatal:?}, {} returned {result:?}",
                self.label,
                if call_eof { "decode_eof" } else { "decode" },
            );
        }
        if let Err(e) = result {
            let _ = e.to_string();
        }
    }
}

/// Decodes `stream` delivered in `plan`'s pieces: after each piece `decode` until `Ok(None)`, then
/// `decode_eof` until `Ok(None)`; a non-resumable error ends decoding (every later call must fail).
///
/// Checks on the way: no frame longer than `expect.max_frame`; buffer capacity at most
/// `stream + max(stream, 64 KiB) + 64` after every call (equal to `stream + 64 KiB + 64` for any
/// stream up to 64 KiB); a decoder never returns results without consuming bytes (beyond one
/// empty frame at end-of-stream); after a non-resumable error, more calls (also with more bytes)
/// fail.
pub fn run<D: Decoder + Clone>(
    template: &D,
    stream: &[u8],
    plan: &ChunkPlan,
    expect: Expect,
    label: &str,
) -> Outcome {
    run_with(template, stream, plan, expect, label, false)
}

/// [`run`], taking frames with [`Decoder::decode_whole`] before each `decode` when `whole_first`.
fn run_with<D: Decoder + Clone>(
    template: &D,
    stream: &[u8],
    plan: &ChunkPlan,
    expect: Expect,
    label: &str,
    whole_first: bool,
) -> Outcome {
    let total = stream.len() + PROBE.len();
    let mut r = Runner {
        decoder: template.clone(),
        buf: BytesMut::new(),
        events: Vec::new(),
        fatal: None,
        max_frame: expect.max_frame,
        capacity_bound: total + total.max(RESERVE_AHEAD) + CAPACITY_SLACK,
        label,
        whole_first,
    };
    for chunk in plan.split(stream) {
        append(&mut r.buf, chunk);
        if r.fatal.is_some() {
            r.probe_dead(false, true);
        } else {
            r.drain(false);
        }
    }
    let eof_at = r.events.len();
    let left_at_eof = r.buf.len();
    if r.fatal.is_none() {
        r.drain(true);
    }
    if r.fatal.is_some() {
        r.probe_dead(false, false);
        r.probe_dead(true, false);
        append(&mut r.buf, PROBE);
        r.probe_dead(false, true);
        r.probe_dead(true, true);
    }
    Outcome {
        events: r.events,
        eof_at,
        left_at_eof,
    }
}

/// Whether two errors are the same, where `whole` came from decoding the whole stream at once and
/// `chunked` from decoding it in pieces. With `relax_inexact`, a `FrameTooLong` whose length is a
/// lower bound (`exact: false`: no delimiter / end-of-stream yet) may report fewer bytes in the
/// chunked run, since it is raised as soon as the arrived bytes pass the maximum.
pub fn same_error(whole: &CodecError, chunked: &CodecError, relax_inexact: bool) -> bool {
    if whole == chunked {
        return true;
    }
    if !relax_inexact {
        return false;
    }
    match (whole, chunked) {
        (
            CodecError::FrameTooLong {
                offset: o1,
                length: l1,
                max: m1,
                discarding: d1,
                ..
            },
            CodecError::FrameTooLong {
                offset: o2,
                length: l2,
                exact: false,
                max: m2,
                discarding: d2,
            },
        ) => o1 == o2 && m1 == m2 && d1 == d2 && l2 > m2 && l2 <= l1,
        _ => false,
    }
}

/// Options of [`check_decoder`].
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    /// The longest frame the configuration allows.
    pub max_frame: usize,
    /// See [`same_error`]: delimited and until-EOF framings report oversized frames as soon as the
    /// arrived bytes pass the maximum, with the length seen so far.
    pub relax_inexact: bool,
}

/// Decodes `stream` as one buffer and in `plan`'s pieces (see [`run`] for the invariants checked on
/// each run; the pieces through `decode_whole` first), and checks both runs yield the same frames
/// and errors, in the same order. Returns the whole-buffer run.
pub fn check_decoder<D: Decoder + Clone>(
    template: &D,
    stream: &[u8],
    plan: &ChunkPlan,
    expect: Expect,
) -> Outcome {
    let whole = run(template, stream, &ChunkPlan::whole(), expect, "whole");
    // The chunked run takes frames through the fast path first: it must see the same.
    let chunked = run_with(template, stream, plan, expect, "chunked", true);
    let n = whole.events.len().max(chunked.events.len());
    for i in 0..n {
        let same = match (whole.events.get(i), chunked.events.get(i)) {
            (Some(Event::Frame(a)), Some(Event::Frame(b))) => a == b,
            (Some(Event::Error(a)), Some(Event::Error(b))) => {
                same_error(a, b, expect.relax_inexact)
            }
            _ => false,
        };
        assert!(
            same,
            "whole-buffer and chunked decoding differ at event {i}:\n  whole:   {:?}\n  chunked: {:?}\n  plan: {:?}",
            whole.events.get(i),
            chunked.events.get(i),
            plan,
        );
    }
    whole
}

/// Checks the borrowed API on the whole stream against the whole-buffer decoding run (only valid for
/// configurations without stateful policies: no `Oversize::Discard`).
pub fn check_parse<P: Parse>(parser: &P, stream: &[u8], whole: &Outcome) {
    let mut frames = parser.frames(stream);
    let mut events = Vec::new();
    for item in frames.by_ref() {
        match item {
            Ok(frame) => events.push(Event::Frame(Bytes::copy_from_slice(frame))),
            Err(e) => events.push(Event::Error(e)),
        }
    }
    let decoded = &whole.events[..whole.eof_at];
    assert_eq!(
        &events[..],
        decoded,
        "Parse::frames and Decoder::decode differ on the whole stream"
    );
    if !matches!(events.last(), Some(Event::Error(_))) {
        assert_eq!(
            frames.consumed(),
            stream.len() - whole.left_at_eof,
            "Parse::frames consumed a different number of bytes than decode"
        );
    }
}

/// Checks the whole-buffer run against a reference model's events.
pub fn check_model(whole: &Outcome, expected: &[Event]) {
    let n = whole.events.len().max(expected.len());
    for i in 0..n {
        assert_eq!(
            whole.events.get(i),
            expected.get(i),
            "decoder and reference model differ at event {i}\n  decoder: {:?}\n  model:   {:?}",
            whole.events,
            expected,
        );
    }
}

pub mod targets;
