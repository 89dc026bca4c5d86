//! Bytes as hex text, and hex text as bytes: one formatter and one parser for error messages,
//! framing specs, dumps and command-line input.
//!
//! [`display`] writes bytes as two hex digits each, lower-case and without separators unless asked
//! ([`HexDisplay::upper`], [`HexDisplay::spaced`]). [`parse`] reads exactly such text back (either
//! case); [`parse_separated`] also allows what people type between bytes: spaces, `:`, `-`, `_`
//! and `0x` prefixes.
//!
//! ```
//! use msgframe_header::hex;
//!
//! assert_eq!(hex::display(&[0x03, 0x00, 0x7b]).to_string(), "03007b");
//! assert_eq!(hex::display(&[0x03, 0x00, 0x7b]).upper().spaced().to_string(), "03 00 7B");
//!
//! assert_eq!(hex::parse("03007B")?, [0x03, 0x00, 0x7b]);
//! assert_eq!(hex::parse_separated("0x03 00:7b")?, [0x03, 0x00, 0x7b]);
//! assert_eq!(
//!     hex::parse("0g").unwrap_err(),
//!     hex::HexError::InvalidDigit { offset: 1, found: 'g' }
//! );
//! # Ok::<(), msgframe_header::hex::HexError>(())
//! ```

use core::fmt;

const LOWER: &[u8; 16] = b"0123456789abcdef";
const UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// `bytes` as hex text: two digits a byte, lower-case, nothing between bytes. Change the style with
/// [`HexDisplay::upper`] and [`HexDisplay::spaced`]; get a `String` with `to_string()`.
///
/// ```
/// use msgframe_header::hex;
///
/// let bytes = [0x30, 0x31, 0x3a, 0x0a];
/// assert_eq!(hex::display(&bytes).to_string(), "30313a0a");
/// assert_eq!(hex::display(&bytes).spaced().to_string(), "30 31 3a 0a");
/// assert_eq!(hex::display(&bytes).upper().spaced().to_string(), "30 31 3A 0A");
/// assert_eq!(hex::display(&[]).to_string(), "");
/// ```
pub fn display(bytes: &[u8]) -> HexDisplay<'_> {
    HexDisplay {
        bytes,
        upper: false,
        spaced: false,
    }
}

/// Bytes shown as hex by [`Display`](fmt::Display); made by [`display`].
///
/// Width, fill and alignment (`{:<49}`) apply to the whole text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HexDisplay<'a> {
    bytes: &'a [u8],
    upper: bool,
    spaced: bool,
}

impl HexDisplay<'_> {
    /// Upper-case digits: `3A` rather than `3a`.
    #[must_use]
    pub fn upper(self) -> Self {
        HexDisplay {
            upper: true,
            ..self
        }
    }

    /// One space between bytes: `03 00` rather than `0300`.
    #[must_use]
    pub fn spaced(self) -> Self {
        HexDisplay {
            spaced: true,
            ..self
        }
    }

    fn write(&self, out: &mut impl fmt::Write) -> fmt::Result {
        let digits = if self.upper { UPPER } else { LOWER };
        for (i, &b) in self.bytes.iter().enumerate() {
            if self.spaced && i > 0 {
                out.write_char(' ')?;
            }
            out.write_char(char::from(digits[usize::from(b >> 4)]))?;
            out.write_char(char::from(digits[usize::from(b & 0x0f)]))?;
        }
        Ok(())
    }
}

impl fmt::Display for HexDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.width().is_none() {
            return self.write(f);
        }
        let mut text = String::with_capacity(self.bytes.len() * 3);
        self.write(&mut text)?;
        f.pad(&text)
    }
}

/// Why hex text is not bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HexError {
    /// A character that is not a hex digit (nor, for [`parse_separated`], a separator). The first
    /// one is reported.
    #[error("`{found}` at offset {offset} is not a hex digit")]
    InvalidDigit {
        /// Byte offset of the character in the text.
        offset: usize,
        /// The character.
        found: char,
    },
    /// An odd number of hex digits: each byte is two.
    #[error("{digits} hex digits: an odd number (each byte is two digits)")]
    OddLength {
        /// How many digits the text has.
        digits: usize,
    },
}

/// The bytes written in `text`: two hex digits a byte, either case, nothing else.
///
/// # Errors
/// [`HexError::InvalidDigit`] for the first character that is not a hex digit (checked first),
/// [`HexError::OddLength`] for an odd number of digits.
///
/// ```
/// use msgframe_header::hex::{self, HexError};
///
/// assert_eq!(hex::parse("0d0A")?, b"\r\n");
/// assert_eq!(hex::parse("")?, b"");
/// assert_eq!(hex::parse("030").unwrap_err(), HexError::OddLength { digits: 3 });
/// assert_eq!(
///     hex::parse("03 00").unwrap_err(),
///     HexError::InvalidDigit { offset: 2, found: ' ' }
/// );
/// # Ok::<(), HexError>(())
/// ```
pub fn parse(text: &str) -> Result<Vec<u8>, HexError> {
    decode(text, false)
}

/// Like [`parse`], allowing what people type between bytes: whitespace, `:`, `-`, `_`, and `0x` or
/// `0X` prefixes, anywhere. Offsets in errors are positions in `text` as given.
///
/// # Errors
/// As [`parse`].
///
/// ```
/// use msgframe_header::hex::{self, HexError};
///
/// assert_eq!(hex::parse_separated("30 38:30-30_0x31")?, b"08001");
/// assert_eq!(hex::parse_separated("0x0A 0x0d")?, b"\n\r");
/// assert_eq!(
///     hex::parse_separated("0x30 3g").unwrap_err(),
///     HexError::InvalidDigit { offset: 6, found: 'g' }
/// );
/// # Ok::<(), HexError>(())
/// ```
pub fn parse_separated(text: &str) -> Result<Vec<u8>, HexError> {
    decode(text, true)
}

/// The digits of `text`, each as its value, or the first character that is not one.
fn decode(text: &str, separated: bool) -> Result<Vec<u8>, HexError> {
    let mut nibbles = Vec::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    while let Some((offset, c)) = chars.next() {
        if separated {
            if c == '0' && matches!(chars.peek(), Some((_, 'x' | 'X'))) {
                chars.next();
                continue;
            }
            if c.is_whitespace() || matches!(c, ':' | '-' | '_') {
                continue;
            }
        }
        match c.to_digit(16) {
            Some(n) => nibbles.push(n as u8),
            None => return Err(HexError::InvalidDigit { offset, found: c }),
        }
    }
    if !nibbles.len().is_multiple_of(2) {
        return Err(HexError::OddLength {
            digits: nibbles.len(),
        });
    }
    Ok(nibbles
        .chunks_exact(2)
        .map(|pair| pair[0] << 4 | pair[1])
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [u8; 4] = [0x00, 0x0a, 0xab, 0xff];

    #[test]
    fn display_styles() {
        assert_eq!(display(&ALL).to_string(), "000aabff");
        assert_eq!(display(&ALL).upper().to_string(), "000AABFF");
        assert_eq!(display(&ALL).spaced().to_string(), "00 0a ab ff");
        assert_eq!(display(&ALL).spaced().upper().to_string(), "00 0A AB FF");
        assert_eq!(display(&[0x7b]).spaced().to_string(), "7b");
    }

    #[test]
    fn display_of_nothing_is_empty() {
        assert_eq!(display(&[]).to_string(), "");
        assert_eq!(display(&[]).spaced().upper().to_string(), "");
    }

    #[test]
    fn display_pads_as_a_whole() {
        assert_eq!(format!("{:<8}|", display(&[1, 2]).spaced()), "01 02   |");
        assert_eq!(format!("{:>6}", display(&[0xab])), "    ab");
        assert_eq!(format!("{:2}", display(&ALL)), "000aabff");
    }

    #[test]
    fn every_byte_round_trips_in_every_style() {
        let all: Vec<u8> = (0..=255).collect();
        for text in [display(&all).to_string(), display(&all).upper().to_string()] {
            assert_eq!(parse(&text).unwrap(), all);
        }
        for text in [
            display(&all).spaced().to_string(),
            display(&all).spaced().upper().to_string(),
        ] {
            assert_eq!(parse_separated(&text).unwrap(), all);
        }
    }

    #[test]
    fn parse_empty() {
        assert_eq!(parse("").unwrap(), b"");
        assert_eq!(parse_separated("").unwrap(), b"");
        assert_eq!(parse_separated(" 0x : ").unwrap(), b"");
    }

    #[test]
    fn parse_either_case() {
        assert_eq!(parse("abCD").unwrap(), [0xab, 0xcd]);
        assert_eq!(parse("ABcd").unwrap(), [0xab, 0xcd]);
        assert_eq!(parse_separated("0XaB 0xCd").unwrap(), [0xab, 0xcd]);
    }

    #[test]
    fn parse_odd_length() {
        assert_eq!(parse("3").unwrap_err(), HexError::OddLength { digits: 1 });
        assert_eq!(parse("030").unwrap_err(), HexError::OddLength { digits: 3 });
        assert_eq!(
            parse_separated("03 0").unwrap_err(),
            HexError::OddLength { digits: 3 }
        );
        assert_eq!(
            parse("030").unwrap_err().to_string(),
            "3 hex digits: an odd number (each byte is two digits)"
        );
    }

    #[test]
    fn parse_invalid_digits_come_before_odd_length() {
        assert_eq!(
            parse("zz").unwrap_err(),
            HexError::InvalidDigit {
                offset: 0,
                found: 'z'
            }
        );
        assert_eq!(
            parse("00zz0").unwrap_err(),
            HexError::InvalidDigit {
                offset: 2,
                found: 'z'
            }
        );
        // Offsets are byte offsets: a multi-byte character is reported whole.
        assert_eq!(
            parse("0é").unwrap_err(),
            HexError::InvalidDigit {
                offset: 1,
                found: 'é'
            }
        );
        assert_eq!(
            parse("é0g").unwrap_err(),
            HexError::InvalidDigit {
                offset: 0,
                found: 'é'
            }
        );
        assert_eq!(
            parse("0g").unwrap_err().to_string(),
            "`g` at offset 1 is not a hex digit"
        );
    }

    #[test]
    fn parse_allows_no_separators() {
        for (text, offset, found) in [
            ("03 00", 2, ' '),
            ("03:00", 2, ':'),
            ("03-00", 2, '-'),
            ("03_00", 2, '_'),
            ("0x03", 1, 'x'),
        ] {
            assert_eq!(
                parse(text).unwrap_err(),
                HexError::InvalidDigit { offset, found },
                "{text}"
            );
        }
    }

    #[test]
    fn parse_separated_allows_separators_and_prefixes() {
        assert_eq!(parse_separated("30 38:30-30_0x31").unwrap(), b"08001");
        assert_eq!(parse_separated("\t30\n38  ").unwrap(), b"08");
        assert_eq!(parse_separated("0x3038").unwrap(), b"08");
        // A prefix may stand between the digits of a byte, as it always could.
        assert_eq!(parse_separated("30x8").unwrap(), [0x38]);
        // Other punctuation is not a separator.
        assert_eq!(
            parse_separated("30,38").unwrap_err(),
            HexError::InvalidDigit {
                offset: 2,
                found: ','
            }
        );
        // A lone `x` is no prefix.
        assert_eq!(
            parse_separated("30 x8").unwrap_err(),
            HexError::InvalidDigit {
                offset: 3,
                found: 'x'
            }
        );
    }

    #[test]
    fn parse_separated_offsets_are_in_the_text_given() {
        assert_eq!(
            parse_separated("0x30 0x3g").unwrap_err(),
            HexError::InvalidDigit {
                offset: 8,
                found: 'g'
            }
        );
    }
}
