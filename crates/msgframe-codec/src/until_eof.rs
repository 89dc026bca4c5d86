//! Until-EOF framing: the whole stream is one message (short connections).

use bytes::BytesMut;

use crate::{CodecError, Decoded, Decoder, Encoder, Parse, Status, DEFAULT_MAX_FRAME_LENGTH};

/// The whole stream, up to the peer's end-of-stream, is one message.
///
/// ```text
///  | message ......................................... | FIN
/// ```
///
/// This is how short connections end a message: the sender writes it and closes its write half.
/// [`decode`](Decoder::decode) never yields a frame; [`decode_eof`](Decoder::decode_eof) yields the
/// buffered bytes once (possibly empty: the peer closed without sending), then `None`. More than
/// `max` bytes before end-of-stream is [`CodecError::FrameTooLong`] and poisons the decoder, so a peer
/// cannot make the reader buffer without limit.
///
/// ```
/// use bytes::BytesMut;
/// use msgframe_codec::{Decoder, UntilEof};
///
/// let mut eof = UntilEof::new(1024);
/// let mut buf = BytesMut::from(&b"whole reply"[..]);
/// assert_eq!(eof.decode(&mut buf)?, None);
/// assert_eq!(eof.decode_eof(&mut buf)?.as_deref(), Some(&b"whole reply"[..]));
/// assert_eq!(eof.decode_eof(&mut buf)?, None);
/// # Ok::<(), msgframe_codec::CodecError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UntilEof {
    max: usize,
    delivered: bool,
    poisoned: bool,
}

impl Default for UntilEof {
    /// A maximum of 8 MiB.
    fn default() -> Self {
        UntilEof::new(DEFAULT_MAX_FRAME_LENGTH)
    }
}

impl UntilEof {
    /// One message of at most `max` bytes.
    pub fn new(max: usize) -> Self {
        UntilEof {
            max,
            delivered: false,
            poisoned: false,
        }
    }

    /// The largest message accepted and sent.
    pub fn max_frame_length(&self) -> usize {
        self.max
    }

    fn check(&mut self, buf: &[u8]) -> Result<(), CodecError> {
        if self.poisoned {
            return Err(CodecError::Poisoned { offset: 0 });
        }
        self.within_max(buf, 0)
            .inspect_err(|_| self.poisoned = true)
    }

    fn within_max(&self, buf: &[u8], offset: u64) -> Result<(), CodecError> {
        if buf.len() > self.max {
            return Err(CodecError::FrameTooLong {
                offset,
                length: buf.len() as u64,
                exact: false,
                max: self.max as u64,
                discarding: false,
            });
        }
        Ok(())
    }
}

impl Decoder for UntilEof {
    fn decode_slice(&mut self, buf: &[u8]) -> Result<Decoded, CodecError> {
        self.check(buf)?;
        Ok(Decoded::Partial { consumed: 0 })
    }

    fn decode_slice_eof(&mut self, buf: &[u8]) -> Result<Decoded, CodecError> {
        self.check(buf)?;
        if self.delivered {
            return Ok(Decoded::Partial { consumed: 0 });
        }
        self.delivered = true;
        Ok(Decoded::Frame {
            start: 0,
            end: buf.len(),
            consumed: buf.len(),
        })
    }

    fn bytes_wanted(&self, _buffered: usize) -> Option<usize> {
        None
    }
}

impl Parse for UntilEof {
    /// Never a frame: the message ends with the stream, which a buffer cannot show. More than the
    /// maximum is an error.
    fn parse<'a>(&self, buf: &'a [u8], offset: u64) -> Result<Status<'a>, CodecError> {
        self.within_max(buf, offset)?;
        Ok(Status::Partial { needed: None })
    }
}

impl Encoder for UntilEof {
    fn encode_head(&self, body: &[u8], _dst: &mut BytesMut) -> Result<(), CodecError> {
        if body.len() > self.max {
            return Err(CodecError::MessageTooLong {
                length: body.len(),
                max: self.max,
            });
        }
        Ok(())
    }
}
