//! Helpers shared by the loopback tests. Every wait here is bounded.

#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// A connected loopback pair: (client, server).
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    client.set_nodelay(true).unwrap();
    server.set_nodelay(true).unwrap();
    (client, server)
}

/// The longest any single test waits for anything.
pub const LIMIT: Duration = Duration::from_secs(20);

/// Runs `f` until it returns `Some`, sleeping briefly between tries; panics after [`LIMIT`].
pub fn poll_until<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < LIMIT, "gave up after {LIMIT:?}");
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// A stream that counts calls, for checking syscall counts.
#[derive(Default)]
pub struct Counting<S> {
    /// The wrapped stream.
    pub inner: S,
    /// Calls to `read`.
    pub reads: usize,
    /// Calls to `write` and `write_vectored`.
    pub writes: usize,
}

impl<S: Read> Read for Counting<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reads += 1;
        self.inner.read(buf)
    }
}

impl<S: Write> Write for Counting<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writes += 1;
        self.inner.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.writes += 1;
        self.inner.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<S> msgframe_io::Timeouts for Counting<S> {
    fn set_read_timeout(&self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }
    fn set_write_timeout(&self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }
}

/// A sink that takes at most `budget` bytes, then says would-block until given more budget.
pub struct Throttled {
    /// Everything written so far.
    pub taken: Vec<u8>,
    /// Bytes it will still take.
    pub budget: usize,
}

impl Write for Throttled {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.budget == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.budget);
        self.taken.extend_from_slice(&buf[..n]);
        self.budget -= n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `n` bytes of a recognisable pattern without 0x03 or '\n' (so delimiter framings can carry it).
pub fn body(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| b'A' + ((i + seed as usize) % 26) as u8)
        .collect()
}
