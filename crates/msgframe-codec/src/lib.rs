//! Sans-IO message framings over [`bytes::BytesMut`].
//!
//! A framing answers one question: where does one message end and the next begin on a byte stream?
//! Each framing here is a pure state machine over a buffer: feed it bytes, get whole frames. No I/O
//! happens in this crate; blocking, non-blocking and async readers move bytes from a socket into a
//! `BytesMut` and ask the framing, so every mode shares one implementation.
//!
//! | framing              | on the wire                                   | type              |
//! |----------------------|-----------------------------------------------|-------------------|
//! | length-prefixed      | `[before] length [after] body`                | [`LengthPrefixed`]|
//! | until end-of-stream  | `body` FIN                                    | [`UntilEof`]      |
//! | fixed length         | `body` (always n bytes)                       | [`FixedLength`]   |
//! | delimiter / lines    | `body delimiter`                              | [`Delimited`]     |
//! | netstring            | `length ':' body ','` (length in any width)   | [`Netstring`]     |
//!
//! [`Framing`] holds any of them, and [`FramingSpec`] is their short text form (`"bcd:2"`,
//! `"be:4,counts-header"`, `"lines"`), for configuration files and command lines.
//!
//! ```
//! use bytes::BytesMut;
//! use msgframe_codec::{Decoder, Encoder, Framing};
//!
//! let mut framing: Framing = "ascii:4".parse()?;
//! let mut wire = BytesMut::new();
//! framing.encode(b"0200 hello", &mut wire)?;
//! assert_eq!(&wire[..], b"00100200 hello");
//!
//! // Bytes arrive in pieces; a frame comes out once it is whole.
//! let mut buf = BytesMut::new();
//! buf.extend_from_slice(&wire[..6]);
//! assert_eq!(framing.decode(&mut buf)?, None);
//! buf.extend_from_slice(&wire[6..]);
//! assert_eq!(framing.decode(&mut buf)?.as_deref(), Some(&b"0200 hello"[..]));
//! # Ok::<(), msgframe_codec::CodecError>(())
//! ```
//!
//! Frames are [`Bytes`]: a frame of up to [`COPY_MAX`] bytes is copied out of the buffer into an
//! allocation of its own (cheaper than sharing it, and a kept small frame then never pins the
//! buffer), a larger one is split off without a copy and shares the buffer's allocation. A large
//! frame that arrives over several reads is gathered into an allocation sized for it, so that
//! keeping it keeps little else. For messages parsed in place and dropped,
//! [`Decoder::decode_slice`] says where the next frame is without taking it, and the [`Parse`] trait
//! walks a filled buffer and yields borrowed `&[u8]` frames, with no allocation at all;
//! [`StreamFrames`] walks a whole stream held in memory (a file, a capture) to its end, with each
//! frame's offset and the offset where the stream stops being valid frames, and
//! [`ArrivingFrames`] does the same walk over a stream whose bytes arrive over time. A header claiming more than the configured
//! maximum is refused before anything is reserved, and within the maximum buffer space is reserved
//! at most 64 KiB ahead of the bytes that have arrived: a peer's claimed length never allocates by
//! itself.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod delimited;
mod error;
mod fixed_length;
mod frames;
mod framing;
mod length_prefixed;
mod netstring;
pub mod sniff;
pub mod spec;
mod until_eof;

use bytes::{Buf, Bytes, BytesMut};

pub use delimited::{Delimited, DelimitedConfig, UnterminatedAtEof};
pub use error::{CodecError, FixedPart, Hex};
pub use fixed_length::FixedLength;
pub use frames::{ArrivingFrames, Frames, Parse, Status, StreamError, StreamFrame, StreamFrames};
pub use framing::Framing;
pub use length_prefixed::{
    EmptyForm, EmptyFrames, LengthCounts, LengthPrefixed, LengthPrefixedConfig, Oversize,
};
pub use msgframe_header as header;
pub use netstring::Netstring;
pub use spec::{FramingSpec, SpecError};
pub use until_eof::UntilEof;

/// The maximum frame length when none is configured: 8 MiB.
pub const DEFAULT_MAX_FRAME_LENGTH: usize = 8 * 1024 * 1024;

/// The most buffer space a decoder reserves beyond the bytes that have arrived, whatever length a
/// header claims: the buffer grows with what the peer sends, not with what it promises.
pub(crate) const RESERVE_AHEAD: usize = 64 * 1024;

/// Where a decoder found the next frame: positions in the buffer it was given, so that the caller
/// decides how to take the frame (lend it, copy it, split it off).
///
/// After a `Decoded`, the caller **must** remove the first `consumed` bytes from the front of its
/// buffer before the next call: the decoder has already counted them (in its stream offset and its
/// state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    /// A whole frame: its bytes are `buf[start..end]` (header stripped, delimiter or trailer removed,
    /// as configured). `consumed` covers the frame with its header and trailer, and any keepalives
    /// skipped before it.
    Frame {
        /// Where the frame's bytes start.
        start: usize,
        /// Where they end.
        end: usize,
        /// Bytes to remove from the front of the buffer.
        consumed: usize,
    },
    /// `consumed` bytes that deliver no frame (an empty frame skipped as a keepalive, the last bytes
    /// of an oversized frame being discarded): remove them and call again.
    Skip {
        /// Bytes to remove from the front of the buffer.
        consumed: usize,
    },
    /// No whole frame yet: wait for more bytes. `consumed` bytes deliver nothing and are to be
    /// removed first (bytes of an oversized frame being discarded); usually 0.
    Partial {
        /// Bytes to remove from the front of the buffer.
        consumed: usize,
    },
}

/// Turns buffered bytes into frames.
///
/// The core of a decoder is [`decode_slice`](Decoder::decode_slice): it looks at borrowed bytes and
/// says where the next frame is, updating the decoder's state as if the caller had removed the bytes
/// it reports consumed. [`decode`](Decoder::decode) builds on it for a [`BytesMut`]: it takes the
/// frame out of the buffer as a [`Bytes`] (a copy into an allocation of its own for frames up to
/// [`COPY_MAX`] bytes, so that a message kept by the application never pins a whole read buffer;
/// a zero-copy split for larger frames that fill most of the buffer's allocation) and removes the
/// consumed bytes.
///
/// Call `decode` whenever bytes were appended to the buffer: it removes and returns one whole frame,
/// or returns `Ok(None)` and leaves the partial frame in the buffer. Call it again until it returns
/// `None`: one read can hold many frames. When the stream has ended, call
/// [`decode_eof`](Decoder::decode_eof) instead until it returns `None`; bytes left that do not form
/// a frame are [`CodecError::UnexpectedEof`].
pub trait Decoder {
    /// Finds the next frame at the front of `buf`, without touching `buf`: see [`Decoded`] for
    /// what the caller must do next. An error leaves nothing to remove from `buf`.
    ///
    /// # Errors
    /// A [`CodecError`]; [`CodecError::is_resumable`] says whether decoding may go on.
    fn decode_slice(&mut self, buf: &[u8]) -> Result<Decoded, CodecError>;

    /// Like [`decode_slice`](Decoder::decode_slice), for a stream that has ended: no more bytes
    /// will come. `Partial` then means there is nothing left to deliver (it never asks to consume
    /// bytes: those come as `Skip`).
    ///
    /// # Errors
    /// As `decode_slice`, and [`CodecError::UnexpectedEof`] when bytes of an incomplete frame
    /// remain (or the stream ended inside a frame being discarded).
    fn decode_slice_eof(&mut self, buf: &[u8]) -> Result<Decoded, CodecError>;

    /// Removes one whole frame from the front of `buf`, if there is one.
    ///
    /// # Errors
    /// A [`CodecError`]; [`CodecError::is_resumable`] says whether decoding may go on.
    #[inline]
    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        decode_slow(self, buf, false)
    }

    /// The common case of [`decode`](Decoder::decode) alone: when the frame at the front of `buf`
    /// is whole and needs nothing but the framing's usual checks, removes it and returns it, as
    /// `decode` would (the same bytes, the same stream offsets). `None` otherwise — not whole
    /// yet, an error to report, bytes to skip, or a framing without this fast path — and then
    /// `decode` says what. It returns no error, so the caller's loop moves a 32-byte
    /// `Option<Bytes>` instead of a `Result` that carries a [`CodecError`]: for many small
    /// frames, a quarter of the time a frame (see BENCHMARKS.md).
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use msgframe_codec::{Decoder, Framing};
    ///
    /// let mut framing: Framing = "be:2".parse()?;
    /// let mut buf = BytesMut::from(&b"\x00\x02hi\x00\x03yo!\x00"[..]);
    /// let mut frames = Vec::new();
    /// loop {
    ///     while let Some(frame) = framing.decode_whole(&mut buf) {
    ///         frames.push(frame);
    ///     }
    ///     // Everything else: a partial frame (read more), an error, a frame to skip.
    ///     match framing.decode(&mut buf)? {
    ///         Some(frame) => frames.push(frame),
    ///         None => break,
    ///     }
    /// }
    /// assert_eq!(frames, [&b"hi"[..], &b"yo!"[..]]);
    /// assert_eq!(&buf[..], b"\x00");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    fn decode_whole(&mut self, buf: &mut BytesMut) -> Option<Bytes> {
        let _ = buf;
        None
    }

    /// Like [`decode`](Decoder::decode), for a stream that has ended: no more bytes will come.
    ///
    /// # Errors
    /// As `decode`, and [`CodecError::UnexpectedEof`] when bytes of an incomplete frame remain.
    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        decode_slow(self, buf, true)
    }

    /// How many more bytes the frame being decoded needs, when the framing knows it (length-prefixed:
    /// the rest of the header, then the rest of the frame; fixed length), given `buffered` bytes in the
    /// buffer. `None` when it cannot know (delimiters, until-EOF). Readers use it to size their reads
    /// so that a whole frame can arrive in one `read`.
    fn bytes_wanted(&self, buffered: usize) -> Option<usize> {
        let _ = buffered;
        None
    }

    /// Whether the decoder is between frames, given an empty buffer: `false` while it is inside a
    /// frame whose bytes it has consumed (an oversized frame being discarded). Readers use it to
    /// tell an idle connection from one in the middle of a message (deadlines, end-of-stream).
    fn is_between_frames(&self) -> bool {
        true
    }

    /// How many bytes of the stream the decoder has consumed: the offset its errors name for the
    /// next byte it is given. 0 for framings that count no offsets.
    fn stream_offset(&self) -> u64 {
        0
    }

    /// Makes a fresh decoder continue a stream at `offset` (from [`stream_offset`](Decoder::stream_offset)
    /// of the decoder it replaces, between frames), so that its errors keep naming offsets in the
    /// whole stream: a connection put aside while idle keeps only this number, not its decoder.
    fn continue_at(&mut self, offset: u64) {
        let _ = offset;
    }
}

/// Frames up to this many bytes are copied out of the read buffer into an allocation of their own by
/// [`Decoder::decode`] and the readers built on it: below it a copy costs less than sharing the
/// buffer (measured: BENCHMARKS.md), and a kept message then costs its own size, never a whole read
/// buffer. Larger frames are split off without a copy.
///
/// What a kept large frame pins is the allocation it was split from. [`Decoder::decode`] gathers a
/// frame of more than `COPY_MAX` bytes that is still incomplete into an allocation sized for it
/// (at most twice its size), and the readers hand over a block only when the message fills at
/// least half of it; a frame that arrived whole in a larger buffer shares that buffer, as
/// `tokio_util`'s codecs do (copy it with [`copy_frame`] to keep it apart).
pub const COPY_MAX: usize = 2 * 1024;

/// Whether a frame of `len` bytes in an allocation of `allocation` bytes (the whole allocation, not
/// what [`BytesMut::capacity`] says, which is the room from the buffer's current position) may be
/// shared rather than copied: it is above [`COPY_MAX`], and keeping it keeps at most twice its size.
#[inline]
pub fn share_frame(len: usize, allocation: usize) -> bool {
    len > COPY_MAX && allocation / 2 <= len
}

/// Takes `buf[start..end]` out of `buf` as a [`Bytes`] and removes the first `consumed` bytes, as
/// [`Decoder::decode`] does after [`Decoded::Frame`]: a copy for frames up to [`COPY_MAX`] bytes, a
/// zero-copy split for larger ones.
#[inline(always)]
pub fn take_frame(buf: &mut BytesMut, start: usize, end: usize, consumed: usize) -> Bytes {
    if end - start <= COPY_MAX {
        let frame = copy_frame(&buf[start..end]);
        buf.advance(consumed);
        frame
    } else {
        split_frame(buf, start, end, consumed)
    }
}

/// A frame copied into an allocation of exactly its size, which it owns alone.
#[inline(always)]
pub fn copy_frame(frame: &[u8]) -> Bytes {
    Bytes::from(Box::<[u8]>::from(frame))
}

/// [`take_frame`] for a frame above [`COPY_MAX`]: split off without a copy.
#[inline(never)]
fn split_frame(buf: &mut BytesMut, start: usize, end: usize, consumed: usize) -> Bytes {
    buf.advance(start);
    let frame = buf.split_to(end - start).freeze();
    buf.advance(consumed - end);
    frame
}

/// [`Decoder::decode`] (or `decode_eof`) through [`Decoder::decode_slice`], out of line: the one
/// place that turns positions into taken frames for a [`BytesMut`].
#[inline(never)]
pub(crate) fn decode_slow<D: Decoder + ?Sized>(
    decoder: &mut D,
    buf: &mut BytesMut,
    eof: bool,
) -> Result<Option<Bytes>, CodecError> {
    loop {
        let found = if eof {
            decoder.decode_slice_eof(buf)?
        } else {
            decoder.decode_slice(buf)?
        };
        match found {
            Decoded::Frame {
                start,
                end,
                consumed,
            } => return Ok(Some(take_frame(buf, start, end, consumed))),
            Decoded::Skip { consumed } => buf.advance(consumed),
            Decoded::Partial { consumed } if eof => {
                buf.advance(consumed);
                return Ok(None);
            }
            Decoded::Partial { consumed } => {
                partial(decoder, buf, consumed);
                return Ok(None);
            }
        }
    }
}

/// For `decode_slice_eof`: what `decode_slice` found, unless it is a `Partial` with nothing consumed,
/// which the caller then resolves at end of stream. A `Partial` that consumed bytes comes back as
/// `Skip` (at end of stream, `Partial` means that nothing is left).
#[inline]
pub(crate) fn before_eof(found: Decoded) -> Option<Decoded> {
    match found {
        Decoded::Partial { consumed: 0 } => None,
        Decoded::Partial { consumed } => Some(Decoded::Skip { consumed }),
        found => Some(found),
    }
}

/// After [`Decoded::Partial`]: removes the consumed bytes and makes room for the rest of the frame,
/// never more than 64 KiB beyond what has arrived or twice what has (a claimed length allocates
/// only as the peer actually sends), and nothing for a frame being discarded. A frame that will be
/// split off (above [`COPY_MAX`]) is gathered into an allocation of its own size when the buffer's
/// is too small for it or more than twice its size, so that keeping it keeps little else.
fn partial<D: Decoder + ?Sized>(decoder: &D, buf: &mut BytesMut, consumed: usize) {
    buf.advance(consumed);
    if !decoder.is_between_frames() {
        return;
    }
    let Some(wanted) = decoder.bytes_wanted(buf.len()) else {
        return;
    };
    let total = buf.len().saturating_add(wanted);
    if total <= COPY_MAX {
        buf.reserve(wanted);
        return;
    }
    let room = buf.len() + wanted.min(RESERVE_AHEAD.max(buf.len()));
    if buf.capacity() < room || buf.capacity() / 2 > total {
        let mut gathered = BytesMut::with_capacity(room);
        gathered.extend_from_slice(buf);
        *buf = gathered;
    }
}

/// Turns messages into bytes on the wire.
///
/// A framed message is `head + body + tail`: [`encode_head`](Encoder::encode_head) writes the head
/// (a length header; nothing for other framings), [`tail`](Encoder::tail) is what follows the body (a
/// delimiter; nothing for other framings). [`encode`](Encoder::encode) writes all three into one
/// buffer; a writer that wants no copy of the body can write `head`, `body` and `tail` with one
/// vectored write instead.
pub trait Encoder {
    /// Checks that `body` can be framed and appends its head to `dst`.
    ///
    /// # Errors
    /// [`CodecError::MessageTooLong`], [`CodecError::LengthNotEncodable`],
    /// [`CodecError::MessageTooShort`], [`CodecError::WrongLength`] or
    /// [`CodecError::ContainsDelimiter`]; `dst` is then unchanged.
    fn encode_head(&self, body: &[u8], dst: &mut BytesMut) -> Result<(), CodecError>;

    /// The bytes that follow every body (but see [`tail_for`](Encoder::tail_for)).
    fn tail(&self) -> &[u8] {
        &[]
    }

    /// The bytes that follow a body of `body_len` bytes: [`tail`](Encoder::tail), except where a
    /// framing writes some bodies without it (an empty frame of the [`EmptyForm::Bare`] form).
    fn tail_for(&self, body_len: usize) -> &[u8] {
        let _ = body_len;
        self.tail()
    }

    /// The head's length in bytes (the same for every message).
    fn head_len(&self) -> usize {
        0
    }

    /// The length on the wire of a message whose body is `body` bytes: head, body and tail.
    fn framed_len(&self, body: usize) -> usize {
        self.head_len() + body + self.tail_for(body).len()
    }

    /// Appends the whole framed message to `dst`, reserving space once.
    ///
    /// # Errors
    /// As [`encode_head`](Encoder::encode_head); `dst` is then unchanged.
    fn encode(&self, body: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
        dst.reserve(self.framed_len(body.len()));
        let tail = self.tail_for(body.len());
        self.encode_head(body, dst)?;
        dst.extend_from_slice(body);
        dst.extend_from_slice(tail);
        Ok(())
    }
}

/// Forwards every `Encoder` method to the encoder behind a pointer.
macro_rules! forward_encoder {
    ($($doc:literal $ty:ty),*) => {$(
        #[doc = $doc]
        impl<E: Encoder + ?Sized> Encoder for $ty {
            #[inline]
            fn encode_head(&self, body: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
                (**self).encode_head(body, dst)
            }

            fn tail(&self) -> &[u8] {
                (**self).tail()
            }

            fn tail_for(&self, body_len: usize) -> &[u8] {
                (**self).tail_for(body_len)
            }

            fn head_len(&self) -> usize {
                (**self).head_len()
            }

            fn framed_len(&self, body: usize) -> usize {
                (**self).framed_len(body)
            }

            #[inline]
            fn encode(&self, body: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
                (**self).encode(body, dst)
            }
        }
    )*};
}

forward_encoder!(
    "A shared encoder encodes as the one it points to: writers of many connections can share one framing (`Arc<Framing>`) instead of holding a copy each."
    std::sync::Arc<E>,
    "A borrowed encoder encodes as the one it borrows."
    &E
);

/// The crate's README.md examples, compiled (and run) with the doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
