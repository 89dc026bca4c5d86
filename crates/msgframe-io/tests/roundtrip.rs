//! Every framing in every mode, over real loopback TCP: messages of 0 B, 1 B, 100 B and 1 MiB (or
//! the largest the framing allows) arrive intact and in order.

mod common;

use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use common::{body, poll_until, tcp_pair};
use msgframe_codec::Framing;
use msgframe_io::{
    BlockingReader, BlockingWriter, Error, MessageRead, MessageWrite, NonBlockingReader,
    NonBlockingWriter,
};

const MIB: usize = 1024 * 1024;

/// (spec, message sizes it can carry)
fn cases() -> Vec<(&'static str, Vec<usize>)> {
    let standard = vec![0, 1, 100, MIB];
    vec![
        ("ascii:7", standard.clone()),
        ("ascii:4", vec![0, 1, 100, 9999]),
        ("hex:6", standard.clone()),
        ("bcd:4", standard.clone()),
        ("bcd:2", vec![0, 1, 100, 9999]),
        ("be:2", vec![0, 1, 100, 65_535]),
        ("be:3", standard.clone()),
        ("be:4", standard.clone()),
        ("le:4", standard.clone()),
        ("be:8", standard.clone()),
        ("be:4,counts-header", standard.clone()),
        ("be:2,before=0300,counts-header", vec![0, 1, 100, 65_531]),
        ("be:2,after=0000", vec![0, 1, 100, 65_535]),
        ("delim:03", standard.clone()),
        ("delim:0d0a0d0a", standard.clone()),
        ("lines", standard.clone()),
        ("lines:crlf", standard.clone()),
    ]
}

fn framing(spec: &str) -> Framing {
    spec.parse().unwrap()
}

fn messages(sizes: &[usize]) -> Vec<Vec<u8>> {
    sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| body(n, i as u8))
        .collect()
}

/// Writes `msgs` from another thread with `write`, reads them here with `read`, compares.
fn exchange(
    spec: &str,
    msgs: Vec<Vec<u8>>,
    write: fn(TcpStream, Framing, &[Vec<u8>]),
    read: fn(TcpStream, Framing, usize) -> Vec<Vec<u8>>,
) {
    let (client, server) = tcp_pair();
    let f = framing(spec);
    let sent = msgs.clone();
    let writer = thread::spawn(move || write(client, f, &sent));
    let got = read(server, framing(spec), msgs.len());
    writer.join().expect("writer thread");
    assert_eq!(got.len(), msgs.len(), "{spec}: message count");
    for (i, (got, want)) in got.iter().zip(&msgs).enumerate() {
        assert!(
            got == want,
            "{spec}: message {i} ({} bytes) differs",
            want.len()
        );
    }
}

fn blocking_write(stream: TcpStream, f: Framing, msgs: &[Vec<u8>]) {
    let mut w = BlockingWriter::new(stream, f).with_timeout(Duration::from_secs(20));
    for m in msgs {
        w.write_message(m).unwrap();
    }
}

fn blocking_read(stream: TcpStream, f: Framing, n: usize) -> Vec<Vec<u8>> {
    let mut r = BlockingReader::new(stream, f).with_timeout(Duration::from_secs(20));
    let got = (0..n).map(|_| r.read_message().unwrap().to_vec()).collect();
    assert!(r.read_message().unwrap_err().is_closed());
    got
}

fn nonblocking_write(stream: TcpStream, f: Framing, msgs: &[Vec<u8>]) {
    stream.set_nonblocking(true).unwrap();
    let mut w = NonBlockingWriter::new(stream, f).with_max_pending(64 * 1024);
    for m in msgs {
        poll_until(|| match w.write_message(m) {
            Ok(()) => Some(()),
            Err(Error::WouldBlock | Error::Yielded { .. }) => None,
            Err(e) => panic!("{e}"),
        });
    }
    poll_until(|| match w.flush() {
        Ok(()) => Some(()),
        Err(Error::WouldBlock | Error::Yielded { .. }) => None,
        Err(e) => panic!("{e}"),
    });
}

fn nonblocking_read(stream: TcpStream, f: Framing, n: usize) -> Vec<Vec<u8>> {
    stream.set_nonblocking(true).unwrap();
    let mut r = NonBlockingReader::new(stream, f);
    let mut got = Vec::new();
    while got.len() < n {
        let m = poll_until(|| match r.read_message() {
            Ok(m) => Some(m),
            Err(Error::WouldBlock | Error::Yielded { .. }) => None,
            Err(e) => panic!("{e}"),
        });
        got.push(m.to_vec());
    }
    let end = poll_until(|| match r.read_message() {
        Err(Error::WouldBlock | Error::Yielded { .. }) => None,
        other => Some(other),
    });
    assert!(end.unwrap_err().is_closed());
    got
}

#[test]
fn blocking_writer_to_blocking_reader_every_framing() {
    for (spec, sizes) in cases() {
        exchange(spec, messages(&sizes), blocking_write, blocking_read);
    }
}

#[test]
fn nonblocking_writer_to_nonblocking_reader_every_framing() {
    for (spec, sizes) in cases() {
        exchange(spec, messages(&sizes), nonblocking_write, nonblocking_read);
    }
}

#[test]
fn blocking_writer_to_nonblocking_reader_every_framing() {
    for (spec, sizes) in cases() {
        exchange(spec, messages(&sizes), blocking_write, nonblocking_read);
    }
}

#[test]
fn nonblocking_writer_to_blocking_reader_every_framing() {
    for (spec, sizes) in cases() {
        exchange(spec, messages(&sizes), nonblocking_write, blocking_read);
    }
}

#[test]
fn fixed_length_in_every_mode() {
    for n in [1, 100, MIB] {
        let spec = format!("fixed:{n}");
        let spec: &'static str = Box::leak(spec.into_boxed_str());
        let msgs = vec![body(n, 1), body(n, 2), body(n, 3)];
        exchange(spec, msgs.clone(), blocking_write, blocking_read);
        exchange(spec, msgs.clone(), nonblocking_write, nonblocking_read);
        exchange(spec, msgs.clone(), blocking_write, nonblocking_read);
        exchange(spec, msgs, nonblocking_write, blocking_read);
    }
}

/// Until-EOF carries one message per connection: the writer's close ends it.
#[test]
fn until_eof_in_every_mode() {
    for n in [0, 1, 100, MIB] {
        for (write_blocking, read_blocking) in
            [(true, true), (false, false), (true, false), (false, true)]
        {
            let (client, server) = tcp_pair();
            let msg = body(n, 7);
            let sent = msg.clone();
            let writer = thread::spawn(move || {
                if write_blocking {
                    let mut w = BlockingWriter::new(client, framing("eof"));
                    w.write_message(&sent).unwrap();
                    w.shutdown_write().unwrap();
                } else {
                    client.set_nonblocking(true).unwrap();
                    let mut w = NonBlockingWriter::new(&client, framing("eof"));
                    w.write_message(&sent).unwrap();
                    poll_until(|| match w.flush() {
                        Ok(()) => Some(()),
                        Err(Error::WouldBlock | Error::Yielded { .. }) => None,
                        Err(e) => panic!("{e}"),
                    });
                    client.shutdown(std::net::Shutdown::Write).unwrap();
                }
            });
            let got = if read_blocking {
                let mut r = BlockingReader::new(server, framing("eof"))
                    .with_timeout(Duration::from_secs(20));
                let m = r.read_message().unwrap();
                assert!(r.read_message().unwrap_err().is_closed());
                m
            } else {
                server.set_nonblocking(true).unwrap();
                let mut r = NonBlockingReader::new(server, framing("eof"));
                poll_until(|| match r.read_message() {
                    Ok(m) => Some(m),
                    Err(Error::WouldBlock | Error::Yielded { .. }) => None,
                    Err(e) => panic!("{e}"),
                })
            };
            writer.join().unwrap();
            assert_eq!(got.len(), n);
            assert!(got[..] == msg[..]);
        }
    }
}

#[cfg(unix)]
#[test]
fn unix_stream_round_trip() {
    use std::os::unix::net::UnixStream;
    let (a, b) = UnixStream::pair().unwrap();
    let writer = thread::spawn(move || {
        let mut w = BlockingWriter::new(a, framing("bcd:4")).with_timeout(Duration::from_secs(20));
        for n in [0, 1, 100, MIB] {
            w.write_message(&body(n, 3)).unwrap();
        }
    });
    let mut r = BlockingReader::new(b, framing("bcd:4")).with_timeout(Duration::from_secs(20));
    for n in [0, 1, 100, MIB] {
        assert!(r.read_message().unwrap()[..] == body(n, 3)[..]);
    }
    writer.join().unwrap();
    assert!(r.read_message().unwrap_err().is_closed());
}

#[test]
fn split_tcp_gives_a_reader_and_writer_on_one_connection() {
    let (client, server) = tcp_pair();
    let echo = thread::spawn(move || {
        let (mut r, mut w) = msgframe_io::split_tcp(server, framing("be:2")).unwrap();
        loop {
            match r.read_message() {
                Ok(m) => w.write_message(&m).unwrap(),
                Err(e) if e.is_closed() => break,
                Err(e) => panic!("{e}"),
            }
        }
    });
    let (mut r, mut w) = msgframe_io::split_tcp(client, framing("be:2")).unwrap();
    for i in 0..50u8 {
        w.write_message(&[i; 10]).unwrap();
        assert_eq!(&r.read_message().unwrap()[..], &[i; 10]);
    }
    w.get_ref().shutdown(std::net::Shutdown::Write).unwrap();
    echo.join().unwrap();
}
