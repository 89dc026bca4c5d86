//! Request keys found where common protocols put them, for
//! [`LongClientBuilder::match_replies`](crate::LongClientBuilder::match_replies): a reply is
//! matched to the request with the same key, in any order.
//!
//! Offsets count from the start of the message **as the framing delivers it**: a framing that
//! strips its length header (the default, `strip` = the header's size) delivers the PDU without
//! it. With `be:4,counts-header`, SMPP's and CMPP's 4-byte length is stripped:
//!
//! ```text
//! SMPP PDU:       command_length | command_id | command_status | sequence_number | body
//! on the wire:    0 ........... 4 ......... 8 ............. 12 .............. 16
//! as delivered:                  0 ......... 4 .............. 8 ............... 12     uint_be_at(8, 4)
//!
//! CMPP PDU:       Total_Length | Command_Id | Sequence_Id | body
//! on the wire:    0 ......... 4 ......... 8 ........... 12
//! as delivered:                0 ......... 4 ............ 8                            uint_be_at(4, 4)
//! ```
//!
//! With `strip=0` the offsets are those of the wire (`uint_be_at(12, 4)`, `uint_be_at(8, 4)`).
//! A message too short for its key has none: it is delivered as unsolicited.
//!
//! ```
//! use msgframe_conn::{keys, LongClient};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let rt = tokio::runtime::Runtime::new()?;
//! # let _guard = rt.enter();
//! let smpp = LongClient::builder(["127.0.0.1:2775"], "be:4,counts-header".parse()?)
//!     .match_replies(keys::uint_be_at(8, 4)) // sequence_number
//!     .start()?;
//! # drop(smpp);
//! # Ok(())
//! # }
//! ```
//!
//! ## ISO 8583: a key from the bitmap
//!
//! An ISO 8583 reply carries its request's MTI class, STAN (field 11) and terminal id (field 41),
//! but where field 41 sits depends on which fields 2-40 are present: the key function walks the
//! bitmap. The layout below is ISO 8583:1987 in ASCII (a 4-digit MTI, a hex bitmap, ASCII
//! fields); adjust the table to your host's specification.
//!
//! ```
//! /// Field sizes, fields 2-41 (ISO 8583:1987, ASCII): a fixed size, or the digits of a
//! /// variable field's length prefix (LLVAR: 2, LLLVAR: 3).
//! enum Size {
//!     Fixed(usize),
//!     Var(usize),
//! }
//! use Size::{Fixed, Var};
//! const FIELDS_2_TO_41: [Size; 40] = [
//!     Var(2), Fixed(6), Fixed(12), Fixed(12), Fixed(12), Fixed(10), Fixed(8), Fixed(8), // 2-9
//!     Fixed(8), Fixed(6), Fixed(6), Fixed(4), Fixed(4), Fixed(4), Fixed(4), Fixed(4), // 10-17
//!     Fixed(4), Fixed(3), Fixed(3), Fixed(3), Fixed(3), Fixed(3), Fixed(3), Fixed(2), // 18-25
//!     Fixed(2), Fixed(1), Fixed(9), Fixed(9), Fixed(9), Fixed(9), Var(2), Var(2), // 26-33
//!     Var(2), Var(2), Var(3), Fixed(12), Fixed(6), Fixed(2), Fixed(3), Fixed(8), // 34-41
//! ];
//!
//! /// The request key of an ASCII ISO 8583 message: its MTI class (`'2'` for 0200 and 0210),
//! /// STAN and terminal id. `None` when the message has no STAN or no terminal id, or is cut
//! /// short.
//! fn iso8583_key(m: &[u8]) -> Option<(u8, [u8; 6], [u8; 8])> {
//!     let class = *m.get(1)?;
//!     let hex = |at: usize| -> Option<u64> {
//!         u64::from_str_radix(std::str::from_utf8(m.get(at..at + 16)?).ok()?, 16).ok()
//!     };
//!     let primary = hex(4)?;
//!     let present = |field: usize| primary & (1 << (64 - field)) != 0;
//!     // Field 1 set: a secondary bitmap follows the primary one.
//!     let mut at = if present(1) { 36 } else { 20 };
//!     let (mut stan, mut terminal) = (None, None);
//!     for (field, size) in (2..=41).zip(&FIELDS_2_TO_41) {
//!         if !present(field) {
//!             continue;
//!         }
//!         let len = match *size {
//!             Fixed(len) => len,
//!             Var(digits) => {
//!                 let prefix = std::str::from_utf8(m.get(at..at + digits)?).ok()?;
//!                 at += digits;
//!                 prefix.parse().ok()?
//!             }
//!         };
//!         let value = m.get(at..at + len)?;
//!         match field {
//!             11 => stan = value.try_into().ok(),
//!             41 => terminal = value.try_into().ok(),
//!             _ => {}
//!         }
//!         at += len;
//!     }
//!     Some((class, stan?, terminal?))
//! }
//!
//! // 0200 with fields 2 (PAN, LLVAR), 3, 4, 11 and 41; its 0210 with 3, 4, 11, 39 and 41.
//! let request = b"02007020000000800000164111111111111111000000000000001000123456TERM0042";
//! let reply = b"0210302000000280000000000000000000100012345600TERM0042";
//! assert_eq!(iso8583_key(request), Some((b'2', *b"123456", *b"TERM0042")));
//! assert_eq!(iso8583_key(request), iso8583_key(reply));
//! assert_eq!(iso8583_key(b"0800"), None); // cut short: no key
//! // With the client: .match_replies(iso8583_key)
//! ```

/// The `width` bytes (1 to 8) at `offset` as a big-endian unsigned integer: SMPP's
/// `sequence_number`, CMPP's `Sequence_Id` (see the module's table for their offsets).
/// `None` for a message too short.
///
/// # Panics
/// When `width` is 0 or above 8 (a programming error, found when the client is built).
pub fn uint_be_at(
    offset: usize,
    width: usize,
) -> impl Fn(&[u8]) -> Option<u64> + Clone + Send + Sync + 'static {
    assert!(
        (1..=8).contains(&width),
        "a key of {width} bytes does not fit a u64 (1 to 8 bytes)"
    );
    move |message: &[u8]| {
        let field = message.get(offset..offset.checked_add(width)?)?;
        Some(
            field
                .iter()
                .fold(0u64, |key, byte| key << 8 | u64::from(*byte)),
        )
    }
}

/// The `N` bytes at `offset`, as they are: any fixed-width field (an ASCII STAN, a binary
/// transaction id). `None` for a message too short.
pub fn bytes_at<const N: usize>(
    offset: usize,
) -> impl Fn(&[u8]) -> Option<[u8; N]> + Clone + Send + Sync + 'static {
    move |message: &[u8]| {
        let field = message.get(offset..offset.checked_add(N)?)?;
        field.try_into().ok()
    }
}

/// The `width` ASCII decimal digits at `offset` as a number (a STAN written as text, `"000123"`
/// is 123). `None` for a message too short or a field that is not all digits.
///
/// # Panics
/// When `width` is 0 or above 19 (more digits than a u64 holds).
pub fn ascii_digits_at(
    offset: usize,
    width: usize,
) -> impl Fn(&[u8]) -> Option<u64> + Clone + Send + Sync + 'static {
    assert!(
        (1..=19).contains(&width),
        "a key of {width} digits does not fit a u64 (1 to 19 digits)"
    );
    move |message: &[u8]| {
        let field = message.get(offset..offset.checked_add(width)?)?;
        field.iter().try_fold(0u64, |key, byte| {
            byte.is_ascii_digit()
                .then(|| key * 10 + u64::from(byte - b'0'))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unsigned_integer_is_read_big_endian_and_a_short_message_has_no_key() {
        let key = uint_be_at(2, 3);
        assert_eq!(key(&[9, 9, 0x01, 0x02, 0x03]), Some(0x010203));
        assert_eq!(key(&[9, 9, 0x01, 0x02]), None);
        assert_eq!(uint_be_at(usize::MAX, 8)(&[0; 16]), None);
    }

    #[test]
    fn ascii_digits_are_a_number_and_anything_else_is_no_key() {
        let key = ascii_digits_at(1, 6);
        assert_eq!(key(b"x000123y"), Some(123));
        assert_eq!(key(b"x00 123y"), None);
        assert_eq!(key(b"x00012"), None);
        assert_eq!(
            ascii_digits_at(0, 19)(b"9999999999999999999"),
            Some(9_999_999_999_999_999_999)
        );
    }

    #[test]
    fn bytes_are_taken_as_they_are() {
        assert_eq!(bytes_at::<4>(1)(b"xTERMy"), Some(*b"TERM"));
        assert_eq!(bytes_at::<4>(3)(b"xTERM"), None);
    }

    #[test]
    #[should_panic(expected = "does not fit a u64")]
    fn a_key_wider_than_a_u64_is_refused() {
        let _ = uint_be_at(0, 9);
    }
}
