//! Lengths written as ASCII hexadecimal digits, e.g. `"007B"`.

use crate::{EncodedLength, HeaderError, LengthEncoding, LengthField};

/// A length written as `n` ASCII hexadecimal digits (`1..=16`), most significant first, zero-padded.
///
/// ```text
///  "007B"  =  30 30 37 42  = 123
/// ```
///
/// Decoding accepts `0-9`, `A-F` and `a-f`; encoding writes upper case. The largest length of a
/// 4-digit field is `0xFFFF` = 65 535, written `"FFFF"`; 65 536 is an error, not `"0000"`.
///
/// ```
/// use msgframe_header::{AsciiHex, LengthField};
///
/// let four = AsciiHex::new(4)?;
/// assert_eq!(four.decode(b"007b")?, 123);
/// assert_eq!(four.encode(0xFFFF)?.as_slice(), b"FFFF");
/// assert!(four.encode(0x1_0000).is_err());
/// # Ok::<(), msgframe_header::HeaderError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AsciiHex {
    digits: u8,
}

impl AsciiHex {
    /// The most digits supported: sixteen hold any `u64`.
    pub const MAX_DIGITS: usize = 16;

    /// A field of `digits` ASCII hex digits (`1..=16`).
    pub const fn new(digits: usize) -> Result<Self, HeaderError> {
        if digits == 0 || digits > Self::MAX_DIGITS {
            return Err(HeaderError::UnsupportedWidth {
                kind: "ASCII hexadecimal",
                width: digits,
                allowed: "1..=16",
            });
        }
        Ok(AsciiHex {
            digits: digits as u8,
        })
    }
}

const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";

impl LengthField for AsciiHex {
    #[inline]
    fn width(&self) -> usize {
        usize::from(self.digits)
    }

    fn max_length(&self) -> u64 {
        u64::MAX >> (64 - 4 * u32::from(self.digits))
    }

    #[inline]
    fn decode(&self, field: &[u8]) -> Result<u64, HeaderError> {
        let field = crate::take_field(LengthEncoding::AsciiHex(*self), field)?;
        let mut value = 0u64;
        for (i, &b) in field.iter().enumerate() {
            let digit = match b {
                b'0'..=b'9' => b - b'0',
                b'A'..=b'F' => b - b'A' + 10,
                b'a'..=b'f' => b - b'a' + 10,
                _ => {
                    return Err(crate::invalid_byte(
                        LengthEncoding::AsciiHex(*self),
                        field,
                        i,
                        "a hex digit 0-9, A-F or a-f",
                    ))
                }
            };
            value = (value << 4) | u64::from(digit);
        }
        Ok(value)
    }

    fn encode_into(&self, length: u64, out: &mut [u8]) -> Result<(), HeaderError> {
        crate::check_fits(LengthEncoding::AsciiHex(*self), length)?;
        let mut rest = length;
        for slot in out[..self.width()].iter_mut().rev() {
            *slot = UPPER_HEX[(rest & 0xF) as usize];
            rest >>= 4;
        }
        Ok(())
    }

    fn encode(&self, length: u64) -> Result<EncodedLength, HeaderError> {
        EncodedLength::with(self, length)
    }
}
