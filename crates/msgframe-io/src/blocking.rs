//! Blocking readers and writers with a deadline for the whole message.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use bytes::Bytes;
use msgframe_codec::{Decoder, Encoder};

use crate::buffers::{ReadBuffer, Wait, WriteCore};
use crate::{Error, MessageRead, MessageWrite, ShutdownWrite, Timeouts};

/// How long a blocking read may take.
///
/// - `message`: a deadline for the **whole message**, however the peer splits it. A peer that sends
///   one byte every 100 ms cannot keep a 500 ms read waiting longer than 500 ms: the deadline is not
///   reset by each byte, unlike a socket's own read timeout.
/// - `first_byte`: how long to wait for a message to start, for long connections that sit idle
///   between messages. When set, the `message` deadline starts when the first byte of the message
///   arrives; when not, it starts when the call starts and covers the wait for the first byte too.
///
/// `None` means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Deadlines {
    /// Longest wait for a message's first byte.
    pub first_byte: Option<Duration>,
    /// Longest time for the whole message.
    pub message: Option<Duration>,
}

impl Deadlines {
    /// No limits.
    pub const NONE: Deadlines = Deadlines {
        first_byte: None,
        message: None,
    };

    /// One deadline for the whole message, wait for its first byte included.
    pub const fn message(timeout: Duration) -> Self {
        Deadlines {
            first_byte: None,
            message: Some(timeout),
        }
    }
}

/// The socket timeout last set on a stream, so it is changed only when needed: one `setsockopt`
/// per message at most in steady state, not one per `read`.
#[derive(Debug, Default)]
struct ArmedTimeout(Option<Option<Duration>>);

impl ArmedTimeout {
    /// Chooses the socket timeout for a wait that must end by `remaining`: keeps the current one when
    /// it is not longer than `remaining` and not much shorter either (a shorter one just means one
    /// more trip round the loop).
    fn needs(&self, remaining: Option<Duration>) -> Option<Option<Duration>> {
        match (self.0, remaining) {
            (Some(None), None) => None,
            (Some(Some(cur)), Some(rem)) if cur <= rem && cur >= rem / 2 => None,
            _ => Some(remaining),
        }
    }
}

/// Reads whole messages from a blocking stream, with [`Deadlines`].
///
/// One `read` may bring several messages: later calls take them from the buffer without a syscall.
///
/// **After a timeout** ([`Error::TimedOut`]) the partial message stays buffered; call again to
/// continue it (with a fresh deadline). **After end-of-stream** every call returns
/// [`Error::Closed`] (or [`Error::UnexpectedEof`] when it came inside a message). **After a
/// malformed frame** the reader is poisoned. The reader owns the stream's read timeout: it sets it
/// as the deadlines require. The stream must be in blocking mode; see
/// [`NonBlockingReader`](crate::NonBlockingReader) for non-blocking streams.
///
/// ```no_run
/// use std::net::TcpStream;
/// use std::time::Duration;
/// use msgframe_codec::Framing;
/// use msgframe_io::{BlockingReader, MessageRead};
///
/// let stream = TcpStream::connect("127.0.0.1:9000")?;
/// let framing: Framing = "ascii:4".parse()?;
/// let mut reader = BlockingReader::new(stream, framing).with_timeout(Duration::from_secs(5));
/// let message = reader.read_message()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct BlockingReader<S, D> {
    stream: S,
    core: ReadBuffer<D>,
    deadlines: Deadlines,
    armed: ArmedTimeout,
}

impl<S: Read + Timeouts, D: Decoder> BlockingReader<S, D> {
    /// A reader with no deadlines.
    pub fn new(stream: S, decoder: D) -> Self {
        BlockingReader {
            stream,
            core: ReadBuffer::new(decoder),
            deadlines: Deadlines::NONE,
            armed: ArmedTimeout::default(),
        }
    }

    /// Sets one deadline for each whole message.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.deadlines = Deadlines::message(timeout);
        self
    }

    /// Sets the deadlines.
    pub fn with_deadlines(mut self, deadlines: Deadlines) -> Self {
        self.deadlines = deadlines;
        self
    }

    /// Changes the deadlines for later calls.
    pub fn set_deadlines(&mut self, deadlines: Deadlines) {
        self.deadlines = deadlines;
    }

    /// The deadlines.
    pub fn deadlines(&self) -> Deadlines {
        self.deadlines
    }

    /// Reads one message, waiting at most `deadlines` (instead of the reader's own).
    ///
    /// # Errors
    /// See [`Error`] for each variant and the reader's state after it.
    #[inline]
    pub fn read_message_with(&mut self, deadlines: Deadlines) -> Result<Bytes, Error> {
        // A message already buffered needs no clock and no syscall.
        if let Some(message) = self.core.next_message()? {
            return Ok(message);
        }
        self.wait_for_message(deadlines, |core| core.next_message())
    }

    /// Reads one message and lends it from the read buffer: no allocation, no copy, no reference
    /// count. The message stays valid until the next call on the reader. Deadlines as for
    /// [`read_message`](MessageRead::read_message).
    ///
    /// This is the fastest way to read small messages that are parsed in place (the application
    /// copies out what it keeps).
    ///
    /// ```
    /// use std::io::Cursor;
    /// use msgframe_codec::Framing;
    /// use msgframe_io::BlockingReader;
    ///
    /// # struct Stream(Cursor<&'static [u8]>);
    /// # impl std::io::Read for Stream { fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> { self.0.read(b) } }
    /// # impl msgframe_io::Timeouts for Stream {
    /// #     fn set_read_timeout(&self, _: Option<std::time::Duration>) -> std::io::Result<()> { Ok(()) }
    /// #     fn set_write_timeout(&self, _: Option<std::time::Duration>) -> std::io::Result<()> { Ok(()) }
    /// # }
    /// # let stream = Stream(Cursor::new(b"\x00\x040800\x00\x040810"));
    /// let mut reader = BlockingReader::new(stream, "be:2".parse::<Framing>()?);
    /// let mut types = Vec::new();
    /// while let Ok(message) = reader.read_ref() {
    ///     types.push(u16::from_str_radix(std::str::from_utf8(&message[..4])?, 10)?);
    /// }
    /// assert_eq!(types, [800, 810]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`read_message`](MessageRead::read_message).
    #[inline]
    pub fn read_ref(&mut self) -> Result<&[u8], Error> {
        self.read_ref_with(self.deadlines)
    }

    /// [`read_ref`](Self::read_ref) with `deadlines` instead of the reader's own.
    ///
    /// # Errors
    /// As [`read_message`](MessageRead::read_message).
    #[inline]
    pub fn read_ref_with(&mut self, deadlines: Deadlines) -> Result<&[u8], Error> {
        // Positions, not a borrow: the message is sliced once, whether it was buffered or waited
        // for.
        let (from, to) = match self.core.lend()? {
            Some(at) => at,
            None => self.wait_for_message(deadlines, |core| core.lend())?,
        };
        Ok(self.core.lent_at(from, to))
    }

    /// Reads until at least one message is whole (within the reader's deadlines), then lends every
    /// whole message buffered to `f`, in order, and returns how many: the fastest way to consume a
    /// stream of small messages (no allocation, no copy, no per-message call overhead). An error
    /// found after some messages were lent is returned by the next call.
    ///
    /// ```
    /// use std::io::Cursor;
    /// use msgframe_codec::Framing;
    /// use msgframe_io::BlockingReader;
    ///
    /// # struct Stream(Cursor<&'static [u8]>);
    /// # impl std::io::Read for Stream { fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> { self.0.read(b) } }
    /// # impl msgframe_io::Timeouts for Stream {
    /// #     fn set_read_timeout(&self, _: Option<std::time::Duration>) -> std::io::Result<()> { Ok(()) }
    /// #     fn set_write_timeout(&self, _: Option<std::time::Duration>) -> std::io::Result<()> { Ok(()) }
    /// # }
    /// # let stream = Stream(Cursor::new(b"0003one0003two"));
    /// let mut reader = BlockingReader::new(stream, "ascii:4".parse::<Framing>()?);
    /// let mut total = 0;
    /// let mut count = 0;
    /// while let Ok(n) = reader.read_each(|message| total += message.len()) {
    ///     count += n;
    /// }
    /// assert_eq!((count, total), (2, 6));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`read_message`](MessageRead::read_message).
    pub fn read_each(&mut self, mut f: impl FnMut(&[u8])) -> Result<usize, Error> {
        let lent = self.core.for_each_buffered(&mut f)?;
        if lent > 0 {
            return Ok(lent);
        }
        self.wait_for_message(self.deadlines, |core| {
            let lent = core.for_each_buffered(&mut f)?;
            Ok((lent > 0).then_some(lent))
        })
    }

    /// Reads until `next` finds a message, within `deadlines`.
    #[inline(never)]
    fn wait_for_message<T>(
        &mut self,
        deadlines: Deadlines,
        mut next: impl FnMut(&mut ReadBuffer<D>) -> Result<Option<T>, Error>,
    ) -> Result<T, Error> {
        let start = Instant::now();
        // Deadlines too far away to be represented are no deadlines.
        let after =
            |from: Instant, limit: Option<Duration>| limit.and_then(|d| from.checked_add(d));
        // Without a first-byte deadline, the message deadline covers the whole call.
        let call_by = match deadlines.first_byte {
            None => after(start, deadlines.message),
            Some(_) => None,
        };
        let first_byte_by = after(start, deadlines.first_byte);
        let mut message_by = None;
        loop {
            let deadline = if deadlines.first_byte.is_none() {
                call_by
            } else if self.core.is_between_messages() {
                // Idle, or idle again after a skipped keepalive: waiting for a message to start.
                message_by = None;
                first_byte_by
            } else {
                *message_by.get_or_insert_with(|| after(Instant::now(), deadlines.message))
            };
            let remaining = match deadline {
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => {
                        return Err(Error::TimedOut {
                            buffered: self.core.buffered().len(),
                            elapsed_ms: start.elapsed().as_millis() as u64,
                            writing: false,
                        })
                    }
                },
                None => None,
            };
            if let Some(timeout) = self.armed.needs(remaining) {
                self.stream.set_read_timeout(timeout)?;
                self.armed = ArmedTimeout(Some(timeout));
            }
            match self.core.fill(&mut self.stream) {
                Ok(_) => {}
                Err(e) if is_wait(&e) => {
                    if e.kind() == io::ErrorKind::WouldBlock && remaining.is_none() {
                        // No timeout was set, so the stream itself is non-blocking.
                        return Err(Error::WouldBlock);
                    }
                }
                Err(e) => return Err(Error::Io(e)),
            }
            if let Some(found) = next(&mut self.core)? {
                return Ok(found);
            }
        }
    }

    /// Frees the read buffer when it holds no bytes, for a connection that will sit idle for long
    /// (see [`ReadBuffer::release_idle_block`]).
    pub fn release_idle_buffer(&mut self) -> bool {
        self.core.release_idle_block()
    }

    /// The bytes received but not yet returned as messages.
    pub fn buffered(&self) -> &[u8] {
        self.core.buffered()
    }

    /// The decoder.
    pub fn decoder(&self) -> &D {
        self.core.decoder()
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The stream, mutably. Reading from it directly would take bytes away from the reader.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// The stream, and the bytes received but not yet returned as messages.
    pub fn into_parts(self) -> (S, bytes::BytesMut) {
        (self.stream, self.core.into_parts().1)
    }
}

impl<S: Read + Timeouts, D: Decoder> MessageRead for BlockingReader<S, D> {
    fn read_message(&mut self) -> Result<Bytes, Error> {
        self.read_message_with(self.deadlines)
    }
}

/// Errors after which a blocking loop checks its deadline and tries again.
fn is_wait(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Writes whole messages to a blocking stream, each with one `write` (or one vectored write for
/// large bodies), within an optional deadline per message.
///
/// The deadline bounds each whole call, however slowly the peer takes the bytes. **After a timeout**
/// ([`Error::TimedOut`]) the message was taken: the part not yet sent is kept and goes out first on
/// the next [`write_message`](MessageWrite::write_message) or [`flush`](MessageWrite::flush), so
/// the stream stays well framed; do not write the same message again. When that rest cannot be
/// sent in time, the next message is refused with [`Error::NotSent`]: nothing of it was sent or
/// kept, offer it again later. So at most one message is ever kept. A message that cannot be
/// framed ([`Error::Message`], [`Error::TooLong`]) is refused before anything is sent.
#[derive(Debug)]
pub struct BlockingWriter<S, E> {
    stream: S,
    core: WriteCore<E>,
    timeout: Option<Duration>,
    armed: ArmedTimeout,
}

/// The deadline of one write call.
struct WriteDeadline<'a> {
    start: Instant,
    deadline: Option<Instant>,
    armed: &'a mut ArmedTimeout,
}

impl<'a> WriteDeadline<'a> {
    fn new(timeout: Option<Duration>, armed: &'a mut ArmedTimeout) -> Self {
        let start = Instant::now();
        WriteDeadline {
            start,
            // A deadline too far away to be represented is none.
            deadline: timeout.and_then(|t| start.checked_add(t)),
            armed,
        }
    }
}

impl<S: Timeouts> Wait<S> for WriteDeadline<'_> {
    /// Sets the stream's write timeout to what is left, or fails when nothing is: checked before
    /// every write, so a peer that takes a little at a time cannot stretch the deadline.
    fn before_write(&mut self, stream: &mut S) -> Result<(), Error> {
        let remaining = match self.deadline {
            Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => {
                    return Err(Error::TimedOut {
                        buffered: 0,
                        elapsed_ms: self.start.elapsed().as_millis() as u64,
                        writing: true,
                    })
                }
            },
            None => None,
        };
        if let Some(timeout) = self.armed.needs(remaining) {
            stream.set_write_timeout(timeout)?;
            *self.armed = ArmedTimeout(Some(timeout));
        }
        Ok(())
    }

    fn wait(&mut self, _stream: &mut S, err: io::Error) -> Result<(), Error> {
        if !is_wait(&err) {
            return Err(Error::Io(err));
        }
        if err.kind() == io::ErrorKind::WouldBlock && self.deadline.is_none() {
            return Err(Error::WouldBlock);
        }
        Ok(())
    }
}

impl<S: Write + Timeouts, E: Encoder> BlockingWriter<S, E> {
    /// A writer with no deadline.
    pub fn new(stream: S, encoder: E) -> Self {
        BlockingWriter {
            stream,
            core: WriteCore::new(encoder),
            timeout: None,
            armed: ArmedTimeout::default(),
        }
    }

    /// Sets a deadline for writing each whole message.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Changes the deadline for later calls.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// Writes one message within `timeout` (instead of the writer's own).
    ///
    /// The deadline bounds the whole call, however the peer takes the bytes. Bytes of an earlier
    /// message left unsent by a timeout go first; if they cannot all be sent in time, this message
    /// is refused with [`Error::NotSent`] (nothing of it was sent or kept). Once the message has
    /// been taken, a timeout keeps its unsent rest for the next call and returns
    /// [`Error::TimedOut`].
    ///
    /// # Errors
    /// See [`Error`] for each variant and the writer's state after it.
    pub fn write_message_with(
        &mut self,
        body: &[u8],
        timeout: Option<Duration>,
    ) -> Result<(), Error> {
        let mut wait = WriteDeadline::new(timeout, &mut self.armed);
        if let Err(e) = self.core.send_pending(&mut self.stream, &mut wait) {
            return Err(match e {
                Error::TimedOut { .. } | Error::WouldBlock => Error::NotSent {
                    pending: self.core.pending.len(),
                },
                other => other,
            });
        }
        let result = self
            .core
            .send(&mut self.stream, body, &mut wait)
            .and_then(|()| self.stream.flush().map_err(Error::Io));
        self.with_unsent(result)
    }

    fn with_unsent(&self, result: Result<(), Error>) -> Result<(), Error> {
        match result {
            Err(Error::TimedOut {
                elapsed_ms,
                writing,
                ..
            }) => Err(Error::TimedOut {
                buffered: self.core.pending.len(),
                elapsed_ms,
                writing,
            }),
            other => other,
        }
    }

    /// Bytes of earlier messages not sent yet (after a timeout).
    pub fn pending(&self) -> usize {
        self.core.pending.len()
    }

    /// The encoder.
    pub fn encoder(&self) -> &E {
        &self.core.encoder
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The stream, mutably. Writing to it directly would break the framing.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// The stream. Unsent bytes (after a timeout) are dropped: call `flush` first.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

impl<S: Write + Timeouts + ShutdownWrite, E: Encoder> BlockingWriter<S, E> {
    /// Sends anything pending, then shuts down the write half, so that the peer reads end-of-stream:
    /// how a short connection ends a message framed until end-of-stream.
    ///
    /// # Errors
    /// As [`flush`](MessageWrite::flush), or the shutdown's I/O error.
    pub fn shutdown_write(&mut self) -> Result<(), Error> {
        self.flush()?;
        self.stream.shutdown_write()?;
        Ok(())
    }
}

impl<S: Write + Timeouts, E: Encoder> MessageWrite for BlockingWriter<S, E> {
    fn write_message(&mut self, body: &[u8]) -> Result<(), Error> {
        self.write_message_with(body, self.timeout)
    }

    fn flush(&mut self) -> Result<(), Error> {
        let mut wait = WriteDeadline::new(self.timeout, &mut self.armed);
        let result = self
            .core
            .send_pending(&mut self.stream, &mut wait)
            .and_then(|()| self.stream.flush().map_err(Error::Io));
        self.with_unsent(result)
    }
}
