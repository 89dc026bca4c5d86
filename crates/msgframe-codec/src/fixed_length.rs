//! Fixed-length framing: every frame is exactly `n` bytes.

use bytes::BytesMut;

use crate::{CodecError, Decoded, Decoder, Encoder, Parse, Status};

/// Every frame is exactly `len` bytes; there is no header.
///
/// ```text
///  | frame (len bytes) | frame (len bytes) | ...
/// ```
///
/// This is whole-message reading when both sides know the size. The decoder needs no maximum: it
/// never buffers more than `len` bytes for a frame, and reserves buffer space only as bytes arrive
/// (at most 64 KiB ahead). Encoding a message of any other size is an error.
///
/// ```
/// use bytes::BytesMut;
/// use msgframe_codec::{Decoder, FixedLength};
///
/// let mut fixed = FixedLength::new(4)?;
/// let mut buf = BytesMut::from(&b"abcdef"[..]);
/// assert_eq!(fixed.decode(&mut buf)?.as_deref(), Some(&b"abcd"[..]));
/// assert_eq!(fixed.decode(&mut buf)?, None); // "ef" waits for two more bytes
/// # Ok::<(), msgframe_codec::CodecError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedLength {
    len: usize,
    consumed: u64,
}

impl FixedLength {
    /// Frames of exactly `len` bytes.
    ///
    /// # Errors
    /// [`CodecError::InvalidConfig`] when `len` is 0.
    pub fn new(len: usize) -> Result<Self, CodecError> {
        if len == 0 {
            return Err(CodecError::InvalidConfig(
                "a fixed-length frame cannot be 0 bytes".into(),
            ));
        }
        Ok(FixedLength { len, consumed: 0 })
    }

    /// The frame length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always `false`: a fixed-length frame has at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl Decoder for FixedLength {
    fn stream_offset(&self) -> u64 {
        self.consumed
    }

    fn continue_at(&mut self, offset: u64) {
        self.consumed = offset;
    }

    #[inline]
    fn decode_slice(&mut self, buf: &[u8]) -> Result<Decoded, CodecError> {
        if buf.len() < self.len {
            return Ok(Decoded::Partial { consumed: 0 });
        }
        self.consumed += self.len as u64;
        Ok(Decoded::Frame {
            start: 0,
            end: self.len,
            consumed: self.len,
        })
    }

    fn decode_slice_eof(&mut self, buf: &[u8]) -> Result<Decoded, CodecError> {
        match self.decode_slice(buf)? {
            Decoded::Partial { .. } if !buf.is_empty() => Err(CodecError::UnexpectedEof {
                offset: self.consumed,
                buffered: buf.len(),
                expected: Some(self.len as u64),
            }),
            found => Ok(found),
        }
    }

    fn bytes_wanted(&self, buffered: usize) -> Option<usize> {
        Some(self.len.saturating_sub(buffered).max(1))
    }
}

impl Parse for FixedLength {
    #[inline]
    fn parse<'a>(&self, buf: &'a [u8], _offset: u64) -> Result<Status<'a>, CodecError> {
        Ok(match buf.get(..self.len) {
            Some(frame) => Status::Frame {
                frame,
                len: self.len,
            },
            None => Status::Partial {
                needed: Some(self.len - buf.len()),
            },
        })
    }
}

impl Encoder for FixedLength {
    fn encode_head(&self, body: &[u8], _dst: &mut BytesMut) -> Result<(), CodecError> {
        if body.len() != self.len {
            return Err(CodecError::WrongLength {
                length: body.len(),
                expected: self.len,
            });
        }
        Ok(())
    }
}
