//! Where each field of an ISO 8583 message lies: the bitmap walked, for `replay`'s field masks
//! (`--ignore-field`) and keys (`--key-fields`).
//!
//! The field table is ISO 8583:1987's. Two encodings of it are walked, told apart by the MTI of
//! each message (or given, `--iso8583-encoding`):
//!
//! ```text
//! [header: --iso8583-header bytes] MTI | primary bitmap | [secondary bitmap] | fields 2-128
//!
//! ASCII:  MTI    4 ASCII digits                   "0200"      30 32 30 30
//!         bitmap 16 hex digits or 8 bytes          -- told apart by its bytes
//!         n6     6 ASCII digits                    "123456"    31 32 33 34 35 36
//!         LLVAR  2 ASCII digits, then the value    "06ABCDEF"
//!         LLLVAR 3 ASCII digits, then the value
//!
//! BCD:    MTI    2 bytes of packed BCD             02 00
//!         bitmap 8 bytes
//!         n6     3 bytes of packed BCD             12 34 56   (an odd count: a pad nibble)
//!         LLVAR  1 byte of BCD: the digits (n, z) or bytes (an, ans, b) that follow
//!         LLLVAR 2 bytes of BCD, likewise          00 16 then 8 bytes for 16 digits
//! ```
//!
//! Numeric and track fields (n, z) are packed in BCD layouts; text fields (an, ans, x+n, ns)
//! are ASCII in both; binary fields (52 PIN data, 64 and 128 MAC, 65, 96) are 8 bytes, or 16 hex
//! digits beside a hex bitmap.

use std::ops::Range;

/// How a message's MTI, lengths and numeric fields are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// ASCII digits; the bitmap in hex digits or binary.
    Ascii,
    /// Packed BCD (two digits a byte); the bitmap binary.
    Bcd,
}

/// Where a message's ISO 8583 part starts and how it is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Layout {
    /// Bytes before the MTI (a TPDU, a host header), skipped.
    pub header: usize,
    /// The encoding, or `None` to tell it from each message's MTI: 4 ASCII digits, or else 2
    /// bytes of packed BCD (whose first digit, the ISO 8583 version, is 0, 1, 2 or 9, so never
    /// an ASCII digit's 3).
    pub encoding: Option<Encoding>,
}

/// One field of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    /// Numeric (n), this many digits.
    N(usize),
    /// Text (an, ans, x+n), this many bytes.
    A(usize),
    /// Binary, 64 bits.
    B64,
    /// Numeric or track data (n, z) after a length of this many digits.
    VarN(usize),
    /// Text or binary after a length of this many digits.
    VarA(usize),
}

use Spec::{VarA, VarN, A, B64, N};

/// Fields 2 to 128 (index 0 is field 2), ISO 8583:1987.
#[rustfmt::skip]
const FIELDS: [Spec; 127] = [
    VarN(2), N(6), N(12), N(12), N(12), N(10), N(8), N(8), // 2-9
    N(8), N(6), N(6), N(4), N(4), N(4), N(4), N(4), // 10-17
    N(4), N(3), N(3), N(3), N(3), N(3), N(3), N(2), // 18-25
    N(2), N(1), A(9), A(9), A(9), A(9), VarN(2), VarN(2), // 26-33
    VarA(2), VarN(2), VarN(3), A(12), A(6), A(2), A(3), A(8), // 34-41
    A(15), A(40), VarA(2), VarA(2), VarA(3), VarA(3), VarA(3), A(3), // 42-49
    A(3), A(3), B64, N(16), VarA(3), VarA(3), VarA(3), VarA(3), // 50-57
    VarA(3), VarA(3), VarA(3), VarA(3), VarA(3), VarA(3), B64, B64, // 58-65
    N(1), N(2), N(3), N(3), N(3), N(4), N(4), N(6), // 66-73
    N(10), N(10), N(10), N(10), N(10), N(10), N(10), N(10), // 74-81
    N(12), N(12), N(12), N(12), N(16), N(16), N(16), N(16), // 82-89
    N(42), A(1), A(2), A(5), A(7), A(42), B64, A(17), // 90-97
    A(25), VarN(2), VarN(2), VarA(2), VarA(2), VarA(2), VarA(3), VarA(3), // 98-105
    VarA(3), VarA(3), VarA(3), VarA(3), VarA(3), VarA(3), VarA(3), VarA(3), // 106-113
    VarA(3), VarA(3), VarA(3), VarA(3), VarA(3), VarA(3), VarA(3), VarA(3), // 114-121
    VarA(3), VarA(3), VarA(3), VarA(3), VarA(3), VarA(3), B64, // 122-128
];

/// Bytes that hold `digits` digits in `encoding`.
fn digit_bytes(digits: usize, encoding: Encoding) -> usize {
    match encoding {
        Encoding::Ascii => digits,
        Encoding::Bcd => digits.div_ceil(2),
    }
}

/// The parts of one message: where its MTI, bitmap(s) and each present field lie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    /// The encoding the message was walked in.
    pub encoding: Encoding,
    /// The message type indicator.
    pub mti: Range<usize>,
    /// The bitmap(s), primary and secondary together.
    pub bitmap: Range<usize>,
    /// Each field present (2 to 128), in order, with its bytes (a variable field's length
    /// included).
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

    /// The bytes of field `n` without a variable field's length, when present.
    pub fn value<'a>(&self, message: &'a [u8], n: u8) -> Option<&'a [u8]> {
        let range = self.field(n)?;
        let skip = match FIELDS.get(usize::from(n).checked_sub(2)?)? {
            VarN(digits) | VarA(digits) => digit_bytes(*digits, self.encoding),
            _ => 0,
        };
        message.get(range.start + skip..range.end)
    }
}

/// The number packed in `bytes` as BCD, when every nibble is a digit.
fn bcd(bytes: &[u8]) -> Option<usize> {
    bytes.iter().try_fold(0usize, |n, b| {
        let (high, low) = (usize::from(b >> 4), usize::from(b & 0x0f));
        (high <= 9 && low <= 9).then(|| n * 100 + high * 10 + low)
    })
}

/// The number written in `bytes` as ASCII digits, when they all are.
fn ascii(bytes: &[u8]) -> Option<usize> {
    bytes.iter().try_fold(0usize, |n, b| {
        b.is_ascii_digit().then(|| n * 10 + usize::from(b - b'0'))
    })
}

/// Walks the bitmap of `message` laid out as `layout` says: where every field lies, or why the
/// message is not ISO 8583 so laid out (cut short, a length that is not digits), naming the
/// offset.
pub fn walk(message: &[u8], layout: Layout) -> Result<Fields, String> {
    let at = |what: &str, offset: usize| format!("{what} at offset {offset}");
    let header = layout.header;
    let hex = |b: &[u8]| msgframe_codec::header::hex::display(b).spaced().to_string();
    let shown = |range: Range<usize>| {
        hex(&message[range.start.min(message.len())..range.end.min(message.len())])
    };
    let ascii_mti = |m: &[u8]| m.len() == 4 && m.iter().all(u8::is_ascii_digit);
    if header >= message.len() {
        // (And no offset past it can overflow.)
        return Err(at("no MTI", header));
    }
    let encoding = match layout.encoding {
        Some(encoding) => encoding,
        None if message.get(header..header + 4).is_some_and(ascii_mti) => Encoding::Ascii,
        None if message
            .get(header..header + 2)
            .is_some_and(|m| bcd(m).is_some() && matches!(m[0] >> 4, 0 | 1 | 2 | 8 | 9)) =>
        {
            Encoding::Bcd
        }
        None if message.len() < header + 2 => return Err(at("no MTI", header)),
        None => {
            return Err(format!(
                "the MTI at offset {header} is neither 4 ASCII digits nor 2 bytes of packed BCD \
                 starting with an ISO 8583 version, 0, 1, 2, 8 or 9 ({})",
                shown(header..header + 4)
            ))
        }
    };
    let mti = header..header + digit_bytes(4, encoding);
    let digits = message
        .get(mti.clone())
        .ok_or_else(|| at(&format!("no {}-byte MTI", mti.len()), header))?;
    let valid = match encoding {
        Encoding::Ascii => ascii_mti(digits),
        Encoding::Bcd => bcd(digits).is_some(),
    };
    if !valid {
        let what = match encoding {
            Encoding::Ascii => "4 ASCII digits",
            Encoding::Bcd => "2 bytes of packed BCD",
        };
        return Err(format!(
            "the MTI at offset {header} is not {what} ({})",
            shown(mti)
        ));
    }
    let start = mti.end;
    // A hex bitmap is 16 hex digits; a binary one with its first bit set (a secondary bitmap)
    // starts with a byte of 0x80 or more, and without it, hardly ever with 16 hex digits.
    let hex_bitmap = encoding == Encoding::Ascii
        && message
            .get(start..start + 16)
            .is_some_and(|b| b.iter().all(u8::is_ascii_hexdigit));
    let width = if hex_bitmap { 16 } else { 8 };
    let mut bits = Vec::with_capacity(128);
    let mut offset = start;
    for map in 0..2 {
        if map == 1 && !bits.first().copied().unwrap_or(false) {
            break;
        }
        let raw = message
            .get(offset..offset + width)
            .ok_or_else(|| at("the message ends inside its bitmap", offset))?;
        if hex_bitmap {
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
            N(digits) => digit_bytes(digits, encoding),
            A(len) => len,
            B64 => width,
            VarN(digits) | VarA(digits) => {
                let prefix_len = digit_bytes(digits, encoding);
                let prefix = message.get(offset..offset + prefix_len).ok_or_else(|| {
                    at(
                        &format!("the message ends inside field {n}'s length"),
                        offset,
                    )
                })?;
                let len = match encoding {
                    Encoding::Ascii => ascii(prefix),
                    Encoding::Bcd => bcd(prefix),
                }
                .ok_or_else(|| {
                    let what = match encoding {
                        Encoding::Ascii => format!("{digits} digits"),
                        Encoding::Bcd => format!("{digits} digits of packed BCD"),
                    };
                    format!(
                        "field {n}'s length at offset {offset} is not {what} ({})",
                        hex(prefix)
                    )
                })?;
                let value = match FIELDS[index - 1] {
                    VarN(_) => digit_bytes(len, encoding),
                    _ => len,
                };
                prefix_len + value
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
        encoding,
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

    const AUTO: Layout = Layout {
        header: 0,
        encoding: None,
    };
    const ASCII: Layout = Layout {
        header: 0,
        encoding: Some(Encoding::Ascii),
    };
    const BCD: Layout = Layout {
        header: 0,
        encoding: Some(Encoding::Bcd),
    };

    fn header(header: usize) -> Layout {
        Layout {
            header,
            encoding: None,
        }
    }

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
        let f = walk(&m, AUTO).unwrap();
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
        let f = walk(&m, AUTO).unwrap();
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
        let f = walk(&m, header(5)).unwrap();
        assert_eq!(&m[f.mti.clone()], b"0200");
        assert_eq!(f.value(&m, 41), Some(&b"TERM0042"[..]));
    }

    #[test]
    fn a_message_that_is_not_iso_8583_says_where() {
        assert_eq!(walk(b"0", AUTO).unwrap_err(), "no MTI at offset 0");
        assert!(walk(b"ABCD", AUTO).unwrap_err().starts_with(
            "the MTI at offset 0 is neither 4 ASCII digits nor 2 bytes of packed BCD"
        ));
        assert_eq!(walk(b"02", ASCII).unwrap_err(), "no 4-byte MTI at offset 0");
        assert_eq!(
            walk(b"\x02\x00\x00\x00", ASCII).unwrap_err(),
            "the MTI at offset 0 is not 4 ASCII digits (02 00 00 00)"
        );
        assert_eq!(
            walk(b"\xab\xcd", BCD).unwrap_err(),
            "the MTI at offset 0 is not 2 bytes of packed BCD (ab cd)"
        );
        let mut m = sample();
        m.truncate(m.len() - 2);
        assert_eq!(
            walk(&m, AUTO).unwrap_err(),
            format!(
                "the message ends inside field 55 (9 bytes from offset {}, 7 there)",
                m.len() - 7
            )
        );
        let mut m = sample();
        let at = m.len() - 9;
        m[at] = b'x';
        assert!(walk(&m, AUTO)
            .unwrap_err()
            .starts_with(&format!("field 55's length at offset {at}")));
    }

    #[test]
    fn no_input_makes_the_walk_panic() {
        let m = sample();
        for cut in 0..m.len() {
            for layout in [AUTO, ASCII, BCD, header(3)] {
                let _ = walk(&m[..cut], layout);
            }
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
            for layout in [AUTO, ASCII, BCD, header(usize::MAX), header(len)] {
                let _ = walk(&bytes, layout);
            }
        }
    }

    /// Runs `script SEED` (a Python generator in tests/data) for each seed and walks every message
    /// it prints in `layout`: each must end up at the field boundaries the generator reports.
    /// The number of messages checked, or `None` when the generator cannot run here (a failure
    /// in CI, whose .ci/install-interop-python.sh installs its library).
    fn walk_as_generated(script: &str, seeds: &[&str], layout: Layout) -> Option<usize> {
        let script = format!("{}/tests/data/{script}", env!("CARGO_MANIFEST_DIR"));
        let mut checked = 0;
        for seed in seeds {
            let out = std::process::Command::new("python3")
                .args([&script, *seed])
                .output();
            let out = match out {
                Ok(out) if out.status.success() => out.stdout,
                other => {
                    assert!(
                        std::env::var("CI").as_deref() != Ok("true"),
                        "{script} cannot run in CI (.ci/install-interop-python.sh): {other:?}"
                    );
                    println!("skipping: python3 cannot run {script} (its library is missing)");
                    return None;
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
                let walked = walk(&bytes, layout).unwrap_or_else(|e| panic!("{m}: {e}"));
                assert_eq!(walked.fields, expected, "{}: {hex}", m["spec"]);
                checked += 1;
            }
        }
        Some(checked)
    }

    /// Messages pyiso8583 encoded (its `default_ascii` and `default` specs: hex and binary
    /// bitmaps, random fields 2-128 and lengths) are walked to the same field boundaries it
    /// reports, their encoding told from the MTI.
    #[test]
    fn the_walk_agrees_with_pyiso8583() {
        let checked = walk_as_generated("pyiso8583_fields.py", &["1", "2", "3"], AUTO);
        assert!(checked.is_none_or(|n| n == 900), "{checked:?}");
    }

    /// Messages py8583 encoded in its packed-BCD layout (IsoSpec1987BCD: its own field table,
    /// BCD MTI, numeric fields and lengths, binary bitmap) are walked to the same field
    /// boundaries, told from the MTI and given as BCD alike.
    #[test]
    fn the_bcd_walk_agrees_with_py8583() {
        for layout in [AUTO, BCD] {
            let checked = walk_as_generated("py8583_bcd_fields.py", &["1", "2", "3"], layout);
            assert!(checked.is_none_or(|n| n == 900), "{checked:?}");
        }
    }

    /// A 0200 as card terminals send it to hosts of packed-BCD layouts: a 5-byte TPDU, BCD MTI
    /// and numbers, a track 2 of odd length, text fields in ASCII, chip data behind a BCD LLL.
    fn bcd_sample() -> Vec<u8> {
        let mut m = vec![0x60, 0x00, 0x01, 0x00, 0x00, 0x02, 0x00];
        let mut bitmap = [0u8; 8];
        for f in [2, 3, 4, 11, 22, 35, 41, 49, 55, 64] {
            bitmap[(f - 1) / 8] |= 0x80 >> ((f - 1) % 8);
        }
        m.extend(bitmap);
        m.extend([0x16, 0x62, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34]); // 2: 16 digits
        m.extend([0x00, 0x00, 0x00]); // 3: n6
        m.extend([0x00, 0x00, 0x00, 0x00, 0x10, 0x00]); // 4: n12
        m.extend([0x00, 0x01, 0x23]); // 11: n6
        m.extend([0x00, 0x51]); // 22: n3, padded
        m.extend([0x37]); // 35: 37 digits of track 2 in 19 bytes
        m.extend([
            0x62, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0xd2, 0x51, 0x21, 0x01,
        ]);
        m.extend([0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x3f]);
        m.extend(b"TERM0042"); // 41: ans8
        m.extend(b"156"); // 49: an3
        m.extend([0x00, 0x06, 0x9f, 0x02, 0x01, 0x00, 0x82, 0x00]); // 55: 6 bytes
        m.extend([0xa1; 8]); // 64: MAC
        m
    }

    #[test]
    fn a_packed_bcd_message_behind_a_tpdu_is_walked() {
        let m = bcd_sample();
        let f = walk(&m, header(5)).unwrap();
        assert_eq!(f.encoding, Encoding::Bcd);
        assert_eq!(f.mti, 5..7);
        assert_eq!(f.bitmap, 7..15);
        let numbers: Vec<u8> = f.fields.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, [2, 3, 4, 11, 22, 35, 41, 49, 55, 64]);
        assert_eq!(f.value(&m, 2).unwrap().len(), 8);
        assert_eq!(f.value(&m, 11), Some(&[0x00, 0x01, 0x23][..]));
        assert_eq!(f.field(22).unwrap().len(), 2);
        assert_eq!(f.value(&m, 35).unwrap().len(), 19);
        assert_eq!(f.value(&m, 41), Some(&b"TERM0042"[..]));
        assert_eq!(f.value(&m, 49), Some(&b"156"[..]));
        assert_eq!(f.value(&m, 55).unwrap().len(), 6);
        assert_eq!(f.fields.last().unwrap().1.end, m.len());
        // The same message given as BCD, and the errors that name where it stops being so.
        assert_eq!(
            walk(
                &m,
                Layout {
                    encoding: Some(Encoding::Bcd),
                    ..header(5)
                }
            )
            .unwrap(),
            f
        );
        let mut bad = m.clone();
        let at = f.field(55).unwrap().start;
        bad[at] = 0x0a;
        assert_eq!(
            walk(&bad, header(5)).unwrap_err(),
            format!("field 55's length at offset {at} is not 3 digits of packed BCD (0a 06)")
        );
        let mut cut = m.clone();
        cut.truncate(m.len() - 1);
        assert!(walk(&cut, header(5))
            .unwrap_err()
            .starts_with("the message ends inside field 64"));
    }

    #[test]
    fn field_lists_are_checked() {
        assert_eq!(field_list("7, 11,37,39").unwrap(), [7, 11, 37, 39]);
        assert!(field_list("1").is_err());
        assert!(field_list("129").unwrap_err().contains("`129`"));
        assert!(field_list("7,,11").is_err());
    }
}
