//! A peer that writes the encoded stream in random chunk sizes with random pauses: every message
//! arrives intact and in order, in blocking and non-blocking mode. proptest drives the chunking.

mod common;

use std::io::Write;
use std::thread;
use std::time::Duration;

use bytes::BytesMut;
use common::{poll_until, tcp_pair};
use msgframe_codec::{Encoder, Framing};
use msgframe_io::{BlockingReader, Error, MessageRead, NonBlockingReader};
use proptest::prelude::*;

const SPECS: &[&str] = &[
    "ascii:4",
    "hex:4",
    "bcd:2",
    "be:2",
    "le:4",
    "be:4,counts-header",
    "be:2,before=0300,counts-header",
    "be:2,after=0000",
    "delim:03",
    "delim:0d0a",
    "lines:crlf",
    "fixed:33",
];

fn messages_for(spec: &str, raw: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    raw.into_iter()
        .map(|mut m| {
            if spec.starts_with("fixed:") {
                m.resize(33, b'.');
            }
            for b in &mut m {
                if matches!(*b, 0x03 | b'\n' | b'\r') {
                    *b = b'.';
                }
            }
            m
        })
        .collect()
}

fn run(spec: &str, msgs: &[Vec<u8>], chunks: &[(usize, u8)], blocking: bool) {
    let framing: Framing = spec.parse().unwrap();
    let mut wire = BytesMut::new();
    for m in msgs {
        framing.encode(m, &mut wire).unwrap();
    }
    let (mut client, server) = tcp_pair();
    let chunks = chunks.to_vec();
    let writer = thread::spawn(move || {
        let mut rest = &wire[..];
        let mut plan = chunks.iter().cycle();
        while !rest.is_empty() {
            let (size, pause) = plan.next().unwrap();
            let n = (*size).clamp(1, rest.len());
            client.write_all(&rest[..n]).unwrap();
            rest = &rest[n..];
            if *pause > 0 {
                thread::sleep(Duration::from_micros(u64::from(*pause) * 100));
            }
        }
    });
    let mut got = Vec::new();
    if blocking {
        let mut r = BlockingReader::new(server, framing).with_timeout(Duration::from_secs(20));
        loop {
            match r.read_message() {
                Ok(m) => got.push(m),
                Err(e) if e.is_closed() => break,
                Err(e) => panic!("{spec}: {e}"),
            }
        }
    } else {
        server.set_nonblocking(true).unwrap();
        let mut r = NonBlockingReader::new(server, framing);
        loop {
            let next = poll_until(|| match r.read_message() {
                Err(Error::WouldBlock | Error::Yielded { .. }) => None,
                other => Some(other),
            });
            match next {
                Ok(m) => got.push(m),
                Err(e) if e.is_closed() => break,
                Err(e) => panic!("{spec}: {e}"),
            }
        }
    }
    writer.join().unwrap();
    assert_eq!(got.len(), msgs.len(), "{spec}");
    for (g, m) in got.iter().zip(msgs) {
        assert_eq!(&g[..], &m[..], "{spec}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_chunks_and_pauses_deliver_every_message_intact(
        spec in prop::sample::select(SPECS),
        raw in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..600), 0..12),
        chunks in prop::collection::vec((1usize..200, prop_oneof![4 => Just(0u8), 1 => 1u8..20]), 1..16),
        blocking in any::<bool>(),
    ) {
        let msgs = messages_for(spec, raw);
        run(spec, &msgs, &chunks, blocking);
    }
}

#[test]
fn one_byte_chunks_deliver_every_message_intact() {
    for spec in SPECS {
        let msgs = messages_for(spec, vec![b"first".to_vec(), vec![], b"third!".to_vec()]);
        run(spec, &msgs, &[(1, 0)], true);
        run(spec, &msgs, &[(1, 1)], false);
    }
}
