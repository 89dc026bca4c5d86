//! What the blocking and non-blocking adapters share: moving bytes between a stream and buffers.
//! No framing logic lives here; the codec decides where messages end.

use std::io::{self, IoSlice, Read, Write};

use bytes::{Buf, Bytes, BytesMut};
use msgframe_codec::{Decoder, Encoder};

use crate::Error;

/// The size of each read. One read can bring many small messages, or a good part of a large one;
/// the buffer space a read fills is zeroed first (this crate has no unsafe code), so reads are not
/// sized by a large frame alone.
const READ_SIZE: usize = 64 * 1024;
/// Messages whose body is at most this long are copied behind their head into one buffer and
/// written with one `write`; longer ones go out as one vectored write of head, body and tail.
const COPY_LIMIT: usize = 16 * 1024;

/// A decoder and the bytes it has not consumed yet: the state every reader needs, whatever moves
/// the bytes. The blocking and non-blocking readers here, and the async reader of `msgframe-tokio`,
/// are this plus a way to wait for bytes.
///
/// ```
/// use std::io::Cursor;
/// use msgframe_codec::Framing;
/// use msgframe_io::ReadBuffer;
///
/// let mut buffer = ReadBuffer::new("lines".parse::<Framing>()?);
/// let mut stream = Cursor::new(&b"one\ntwo\n"[..]);
/// assert_eq!(buffer.next_message()?, None);      // nothing buffered yet
/// buffer.fill(&mut stream)?;                      // one read brings both lines
/// assert_eq!(&buffer.next_message()?.unwrap()[..], b"one");
/// assert_eq!(&buffer.next_message()?.unwrap()[..], b"two");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ReadBuffer<D> {
    decoder: D,
    buf: BytesMut,
    eof: bool,
}

impl<D: Decoder> ReadBuffer<D> {
    /// An empty buffer for `decoder`.
    pub fn new(decoder: D) -> Self {
        ReadBuffer {
            decoder,
            buf: BytesMut::new(),
            eof: false,
        }
    }

    /// The next whole message from what is already buffered, without any I/O: `Ok(None)` when more
    /// bytes are needed. After [`set_eof`](ReadBuffer::set_eof), [`Error::Closed`] once nothing is
    /// left, or [`Error::UnexpectedEof`] when a partial message is.
    ///
    /// # Errors
    /// As [`Error::from_decode`] sorts them, and `Closed` at the end.
    pub fn next_message(&mut self) -> Result<Option<Bytes>, Error> {
        let decoded = if self.eof {
            self.decoder.decode_eof(&mut self.buf)
        } else {
            self.decoder.decode(&mut self.buf)
        };
        match decoded {
            Ok(Some(frame)) => Ok(Some(frame)),
            Ok(None) if self.eof => Err(Error::Closed),
            Ok(None) => Ok(None),
            Err(e) => Err(Error::from_decode(e)),
        }
    }

    /// How many bytes the next read should ask for: 64 KiB, so that one read can bring many small
    /// messages or a good part of a large one.
    pub fn read_size(&self) -> usize {
        READ_SIZE
    }

    /// One `read` from `stream` into the buffer. `Ok(0)` records end-of-stream.
    ///
    /// # Errors
    /// The stream's error; nothing buffered is lost.
    pub fn fill(&mut self, stream: &mut impl Read) -> io::Result<usize> {
        let want = self.read_size();
        let len = self.buf.len();
        self.buf.resize(len + want, 0);
        let result = stream.read(&mut self.buf[len..]);
        let n = *result.as_ref().unwrap_or(&0);
        self.buf.truncate(len + n);
        if n == 0 && result.is_ok() {
            self.eof = true;
        }
        result
    }

    /// The buffer, for appending bytes read by other means (an async read, a test).
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// The bytes received but not yet returned as messages.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Records that the stream has ended: no more bytes will be appended.
    pub fn set_eof(&mut self) {
        self.eof = true;
    }

    /// Whether the stream has ended.
    pub fn is_eof(&self) -> bool {
        self.eof
    }

    /// The decoder.
    pub fn decoder(&self) -> &D {
        &self.decoder
    }

    /// The decoder and the bytes not yet returned as messages.
    pub fn into_parts(self) -> (D, BytesMut) {
        (self.decoder, self.buf)
    }
}

/// An encoder, a scratch buffer for heads, and the bytes of earlier messages not sent yet.
#[derive(Debug)]
pub(crate) struct WriteCore<E> {
    pub(crate) encoder: E,
    scratch: BytesMut,
    pub(crate) pending: BytesMut,
}

/// How a write loop reacts to an error that is not fatal by itself (would-block, timeout, EINTR).
pub(crate) trait Wait<S> {
    /// `Ok(())` to try again, `Err` to stop with that error.
    fn wait(&mut self, stream: &mut S, err: io::Error) -> Result<(), Error>;
}

impl<E: Encoder> WriteCore<E> {
    pub(crate) fn new(encoder: E) -> Self {
        WriteCore {
            encoder,
            scratch: BytesMut::new(),
            pending: BytesMut::new(),
        }
    }

    /// Sends the pending bytes. On error the unsent rest stays pending.
    pub(crate) fn send_pending<S: Write>(
        &mut self,
        stream: &mut S,
        wait: &mut impl Wait<S>,
    ) -> Result<(), Error> {
        while !self.pending.is_empty() {
            match stream.write(&self.pending) {
                Ok(0) => return Err(Error::Io(io::ErrorKind::WriteZero.into())),
                Ok(n) => self.pending.advance(n),
                Err(e) => wait.wait(stream, e)?,
            }
        }
        Ok(())
    }

    /// Frames `body` and sends it: one `write` of one buffer for small bodies, one vectored write of
    /// head, body and tail for large ones (more only when the kernel takes part of it). When `wait`
    /// gives up, the unsent rest goes to `pending` and its error is returned. An encoding error
    /// returns before anything is sent.
    pub(crate) fn send<S: Write>(
        &mut self,
        stream: &mut S,
        body: &[u8],
        wait: &mut impl Wait<S>,
    ) -> Result<(), Error> {
        self.scratch.clear();
        let mut parts: [&[u8]; 3] = if body.len() <= COPY_LIMIT {
            self.encoder
                .encode(body, &mut self.scratch)
                .map_err(Error::from_encode)?;
            [&self.scratch, &[], &[]]
        } else {
            self.encoder
                .encode_head(body, &mut self.scratch)
                .map_err(Error::from_encode)?;
            [&self.scratch, body, self.encoder.tail()]
        };
        let result = write_parts(stream, &mut parts, wait);
        if result.is_err() {
            for part in parts {
                self.pending.extend_from_slice(part);
            }
        }
        result
    }

    /// Frames `body` behind whatever is pending, without sending anything.
    pub(crate) fn queue(&mut self, body: &[u8]) -> Result<(), Error> {
        self.encoder
            .encode(body, &mut self.pending)
            .map_err(Error::from_encode)
    }
}

/// Writes all of `parts`, advancing them as the stream takes bytes.
fn write_parts<S: Write>(
    stream: &mut S,
    parts: &mut [&[u8]; 3],
    wait: &mut impl Wait<S>,
) -> Result<(), Error> {
    loop {
        let slices = [
            IoSlice::new(parts[0]),
            IoSlice::new(parts[1]),
            IoSlice::new(parts[2]),
        ];
        let first = parts.iter().position(|p| !p.is_empty());
        let Some(first) = first else { return Ok(()) };
        let written = if parts[first + 1..].iter().all(|p| p.is_empty()) {
            stream.write(parts[first])
        } else {
            stream.write_vectored(&slices[first..])
        };
        match written {
            Ok(0) => return Err(Error::Io(io::ErrorKind::WriteZero.into())),
            Ok(mut n) => {
                for part in parts.iter_mut() {
                    let take = n.min(part.len());
                    *part = &part[take..];
                    n -= take;
                }
            }
            Err(e) => wait.wait(stream, e)?,
        }
    }
}
