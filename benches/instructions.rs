//! One workload at a time, for counting instructions under callgrind (`benches/callgrind.sh`).
//!
//! A plain binary, no criterion: `instructions <workload> <frames>` prepares its input, runs the
//! workload once over exactly `frames` frames and exits; `instructions` alone lists the workloads.
//! Instruction counts are repeatable where times on a shared machine are not, so this is the
//! report to compare per-frame costs across runs.
//!
//! Workload names are `<op>-<contender>/<header>[/<payload>]`, the payload in bytes (16, 100 or
//! 1024; 100 when left out; 8192 and 65535 when named, outside the default list), e.g. `decode-owned/be2/100`. Contenders, as in
//! `codec_vs_tokio_util.rs`:
//!
//! - `decode-hand`: read the big-endian length, `advance`, `split_to(len).freeze()`;
//! - `decode-hand-copy`: the same, but `Bytes::copy_from_slice` of the body, then `advance`;
//! - `decode-tokio-util`: `LengthDelimitedCodec` with the same `length_field_length`;
//! - `decode-owned`: [`LengthPrefixed`] through `msgframe_codec::Decoder`;
//! - `decode-owned-framing`: the same framing as a [`Framing`] parsed from its spec (`be:2`, ...);
//! - `decode-borrowed`: `Parse::frames` of [`LengthPrefixed`], `&[u8]` frames;
//! - `decode-borrowed-framing`: `Parse::frames` of the [`Framing`];
//! - `encode-hand`: `reserve` + `put_u16`/`put_u32` + `extend_from_slice`;
//! - `encode-tokio-util`: `LengthDelimitedCodec` as `Encoder<Bytes>` (a clone of a static `Bytes`);
//! - `encode-msgframe`: [`LengthPrefixed`] through `msgframe_codec::Encoder::encode`;
//! - `encode-msgframe-framing`: the same through the [`Framing`].
//! - `encode-msgframe-tokio`: the [`Framing`] through msgframe-tokio's `Codec` as `Encoder<Bytes>`
//!   (what a `FramedWrite` calls; a clone of a static `Bytes`, as for tokio-util).
//! - `read-raw`, `read-owned`, `read-ref`, `read-each`: a `BlockingReader` over an in-memory stream
//!   (its own 64 KiB reads; `read_message`, `read_ref`, `read_each`); `read-hand`: a hand-written
//!   splitting reader over the same stream (the reference for `read-owned`); `read-hand-lent`: the
//!   least a lending reader does (each length read, the message lent from a 64 KiB buffer);
//!   `read-tokio-raw`, `read-tokio-owned`, `read-tokio-ref`, `read-tokio-each`: the same for
//!   msgframe-tokio's `MessageReader` over an in-memory `AsyncRead`. The in-memory equivalents of
//!   `benches/loopback.rs`, without the kernel.
//!
//! Headers: `be2`, `be4` (big-endian binary), and for `decode-owned`/`decode-borrowed`, the readers
//! and `encode-msgframe`/`encode-msgframe-framing` also `ascii4` (4 ASCII decimal digits) and `bcd2`
//! (2 bytes of packed BCD); the two encoders also run `hex4` (4 ASCII hex digits).
//!
//! Everything proportional to the frame count that is not the workload (encoding the stream a
//! decoder reads, allocating the buffer an encoder writes to) happens before the measured part,
//! which is the one function [`callgrind_measured_region`]: the script has callgrind count only
//! inside it (`--toggle-collect`), runs each workload with N and 2N frames and reports
//! (Ir(2N) - Ir(N)) / N, which also cancels what the region costs once (the first `split_to`
//! promoting the buffer to shared, the final `None`, lazy symbol binding).
//!
//! ```text
//! benches/callgrind.sh                                         # all workloads, the table
//! WORKLOADS="decode-owned/be2/100 decode-hand/be2/100" benches/callgrind.sh
//! cargo bench --bench instructions -- decode-owned/be2 20000   # one workload, no valgrind
//! ```

use std::hint::black_box;
use std::process::ExitCode;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use msgframe_codec::header::LengthEncoding;
use msgframe_codec::{Decoder, Encoder, Framing, LengthPrefixed, Parse};
use msgframe_io::{BlockingReader, MessageRead};
use tokio_util::codec::LengthDelimitedCodec;

const PAYLOADS: [usize; 3] = [16, 100, 1024];
/// Payloads a workload may also name, left out of the default list (their streams are large: run
/// them with fewer frames, e.g. `FRAMES=2000`).
const LARGE_PAYLOADS: [usize; 2] = [8192, 65535];
const DEFAULT_PAYLOAD: usize = 100;

/// Contenders and the headers each runs with.
const CONTENDERS: &[(&str, &[&str])] = &[
    ("decode-hand", &["be2", "be4"]),
    ("decode-hand-copy", &["be2", "be4"]),
    ("decode-tokio-util", &["be2", "be4"]),
    ("decode-owned", &["be2", "be4", "ascii4", "bcd2"]),
    ("decode-owned-framing", &["be2", "be4"]),
    ("decode-borrowed", &["be2", "be4", "ascii4", "bcd2"]),
    ("decode-borrowed-framing", &["be2", "be4"]),
    ("encode-hand", &["be2", "be4"]),
    ("encode-tokio-util", &["be2", "be4"]),
    ("encode-msgframe", &["be2", "be4", "ascii4", "bcd2", "hex4"]),
    (
        "encode-msgframe-framing",
        &["be2", "be4", "ascii4", "bcd2", "hex4"],
    ),
    ("encode-msgframe-tokio", &["be2", "be4"]),
    ("read-raw", &["be2"]),
    ("read-owned", &["be2", "ascii4", "bcd2"]),
    ("read-ref", &["be2", "ascii4", "bcd2"]),
    ("read-each", &["be2", "ascii4", "bcd2"]),
    ("read-hand", &["be2"]),
    ("read-hand-lent", &["be2"]),
    ("read-tokio-raw", &["be2"]),
    ("read-tokio-owned", &["be2"]),
    ("read-tokio-ref", &["be2"]),
    ("read-tokio-each", &["be2"]),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Header {
    Be2,
    Be4,
    Ascii4,
    Bcd2,
    Hex4,
}

impl Header {
    fn from_name(name: &str) -> Option<Header> {
        Some(match name {
            "be2" => Header::Be2,
            "be4" => Header::Be4,
            "ascii4" => Header::Ascii4,
            "bcd2" => Header::Bcd2,
            "hex4" => Header::Hex4,
            _ => return None,
        })
    }

    fn spec(self) -> &'static str {
        match self {
            Header::Be2 => "be:2",
            Header::Be4 => "be:4",
            Header::Ascii4 => "ascii:4",
            Header::Bcd2 => "bcd:2",
            Header::Hex4 => "hex:4",
        }
    }

    fn encoding(self) -> LengthEncoding {
        match self {
            Header::Be2 => LengthEncoding::big_endian(2),
            Header::Be4 => LengthEncoding::big_endian(4),
            Header::Ascii4 => LengthEncoding::ascii_decimal(4),
            Header::Bcd2 => LengthEncoding::packed_bcd(2),
            Header::Hex4 => LengthEncoding::ascii_hex(4),
        }
        .expect("valid length encoding")
    }

    /// The width of a binary length field; `None` for text and BCD headers.
    fn binary_width(self) -> Option<usize> {
        match self {
            Header::Be2 => Some(2),
            Header::Be4 => Some(4),
            Header::Ascii4 | Header::Bcd2 | Header::Hex4 => None,
        }
    }

    fn length_prefixed(self) -> LengthPrefixed {
        LengthPrefixed::new(self.encoding()).expect("length-prefixed framing")
    }

    fn framing(self) -> Framing {
        self.spec().parse().expect("framing spec")
    }

    fn tokio_util(self) -> LengthDelimitedCodec {
        LengthDelimitedCodec::builder()
            .length_field_length(self.binary_width().expect("binary header"))
            .length_adjustment(0)
            .big_endian()
            .new_codec()
    }
}

/// A workload with its input prepared: everything but the measured loop.
enum Job {
    DecodeHand {
        buf: BytesMut,
        width: usize,
    },
    DecodeHandCopy {
        buf: BytesMut,
        width: usize,
    },
    DecodeTokioUtil {
        buf: BytesMut,
        codec: LengthDelimitedCodec,
    },
    DecodeOwned {
        buf: BytesMut,
        codec: LengthPrefixed,
    },
    DecodeOwnedFraming {
        buf: BytesMut,
        codec: Framing,
    },
    DecodeBorrowed {
        wire: Bytes,
        codec: LengthPrefixed,
    },
    DecodeBorrowedFraming {
        wire: Bytes,
        codec: Framing,
    },
    EncodeHand {
        payload: Bytes,
        dst: BytesMut,
        width: usize,
    },
    EncodeTokioUtil {
        payload: Bytes,
        dst: BytesMut,
        codec: LengthDelimitedCodec,
    },
    EncodeMsgframe {
        payload: Bytes,
        dst: BytesMut,
        codec: LengthPrefixed,
    },
    EncodeMsgframeFraming {
        payload: Bytes,
        dst: BytesMut,
        codec: Framing,
    },
    EncodeMsgframeTokio {
        payload: Bytes,
        dst: BytesMut,
        codec: msgframe_tokio::Codec<Framing>,
    },
    /// The stream alone: 64 KiB reads from memory, the floor under the readers.
    ReadRaw {
        stream: MemoryStream,
        buf: Vec<u8>,
    },
    /// `BlockingReader::read_message` through `Framing`, over the same stream.
    ReadOwned {
        reader: BlockingReader<MemoryStream, Framing>,
    },
    /// `BlockingReader::read_ref` through `Framing`, over the same stream.
    ReadRef {
        reader: BlockingReader<MemoryStream, Framing>,
    },
    /// `BlockingReader::read_each` through `Framing`, over the same stream.
    ReadEach {
        reader: BlockingReader<MemoryStream, Framing>,
    },
    /// A hand-written splitting reader over the same stream (as in `benches/loopback.rs`).
    ReadHand {
        reader: HandReader,
    },
    /// The least a lending reader does (`hand-lent` in `benches/loopback.rs`): 64 KiB reads, each
    /// length read and the message lent from the buffer, the partial one moved to the front.
    ReadHandLent {
        stream: MemoryStream,
        buf: Vec<u8>,
    },
    /// The tokio readers over an in-memory `AsyncRead` (`Cursor<Bytes>`), on a current-thread
    /// runtime: its own 64 KiB reads, then `msgframe_tokio::MessageReader::read_message`,
    /// `read_ref` and `read_each` through `Framing`.
    ReadTokioRaw {
        rt: tokio::runtime::Runtime,
        stream: std::io::Cursor<Bytes>,
        buf: Vec<u8>,
    },
    ReadTokio {
        rt: tokio::runtime::Runtime,
        reader: msgframe_tokio::MessageReader<std::io::Cursor<Bytes>, Framing>,
        how: TokioRead,
    },
}

/// Which `MessageReader` method a `read-tokio-*` workload calls.
#[derive(Clone, Copy)]
enum TokioRead {
    Owned,
    Ref,
    Each,
}

/// A hand-written splitting reader, as a user would write one without a library: reads into a
/// `BytesMut` (zeroing the room first: safe Rust cannot read into spare capacity) and splits whole
/// `be:2` frames off the front with `split_to(len).freeze()`.
struct HandReader {
    stream: MemoryStream,
    buf: BytesMut,
}

impl HandReader {
    #[inline]
    fn read_message(&mut self) -> std::io::Result<Option<Bytes>> {
        use std::io::Read;
        loop {
            if self.buf.len() >= 2 {
                let len = usize::from(u16::from_be_bytes([self.buf[0], self.buf[1]]));
                if self.buf.len() >= 2 + len {
                    self.buf.advance(2);
                    return Ok(Some(self.buf.split_to(len).freeze()));
                }
            }
            let filled = self.buf.len();
            self.buf.resize(filled + 64 * 1024, 0);
            let n = self.stream.read(&mut self.buf[filled..])?;
            self.buf.truncate(filled + n);
            if n == 0 {
                return Ok(None);
            }
        }
    }
}

/// An in-memory stream for the blocking reader: each `read` copies what fits, as a socket would.
struct MemoryStream(std::io::Cursor<Bytes>);

impl std::io::Read for MemoryStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl msgframe_io::Timeouts for MemoryStream {
    fn set_read_timeout(&self, _: Option<std::time::Duration>) -> std::io::Result<()> {
        Ok(())
    }
    fn set_write_timeout(&self, _: Option<std::time::Duration>) -> std::io::Result<()> {
        Ok(())
    }
}

/// The names of all workloads, every payload size spelled out.
fn workloads() -> Vec<String> {
    let mut names = Vec::new();
    for (contender, headers) in CONTENDERS {
        for header in *headers {
            for payload in PAYLOADS {
                names.push(format!("{contender}/{header}/{payload}"));
            }
        }
    }
    names
}

/// Prepares `name` for `frames` frames; `None` for an unknown name.
fn prepare(name: &str, frames: usize) -> Option<Job> {
    let mut parts = name.split('/');
    let contender = parts.next()?;
    let header_name = parts.next()?;
    let payload_len = match parts.next() {
        Some(len) => len
            .parse()
            .ok()
            .filter(|len| PAYLOADS.contains(len) || LARGE_PAYLOADS.contains(len))?,
        None => DEFAULT_PAYLOAD,
    };
    if parts.next().is_some() {
        return None;
    }
    let (_, headers) = CONTENDERS.iter().find(|(c, _)| *c == contender)?;
    if !headers.contains(&header_name) {
        return None;
    }
    let header = Header::from_name(header_name)?;

    let body: Vec<u8> = (0..payload_len).map(|i| (i * 31 + 7) as u8).collect();
    // Static, so that `Bytes::clone` for tokio-util's `Encoder<Bytes>` touches no reference count.
    let payload = Bytes::from_static(Box::leak(body.into_boxed_slice()));
    let framed_len = header.length_prefixed().header_len() + payload_len;
    // The encoders' output buffer, big enough from the start: no reallocation while measuring.
    let dst = BytesMut::with_capacity(frames * framed_len);
    let wire = || {
        let codec = header.length_prefixed();
        let mut wire = BytesMut::with_capacity(frames * framed_len);
        for _ in 0..frames {
            codec.encode(&payload, &mut wire).expect("encode");
        }
        wire
    };
    let width = header.binary_width();

    Some(match contender {
        "decode-hand" => Job::DecodeHand {
            buf: wire(),
            width: width?,
        },
        "decode-hand-copy" => Job::DecodeHandCopy {
            buf: wire(),
            width: width?,
        },
        "decode-tokio-util" => Job::DecodeTokioUtil {
            buf: wire(),
            codec: header.tokio_util(),
        },
        "decode-owned" => Job::DecodeOwned {
            buf: wire(),
            codec: header.length_prefixed(),
        },
        "decode-owned-framing" => Job::DecodeOwnedFraming {
            buf: wire(),
            codec: header.framing(),
        },
        "decode-borrowed" => Job::DecodeBorrowed {
            wire: wire().freeze(),
            codec: header.length_prefixed(),
        },
        "decode-borrowed-framing" => Job::DecodeBorrowedFraming {
            wire: wire().freeze(),
            codec: header.framing(),
        },
        "encode-hand" => Job::EncodeHand {
            payload,
            dst,
            width: width?,
        },
        "encode-tokio-util" => Job::EncodeTokioUtil {
            payload,
            dst,
            codec: header.tokio_util(),
        },
        "encode-msgframe" => Job::EncodeMsgframe {
            payload,
            dst,
            codec: header.length_prefixed(),
        },
        "encode-msgframe-framing" => Job::EncodeMsgframeFraming {
            payload,
            dst,
            codec: header.framing(),
        },
        "encode-msgframe-tokio" => Job::EncodeMsgframeTokio {
            payload,
            dst,
            codec: msgframe_tokio::Codec::new(header.framing()),
        },
        "read-raw" => Job::ReadRaw {
            stream: MemoryStream(std::io::Cursor::new(wire().freeze())),
            buf: vec![0; 64 * 1024],
        },
        "read-owned" => Job::ReadOwned {
            reader: BlockingReader::new(
                MemoryStream(std::io::Cursor::new(wire().freeze())),
                header.framing(),
            ),
        },
        "read-each" => Job::ReadEach {
            reader: BlockingReader::new(
                MemoryStream(std::io::Cursor::new(wire().freeze())),
                header.framing(),
            ),
        },
        "read-ref" => Job::ReadRef {
            reader: BlockingReader::new(
                MemoryStream(std::io::Cursor::new(wire().freeze())),
                header.framing(),
            ),
        },
        "read-hand" => Job::ReadHand {
            reader: HandReader {
                stream: MemoryStream(std::io::Cursor::new(wire().freeze())),
                buf: BytesMut::new(),
            },
        },
        "read-hand-lent" => Job::ReadHandLent {
            stream: MemoryStream(std::io::Cursor::new(wire().freeze())),
            buf: vec![0; 64 * 1024],
        },
        "read-tokio-raw" => Job::ReadTokioRaw {
            rt: tokio_runtime(),
            stream: std::io::Cursor::new(wire().freeze()),
            buf: vec![0; 64 * 1024],
        },
        "read-tokio-owned" | "read-tokio-ref" | "read-tokio-each" => Job::ReadTokio {
            rt: tokio_runtime(),
            reader: msgframe_tokio::MessageReader::new(
                std::io::Cursor::new(wire().freeze()),
                header.framing(),
            ),
            how: match contender {
                "read-tokio-owned" => TokioRead::Owned,
                "read-tokio-ref" => TokioRead::Ref,
                _ => TokioRead::Each,
            },
        },
        _ => return None,
    })
}

/// The `read-tokio-raw` loop: reads to the end. Its own function, for callgrind: a closure (an
/// `async` block) inside [`callgrind_measured_region`] would carry its name, and entering it would
/// toggle the counting off.
async fn tokio_raw_reads(stream: &mut std::io::Cursor<Bytes>, buf: &mut [u8]) {
    use tokio::io::AsyncReadExt;
    loop {
        let got = stream.read(buf).await.expect("read");
        if got == 0 {
            break;
        }
        black_box(&buf[..got]);
    }
}

/// The `read-tokio-*` loop over `frames` messages (see [`tokio_raw_reads`]).
async fn tokio_reads(
    reader: &mut msgframe_tokio::MessageReader<std::io::Cursor<Bytes>, Framing>,
    how: TokioRead,
    frames: usize,
) -> usize {
    let mut n = 0;
    while n < frames {
        n += match how {
            TokioRead::Owned => {
                black_box(reader.read_message().await.expect("read"));
                1
            }
            TokioRead::Ref => {
                black_box(reader.read_ref().await.expect("read"));
                1
            }
            TokioRead::Each => reader
                .read_each(|message| {
                    black_box(message);
                })
                .await
                .expect("read"),
        };
    }
    n
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime")
}

/// The minimal decoder for a `width`-byte big-endian length counting the body.
#[inline(always)]
fn hand_length(buf: &[u8], width: usize) -> Option<usize> {
    let len = if width == 2 {
        usize::from(u16::from_be_bytes(buf.get(..2)?.try_into().ok()?))
    } else {
        u32::from_be_bytes(buf.get(..4)?.try_into().ok()?) as usize
    };
    (buf.len() >= width + len).then_some(len)
}

/// The measured part: runs `job` over all its frames and returns how many it decoded or encoded.
/// `callgrind.sh` counts instructions only while this function runs (its name is the
/// `--toggle-collect` pattern: nothing else may contain it).
#[inline(never)]
fn callgrind_measured_region(job: &mut Job, frames: usize) -> usize {
    let mut n = 0;
    match job {
        Job::DecodeHand { buf, width } => {
            let width = *width;
            while let Some(len) = hand_length(buf, width) {
                buf.advance(width);
                black_box(buf.split_to(len).freeze());
                n += 1;
            }
        }
        Job::DecodeHandCopy { buf, width } => {
            let width = *width;
            while let Some(len) = hand_length(buf, width) {
                buf.advance(width);
                black_box(Bytes::copy_from_slice(&buf[..len]));
                buf.advance(len);
                n += 1;
            }
        }
        Job::DecodeTokioUtil { buf, codec } => {
            while let Some(frame) =
                tokio_util::codec::Decoder::decode(codec, buf).expect("tokio-util decode")
            {
                black_box(frame);
                n += 1;
            }
        }
        Job::DecodeOwned { buf, codec } => {
            while let Some(frame) = Decoder::decode(codec, buf).expect("decode") {
                black_box(frame);
                n += 1;
            }
        }
        Job::DecodeOwnedFraming { buf, codec } => {
            while let Some(frame) = Decoder::decode(codec, buf).expect("decode") {
                black_box(frame);
                n += 1;
            }
        }
        Job::DecodeBorrowed { wire, codec } => {
            for frame in codec.frames(black_box(&wire[..])) {
                black_box(frame.expect("decode"));
                n += 1;
            }
        }
        Job::DecodeBorrowedFraming { wire, codec } => {
            for frame in codec.frames(black_box(&wire[..])) {
                black_box(frame.expect("decode"));
                n += 1;
            }
        }
        Job::EncodeHand {
            payload,
            dst,
            width,
        } => {
            let width = *width;
            for _ in 0..frames {
                let body: &[u8] = black_box(&payload[..]);
                dst.reserve(width + body.len());
                if width == 2 {
                    dst.put_u16(body.len() as u16);
                } else {
                    dst.put_u32(body.len() as u32);
                }
                dst.extend_from_slice(body);
                n += 1;
            }
        }
        Job::EncodeTokioUtil {
            payload,
            dst,
            codec,
        } => {
            for _ in 0..frames {
                tokio_util::codec::Encoder::encode(codec, black_box(payload.clone()), dst)
                    .expect("tokio-util encode");
                n += 1;
            }
        }
        Job::EncodeMsgframe {
            payload,
            dst,
            codec,
        } => {
            for _ in 0..frames {
                Encoder::encode(codec, black_box(&payload[..]), dst).expect("encode");
                n += 1;
            }
        }
        Job::EncodeMsgframeFraming {
            payload,
            dst,
            codec,
        } => {
            for _ in 0..frames {
                Encoder::encode(codec, black_box(&payload[..]), dst).expect("encode");
                n += 1;
            }
        }
        Job::EncodeMsgframeTokio {
            payload,
            dst,
            codec,
        } => {
            for _ in 0..frames {
                tokio_util::codec::Encoder::encode(codec, black_box(payload.clone()), dst)
                    .expect("msgframe-tokio encode");
                n += 1;
            }
        }
        Job::ReadRaw { stream, buf } => {
            // Counts bytes, not frames: the caller checks the total instead.
            loop {
                let got = std::io::Read::read(stream, buf).expect("read");
                if got == 0 {
                    break;
                }
                black_box(&buf[..got]);
            }
            n = frames;
        }
        Job::ReadOwned { reader } => {
            for _ in 0..frames {
                black_box(reader.read_message().expect("read"));
                n += 1;
            }
        }
        Job::ReadRef { reader } => {
            for _ in 0..frames {
                black_box(reader.read_ref().expect("read"));
                n += 1;
            }
        }
        Job::ReadHand { reader } => {
            for _ in 0..frames {
                black_box(reader.read_message().expect("read").expect("a frame"));
                n += 1;
            }
        }
        Job::ReadHandLent { stream, buf } => {
            let mut have = 0;
            while n < frames {
                let got = std::io::Read::read(stream, &mut buf[have..]).expect("read");
                assert!(got > 0, "the stream ended inside a message");
                have += got;
                let mut at = 0;
                while have - at >= 2 {
                    let len = usize::from(u16::from_be_bytes([buf[at], buf[at + 1]]));
                    if have - at < 2 + len {
                        break;
                    }
                    black_box(&buf[at + 2..at + 2 + len]);
                    at += 2 + len;
                    n += 1;
                }
                buf.copy_within(at..have, 0);
                have -= at;
            }
        }
        Job::ReadTokioRaw { rt, stream, buf } => {
            rt.block_on(tokio_raw_reads(stream, buf));
            n = frames;
        }
        Job::ReadTokio { rt, reader, how } => n = rt.block_on(tokio_reads(reader, *how, frames)),
        Job::ReadEach { reader } => {
            while n < frames {
                n += reader
                    .read_each(|message| {
                        black_box(message);
                    })
                    .expect("read");
            }
        }
    }
    n
}

/// Checks, after the measured part, that the workload did all of its work.
fn check(job: &Job, name: &str, frames: usize, done: usize) {
    assert_eq!(done, frames, "{name}: frames");
    match job {
        Job::DecodeHand { buf, .. }
        | Job::DecodeHandCopy { buf, .. }
        | Job::DecodeTokioUtil { buf, .. }
        | Job::DecodeOwned { buf, .. }
        | Job::DecodeOwnedFraming { buf, .. } => {
            assert!(buf.is_empty(), "{name}: {} bytes left", buf.len());
        }
        Job::DecodeBorrowed { .. } | Job::DecodeBorrowedFraming { .. } => {}
        Job::ReadRaw { .. }
        | Job::ReadOwned { .. }
        | Job::ReadRef { .. }
        | Job::ReadEach { .. }
        | Job::ReadHand { .. }
        | Job::ReadHandLent { .. }
        | Job::ReadTokioRaw { .. }
        | Job::ReadTokio { .. } => {}
        Job::EncodeHand { payload, dst, .. }
        | Job::EncodeTokioUtil { payload, dst, .. }
        | Job::EncodeMsgframe { payload, dst, .. }
        | Job::EncodeMsgframeFraming { payload, dst, .. }
        | Job::EncodeMsgframeTokio { payload, dst, .. } => {
            // Every encoder writes the same bytes: header + body, `frames` times.
            assert_eq!(dst.len() % frames.max(1), 0, "{name}: output length");
            if let Some(framed) = dst.len().checked_div(frames) {
                assert_eq!(&dst[framed - payload.len()..framed], &payload[..], "{name}");
            }
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; ignore it and other flags.
    let args: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    match args.as_slice() {
        [] => {
            for name in workloads() {
                println!("{name}");
            }
            ExitCode::SUCCESS
        }
        [name, frames] => {
            let Ok(frames) = frames.parse::<usize>() else {
                eprintln!("instructions: not a frame count: {frames}");
                return ExitCode::from(2);
            };
            let Some(mut job) = prepare(name, frames) else {
                eprintln!(
                    "instructions: unknown workload {name} (run without arguments for the list)"
                );
                return ExitCode::from(2);
            };
            let done = callgrind_measured_region(black_box(&mut job), black_box(frames));
            check(&job, name, frames, done);
            println!("{name}: {done} frames");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!(
                "usage: instructions [<workload> <frames>]   (no arguments: list the workloads)"
            );
            ExitCode::from(2)
        }
    }
}
