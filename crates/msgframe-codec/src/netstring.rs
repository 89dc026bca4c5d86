//! Netstrings: `<length>:<data>,` with the length in ASCII decimal of any width.

use bytes::BytesMut;

use crate::error::Hex;
use crate::{CodecError, Decoded, Decoder, Encoder, Parse, Status, DEFAULT_MAX_FRAME_LENGTH};

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
        Netstring {
            max: max.min(Self::MAX),
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
    ///
    /// The length is checked against the maximum at every digit, so a prefix of any width is refused
    /// at the first digit that takes it past the maximum (a run of zeros never gets that far: a
    /// leading zero is refused at the second digit). The length so far is at most `max`, but
    /// `max * 10 + 9` can exceed `u64::MAX`: the arithmetic saturates, and a refused length is
    /// reported as the value so far, saturated.
    fn prefix(&self, buf: &[u8], offset: u64) -> Result<Option<(usize, usize)>, CodecError> {
        let malformed = |bytes: &[u8], reason| CodecError::Malformed {
            offset,
            bytes: Hex::of(&bytes[..bytes.len().min(16)]),
            reason,
        };
        let mut len = 0u64;
        for (i, &b) in buf.iter().enumerate() {
            match b {
                // `len <= max`, a usize: the cast is lossless.
                b':' if i > 0 => return Ok(Some((len as usize, i + 1))),
                b'0'..=b'9' => {
                    if i == 1 && buf[0] == b'0' {
                        return Err(malformed(
                            &buf[..2],
                            "a netstring length has no leading zeros",
                        ));
                    }
                    len = len.saturating_mul(10).saturating_add(u64::from(b - b'0'));
                    if len > self.max as u64 {
                        return Err(CodecError::FrameTooLong {
                            offset,
                            length: len,
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
    fn stream_offset(&self) -> u64 {
        self.consumed
    }

    fn continue_at(&mut self, offset: u64) {
        self.consumed = offset;
    }

    fn decode_slice(&mut self, buf: &[u8]) -> Result<Decoded, CodecError> {
        if let Some(offset) = self.poisoned {
            return Err(CodecError::Poisoned { offset });
        }
        match self.parse(buf, self.consumed) {
            Ok(Status::Frame { frame, len }) => {
                let prefix = len - frame.len() - 1;
                self.consumed += len as u64;
                Ok(Decoded::Frame {
                    start: prefix,
                    end: prefix + frame.len(),
                    consumed: len,
                })
            }
            Ok(_) => Ok(Decoded::Partial { consumed: 0 }),
            Err(e) => {
                self.poisoned = Some(self.consumed);
                Err(e)
            }
        }
    }

    fn decode_slice_eof(&mut self, buf: &[u8]) -> Result<Decoded, CodecError> {
        match self.decode_slice(buf)? {
            Decoded::Partial { .. } if !buf.is_empty() => Err(CodecError::UnexpectedEof {
                offset: self.consumed,
                buffered: buf.len(),
                expected: match self.parse(buf, self.consumed)? {
                    Status::Partial {
                        needed: Some(needed),
                    } => Some((buf.len() + needed) as u64),
                    _ => None,
                },
            }),
            found => Ok(found),
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
