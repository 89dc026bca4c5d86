//! msgframe over real loopback TCP against the same stream with no framing at all (the wire limit).
//!
//! - `queued` (the reader alone): for every round and every contender, a **new connection** whose
//!   receiving socket has a large receive buffer (`SO_RCVBUF`, within `net.core.rmem_max`). A writer
//!   thread sends one burst of about 4 MiB of messages framed with 2-byte big-endian lengths
//!   (`be:2`) and closes the connection; the bench waits until the whole burst is queued at the
//!   receiver (a `MSG_PEEK` of the burst's size returns all of it: the safe equivalent of
//!   `FIONREAD`) and the writer thread has exited, and only then times the reader, alone on the
//!   machine, reading to the end of the stream. So the figure is what the reader costs, not how the
//!   writer and the reader share two cores. Linux caps the receive buffer at twice
//!   `net.core.rmem_max`; where that cannot hold 4 MiB the burst shrinks to half of it and the notes
//!   say so (the ratios are then lower: what a reader costs once per connection weighs more).
//!
//!   Contenders, blocking: `raw` (`read` into a 64 KiB buffer until end of stream: the reference),
//!   `hand-lent` (the least a reader that finds the messages can do: the same reads, a loop that
//!   reads each length and lends the message from the buffer, the partial one moved to the front
//!   before the next read; no error handling, no deadlines: the limit for lent readers),
//!   `msgframe-each` (`BlockingReader::read_each`), `msgframe-ref` (`BlockingReader::read_ref`),
//!   `msgframe` (`BlockingReader::read_message`) and `hand` (a hand-written splitting reader, as a
//!   user would write one without a library: `read` into a `BytesMut`, zeroing the room first as
//!   safe Rust must, then `split_to(len).freeze()` per message: the reference for `msgframe`).
//!   Async, on a current-thread tokio runtime: `tokio-raw` (`AsyncReadExt::read` into 64 KiB: the
//!   reference), `tokio-msgframe-each`, `tokio-msgframe-ref`, `tokio-msgframe`
//!   (`msgframe_tokio::MessageReader::read_each`, `read_ref`, `read_message`), `tokio-framed`
//!   (`tokio_util::codec::FramedRead` with msgframe's `Codec`) and `tokio-util` (`FramedRead` with
//!   tokio-util's `LengthDelimitedCodec`).
//!
//!   Every contender starts the timed part with nothing allocated, as on a new connection: the raw
//!   readers allocate their 64 KiB buffer in it, msgframe's readers their read blocks.
//!
//!   Paired rounds: each round reads bursts of identical bytes with every contender (in an order
//!   rotated from round to round; two bursts each, the faster counting, so that a read another
//!   process interrupted does not make the round), and each contender's time is compared with its
//!   reference's **in the same round** (`raw` time / contender time: 1.00 = as fast as no framing at all). The table
//!   gives the median of those per-round ratios, their interquartile range and their minimum and
//!   maximum, and the median rate in messages per second.
//! - `round-trip`: one long connection, a request of 100 bytes and its echo, one at a time. `raw`
//!   writes the 102 framed bytes with `write_all` and reads the 102-byte echo with `read_exact`;
//!   `msgframe` uses `BlockingWriter::write_message` and `BlockingReader::read_message` on both
//!   sides. Paired rounds too: 21 rounds of 2,000 round trips each, raw and msgframe alternating
//!   which goes first; the ratio is taken within each round. A round trip is mostly two wake-ups
//!   of a thread on the other core, so this measures latency, where framing costs little.
//!
//! The tables are printed and written to `target/criterion/msgframe-loopback.txt`.
//!
//! ```text
//! cargo bench --bench loopback              # both
//! cargo bench --bench loopback -- queued    # the queued-burst rounds only
//! cargo bench --bench loopback -- round-trip
//! LOOPBACK_ROUNDS=51 LOOPBACK_TRIES=1 cargo bench --bench loopback -- queued/100B
//! ```

mod support;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::StreamExt;
use msgframe_codec::{Encoder, Framing};
use msgframe_io::{BlockingReader, BlockingWriter, MessageRead, MessageWrite};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::AsyncReadExt;

/// The round trip's payload.
const PAYLOAD: usize = 100;
/// Round trips per batch.
const TRIPS: usize = 2_000;
/// Paired rounds of round trips.
const TRIP_ROUNDS: usize = 21;
/// Payloads of the queued-burst rounds.
const PAYLOADS: [usize; 3] = [100, 1024, 16 * 1024];
/// The burst one connection carries, at most: less when the receive buffer cannot hold it.
const BURST_BYTES: usize = 4 * 1024 * 1024;
/// The receive and send buffer sizes asked for (`SO_RCVBUF`, `SO_SNDBUF`); Linux caps them at
/// `net.core.rmem_max` / `wmem_max` and doubles what it grants (for its own bookkeeping).
const SOCKET_BUFFER: usize = 16 * 1024 * 1024;
/// Rounds of the queued-burst measurement, unless `LOOPBACK_ROUNDS` says otherwise.
const ROUNDS: usize = 31;
/// Bursts each contender reads per round, unless `LOOPBACK_TRIES` says otherwise: its time in the
/// round is the fastest, so that a read that another process interrupted (the machine is shared)
/// does not make the round's ratio.
const TRIES: usize = 2;
/// How long a burst may take to be queued at the receiver.
const QUEUE_WAIT: Duration = Duration::from_secs(5);

/// The contenders, in table order, each with the index of its reference (itself for the two
/// references).
const CONTENDERS: [(&str, usize); 12] = [
    ("raw", 0),
    ("hand-lent", 0),
    ("msgframe-each", 0),
    ("msgframe-ref", 0),
    ("msgframe", 0),
    ("hand", 0),
    ("tokio-raw", 6),
    ("tokio-msgframe-each", 6),
    ("tokio-msgframe-ref", 6),
    ("tokio-msgframe", 6),
    ("tokio-framed", 6),
    ("tokio-util", 6),
];

fn framing() -> Framing {
    "be:2".parse().unwrap()
}

/// A connected pair with Nagle off, for the round trip.
fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    client.set_nodelay(true).unwrap();
    server.set_nodelay(true).unwrap();
    (client, server)
}

/// Where the queued-burst connections come from: a listener whose accepted sockets inherit a large
/// receive buffer (set before `listen`, so the window scale of the handshake allows it).
struct Loopback {
    listener: TcpListener,
    addr: SocketAddr,
    /// The receive buffer the kernel granted an accepted socket (bytes, as `SO_RCVBUF` reports it).
    rcvbuf: usize,
    /// A buffer of the burst's size and one more byte, for peeking at the queue.
    peek: Vec<u8>,
}

impl Loopback {
    fn new() -> io::Result<Self> {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        socket.set_recv_buffer_size(SOCKET_BUFFER)?;
        socket.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
        socket.listen(16)?;
        let rcvbuf = socket.recv_buffer_size()?;
        let listener: TcpListener = socket.into();
        let addr = listener.local_addr()?;
        Ok(Loopback {
            listener,
            addr,
            rcvbuf,
            peek: Vec::new(),
        })
    }

    /// A new connection on which `burst` has been sent and the sender has closed: returns the
    /// receiving end once the whole burst is queued in its receive buffer and the writer thread has
    /// exited, so that nothing else runs while the reader is timed.
    fn queued(&mut self, burst: &Arc<Bytes>) -> TcpStream {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
        socket.set_send_buffer_size(SOCKET_BUFFER).unwrap();
        socket.connect(&self.addr.into()).unwrap();
        let mut writer: TcpStream = socket.into();
        let (reader, _) = self.listener.accept().unwrap();
        // A burst the receive buffer cannot hold would block the writer: fail instead of hanging.
        writer.set_write_timeout(Some(QUEUE_WAIT)).unwrap();
        let bytes = burst.clone();
        let sent = thread::spawn(move || writer.write_all(&bytes));
        if let Err(err) = sent.join().unwrap() {
            panic!(
                "the burst of {} bytes did not fit in the receive buffer ({} bytes; \
                 net.core.rmem_max {}): {err}",
                burst.len(),
                self.rcvbuf,
                rmem_max()
            );
        }
        // The writer has closed (its end was dropped with the thread): the burst and then the end
        // of stream are on their way. Wait until all of the burst is queued at the receiver.
        self.peek.resize(burst.len() + 1, 0);
        reader.set_read_timeout(Some(QUEUE_WAIT)).unwrap();
        let start = Instant::now();
        loop {
            let queued = reader.peek(&mut self.peek).unwrap();
            if queued >= burst.len() {
                assert_eq!(queued, burst.len(), "more bytes queued than sent");
                break;
            }
            assert!(
                start.elapsed() < QUEUE_WAIT,
                "only {queued} of {} bytes queued after {QUEUE_WAIT:?}",
                burst.len()
            );
            thread::sleep(Duration::from_micros(100));
        }
        reader.set_read_timeout(None).unwrap();
        reader
    }
}

/// `net.core.rmem_max`, as the system reports it.
fn rmem_max() -> String {
    std::fs::read_to_string("/proc/sys/net/core/rmem_max")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// `count` messages of `payload` bytes, `be:2`-framed, as one burst.
fn burst(payload: usize, count: usize) -> Bytes {
    let mut wire = BytesMut::new();
    let body = vec![b'x'; payload];
    for _ in 0..count {
        framing().encode(&body, &mut wire).unwrap();
    }
    wire.freeze()
}

/// A hand-written splitting reader, as a user would write one without a library: reads into a
/// `BytesMut` (zeroing the room before each read: safe Rust cannot read into spare capacity) and
/// splits whole frames off the front with `split_to(len).freeze()`, sharing the read buffer.
struct HandReader {
    stream: TcpStream,
    buf: BytesMut,
}

impl HandReader {
    const READ: usize = 64 * 1024;

    fn read_message(&mut self) -> io::Result<Option<Bytes>> {
        loop {
            if self.buf.len() >= 2 {
                let len = u16::from_be_bytes([self.buf[0], self.buf[1]]) as usize;
                if self.buf.len() >= 2 + len {
                    self.buf.advance(2);
                    return Ok(Some(self.buf.split_to(len).freeze()));
                }
            }
            let filled = self.buf.len();
            self.buf.resize(filled + Self::READ, 0);
            let n = self.stream.read(&mut self.buf[filled..])?;
            self.buf.truncate(filled + n);
            if n == 0 {
                return if filled == 0 {
                    Ok(None)
                } else {
                    Err(io::ErrorKind::UnexpectedEof.into())
                };
            }
        }
    }
}

/// Reads `stream` to its end with contender `which` ([`CONTENDERS`] index): the time taken, from
/// the first read to the end of stream, and the messages (bytes for the raw readers) read.
fn read_all(which: usize, stream: TcpStream, rt: &tokio::runtime::Runtime) -> (Duration, usize) {
    let closed = |e: &msgframe_io::Error| matches!(e, msgframe_io::Error::Closed);
    if CONTENDERS[which].0.starts_with("tokio") {
        stream.set_nonblocking(true).unwrap();
        let stream = {
            let _runtime = rt.enter();
            tokio::net::TcpStream::from_std(stream).unwrap()
        };
        return rt.block_on(read_all_async(which, stream));
    }
    let mut n = 0;
    let start = Instant::now();
    match CONTENDERS[which].0 {
        "raw" => {
            let mut stream = stream;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let got = stream.read(&mut buf).unwrap();
                if got == 0 {
                    return (start.elapsed(), n);
                }
                n += got;
            }
        }
        "hand-lent" => {
            let mut stream = stream;
            let mut buf = vec![0u8; 64 * 1024];
            let mut have = 0;
            loop {
                let got = stream.read(&mut buf[have..]).unwrap();
                if got == 0 {
                    assert_eq!(have, 0, "a partial message at the end");
                    break;
                }
                have += got;
                let mut at = 0;
                while have - at >= 2 {
                    let len = usize::from(u16::from_be_bytes([buf[at], buf[at + 1]]));
                    if have - at < 2 + len {
                        break;
                    }
                    std::hint::black_box(&buf[at + 2..at + 2 + len]);
                    at += 2 + len;
                    n += 1;
                }
                buf.copy_within(at..have, 0);
                have -= at;
            }
        }
        "msgframe-each" => {
            let mut reader = BlockingReader::new(stream, framing());
            loop {
                match reader.read_each(|message| {
                    std::hint::black_box(message);
                }) {
                    Ok(got) => n += got,
                    Err(e) if closed(&e) => break,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        "msgframe-ref" => {
            let mut reader = BlockingReader::new(stream, framing());
            loop {
                match reader.read_ref() {
                    Ok(message) => {
                        std::hint::black_box(message);
                        n += 1;
                    }
                    Err(e) if closed(&e) => break,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        "msgframe" => {
            let mut reader = BlockingReader::new(stream, framing());
            loop {
                match reader.read_message() {
                    Ok(message) => {
                        std::hint::black_box(message);
                        n += 1;
                    }
                    Err(e) if closed(&e) => break,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        "hand" => {
            let mut reader = HandReader {
                stream,
                buf: BytesMut::new(),
            };
            while let Some(message) = reader.read_message().unwrap() {
                std::hint::black_box(message);
                n += 1;
            }
        }
        other => unreachable!("{other}"),
    }
    (start.elapsed(), n)
}

/// [`read_all`] for the tokio contenders. The clock starts once the stream is known to be readable,
/// so no contender pays for the first trip through the reactor.
async fn read_all_async(which: usize, mut stream: tokio::net::TcpStream) -> (Duration, usize) {
    let closed = |e: &msgframe_io::Error| matches!(e, msgframe_io::Error::Closed);
    stream.readable().await.unwrap();
    let mut n = 0;
    let start = Instant::now();
    match CONTENDERS[which].0 {
        "tokio-raw" => {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let got = stream.read(&mut buf).await.unwrap();
                if got == 0 {
                    return (start.elapsed(), n);
                }
                n += got;
            }
        }
        "tokio-msgframe-each" => {
            let mut reader = msgframe_tokio::MessageReader::new(stream, framing());
            loop {
                match reader
                    .read_each(|message| {
                        std::hint::black_box(message);
                    })
                    .await
                {
                    Ok(got) => n += got,
                    Err(e) if closed(&e) => break,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        "tokio-msgframe-ref" => {
            let mut reader = msgframe_tokio::MessageReader::new(stream, framing());
            loop {
                match reader.read_ref().await {
                    Ok(message) => {
                        std::hint::black_box(message);
                        n += 1;
                    }
                    Err(e) if closed(&e) => break,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        "tokio-msgframe" => {
            let mut reader = msgframe_tokio::MessageReader::new(stream, framing());
            loop {
                match reader.read_message().await {
                    Ok(message) => {
                        std::hint::black_box(message);
                        n += 1;
                    }
                    Err(e) if closed(&e) => break,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        "tokio-framed" => {
            let codec = msgframe_tokio::Codec::new(framing());
            let mut frames = tokio_util::codec::FramedRead::new(stream, codec);
            while let Some(message) = frames.next().await {
                std::hint::black_box(message.unwrap());
                n += 1;
            }
        }
        "tokio-util" => {
            let codec = tokio_util::codec::LengthDelimitedCodec::builder()
                .length_field_length(2)
                .new_codec();
            let mut frames = tokio_util::codec::FramedRead::new(stream, codec);
            while let Some(message) = frames.next().await {
                std::hint::black_box(message.unwrap());
                n += 1;
            }
        }
        other => unreachable!("{other}"),
    }
    (start.elapsed(), n)
}

/// The value at quantile `q` (0 to 1) of sorted `v`, interpolated.
fn quantile(v: &[f64], q: f64) -> f64 {
    let at = q * (v.len() - 1) as f64;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (at - lo as f64)
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// The queued-burst rounds for every payload that `filter` selects; returns the table rows.
fn queued_rounds(
    filter: Option<&str>,
    rounds: usize,
    tries: usize,
    warm_up: bool,
    notes: &mut Vec<String>,
) -> Vec<Vec<String>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut net = Loopback::new().expect("a loopback listener");
    // The receive buffer must hold the burst; the kernel counts its own overhead against it too,
    // so a burst of half the granted size is kept to.
    let burst_max = BURST_BYTES.min(net.rcvbuf / 2);
    notes.push(format!(
        "queued: {rounds} paired rounds, the best of {tries} bursts (each on a new connection) per \
         round and contender; receive buffer {} KiB (SO_RCVBUF granted; net.core.rmem_max {}), \
         bursts of up to {} KiB",
        net.rcvbuf / 1024,
        rmem_max(),
        burst_max / 1024
    ));
    if burst_max < BURST_BYTES {
        notes.push(format!(
            "note: bursts smaller than {} KiB (raise net.core.rmem_max for the full size): what a \
             reader costs once per connection (its first read blocks, more reads) weighs more, so \
             the ratios are lower and compare only with runs of the same burst",
            BURST_BYTES / 1024
        ));
    }
    let mut rows = Vec::new();
    for payload in PAYLOADS {
        let label = format!("{payload}B");
        if filter.is_some_and(|f| !format!("queued/{label}").contains(f)) {
            continue;
        }
        let count = burst_max / (payload + 2);
        let wire = Arc::new(burst(payload, count));
        // Warm up: one burst each.
        for which in (0..CONTENDERS.len()).filter(|_| warm_up) {
            read_all(which, net.queued(&wire), &rt);
        }
        let mut times = vec![Vec::with_capacity(rounds); CONTENDERS.len()];
        for round in 0..rounds {
            for k in 0..CONTENDERS.len() {
                let which = (round + k) % CONTENDERS.len();
                let want = if CONTENDERS[which].0.ends_with("raw") {
                    wire.len()
                } else {
                    count
                };
                let mut best = f64::INFINITY;
                for _ in 0..tries {
                    let (took, n) = read_all(which, net.queued(&wire), &rt);
                    assert_eq!(n, want, "{}: messages (bytes for raw)", CONTENDERS[which].0);
                    best = best.min(took.as_secs_f64());
                }
                times[which].push(best);
            }
        }
        for (which, &(name, reference)) in CONTENDERS.iter().enumerate() {
            let rate = count as f64 / quantile(&sorted(&times[which]), 0.5);
            let mut row = vec![
                format!("queued {label}"),
                name.to_owned(),
                support::cell(Some(rate)),
            ];
            if which == reference {
                row.extend(["-", "-", "-", "-"].map(str::to_owned));
            } else {
                let ratios: Vec<f64> = times[reference]
                    .iter()
                    .zip(&times[which])
                    .map(|(r, t)| r / t)
                    .collect();
                let r = sorted(&ratios);
                row.push(CONTENDERS[reference].0.to_owned());
                row.push(format!("{:.2}", quantile(&r, 0.5)));
                row.push(format!(
                    "{:.2}-{:.2}",
                    quantile(&r, 0.25),
                    quantile(&r, 0.75)
                ));
                row.push(format!("{:.2}-{:.2}", r[0], r[r.len() - 1]));
            }
            rows.push(row);
        }
        notes.push(format!(
            "queued {label}: {count} messages, {} bytes a burst",
            wire.len()
        ));
    }
    rows
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

/// Round trips of raw and msgframe in paired rounds (each round one batch of [`TRIPS`] each, the
/// order alternating): the row of the table, or `None` when `filter` leaves them out.
fn round_trips(filter: Option<&str>, rounds: usize, trips: usize) -> Option<Vec<String>> {
    if filter.is_some_and(|f| !format!("round-trip/{PAYLOAD}B").contains(f)) {
        return None;
    }
    let (mut client, server) = pair();
    echo(server, false);
    let mut request = vec![0u8, PAYLOAD as u8];
    request.extend_from_slice(&[b'x'; PAYLOAD]);
    let mut reply = [0u8; PAYLOAD + 2];
    let mut raw = move || {
        let start = Instant::now();
        for _ in 0..trips {
            client.write_all(&request).unwrap();
            client.read_exact(&mut reply).unwrap();
        }
        start.elapsed().as_secs_f64()
    };

    let (client, server) = pair();
    echo(server, true);
    let mut reader = BlockingReader::new(client.try_clone().unwrap(), framing());
    let mut writer = BlockingWriter::new(client, framing());
    let body = [b'x'; PAYLOAD];
    let mut ours = move || {
        let start = Instant::now();
        for _ in 0..trips {
            writer.write_message(&body).unwrap();
            std::hint::black_box(reader.read_message().unwrap());
        }
        start.elapsed().as_secs_f64()
    };

    // Warm up, then the rounds.
    raw();
    ours();
    let (mut raw_times, mut our_times) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        if round % 2 == 0 {
            raw_times.push(raw());
            our_times.push(ours());
        } else {
            our_times.push(ours());
            raw_times.push(raw());
        }
    }
    let ratios: Vec<f64> = raw_times
        .iter()
        .zip(&our_times)
        .map(|(r, o)| r / o)
        .collect();
    let r = sorted(&ratios);
    let rate = |times: &[f64]| trips as f64 / quantile(&sorted(times), 0.5);
    Some(vec![
        format!("round-trip {PAYLOAD}B"),
        support::cell(Some(rate(&raw_times))),
        support::cell(Some(rate(&our_times))),
        format!("{:.2}", quantile(&r, 0.5)),
        format!("{:.2}-{:.2}", quantile(&r, 0.25), quantile(&r, 0.75)),
        format!("{:.2}-{:.2}", r[0], r[r.len() - 1]),
    ])
}

fn main() {
    let load_before = support::load_average();
    let args: Vec<String> = std::env::args().collect();
    let filter = args
        .iter()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(String::as_str);
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`) one short round of each
    // checks that the bench works, and nothing is reported.
    let benchmarking = args.iter().any(|a| a == "--bench");
    let env = |name: &str, least: usize, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|r| r.parse().ok())
            .filter(|&r| r >= least)
            .unwrap_or(default)
    };
    let (rounds, tries, trip_rounds, trips) = if benchmarking {
        (
            env("LOOPBACK_ROUNDS", 3, ROUNDS),
            env("LOOPBACK_TRIES", 1, TRIES),
            TRIP_ROUNDS,
            TRIPS,
        )
    } else {
        (1, 1, 1, 10)
    };
    let mut notes = Vec::new();
    let queued = queued_rounds(filter, rounds, tries, benchmarking, &mut notes);
    let round_trip = round_trips(filter, trip_rounds, trips);
    if !benchmarking {
        println!("loopback: one short round of each passed (run with `cargo bench` to measure)");
        return;
    }
    let mut out = String::new();
    if !queued.is_empty() {
        let mut rows = vec![[
            "benchmark",
            "contender",
            "msg/s",
            "vs",
            "ratio",
            "IQR",
            "min-max",
        ]
        .map(str::to_owned)
        .to_vec()];
        rows.extend(queued);
        out.push_str(&support::table(&rows));
        out.push_str(
            "\nratio: the reference's time over the contender's in the same round (1.00 = as fast \
             as raw reads), median over the rounds; IQR and min-max of the same per-round ratios.\n",
        );
        for note in &notes {
            out.push_str(note);
            out.push('\n');
        }
    }
    if let Some(row) = round_trip {
        let rows = vec![
            [
                "benchmark",
                "raw trips/s",
                "msgframe trips/s",
                "msgframe / raw",
                "IQR",
                "min-max",
            ]
            .map(str::to_owned)
            .to_vec(),
            row,
        ];
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&support::table(&rows));
        out.push_str(&format!(
            "\nround-trip: {TRIP_ROUNDS} paired rounds of {TRIPS} round trips each (raw and msgframe \
             alternating first); rates and ratio medians over the rounds.\n"
        ));
    }
    if !out.is_empty() {
        support::report(
            "msgframe over loopback TCP, be:2 (2-byte big-endian lengths)",
            out,
            load_before,
            "msgframe-loopback.txt",
        );
    }
}
