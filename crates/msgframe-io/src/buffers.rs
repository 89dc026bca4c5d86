//! What the blocking and non-blocking adapters share: moving bytes between a stream and buffers.
//! No framing logic lives here; the codec decides where messages end.

use std::io::{self, IoSlice, Read, Write};

use bytes::{Buf, Bytes, BytesMut};
use msgframe_codec::{copy_frame, share_frame, Decoded, Decoder, Encoder};

use crate::Error;

/// The size a read block grows to: one read can bring many small messages, or a good part of a
/// large one. The block is zeroed once, when it is allocated (this crate has no unsafe code), and
/// reused.
const READ_SIZE: usize = 64 * 1024;
/// The size of a reader's first block. A block doubles, up to [`READ_SIZE`], each time a read fills
/// all the room it was given: a connection that exchanges a few small messages (most short
/// connections) never allocates and zeroes 64 KiB, and a busy one reaches it after three reads.
const FIRST_BLOCK: usize = 8 * 1024;
/// When less room than this is left after the buffered bytes, they are moved to the front of the
/// block (or the block grows) before the next read.
const MIN_ROOM: usize = 4 * 1024;
/// Messages whose body is at most this long are copied behind their head into one buffer and
/// written with one `write`; longer ones go out as one vectored write of head, body and tail.
const COPY_LIMIT: usize = 16 * 1024;

/// A decoder and the bytes it has not consumed yet: the state every reader needs, whatever moves
/// the bytes. The blocking and non-blocking readers here, and the async reader of `msgframe-tokio`,
/// are this plus a way to wait for bytes.
///
/// Reads go into a block that is reused (8 KiB at first, growing to 64 KiB while reads fill it);
/// a block is zeroed once, when it is allocated, never per read. Messages come out
/// in one of two ways:
///
/// - **owned** ([`next_message`](ReadBuffer::next_message)): a [`Bytes`] that the application may
///   keep. A message is copied into an allocation of its own size unless it is larger than
///   [`COPY_MAX`](msgframe_codec::COPY_MAX) and fills at least half of its block: keeping a message
///   never keeps more than twice its size. A message larger than a 64 KiB block is read into a
///   block sized for it (when the framing knows its length) and handed over without a copy.
/// - **lent** ([`next_lent`](ReadBuffer::next_lent)): a `&[u8]` into the read block, valid until
///   the next call: no allocation, no copy, no reference count.
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
/// assert_eq!(buffer.next_lent()?, Some(&b"two"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ReadBuffer<D> {
    decoder: D,
    /// The read block. Its length is the high-water mark: every byte of it has been initialised.
    block: BytesMut,
    /// The bytes received and not yet consumed are `block[start..end]`.
    start: usize,
    end: usize,
    /// The message lent by `next_lent`: where it is in the block, and the bytes it consumes, which
    /// are consumed on the next call that changes the buffer.
    lent: Option<(usize, usize, usize)>,
    /// An error found after some messages of a batch were lent: reported by the next call.
    deferred: Option<Error>,
    /// Whether the block shares its allocation with a message handed over without a copy: it is
    /// then never handed over again, and replaced when it needs room.
    shared: bool,
    eof: bool,
    /// The size of the next ordinary block (see [`FIRST_BLOCK`]).
    block_size: usize,
    /// The room the last [`unfilled_mut`](Self::unfilled_mut) offered, when it was an ordinary
    /// read: a read that fills it grows the next block.
    offered: usize,
}

impl<D: Decoder> ReadBuffer<D> {
    /// An empty buffer for `decoder`. No memory is allocated until the first read.
    pub fn new(decoder: D) -> Self {
        ReadBuffer {
            decoder,
            block: BytesMut::new(),
            start: 0,
            end: 0,
            lent: None,
            deferred: None,
            shared: false,
            eof: false,
            block_size: FIRST_BLOCK,
            offered: 0,
        }
    }

    /// Consumes a message lent by the previous call.
    #[inline]
    fn return_lent(&mut self) {
        if let Some((_, _, consumed)) = self.lent.take() {
            self.start += consumed;
        }
    }

    /// Returns the lent message, then reports an error deferred by a batch: what every call that
    /// takes messages does first.
    #[inline(always)]
    fn settle(&mut self) -> Result<(), Error> {
        self.return_lent();
        // Checked before it is taken: no write of the (large) `Option<Error>` on every call.
        if self.deferred.is_some() {
            return Err(self.take_deferred());
        }
        Ok(())
    }

    /// The deferred error, out of line: it comes once per connection at most.
    #[cold]
    #[inline(never)]
    fn take_deferred(&mut self) -> Error {
        self.deferred.take().unwrap_or(Error::Closed)
    }

    /// Asks the decoder for the next frame, removing skipped bytes: `Ok(Some((start, end,
    /// consumed)))` relative to `self.start`, `Ok(None)` when there is none (more bytes are needed,
    /// or the stream has ended).
    #[inline(always)]
    fn step(&mut self) -> Result<Option<(usize, usize, usize)>, msgframe_codec::CodecError> {
        loop {
            let live = &self.block[self.start..self.end];
            let found = if self.eof {
                self.decoder.decode_slice_eof(live)?
            } else {
                self.decoder.decode_slice(live)?
            };
            match found {
                Decoded::Frame {
                    start,
                    end,
                    consumed,
                } => return Ok(Some((start, end, consumed))),
                Decoded::Skip { consumed } => self.start += consumed,
                Decoded::Partial { consumed } => {
                    self.start += consumed;
                    return Ok(None);
                }
            }
        }
    }

    /// The next frame, as [`step`](Self::step) finds it; [`Error::Closed`] when the stream has
    /// ended and nothing is left.
    #[inline(always)]
    fn find(&mut self) -> Result<Option<(usize, usize, usize)>, Error> {
        self.settle()?;
        match self.step().map_err(Error::from_decode)? {
            None if self.eof => Err(Error::Closed),
            found => Ok(found),
        }
    }

    /// The next whole message from what is already buffered, without any I/O: `Ok(None)` when more
    /// bytes are needed. After [`set_eof`](ReadBuffer::set_eof), [`Error::Closed`] once nothing is
    /// left, or [`Error::UnexpectedEof`] when a partial message is.
    ///
    /// # Errors
    /// As [`Error::from_decode`] sorts them, and `Closed` at the end.
    #[inline(always)]
    pub fn next_message(&mut self) -> Result<Option<Bytes>, Error> {
        let Some((start, end, consumed)) = self.find()? else {
            return Ok(None);
        };
        let (from, to) = (self.start + start, self.start + end);
        if self.shared || !share_frame(to - from, self.block.len()) {
            let message = copy_frame(&self.block[from..to]);
            self.start += consumed;
            return Ok(Some(message));
        }
        // A large message that fills at least half of the block: hand the block over with it.
        let mut head = self.block.split_to(to);
        head.advance(from);
        self.end -= to;
        self.start = self.start + consumed - to;
        self.shared = true;
        Ok(Some(head.freeze()))
    }

    /// Like [`next_message`](ReadBuffer::next_message), but the message is lent from the read
    /// buffer: no allocation and no copy. It stays valid until the next call that changes the
    /// buffer, which consumes it.
    ///
    /// # Errors
    /// As `next_message`.
    #[inline(always)]
    pub fn next_lent(&mut self) -> Result<Option<&[u8]>, Error> {
        Ok(self.lend()?.map(|(from, to)| &self.block[from..to]))
    }

    /// [`next_lent`](Self::next_lent) as the message's place in the block, for readers that lend
    /// it after a wait (see [`lent_at`](Self::lent_at)).
    #[inline(always)]
    pub(crate) fn lend(&mut self) -> Result<Option<(usize, usize)>, Error> {
        match self.find()? {
            Some((start, end, consumed)) => {
                let (from, to) = (self.start + start, self.start + end);
                self.lent = Some((from, to, consumed));
                Ok(Some((from, to)))
            }
            None => Ok(None),
        }
    }

    /// The message [`lend`](Self::lend) placed at `from..to`.
    #[inline(always)]
    pub(crate) fn lent_at(&self, from: usize, to: usize) -> &[u8] {
        &self.block[from..to]
    }

    /// Lends every whole message already buffered to `f`, in order, without any I/O, and returns how
    /// many. The fastest way to consume many small messages: no allocation, no copy, and no
    /// per-message call overhead. An error found after some messages were lent is returned by the
    /// next call instead, so that none of them is lost.
    ///
    /// ```
    /// use msgframe_codec::Framing;
    /// use msgframe_io::ReadBuffer;
    ///
    /// let mut buffer = ReadBuffer::new("be:2".parse::<Framing>()?);
    /// buffer.extend_from_slice(b"\x00\x01a\x00\x01b\x00\x05par");
    /// let mut seen = Vec::new();
    /// assert_eq!(buffer.for_each_buffered(|m| seen.push(m.to_vec()))?, 2);
    /// assert_eq!(seen, [b"a", b"b"]);
    /// assert_eq!(buffer.buffered(), b"\x00\x05par");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`next_message`](ReadBuffer::next_message), when no message was lent.
    #[inline]
    pub fn for_each_buffered(&mut self, mut f: impl FnMut(&[u8])) -> Result<usize, Error> {
        self.settle()?;
        if !self.eof {
            return self.for_each_live(f);
        }
        let mut lent = 0;
        loop {
            match self.step() {
                Ok(Some((start, end, consumed))) => {
                    f(&self.block[self.start + start..self.start + end]);
                    self.start += consumed;
                    lent += 1;
                }
                Ok(None) if self.eof && lent == 0 => return Err(Error::Closed),
                Ok(None) => return Ok(lent),
                Err(err) if lent == 0 => return Err(Error::from_decode(err)),
                Err(err) => {
                    self.deferred = Some(Error::from_decode(err));
                    return Ok(lent);
                }
            }
        }
    }

    /// [`for_each_buffered`](Self::for_each_buffered) before the end of the stream: the hot loop
    /// keeps the read position in a register and slices the buffered bytes once, instead of
    /// reading, slicing and writing back the buffer's fields for every message.
    #[inline(always)]
    fn for_each_live(&mut self, mut f: impl FnMut(&[u8])) -> Result<usize, Error> {
        let buffered = &self.block[..self.end];
        let mut at = self.start;
        let mut lent = 0;
        let result = loop {
            let live = &buffered[at..];
            match self.decoder.decode_slice(live) {
                Ok(Decoded::Frame {
                    start,
                    end,
                    consumed,
                }) => {
                    f(&live[start..end]);
                    at += consumed;
                    lent += 1;
                }
                Ok(Decoded::Skip { consumed }) => at += consumed,
                Ok(Decoded::Partial { consumed }) => {
                    at += consumed;
                    break Ok(lent);
                }
                Err(err) if lent == 0 => break Err(Error::from_decode(err)),
                Err(err) => {
                    self.deferred = Some(Error::from_decode(err));
                    break Ok(lent);
                }
            }
        };
        self.start = at;
        result
    }

    /// The message lent by the last [`next_lent`](ReadBuffer::next_lent), until the next call that
    /// changes the buffer.
    #[inline]
    pub fn lent(&self) -> Option<&[u8]> {
        self.lent.map(|(from, to, _)| &self.block[from..to])
    }

    /// Makes room for a read and returns it: the part of the read block after the buffered bytes.
    /// Write received bytes to its start, then call [`filled`](ReadBuffer::filled) with their count.
    ///
    /// The room is at least 4 KiB. For a message larger than a 64 KiB block, whose length the
    /// framing knows, the block grows with what has arrived (never more than doubling it, so a
    /// claimed length allocates nothing by itself) and ends exactly the message's size.
    pub fn unfilled_mut(&mut self) -> &mut [u8] {
        self.return_lent();
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        let live = self.end - self.start;
        let large = match self.decoder.bytes_wanted(live) {
            Some(wanted) if self.decoder.is_between_frames() && live + wanted > READ_SIZE => {
                Some(wanted.min(READ_SIZE.max(live)))
            }
            _ => None,
        };
        if self.block.len() - self.end < large.unwrap_or(MIN_ROOM) {
            self.make_room(live, large);
        }
        match large {
            Some(room) => {
                self.offered = 0;
                &mut self.block[self.end..self.end + room]
            }
            None => {
                self.offered = self.block.len() - self.end;
                &mut self.block[self.end..]
            }
        }
    }

    /// Moves the buffered bytes to the front of the block, or into a new block when this one is
    /// shared or too small: of the current block size (8 KiB growing to 64 KiB), or of
    /// `live + room` for a large message.
    #[cold]
    fn make_room(&mut self, live: usize, large: Option<usize>) {
        let size = match large {
            Some(room) => live + room,
            None => self.block_size.max(live + MIN_ROOM),
        };
        if !self.shared && self.block.len() >= size {
            self.block.copy_within(self.start..self.end, 0);
        } else {
            // Zeroed by the allocator (`alloc_zeroed`): large blocks come as fresh pages that need
            // no writing, where `resize` would write every byte.
            let mut block = vec![0; size];
            block[..live].copy_from_slice(&self.block[self.start..self.end]);
            self.block = BytesMut::from(Bytes::from(block));
            self.shared = false;
        }
        self.start = 0;
        self.end = live;
    }

    /// Records that `n` bytes were written to the start of [`unfilled_mut`](Self::unfilled_mut).
    /// `0` records end-of-stream.
    pub fn filled(&mut self, n: usize) {
        debug_assert!(self.end + n <= self.block.len());
        self.end = (self.end + n).min(self.block.len());
        if n == 0 {
            self.eof = true;
        } else if n == self.offered && self.block_size < READ_SIZE {
            // The read took all the room: more was probably waiting.
            self.block_size = (self.block_size * 2).min(READ_SIZE);
        }
    }

    /// One `read` from `stream` into the buffer. `Ok(0)` records end-of-stream.
    ///
    /// # Errors
    /// The stream's error; nothing buffered is lost.
    pub fn fill(&mut self, stream: &mut impl Read) -> io::Result<usize> {
        let n = stream.read(self.unfilled_mut())?;
        self.filled(n);
        Ok(n)
    }

    /// Appends bytes received by other means (a test, a capture).
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let room = self.unfilled_mut();
            let n = room.len().min(rest.len());
            room[..n].copy_from_slice(&rest[..n]);
            self.end += n;
            rest = &rest[n..];
        }
    }

    /// The bytes received but not yet returned as messages.
    pub fn buffered(&self) -> &[u8] {
        let lent = self.lent.map_or(0, |(_, _, consumed)| consumed);
        &self.block[self.start + lent..self.end]
    }

    /// Whether the reader is between messages: nothing buffered, and the decoder not inside a frame
    /// (not discarding one). Deadlines for the first byte of a message apply then.
    pub fn is_between_messages(&self) -> bool {
        self.buffered().is_empty() && self.decoder.is_between_frames()
    }

    /// Frees the read block when it holds no bytes, for connections that sit idle for long: the
    /// next read allocates one again. Returns whether it was freed.
    pub fn release_idle_block(&mut self) -> bool {
        self.return_lent();
        if self.start != self.end {
            return false;
        }
        self.block = BytesMut::new();
        self.start = 0;
        self.end = 0;
        self.shared = false;
        true
    }

    /// Takes the read block out when it holds no bytes and shares nothing with a message handed
    /// over, for a pool of blocks that many mostly idle connections take turns with: the next read
    /// gets its block from [`put_block`](Self::put_block), or allocates one. `None` when bytes are
    /// buffered, or there is no block to take.
    pub fn take_idle_block(&mut self) -> Option<BytesMut> {
        self.return_lent();
        if self.start != self.end || self.shared || self.block.is_empty() {
            return None;
        }
        self.start = 0;
        self.end = 0;
        Some(std::mem::take(&mut self.block))
    }

    /// Gives a buffer that has no block (see [`take_idle_block`](Self::take_idle_block)) one to
    /// read into: a block from [`take_idle_block`](Self::take_idle_block) of this or another
    /// buffer (its length is its room, every byte initialised). Gives `block` back when the buffer
    /// has a block already.
    ///
    /// # Errors
    /// `block` itself, when the buffer has a block.
    pub fn put_block(&mut self, block: BytesMut) -> Result<(), BytesMut> {
        self.return_lent();
        if !self.block.is_empty() || self.start != self.end {
            return Err(block);
        }
        self.block = block;
        self.start = 0;
        self.end = 0;
        self.shared = false;
        Ok(())
    }

    /// Whether the buffer has a read block (it has none before the first read and after
    /// [`release_idle_block`](Self::release_idle_block) or [`take_idle_block`](Self::take_idle_block)).
    pub fn has_block(&self) -> bool {
        !self.block.is_empty()
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
    pub fn into_parts(mut self) -> (D, BytesMut) {
        self.return_lent();
        let mut live = self.block.split_to(self.end);
        live.advance(self.start);
        (self.decoder, live)
    }
}

/// An encoder, a scratch buffer for heads, and the bytes of earlier messages not sent yet.
#[derive(Debug)]
pub(crate) struct WriteCore<E> {
    pub(crate) encoder: E,
    scratch: BytesMut,
    pub(crate) pending: BytesMut,
}

/// How a write loop paces itself: a check before every write (a deadline), and how it reacts to an
/// error that is not fatal by itself (would-block, timeout, EINTR).
pub(crate) trait Wait<S> {
    /// Called before every write: `Err` stops the loop with that error.
    fn before_write(&mut self, _stream: &mut S) -> Result<(), Error> {
        Ok(())
    }

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
            wait.before_write(stream)?;
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
        wait.before_write(stream)?;
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
