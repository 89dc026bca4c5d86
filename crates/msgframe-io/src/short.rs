//! Short connections: connect, send one request, read one reply, close.

use std::io::Read;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use bytes::Bytes;
use msgframe_codec::{Framing, UntilEof};

use crate::{BlockingReader, BlockingWriter, Deadlines, Error, Timeouts};

/// Reads everything until the peer closes the stream: one message of at most `max` bytes, within
/// `timeout` for the whole of it.
///
/// # Errors
/// [`Error::TooLong`] past `max` bytes, [`Error::TimedOut`], or an I/O error.
pub fn read_until_eof<S: Read + Timeouts>(
    stream: S,
    max: usize,
    timeout: Option<Duration>,
) -> Result<Bytes, Error> {
    let deadlines = Deadlines {
        first_byte: None,
        message: timeout,
    };
    BlockingReader::new(stream, UntilEof::new(max)).read_message_with(deadlines)
}

/// The options of a short-connection request: how the request and the reply are framed, and how long
/// connecting and the exchange may take.
///
/// ```no_run
/// use std::time::Duration;
/// use msgframe_io::ShortRequest;
///
/// // An ISO 8583 host behind 4 ASCII digits, one connection per transaction.
/// let reply = ShortRequest::new("ascii:4".parse()?)
///     .connect_timeout(Duration::from_secs(3))
///     .timeout(Duration::from_secs(10))
///     .send("127.0.0.1:9000", b"0200...")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ShortRequest {
    /// How the request is framed.
    pub request: Framing,
    /// How the reply is framed.
    pub reply: Framing,
    /// The longest wait for each connection attempt.
    pub connect_timeout: Duration,
    /// The deadline for sending the request and reading the whole reply.
    pub timeout: Duration,
}

impl ShortRequest {
    /// Request and reply framed alike; connect within 5 s, exchange within 30 s.
    pub fn new(framing: Framing) -> Self {
        ShortRequest {
            reply: framing.clone(),
            request: framing,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
        }
    }

    /// Frames the reply differently, e.g. until end-of-stream (`"eof".parse()?`).
    pub fn reply_framing(mut self, framing: Framing) -> Self {
        self.reply = framing;
        self
    }

    /// The longest wait for each connection attempt.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The deadline for sending the request and reading the whole reply.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Connects to `addr` (each resolved address in turn, each within the connect timeout: see
    /// [`connect_addrs`](crate::connect_addrs)), sends `body`, reads one reply, closes.
    ///
    /// When the request is framed until end-of-stream, the write half is shut down after it so that
    /// the peer sees its end. The connection is closed when the reply has been read, also on error.
    ///
    /// # Errors
    /// The resolver's error; [`Error::Io`] with a [`ConnectError`](crate::ConnectError) naming the
    /// last address tried and its error; or any error of writing the request or reading the reply.
    pub fn send(&self, addr: impl ToSocketAddrs, body: &[u8]) -> Result<Bytes, Error> {
        let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
        let stream = crate::connect_addrs(&addrs, self.connect_timeout, None)?;
        let start = Instant::now();
        let mut writer = BlockingWriter::new(&stream, self.request.clone());
        writer.write_message_with(body, Some(self.timeout))?;
        if matches!(self.request, Framing::UntilEof(_)) {
            writer.shutdown_write()?;
        }
        let left = self.timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err(Error::TimedOut {
                buffered: 0,
                elapsed_ms: start.elapsed().as_millis() as u64,
                writing: false,
            });
        }
        let mut reader = BlockingReader::new(&stream, self.reply.clone());
        reader.read_message_with(Deadlines::message(left))
    }
}

/// Connects, sends `body` framed by `framing`, reads one reply framed alike, closes: a
/// [`ShortRequest`] with its default timeouts.
///
/// # Errors
/// As [`ShortRequest::send`].
pub fn request(addr: SocketAddr, framing: Framing, body: &[u8]) -> Result<Bytes, Error> {
    ShortRequest::new(framing).send(addr, body)
}
