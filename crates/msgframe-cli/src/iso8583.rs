//! Where each field of an ISO 8583 message lies: the bitmap walked, for `replay`'s field masks
//! (`--ignore-field`) and keys (`--key-fields`).
//!
//! The layout is ISO 8583:1987 with ASCII fields, as hosts and libraries commonly encode it:
//!
//! ```text
//! [header: --iso8583-header bytes] MTI (4 digits) | primary bitmap | [secondary bitmap] | fields 2-128
//! bitmap:  16 hex digits (ASCII dialect)  or  8 bytes (binary bitmap)   -- told apart by its bytes
//! field:   fixed width, or LLVAR / LLLVAR: 2 or 3 ASCII digits giving the length that follows
//! ```
//!
//! Binary fields (52 PIN data, 64 and 128 MAC, 65, 96) are 8 bytes beside a binary bitmap and
//! 16 hex digits beside a hex one. Packed-BCD layouts are not walked.

use std::ops::Range;

/// How long a field is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Size {
    /// Always this many bytes.
    Fixed(usize),
    /// Binary, 64 bits: 8 bytes, or 16 hex digits beside a hex bitmap.
    Bits64,
    /// Its length in this many ASCII digits, then that many bytes.
    Var(usize),
}

use Size::{Bits64, Fixed, Var};

/// Fields 2 to 128 (index 0 is field 2), ISO 8583:1987.
#[rustfmt::skip]
const FIELDS: [Size; 127] = [
    Var(2), Fixed(6), Fixed(12), Fixed(12), Fixed(12), Fixed(10), Fixed(8), Fixed(8), // 2-9
    Fixed(8), Fixed(6), Fixed(6), Fixed(4), Fixed(4), Fixed(4), Fixed(4), Fixed(4), // 10-17
    Fixed(4), Fixed(3), Fixed(3), Fixed(3), Fixed(3), Fixed(3), Fixed(3), Fixed(2), // 18-25
    Fixed(2), Fixed(1), Fixed(9), Fixed(9), Fixed(9), Fixed(9), Var(2), Var(2), // 26-33
    Var(2), Var(2), Var(3), Fixed(12), Fixed(6), Fixed(2), Fixed(3), Fixed(8), // 34-41
    Fixed(15), Fixed(40), Var(2), Var(2), Var(3), Var(3), Var(3), Fixed(3), // 42-49
    Fixed(3), Fixed(3), Bits64, Fixed(16), Var(3), Var(3), Var(3), Var(3), // 50-57
    Var(3), Var(3), Var(3), Var(3), Var(3), Var(3), Bits64, Bits64, // 58-65
    Fixed(1), Fixed(2), Fixed(3), Fixed(3), Fixed(3), Fixed(4), Fixed(4), Fixed(6), // 66-73
    Fixed(10), Fixed(10), Fixed(10), Fixed(10), Fixed(10), Fixed(10), Fixed(10), Fixed(10), // 74-81
    Fixed(12), Fixed(12), Fixed(12), Fixed(12), Fixed(16), Fixed(16), Fixed(16), Fixed(16), // 82-89
    Fixed(42), Fixed(1), Fixed(2), Fixed(5), Fixed(7), Fixed(42), Bits64, Fixed(17), // 90-97
    Fixed(25), Var(2), Var(2), Var(2), Var(2), Var(2), Var(3), Var(3), // 98-105
    Var(3), Var(3), Var(3), Var(3), Var(3), Var(3), Var(3), Var(3), // 106-113
    Var(3), Var(3), Var(3), Var(3), Var(3), Var(3), Var(3), Var(3), // 114-121
    Var(3), Var(3), Var(3), Var(3), Var(3), Var(3), Bits64, // 122-128
];

/// The parts of one message: where its MTI, bitmap(s) and each present field lie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    /// The message type indicator.
    pub mti: Range<usize>,
    /// The bitmap(s), primary and secondary together.
    pub bitmap: Range<usize>,
    /// Each field present (2 to 128), in order, with its bytes (a variable field's length
    /// digits included).
    pub fields: Vec<(u8, Range<usize>)>,
}

impl Fields {
    /// Where field `n` lies, when present.
    pub fn field(&self, n: u8) -> Option<Range<usize>> {
        self.fields
            .iter()
            .find(|(f, _)| *f == n)
            .map(|(_, r)| r.clone())
    }

    /// The bytes of field `n` without a variable field's length digits, when present.
    pub fn value<'a>(&self, message: &'a [u8], n: u8) -> Option<&'a [u8]> {
        let range = self.field(n)?;
        let skip = match FIELDS.get(usize::from(n).checked_sub(2)?)? {
            Var(digits) => *digits,
            _ => 0,
        };
        message.get(range.start + skip..range.end)
    }
}

/// Walks the bitmap of `message`, whose MTI starts at `header` (bytes before it, such as a
/// TPDU, are skipped): where every field lies, or why the message is not ISO 8583 as laid out
/// above (cut short, a length that is not digits), naming the offset.
pub fn walk(message: &[u8], header: usize) -> Result<Fields, String> {
    let at = |what: &str, offset: usize| format!("{what} at offset {offset}");
    let mti = header..header + 4;
    let digits = message
        .get(mti.clone())
        .ok_or_else(|| at("no 4-byte MTI", header))?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(format!(
            "the MTI at offset {header} is not 4 digits ({})",
            msgframe_codec::header::hex::display(digits)
        ));
    }
    let start = mti.end;
    // A hex bitmap is 16 hex digits; a binary one with its first bit set (a secondary bitmap)
    // starts with a byte of 0x80 or more, and without it, hardly ever with 16 hex digits.
    let hex = message
        .get(start..start + 16)
        .is_some_and(|b| b.iter().all(u8::is_ascii_hexdigit));
    let width = if hex { 16 } else { 8 };
    let mut bits = Vec::with_capacity(128);
    let mut offset = start;
    for map in 0..2 {
        if map == 1 && !bits.first().copied().unwrap_or(false) {
            break;
        }
        let raw = message
            .get(offset..offset + width)
            .ok_or_else(|| at("the message ends inside its bitmap", offset))?;
        if hex {
            for (i, c) in raw.iter().enumerate() {
                let nibble = (*c as char)
                    .to_digit(16)
                    .ok_or_else(|| at("a bitmap digit that is not hex", offset + i))?;
                bits.extend((0..4).rev().map(|b| nibble & (1 << b) != 0));
            }
        } else {
            bits.extend(
                raw.iter()
                    .flat_map(|byte| (0..8).rev().map(move |b| byte & (1 << b) != 0)),
            );
        }
        offset += width;
    }
    let bitmap = start..offset;
    let mut fields = Vec::new();
    for (index, present) in bits.iter().enumerate().skip(1) {
        if !present {
            continue;
        }
        let n = index + 1;
        let len = match FIELDS[index - 1] {
            Fixed(len) => len,
            Bits64 => width,
            Var(digits) => {
                let prefix = message.get(offset..offset + digits).ok_or_else(|| {
                    at(
                        &format!("the message ends inside field {n}'s length"),
                        offset,
                    )
                })?;
                let text = std::str::from_utf8(prefix)
                    .ok()
                    .filter(|t| t.bytes().all(|b| b.is_ascii_digit()));
                let len: usize = text.and_then(|t| t.parse().ok()).ok_or_else(|| {
                    format!(
                        "field {n}'s length at offset {offset} is not {digits} digits ({})",
                        msgframe_codec::header::hex::display(prefix)
                    )
                })?;
                digits + len
            }
        };
        let end = offset + len;
        if end > message.len() {
            return Err(format!(
                "the message ends inside field {n} ({len} bytes from offset {offset}, {} there)",
                message.len() - offset
            ));
        }
        fields.push((n as u8, offset..end));
        offset = end;
    }
    Ok(Fields {
        mti,
        bitmap,
        fields,
    })
}

/// Parses a field list such as `7,11,37,39` (fields 2 to 128).
pub fn field_list(text: &str) -> Result<Vec<u8>, String> {
    text.split(',')
        .map(|part| {
            let part = part.trim();
            match part.parse::<u8>() {
                Ok(n) if (2..=128).contains(&n) => Ok(n),
                _ => Err(format!(
                    "`{part}` is not an ISO 8583 field number (2 to 128); example: 7,11,37,39"
                )),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 0200 with fields 3, 4, 7, 11, 35 (LLVAR), 41 and 55 (LLLVAR), hex bitmap.
    fn sample() -> Vec<u8> {
        let mut m = b"0200".to_vec();
        // Fields 3, 4, 7, 11 | 35 | 41 | 55: bits 3,4,7,11,35,41,55.
        let mut bitmap = [0u8; 8];
        for f in [3, 4, 7, 11, 35, 41, 55] {
            bitmap[(f - 1) / 8] |= 0x80 >> ((f - 1) % 8);
        }
        m.extend(
            bitmap
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<String>()
                .bytes(),
        );
        m.extend(b"000000"); // 3
        m.extend(b"000000001000"); // 4
        m.extend(b"1205083000"); // 7
        m.extend(b"123456"); // 11
        m.extend(b"164111111111111111"); // 35: 16 digits
        m.extend(b"TERM0042"); // 41
        m.extend(b"0069F0201"); // 55: 6 bytes
        m
    }

    #[test]
    fn every_field_is_found_behind_a_hex_bitmap() {
        let m = sample();
        let f = walk(&m, 0).unwrap();
        assert_eq!(f.mti, 0..4);
        assert_eq!(f.bitmap, 4..20);
        let numbers: Vec<u8> = f.fields.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, [3, 4, 7, 11, 35, 41, 55]);
        assert_eq!(&m[f.field(11).unwrap()], b"123456");
        assert_eq!(f.value(&m, 35), Some(&b"4111111111111111"[..]));
        assert_eq!(f.value(&m, 41), Some(&b"TERM0042"[..]));
        assert_eq!(f.value(&m, 55), Some(&b"9F0201"[..]));
        assert_eq!(f.fields.last().unwrap().1.end, m.len());
    }

    #[test]
    fn a_binary_bitmap_with_a_secondary_one_is_walked() {
        let mut m = b"0800".to_vec();
        m.extend([0x82, 0x20, 0, 0, 0, 0, 0, 0]); // 1 (secondary), 7, 11
        m.extend([0x04, 0, 0, 0, 0, 0, 0, 0]); // 70
        m.extend(b"1205083000123456301");
        let f = walk(&m, 0).unwrap();
        assert_eq!(f.bitmap, 4..20);
        let found: Vec<(u8, &[u8])> = f.fields.iter().map(|(n, r)| (*n, &m[r.clone()])).collect();
        assert_eq!(
            found,
            [(7, &b"1205083000"[..]), (11, b"123456"), (70, b"301")]
        );
    }

    #[test]
    fn a_header_before_the_mti_is_skipped() {
        let mut m = b"\x60\x00\x01\x00\x00".to_vec();
        m.extend(sample());
        let f = walk(&m, 5).unwrap();
        assert_eq!(&m[f.mti.clone()], b"0200");
        assert_eq!(f.value(&m, 41), Some(&b"TERM0042"[..]));
    }

    #[test]
    fn a_message_that_is_not_iso_8583_says_where() {
        assert_eq!(walk(b"02", 0).unwrap_err(), "no 4-byte MTI at offset 0");
        assert!(walk(b"ABCD", 0).unwrap_err().contains("not 4 digits"));
        let mut m = sample();
        m.truncate(m.len() - 2);
        assert_eq!(
            walk(&m, 0).unwrap_err(),
            format!(
                "the message ends inside field 55 (9 bytes from offset {}, 7 there)",
                m.len() - 7
            )
        );
        let mut m = sample();
        let at = m.len() - 9;
        m[at] = b'x';
        assert!(walk(&m, 0)
            .unwrap_err()
            .starts_with(&format!("field 55's length at offset {at}")));
    }

    #[test]
    fn no_input_makes_the_walk_panic() {
        let m = sample();
        for cut in 0..m.len() {
            let _ = walk(&m[..cut], 0);
            let _ = walk(&m[..cut], 3);
        }
        let mut state = 0x9e37_79b9_u32;
        for _ in 0..2000 {
            let len = (state % 64) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    state as u8
                })
                .collect();
            let _ = walk(&bytes, 0);
        }
    }

    /// Messages pyiso8583 encoded (its `default_ascii` and `default` specs: hex and binary
    /// bitmaps, random fields 2-128 and lengths) are walked to the same field boundaries it
    /// reports. Skipped without python3 and pyiso8583, except in CI.
    #[test]
    fn the_walk_agrees_with_pyiso8583() {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/pyiso8583_fields.py"
        );
        let mut checked = 0;
        for seed in ["1", "2", "3"] {
            let out = std::process::Command::new("python3")
                .args([script, seed])
                .output();
            let out = match out {
                Ok(out) if out.status.success() => out.stdout,
                other => {
                    assert!(
                        std::env::var("CI").as_deref() != Ok("true"),
                        "pyiso8583 is missing in CI (.ci/install-interop-python.sh): {other:?}"
                    );
                    println!("skipping: python3 with pyiso8583 is not installed");
                    return;
                }
            };
            let messages: serde_json::Value = serde_json::from_slice(&out).unwrap();
            for m in messages.as_array().unwrap() {
                let hex = m["hex"].as_str().unwrap();
                let bytes: Vec<u8> = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect();
                let expected: Vec<(u8, Range<usize>)> = m["fields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| {
                        let n = |i: usize| f[i].as_u64().unwrap() as usize;
                        (n(0) as u8, n(1)..n(2))
                    })
                    .collect();
                let walked = walk(&bytes, 0).unwrap_or_else(|e| panic!("{m}: {e}"));
                assert_eq!(walked.fields, expected, "{} spec: {hex}", m["spec"]);
                checked += 1;
            }
        }
        assert_eq!(checked, 900);
    }

    #[test]
    fn field_lists_are_checked() {
        assert_eq!(field_list("7, 11,37,39").unwrap(), [7, 11, 37, 39]);
        assert!(field_list("1").is_err());
        assert!(field_list("129").unwrap_err().contains("`129`"));
        assert!(field_list("7,,11").is_err());
    }
}
