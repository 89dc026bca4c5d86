//! msgframe's length-prefixed framing against tokio-util's `LengthDelimitedCodec`, in one run, on
//! the same bytes.
//!
//! Contenders, for a 2-byte and a 4-byte big-endian length counting the body only (the header is
//! stripped from delivered frames, no adjustment, the same maximum frame length on both sides):
//!
//! - `msgframe`: [`LengthPrefixed`] through `msgframe_codec::{Decoder, Encoder}` directly;
//! - `msgframe-tokio`: the same framing through `msgframe_tokio::Codec` and the
//!   `tokio_util::codec::{Decoder, Encoder<Bytes>}` traits (shows what the adapter costs);
//! - `tokio-util`: `LengthDelimitedCodec::builder().length_field_length(n).big_endian()
//!   .max_frame_length(..).new_codec()`;
//! - `copy-only` (decode groups only): the buffer refill every decode iteration does, alone.
//!
//! Payloads are 16 B, 100 B, 1 KiB and 64 KiB (65 535 B with a 2-byte length: the largest body it
//! can describe; 65 536 B with a 4-byte length).
//!
//! - `decode-be{2,4}`: a stream of N frames of the payload (N makes about 1 MiB, at least 64) is
//!   encoded once. Each iteration refills a reused `BytesMut` with it (`clear` + `extend_from_slice`,
//!   the same for every contender: `copy-only` measures it) and decodes every frame, each passed to
//!   `black_box`. msgframe yields `Bytes` (it freezes the split-off `BytesMut`), tokio-util yields
//!   the `BytesMut` as split off.
//! - `encode-be{2,4}`: each iteration clears a reused `BytesMut` and encodes the payload N times
//!   into it. `msgframe` takes `&[u8]`; `msgframe-tokio` and `tokio-util` take `Bytes` by value
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

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput};
use msgframe_codec::header::LengthEncoding;
use msgframe_codec::LengthPrefixed;
use msgframe_tokio::Codec;
use tokio_util::codec::LengthDelimitedCodec;

/// Length field widths, in bytes.
const WIDTHS: [usize; 2] = [2, 4];
/// Nominal payload sizes; capped at what the length field can describe.
const PAYLOADS: [usize; 4] = [16, 100, 1024, 64 * 1024];
/// Decode streams and encode batches hold about this many bytes...
const STREAM_BYTES: usize = 1024 * 1024;
/// ...and at least this many frames.
const MIN_FRAMES: usize = 64;

const MSGFRAME: &str = "msgframe";
const MSGFRAME_TOKIO: &str = "msgframe-tokio";
const TOKIO_UTIL: &str = "tokio-util";
const COPY_ONLY: &str = "copy-only";

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

    fn msgframe_tokio(&self) -> Codec<LengthPrefixed> {
        Codec::new(self.msgframe())
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

        let mut adapter_out = BytesMut::new();
        let mut theirs_out = BytesMut::new();
        for _ in 0..self.frames {
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

        group.bench_function(BenchmarkId::new(COPY_ONLY, &case.label), |b| {
            b.iter(|| {
                refill(&mut buf, &case.stream);
                black_box(&mut buf);
            });
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

/// Where criterion writes its files, found the way criterion 0.7 finds it: `$CRITERION_HOME`, else
/// `$CARGO_TARGET_DIR/criterion`, else the cargo target directory's `criterion`.
fn criterion_home() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    // Cargo gives benches `<target dir>/tmp` when it compiles them.
    match Path::new(env!("CARGO_TARGET_TMPDIR")).parent() {
        Some(target) => target.join("criterion"),
        None => PathBuf::from("target/criterion"),
    }
}

/// The mean time per iteration, in nanoseconds, from an `estimates.json` written after `since`.
fn mean_ns(
    home: &Path,
    group: &str,
    function: &str,
    label: &str,
    since: SystemTime,
) -> Option<f64> {
    let path = home
        .join(group)
        .join(function)
        .join(label)
        .join("new")
        .join("estimates.json");
    let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
    if modified < since {
        return None; // left by an earlier run (e.g. this run's filter skipped it)
    }
    point_estimate(&std::fs::read_to_string(&path).ok()?, "mean")
}

/// `estimate.point_estimate` from criterion's `estimates.json`
/// (`{"mean":{"confidence_interval":{..},"point_estimate":123.4,"standard_error":..},..}`).
fn point_estimate(json: &str, estimate: &str) -> Option<f64> {
    const KEY: &str = "\"point_estimate\":";
    // The first `point_estimate` after the estimate's key is its own: the confidence interval
    // before it has none.
    let object = &json[json.find(&format!("\"{estimate}\":{{"))?..];
    let value = &object[object.find(KEY)? + KEY.len()..];
    let end = value.find([',', '}']).unwrap_or(value.len());
    value[..end].trim().parse().ok()
}

fn cell(value: Option<f64>) -> String {
    match value {
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
        None => "-".to_owned(),
    }
}

fn ratio(numerator: Option<f64>, denominator: Option<f64>) -> Option<f64> {
    match (numerator, denominator) {
        (Some(n), Some(d)) if n > 0.0 && d > 0.0 => Some(n / d),
        _ => None,
    }
}

/// The ratio table from this run's estimates; `None` when this run wrote none (test or list mode,
/// a filter matching nothing, `--baseline`, cargo-criterion).
fn ratio_table(cases: &[Case], since: SystemTime) -> Option<String> {
    let home = criterion_home();
    let mut rows = Vec::new();
    let mut found = false;
    for op in ["decode", "encode"] {
        for width in WIDTHS {
            let group = format!("{op}-be{width}");
            for case in cases.iter().filter(|case| case.width == width) {
                let per_frame = |function: &str| {
                    mean_ns(&home, &group, function, &case.label, since)
                        .map(|ns| ns / case.frames as f64)
                };
                let ours = per_frame(MSGFRAME);
                let adapter = per_frame(MSGFRAME_TOKIO);
                let theirs = per_frame(TOKIO_UTIL);
                let copy = if op == "decode" {
                    per_frame(COPY_ONLY)
                } else {
                    None
                };
                found |= ours.is_some() || adapter.is_some() || theirs.is_some() || copy.is_some();
                // Subtracting the copy is only meaningful while it is a small part of the time;
                // with 64 KiB frames it is nearly all of it and the difference is noise.
                let net = match (ours, theirs, copy) {
                    (Some(o), Some(t), Some(c)) if 2.0 * c < o.min(t) => {
                        cell(ratio(Some(t - c), Some(o - c)))
                    }
                    (Some(_), Some(_), Some(_)) => "copy-bound".to_owned(),
                    _ => cell(None),
                };
                rows.push([
                    op.to_owned(),
                    format!("be{width}"),
                    case.label.clone(),
                    case.frames.to_string(),
                    cell(ours),
                    cell(adapter),
                    cell(theirs),
                    cell(ratio(theirs, ours)),
                    cell(ratio(adapter, ours)),
                    cell(copy),
                    net,
                ]);
            }
        }
    }
    if !found {
        return None;
    }
    let header = [
        "op",
        "header",
        "payload",
        "frames",
        "msgframe",
        "msgframe-tokio",
        "tokio-util",
        "tokio-util/msgframe",
        "msgframe-tokio/msgframe",
        "copy-only",
        "ratio net of copy",
    ];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    out.push_str(
        "msgframe LengthPrefixed vs tokio-util LengthDelimitedCodec: ns per frame (criterion mean \
         of this run)\ntokio-util/msgframe > 1: msgframe is faster; msgframe-tokio/msgframe: cost \
         of the tokio_util adapter;\ncopy-only: the buffer refill each decode iteration includes; \
         ratio net of copy: (tokio-util - copy) / (msgframe - copy),\nshown while the copy is under \
         half the time\n\n",
    );
    let mut line = |cells: &[String]| {
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let sep = if i == 0 { "" } else { "  " };
            if i < 3 {
                let _ = write!(out, "{sep}{cell:<w$}");
            } else {
                let _ = write!(out, "{sep}{cell:>w$}");
            }
        }
        out.push('\n');
    };
    line(&header.map(str::to_owned));
    for row in &rows {
        line(row);
    }
    Some(out)
}

/// The 1-minute load average, where the system tells it: a busy machine skews the comparison,
/// since criterion measures the contenders one after the other.
fn load_average() -> Option<String> {
    let loadavg = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(loadavg.split_whitespace().next()?.to_owned())
}

fn main() {
    let started = SystemTime::now();
    let load_before = load_average();
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
        bench_encode(&mut c, &cases, width);
    }
    c.final_summary();

    if let Some(mut table) = ratio_table(&cases, started) {
        if let (Some(before), Some(after)) = (load_before, load_average()) {
            let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
            let _ = writeln!(
                table,
                "\nload average (1 min) before: {before}, after: {after}, on {cpus} CPUs"
            );
        }
        println!("\n{table}");
        let path = criterion_home().join("msgframe-ratios.txt");
        match std::fs::write(&path, &table) {
            Ok(()) => println!("(also written to {})", path.display()),
            Err(err) => eprintln!("cannot write {}: {err}", path.display()),
        }
    }
}
