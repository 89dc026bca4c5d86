//! The one error type of this crate.

use core::fmt;

use crate::LengthEncoding;

/// The raw bytes of a length field, kept inline (no allocation) so that errors can show them.
///
/// Displays as space-separated upper-case hex, e.g. `30 31 3A 33`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldBytes {
    buf: [u8; FieldBytes::CAPACITY],
    len: u8,
}

impl FieldBytes {
    /// The most bytes a length field can have (16 ASCII hex digits).
    pub const CAPACITY: usize = 16;

    /// Copies up to [`FieldBytes::CAPACITY`] bytes from `bytes`.
    pub fn new(bytes: &[u8]) -> Self {
        let len = bytes.len().min(Self::CAPACITY);
        let mut buf = [0; Self::CAPACITY];
        buf[..len].copy_from_slice(&bytes[..len]);
        FieldBytes {
            buf,
            len: len as u8,
        }
    }

    /// The bytes held.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

impl fmt::Display for FieldBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}",
            crate::hex::display(self.as_slice()).upper().spaced()
        )
    }
}

impl fmt::Debug for FieldBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{self}]")
    }
}

/// Everything that can go wrong when building, decoding or encoding a length field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// An encoding was asked for with a width it does not support.
    #[error("{kind} length field cannot be {width} bytes wide (allowed: {allowed})")]
    UnsupportedWidth {
        /// Which family of encoding, e.g. `packed BCD`.
        kind: &'static str,
        /// The width asked for, in bytes.
        width: usize,
        /// The widths that are allowed, e.g. `1..=5`.
        allowed: &'static str,
    },

    /// Fewer bytes were given than the field is wide.
    #[error("{encoding} length field needs {needed} bytes, got {got}")]
    Truncated {
        /// The encoding that was decoding.
        encoding: LengthEncoding,
        /// The field's width.
        needed: usize,
        /// How many bytes were available.
        got: usize,
    },

    /// A byte of the field is not allowed by the encoding.
    #[error(
        "{encoding} length field [{field}] has byte 0x{byte:02X} at offset {offset}, expected {expected}"
    )]
    InvalidByte {
        /// The encoding that was decoding.
        encoding: LengthEncoding,
        /// The whole field, for context.
        field: FieldBytes,
        /// Offset of the offending byte within the field.
        offset: usize,
        /// The offending byte.
        byte: u8,
        /// What would have been valid there.
        expected: &'static str,
    },

    /// A length does not fit the field: encoding it would need more digits or bytes than the field has.
    #[error("length {length} does not fit a {encoding} length field (largest: {max})")]
    LengthTooLarge {
        /// The encoding that was asked to encode.
        encoding: LengthEncoding,
        /// The length asked for.
        length: u64,
        /// The largest length the field can hold.
        max: u64,
    },
}
