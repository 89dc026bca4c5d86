//! Every framing through tokio: `Framed` over `tokio::io::duplex` and loopback TCP, the async
//! reader and writer, random chunking with pauses, mid-frame EOF, oversized lengths, timeouts.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use msgframe_codec::{Encoder as _, Framing};
use msgframe_io::{Error, ShortRequest};
use msgframe_tokio::{Codec, MessageReader, MessageWriter};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::{Framed, FramedRead, FramedWrite};

const MIB: usize = 1024 * 1024;
const LIMIT: Duration = Duration::from_secs(20);

/// (spec, sizes it can carry)
fn cases() -> Vec<(&'static str, Vec<usize>)> {
    let standard = vec![0, 1, 100, MIB];
    vec![
        ("ascii:7", standard.clone()),
        ("ascii:4,lenient", vec![0, 1, 100, 9999]),
        ("hex:6", standard.clone()),
        ("bcd:4", standard.clone()),
        ("be:2", vec![0, 1, 100, 65_535]),
        ("be:3", standard.clone()),
        ("le:4", standard.clone()),
        ("be:8", standard.clone()),
        ("be:4,counts-header", standard.clone()),
        ("be:2,before=0300,counts-header", vec![0, 1, 100, 65_531]),
        ("be:2,after=0000", vec![0, 1, 100, 65_535]),
        ("fixed:100", vec![100, 100]),
        ("delim:03", standard.clone()),
        ("delim:0d0a", standard.clone()),
        ("lines", standard.clone()),
        ("lines:crlf", standard),
    ]
}

fn body(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| b'A' + ((i + seed as usize) % 26) as u8)
        .collect()
}

fn codec(spec: &str) -> Codec {
    spec.parse().unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

#[tokio::test]
async fn framed_round_trips_every_framing_over_duplex() {
    for (spec, sizes) in cases() {
        let (a, b) = tokio::io::duplex(8 * 1024);
        let msgs: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| body(n, i as u8))
            .collect();
        let sent = msgs.clone();
        let writer = tokio::spawn(async move {
            let mut w = FramedWrite::new(a, codec(spec));
            for m in &sent {
                w.send(&m[..]).await.unwrap();
            }
        });
        let mut r = FramedRead::new(b, codec(spec));
        for m in &msgs {
            let got = tokio::time::timeout(LIMIT, r.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert!(got[..] == m[..], "{spec}: {} bytes", m.len());
        }
        writer.await.unwrap();
        assert!(r.next().await.is_none(), "{spec}: clean end");
    }
}

#[tokio::test]
async fn framed_round_trips_every_framing_over_loopback_tcp() {
    for (spec, sizes) in cases() {
        let (client, server) = tcp_pair().await;
        let mut client = Framed::new(client, codec(spec));
        let mut server = Framed::new(server, codec(spec));
        let echo = tokio::spawn(async move {
            while let Some(m) = server.next().await {
                server.send(m.unwrap()).await.unwrap();
            }
        });
        for (i, &n) in sizes.iter().enumerate() {
            let m = body(n, i as u8);
            client.send(&m[..]).await.unwrap();
            let got = tokio::time::timeout(LIMIT, client.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert!(got[..] == m[..], "{spec}: {n} bytes");
        }
        drop(client);
        echo.await.unwrap();
    }
}

#[tokio::test]
async fn until_eof_one_message_per_connection() {
    for n in [0, 1, 100, MIB] {
        let (client, server) = tcp_pair().await;
        let m = body(n, 3);
        let sent = m.clone();
        let writer = tokio::spawn(async move {
            let mut w = MessageWriter::new(client, "eof".parse::<Framing>().unwrap());
            w.write_message(&sent).await.unwrap();
            w.shutdown().await.unwrap();
        });
        let mut r = FramedRead::new(server, codec("eof"));
        let got = r.next().await.unwrap().unwrap();
        assert_eq!(got.len(), n);
        assert!(got[..] == m[..]);
        assert!(r.next().await.is_none());
        writer.await.unwrap();
    }
}

#[tokio::test]
async fn message_reader_and_writer_round_trip_every_framing() {
    for (spec, sizes) in cases() {
        let (client, server) = tcp_pair().await;
        let framing: Framing = spec.parse().unwrap();
        let msgs: Vec<Vec<u8>> = sizes.iter().map(|&n| body(n, 9)).collect();
        let sent = msgs.clone();
        let f = framing.clone();
        let writer = tokio::spawn(async move {
            let mut w = MessageWriter::new(client, f);
            for m in &sent {
                w.write_message_timeout(m, LIMIT).await.unwrap();
            }
        });
        let mut r = MessageReader::new(server, framing);
        for m in &msgs {
            let got = r.read_message_timeout(LIMIT).await.unwrap();
            assert!(got[..] == m[..], "{spec}");
        }
        assert!(r.read_message().await.unwrap_err().is_closed(), "{spec}");
        writer.await.unwrap();
    }
}

#[tokio::test]
async fn end_of_stream_mid_header_and_mid_body_reports_counts() {
    for (wire, buffered, expected) in [
        (&b"00"[..], 2usize, Some(4u64)),
        (&b"0010hello"[..], 9, Some(14)),
    ] {
        let (mut a, b) = tokio::io::duplex(64);
        a.write_all(wire).await.unwrap();
        drop(a);
        let mut r = FramedRead::new(b, codec("ascii:4"));
        match r.next().await {
            Some(Err(Error::UnexpectedEof {
                buffered: got_buffered,
                expected: got_expected,
                ..
            })) => {
                assert_eq!(got_buffered, buffered);
                assert_eq!(got_expected, expected);
            }
            other => panic!("expected UnexpectedEof, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_oversized_length_fails_without_growing_the_buffer() {
    let (mut a, b) = tokio::io::duplex(64);
    a.write_all(&[0xFF, 0xFF, 0xFF, 0xFF, 0, 1, 2])
        .await
        .unwrap();
    let mut r = MessageReader::new(b, "be:4,max=1024".parse::<Framing>().unwrap());
    let err = r.read_message().await.unwrap_err();
    assert!(matches!(err, Error::TooLong(_)), "{err}");
    let (_, buf) = r.into_parts();
    assert!(buf.capacity() <= 64 * 1024, "{}", buf.capacity());

    let (mut a, b) = tokio::io::duplex(64);
    a.write_all(&[0xFF, 0xFF, 0xFF, 0xFF]).await.unwrap();
    let mut framed = FramedRead::new(b, codec("be:4,max=1024"));
    assert!(matches!(framed.next().await, Some(Err(Error::TooLong(_)))));
}

#[tokio::test]
async fn message_reader_resumes_after_a_discarded_oversized_frame() {
    let (mut a, b) = tokio::io::duplex(1024);
    let mut wire = vec![0, 0, 0, 200];
    wire.extend_from_slice(&[b'z'; 200]);
    wire.extend_from_slice(b"\x00\x00\x00\x02ok");
    a.write_all(&wire).await.unwrap();
    let mut r = MessageReader::new(
        b,
        "be:4,max=100,oversize=discard".parse::<Framing>().unwrap(),
    );
    let err = r.read_message().await.unwrap_err();
    assert!(err.is_resumable(), "{err}");
    assert_eq!(&r.read_message().await.unwrap()[..], b"ok");
}

#[tokio::test(start_paused = true)]
async fn a_timeout_keeps_the_partial_message_and_the_next_call_continues_it() {
    let (mut a, b) = tokio::io::duplex(64);
    let mut r = MessageReader::new(b, "be:2".parse::<Framing>().unwrap());
    a.write_all(b"\x00\x0Ahello").await.unwrap();
    let err = r
        .read_message_timeout(Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TimedOut { buffered: 7, .. }), "{err}");
    assert_eq!(r.buffered(), b"\x00\x0Ahello");
    a.write_all(b"world").await.unwrap();
    assert_eq!(&r.read_message().await.unwrap()[..], b"helloworld");
}

#[tokio::test(start_paused = true)]
async fn a_trickling_peer_cannot_stretch_a_whole_message_deadline() {
    let (mut a, b) = tokio::io::duplex(64);
    let trickle = tokio::spawn(async move {
        for byte in b"0100".iter().chain(&[b'x'; 20]) {
            if a.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut r = MessageReader::new(b, "ascii:4".parse::<Framing>().unwrap());
    let start = tokio::time::Instant::now();
    let err = r
        .read_message_timeout(Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TimedOut { .. }), "{err}");
    assert_eq!(start.elapsed(), Duration::from_millis(500));
    drop(r);
    trickle.await.unwrap();
}

#[tokio::test]
async fn framed_read_under_a_timeout_keeps_partial_state() {
    let (mut a, b) = tokio::io::duplex(64);
    let mut r = FramedRead::new(b, codec("lines"));
    a.write_all(b"hal").await.unwrap();
    assert!(tokio::time::timeout(Duration::from_millis(50), r.next())
        .await
        .is_err());
    a.write_all(b"f\n").await.unwrap();
    assert_eq!(&r.next().await.unwrap().unwrap()[..], b"half");
}

#[tokio::test]
async fn writing_a_message_that_cannot_be_framed_is_refused() {
    let (a, _b) = tokio::io::duplex(64);
    let mut w = FramedWrite::new(a, codec("bcd:2"));
    assert!(matches!(
        w.send(vec![0u8; 10_000]).await,
        Err(Error::TooLong(_))
    ));
    let (a, _b) = tokio::io::duplex(64);
    let mut w = MessageWriter::new(a, "delim:03".parse::<Framing>().unwrap());
    assert!(matches!(
        w.write_message(b"a\x03b").await,
        Err(Error::Message(_))
    ));
    assert_eq!(w.pending(), 0);
}

#[tokio::test]
async fn a_spec_string_builds_a_codec_and_a_bad_one_says_where() {
    let err = "be:2,max=lots".parse::<Codec>().unwrap_err();
    assert!(err.to_string().contains("at `lots`"), "{err}");
    let c: Codec = "be:4,counts-header".parse().unwrap();
    assert_eq!(c.framing().to_string(), "be:4,counts-header");
}

#[tokio::test]
async fn short_request_async_connects_sends_receives_and_closes() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut framed = Framed::new(stream, codec("bcd:2"));
        let request = framed.next().await.unwrap().unwrap();
        let mut reply = b"0210".to_vec();
        reply.extend_from_slice(&request[4..]);
        framed.send(reply).await.unwrap();
        assert!(framed.next().await.is_none(), "the client closes");
    });
    let options = ShortRequest::new("bcd:2".parse().unwrap()).timeout(LIMIT);
    let reply = msgframe_tokio::request(&options, addr, b"0200 purchase")
        .await
        .unwrap();
    assert_eq!(&reply[..], b"0210 purchase");
    server.await.unwrap();
}

#[tokio::test]
async fn short_request_async_until_eof_both_ways() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        stream.read_to_end(&mut request).await.unwrap();
        request.reverse();
        stream.write_all(&request).await.unwrap();
    });
    let options = ShortRequest::new("eof".parse().unwrap());
    let reply = msgframe_tokio::request(&options, addr, b"abc")
        .await
        .unwrap();
    assert_eq!(&reply[..], b"cba");
    server.await.unwrap();
}

#[tokio::test]
async fn short_request_async_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        drop(stream);
    });
    let options = ShortRequest::new("be:2".parse().unwrap()).timeout(Duration::from_millis(100));
    let err = msgframe_tokio::request(&options, addr, b"x")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TimedOut { .. }), "{err}");
}

const SPECS: &[&str] = &[
    "ascii:4",
    "hex:4",
    "bcd:2",
    "be:2",
    "le:4",
    "be:4,counts-header",
    "be:2,after=0000",
    "delim:03",
    "delim:0d0a",
    "lines:crlf",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_chunks_and_pauses_deliver_every_message(
        spec in prop::sample::select(SPECS),
        raw in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..400), 0..10),
        chunks in prop::collection::vec((1usize..100, prop_oneof![3 => Just(0u64), 1 => 1u64..3]), 1..12),
    ) {
        let msgs: Vec<Vec<u8>> = raw
            .into_iter()
            .map(|m| m.into_iter().map(|b| if matches!(b, 3 | b'\n' | b'\r') { b'.' } else { b }).collect())
            .collect();
        let framing: Framing = spec.parse().unwrap();
        let mut wire = BytesMut::new();
        for m in &msgs {
            framing.encode(m, &mut wire).unwrap();
        }
        let got: Vec<Bytes> = rt().block_on(async move {
            let (mut a, b) = tokio::io::duplex(256);
            let writer = tokio::spawn(async move {
                let mut rest = &wire[..];
                let mut plan = chunks.iter().cycle();
                while !rest.is_empty() {
                    let (size, pause) = plan.next().unwrap();
                    let n = (*size).min(rest.len());
                    a.write_all(&rest[..n]).await.unwrap();
                    rest = &rest[n..];
                    if *pause > 0 {
                        tokio::time::sleep(Duration::from_millis(*pause)).await;
                    }
                }
            });
            let mut r = FramedRead::new(b, Codec::new(framing));
            let mut got = Vec::new();
            while let Some(m) = tokio::time::timeout(LIMIT, r.next()).await.unwrap() {
                got.push(m.unwrap());
            }
            writer.await.unwrap();
            got
        });
        prop_assert_eq!(got.len(), msgs.len());
        for (g, m) in got.iter().zip(&msgs) {
            prop_assert_eq!(&g[..], &m[..]);
        }
    }
}
