//! How the readers and writers behave when peers are slow, hostile or gone. Loopback only; every
//! loop is bounded in count and time.

mod common;

use std::io::{Cursor, Read, Write};
use std::net::{Shutdown, TcpListener};
use std::thread;
use std::time::{Duration, Instant};

use common::{body, poll_until, tcp_pair, Counting, Throttled};
use msgframe_codec::Framing;
use msgframe_io::{
    read_until_eof, BlockingReader, BlockingWriter, Deadlines, Error, MessageRead, MessageWrite,
    NonBlockingReader, NonBlockingWriter, ShortRequest,
};

fn framing(spec: &str) -> Framing {
    spec.parse().unwrap()
}

const SECS_20: Duration = Duration::from_secs(20);

// ---- Deadlines -----------------------------------------------------------------------------------

#[test]
fn slow_loris_one_byte_per_100ms_hits_a_500ms_deadline_on_time() {
    let (mut client, server) = tcp_pair();
    let trickle = thread::spawn(move || {
        // A header promising 100 bytes, then one byte every 100 ms, for at most 2 s.
        for byte in b"0100".iter().chain(&[b'x'; 16]) {
            if client.write_all(&[*byte]).is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(100));
        }
    });
    let mut reader =
        BlockingReader::new(server, framing("ascii:4")).with_timeout(Duration::from_millis(500));
    let start = Instant::now();
    let err = reader.read_message().unwrap_err();
    let elapsed = start.elapsed();
    assert!(
        matches!(err, Error::TimedOut { writing: false, .. }),
        "{err}"
    );
    assert!(elapsed >= Duration::from_millis(500), "{elapsed:?}");
    assert!(
        elapsed < Duration::from_millis(800),
        "{elapsed:?}: per-read timeouts would never fire here"
    );
    let Error::TimedOut { buffered, .. } = err else {
        unreachable!()
    };
    assert!(
        (4..=7).contains(&buffered),
        "about 5 bytes in 500 ms, got {buffered}"
    );
    drop(reader);
    trickle.join().unwrap();
}

#[test]
fn after_a_timeout_the_partial_message_is_kept_and_the_next_call_continues_it() {
    let (mut client, server) = tcp_pair();
    let mut reader =
        BlockingReader::new(server, framing("be:2")).with_timeout(Duration::from_millis(100));
    client.write_all(b"\x00\x0Ahello").unwrap();
    let err = reader.read_message().unwrap_err();
    assert!(matches!(err, Error::TimedOut { buffered: 7, .. }), "{err}");
    assert!(err.is_retryable());
    assert_eq!(reader.buffered(), b"\x00\x0Ahello");
    client.write_all(b"world").unwrap();
    reader.set_deadlines(Deadlines::message(SECS_20));
    assert_eq!(&reader.read_message().unwrap()[..], b"helloworld");
}

#[test]
fn first_byte_deadline_waits_for_idle_then_message_deadline_runs_from_the_first_byte() {
    let (mut client, server) = tcp_pair();
    let deadlines = Deadlines {
        first_byte: Some(Duration::from_secs(5)),
        message: Some(Duration::from_millis(300)),
    };
    let mut reader = BlockingReader::new(server, framing("be:2")).with_deadlines(deadlines);
    let sender = thread::spawn(move || {
        // Idle for longer than the message deadline, then a whole message quickly.
        thread::sleep(Duration::from_millis(500));
        client.write_all(b"\x00\x02ok").unwrap();
        // Then a message that starts but never finishes.
        thread::sleep(Duration::from_millis(100));
        client.write_all(b"\x00\x05ab").unwrap();
        thread::sleep(Duration::from_secs(1));
    });
    assert_eq!(&reader.read_message().unwrap()[..], b"ok");
    let start = Instant::now();
    let err = reader.read_message().unwrap_err();
    assert!(matches!(err, Error::TimedOut { .. }), "{err}");
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_millis(900),
        "{elapsed:?}"
    );
    sender.join().unwrap();
}

#[test]
fn first_byte_deadline_alone_times_out_an_idle_connection() {
    let (_client, server) = tcp_pair();
    let deadlines = Deadlines {
        first_byte: Some(Duration::from_millis(150)),
        message: None,
    };
    let mut reader = BlockingReader::new(server, framing("lines")).with_deadlines(deadlines);
    let err = reader.read_message().unwrap_err();
    assert!(matches!(err, Error::TimedOut { buffered: 0, .. }), "{err}");
}

// ---- The peer goes away ----------------------------------------------------------------------------

#[test]
fn peer_closing_between_messages_is_a_clean_close() {
    let (mut client, server) = tcp_pair();
    client.write_all(b"0002ok").unwrap();
    drop(client);
    let mut reader = BlockingReader::new(server, framing("ascii:4")).with_timeout(SECS_20);
    assert_eq!(&reader.read_message().unwrap()[..], b"ok");
    let err = reader.read_message().unwrap_err();
    assert!(err.is_closed());
    assert_eq!(
        err.to_string(),
        "stream closed by the peer between messages"
    );
    assert!(
        reader.read_message().unwrap_err().is_closed(),
        "stays closed"
    );
}

#[test]
fn peer_closing_mid_header_reports_bytes_received_and_expected() {
    let (mut client, server) = tcp_pair();
    client.write_all(b"00").unwrap();
    drop(client);
    let mut reader = BlockingReader::new(server, framing("ascii:4")).with_timeout(SECS_20);
    let err = reader.read_message().unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnexpectedEof {
                offset: 0,
                buffered: 2,
                expected: Some(4)
            }
        ),
        "{err}"
    );
}

#[test]
fn peer_closing_mid_body_reports_bytes_received_and_expected() {
    let (mut client, server) = tcp_pair();
    client.write_all(b"0002ok0010hello").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut reader = BlockingReader::new(server, framing("ascii:4")).with_timeout(SECS_20);
    assert_eq!(&reader.read_message().unwrap()[..], b"ok");
    let err = reader.read_message().unwrap_err();
    assert_eq!(
        err.to_string(),
        "stream closed by the peer inside the message at stream offset 6: 9 bytes received, 14 expected"
    );
}

#[test]
fn peer_closing_mid_line_has_no_expected_length() {
    let (mut client, server) = tcp_pair();
    client.write_all(b"no newline").unwrap();
    drop(client);
    server.set_nonblocking(true).unwrap();
    let mut reader = NonBlockingReader::new(server, framing("lines"));
    let err = poll_until(|| match reader.read_message() {
        Err(Error::WouldBlock) => None,
        other => Some(other),
    })
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnexpectedEof {
                buffered: 10,
                expected: None,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn peer_resetting_the_connection_is_an_io_error() {
    let (mut client, server) = tcp_pair();
    // A peer that closes with unread bytes in its receive buffer sends a reset, not a FIN.
    client.write_all(b"\x00\x10unread by the server").unwrap();
    thread::sleep(Duration::from_millis(50));
    drop(server);
    thread::sleep(Duration::from_millis(50));
    let mut reader = BlockingReader::new(client, framing("be:2")).with_timeout(SECS_20);
    match reader.read_message() {
        Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
        other => panic!("expected a reset, got {other:?}"),
    }
}

// ---- Hostile lengths ------------------------------------------------------------------------------

#[test]
fn a_claimed_length_above_the_maximum_fails_before_the_reader_allocates() {
    let (mut client, server) = tcp_pair();
    client
        .write_all(&[0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3])
        .unwrap();
    let mut reader = BlockingReader::new(server, framing("be:4,max=1024")).with_timeout(SECS_20);
    let err = reader.read_message().unwrap_err();
    assert!(matches!(err, Error::TooLong(_)), "{err}");
    assert!(!err.is_resumable());
    let (_, buf) = reader.into_parts();
    assert!(
        buf.capacity() <= 64 * 1024,
        "capacity {} is only what one read needs",
        buf.capacity()
    );
}

#[test]
fn an_oversized_frame_under_discard_is_reported_then_skipped() {
    let (mut client, server) = tcp_pair();
    let mut wire = vec![0x00, 0x00, 0x10, 0x00];
    wire.extend(std::iter::repeat_n(b'z', 4096));
    wire.extend_from_slice(b"\x00\x00\x00\x02ok");
    client.write_all(&wire).unwrap();
    let mut reader =
        BlockingReader::new(server, framing("be:4,max=100,oversize=discard")).with_timeout(SECS_20);
    let err = reader.read_message().unwrap_err();
    assert!(err.is_resumable(), "{err}");
    assert_eq!(&reader.read_message().unwrap()[..], b"ok");
}

#[test]
fn a_malformed_header_poisons_the_reader() {
    let (mut client, server) = tcp_pair();
    client.write_all(b"00x2ok0002ok").unwrap();
    let mut reader = BlockingReader::new(server, framing("ascii:4")).with_timeout(SECS_20);
    let err = reader.read_message().unwrap_err();
    assert!(matches!(err, Error::Malformed(_)), "{err}");
    assert!(err.to_string().contains("[30 30 78 32]"), "{err}");
    assert!(matches!(
        reader.read_message().unwrap_err(),
        Error::Malformed(msgframe_codec::CodecError::Poisoned { .. })
    ));
}

// ---- Syscalls -------------------------------------------------------------------------------------

#[test]
fn one_read_can_serve_many_messages_without_another_syscall() {
    let mut wire = Vec::new();
    for i in 0..100u8 {
        wire.extend_from_slice(&[0, 1, i]);
    }
    let stream = Counting {
        inner: Cursor::new(wire),
        ..Default::default()
    };
    let mut reader = BlockingReader::new(stream, framing("be:2"));
    for i in 0..100u8 {
        assert_eq!(&reader.read_message().unwrap()[..], &[i]);
    }
    assert_eq!(reader.get_ref().reads, 1, "one read for 100 messages");
    assert!(reader.read_message().unwrap_err().is_closed());
    assert_eq!(reader.get_ref().reads, 2, "then one read that sees the end");
}

#[test]
fn header_and_body_go_out_in_one_write() {
    for (spec, size) in [
        ("be:2", 0usize),
        ("be:2", 100),
        ("ascii:4", 9999),
        ("be:4", 1024 * 1024),
        ("delim:03", 100),
        ("delim:03", 100_000),
        ("lines:crlf", 50_000),
    ] {
        let sink = Counting {
            inner: Vec::new(),
            ..Default::default()
        };
        let mut writer = BlockingWriter::new(sink, framing(spec));
        let msg = body(size, 0);
        writer.write_message(&msg).unwrap();
        assert_eq!(writer.get_ref().writes, 1, "{spec} with {size} bytes");
        let mut expected = bytes::BytesMut::new();
        msgframe_codec::Encoder::encode(&framing(spec), &msg, &mut expected).unwrap();
        assert!(writer.get_ref().inner == expected[..], "{spec}");
    }
}

#[test]
fn a_message_that_cannot_be_framed_is_refused_before_anything_is_written() {
    let sink = || Counting {
        inner: Vec::new(),
        ..Default::default()
    };
    let mut writer = BlockingWriter::new(sink(), framing("bcd:2"));
    let err = writer.write_message(&body(10_000, 0)).unwrap_err();
    assert!(matches!(err, Error::TooLong(_)), "{err}");
    let mut writer = BlockingWriter::new(sink(), framing("delim:03"));
    let err = writer.write_message(b"a\x03b").unwrap_err();
    assert!(matches!(err, Error::Message(_)), "{err}");
    assert!(writer.get_ref().inner.is_empty());
    writer.write_message(b"fine").unwrap();
    assert_eq!(writer.get_ref().inner, b"fine\x03");
}

// ---- Non-blocking ---------------------------------------------------------------------------------

#[test]
fn nonblocking_reader_polled_against_a_trickling_peer_yields_every_message_once() {
    let (mut client, server) = tcp_pair();
    let msgs: Vec<Vec<u8>> = (0..20).map(|i| body(i * 7, i as u8)).collect();
    let mut wire = bytes::BytesMut::new();
    let f = framing("bcd:2");
    for m in &msgs {
        msgframe_codec::Encoder::encode(&f, m, &mut wire).unwrap();
    }
    let sender = thread::spawn(move || {
        for (i, chunk) in wire.chunks(5).enumerate() {
            client.write_all(chunk).unwrap();
            if i % 3 == 0 {
                thread::sleep(Duration::from_millis(2));
            }
        }
    });
    server.set_nonblocking(true).unwrap();
    let mut reader = NonBlockingReader::new(server, f);
    let mut got = Vec::new();
    let mut would_blocks = 0;
    let start = Instant::now();
    while got.len() < msgs.len() + 1 && start.elapsed() < SECS_20 {
        match reader.read_message() {
            Ok(m) => got.push(m),
            Err(Error::WouldBlock) => {
                would_blocks += 1;
                thread::sleep(Duration::from_micros(300));
            }
            Err(e) if e.is_closed() => break,
            Err(e) => panic!("{e}"),
        }
    }
    sender.join().unwrap();
    assert!(would_blocks > 0, "the peer was slower than the reader");
    assert_eq!(got.len(), msgs.len());
    for (g, m) in got.iter().zip(&msgs) {
        assert_eq!(&g[..], &m[..]);
    }
}

#[test]
fn nonblocking_writer_keeps_unsent_bytes_and_reports_pending() {
    let sink = Throttled {
        taken: Vec::new(),
        budget: 3,
    };
    let mut writer = NonBlockingWriter::new(sink, framing("be:2")).with_max_pending(20);
    writer.write_message(b"hello").unwrap();
    assert!(writer.has_pending(), "the socket took 3 of 7 bytes");
    assert_eq!(writer.pending(), 4);
    // Queued behind the pending bytes, within the limit.
    writer.write_message(b"world").unwrap();
    assert_eq!(writer.pending(), 11);
    // Over the limit: refused, and the error says nothing of it was sent or kept.
    let refused = writer.write_message(b"0123456789").unwrap_err();
    assert!(
        matches!(refused, Error::NotSent { pending: 11 }),
        "{refused}"
    );
    assert!(refused
        .to_string()
        .contains("nothing of this message was sent or kept"));
    assert_eq!(writer.pending(), 11);
    assert!(matches!(writer.flush(), Err(Error::WouldBlock)));
    writer.get_mut().budget = 1000;
    writer.flush().unwrap();
    assert!(!writer.has_pending());
    writer.write_message(b"0123456789").unwrap();
    assert_eq!(
        writer.get_ref().taken,
        b"\x00\x05hello\x00\x05world\x00\x0A0123456789"
    );
}

#[test]
fn blocking_writer_timeout_keeps_the_rest_of_the_message_for_the_next_call() {
    let (client, server) = tcp_pair();
    let mut writer = BlockingWriter::new(client, framing("be:4,max=32m"))
        .with_timeout(Duration::from_millis(200));
    // Far more than the socket buffers hold while nobody reads.
    let big = body(32 * 1024 * 1024, 1);
    let err = writer.write_message(&big).unwrap_err();
    let Error::TimedOut {
        buffered, writing, ..
    } = err
    else {
        panic!("{err}")
    };
    assert!(writing);
    assert!(buffered > 0 && buffered == writer.pending(), "{buffered}");
    let reader = thread::spawn(move || {
        let mut r = BlockingReader::new(server, framing("be:4,max=32m")).with_timeout(SECS_20);
        let first = r.read_message().unwrap();
        let second = r.read_message().unwrap();
        (first.len(), second)
    });
    writer.set_timeout(Some(SECS_20));
    writer.write_message(b"after").unwrap();
    let (first_len, second) = reader.join().unwrap();
    assert_eq!(first_len, big.len());
    assert_eq!(&second[..], b"after");
}

// ---- Short connections ----------------------------------------------------------------------------

#[test]
fn read_until_eof_reads_everything_up_to_the_close() {
    let (mut client, server) = tcp_pair();
    let sender = thread::spawn(move || {
        for piece in [&b"part one, "[..], b"part two"] {
            client.write_all(piece).unwrap();
            thread::sleep(Duration::from_millis(20));
        }
    });
    let reply = read_until_eof(server, 1024, Some(SECS_20)).unwrap();
    assert_eq!(&reply[..], b"part one, part two");
    sender.join().unwrap();
}

#[test]
fn read_until_eof_refuses_more_than_its_maximum() {
    let (mut client, server) = tcp_pair();
    client.write_all(&[b'x'; 100]).unwrap();
    drop(client);
    let err = read_until_eof(server, 99, Some(SECS_20)).unwrap_err();
    assert!(matches!(err, Error::TooLong(_)), "{err}");
}

#[test]
fn read_until_eof_has_a_deadline() {
    let (_client, server) = tcp_pair();
    let err = read_until_eof(server, 1024, Some(Duration::from_millis(100))).unwrap_err();
    assert!(matches!(err, Error::TimedOut { .. }), "{err}");
}

#[test]
fn short_request_connects_sends_receives_and_closes() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut r = BlockingReader::new(&stream, framing("ascii:4")).with_timeout(SECS_20);
        let request = r.read_message().unwrap();
        let mut w = BlockingWriter::new(&stream, framing("ascii:4"));
        let mut reply = b"0210".to_vec();
        reply.extend_from_slice(&request[4..]);
        w.write_message(&reply).unwrap();
        // The client closes first.
        assert!(r.read_message().unwrap_err().is_closed());
    });
    let reply = ShortRequest::new(framing("ascii:4"))
        .timeout(SECS_20)
        .send(addr, b"0200 purchase")
        .unwrap();
    assert_eq!(&reply[..], b"0210 purchase");
    server.join().unwrap();
}

#[test]
fn short_request_framed_until_eof_both_ways() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        stream.read_to_end(&mut request).unwrap();
        request.reverse();
        stream.write_all(&request).unwrap();
    });
    let reply = msgframe_io::request(addr, framing("eof"), b"abc").unwrap();
    assert_eq!(&reply[..], b"cba");
    server.join().unwrap();
}

#[test]
fn short_request_to_a_closed_port_names_the_address() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = ShortRequest::new(framing("be:2"))
        .connect_timeout(Duration::from_secs(2))
        .send(addr, b"x")
        .unwrap_err();
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[test]
fn short_request_times_out_when_the_reply_never_comes() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        thread::sleep(Duration::from_millis(600));
        drop(stream);
    });
    let start = Instant::now();
    let err = ShortRequest::new(framing("be:2"))
        .timeout(Duration::from_millis(200))
        .send(addr, b"x")
        .unwrap_err();
    assert!(matches!(err, Error::TimedOut { .. }), "{err}");
    assert!(start.elapsed() < Duration::from_millis(550));
    server.join().unwrap();
}
