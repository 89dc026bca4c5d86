//! Length-field encodings for message framing.
//!
//! A length header says how long the message after it is. Legacy hosts and protocols write that number
//! in several ways; this crate knows each of them, with its width in bytes, the largest length it can
//! express, and how to decode and encode it:
//!
//! | type             | example bytes for 123    | widths        | largest length (width n)  |
//! |------------------|--------------------------|---------------|---------------------------|
//! | [`AsciiDecimal`] | `"0123"` = `30 31 32 33` | 1..=10 digits | 10ⁿ − 1 (4 digits: 9999)  |
//! | [`AsciiHex`]     | `"007B"` = `30 30 37 42` | 1..=16 digits | 16ⁿ − 1 (4 digits: 65535) |
//! | [`PackedBcd`]    | `01 23`                  | 1..=5 bytes   | 10²ⁿ − 1 (2 bytes: 9999)  |
//! | [`Binary`]       | `00 7B` (big-endian)     | 1..=8 bytes   | 2⁸ⁿ − 1 (2 bytes: 65535)  |
//!
//! Every encoding implements [`LengthField`]; [`LengthEncoding`] holds any one of them, chosen at run
//! time. Decoding an invalid field returns a [`HeaderError`] naming the encoding and showing the field
//! in hex; encoding a length that does not fit is an error, never a truncation or a wrap-around.
//!
//! ```
//! use msgframe_header::{LengthEncoding, LengthField};
//!
//! let bcd = LengthEncoding::packed_bcd(2)?;
//! assert_eq!(bcd.decode(&[0x01, 0x23])?, 123);
//!
//! let err = bcd.decode(&[0x01, 0x2F]).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "2-byte packed BCD length field [01 2F] has byte 0x2F at offset 1, expected a low nibble 0-9"
//! );
//! # Ok::<(), msgframe_header::HeaderError>(())
//! ```
//!
//! The [`parse`] module wraps the same decoders as [nom](https://docs.rs/nom) parsers, for use inside
//! message parsers (ISO 8583 LLVAR/LLLVAR field lengths, for instance).
//!
//! The [`hex`] module writes bytes as hex text (as in the errors above) and reads hex text back.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod ascii_decimal;
mod ascii_hex;
mod binary;
mod error;
pub mod hex;
mod packed_bcd;
pub mod parse;

use core::fmt;

pub use ascii_decimal::AsciiDecimal;
pub use ascii_hex::AsciiHex;
pub use binary::{Binary, ByteOrder};
pub use error::{FieldBytes, HeaderError};
pub use packed_bcd::PackedBcd;

/// What every length-field encoding can do.
pub trait LengthField {
    /// The field's width in bytes.
    fn width(&self) -> usize;

    /// The largest length the field can express.
    fn max_length(&self) -> u64;

    /// Decodes the length in the first [`width`](LengthField::width) bytes of `field`; further bytes
    /// are ignored.
    ///
    /// # Errors
    /// [`HeaderError::Truncated`] when `field` is shorter than the width, and
    /// [`HeaderError::InvalidByte`] when a byte is not allowed by the encoding.
    fn decode(&self, field: &[u8]) -> Result<u64, HeaderError>;

    /// Writes `length` into the first [`width`](LengthField::width) bytes of `out`.
    ///
    /// # Errors
    /// [`HeaderError::LengthTooLarge`] when `length` exceeds [`max_length`](LengthField::max_length);
    /// `out` is then left untouched.
    ///
    /// # Panics
    /// When `out` is shorter than the width: that is a bug in the caller, not bad input.
    fn encode_into(&self, length: u64, out: &mut [u8]) -> Result<(), HeaderError>;

    /// Encodes `length` into a small inline buffer.
    ///
    /// # Errors
    /// [`HeaderError::LengthTooLarge`] when `length` exceeds [`max_length`](LengthField::max_length).
    fn encode(&self, length: u64) -> Result<EncodedLength, HeaderError>;
}

/// Any one of the length encodings, chosen at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LengthEncoding {
    /// ASCII decimal digits.
    AsciiDecimal(AsciiDecimal),
    /// ASCII hexadecimal digits.
    AsciiHex(AsciiHex),
    /// Packed BCD bytes.
    PackedBcd(PackedBcd),
    /// A binary unsigned integer.
    Binary(Binary),
}

impl LengthEncoding {
    /// `digits` strict ASCII decimal digits; see [`AsciiDecimal`].
    pub const fn ascii_decimal(digits: usize) -> Result<Self, HeaderError> {
        match AsciiDecimal::new(digits) {
            Ok(e) => Ok(LengthEncoding::AsciiDecimal(e)),
            Err(e) => Err(e),
        }
    }

    /// `digits` ASCII hex digits; see [`AsciiHex`].
    pub const fn ascii_hex(digits: usize) -> Result<Self, HeaderError> {
        match AsciiHex::new(digits) {
            Ok(e) => Ok(LengthEncoding::AsciiHex(e)),
            Err(e) => Err(e),
        }
    }

    /// `bytes` bytes of packed BCD; see [`PackedBcd`].
    pub const fn packed_bcd(bytes: usize) -> Result<Self, HeaderError> {
        match PackedBcd::new(bytes) {
            Ok(e) => Ok(LengthEncoding::PackedBcd(e)),
            Err(e) => Err(e),
        }
    }

    /// A `bytes`-byte big-endian integer; see [`Binary`].
    pub const fn big_endian(bytes: usize) -> Result<Self, HeaderError> {
        match Binary::big_endian(bytes) {
            Ok(e) => Ok(LengthEncoding::Binary(e)),
            Err(e) => Err(e),
        }
    }

    /// A `bytes`-byte little-endian integer; see [`Binary`].
    pub const fn little_endian(bytes: usize) -> Result<Self, HeaderError> {
        match Binary::little_endian(bytes) {
            Ok(e) => Ok(LengthEncoding::Binary(e)),
            Err(e) => Err(e),
        }
    }
}

macro_rules! dispatch {
    ($self:ident, $e:ident => $body:expr) => {
        match $self {
            LengthEncoding::AsciiDecimal($e) => $body,
            LengthEncoding::AsciiHex($e) => $body,
            LengthEncoding::PackedBcd($e) => $body,
            LengthEncoding::Binary($e) => $body,
        }
    };
}

impl LengthField for LengthEncoding {
    #[inline]
    fn width(&self) -> usize {
        dispatch!(self, e => e.width())
    }

    fn max_length(&self) -> u64 {
        dispatch!(self, e => e.max_length())
    }

    #[inline(always)]
    fn decode(&self, field: &[u8]) -> Result<u64, HeaderError> {
        dispatch!(self, e => e.decode(field))
    }

    #[inline]
    fn encode_into(&self, length: u64, out: &mut [u8]) -> Result<(), HeaderError> {
        dispatch!(self, e => e.encode_into(length, out))
    }

    fn encode(&self, length: u64) -> Result<EncodedLength, HeaderError> {
        dispatch!(self, e => e.encode(length))
    }
}

impl From<AsciiDecimal> for LengthEncoding {
    fn from(e: AsciiDecimal) -> Self {
        LengthEncoding::AsciiDecimal(e)
    }
}

impl From<AsciiHex> for LengthEncoding {
    fn from(e: AsciiHex) -> Self {
        LengthEncoding::AsciiHex(e)
    }
}

impl From<PackedBcd> for LengthEncoding {
    fn from(e: PackedBcd) -> Self {
        LengthEncoding::PackedBcd(e)
    }
}

impl From<Binary> for LengthEncoding {
    fn from(e: Binary) -> Self {
        LengthEncoding::Binary(e)
    }
}

/// Names the encoding for people: `4-digit ASCII decimal`, `2-byte packed BCD`,
/// `2-byte big-endian binary`.
impl fmt::Display for LengthEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LengthEncoding::AsciiDecimal(e) if e.is_lenient() => {
                write!(f, "{}-digit lenient ASCII decimal", e.width())
            }
            LengthEncoding::AsciiDecimal(e) => write!(f, "{}-digit ASCII decimal", e.width()),
            LengthEncoding::AsciiHex(e) => write!(f, "{}-digit ASCII hex", e.width()),
            LengthEncoding::PackedBcd(e) => write!(f, "{}-byte packed BCD", e.width()),
            LengthEncoding::Binary(e) => match e.order() {
                ByteOrder::BigEndian => write!(f, "{}-byte big-endian binary", e.width()),
                ByteOrder::LittleEndian => write!(f, "{}-byte little-endian binary", e.width()),
            },
        }
    }
}

/// An encoded length field, held inline (no allocation). Dereferences to its bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EncodedLength {
    buf: [u8; EncodedLength::CAPACITY],
    len: u8,
}

impl EncodedLength {
    /// The widest field any encoding has (16 ASCII hex digits).
    pub const CAPACITY: usize = 16;

    fn with(field: &impl LengthField, length: u64) -> Result<Self, HeaderError> {
        let mut buf = [0; Self::CAPACITY];
        field.encode_into(length, &mut buf)?;
        Ok(EncodedLength {
            buf,
            len: field.width() as u8,
        })
    }

    /// The field's bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

impl core::ops::Deref for EncodedLength {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for EncodedLength {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl fmt::Debug for EncodedLength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncodedLength({:?})", FieldBytes::new(self.as_slice()))
    }
}

/// Powers of ten up to 10¹⁰, the most any decimal field holds: a table, not a loop, on the encode
/// path.
const POW10: [u64; 11] = {
    let mut table = [1u64; 11];
    let mut i = 1;
    while i < table.len() {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

/// The first `width` bytes of `field`, or a `Truncated` error.
#[inline(always)]
fn take_field(encoding: LengthEncoding, field: &[u8]) -> Result<&[u8], HeaderError> {
    match field.get(..encoding.width()) {
        Some(field) => Ok(field),
        None => Err(truncated(encoding, field.len())),
    }
}

/// The error for `field[offset]`, which `encoding` does not allow there. Out of line: decoding's hot
/// path stays small.
#[cold]
#[inline(never)]
fn invalid_byte(
    encoding: LengthEncoding,
    field: &[u8],
    offset: usize,
    expected: &'static str,
) -> HeaderError {
    HeaderError::InvalidByte {
        encoding,
        field: FieldBytes::new(field),
        offset,
        byte: field[offset],
        expected,
    }
}

#[cold]
#[inline(never)]
fn truncated(encoding: LengthEncoding, got: usize) -> HeaderError {
    HeaderError::Truncated {
        encoding,
        needed: encoding.width(),
        got,
    }
}

fn check_fits(encoding: LengthEncoding, length: u64) -> Result<(), HeaderError> {
    let max = encoding.max_length();
    if length > max {
        return Err(HeaderError::LengthTooLarge {
            encoding,
            length,
            max,
        });
    }
    Ok(())
}

/// The crate's README.md examples, compiled (and run) with the doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
