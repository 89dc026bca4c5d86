//! Borrowed frames: walk a filled buffer and get `&[u8]` frames, with no reference count and no copy.

use crate::CodecError;

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
