//! What a kept frame pins: a message the application keeps holds at most twice its own size,
//! whatever its size, through every way of reading owned messages — tokio-util's `FramedRead` with
//! msgframe's `Codec`, the async `MessageReader` and the blocking `BlockingReader`. Counted with a
//! counting global allocator (bytes asked for and given back); everything runs in one test so that
//! no other test allocates meanwhile. tokio-util's own `LengthDelimitedCodec` is measured the same
//! way and printed as the reference, not held to the bound.
//!
//! The streams are in memory and come in reads of at most `CHUNK` bytes, as a socket gives them.

use std::alloc::System;
use std::io::{self, Read};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use msgframe_codec::{Encoder, Framing};
use msgframe_io::{BlockingReader, MessageRead, Timeouts};
use msgframe_tokio::{Codec, MessageReader};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Body sizes, one per size class: below the copy limit, around it, and well above a read block.
const SIZES: [usize; 7] = [100, 1024, 3000, 8 * 1024, 40 * 1024, 64 * 1024, 1024 * 1024];
/// One frame in this many is kept.
const KEEP_EVERY: usize = 8;
/// Frames kept per size class.
const KEPT: usize = 16;
/// The most bytes one read brings.
const CHUNK: usize = 64 * 1024;
/// Bookkeeping allowed per kept frame besides twice its size (a `Bytes`' shared header).
const SLACK: usize = 64;

/// Bytes still held, of what was allocated while `f` ran.
fn held_after<T>(f: impl FnOnce() -> T) -> (T, isize) {
    let region = Region::new(GLOBAL);
    let out = f();
    let c = region.change();
    // A `realloc` is already counted in `bytes_allocated` or `bytes_deallocated` by its difference.
    let held = c.bytes_allocated as isize - c.bytes_deallocated as isize;
    (out, held)
}

/// A stream of `be:4` frames of `size` bytes, each frame's first bytes its number.
fn wire(size: usize) -> Vec<u8> {
    let framing: Framing = "be:4".parse().unwrap();
    let mut out = BytesMut::new();
    for i in 0..KEPT * KEEP_EVERY {
        let mut body = vec![(i % 251) as u8; size];
        body[..4].copy_from_slice(&(i as u32).to_be_bytes());
        framing.encode(&body, &mut out).unwrap();
    }
    out.to_vec()
}

/// In-memory bytes handed out at most `CHUNK` at a time, blocking or async.
struct Chunked {
    bytes: Vec<u8>,
    at: usize,
}

impl Chunked {
    fn new(bytes: Vec<u8>) -> Self {
        Chunked { bytes, at: 0 }
    }

    fn give(&mut self, room: usize) -> &[u8] {
        let n = room.min(CHUNK).min(self.bytes.len() - self.at);
        self.at += n;
        &self.bytes[self.at - n..self.at]
    }
}

impl Read for Chunked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let given = self.give(buf.len());
        let n = given.len();
        buf[..n].copy_from_slice(given);
        Ok(n)
    }
}

impl Timeouts for Chunked {
    fn set_read_timeout(&self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }
    fn set_write_timeout(&self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }
}

impl AsyncRead for Chunked {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        buf.put_slice(me.give(buf.remaining()));
        Poll::Ready(Ok(()))
    }
}

/// Keeps every `KEEP_EVERY`th of `frames`, checking each frame's number.
fn keep(frames: impl IntoIterator<Item = Bytes>, size: usize) -> Vec<Bytes> {
    let mut kept = Vec::with_capacity(KEPT);
    for (i, frame) in frames.into_iter().enumerate() {
        assert_eq!(frame.len(), size);
        assert_eq!(frame[..4], (i as u32).to_be_bytes());
        if i % KEEP_EVERY == KEEP_EVERY - 1 {
            kept.push(frame);
        }
    }
    assert_eq!(kept.len(), KEPT);
    kept
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// Frames read through tokio-util's `FramedRead` with `codec`, the reader dropped at the end.
fn framed_read<C>(rt: &tokio::runtime::Runtime, codec: C, size: usize) -> Vec<Bytes>
where
    C: tokio_util::codec::Decoder,
    C::Item: Into<Bytes>,
    C::Error: std::fmt::Debug,
{
    rt.block_on(async {
        let reader = FramedRead::new(Chunked::new(wire(size)), codec);
        let frames: Vec<Bytes> = reader.map(|frame| frame.unwrap().into()).collect().await;
        keep(frames, size)
    })
}

fn message_reader(rt: &tokio::runtime::Runtime, size: usize) -> Vec<Bytes> {
    rt.block_on(async {
        let mut reader = MessageReader::new(Chunked::new(wire(size)), framing());
        let mut frames = Vec::new();
        while let Ok(frame) = reader.read_message().await {
            frames.push(frame);
        }
        keep(frames, size)
    })
}

fn blocking_reader(size: usize) -> Vec<Bytes> {
    let mut reader = BlockingReader::new(Chunked::new(wire(size)), framing());
    let mut frames = Vec::new();
    while let Ok(frame) = reader.read_message() {
        frames.push(frame);
    }
    keep(frames, size)
}

fn framing() -> Framing {
    "be:4".parse::<Framing>().unwrap()
}

/// The bytes held per byte kept, after the reader and every frame not kept are gone.
fn pinned(read: impl FnOnce() -> Vec<Bytes>, size: usize) -> f64 {
    // The stream itself is allocated and freed inside: only what is kept stays.
    let (kept, held) = held_after(read);
    let kept_bytes = kept.len() * size;
    held as f64 / kept_bytes as f64
}

#[test]
fn a_kept_frame_pins_at_most_twice_its_size() {
    let rt = runtime();
    let mut failures = Vec::new();
    println!("bytes held per byte kept ({KEPT} frames kept, one in {KEEP_EVERY}, reads of at most {CHUNK} B)");
    println!(
        "{:>9}  {:>10}  {:>10}  {:>10}  {:>10}",
        "body", "Codec", "reader", "blocking", "tokio-util"
    );
    for size in SIZES {
        let bound = 2.0 + SLACK as f64 / size as f64;
        let codec = pinned(|| framed_read(&rt, Codec::new(framing()), size), size);
        let reader = pinned(|| message_reader(&rt, size), size);
        let blocking = pinned(|| blocking_reader(size), size);
        let theirs = LengthDelimitedCodec::builder()
            .length_field_length(4)
            .max_frame_length(usize::MAX)
            .new_codec();
        let reference = pinned(|| framed_read(&rt, theirs, size), size);
        println!("{size:>9}  {codec:>10.2}  {reader:>10.2}  {blocking:>10.2}  {reference:>10.2}");
        for (who, ratio) in [
            ("FramedRead + Codec", codec),
            ("MessageReader", reader),
            ("BlockingReader", blocking),
        ] {
            if ratio > bound {
                failures.push(format!(
                    "{who}: a kept {size}-byte frame holds {ratio:.2}x its size"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
