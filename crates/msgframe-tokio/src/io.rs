//! Async message readers and writers with whole-message deadlines.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use msgframe_codec::{Decoder, Encoder};
use msgframe_io::ReadBuffer;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::Error;

/// Reads whole messages from an [`AsyncRead`], optionally within a deadline for the whole message.
///
/// Cancel-safe: bytes already read stay buffered when the future is dropped, so a
/// `tokio::time::timeout` (or [`read_message_timeout`](MessageReader::read_message_timeout)) that
/// fires in the middle of a message loses nothing, and the next call continues it. One read may bring
/// several messages; later calls take them from the buffer without reading.
///
/// ```
/// use std::time::Duration;
/// use tokio::io::AsyncWriteExt;
/// use msgframe_tokio::MessageReader;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (mut peer, stream) = tokio::io::duplex(64);
/// let mut reader = MessageReader::new(stream, "ascii:4".parse::<msgframe_codec::Framing>()?);
///
/// peer.write_all(b"0005he").await?;
/// let err = reader.read_message_timeout(Duration::from_millis(50)).await.unwrap_err();
/// assert!(err.is_retryable()); // timed out, "he" kept
/// peer.write_all(b"llo").await?;
/// assert_eq!(&reader.read_message().await?[..], b"hello");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct MessageReader<R, D> {
    reader: R,
    buffer: ReadBuffer<D>,
}

impl<R: AsyncRead + Unpin, D: Decoder> MessageReader<R, D> {
    /// A reader of messages framed by `decoder`.
    pub fn new(reader: R, decoder: D) -> Self {
        MessageReader {
            reader,
            buffer: ReadBuffer::new(decoder),
        }
    }

    /// Reads one whole message.
    ///
    /// # Errors
    /// [`Error::Closed`] at a clean end of stream; see [`Error`] for the rest. Cancel-safe.
    pub fn read_message(&mut self) -> impl Future<Output = Result<Bytes, Error>> + '_ {
        ReadMessage { reader: self }
    }

    /// Reads one message and lends it from the read buffer: no allocation, no copy, no reference
    /// count. It stays valid until the next call on the reader. Cancel-safe.
    ///
    /// ```
    /// use tokio::io::AsyncWriteExt;
    /// use msgframe_tokio::MessageReader;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut peer, stream) = tokio::io::duplex(64);
    /// let mut reader = MessageReader::new(stream, "be:2".parse::<msgframe_codec::Framing>()?);
    /// peer.write_all(b"\x00\x040800\x00\x040810").await?;
    /// assert_eq!(reader.read_ref().await?, b"0800");
    /// assert_eq!(reader.read_ref().await?, b"0810");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`read_message`](Self::read_message).
    pub fn read_ref(&mut self) -> impl Future<Output = Result<&[u8], Error>> + '_ {
        ReadRef { reader: Some(self) }
    }

    /// Reads until at least one message is whole, then lends every whole message buffered to `f`,
    /// in order, and returns how many: the fastest way to consume a stream of small messages (no
    /// allocation, no copy, no per-message call overhead). Cancel-safe: a cancelled call has lent
    /// nothing. An error found after some messages were lent is returned by the next call.
    ///
    /// # Errors
    /// As [`read_message`](Self::read_message).
    pub async fn read_each(&mut self, mut f: impl FnMut(&[u8])) -> Result<usize, Error> {
        loop {
            let lent = self.buffer.for_each_buffered(&mut f)?;
            if lent > 0 {
                return Ok(lent);
            }
            self.fill().await?;
        }
    }

    /// One read into the buffer, as [`fill`](Self::fill), polled by hand.
    #[inline]
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<usize, Error>> {
        let mut room = ReadBuf::new(self.buffer.unfilled_mut());
        ready!(Pin::new(&mut self.reader).poll_read(cx, &mut room))?;
        let n = room.filled().len();
        self.buffer.filled(n);
        Poll::Ready(Ok(n))
    }

    /// One read into the buffer; returns how many bytes came (0 at end of stream, which the next
    /// [`try_message`](Self::try_message) reports). Cancel-safe: bytes are recorded as soon as the
    /// read returns. With `try_message`, it lets a caller see bytes arrive before a message is
    /// whole (a server starting a per-message deadline at the first byte).
    ///
    /// # Errors
    /// An I/O error.
    pub async fn fill(&mut self) -> Result<usize, Error> {
        std::future::poll_fn(|cx| self.poll_fill(cx)).await
    }

    /// A whole message already buffered, without reading.
    ///
    /// # Errors
    /// As [`read_message`](Self::read_message): [`Error::Closed`] or [`Error::UnexpectedEof`]
    /// once [`fill`](Self::fill) has seen the end of the stream.
    pub fn try_message(&mut self) -> Result<Option<Bytes>, Error> {
        self.buffer.next_message()
    }

    /// Whether no part of a message is buffered.
    pub fn is_between_messages(&self) -> bool {
        self.buffer.is_between_messages()
    }

    /// Frees the read buffer when it holds no bytes, for a connection that will sit idle for long
    /// (see [`ReadBuffer::release_idle_block`]).
    pub fn release_idle_buffer(&mut self) -> bool {
        self.buffer.release_idle_block()
    }

    /// Takes the read block out when it holds no bytes, for a pool of blocks shared by many
    /// mostly idle connections: see [`ReadBuffer::take_idle_block`].
    pub fn take_idle_block(&mut self) -> Option<BytesMut> {
        self.buffer.take_idle_block()
    }

    /// Gives a reader that has no read block one to read into: see [`ReadBuffer::put_block`].
    ///
    /// # Errors
    /// `block` itself, when the reader has a block.
    pub fn put_block(&mut self, block: BytesMut) -> Result<(), BytesMut> {
        self.buffer.put_block(block)
    }

    /// Whether the reader holds a read block.
    pub fn has_block(&self) -> bool {
        self.buffer.has_block()
    }

    /// Reads one whole message within `timeout`. On timeout the partial message stays buffered.
    ///
    /// # Errors
    /// [`Error::TimedOut`] with the bytes buffered, or as [`read_message`](Self::read_message).
    pub async fn read_message_timeout(&mut self, timeout: Duration) -> Result<Bytes, Error> {
        let start = Instant::now();
        match tokio::time::timeout(timeout, self.read_message()).await {
            Ok(result) => result,
            Err(_) => Err(Error::TimedOut {
                buffered: self.buffer.buffered().len(),
                elapsed_ms: start.elapsed().as_millis() as u64,
                writing: false,
            }),
        }
    }

    /// The bytes received but not yet returned as messages.
    pub fn buffered(&self) -> &[u8] {
        self.buffer.buffered()
    }

    /// The decoder.
    pub fn decoder(&self) -> &D {
        self.buffer.decoder()
    }

    /// The stream.
    pub fn get_ref(&self) -> &R {
        &self.reader
    }

    /// The stream, mutably. Reading from it directly would take bytes away from the reader.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    /// The stream, and the bytes received but not yet returned as messages.
    pub fn into_parts(self) -> (R, BytesMut) {
        (self.reader, self.buffer.into_parts().1)
    }
}

/// The future of [`MessageReader::read_ref`], polled by hand: the lent message borrows the reader
/// for as long as the future did, which an `async` block cannot express without a second lookup.
struct ReadRef<'a, R, D> {
    /// `None` once the future has returned.
    reader: Option<&'a mut MessageReader<R, D>>,
}

impl<'a, R: AsyncRead + Unpin, D: Decoder> Future for ReadRef<'a, R, D> {
    type Output = Result<&'a [u8], Error>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let reader = self
            .reader
            .take()
            .expect("ReadRef polled after it returned");
        loop {
            if reader.buffer.next_lent()?.is_some() {
                break;
            }
            match reader.poll_fill(cx) {
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending => {
                    self.reader = Some(reader);
                    return Poll::Pending;
                }
            }
        }
        // Found by the last `next_lent`: lent again, for the lifetime of the borrow.
        let reader: &'a MessageReader<R, D> = reader;
        Poll::Ready(Ok(reader.buffer.lent().unwrap_or_default()))
    }
}

/// The future of [`MessageReader::read_message`], polled by hand (see [`ReadRef`]).
struct ReadMessage<'a, R, D> {
    reader: &'a mut MessageReader<R, D>,
}

impl<R: AsyncRead + Unpin, D: Decoder> Future for ReadMessage<'_, R, D> {
    type Output = Result<Bytes, Error>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            if let Some(message) = self.reader.buffer.next_message()? {
                return Poll::Ready(Ok(message));
            }
            ready!(self.reader.poll_fill(cx))?;
        }
    }
}

/// Writes whole messages to an [`AsyncWrite`], each framed into one buffer and written with one
/// write (more only when the kernel takes part of it).
///
/// Cancel-safe, and nothing is lost silently: a message is either **taken** (it will be sent
/// before any later message, or the connection fails) or **refused** with [`Error::NotSent`]
/// (nothing of it was sent or kept). When the future is dropped (a timeout) after the message was
/// taken, its unsent rest stays buffered and goes out first on the next call, so the stream stays
/// well framed; do not write the same message again. Unsent bytes are bounded: a message is
/// taken behind earlier unsent bytes only while they stay within
/// [`max_pending`](MessageWriter::with_max_pending) (64 KiB by default); otherwise the call first
/// waits for them to go out.
#[derive(Debug)]
pub struct MessageWriter<W, E> {
    writer: W,
    encoder: E,
    out: BytesMut,
    max_pending: usize,
    /// How many messages were taken: lets a timed-out call tell whether its message was.
    taken: u64,
}

impl<W: AsyncWrite + Unpin, E: Encoder> MessageWriter<W, E> {
    /// The default bound on bytes kept unsent behind which a new message may be taken: 64 KiB.
    pub const DEFAULT_MAX_PENDING: usize = 64 * 1024;

    /// A writer of messages framed by `encoder`.
    pub fn new(writer: W, encoder: E) -> Self {
        MessageWriter {
            writer,
            encoder,
            out: BytesMut::new(),
            max_pending: Self::DEFAULT_MAX_PENDING,
            taken: 0,
        }
    }

    /// Sets how many unsent bytes a new message may be queued behind; with more, a call first
    /// sends them. The buffer then never holds more than this plus one message.
    pub fn with_max_pending(mut self, max: usize) -> Self {
        self.max_pending = max;
        self
    }

    /// Frames `body` and writes it, after anything left from an interrupted call, then flushes.
    ///
    /// If the future is dropped before the message was taken (while earlier unsent bytes were
    /// going out), nothing of it was sent or kept; [`write_message_timeout`](Self::write_message_timeout)
    /// says which happened.
    ///
    /// # Errors
    /// [`Error::TooLong`] or [`Error::Message`] when `body` cannot be framed (nothing is written), or
    /// an I/O error.
    pub async fn write_message(&mut self, body: &[u8]) -> Result<(), Error> {
        let framed = self.encoder.framed_len(body.len());
        while !self.out.is_empty() && self.out.len() + framed > self.max_pending {
            self.write_some().await?;
        }
        // No await between this check and taking the message: a cancelled call either took it
        // whole or not at all.
        self.encoder
            .encode(body, &mut self.out)
            .map_err(Error::from_encode)?;
        self.taken += 1;
        self.flush().await
    }

    /// Like [`write_message`](Self::write_message), within `timeout`.
    ///
    /// # Errors
    /// [`Error::TimedOut`] when the message was taken but not all sent in time (the unsent rest is
    /// kept for the next call); [`Error::NotSent`] when earlier unsent bytes could not be sent in
    /// time, so the message was not taken; or as `write_message`.
    pub async fn write_message_timeout(
        &mut self,
        body: &[u8],
        timeout: Duration,
    ) -> Result<(), Error> {
        let start = Instant::now();
        let taken = self.taken;
        match tokio::time::timeout(timeout, self.write_message(body)).await {
            Ok(result) => result,
            Err(_) if self.taken == taken => Err(Error::NotSent {
                pending: self.out.len(),
            }),
            Err(_) => Err(Error::TimedOut {
                buffered: self.out.len(),
                elapsed_ms: start.elapsed().as_millis() as u64,
                writing: true,
            }),
        }
    }

    /// Frames `body` into the write buffer behind any unsent bytes, without writing anything:
    /// [`flush`](Self::flush) sends it. For a task that writes while it waits for other things
    /// (`flush` is cancel-safe: dropped, it keeps what is unsent for the next call).
    ///
    /// # Errors
    /// [`Error::TooLong`] or [`Error::Message`] when `body` cannot be framed (nothing is kept).
    pub fn start_message(&mut self, body: &[u8]) -> Result<(), Error> {
        self.encoder
            .encode(body, &mut self.out)
            .map_err(Error::from_encode)?;
        self.taken += 1;
        Ok(())
    }

    /// One write of buffered bytes.
    async fn write_some(&mut self) -> Result<(), Error> {
        if self.writer.write_buf(&mut self.out).await? == 0 {
            return Err(Error::Io(std::io::ErrorKind::WriteZero.into()));
        }
        Ok(())
    }

    /// Writes whatever is left from an interrupted call, and flushes. Cancel-safe: dropped before
    /// it finishes, the bytes not yet written stay buffered.
    ///
    /// # Errors
    /// An I/O error.
    pub async fn flush(&mut self) -> Result<(), Error> {
        while !self.out.is_empty() {
            self.write_some().await?;
        }
        self.writer.flush().await?;
        Ok(())
    }

    /// Bytes not yet written (after an interrupted call).
    pub fn pending(&self) -> usize {
        self.out.len()
    }

    /// Frees the write buffer when nothing is pending, for a connection that will sit idle for
    /// long; returns whether it did. The next message allocates what it needs.
    pub fn release_idle_buffer(&mut self) -> bool {
        if !self.out.is_empty() {
            return false;
        }
        self.out = BytesMut::new();
        true
    }

    /// Sends what is left, then shuts down the write half so the peer reads end-of-stream: how a
    /// short connection ends a message framed until end-of-stream.
    ///
    /// # Errors
    /// An I/O error.
    pub async fn shutdown(&mut self) -> Result<(), Error> {
        self.flush().await?;
        self.writer.shutdown().await?;
        Ok(())
    }

    /// The encoder.
    pub fn encoder(&self) -> &E {
        &self.encoder
    }

    /// The stream.
    pub fn get_ref(&self) -> &W {
        &self.writer
    }

    /// The stream, mutably. Writing to it directly would break the framing.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.writer
    }

    /// The stream. Bytes not yet written are dropped: call `flush` first.
    pub fn into_inner(self) -> W {
        self.writer
    }

    /// A writer over `writer` that frames into `buffer` (emptied first): a caller that makes a
    /// writer per message, borrowing the stream, keeps one buffer instead of allocating one each
    /// time.
    pub fn with_buffer(writer: W, encoder: E, mut buffer: BytesMut) -> Self {
        buffer.clear();
        let mut w = MessageWriter::new(writer, encoder);
        w.out = buffer;
        w
    }

    /// The stream and the write buffer (with any bytes not yet written).
    pub fn into_parts(self) -> (W, BytesMut) {
        (self.writer, self.out)
    }
}
