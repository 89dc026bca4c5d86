//! The length decoders as [nom] parsers, for use inside message parsers.
//!
//! Each parser reads one length field with the same rules as [`LengthField::decode`]: the two always
//! agree. An invalid field fails with [`nom::error::ErrorKind::MapRes`] and the [`HeaderError`] passed
//! to [`FromExternalError`], so an error type that keeps external errors can show exactly what was wrong.
//!
//! ISO 8583 variable-length fields are a length then that many bytes: LLVAR is two ASCII digits,
//! LLLVAR three, and BCD hosts use one or two packed bytes. With nom's `length_data`:
//!
//! ```
//! use msgframe_header::parse::{ascii_decimal, packed_bcd};
//! use nom::error::Error;
//! use nom::multi::length_data;
//! use nom::Parser;
//!
//! // Field 2 (PAN) as LLVAR: "16" then 16 digits.
//! let input = &b"164111111111111111rest"[..];
//! let (rest, pan) = length_data(ascii_decimal::<Error<&[u8]>>(2)).parse(input).unwrap();
//! assert_eq!(pan, b"4111111111111111");
//! assert_eq!(rest, b"rest");
//!
//! // The same field with a 1-byte BCD length.
//! let input = [&[0x16][..], b"4111111111111111"].concat();
//! let (_, pan) = length_data(packed_bcd::<Error<&[u8]>>(1)).parse(&input[..]).unwrap();
//! assert_eq!(pan, b"4111111111111111");
//!
//! // A length that is not two digits fails, keeping the header error.
//! let bad = length_data(ascii_decimal::<Error<&[u8]>>(2)).parse(&b"1x4111"[..]);
//! assert!(bad.is_err());
//! ```
//!
//! The constructors panic on an unsupported width (a programming error, like a bad slice index); use
//! [`length`] with an already-built [`LengthEncoding`] to handle that case yourself.

use nom::error::{ErrorKind, FromExternalError, ParseError};
use nom::{Err, IResult, Needed};

use crate::{HeaderError, LengthEncoding, LengthField};

/// A parser for one length field of `encoding`, on complete input: too few bytes is an error.
pub fn length<'a, E>(encoding: LengthEncoding) -> impl FnMut(&'a [u8]) -> IResult<&'a [u8], u64, E>
where
    E: ParseError<&'a [u8]> + FromExternalError<&'a [u8], HeaderError>,
{
    move |input: &'a [u8]| match encoding.decode(input) {
        Ok(value) => Ok((&input[encoding.width()..], value)),
        Err(e @ HeaderError::Truncated { .. }) => {
            Err(Err::Error(E::from_external_error(input, ErrorKind::Eof, e)))
        }
        Err(e) => Err(Err::Error(E::from_external_error(
            input,
            ErrorKind::MapRes,
            e,
        ))),
    }
}

/// Like [`length`], but for streaming input: too few bytes is [`nom::Err::Incomplete`].
pub fn length_streaming<'a, E>(
    encoding: LengthEncoding,
) -> impl FnMut(&'a [u8]) -> IResult<&'a [u8], u64, E>
where
    E: ParseError<&'a [u8]> + FromExternalError<&'a [u8], HeaderError>,
{
    let mut complete = length::<E>(encoding);
    move |input: &'a [u8]| {
        let width = encoding.width();
        if input.len() < width {
            return Err(Err::Incomplete(Needed::new(width - input.len())));
        }
        complete(input)
    }
}

fn built(result: Result<LengthEncoding, HeaderError>) -> LengthEncoding {
    match result {
        Ok(e) => e,
        Err(e) => panic!("{e}"),
    }
}

/// `digits` strict ASCII decimal digits (`1..=10`).
///
/// # Panics
/// When `digits` is outside `1..=10`.
pub fn ascii_decimal<'a, E>(digits: usize) -> impl FnMut(&'a [u8]) -> IResult<&'a [u8], u64, E>
where
    E: ParseError<&'a [u8]> + FromExternalError<&'a [u8], HeaderError>,
{
    length(built(LengthEncoding::ascii_decimal(digits)))
}

/// `digits` ASCII hex digits (`1..=16`).
///
/// # Panics
/// When `digits` is outside `1..=16`.
pub fn ascii_hex<'a, E>(digits: usize) -> impl FnMut(&'a [u8]) -> IResult<&'a [u8], u64, E>
where
    E: ParseError<&'a [u8]> + FromExternalError<&'a [u8], HeaderError>,
{
    length(built(LengthEncoding::ascii_hex(digits)))
}

/// `bytes` bytes of packed BCD (`1..=5`).
///
/// # Panics
/// When `bytes` is outside `1..=5`.
pub fn packed_bcd<'a, E>(bytes: usize) -> impl FnMut(&'a [u8]) -> IResult<&'a [u8], u64, E>
where
    E: ParseError<&'a [u8]> + FromExternalError<&'a [u8], HeaderError>,
{
    length(built(LengthEncoding::packed_bcd(bytes)))
}

/// A `bytes`-byte big-endian unsigned integer (`1..=8`).
///
/// # Panics
/// When `bytes` is outside `1..=8`.
pub fn big_endian<'a, E>(bytes: usize) -> impl FnMut(&'a [u8]) -> IResult<&'a [u8], u64, E>
where
    E: ParseError<&'a [u8]> + FromExternalError<&'a [u8], HeaderError>,
{
    length(built(LengthEncoding::big_endian(bytes)))
}

/// A `bytes`-byte little-endian unsigned integer (`1..=8`).
///
/// # Panics
/// When `bytes` is outside `1..=8`.
pub fn little_endian<'a, E>(bytes: usize) -> impl FnMut(&'a [u8]) -> IResult<&'a [u8], u64, E>
where
    E: ParseError<&'a [u8]> + FromExternalError<&'a [u8], HeaderError>,
{
    length(built(LengthEncoding::little_endian(bytes)))
}
