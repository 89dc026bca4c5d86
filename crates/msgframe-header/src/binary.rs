//! Lengths written as binary unsigned integers, big-endian (network order) or little-endian.

use byteorder::{ByteOrder as _, BE, LE};

use crate::{EncodedLength, HeaderError, LengthEncoding, LengthField};

/// Byte order of a [`Binary`] length field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ByteOrder {
    /// Most significant byte first: network order, the default.
    #[default]
    BigEndian,
    /// Least significant byte first.
    LittleEndian,
}

/// A length written as an unsigned integer of `n` bytes (`1..=8`; protocols use 1, 2, 3, 4 and 8).
///
/// ```text
///  big-endian, 2 bytes:     0x00 0x7B              = 123
///  little-endian, 4 bytes:  0x7B 0x00 0x00 0x00    = 123
/// ```
///
/// ```
/// use msgframe_header::{Binary, LengthField};
///
/// let be2 = Binary::big_endian(2)?;
/// assert_eq!(be2.decode(&[0x00, 0x7B])?, 123);
/// assert_eq!(be2.encode(0xFFFF)?.as_slice(), &[0xFF, 0xFF]);
/// assert!(be2.encode(0x1_0000).is_err()); // never wraps to 0x0000
///
/// let le4 = Binary::little_endian(4)?;
/// assert_eq!(le4.encode(123)?.as_slice(), &[0x7B, 0, 0, 0]);
/// # Ok::<(), msgframe_header::HeaderError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Binary {
    bytes: u8,
    order: ByteOrder,
}

impl Binary {
    /// The widest field supported.
    pub const MAX_BYTES: usize = 8;

    /// A field of `bytes` bytes (`1..=8`) in the given order.
    pub const fn new(bytes: usize, order: ByteOrder) -> Result<Self, HeaderError> {
        if bytes == 0 || bytes > Self::MAX_BYTES {
            return Err(HeaderError::UnsupportedWidth {
                kind: "binary",
                width: bytes,
                allowed: "1..=8",
            });
        }
        Ok(Binary {
            bytes: bytes as u8,
            order,
        })
    }

    /// A big-endian (network order) field of `bytes` bytes.
    pub const fn big_endian(bytes: usize) -> Result<Self, HeaderError> {
        Self::new(bytes, ByteOrder::BigEndian)
    }

    /// A little-endian field of `bytes` bytes.
    pub const fn little_endian(bytes: usize) -> Result<Self, HeaderError> {
        Self::new(bytes, ByteOrder::LittleEndian)
    }

    /// The field's byte order.
    pub const fn order(&self) -> ByteOrder {
        self.order
    }
}

impl LengthField for Binary {
    #[inline]
    fn width(&self) -> usize {
        usize::from(self.bytes)
    }

    fn max_length(&self) -> u64 {
        u64::MAX >> (64 - 8 * u32::from(self.bytes))
    }

    #[inline(always)]
    fn decode(&self, field: &[u8]) -> Result<u64, HeaderError> {
        let n = self.width();
        let field = crate::take_field(LengthEncoding::Binary(*self), field)?;
        // The common widths get fixed-size reads; `read_uint` copies a variable number of bytes.
        Ok(match (self.order, n) {
            (_, 1) => u64::from(field[0]),
            (ByteOrder::BigEndian, 2) => u64::from(BE::read_u16(field)),
            (ByteOrder::BigEndian, 4) => u64::from(BE::read_u32(field)),
            (ByteOrder::BigEndian, 8) => BE::read_u64(field),
            (ByteOrder::BigEndian, _) => BE::read_uint(field, n),
            (ByteOrder::LittleEndian, 2) => u64::from(LE::read_u16(field)),
            (ByteOrder::LittleEndian, 4) => u64::from(LE::read_u32(field)),
            (ByteOrder::LittleEndian, 8) => LE::read_u64(field),
            (ByteOrder::LittleEndian, _) => LE::read_uint(field, n),
        })
    }

    fn encode_into(&self, length: u64, out: &mut [u8]) -> Result<(), HeaderError> {
        crate::check_fits(LengthEncoding::Binary(*self), length)?;
        let n = self.width();
        match self.order {
            ByteOrder::BigEndian => BE::write_uint(out, length, n),
            ByteOrder::LittleEndian => LE::write_uint(out, length, n),
        }
        Ok(())
    }

    fn encode(&self, length: u64) -> Result<EncodedLength, HeaderError> {
        EncodedLength::with(self, length)
    }
}
