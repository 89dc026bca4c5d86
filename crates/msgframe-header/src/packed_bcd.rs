//! Lengths written in packed binary-coded decimal, e.g. `0x01 0x23`.

use crate::{EncodedLength, HeaderError, LengthEncoding, LengthField};

/// A length written as `n` bytes (`1..=5`) of packed BCD: two decimal digits per byte, high nibble
/// first, most significant byte first.
///
/// ```text
///  0x01 0x23  = digits 0 1 2 3 = 123
/// ```
///
/// A field always holds an even number of digits (`2n`). A length with fewer digits, including an odd
/// count such as 123, is **left-padded with zero nibbles**: 123 in two bytes is `0x01 0x23`, never
/// `0x12 0x3F` or `0x12 0x30`. A nibble above 9 (`A`-`F`) is an error when decoding, wherever it is.
///
/// ```
/// use msgframe_header::{LengthField, PackedBcd};
///
/// let two = PackedBcd::new(2)?;
/// assert_eq!(two.decode(&[0x01, 0x23])?, 123);
/// assert_eq!(two.encode(9999)?.as_slice(), &[0x99, 0x99]);
/// assert!(two.encode(10_000).is_err());
/// assert!(two.decode(&[0x01, 0x2A]).is_err());
/// # Ok::<(), msgframe_header::HeaderError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PackedBcd {
    bytes: u8,
}

impl PackedBcd {
    /// The widest field supported: five bytes hold ten digits, up to 9 999 999 999.
    pub const MAX_BYTES: usize = 5;

    /// A field of `bytes` packed BCD bytes (`1..=5`).
    pub const fn new(bytes: usize) -> Result<Self, HeaderError> {
        if bytes == 0 || bytes > Self::MAX_BYTES {
            return Err(HeaderError::UnsupportedWidth {
                kind: "packed BCD",
                width: bytes,
                allowed: "1..=5",
            });
        }
        Ok(PackedBcd { bytes: bytes as u8 })
    }
}

impl LengthField for PackedBcd {
    #[inline]
    fn width(&self) -> usize {
        usize::from(self.bytes)
    }

    fn max_length(&self) -> u64 {
        crate::POW10[2 * usize::from(self.bytes)] - 1
    }

    #[inline]
    fn decode(&self, field: &[u8]) -> Result<u64, HeaderError> {
        let field = crate::take_field(LengthEncoding::PackedBcd(*self), field)?;
        let mut value = 0u64;
        for (i, &b) in field.iter().enumerate() {
            let (high, low) = (b >> 4, b & 0x0F);
            if high > 9 || low > 9 {
                let expected = if high > 9 {
                    "a high nibble 0-9"
                } else {
                    "a low nibble 0-9"
                };
                return Err(crate::invalid_byte(
                    LengthEncoding::PackedBcd(*self),
                    field,
                    i,
                    expected,
                ));
            }
            value = value * 100 + u64::from(high) * 10 + u64::from(low);
        }
        Ok(value)
    }

    fn encode_into(&self, length: u64, out: &mut [u8]) -> Result<(), HeaderError> {
        crate::check_fits(LengthEncoding::PackedBcd(*self), length)?;
        let mut rest = length;
        for slot in out[..self.width()].iter_mut().rev() {
            let pair = (rest % 100) as u8;
            *slot = ((pair / 10) << 4) | (pair % 10);
            rest /= 100;
        }
        Ok(())
    }

    fn encode(&self, length: u64) -> Result<EncodedLength, HeaderError> {
        EncodedLength::with(self, length)
    }
}
