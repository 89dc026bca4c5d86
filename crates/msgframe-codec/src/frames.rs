//! Borrowed frames: walk a filled buffer and get `&[u8]` frames, with no reference count and no copy.
//!
//! Two walks: [`Frames`] ([`Parse::frames`]) over a buffer that more bytes may follow, and
//! [`StreamFrames`] over a whole stream held in memory, to its end, with each frame's offset.

use crate::{CodecError, Decoded, Decoder};

/// What is at the start of a buffer, as [`Parse::parse`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status<'a> {
    /// A whole frame: `frame` is what [`decode`](crate::Decoder::decode) would deliver (header
    /// stripped, delimiter removed, as configured), and `len` is how many bytes of the buffer the
    /// frame spans, header and delimiter included.
    Frame {
        /// The frame's bytes.
        frame: &'a [u8],
        /// The bytes of the buffer it spans.
        len: usize,
    },
    /// `len` bytes that deliver no frame: an empty frame skipped as a keepalive.
    Skip {
        /// The bytes to skip.
        len: usize,
    },
    /// No whole frame yet: at least `needed` more bytes, when the framing knows how many.
    Partial {
        /// How many more bytes the frame needs at least.
        needed: Option<usize>,
    },
}

/// Finding a frame in a borrowed buffer, without consuming anything: the zero-copy counterpart of
/// [`Decoder`](crate::Decoder), for users who parse each message in place and then drop it.
///
/// `parse` is pure: it keeps no state between calls, so it applies the same checks as `decode` but
/// not the stateful policies: an oversized frame is always an error here (never discarded), and
/// until-end-of-stream framing never finds a frame (its end is the stream's end, which a buffer
/// cannot show).
///
/// ```
/// use msgframe_codec::{Framing, Parse};
///
/// let framing: Framing = "be:2".parse()?;
/// let buf = b"\x00\x03one\x00\x03two\x00\x05thr"; // two frames and part of a third
/// let mut frames = framing.frames(buf);
/// assert_eq!(frames.next().transpose()?, Some(&b"one"[..]));
/// assert_eq!(frames.next().transpose()?, Some(&b"two"[..]));
/// assert_eq!(frames.next().transpose()?, None);
/// assert_eq!(frames.consumed(), 10); // drop these bytes from your buffer
/// assert_eq!(frames.needed(), Some(2)); // the third frame needs 2 more bytes
/// # Ok::<(), msgframe_codec::CodecError>(())
/// ```
pub trait Parse {
    /// Looks at the frame at the start of `buf`. `offset` is the stream offset of `buf[0]`, used in
    /// error messages.
    ///
    /// # Errors
    /// The same [`CodecError`]s `decode` returns for the same bytes; an oversized frame is always
    /// [`CodecError::FrameTooLong`] with `discarding: false`.
    fn parse<'a>(&self, buf: &'a [u8], offset: u64) -> Result<Status<'a>, CodecError>;

    /// The common case, answered without building a [`Status`]: a whole frame to deliver at the
    /// start of `buf`, as (start of the frame's bytes, their end, bytes of `buf` it spans).
    /// `None` for anything else, which [`parse`](Parse::parse) then sorts out. Framings with a
    /// cheap answer override it; iterating with [`frames`](Parse::frames) tries it first.
    #[inline(always)]
    fn whole_frame(&self, buf: &[u8]) -> Option<(usize, usize, usize)> {
        let _ = buf;
        None
    }

    /// An iterator over the whole frames at the start of `buf`.
    fn frames<'a>(&'a self, buf: &'a [u8]) -> Frames<'a, Self>
    where
        Self: Sized,
    {
        Frames::new(self, buf, 0)
    }
}

/// The whole frames at the start of a buffer, borrowed from it; see [`Parse::frames`].
///
/// The iterator stops at the first partial frame, or after yielding an error.
/// [`consumed`](Frames::consumed) tells how many bytes the frames (and skipped keepalives) took, so
/// the caller can drop them from its buffer.
#[derive(Debug, Clone)]
pub struct Frames<'a, P> {
    parser: &'a P,
    buf: &'a [u8],
    offset: u64,
    consumed: usize,
    needed: Option<usize>,
    done: bool,
}

impl<'a, P: Parse> Frames<'a, P> {
    /// Frames of `buf`, whose first byte is at stream offset `offset` (for error messages).
    pub fn new(parser: &'a P, buf: &'a [u8], offset: u64) -> Self {
        Frames {
            parser,
            buf,
            offset,
            consumed: 0,
            needed: None,
            done: false,
        }
    }

    /// How many bytes of the buffer the frames yielded so far (and skipped keepalives) span.
    pub fn consumed(&self) -> usize {
        self.consumed
    }

    /// The bytes after the frames yielded so far.
    pub fn remaining(&self) -> &'a [u8] {
        &self.buf[self.consumed..]
    }

    /// After the iterator has ended on a partial frame: how many more bytes it needs at least, when
    /// the framing knows.
    pub fn needed(&self) -> Option<usize> {
        self.needed
    }
}

impl<'a, P: Parse> Iterator for Frames<'a, P> {
    type Item = Result<&'a [u8], CodecError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if !self.done {
            let rest = &self.buf[self.consumed..];
            if let Some((start, end, len)) = self.parser.whole_frame(rest) {
                self.consumed += len;
                return rest.get(start..end).map(Ok);
            }
        }
        while !self.done {
            let rest = &self.buf[self.consumed..];
            match self.parser.parse(rest, self.offset + self.consumed as u64) {
                Ok(Status::Frame { frame, len }) => {
                    self.consumed += len;
                    return Some(Ok(frame));
                }
                Ok(Status::Skip { len }) => self.consumed += len,
                Ok(Status::Partial { needed }) => {
                    self.needed = needed;
                    self.done = true;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

impl<P: Parse> core::iter::FusedIterator for Frames<'_, P> {}

/// A frame of a whole stream, with where it is; see [`StreamFrames`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamFrame<'a> {
    /// Stream offset where the frame starts: where the frame before it ended (0 for the first).
    /// Bytes that delivered nothing in between (a skipped keepalive) count as this frame's.
    pub offset: usize,
    /// How many bytes of the stream the frame spans, header, trailer and delimiter included.
    pub len: usize,
    /// The frame, as [`decode`](crate::Decoder::decode) would deliver it (header stripped,
    /// delimiter removed, as configured).
    pub frame: &'a [u8],
}

impl StreamFrame<'_> {
    /// Where the next frame starts: `offset + len`.
    pub fn end(&self) -> usize {
        self.offset + self.len
    }
}

/// Where and why a whole stream stops being frames; see [`StreamFrames`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stopped at stream offset {offset}: {error}")]
pub struct StreamError {
    /// Stream offset where the stream stops being whole frames: where the last good frame ended
    /// (0 when there was none). The bytes from here on are the invalid or cut-short frame.
    pub offset: usize,
    /// What the decoder found there: [`CodecError::UnexpectedEof`] when the stream ends inside a
    /// frame ([`is_truncated`](StreamError::is_truncated)), another decoding error when the bytes
    /// are not a valid frame.
    #[source]
    pub error: CodecError,
}

impl StreamError {
    /// Whether the stream merely ends inside a frame (cut short), rather than holding an invalid
    /// one.
    pub fn is_truncated(&self) -> bool {
        matches!(self.error, CodecError::UnexpectedEof { .. })
    }
}

/// The frames of a whole stream held in memory (a capture, a file), each with its stream offset,
/// borrowed from it; the walk ends at the end of the stream, or with a [`StreamError`] naming the
/// offset where the stream stops being valid frames.
///
/// Unlike [`Frames`], this walk decodes with a [`Decoder`] and knows that the stream ends where the
/// slice ends: every framing works, until-end-of-stream (`eof`) and `eof=deliver` included, and a
/// stream cut inside a frame ends the walk with [`CodecError::UnexpectedEof`]. Give it a decoder
/// that has not decoded yet, so that the offsets in its errors are offsets in this stream. The walk
/// stops at the first error, resumable or not (an oversized frame with `oversize=discard` too).
///
/// ```
/// use msgframe_codec::{Framing, StreamFrames};
///
/// let framing: Framing = "be:2".parse()?;
/// let stream = b"\x00\x03one\x00\x03two\x00\x05thr"; // two frames and part of a third
/// let mut frames = StreamFrames::new(framing, stream);
///
/// let first = frames.next().unwrap()?;
/// assert_eq!((first.offset, first.len, first.frame), (0, 5, &b"one"[..]));
/// let second = frames.next().unwrap()?;
/// assert_eq!((second.offset, second.len, second.frame), (5, 5, &b"two"[..]));
///
/// let end = frames.next().unwrap().unwrap_err();
/// assert_eq!(end.offset, 10);
/// assert!(end.is_truncated());
/// assert!(frames.next().is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct StreamFrames<'a, D> {
    walk: ArrivingFrames<D>,
    stream: &'a [u8],
}

impl<'a, D: Decoder> StreamFrames<'a, D> {
    /// The frames of `stream`, the whole of a stream (nothing follows it), decoded by `decoder`.
    pub fn new(decoder: D, stream: &'a [u8]) -> Self {
        StreamFrames {
            walk: ArrivingFrames::new(decoder),
            stream,
        }
    }

    /// Where the next frame starts: the end of the last frame yielded, or 0.
    pub fn offset(&self) -> usize {
        self.walk.offset()
    }
}

impl<'a, D: Decoder> Iterator for StreamFrames<'a, D> {
    type Item = Result<StreamFrame<'a>, StreamError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.walk.next(self.stream, 0, true)
    }
}

/// The frames of a stream whose bytes arrive over time (a pipe, a capture read as it is made):
/// the walk of [`StreamFrames`], given the bytes as they come. Each call to
/// [`next`](ArrivingFrames::next) takes the stream's bytes so far (from any offset up to
/// [`consumed`](ArrivingFrames::consumed): the bytes before it are no longer needed) and yields
/// the next whole frame, or `None` until more bytes come; told that the stream has ended, it ends
/// as [`StreamFrames`] does over the whole stream, with the same frames, offsets and errors
/// however the bytes were cut.
///
/// ```
/// use msgframe_codec::{ArrivingFrames, Framing};
///
/// let framing: Framing = "be:2".parse()?;
/// let mut walk = ArrivingFrames::new(framing);
/// let mut kept = b"\x00\x03one\x00\x03t".to_vec(); // the bytes so far, from `base` on
/// let mut base = 0;
/// let first = walk.next(&kept, base, false).unwrap()?;
/// assert_eq!((first.offset, first.frame), (0, &b"one"[..]));
/// assert!(walk.next(&kept, base, false).is_none()); // "t": wait for more
///
/// // Let go of what was used, and give the rest with what came since.
/// kept.drain(..walk.consumed() - base);
/// base = walk.consumed();
/// kept.extend_from_slice(b"wo");
/// let second = walk.next(&kept, base, false).unwrap()?;
/// assert_eq!((second.offset, second.frame), (5, &b"two"[..]));
/// assert!(walk.next(&kept, base, true).is_none()); // the end, every byte in a frame
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ArrivingFrames<D> {
    decoder: D,
    /// Where the next frame starts.
    offset: usize,
    /// The next byte for the decoder: past `offset` by what it took without a frame yet.
    at: usize,
    done: bool,
}

impl<D: Decoder> ArrivingFrames<D> {
    /// A walk from the start of a stream, decoded by `decoder` (one that has not decoded yet, so
    /// that the offsets in its errors are offsets in this stream).
    pub fn new(decoder: D) -> Self {
        ArrivingFrames {
            decoder,
            offset: 0,
            at: 0,
            done: false,
        }
    }

    /// Where the next frame starts: the end of the last frame yielded, or 0.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// How many of the stream's bytes the decoder has taken: the bytes before this offset are no
    /// longer needed, the next call needs those from here on.
    pub fn consumed(&self) -> usize {
        self.at
    }

    /// Whether the walk has ended: the stream ended, or stopped being valid frames.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The next frame, given `data`, the stream's bytes from offset `base` on, up to where they
    /// have arrived; `ended` when no more bytes follow them. `None` when what is there holds no
    /// whole frame yet (call again with more bytes), or, once the stream has ended (or after an
    /// error), when the walk is over. An error ends the walk, as [`StreamFrames`]'s do.
    ///
    /// # Panics
    /// When `data` does not hold the stream's bytes from [`consumed`](Self::consumed) on:
    /// `base` past it, or `data` ending before it.
    pub fn next<'a>(
        &mut self,
        data: &'a [u8],
        base: usize,
        ended: bool,
    ) -> Option<Result<StreamFrame<'a>, StreamError>> {
        if self.done {
            return None;
        }
        let len = base + data.len();
        assert!(
            base <= self.at && self.at <= len,
            "ArrivingFrames::next: given the stream from offset {base} to {len}, needs it from {}",
            self.at
        );
        let offset = self.offset;
        // As a reader would: decode what is there, and only when that finds no whole frame and
        // the stream has ended, tell the decoder so.
        let mut at_end = false;
        loop {
            let from = self.at - base;
            let rest = &data[from..];
            let found = if at_end {
                self.decoder.decode_slice_eof(rest)
            } else {
                self.decoder.decode_slice(rest)
            };
            match found {
                Ok(Decoded::Frame {
                    start,
                    end,
                    consumed,
                }) => {
                    self.at += consumed;
                    self.offset = self.at;
                    return Some(Ok(StreamFrame {
                        offset,
                        len: self.at - offset,
                        frame: &rest[start..end],
                    }));
                }
                Ok(Decoded::Skip { consumed }) => self.at += consumed,
                Ok(Decoded::Partial { consumed }) => {
                    self.at += consumed;
                    if !ended {
                        return None;
                    }
                    if at_end || self.at == len {
                        self.done = true;
                        return None;
                    }
                    at_end = true;
                }
                Err(error) => {
                    self.done = true;
                    return Some(Err(StreamError { offset, error }));
                }
            }
        }
    }
}

impl<D: Decoder> core::iter::FusedIterator for StreamFrames<'_, D> {}
