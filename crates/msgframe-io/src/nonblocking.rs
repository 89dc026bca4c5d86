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
/// **Fairness.** One call reads at most its budget of bytes (64 KiB by default: one read,
/// [`with_read_budget`](NonBlockingReader::with_read_budget)) before it returns: a peer that
/// floods keepalives or sends a huge message cannot hold an event loop. When the budget is spent
/// without a whole message, the call returns [`Error::Yielded`]: the stream may still be readable,
/// so serve the other connections and call again **without waiting for a readiness event**.
///
/// After end-of-stream every call returns [`Error::Closed`] (or [`Error::UnexpectedEof`] inside a
/// message); after a malformed frame the reader is poisoned.
#[derive(Debug)]
pub struct NonBlockingReader<S, D> {
    stream: S,
    core: ReadBuffer<D>,
    budget: usize,
}

impl<S: Read, D: Decoder> NonBlockingReader<S, D> {
    /// The default read budget of one call: 64 KiB, one read. Skipping a read's worth of keepalives
    /// (32 768 empty `be:2` frames) is then the most one call does for a flooding peer before the
    /// event loop serves the others.
    pub const DEFAULT_READ_BUDGET: usize = 64 * 1024;

    /// A reader over a stream already in non-blocking mode.
    pub fn new(stream: S, decoder: D) -> Self {
        NonBlockingReader {
            stream,
            core: ReadBuffer::new(decoder),
            budget: Self::DEFAULT_READ_BUDGET,
        }
    }

    /// Sets how many bytes one call may read before it returns [`Error::Yielded`] (at least one
    /// read is always made).
    pub fn with_read_budget(mut self, bytes: usize) -> Self {
        self.budget = bytes;
        self
    }

    /// Reads one message and lends it from the read buffer: no allocation, no copy. It stays valid
    /// until the next call on the reader. Errors as for
    /// [`read_message`](MessageRead::read_message).
    ///
    /// # Errors
    /// As `read_message`.
    pub fn read_ref(&mut self) -> Result<&[u8], Error> {
        if self.core.next_lent()?.is_none() {
            self.read_until(|core| Ok(core.next_lent()?.map(|_| ())))?;
        }
        Ok(self.core.lent().unwrap_or_default())
    }

    /// Reads (within the budget) until `next` finds a message.
    #[inline(never)]
    fn read_until<T>(
        &mut self,
        mut next: impl FnMut(&mut ReadBuffer<D>) -> Result<Option<T>, Error>,
    ) -> Result<T, Error> {
        let mut read = 0usize;
        loop {
            if read >= self.budget {
                return Err(Error::Yielded { read });
            }
            match self.core.fill(&mut self.stream) {
                Ok(n) => read += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(Error::WouldBlock),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Io(e)),
            }
            if let Some(found) = next(&mut self.core)? {
                return Ok(found);
            }
        }
    }

    /// The bytes received but not yet returned as messages.
    pub fn buffered(&self) -> &[u8] {
        self.core.buffered()
    }

    /// Whether no part of a message is buffered (a server starts a per-message deadline at a
    /// message's first byte).
    pub fn is_between_messages(&self) -> bool {
        self.core.is_between_messages()
    }

    /// Whether the peer has closed the stream (messages may still be buffered).
    pub fn is_eof(&self) -> bool {
        self.core.is_eof()
    }

    /// Frees the read buffer when it holds no bytes, for a connection that will sit idle for long
    /// (see [`ReadBuffer::release_idle_block`]).
    pub fn release_idle_buffer(&mut self) -> bool {
        self.core.release_idle_block()
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
        if let Some(message) = self.core.next_message()? {
            return Ok(message);
        }
        self.read_until(|core| core.next_message())
    }
}

/// Writes whole messages to a non-blocking stream, keeping what the socket cannot take yet.
///
/// [`write_message`](MessageWrite::write_message) frames the message and sends what the socket
/// takes; the rest is kept and sent first by later calls. It returns `Ok(())` once the message is
/// **taken** (sent or kept). When more than [`max_pending`](NonBlockingWriter::with_max_pending)
/// bytes would be kept, it refuses the message with [`Error::NotSent`] (nothing of it was sent or
/// kept): wait until the stream is writable, call [`flush`](MessageWrite::flush), then offer the
/// message again.
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
            let framed = self.core.encoder.framed_len(body.len());
            if self.core.pending.len() + framed > self.max_pending {
                return Err(Error::NotSent {
                    pending: self.core.pending.len(),
                });
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
