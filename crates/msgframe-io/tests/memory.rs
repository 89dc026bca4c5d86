//! A message the application keeps costs memory in proportion to its own size, whatever the read
//! pattern: it never pins the reader's read block. Counted with a counting global allocator (bytes
//! asked for and given back); everything runs in one test so that no other test allocates
//! meanwhile. No sockets: the streams are in memory, so each `read` returns exactly what the test
//! says.

use std::alloc::System;
use std::io::{self, Read};
use std::time::Duration;

use bytes::Bytes;
use msgframe_codec::{Encoder, Framing};
use msgframe_io::{BlockingReader, Error, MessageRead, NonBlockingReader, Timeouts};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes still held that were allocated while `f` ran.
fn held_after<T>(f: impl FnOnce() -> T) -> (T, isize) {
    let region = Region::new(GLOBAL);
    let out = f();
    let c = region.change();
    // A `realloc` is already counted in `bytes_allocated` or `bytes_deallocated` by its difference.
    let held = c.bytes_allocated as isize - c.bytes_deallocated as isize;
    (out, held)
}

/// Hands out `chunks` one per `read`, then end-of-stream.
struct OnePerRead {
    chunks: Vec<Vec<u8>>,
    next: usize,
}

impl Read for OnePerRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(chunk) = self.chunks.get(self.next) else {
            return Ok(0);
        };
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        if n == chunk.len() {
            self.next += 1;
        } else {
            self.chunks[self.next].drain(..n);
        }
        Ok(n)
    }
}

impl Timeouts for OnePerRead {
    fn set_read_timeout(&self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }
    fn set_write_timeout(&self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }
}

/// The read block (64 KiB) and a little slack: what a reader may hold besides kept messages.
const READER: isize = 72 * 1024;

fn framed(framing: &Framing, body: &[u8]) -> Vec<u8> {
    let mut out = bytes::BytesMut::new();
    framing.encode(body, &mut out).unwrap();
    out.to_vec()
}

#[test]
fn a_kept_message_costs_its_own_size_not_a_read_block() {
    kept_one_byte_lines_read_one_per_read_cost_their_own_size();
    kept_messages_read_without_blocking_cost_their_own_size();
    a_kept_large_message_costs_its_own_size();
}

fn kept_one_byte_lines_read_one_per_read_cost_their_own_size() {
    const N: usize = 3_000;
    let framing: Framing = "lines".parse().unwrap();
    let stream = OnePerRead {
        chunks: (0..N).map(|_| b"x\n".to_vec()).collect(),
        next: 0,
    };
    let mut kept: Vec<Bytes> = Vec::with_capacity(N);
    let mut reader = BlockingReader::new(stream, framing);
    let ((), held) = held_after(|| {
        for _ in 0..N {
            kept.push(reader.read_message().unwrap());
        }
    });
    assert_eq!(kept.len(), N);
    println!("{N} kept 1-byte lines: {held} bytes held");
    assert!(
        held <= N as isize + READER,
        "{N} one-byte lines, each from its own read, hold {held} bytes"
    );
}

fn kept_messages_read_without_blocking_cost_their_own_size() {
    const N: usize = 10_000;
    let framing: Framing = "be:2".parse().unwrap();
    let stream = OnePerRead {
        chunks: (0..N).map(|i| framed(&framing, &[i as u8; 10])).collect(),
        next: 0,
    };
    let mut kept: Vec<Bytes> = Vec::with_capacity(N);
    let mut reader = NonBlockingReader::new(stream, framing);
    let ((), held) = held_after(|| {
        for _ in 0..N {
            kept.push(reader.read_message().unwrap());
        }
        assert!(matches!(reader.read_message(), Err(Error::Closed)));
    });
    println!("{N} kept 10-byte messages: {held} bytes held");
    assert!(held <= (N * 10) as isize + READER, "{held}");
}

/// When the framing knows the length, a large message is read into a block of exactly its size and
/// handed over without a copy: it costs its size and a few bytes of bookkeeping.
fn a_kept_large_message_costs_its_own_size() {
    let framing: Framing = "be:4".parse().unwrap();
    for size in [100 * 1024, 1024 * 1024, 5 * 1024 * 1024 + 7] {
        let wire = framed(&framing, &vec![7u8; size]);
        // The peer's bytes come in reads of 1000 bytes: the block must grow with them.
        let stream = OnePerRead {
            chunks: wire.chunks(1000).map(<[u8]>::to_vec).collect(),
            next: 0,
        };
        let mut reader = BlockingReader::new(stream, framing.clone());
        // The reader stays alive: what it still holds counts too.
        let (kept, held) = held_after(|| reader.read_message().unwrap());
        assert_eq!(kept.len(), size);
        println!("kept {size}-byte message: {held} bytes held");
        assert!(
            held <= (size + 256) as isize,
            "a {size}-byte message holds {held} bytes"
        );
    }
}
