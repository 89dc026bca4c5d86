//! msgframe's length-prefixed framing against tokio-util's `LengthDelimitedCodec`, in one run, on
//! the same bytes.
//!
//! Contenders, for a 2-byte and a 4-byte big-endian length counting the body only (the header is
//! stripped from delivered frames, no adjustment, the same maximum frame length on both sides):
//!
//! - `msgframe`: [`LengthPrefixed`] through `msgframe_codec::{Decoder, Encoder}` directly;
//! - `msgframe-whole` (decode only): the same, taking frames with `Decoder::decode_whole` (the
//!   common case, no error type in its return) and with `decode` for the rest;
//! - `msgframe-framing`: the same framing as a run-time `Framing` (what a spec string builds)
//!   through `msgframe_codec::{Decoder, Encoder}`: what the enum dispatch costs;
//! - `msgframe-tokio`: the same framing as a run-time `Framing` (what a spec string builds) through
//!   `msgframe_tokio::Codec` and the `tokio_util::codec::{Decoder, Encoder<Bytes>}` traits (shows
//!   what the enum dispatch and the adapter cost);
//! - `tokio-util`: `LengthDelimitedCodec::builder().length_field_length(n).big_endian()
//!   .max_frame_length(..).new_codec()`;
//! - `hand-written`: the practical limit, a minimal decoder for exactly this layout: read the
//!   length, `advance` past it, `split_to(len).freeze()`; it cannot fail (no maximum, no error
//!   type), and for encoding `reserve` + `put_uint` + `extend_from_slice`;
//! - `hand-written-fallible`: the same decoder with the one thing every real decoder adds, a
//!   maximum check and a `Result<Option<Bytes>, io::Error>` return;
//! - `hand-copy`: the hand-written decoder with msgframe's strategy for small frames: each frame
//!   is copied into an allocation of its own (`Bytes::copy_from_slice`), so a kept frame never pins
//!   the read buffer; it is the practical limit for that strategy;
//! - `msgframe-borrowed` (decode only): `Parse::frames()` over the same bytes, yielding `&[u8]`
//!   frames with no reference count and no copy (it needs no refill);
//! - `copy-only` (decode groups only): the buffer refill every decode iteration does, alone.
//!
//! Payloads are 16 B, 100 B, 1 KiB, 8 KiB and 64 KiB (65 535 B with a 2-byte length: the largest body it
//! can describe; 65 536 B with a 4-byte length).
//!
//! - `decode-be{2,4}`: a stream of N frames of the payload (N makes about 1 MiB, at least 64) is
//!   encoded once. Each iteration refills a reused `BytesMut` with it (`clear` + `extend_from_slice`,
//!   the same for every contender: `copy-only` measures it) and decodes every frame, each passed to
//!   `black_box`. msgframe yields `Bytes` (it freezes the split-off `BytesMut`), tokio-util yields
//!   the `BytesMut` as split off.
//! - `framed-be{2,4}`: the same stream read through tokio-util's `FramedRead` on a current-thread
//!   runtime, from memory in reads of at most 64 KiB (as a socket hands them out), with
//!   `msgframe-tokio` (`Codec`) and `tokio-util`: what a tokio user of either codec gets, buffer
//!   management included.
//! - `encode-be{2,4}`: each iteration clears a reused `BytesMut` and encodes the payload N times
//!   into it. `msgframe` and `msgframe-framing` take `&[u8]`; `msgframe-tokio` and `tokio-util` take `Bytes` by value
//!   (`Encoder<Bytes>`), a clone of a static `Bytes` per frame (no reference count touched).
//!
//! Throughput is `Elements(N)`, so criterion reports frames per second. Before measuring, the
//! benchmark asserts that all three decoders deliver exactly the payloads, frame for frame, and that
//! all three encoders produce the same bytes.
//!
//! After criterion's own summary it prints a ratio table (time per frame of each contender, and
//! tokio-util / msgframe: above 1 means msgframe is faster), read from the `estimates.json` files
//! criterion wrote in this run (`<criterion home>/<group>/<function>/<payload>/new/estimates.json`,
//! `mean.point_estimate`; files older than this run are ignored). The table also goes to
//! `<criterion home>/msgframe-ratios.txt` (normally `target/criterion/msgframe-ratios.txt`).
//!
//! Run it (about three minutes on two cores; defaults: 1 s warm-up, 2 s measurement, 30 samples):
//!
//! ```text
//! cargo bench --bench codec_vs_tokio_util
//! cargo bench --bench codec_vs_tokio_util -- --quick             # much shorter, rougher
//! cargo bench --bench codec_vs_tokio_util -- decode-be4          # one group (criterion filter)
//! cargo bench --bench codec_vs_tokio_util -- --measurement-time 5 --sample-size 100
//! ```
//!
//! `cargo test --all-targets` runs it in criterion's test mode: the sanity checks and each routine
//! once, no measurement, no table.

mod support;

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput};
use msgframe_codec::header::LengthEncoding;
use msgframe_codec::{LengthPrefixed, Parse};
use msgframe_tokio::Codec;
use tokio_util::codec::LengthDelimitedCodec;

/// Length field widths, in bytes.
const WIDTHS: [usize; 2] = [2, 4];
/// Nominal payload sizes; capped at what the length field can describe.
const PAYLOADS: [usize; 5] = [16, 100, 1024, 8 * 1024, 64 * 1024];
/// Decode streams and encode batches hold about this many bytes...
const STREAM_BYTES: usize = 1024 * 1024;
/// ...and at least this many frames.
const MIN_FRAMES: usize = 64;

const MSGFRAME: &str = "msgframe";
const MSGFRAME_TOKIO: &str = "msgframe-tokio";
const MSGFRAME_FRAMING: &str = "msgframe-framing";
const TOKIO_UTIL: &str = "tokio-util";
const COPY_ONLY: &str = "copy-only";
const HAND: &str = "hand-written";
const HAND_COPY: &str = "hand-copy";
const MSGFRAME_WHOLE: &str = "msgframe-whole";
const HAND_FALLIBLE: &str = "hand-written-fallible";
const BORROWED: &str = "msgframe-borrowed";

/// One (header width, payload size) combination, with everything prepared up front.
struct Case {
    width: usize,
    /// Criterion's parameter: the payload length, e.g. `1024B`.
    label: String,
    payload: Bytes,
    frames: usize,
    /// `frames` frames of `payload`, encoded.
    stream: Bytes,
    /// The maximum frame length both sides are configured with.
    max_frame_length: usize,
}

impl Case {
    fn new(width: usize, nominal: usize) -> Case {
        let probe = LengthPrefixed::new(encoding(width)).expect("big-endian length framing");
        let max_frame_length = probe.max_frame_length();
        let len = nominal.min(max_frame_length);
        let body: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
        // Static, so that `Bytes::clone` in the `Encoder<Bytes>` contenders costs no atomics.
        let payload = Bytes::from_static(Box::leak(body.into_boxed_slice()));
        let frames = STREAM_BYTES.div_ceil(width + len).max(MIN_FRAMES);
        let mut case = Case {
            width,
            label: format!("{len}B"),
            payload,
            frames,
            stream: Bytes::new(),
            max_frame_length,
        };
        let mut stream = BytesMut::new();
        let ours = case.msgframe();
        for _ in 0..frames {
            msgframe_codec::Encoder::encode(&ours, &case.payload, &mut stream).expect("encode");
        }
        case.stream = stream.freeze();
        case
    }

    fn msgframe(&self) -> LengthPrefixed {
        LengthPrefixed::builder(encoding(self.width))
            .max_frame_length(self.max_frame_length)
            .build()
            .expect("big-endian length framing")
    }

    /// The same framing as a run-time `Framing`, what a spec string builds.
    fn msgframe_framing(&self) -> msgframe_codec::Framing {
        msgframe_codec::Framing::from(self.msgframe())
    }

    /// Through `Framing` (any framing chosen at run time, as `"be:2".parse::<Codec>()` gives) and
    /// the tokio adapter: what most users run.
    fn msgframe_tokio(&self) -> Codec<msgframe_codec::Framing> {
        Codec::new(msgframe_codec::Framing::from(self.msgframe()))
    }

    fn tokio_util(&self) -> LengthDelimitedCodec {
        LengthDelimitedCodec::builder()
            .length_field_length(self.width)
            .length_adjustment(0)
            .big_endian()
            .max_frame_length(self.max_frame_length)
            .new_codec()
    }

    /// Asserts that every decoder delivers exactly the payloads and every encoder writes `stream`.
    fn sanity_check(&self) {
        let context = format!("be{} {}", self.width, self.label);
        let mut ours = self.msgframe();
        let mut adapter = self.msgframe_tokio();
        let mut theirs = self.tokio_util();
        let (mut a, mut b, mut c) = (self.refill(), self.refill(), self.refill());
        for i in 0..self.frames {
            let x = msgframe_codec::Decoder::decode(&mut ours, &mut a).expect("msgframe decode");
            let y = tokio_util::codec::Decoder::decode(&mut adapter, &mut b)
                .expect("msgframe-tokio decode");
            let z =
                tokio_util::codec::Decoder::decode(&mut theirs, &mut c).expect("tokio-util decode");
            let (x, y, z) = (
                x.unwrap_or_else(|| panic!("{context}: msgframe: no frame {i}")),
                y.unwrap_or_else(|| panic!("{context}: msgframe-tokio: no frame {i}")),
                z.unwrap_or_else(|| panic!("{context}: tokio-util: no frame {i}")),
            );
            assert_eq!(x, self.payload, "{context}: msgframe frame {i}");
            assert_eq!(y, x, "{context}: msgframe-tokio frame {i}");
            assert_eq!(&z[..], &x[..], "{context}: tokio-util frame {i}");
        }
        assert!(
            a.is_empty() && b.is_empty() && c.is_empty(),
            "{context}: bytes left"
        );
        assert_eq!(
            msgframe_codec::Decoder::decode(&mut ours, &mut a).ok(),
            Some(None)
        );

        let framing = self.msgframe_framing();
        let mut framing_out = BytesMut::new();
        let mut adapter_out = BytesMut::new();
        let mut theirs_out = BytesMut::new();
        for _ in 0..self.frames {
            msgframe_codec::Encoder::encode(&framing, &self.payload, &mut framing_out)
                .expect("msgframe-framing encode");
            tokio_util::codec::Encoder::encode(
                &mut adapter,
                self.payload.clone(),
                &mut adapter_out,
            )
            .expect("msgframe-tokio encode");
            tokio_util::codec::Encoder::encode(&mut theirs, self.payload.clone(), &mut theirs_out)
                .expect("tokio-util encode");
        }
        assert_eq!(
            framing_out, self.stream,
            "{context}: msgframe-framing encoding"
        );
        assert_eq!(
            adapter_out, self.stream,
            "{context}: msgframe-tokio encoding"
        );
        assert_eq!(theirs_out, self.stream, "{context}: tokio-util encoding");
    }

    fn refill(&self) -> BytesMut {
        BytesMut::from(&self.stream[..])
    }
}

fn encoding(width: usize) -> LengthEncoding {
    LengthEncoding::big_endian(width).expect("1 to 8 bytes")
}

/// The refill every decode iteration starts with.
#[inline(always)]
fn refill(buf: &mut BytesMut, stream: &[u8]) {
    buf.clear();
    buf.extend_from_slice(stream);
}

/// The minimal decoder for a `width`-byte big-endian length counting the body.
#[inline]
fn hand_decode(buf: &mut BytesMut, width: usize) -> Option<Bytes> {
    let len = usize::try_from(
        buf.get(..width)?
            .iter()
            .fold(0u64, |v, b| v << 8 | u64::from(*b)),
    )
    .ok()?;
    if buf.len() < width + len {
        return None;
    }
    buf.advance(width);
    Some(buf.split_to(len).freeze())
}

/// The minimal decoder, copying each frame into an allocation of its own.
#[inline]
fn hand_decode_copy(buf: &mut BytesMut, width: usize) -> Option<Bytes> {
    let len = usize::try_from(
        buf.get(..width)?
            .iter()
            .fold(0u64, |v, b| v << 8 | u64::from(*b)),
    )
    .ok()?;
    let frame = Bytes::copy_from_slice(buf.get(width..width + len)?);
    buf.advance(width + len);
    Some(frame)
}

/// The same, with a maximum and an error type.
#[inline]
fn hand_decode_fallible(
    buf: &mut BytesMut,
    width: usize,
    max: usize,
) -> Result<Option<Bytes>, std::io::Error> {
    let Some(field) = buf.get(..width) else {
        return Ok(None);
    };
    let len = field.iter().fold(0u64, |v, b| v << 8 | u64::from(*b));
    if len > max as u64 {
        return Err(std::io::ErrorKind::InvalidData.into());
    }
    let len = len as usize;
    if buf.len() < width + len {
        return Ok(None);
    }
    buf.advance(width);
    Ok(Some(buf.split_to(len).freeze()))
}

/// The minimal encoder for the same layout.
#[inline]
fn hand_encode(body: &[u8], width: usize, dst: &mut BytesMut) {
    dst.reserve(width + body.len());
    dst.put_uint(body.len() as u64, width);
    dst.extend_from_slice(body);
}

fn bench_decode(c: &mut Criterion, cases: &[Case], width: usize) {
    let mut group = c.benchmark_group(format!("decode-be{width}"));
    for case in cases.iter().filter(|case| case.width == width) {
        let frames = case.frames;
        group.throughput(Throughput::Elements(frames as u64));
        let mut buf = BytesMut::with_capacity(case.stream.len());

        let mut ours = case.msgframe();
        group.bench_function(BenchmarkId::new(MSGFRAME, &case.label), |b| {
            b.iter(|| {
                refill(&mut buf, &case.stream);
                let mut n = 0;
                while let Some(frame) =
                    msgframe_codec::Decoder::decode(&mut ours, &mut buf).expect("decode")
                {
                    black_box(frame);
                    n += 1;
                }
                assert_eq!(n, frames);
            });
        });

        let mut whole = case.msgframe();
        group.bench_function(BenchmarkId::new(MSGFRAME_WHOLE, &case.label), |b| {
            b.iter(|| {
                refill(&mut buf, &case.stream);
                let mut n = 0;
                loop {
                    while let Some(frame) =
                        msgframe_codec::Decoder::decode_whole(&mut whole, &mut buf)
                    {
                        black_box(frame);
                        n += 1;
                    }
                    match msgframe_codec::Decoder::decode(&mut whole, &mut buf).expect("decode") {
                        Some(frame) => {
                            black_box(frame);
                            n += 1;
                        }
                        None => break,
                    }
                }
                assert_eq!(n, frames);
            });
        });

        let mut framing = case.msgframe_framing();
        group.bench_function(BenchmarkId::new(MSGFRAME_FRAMING, &case.label), |b| {
            b.iter(|| {
                refill(&mut buf, &case.stream);
                let mut n = 0;
                while let Some(frame) =
                    msgframe_codec::Decoder::decode(&mut framing, &mut buf).expect("decode")
                {
                    black_box(frame);
                    n += 1;
                }
                assert_eq!(n, frames);
            });
        });

        let mut adapter = case.msgframe_tokio();
        group.bench_function(BenchmarkId::new(MSGFRAME_TOKIO, &case.label), |b| {
            b.iter(|| {
                refill(&mut buf, &case.stream);
                let mut n = 0;
                while let Some(frame) =
                    tokio_util::codec::Decoder::decode(&mut adapter, &mut buf).expect("decode")
                {
                    black_box(frame);
                    n += 1;
                }
                assert_eq!(n, frames);
            });
        });

        let mut theirs = case.tokio_util();
        group.bench_function(BenchmarkId::new(TOKIO_UTIL, &case.label), |b| {
            b.iter(|| {
                refill(&mut buf, &case.stream);
                let mut n = 0;
                while let Some(frame) =
                    tokio_util::codec::Decoder::decode(&mut theirs, &mut buf).expect("decode")
                {
                    black_box(frame);
                    n += 1;
                }
                assert_eq!(n, frames);
            });
        });

        group.bench_function(BenchmarkId::new(HAND, &case.label), |b| {
            b.iter(|| {
                refill(&mut buf, &case.stream);
                let mut n = 0;
                while let Some(frame) = hand_decode(&mut buf, width) {
                    black_box(frame);
                    n += 1;
                }
                assert_eq!(n, frames);
            });
        });

        group.bench_function(BenchmarkId::new(HAND_COPY, &case.label), |b| {
            b.iter(|| {
                refill(&mut buf, &case.stream);
                let mut n = 0;
                while let Some(frame) = hand_decode_copy(&mut buf, width) {
                    black_box(frame);
                    n += 1;
                }
                assert_eq!(n, frames);
            });
        });

        let max = case.max_frame_length;
        group.bench_function(BenchmarkId::new(HAND_FALLIBLE, &case.label), |b| {
            b.iter(|| {
                refill(&mut buf, &case.stream);
                let mut n = 0;
                while let Some(frame) = hand_decode_fallible(&mut buf, width, max).expect("decode")
                {
                    black_box(frame);
                    n += 1;
                }
                assert_eq!(n, frames);
            });
        });

        let borrowed = case.msgframe();
        group.bench_function(BenchmarkId::new(BORROWED, &case.label), |b| {
            b.iter(|| {
                let mut n = 0;
                for frame in borrowed.frames(black_box(&case.stream)) {
                    black_box(frame.expect("decode"));
                    n += 1;
                }
                assert_eq!(n, frames);
            });
        });

        group.bench_function(BenchmarkId::new(COPY_ONLY, &case.label), |b| {
            b.iter(|| {
                refill(&mut buf, &case.stream);
                black_box(&mut buf);
            });
        });
    }
    group.finish();
}

/// An in-memory stream handed out at most 64 KiB a read, as a socket hands out what has arrived.
struct Chunked<'a> {
    rest: &'a [u8],
}

impl tokio::io::AsyncRead for Chunked<'_> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let n = buf.remaining().min(64 * 1024).min(self.rest.len());
        buf.put_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        std::task::Poll::Ready(Ok(()))
    }
}

/// Every frame of `stream` through `FramedRead` with `codec`; returns how many.
fn framed_read<C>(rt: &tokio::runtime::Runtime, stream: &[u8], codec: C) -> usize
where
    C: tokio_util::codec::Decoder,
    C::Error: std::fmt::Debug,
{
    use futures_util::StreamExt;
    rt.block_on(async {
        let mut frames = tokio_util::codec::FramedRead::new(Chunked { rest: stream }, codec);
        let mut n = 0;
        while let Some(frame) = frames.next().await {
            black_box(frame.expect("decode"));
            n += 1;
        }
        n
    })
}

fn bench_framed(c: &mut Criterion, cases: &[Case], width: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group(format!("framed-be{width}"));
    for case in cases.iter().filter(|case| case.width == width) {
        let frames = case.frames;
        group.throughput(Throughput::Elements(frames as u64));
        group.bench_function(BenchmarkId::new(MSGFRAME_TOKIO, &case.label), |b| {
            b.iter(|| {
                assert_eq!(
                    framed_read(&rt, &case.stream, case.msgframe_tokio()),
                    frames
                )
            });
        });
        group.bench_function(BenchmarkId::new(TOKIO_UTIL, &case.label), |b| {
            b.iter(|| assert_eq!(framed_read(&rt, &case.stream, case.tokio_util()), frames));
        });
    }
    group.finish();
}

fn bench_encode(c: &mut Criterion, cases: &[Case], width: usize) {
    let mut group = c.benchmark_group(format!("encode-be{width}"));
    for case in cases.iter().filter(|case| case.width == width) {
        let frames = case.frames;
        group.throughput(Throughput::Elements(frames as u64));
        let mut dst = BytesMut::with_capacity(case.stream.len());
        let payload = &case.payload;

        let ours = case.msgframe();
        group.bench_function(BenchmarkId::new(MSGFRAME, &case.label), |b| {
            b.iter(|| {
                dst.clear();
                for _ in 0..frames {
                    msgframe_codec::Encoder::encode(&ours, black_box(&payload[..]), &mut dst)
                        .expect("encode");
                }
                black_box(&mut dst);
            });
        });

        let framing = case.msgframe_framing();
        group.bench_function(BenchmarkId::new(MSGFRAME_FRAMING, &case.label), |b| {
            b.iter(|| {
                dst.clear();
                for _ in 0..frames {
                    msgframe_codec::Encoder::encode(&framing, black_box(&payload[..]), &mut dst)
                        .expect("encode");
                }
                black_box(&mut dst);
            });
        });

        let mut adapter = case.msgframe_tokio();
        group.bench_function(BenchmarkId::new(MSGFRAME_TOKIO, &case.label), |b| {
            b.iter(|| {
                dst.clear();
                for _ in 0..frames {
                    tokio_util::codec::Encoder::encode(
                        &mut adapter,
                        black_box(payload.clone()),
                        &mut dst,
                    )
                    .expect("encode");
                }
                black_box(&mut dst);
            });
        });

        group.bench_function(BenchmarkId::new(HAND, &case.label), |b| {
            b.iter(|| {
                dst.clear();
                for _ in 0..frames {
                    hand_encode(black_box(&payload[..]), width, &mut dst);
                }
                black_box(&mut dst);
            });
        });

        let mut theirs = case.tokio_util();
        group.bench_function(BenchmarkId::new(TOKIO_UTIL, &case.label), |b| {
            b.iter(|| {
                dst.clear();
                for _ in 0..frames {
                    tokio_util::codec::Encoder::encode(
                        &mut theirs,
                        black_box(payload.clone()),
                        &mut dst,
                    )
                    .expect("encode");
                }
                black_box(&mut dst);
            });
        });
    }
    group.finish();
}

/// The table of this run's results; `None` when this run wrote none (test or list mode, a filter
/// matching nothing).
fn ratio_table(cases: &[Case], since: SystemTime) -> Option<String> {
    let mut rows = vec![[
        "op",
        "header",
        "payload",
        "msgframe",
        "borrowed",
        "hand",
        "hand-copy",
        "hand-fallible",
        "tokio-util",
        "framing",
        "msgframe-tokio",
        "copy",
        "msgframe/hand",
        "msgframe/hand-copy",
        "whole/hand-copy",
        "msgframe/hand-fallible",
        "tokio-util/msgframe",
        "tokio-util/framing",
        "tokio-util/borrowed",
    ]
    .map(str::to_owned)
    .to_vec()];
    let mut found = false;
    for op in ["decode", "encode"] {
        for width in WIDTHS {
            let group = format!("{op}-be{width}");
            for case in cases.iter().filter(|case| case.width == width) {
                let per_frame = |function: &str| {
                    support::mean_ns(&group, function, &case.label, since)
                        .map(|ns| ns / case.frames as f64)
                };
                let ours = per_frame(MSGFRAME);
                let borrowed = per_frame(BORROWED);
                let hand = per_frame(HAND);
                let hand_copy = per_frame(HAND_COPY);
                let whole = per_frame(MSGFRAME_WHOLE);
                let hand_fallible = per_frame(HAND_FALLIBLE);
                let theirs = per_frame(TOKIO_UTIL);
                let adapter = per_frame(MSGFRAME_TOKIO);
                let framing = per_frame(MSGFRAME_FRAMING);
                let copy = per_frame(COPY_ONLY);
                found |= ours.is_some() || theirs.is_some();
                // The owned decoders all pay the refill (copy-only); borrowed frames do not, so
                // compare them net of it.
                // With large payloads the refill is nearly all the time and the difference is
                // noise: those rows say `copy-bound` instead of a ratio.
                let copy_bound = matches!((ours, copy), (Some(o), Some(c)) if 2.0 * c > o);
                let net = |v: Option<f64>| match (v, copy) {
                    (Some(v), Some(c)) => Some(v - c),
                    (v, None) => v,
                    (None, _) => None,
                };
                use support::ratio;
                let cell = support::cell;
                let net_ratio = |a, b| {
                    if copy_bound {
                        "copy-bound".to_owned()
                    } else {
                        cell(ratio(net(a), net(b)))
                    }
                };
                rows.push(vec![
                    op.to_owned(),
                    format!("be{width}"),
                    case.label.clone(),
                    cell(ours),
                    cell(borrowed),
                    cell(hand),
                    cell(hand_copy),
                    cell(hand_fallible),
                    cell(theirs),
                    cell(framing),
                    cell(adapter),
                    cell(copy),
                    net_ratio(ours, hand),
                    if op == "decode" {
                        net_ratio(ours, hand_copy)
                    } else {
                        "-".to_owned()
                    },
                    if op == "decode" {
                        net_ratio(whole, hand_copy)
                    } else {
                        "-".to_owned()
                    },
                    net_ratio(ours, hand_fallible),
                    net_ratio(theirs, ours),
                    net_ratio(theirs, framing),
                    if copy_bound {
                        "copy-bound".to_owned()
                    } else {
                        cell(ratio(net(theirs), borrowed))
                    },
                ]);
            }
        }
    }
    for width in WIDTHS {
        let group = format!("framed-be{width}");
        for case in cases.iter().filter(|case| case.width == width) {
            let per_frame = |function: &str| {
                support::mean_ns(&group, function, &case.label, since)
                    .map(|ns| ns / case.frames as f64)
            };
            let (ours, theirs) = (per_frame(MSGFRAME_TOKIO), per_frame(TOKIO_UTIL));
            found |= ours.is_some();
            let mut row = vec!["-".to_owned(); rows[0].len()];
            row[0] = "framed".to_owned();
            row[1] = format!("be{width}");
            row[2] = case.label.clone();
            row[8] = support::cell(theirs);
            row[10] = support::cell(ours);
            row[15] = support::cell(support::ratio(theirs, ours));
            rows.push(row);
        }
    }
    let mut table = String::from(
        "ns per frame (criterion mean of this run). Ratios are net of the buffer refill (`copy`)\n\
         that every owned decode iteration starts with; msgframe/hand <= 1.1 is the target,\n\
         tokio-util/msgframe > 1 means msgframe is faster. `framed` rows: FramedRead with\n\
         msgframe-tokio's Codec and with tokio-util's codec, the ratio in tokio-util/msgframe\n\
         (not net of anything).\n\n",
    );
    table.push_str(&support::table(&rows));
    found.then_some(table)
}

fn main() {
    let started = SystemTime::now();
    let load_before = support::load_average();
    let cases: Vec<Case> = WIDTHS
        .iter()
        .flat_map(|&width| PAYLOADS.iter().map(move |&len| Case::new(width, len)))
        .collect();
    for case in &cases {
        case.sanity_check();
    }

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args();
    for width in WIDTHS {
        bench_decode(&mut c, &cases, width);
    }
    for width in WIDTHS {
        bench_framed(&mut c, &cases, width);
    }
    for width in WIDTHS {
        bench_encode(&mut c, &cases, width);
    }
    c.final_summary();

    if let Some(table) = ratio_table(&cases, started) {
        support::report(
            "msgframe LengthPrefixed vs tokio-util LengthDelimitedCodec vs hand-written",
            table,
            load_before,
            "msgframe-ratios.txt",
        );
    }
}
