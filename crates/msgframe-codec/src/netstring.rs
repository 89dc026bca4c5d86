//! Netstrings: `<length>:<data>,` with the length in ASCII decimal of any width.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::Hex;
use crate::{CodecError, Decoder, Encoder, Parse, Status, DEFAULT_MAX_FRAME_LENGTH};

/// Netstring framing (D. J. Bernstein's netstrings, as Twisted's `NetstringReceiver` speaks them).
///
/// ```text
///  "5:hello,"  =  35 3A 68 65 6C 6C 6F 2C
///  "0:,"       =  an empty message
/// ```
///
/// The length is ASCII decimal with as many digits as it needs and no leading zeros (`"05:"` is
/// malformed); a `,` must follow the data. A length above the maximum (default 8 MiB) is refused as
/// soon as its digits show it, before the data is buffered. Every error poisons the decoder.
///
/// ```
/// use bytes::BytesMut;
/// use msgframe_codec::{Decoder, Encoder, Netstring};
///
/// let mut netstring = Netstring::new(1000);
/// let mut wire = BytesMut::new();
/// netstring.encode(b"hello", &mut wire)?;
/// assert_eq!(&wire[..], b"5:hello,");
/// assert_eq!(netstring.decode(&mut wire)?.as_deref(), Some(&b"hello"[..]));
/// # Ok::<(), msgframe_codec::CodecError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Netstring {
    max: usize,
    /// The longest length prefix allowed: the digits of `max`.
    max_digits: usize,
    consumed: u64,
    poisoned: Option<u64>,
}

impl Default for Netstring {
    /// A maximum of 8 MiB.
    fn default() -> Self {
        Netstring::new(DEFAULT_MAX_FRAME_LENGTH)
    }
}

impl Netstring {
    /// The largest maximum: a netstring (data, prefix and comma) must fit one buffer.
    pub const MAX: usize = isize::MAX as usize - 32;

    /// Netstrings of at most `max` data bytes (at most [`Netstring::MAX`]; a larger `max` is lowered
    /// to it).
    pub fn new(max: usize) -> Self {
        let max = max.min(Self::MAX);
        Netstring {
            max,
            max_digits: max.checked_ilog10().unwrap_or(0) as usize + 1,
            consumed: 0,
            poisoned: None,
        }
    }

    /// The largest message accepted and sent.
    pub fn max_frame_length(&self) -> usize {
        self.max
    }

    /// Parses the length prefix of the netstring at the start of `buf` (at stream offset `offset`):
    /// `Ok(Some((data_len, prefix_len)))` with `prefix_len` counting the `:`, `Ok(None)` when more
    /// bytes are needed. Pure: the owned and the borrowed decoders both use it.
    fn prefix(&self, buf: &[u8], offset: u64) -> Result<Option<(usize, usize)>, CodecError> {
        let malformed = |bytes: &[u8], reason| CodecError::Malformed {
            offset,
            bytes: Hex::of(&bytes[..bytes.len().min(16)]),
            reason,
        };
        let mut len = 0usize;
        for (i, &b) in buf.iter().enumerate() {
            match b {
                b':' if i > 0 => return Ok(Some((len, i + 1))),
                b'0'..=b'9' => {
                    if i == 1 && buf[0] == b'0' {
                        return Err(malformed(
                            &buf[..2],
                            "a netstring length has no leading zeros",
                        ));
                    }
                    len = len * 10 + usize::from(b - b'0');
                    if i + 1 > self.max_digits || len > self.max {
                        return Err(CodecError::FrameTooLong {
                            offset,
                            length: len as u64,
                            exact: false,
                            max: self.max as u64,
                            discarding: false,
                        });
                    }
                }
                _ => {
                    return Err(malformed(
                        &buf[..=i],
                        "a netstring starts with decimal digits, then ':'",
                    ))
                }
            }
        }
        Ok(None)
    }
}

impl Decoder for Netstring {
    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        if let Some(offset) = self.poisoned {
            return Err(CodecError::Poisoned { offset });
        }
        match self.parse(buf, self.consumed) {
            Ok(Status::Frame { frame, len }) => {
                let (data, prefix) = (frame.len(), len - frame.len() - 1);
                self.consumed += len as u64;
                buf.advance(prefix);
                let frame = buf.split_to(data).freeze();
                buf.advance(1);
                Ok(Some(frame))
            }
            Ok(Status::Partial { needed }) => {
                if let Some(needed) = needed {
                    buf.reserve(needed.min(crate::RESERVE_AHEAD));
                }
                Ok(None)
            }
            Ok(Status::Skip { .. }) => unreachable!("netstrings skip nothing"),
            Err(e) => {
                self.poisoned = Some(self.consumed);
                Err(e)
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        match self.decode(buf)? {
            Some(frame) => Ok(Some(frame)),
            None if buf.is_empty() => Ok(None),
            None => Err(CodecError::UnexpectedEof {
                offset: self.consumed,
                buffered: buf.len(),
                expected: match self.parse(buf, self.consumed)? {
                    Status::Partial {
                        needed: Some(needed),
                    } => Some((buf.len() + needed) as u64),
                    _ => None,
                },
            }),
        }
    }
}

impl Parse for Netstring {
    fn parse<'a>(&self, buf: &'a [u8], offset: u64) -> Result<Status<'a>, CodecError> {
        let Some((len, prefix)) = self.prefix(buf, offset)? else {
            return Ok(Status::Partial { needed: None });
        };
        let total = prefix + len + 1;
        if buf.len() < total {
            return Ok(Status::Partial {
                needed: Some(total - buf.len()),
            });
        }
        if buf[total - 1] != b',' {
            return Err(CodecError::Malformed {
                offset,
                bytes: Hex::of(&buf[total - 1..total]),
                reason: "a netstring ends with ','",
            });
        }
        Ok(Status::Frame {
            frame: &buf[prefix..prefix + len],
            len: total,
        })
    }
}

impl Encoder for Netstring {
    fn encode_head(&self, body: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
        if body.len() > self.max {
            return Err(CodecError::MessageTooLong {
                length: body.len(),
                max: self.max,
            });
        }
        let mut digits = [0u8; 20];
        let mut n = body.len();
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        dst.extend_from_slice(&digits[at..]);
        dst.extend_from_slice(b":");
        Ok(())
    }

    fn tail(&self) -> &[u8] {
        b","
    }
}
