//! Lengths written as ASCII decimal digits, e.g. `"0123"`.

use crate::{EncodedLength, HeaderError, LengthEncoding, LengthField};

/// A length written as `n` ASCII decimal digits (`1..=10`), most significant first, zero-padded.
///
/// ```text
///  "0123"  =  30 31 32 33  = 123
/// ```
///
/// Strict by default: only `0`-`9` are accepted. [`AsciiDecimal::lenient`] additionally accepts leading
/// spaces (`"  123"`), which some hosts send instead of zeros; a field of spaces only is still an error.
/// Encoding always writes zeros, never spaces.
///
/// ```
/// use msgframe_header::{AsciiDecimal, LengthField};
///
/// let four = AsciiDecimal::new(4)?;
/// assert_eq!(four.decode(b"0123")?, 123);
/// assert_eq!(four.encode(123)?.as_slice(), b"0123");
/// assert!(four.encode(10_000).is_err()); // never truncated to "0000"
/// assert!(four.decode(b" 123").is_err());
/// assert_eq!(four.lenient().decode(b" 123")?, 123);
/// # Ok::<(), msgframe_header::HeaderError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AsciiDecimal {
    digits: u8,
    lenient: bool,
}

impl AsciiDecimal {
    /// The most digits supported: ten digits hold lengths up to 9 999 999 999.
    pub const MAX_DIGITS: usize = 10;

    /// A strict field of `digits` ASCII decimal digits (`1..=10`).
    pub const fn new(digits: usize) -> Result<Self, HeaderError> {
        if digits == 0 || digits > Self::MAX_DIGITS {
            return Err(HeaderError::UnsupportedWidth {
                kind: "ASCII decimal",
                width: digits,
                allowed: "1..=10",
            });
        }
        Ok(AsciiDecimal {
            digits: digits as u8,
            lenient: false,
        })
    }

    /// The same field, also accepting leading spaces when decoding.
    pub const fn lenient(self) -> Self {
        AsciiDecimal {
            lenient: true,
            ..self
        }
    }

    /// Whether leading spaces are accepted when decoding.
    pub const fn is_lenient(&self) -> bool {
        self.lenient
    }
}

impl LengthField for AsciiDecimal {
    #[inline]
    fn width(&self) -> usize {
        usize::from(self.digits)
    }

    fn max_length(&self) -> u64 {
        crate::POW10[usize::from(self.digits)] - 1
    }

    #[inline]
    fn decode(&self, field: &[u8]) -> Result<u64, HeaderError> {
        let field = crate::take_field(LengthEncoding::AsciiDecimal(*self), field)?;
        let mut start = 0;
        if self.lenient {
            while start < field.len() && field[start] == b' ' {
                start += 1;
            }
            if start == field.len() {
                return Err(self.invalid(field, start - 1, "at least one digit 0-9"));
            }
        }
        let mut value = 0u64;
        for (i, &b) in field.iter().enumerate().skip(start) {
            let digit = b.wrapping_sub(b'0');
            if digit > 9 {
                let expected = if self.lenient && i > start {
                    "a digit 0-9 (spaces only lead)"
                } else if self.lenient {
                    "a digit 0-9 or a leading space"
                } else {
                    "a digit 0-9"
                };
                return Err(self.invalid(field, i, expected));
            }
            value = value * 10 + u64::from(digit);
        }
        Ok(value)
    }

    fn encode_into(&self, length: u64, out: &mut [u8]) -> Result<(), HeaderError> {
        crate::check_fits(LengthEncoding::AsciiDecimal(*self), length)?;
        let out = &mut out[..self.width()];
        let mut rest = length;
        for slot in out.iter_mut().rev() {
            *slot = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        Ok(())
    }

    fn encode(&self, length: u64) -> Result<EncodedLength, HeaderError> {
        EncodedLength::with(self, length)
    }
}

impl AsciiDecimal {
    fn invalid(&self, field: &[u8], offset: usize, expected: &'static str) -> HeaderError {
        crate::invalid_byte(LengthEncoding::AsciiDecimal(*self), field, offset, expected)
    }
}
