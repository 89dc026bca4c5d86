//! A small ISO 8583 encoder and decoder for the interop tests, in the encoding of pyiso8583's
//! `iso8583.specs.default_ascii`: the MTI as 4 ASCII digits, the primary (and, when a field above 64
//! is present, secondary) bitmap as 16 upper-case ASCII hex characters each, fixed fields as they
//! are, LLVAR and LLLVAR fields behind 2 or 3 ASCII decimal digits. Only the fields the tests use
//! are known; anything else is an error, never a guess.
//!
//! It also holds the host's answer rule, the same as `tests/interop/python/iso8583_host.py`'s.

#![allow(dead_code)]

use std::collections::BTreeMap;

/// How a field is sized on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// Exactly this many characters.
    Fixed(usize),
    /// Up to this many characters, behind 2 ASCII digits.
    LlVar(usize),
    /// Up to this many characters, behind 3 ASCII digits.
    LllVar(usize),
}

/// The LLLVAR fields of up to 999 characters in default_ascii, in the order large messages use
/// them (as `LLLVAR_999` in iso8583_host.py).
pub const LLLVAR_999: [u8; 34] = [
    46, 47, 48, 56, 57, 58, 59, 60, 61, 62, 63, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114,
    115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127,
];

/// The size of field `n` in default_ascii, for the fields these tests use.
pub fn size(n: u8) -> Option<Size> {
    Some(match n {
        2 => Size::LlVar(19),
        3 => Size::Fixed(6),
        4 => Size::Fixed(12),
        7 => Size::Fixed(10),
        11 => Size::Fixed(6),
        12 => Size::Fixed(6),
        13 => Size::Fixed(4),
        37 => Size::Fixed(12),
        38 => Size::Fixed(6),
        39 => Size::Fixed(2),
        41 => Size::Fixed(8),
        42 => Size::Fixed(15),
        49 => Size::Fixed(3),
        n if LLLVAR_999.contains(&n) => Size::LllVar(999),
        _ => return None,
    })
}

/// An ISO 8583 message: its MTI and its fields (2..=128, no bitmaps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub mti: String,
    pub fields: BTreeMap<u8, String>,
}

impl Message {
    pub fn new(mti: &str) -> Self {
        Message {
            mti: mti.to_owned(),
            fields: BTreeMap::new(),
        }
    }

    pub fn with(mut self, n: u8, value: &str) -> Self {
        self.fields.insert(n, value.to_owned());
        self
    }

    pub fn get(&self, n: u8) -> Option<&str> {
        self.fields.get(&n).map(String::as_str)
    }

    /// The message's bytes. Panics on a field value that does not fit its size.
    pub fn encode(&self) -> Vec<u8> {
        assert!(
            self.mti.len() == 4 && self.mti.bytes().all(|b| b.is_ascii_digit()),
            "MTI {:?}",
            self.mti
        );
        let mut bitmap = [0u8; 16];
        for &n in self.fields.keys() {
            assert!((2..=128).contains(&n) && n != 65, "field {n}");
            bitmap[usize::from(n - 1) / 8] |= 0x80 >> ((n - 1) % 8);
        }
        let secondary = self.fields.keys().any(|&n| n > 64);
        if secondary {
            bitmap[0] |= 0x80;
        }
        let mut out = self.mti.clone().into_bytes();
        let bitmap_len = if secondary { 16 } else { 8 };
        for b in &bitmap[..bitmap_len] {
            out.extend_from_slice(format!("{b:02X}").as_bytes());
        }
        for (&n, value) in &self.fields {
            let size = size(n).unwrap_or_else(|| panic!("field {n} is unknown to this encoder"));
            assert!(value.is_ascii(), "field {n} is not ASCII");
            match size {
                Size::Fixed(len) => assert_eq!(value.len(), len, "field {n}: {value:?}"),
                Size::LlVar(max) => {
                    assert!(value.len() <= max, "field {n} is too long");
                    out.extend_from_slice(format!("{:02}", value.len()).as_bytes());
                }
                Size::LllVar(max) => {
                    assert!(value.len() <= max, "field {n} is too long");
                    out.extend_from_slice(format!("{:03}", value.len()).as_bytes());
                }
            }
            out.extend_from_slice(value.as_bytes());
        }
        out
    }

    /// Parses a whole message; every byte must belong to it.
    pub fn decode(bytes: &[u8]) -> Result<Message, String> {
        let mut at = 0;
        let mut take = |n: usize, what: &str| -> Result<&[u8], String> {
            let part = bytes.get(at..at + n).ok_or_else(|| {
                format!(
                    "{what}: {n} bytes wanted at offset {at}, {} left",
                    bytes.len() - at.min(bytes.len())
                )
            })?;
            at += n;
            Ok(part)
        };
        let text = |b: &[u8], what: &str| -> Result<String, String> {
            String::from_utf8(b.to_vec())
                .ok()
                .filter(|s| s.is_ascii())
                .ok_or_else(|| format!("{what} is not ASCII: {b:02X?}"))
        };
        let digits = |b: &[u8], what: &str| -> Result<usize, String> {
            let s = text(b, what)?;
            s.parse()
                .map_err(|_| format!("{what} {s:?} is not a decimal length"))
        };
        let mti = text(take(4, "MTI")?, "MTI")?;
        let hex = |b: &[u8]| -> Result<Vec<u8>, String> {
            let s = text(b, "bitmap")?;
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| format!("bitmap {s:?}")))
                .collect()
        };
        let mut bitmap = hex(take(16, "primary bitmap")?)?;
        if bitmap[0] & 0x80 != 0 {
            bitmap.extend(hex(take(16, "secondary bitmap")?)?);
        }
        let mut message = Message::new(&mti);
        for n in 2..=(bitmap.len() * 8) as u8 {
            if bitmap[usize::from(n - 1) / 8] & (0x80 >> ((n - 1) % 8)) == 0 {
                continue;
            }
            let what = format!("field {n}");
            let size = size(n).ok_or_else(|| format!("field {n} is unknown to this decoder"))?;
            let len = match size {
                Size::Fixed(len) => len,
                Size::LlVar(max) | Size::LllVar(max) => {
                    let width = if let Size::LlVar(_) = size { 2 } else { 3 };
                    let len = digits(take(width, &what)?, &what)?;
                    if len > max {
                        return Err(format!("{what} claims {len} characters, above {max}"));
                    }
                    len
                }
            };
            let value = text(take(len, &what)?, &what)?;
            message.fields.insert(n, value);
        }
        if at != bytes.len() {
            return Err(format!(
                "{} bytes left after the last field",
                bytes.len() - at
            ));
        }
        Ok(message)
    }
}

/// The request the tests send: a 0200 purchase with fields 2, 3, 4, 11 and 41 (the same as
/// `sample_request` in iso8583_host.py).
pub fn request(stan: &str, amount: &str) -> Message {
    Message::new("0200")
        .with(2, "4761739001010010")
        .with(3, "000000")
        .with(4, amount)
        .with(11, stan)
        .with(41, "TERM0001")
}

/// Field `n`'s filler: the letters A-Z repeated, starting at letter n % 26 (as `letters` in
/// iso8583_host.py).
fn letters(n: u8, len: usize) -> String {
    (0..len)
        .map(|i| (b'A' + ((usize::from(n) + i) % 26) as u8) as char)
        .collect()
}

/// `message` with LLLVAR fields added so that it encodes to exactly `target` bytes, by the rule of
/// `filled` in iso8583_host.py: the fields of LLLVAR_999 in order, as few as possible, their sizes
/// as even as possible.
pub fn filled(message: &Message, target: usize) -> Message {
    let remaining = target as i64 - message.encode().len() as i64;
    let (fields, room) = (1..=LLLVAR_999.len())
        .find_map(|count| {
            let fields = &LLLVAR_999[..count];
            let room = remaining - if fields[count - 1] > 64 { 16 } else { 0 };
            let count = count as i64;
            (3 * count <= room && room <= 1002 * count).then_some((fields, room))
        })
        .unwrap_or_else(|| panic!("{target} bytes cannot be reached"));
    let count = fields.len() as i64;
    let mut filled = message.clone();
    for (i, &n) in fields.iter().enumerate() {
        let size = room / count + i64::from((i as i64) < room % count);
        filled = filled.with(n, &letters(n, size as usize - 3));
    }
    assert_eq!(filled.encode().len(), target);
    filled
}

/// `message` with every LLLVAR_999 field full: the largest message default_ascii carries here.
pub fn largest(message: &Message) -> Message {
    LLLVAR_999
        .iter()
        .fold(message.clone(), |m, &n| m.with(n, &letters(n, 999)))
}

/// The amount the hosts decline with response code 51.
pub const DECLINED_AMOUNT: &str = "999999999999";

/// A host's answer to a request, by the rule of iso8583_host.py's `answer`.
pub fn answer(request: &Message) -> Message {
    let mti = request.mti.as_bytes();
    let mut reply = Message::new(&format!(
        "{}{}{}",
        &request.mti[..2],
        (mti[2] - b'0' + 1) % 10,
        &request.mti[3..]
    ));
    for n in [2, 3, 4, 7, 11, 12, 13, 41, 42, 49] {
        if let Some(v) = request.get(n) {
            reply = reply.with(n, v);
        }
    }
    let stan: u64 = request.get(11).unwrap_or("000000").parse().unwrap_or(0);
    reply = reply.with(37, &format!("{stan:012}"));
    if request.get(4) == Some(DECLINED_AMOUNT) {
        reply.with(39, "51")
    } else {
        reply
            .with(38, &format!("A{:05}", stan % 100_000))
            .with(39, "00")
    }
}

/// The TPDU of the tests' requests: 60, destination 0003, source 8001.
pub const TPDU: [u8; 5] = [0x60, 0x00, 0x03, 0x80, 0x01];

/// A TPDU with destination and source swapped, as a host replies.
pub fn swapped(tpdu: &[u8]) -> [u8; 5] {
    [tpdu[0], tpdu[3], tpdu[4], tpdu[1], tpdu[2]]
}
