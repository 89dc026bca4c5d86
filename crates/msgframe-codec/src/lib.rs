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
//! Frames are [`Bytes`] split off the buffer: no copy. For messages parsed in place and dropped, the
//! [`Parse`] trait walks a filled buffer and yields borrowed `&[u8]` frames, with no reference count
//! at all. A header claiming more than the configured
//! maximum is refused before anything is reserved, and within the maximum buffer space is reserved
//! at most 64 KiB ahead of the bytes that have arrived: a peer's claimed length never allocates by
//! itself.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod delimited;
mod error;
mod fixed_length;
mod frames;
mod framing;
mod length_prefixed;
mod netstring;
pub mod spec;
mod until_eof;

use bytes::{Bytes, BytesMut};

pub use delimited::{Delimited, DelimitedConfig, UnterminatedAtEof};
pub use error::{CodecError, FixedPart, Hex};
pub use fixed_length::FixedLength;
pub use frames::{Frames, Parse, Status};
pub use framing::Framing;
pub use length_prefixed::{
    EmptyFrames, LengthCounts, LengthPrefixed, LengthPrefixedConfig, Oversize,
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

/// Turns buffered bytes into frames.
///
/// Call [`decode`](Decoder::decode) whenever bytes were appended to the buffer: it removes and returns
/// one whole frame, or returns `Ok(None)` and leaves the partial frame in the buffer (consumed only as
/// far as a header it has already checked). Call it again until it returns `None`: one read can hold
/// many frames. When the stream has ended, call [`decode_eof`](Decoder::decode_eof) instead until it
/// returns `None`; bytes left that do not form a frame are [`CodecError::UnexpectedEof`].
pub trait Decoder {
    /// Removes one whole frame from the front of `buf`, if there is one.
    ///
    /// # Errors
    /// A [`CodecError`]; [`CodecError::is_resumable`] says whether decoding may go on.
    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, CodecError>;

    /// Like [`decode`](Decoder::decode), for a stream that has ended: no more bytes will come.
    ///
    /// # Errors
    /// As `decode`, and [`CodecError::UnexpectedEof`] when bytes of an incomplete frame remain.
    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, CodecError>;

    /// How many more bytes the frame being decoded needs, when the framing knows it (length-prefixed:
    /// the rest of the header, then the rest of the frame; fixed length), given `buffered` bytes in the
    /// buffer. `None` when it cannot know (delimiters, until-EOF). Readers use it to size their reads
    /// so that a whole frame can arrive in one `read`.
    fn bytes_wanted(&self, buffered: usize) -> Option<usize> {
        let _ = buffered;
        None
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

    /// The bytes that follow every body.
    fn tail(&self) -> &[u8] {
        &[]
    }

    /// The head's length in bytes (the same for every message).
    fn head_len(&self) -> usize {
        0
    }

    /// Appends the whole framed message to `dst`, reserving space once.
    ///
    /// # Errors
    /// As [`encode_head`](Encoder::encode_head); `dst` is then unchanged.
    fn encode(&self, body: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
        let tail = self.tail();
        dst.reserve(self.head_len() + body.len() + tail.len());
        self.encode_head(body, dst)?;
        dst.extend_from_slice(body);
        dst.extend_from_slice(tail);
        Ok(())
    }
}
