//! Regression tests for the core's hard edges: deadlines that bound whole messages on the write side,
//! no message lost after a write timeout, fairness under a keepalive flood, keepalives and idle
//! deadlines, unrepresentable deadlines, end-of-stream inside a discarded frame, reads that reuse
//! their block, and lent (borrowed) messages. Loopback only; every loop is bounded in count and time.

mod common;

use std::io::{self, Cursor, Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use common::{body, poll_until, tcp_pair};
use msgframe_codec::Framing;
use msgframe_io::{
    BlockingReader, BlockingWriter, Deadlines, Error, MessageRead, MessageWrite, NonBlockingReader,
    ReadBuffer, Timeouts,
};

fn framing(spec: &str) -> Framing {
    spec.parse().unwrap()
}

const SECS_20: Duration = Duration::from_secs(20);

// ---- Write deadlines -----------------------------------------------------------------------------

#[test]
fn a_blocking_write_deadline_bounds_the_whole_message_against_a_slow_reader() {
    let (client, mut server) = tcp_pair();
    // The peer reads 64 KiB every 20 ms: each write makes a little progress, forever.
    let reader = thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            match server.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    let mut writer = BlockingWriter::new(client, framing("be:4,max=16m"))
        .with_timeout(Duration::from_millis(500));
    let start = Instant::now();
    let err = writer
        .write_message(&body(16 * 1024 * 1024, 0))
        .unwrap_err();
    let elapsed = start.elapsed();
    assert!(
        matches!(err, Error::TimedOut { writing: true, .. }),
        "{err}"
    );
    assert!(elapsed >= Duration::from_millis(500), "{elapsed:?}");
    assert!(
        elapsed < Duration::from_millis(1500),
        "{elapsed:?}: the deadline must bound the whole message, not each write"
    );
    assert!(writer.pending() > 0);
    drop(writer);
    reader.join().unwrap();
}

#[test]
fn a_message_offered_while_earlier_bytes_are_stuck_is_refused_not_lost() {
    let (client, server) = tcp_pair();
    let spec = "be:4,max=32m";
    let mut writer =
        BlockingWriter::new(client, framing(spec)).with_timeout(Duration::from_millis(100));
    // A: far more than the socket buffers hold while the peer does not read.
    let a = body(32 * 1024 * 1024, 1);
    let err = writer.write_message(&a).unwrap_err();
    assert!(matches!(err, Error::TimedOut { .. }), "A was taken: {err}");
    let stuck = writer.pending();
    assert!(stuck > 0);
    // B cannot go out before A's rest: it is refused, and the error says so.
    let err = writer.write_message(b"message B").unwrap_err();
    assert!(err.is_not_sent(), "{err}");
    assert!(
        err.to_string()
            .contains("nothing of this message was sent or kept"),
        "{err}"
    );
    // Some of A may have gone out meanwhile; nothing of B was added.
    assert!(writer.pending() <= stuck, "B added nothing");
    // The peer starts reading: A arrives whole, then B once offered again.
    let reader = thread::spawn(move || {
        let mut r = BlockingReader::new(server, framing(spec)).with_timeout(SECS_20);
        let first = r.read_message().unwrap();
        let second = r.read_message().unwrap();
        (first, second)
    });
    writer.set_timeout(Some(SECS_20));
    writer.flush().unwrap();
    writer.write_message(b"message B").unwrap();
    let (first, second) = reader.join().unwrap();
    assert!(first[..] == a[..]);
    assert_eq!(&second[..], b"message B");
}

// ---- Unrepresentable deadlines -------------------------------------------------------------------

#[test]
fn a_duration_max_timeout_means_no_deadline() {
    let (client, server) = tcp_pair();
    let mut writer = BlockingWriter::new(client, framing("be:2")).with_timeout(Duration::MAX);
    writer.write_message(b"one").unwrap();
    writer.write_message(b"two").unwrap();
    writer.flush().unwrap();
    let mut reader = BlockingReader::new(server, framing("be:2")).with_timeout(Duration::MAX);
    assert_eq!(&reader.read_message().unwrap()[..], b"one");
    let both = Deadlines {
        first_byte: Some(Duration::MAX),
        message: Some(Duration::MAX),
    };
    assert_eq!(&reader.read_message_with(both).unwrap()[..], b"two");
}

// ---- Keepalives and deadlines --------------------------------------------------------------------

#[test]
fn a_skipped_keepalive_puts_the_reader_back_between_messages() {
    let (mut client, server) = tcp_pair();
    let peer = thread::spawn(move || {
        client.write_all(b"\x00\x00").unwrap(); // a keepalive, skipped by empty=skip
        thread::sleep(Duration::from_millis(800));
        client.write_all(b"\x00\x05hello").unwrap();
        client
    });
    let mut reader =
        BlockingReader::new(server, framing("be:2,empty=skip")).with_deadlines(Deadlines {
            first_byte: Some(Duration::from_secs(3)),
            message: Some(Duration::from_millis(200)),
        });
    let start = Instant::now();
    let message = reader.read_message();
    assert_eq!(
        message.as_deref().ok(),
        Some(&b"hello"[..]),
        "after {:?}: {message:?}",
        start.elapsed()
    );
    assert!(start.elapsed() >= Duration::from_millis(800));
    drop(peer.join().unwrap());
}

#[test]
fn keepalives_do_not_extend_the_first_byte_deadline() {
    let (mut client, server) = tcp_pair();
    // A keepalive every 50 ms, never a message.
    let peer = thread::spawn(move || {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            if client.write_all(b"\x00\x00").is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
    });
    let mut reader =
        BlockingReader::new(server, framing("be:2,empty=skip")).with_deadlines(Deadlines {
            first_byte: Some(Duration::from_millis(400)),
            message: Some(Duration::from_millis(100)),
        });
    let start = Instant::now();
    let err = reader.read_message().unwrap_err();
    let elapsed = start.elapsed();
    assert!(matches!(err, Error::TimedOut { .. }), "{err}");
    assert!(
        elapsed >= Duration::from_millis(400) && elapsed < Duration::from_millis(1000),
        "{elapsed:?}"
    );
    drop(reader);
    peer.join().unwrap();
}

// ---- Fairness ------------------------------------------------------------------------------------

/// An endless stream of `00 00` keepalives, as fast as the reader asks.
struct KeepaliveFlood {
    read: usize,
}

impl Read for KeepaliveFlood {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len() & !1;
        buf[..n].fill(0);
        self.read += n;
        Ok(n)
    }
}

#[test]
fn a_keepalive_flood_returns_to_the_event_loop_within_the_read_budget() {
    let mut reader = NonBlockingReader::new(KeepaliveFlood { read: 0 }, framing("be:2,empty=skip"))
        .with_read_budget(256 * 1024);
    for _ in 0..3 {
        let err = reader.read_message().unwrap_err();
        let Error::Yielded { read } = err else {
            panic!("{err}")
        };
        assert!(err.is_retryable() && err.is_resumable());
        assert!(
            (256 * 1024..256 * 1024 + 64 * 1024 + 1).contains(&read),
            "{read}"
        );
    }
    assert!(reader.get_ref().read <= 3 * (256 + 64) * 1024);
}

#[test]
fn a_huge_message_arrives_across_several_yields_with_nothing_lost() {
    let framed = {
        let mut out = bytes::BytesMut::new();
        msgframe_codec::Encoder::encode(
            &framing("be:4,max=8m"),
            &body(4 * 1024 * 1024, 3),
            &mut out,
        )
        .unwrap();
        out.freeze()
    };
    let mut reader = NonBlockingReader::new(Cursor::new(framed.clone()), framing("be:4,max=8m"))
        .with_read_budget(1024 * 1024);
    let mut yields = 0;
    let message = loop {
        match reader.read_message() {
            Ok(m) => break m,
            Err(Error::Yielded { read }) if yields < 100 => {
                // The budget holds, give or take one read.
                assert!(read <= 1024 * 1024 + 4 * 1024 * 1024 / 2, "{read}");
                yields += 1
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert!(yields >= 2, "{yields}");
    assert!(message[..] == framed[4..]);
}

// ---- End of stream inside a discarded frame ------------------------------------------------------

#[test]
fn a_peer_closing_inside_a_discarded_frame_is_an_unexpected_eof_not_a_clean_close() {
    for (spec, wire) in [
        (
            "be:2,max=10,oversize=discard",
            &b"\x00\x64twenty bytes of it.."[..],
        ),
        (
            "lines,max=10,oversize=discard",
            &b"a line far longer than ten"[..],
        ),
    ] {
        let mut reader = BlockingReader::new(Stream(Cursor::new(wire.to_vec())), framing(spec));
        let err = reader.read_message().unwrap_err();
        assert!(
            matches!(&err, Error::TooLong(e) if e.is_resumable()),
            "{spec}: {err}"
        );
        let err = reader.read_message().unwrap_err();
        assert!(
            matches!(err, Error::UnexpectedEof { offset: 0, .. }),
            "{spec}: the peer closed inside the oversized frame: {err}"
        );
    }
}

/// An in-memory stream for the blocking reader.
struct Stream<R>(R);

impl<R: Read> Read for Stream<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R> Timeouts for Stream<R> {
    fn set_read_timeout(&self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }
    fn set_write_timeout(&self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }
}

// ---- Reads reuse their block ---------------------------------------------------------------------

/// Writes one line per read, and fills the rest of the space it is given with 0xAA, recording
/// whether the space it was given still held those bytes (it was not zeroed again).
struct Marking {
    reads: usize,
    saw_old_marks: bool,
}

impl Read for Marking {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.reads > 0 && buf.len() > 8 && buf[4..8].iter().all(|&b| b == 0xAA) {
            self.saw_old_marks = true;
        }
        self.reads += 1;
        buf.fill(0xAA);
        buf[..4].copy_from_slice(b"abc\n");
        Ok(4)
    }
}

#[test]
fn a_read_reuses_its_initialised_block_without_zeroing_it_again() {
    let mut buffer = ReadBuffer::new(framing("lines"));
    let mut stream = Marking {
        reads: 0,
        saw_old_marks: false,
    };
    for _ in 0..3 {
        buffer.fill(&mut stream).unwrap();
        assert_eq!(&buffer.next_message().unwrap().unwrap()[..], b"abc");
    }
    assert!(stream.saw_old_marks, "the block was zeroed before a read");
}

// ---- Lent messages -------------------------------------------------------------------------------

#[test]
fn blocking_reads_can_lend_messages_without_copying_them() {
    let (client, server) = tcp_pair();
    let mut writer = BlockingWriter::new(client, framing("ascii:4"));
    for i in 0..100u32 {
        writer
            .write_message(format!("message {i}").as_bytes())
            .unwrap();
    }
    drop(writer);
    let mut reader = BlockingReader::new(server, framing("ascii:4")).with_timeout(SECS_20);
    for i in 0..100u32 {
        assert_eq!(
            reader.read_ref().unwrap(),
            format!("message {i}").as_bytes()
        );
    }
    assert!(reader.read_ref().unwrap_err().is_closed());
}

#[test]
fn nonblocking_reads_can_lend_messages_and_mix_with_owned_ones() {
    let (mut client, server) = tcp_pair();
    server.set_nonblocking(true).unwrap();
    let mut reader = NonBlockingReader::new(server, framing("lines"));
    client.write_all(b"one\ntwo\nthr").unwrap();
    let lent = poll_until(|| match reader.read_ref() {
        Ok(m) => Some(m.to_vec()),
        Err(Error::WouldBlock) => None,
        Err(e) => panic!("{e}"),
    });
    assert_eq!(lent, b"one");
    assert_eq!(&reader.read_message().unwrap()[..], b"two");
    assert_eq!(reader.buffered(), b"thr");
    assert!(matches!(reader.read_ref(), Err(Error::WouldBlock)));
    client.write_all(b"ee\n").unwrap();
    drop(client);
    let lent = poll_until(|| match reader.read_ref() {
        Ok(m) => Some(m.to_vec()),
        Err(Error::WouldBlock) => None,
        Err(e) => panic!("{e}"),
    });
    assert_eq!(lent, b"three");
    let end = poll_until(|| match reader.read_ref() {
        Err(Error::WouldBlock) => None,
        other => Some(other.map(<[u8]>::to_vec)),
    });
    assert!(end.unwrap_err().is_closed());
}

#[test]
fn read_each_lends_every_buffered_message_and_reports_an_error_behind_them_next() {
    let wire = b"0001a0001b00x1".to_vec();
    let mut reader = BlockingReader::new(Stream(Cursor::new(wire)), framing("ascii:4"));
    let mut got = Vec::new();
    assert_eq!(reader.read_each(|m| got.push(m.to_vec())).unwrap(), 2);
    assert_eq!(got, [b"a", b"b"]);
    let err = reader.read_each(|_| panic!("no message")).unwrap_err();
    assert!(matches!(err, Error::Malformed(_)), "{err}");
}

#[test]
fn read_each_waits_for_a_message_within_the_deadline() {
    let (mut client, server) = tcp_pair();
    let mut reader =
        BlockingReader::new(server, framing("lines")).with_timeout(Duration::from_millis(200));
    let err = reader.read_each(|_| ()).unwrap_err();
    assert!(matches!(err, Error::TimedOut { .. }), "{err}");
    client.write_all(b"one\ntwo\nthr").unwrap();
    let mut got = Vec::new();
    let n = poll_until(|| {
        reader
            .read_each(|m| got.push(m.to_vec()))
            .ok()
            .filter(|&n| n > 0)
    });
    assert_eq!(n, got.len());
    assert_eq!(got[0], b"one");
    drop(client);
    while got.len() < 2 {
        reader.read_each(|m| got.push(m.to_vec())).unwrap();
    }
    assert_eq!(got, [b"one".to_vec(), b"two".to_vec()]);
    let err = reader.read_each(|_| ()).unwrap_err();
    assert!(
        matches!(err, Error::UnexpectedEof { buffered: 3, .. }),
        "{err}"
    );
}
