//! Steady-state decoding allocates nothing per frame beyond the frame itself: a long stream of small
//! frames, fed in chunks into one reused buffer, costs exactly one allocation per owned frame (its
//! own, of its own size: small frames are copied out of the read buffer so that a kept frame never
//! pins it) plus a bounded constant for the whole run, and nothing at all for borrowed frames, for
//! every framing. This counts allocations (with `stats_alloc`'s counting global allocator); it
//! measures no time. Everything runs in one test so that no other test allocates meanwhile.

use bytes::BytesMut;
use msgframe_codec::{Decoder, Encoder, Framing, Parse};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const FRAMES: usize = 20_000;
const CHUNK: usize = 4096;
/// Allocations allowed for the whole run, whatever its length.
const BOUND: usize = 8;

/// Runs `f`, counting allocations and reallocations (by any thread: the checks below run in one
/// test so that no other test allocates meanwhile).
fn count<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let (out, allocations, _) = count_bytes(f);
    (out, allocations)
}

/// Runs `f`, counting allocations and reallocations, and the bytes they asked for.
fn count_bytes<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    let region = Region::new(GLOBAL);
    let out = f();
    let change = region.change();
    (
        out,
        change.allocations + change.reallocations,
        change.bytes_allocated,
    )
}

fn wire(framing: &Framing, size: usize) -> Vec<u8> {
    let mut out = BytesMut::new();
    for i in 0..FRAMES {
        let body: Vec<u8> = (0..size).map(|j| b'a' + ((i + j) % 26) as u8).collect();
        framing.encode(&body, &mut out).unwrap();
    }
    out.to_vec()
}

const SPECS: &[(&str, usize)] = &[
    ("ascii:4", 100),
    ("hex:4", 100),
    ("bcd:2", 100),
    ("be:2", 16),
    ("be:2", 100),
    ("le:4", 100),
    ("be:4,counts-header", 100),
    ("be:2,before=0300,counts-header", 100),
    ("be:2,after=0000,empty=skip", 100),
    ("fixed:100", 100),
    ("delim:03", 100),
    ("delim:0d0a", 100),
    ("lines:crlf", 100),
    ("netstring", 100),
];

#[test]
fn decoding_and_encoding_allocate_nothing_per_frame() {
    owned_decoding_allocates_each_frame_once_at_its_own_size();
    borrowed_decoding_allocates_nothing();
    encoding_into_a_reused_buffer_allocates_a_bounded_constant();
}

fn owned_decoding_allocates_each_frame_once_at_its_own_size() {
    for &(spec, size) in SPECS {
        let mut framing: Framing = spec.parse().unwrap();
        let wire = wire(&framing, size);
        let mut buf = BytesMut::with_capacity(64 * 1024);
        let (frames, allocations, bytes) = count_bytes(|| {
            let mut frames = 0;
            for chunk in wire.chunks(CHUNK) {
                buf.extend_from_slice(chunk);
                while let Some(frame) = framing.decode(&mut buf).unwrap() {
                    std::hint::black_box(&frame);
                    frames += 1;
                }
            }
            frames
        });
        assert_eq!(frames, FRAMES, "{spec}");
        println!("owned decode, {spec} ({size} B): {allocations} allocations for {FRAMES} frames");
        assert!(
            allocations <= FRAMES + BOUND,
            "{spec}: {allocations} allocations for {FRAMES} frames"
        );
        assert!(
            bytes <= FRAMES * size + BOUND * 64 * 1024,
            "{spec}: {bytes} bytes allocated for {FRAMES} frames of {size} bytes"
        );
    }
}

fn borrowed_decoding_allocates_nothing() {
    for &(spec, size) in SPECS {
        let framing: Framing = spec.parse().unwrap();
        let wire = wire(&framing, size);
        let (frames, allocations) = count(|| {
            let mut frames = 0;
            let mut start = 0;
            for end in (CHUNK..wire.len() + CHUNK).step_by(CHUNK) {
                let filled = &wire[start..end.min(wire.len())];
                let mut iter = framing.frames(filled);
                for frame in &mut iter {
                    std::hint::black_box(frame.unwrap());
                    frames += 1;
                }
                start += iter.consumed();
            }
            frames
        });
        assert_eq!(frames, FRAMES, "{spec}");
        assert_eq!(allocations, 0, "{spec}");
    }
}

fn encoding_into_a_reused_buffer_allocates_a_bounded_constant() {
    for &(spec, size) in SPECS {
        let framing: Framing = spec.parse().unwrap();
        let body = vec![b'x'; size];
        let mut out = BytesMut::with_capacity(64 * 1024);
        let ((), allocations) = count(|| {
            for _ in 0..FRAMES / 100 {
                out.clear();
                for _ in 0..100 {
                    framing.encode(&body, &mut out).unwrap();
                }
                std::hint::black_box(&out);
            }
        });
        assert!(allocations <= BOUND, "{spec}: {allocations} allocations");
    }
}
