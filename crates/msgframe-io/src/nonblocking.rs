//! Readers and writers for streams in non-blocking mode (mio, poll loops).

use std::io::{self, Read, Write};

use bytes::Bytes;
use msgframe_codec::{Decoder, Encoder};

use crate::buffers::{ReadBuffer, Wait, WriteCore};
use crate::{Error, MessageRead, MessageWrite};

/// Reads whole messages from a non-blocking stream.
///
/// [`read_message`](MessageRead::read_message) returns a message when a whole one has arrived, and
/// [`Error::WouldBlock`] when not yet: every byte received stays buffered, so nothing is lost or
/// returned twice across would-block returns. Call it until it returns `WouldBlock` each time the
/// stream is readable (with edge-triggered polling such as mio, this matters: a readable event may
/// bring several messages).
///
/// After end-of-stream every call returns [`Error::Closed`] (or [`Error::UnexpectedEof`] inside a
/// message); after a malformed frame the reader is poisoned.
#[derive(Debug)]
pub struct NonBlockingReader<S, D> {
    stream: S,
    core: ReadBuffer<D>,
}

impl<S: Read, D: Decoder> NonBlockingReader<S, D> {
    /// A reader over a stream already in non-blocking mode.
    pub fn new(stream: S, decoder: D) -> Self {
        NonBlockingReader {
            stream,
            core: ReadBuffer::new(decoder),
        }
    }

    /// The bytes received but not yet returned as messages.
    pub fn buffered(&self) -> &[u8] {
        self.core.buffered()
    }

    /// Whether the peer has closed the stream (messages may still be buffered).
    pub fn is_eof(&self) -> bool {
        self.core.is_eof()
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
}

impl<S: Read, D: Decoder> MessageRead for NonBlockingReader<S, D> {
    fn read_message(&mut self) -> Result<Bytes, Error> {
        loop {
            if let Some(message) = self.core.next_message()? {
                return Ok(message);
            }
            match self.core.fill(&mut self.stream) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(Error::WouldBlock),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Io(e)),
            }
        }
    }
}

/// Writes whole messages to a non-blocking stream, keeping what the socket cannot take yet.
///
/// [`write_message`](MessageWrite::write_message) frames the message and sends what the socket
/// takes; the rest is kept and sent first by later calls. It returns `Ok(())` once the message is
/// **accepted** (sent or kept). When more than [`max_pending`](NonBlockingWriter::with_max_pending)
/// bytes would be kept, it refuses the message with [`Error::WouldBlock`]: wait until the stream is
/// writable, call [`flush`](MessageWrite::flush), then offer the message again.
/// [`has_pending`](NonBlockingWriter::has_pending) tells an event loop to wait for writability.
#[derive(Debug)]
pub struct NonBlockingWriter<S, E> {
    stream: S,
    core: WriteCore<E>,
    max_pending: usize,
}

/// Would-block ends the attempt; interrupted tries again.
struct NoWait;

impl<S> Wait<S> for NoWait {
    fn wait(&mut self, _stream: &mut S, err: io::Error) -> Result<(), Error> {
        match err.kind() {
            io::ErrorKind::Interrupted => Ok(()),
            io::ErrorKind::WouldBlock => Err(Error::WouldBlock),
            _ => Err(Error::Io(err)),
        }
    }
}

impl<S: Write, E: Encoder> NonBlockingWriter<S, E> {
    /// The default limit on bytes kept unsent: 1 MiB.
    pub const DEFAULT_MAX_PENDING: usize = 1024 * 1024;

    /// A writer over a stream already in non-blocking mode.
    pub fn new(stream: S, encoder: E) -> Self {
        NonBlockingWriter {
            stream,
            core: WriteCore::new(encoder),
            max_pending: Self::DEFAULT_MAX_PENDING,
        }
    }

    /// Sets how many unsent bytes may be kept before messages are refused. A message offered while
    /// nothing is pending is always accepted, however long.
    pub fn with_max_pending(mut self, max: usize) -> Self {
        self.max_pending = max;
        self
    }

    /// Whether bytes are waiting for the stream to become writable.
    pub fn has_pending(&self) -> bool {
        !self.core.pending.is_empty()
    }

    /// How many bytes are waiting.
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

    fn send_pending(&mut self) -> Result<(), Error> {
        match self.core.send_pending(&mut self.stream, &mut NoWait) {
            Err(Error::WouldBlock) => Ok(()),
            other => other,
        }
    }
}

impl<S: Write, E: Encoder> MessageWrite for NonBlockingWriter<S, E> {
    fn write_message(&mut self, body: &[u8]) -> Result<(), Error> {
        self.send_pending()?;
        if self.has_pending() {
            let framed = self.core.encoder.head_len() + body.len() + self.core.encoder.tail().len();
            if self.core.pending.len() + framed > self.max_pending {
                return Err(Error::WouldBlock);
            }
            return self.core.queue(body);
        }
        match self.core.send(&mut self.stream, body, &mut NoWait) {
            Err(Error::WouldBlock) => Ok(()),
            other => other,
        }
    }

    fn flush(&mut self) -> Result<(), Error> {
        self.core.send_pending(&mut self.stream, &mut NoWait)?;
        match self.stream.flush() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(Error::WouldBlock),
            other => Ok(other?),
        }
    }
}
