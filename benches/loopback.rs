//! msgframe over real loopback TCP against the same stream with no framing at all (the wire limit).
//!
//! - `pipelined`: a writer thread sends a pre-encoded stream of messages (100 B, 1 KiB and 16 KiB,
//!   about 10 MB per burst) with 2-byte big-endian lengths (`be:2`) as fast as it can; the reader takes it either as raw bytes (`raw`:
//!   `read` into a 64 KiB buffer until every byte has arrived) or message by message through
//!   `BlockingReader::read_message` (`msgframe`). Same writer, same bytes: the difference is what
//!   framing costs on the receiving side.
//!   `msgframe-ref` reads the same messages lent from the read buffer (`BlockingReader::read_ref`,
//!   no allocation per message), `msgframe-each` lends every buffered message per call
//!   (`BlockingReader::read_each`). The `tokio-*` contenders do the same on a current-thread tokio
//!   runtime: `tokio-raw` (`AsyncReadExt::read` into a 64 KiB buffer), `tokio-msgframe`
//!   (`msgframe_tokio::MessageReader::read_message`), `tokio-msgframe-ref`
//!   (`MessageReader::read_ref`), `tokio-msgframe-each` (`MessageReader::read_each`), `tokio-framed` (`tokio_util::codec::FramedRead` with
//!   msgframe's `Codec`) and `tokio-util` (`FramedRead` with tokio-util's `LengthDelimitedCodec`).
//! - `round-trip`: one long connection, a request of 100 bytes and its echo, one at a time. `raw`
//!   writes the 102 framed bytes with `write_all` and reads the 102-byte echo with `read_exact`;
//!   `msgframe` uses `BlockingWriter::write_message` and `BlockingReader::read_message` on both
//!   sides.
//!
//! After criterion's summary it prints messages/s for each (from criterion's median, steadier than
//! the mean here: the writer thread shares the two cores) and msgframe's share of the raw rate
//! (1.00 = as fast as no framing at all), and writes the table to
//! `target/criterion/msgframe-loopback.txt`.
//!
//! ```text
//! cargo bench --bench loopback
//! ```

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use bytes::BytesMut;
use criterion::{Criterion, Throughput};
use futures_util::StreamExt;
use msgframe_codec::{Encoder, Framing};
use msgframe_io::{BlockingReader, BlockingWriter, MessageRead, MessageWrite};
use tokio::io::AsyncReadExt;

/// The round trip's payload.
const PAYLOAD: usize = 100;
/// Pipelined payloads.
const PIPELINED: [usize; 3] = [100, 1024, 16 * 1024];
/// Bytes per pipelined burst, about.
const BURST_BYTES: usize = 10_000_000;
/// Round trips per measured batch.
const TRIPS: usize = 2_000;
/// The pipelined contenders, blocking then async, in table order.
const CONTENDERS: [&str; 10] = [
    "raw",
    "msgframe",
    "msgframe-ref",
    "msgframe-each",
    "tokio-raw",
    "tokio-msgframe",
    "tokio-msgframe-ref",
    "tokio-msgframe-each",
    "tokio-framed",
    "tokio-util",
];

fn framing() -> Framing {
    "be:2".parse().unwrap()
}

fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    client.set_nodelay(true).unwrap();
    server.set_nodelay(true).unwrap();
    (client, server)
}

fn burst_len(payload: usize) -> usize {
    BURST_BYTES / (payload + 2)
}

/// A connection whose other end sends the whole burst each time it is asked to.
struct Burst {
    reader: TcpStream,
    ask: mpsc::Sender<()>,
    bytes: usize,
}

fn burst(payload: usize) -> Burst {
    let (mut writer, reader) = pair();
    let mut wire = BytesMut::new();
    let body = vec![b'x'; payload];
    for _ in 0..burst_len(payload) {
        framing().encode(&body, &mut wire).unwrap();
    }
    let bytes = wire.len();
    let (ask, asked) = mpsc::channel::<()>();
    thread::spawn(move || {
        while asked.recv().is_ok() {
            for chunk in wire.chunks(64 * 1024) {
                if writer.write_all(chunk).is_err() {
                    return;
                }
            }
        }
    });
    Burst { reader, ask, bytes }
}

/// One pipelined contender: reads one whole burst per call and says how long it took.
type Contender = Box<dyn FnMut() -> Duration>;

/// A blocking contender: `read` takes one or more messages from the reader and says how many.
fn blocking(
    payload: usize,
    mut read: impl FnMut(&mut BlockingReader<TcpStream, Framing>) -> usize + 'static,
) -> Contender {
    let messages = burst_len(payload);
    let burst = burst(payload);
    let ask = burst.ask.clone();
    let mut reader = BlockingReader::new(burst.reader, framing());
    Box::new(move || {
        let start = Instant::now();
        ask.send(()).unwrap();
        let mut got = 0;
        while got < messages {
            got += read(&mut reader);
        }
        start.elapsed()
    })
}

/// An async contender (a current-thread runtime drives its I/O only inside `Runtime::block_on`): `read` takes one or more messages from `source` and says how many.
fn asynchronous<S: 'static>(
    rt: &Rc<tokio::runtime::Runtime>,
    payload: usize,
    ask: mpsc::Sender<()>,
    mut source: S,
    mut read: impl AsyncFnMut(&mut S) -> usize + 'static,
) -> Contender {
    let messages = burst_len(payload);
    let rt = rt.clone();
    Box::new(move || {
        rt.block_on(async {
            let start = Instant::now();
            ask.send(()).unwrap();
            let mut got = 0;
            while got < messages {
                got += read(&mut source).await;
            }
            start.elapsed()
        })
    })
}

/// The pipelined contenders for `payload`, in [`CONTENDERS`] order.
fn contenders(payload: usize, rt: &Rc<tokio::runtime::Runtime>) -> Vec<Contender> {
    let mut list: Vec<Contender> = Vec::new();

    let mut raw = burst(payload);
    let mut buf = vec![0u8; 64 * 1024];
    list.push(Box::new(move || {
        let start = Instant::now();
        raw.ask.send(()).unwrap();
        let mut left = raw.bytes;
        while left > 0 {
            let n = raw.reader.read(&mut buf).unwrap();
            assert!(n > 0, "the writer closed");
            left -= n;
        }
        start.elapsed()
    }));

    list.push(blocking(payload, move |reader| {
        let message = reader.read_message().unwrap();
        debug_assert_eq!(message.len(), payload);
        std::hint::black_box(message);
        1
    }));
    list.push(blocking(payload, move |reader| {
        let message = reader.read_ref().unwrap();
        debug_assert_eq!(message.len(), payload);
        std::hint::black_box(message);
        1
    }));
    list.push(blocking(payload, move |reader| {
        reader
            .read_each(move |message| {
                debug_assert_eq!(message.len(), payload);
                std::hint::black_box(message);
            })
            .unwrap()
    }));

    let async_burst = |payload| {
        let burst = burst(payload);
        burst.reader.set_nonblocking(true).unwrap();
        let stream = rt
            .block_on(async { tokio::net::TcpStream::from_std(burst.reader) })
            .unwrap();
        (stream, burst.ask, burst.bytes)
    };

    let (mut stream, ask, bytes) = async_burst(payload);
    let (h, mut buf) = (rt.clone(), vec![0u8; 64 * 1024]);
    list.push(Box::new(move || {
        h.block_on(async {
            let start = Instant::now();
            ask.send(()).unwrap();
            let mut left = bytes;
            while left > 0 {
                let n = stream.read(&mut buf).await.unwrap();
                assert!(n > 0, "the writer closed");
                left -= n;
            }
            start.elapsed()
        })
    }));

    let (stream, ask, _) = async_burst(payload);
    let reader = msgframe_tokio::MessageReader::new(stream, framing());
    list.push(asynchronous(
        rt,
        payload,
        ask,
        reader,
        async move |reader| {
            let message = reader.read_message().await.unwrap();
            debug_assert_eq!(message.len(), payload);
            std::hint::black_box(message);
            1
        },
    ));

    let (stream, ask, _) = async_burst(payload);
    let reader = msgframe_tokio::MessageReader::new(stream, framing());
    list.push(asynchronous(
        rt,
        payload,
        ask,
        reader,
        async move |reader| {
            let message = reader.read_ref().await.unwrap();
            debug_assert_eq!(message.len(), payload);
            std::hint::black_box(message);
            1
        },
    ));

    let (stream, ask, _) = async_burst(payload);
    let reader = msgframe_tokio::MessageReader::new(stream, framing());
    list.push(asynchronous(
        rt,
        payload,
        ask,
        reader,
        async move |reader| {
            reader
                .read_each(|message| {
                    debug_assert_eq!(message.len(), payload);
                    std::hint::black_box(message);
                })
                .await
                .unwrap()
        },
    ));

    let (stream, ask, _) = async_burst(payload);
    let frames = tokio_util::codec::FramedRead::new(stream, msgframe_tokio::Codec::new(framing()));
    list.push(asynchronous(
        rt,
        payload,
        ask,
        frames,
        async move |frames| {
            let message = frames.next().await.unwrap().unwrap();
            debug_assert_eq!(message.len(), payload);
            std::hint::black_box(message);
            1
        },
    ));

    let (stream, ask, _) = async_burst(payload);
    let codec = tokio_util::codec::LengthDelimitedCodec::builder()
        .length_field_length(2)
        .new_codec();
    let frames = tokio_util::codec::FramedRead::new(stream, codec);
    list.push(asynchronous(
        rt,
        payload,
        ask,
        frames,
        async move |frames| {
            let message = frames.next().await.unwrap().unwrap();
            debug_assert_eq!(message.len(), payload);
            std::hint::black_box(message);
            1
        },
    ));
    list
}

/// Rounds of the interleaved pipelined measurement.
const ROUNDS: usize = 21;

/// The pipelined measurement, interleaved: each round reads one burst with every contender back to
/// back, and each contender's time is compared with its raw reference **of the same round**, so that
/// the machine's drift (a neighbour's load, frequency changes) cancels out. Reports the median of the
/// per-round ratios, and the median rate. Returns the table rows.
fn pipelined_interleaved(filter: Option<&str>) -> Vec<Vec<String>> {
    let rt = Rc::new(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    );
    let mut rows = Vec::new();
    for payload in PIPELINED {
        let label = format!("{payload}B");
        if filter.is_some_and(|f| !format!("pipelined/{label}").contains(f)) {
            continue;
        }
        let mut list = contenders(payload, &rt);
        // Warm up: one burst each.
        for c in &mut list {
            c();
        }
        let mut times = vec![Vec::with_capacity(ROUNDS); list.len()];
        for _ in 0..ROUNDS {
            for (i, c) in list.iter_mut().enumerate() {
                times[i].push(c().as_secs_f64());
            }
        }
        let messages = burst_len(payload) as f64;
        let mut row = vec![format!("pipelined {label}")];
        row.extend(times.iter().map(|t| format!("{:.0}", messages / median(t))));
        for (i, name) in CONTENDERS.iter().enumerate().skip(1) {
            let raw = if name.starts_with("tokio") { 4 } else { 0 };
            if i == raw {
                row.push("-".to_owned());
                continue;
            }
            // Rate ratio = raw time / contender time, per round.
            let ratios: Vec<f64> = times[i]
                .iter()
                .zip(&times[raw])
                .map(|(t, r)| r / t)
                .collect();
            row.push(format!("{:.2}", median(&ratios)));
        }
        rows.push(row);
    }
    rows
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// An echo server thread on the other end of `stream`: raw (fixed 102-byte exchanges) or msgframe.
fn echo(stream: TcpStream, framed: bool) {
    thread::spawn(move || {
        if framed {
            let mut r = BlockingReader::new(stream.try_clone().unwrap(), framing());
            let mut w = BlockingWriter::new(stream, framing());
            while let Ok(m) = r.read_message() {
                if w.write_message(&m).is_err() {
                    return;
                }
            }
        } else {
            let mut stream = stream;
            let mut buf = [0u8; PAYLOAD + 2];
            while stream.read_exact(&mut buf).is_ok() {
                if stream.write_all(&buf).is_err() {
                    return;
                }
            }
        }
    });
}

fn bench_round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("round-trip");
    group.throughput(Throughput::Elements(TRIPS as u64));
    group.sample_size(20);

    let (mut client, server) = pair();
    echo(server, false);
    let mut request = vec![0u8, PAYLOAD as u8];
    request.extend_from_slice(&[b'x'; PAYLOAD]);
    let mut reply = [0u8; PAYLOAD + 2];
    group.bench_function("raw", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters * TRIPS as u64 {
                client.write_all(&request).unwrap();
                client.read_exact(&mut reply).unwrap();
            }
            start.elapsed()
        })
    });

    let (client, server) = pair();
    echo(server, true);
    let mut reader = BlockingReader::new(client.try_clone().unwrap(), framing());
    let mut writer = BlockingWriter::new(client, framing());
    let body = [b'x'; PAYLOAD];
    group.bench_function("msgframe", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters * TRIPS as u64 {
                writer.write_message(&body).unwrap();
                std::hint::black_box(reader.read_message().unwrap());
            }
            start.elapsed()
        })
    });
    group.finish();
}

fn ratio_table(pipelined: Vec<Vec<String>>, since: SystemTime) -> Option<String> {
    let mut header = vec!["benchmark".to_owned()];
    header.extend(CONTENDERS.iter().map(|c| format!("{c} msg/s")));
    header.extend(CONTENDERS[1..].iter().map(|c| {
        let raw = if c.starts_with("tokio") {
            "tokio-raw"
        } else {
            "raw"
        };
        format!("{c} / {raw}")
    }));
    let mut found = !pipelined.is_empty();
    let mut rows = vec![header];
    rows.extend(pipelined);
    let rate =
        |function| mean_ns_flat("round-trip", function, since).map(|ns| TRIPS as f64 / (ns / 1e9));
    let (raw, ours) = (rate("raw"), rate("msgframe"));
    if raw.is_some() || ours.is_some() {
        found = true;
        let mut row = vec![
            format!("round-trip {PAYLOAD}B"),
            support::cell(raw),
            support::cell(ours),
        ];
        row.resize(1 + CONTENDERS.len(), "-".to_owned());
        row.push(support::cell(support::ratio(ours, raw)));
        row.resize(2 * CONTENDERS.len(), "-".to_owned());
        rows.push(row);
    }
    found.then(|| support::table(&rows))
}

/// Criterion keeps `bench_function` results at `<group>/<function>/new/estimates.json`.
fn mean_ns_flat(group: &str, function: &str, since: SystemTime) -> Option<f64> {
    let path = support::criterion_home()
        .join(group)
        .join(function)
        .join("new")
        .join("estimates.json");
    let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
    if modified < since {
        return None;
    }
    support::point_estimate(&std::fs::read_to_string(&path).ok()?, "median")
}

fn main() {
    let started = SystemTime::now();
    let load_before = support::load_average();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bench_round_trip(&mut c);
    c.final_summary();
    // The pipelined measurement runs outside criterion (see `pipelined_interleaved`), and only
    // when benchmarking (`cargo bench`), not in `cargo test`'s quick pass over the benches.
    let args: Vec<String> = std::env::args().collect();
    let benchmarking = args.iter().any(|a| a == "--bench");
    let filter = args
        .iter()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(String::as_str);
    let pipelined = if benchmarking {
        pipelined_interleaved(filter)
    } else {
        Vec::new()
    };
    if let Some(table) = ratio_table(pipelined, started) {
        support::report(
            "msgframe over loopback TCP, be:2 (2-byte big-endian lengths)",
            table,
            load_before,
            "msgframe-loopback.txt",
        );
    }
}
