//! Length-prefixed framing: a header holding the frame's length, then the frame.

use bytes::{BufMut, Bytes, BytesMut};
use msgframe_header::{ByteOrder, LengthEncoding, LengthField};

use crate::error::{FixedPart, Hex};
use crate::{CodecError, Decoded, Decoder, Encoder, Parse, Status, DEFAULT_MAX_FRAME_LENGTH};

/// Which bytes the value in the length field counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LengthCounts {
    /// Only the body: the bytes after the whole header. ISO 8583 hosts, most length-prefixed
    /// protocols. The default.
    #[default]
    Body,
    /// The length field itself, the fixed bytes after it, and the body; not the bytes before it.
    FromLengthField,
    /// The whole frame: bytes before the length field, the length field, the bytes after it and the
    /// body. CMPP, SMPP, TPKT.
    WholeFrame,
}

/// What to do with a frame whose length is above the maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Oversize {
    /// Return [`CodecError::FrameTooLong`] and poison the decoder: the stream cannot be trusted.
    /// The default.
    #[default]
    Fail,
    /// Return [`CodecError::FrameTooLong`] once (with `discarding: true`), then skip the frame's bytes
    /// as they arrive, without buffering them, and resume with the next frame.
    Discard,
}

/// What to do with a frame whose body is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EmptyFrames {
    /// Deliver it as an empty frame. The default.
    #[default]
    Deliver,
    /// Skip it silently: the peer sends it as a keepalive. Skipped frames are counted, see
    /// [`LengthPrefixed::keepalives_skipped`].
    Skip,
}

/// How an empty frame looks on a length framing with a trailer.
///
/// ```text
///  be:2,trailer=03,counts-trailer     Bare:   00 00          (BASE24-TCP keep-alive)
///                                     Framed: 00 01 03       (a length counting the trailer)
/// ```
///
/// Where a length of 0 frames nothing else (the length counts the trailer, or the header), a bare
/// zero is read as an empty frame whichever form is written, and so is the framed form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmptyForm {
    /// The length field holds 0 and nothing follows it: no body, no trailer. The default where the
    /// length counts the trailer (a length of 0 could not be framed otherwise): BASE24-TCP peers
    /// keep idle links alive with `00 00` and answer it in kind.
    Bare,
    /// As any frame: the length of an empty body, then the trailer. The default elsewhere.
    Framed,
}

/// The options of a [`LengthPrefixed`] framing; [`build`](LengthPrefixedConfig::build) checks them.
///
/// ```text
///  +---------------+--------------+--------------+---------------------+---------------+
///  | before        | length field | after        | body                | trailer       |
///  | (fixed bytes) | (encoding)   | (fixed bytes)| (length bytes)      | (fixed bytes) |
///  +---------------+--------------+--------------+---------------------+---------------+
///  |<------------------- header ----------------->|
///  |<-- strip (default: the whole header) -->|  delivered frame: the rest, without the trailer
/// ```
///
/// The body length is `value + adjustment − counted header bytes − counted trailer bytes`, where the
/// counted header bytes depend on [`LengthCounts`]: none for `Body`, `length field + after` for
/// `FromLengthField`, the whole header for `WholeFrame`; the trailer is counted when
/// [`counts_trailer`](LengthPrefixedConfig::counts_trailer) is set (BASE24-style `LL LL body 03`,
/// where the length includes the ETX).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LengthPrefixedConfig {
    /// The length field's encoding.
    pub encoding: LengthEncoding,
    /// Fixed bytes before the length field (e.g. TPKT's `03 00`).
    pub before: Bytes,
    /// Fixed bytes after the length field (e.g. two zero bytes in Visa-style headers).
    pub after: Bytes,
    /// Fixed bytes after the body (e.g. an ETX, `03`).
    pub trailer: Bytes,
    /// Whether the length counts the trailer (default `false`).
    pub counts_trailer: bool,
    /// Whether delivered frames keep the trailer (default `false`: removed).
    pub keep_trailer: bool,
    /// Whether received `before`/`after`/trailer bytes must equal the configured ones (default
    /// `true`).
    pub verify_fixed: bool,
    /// Which bytes the length counts.
    pub counts: LengthCounts,
    /// Added to the length field's value to get the counted length (after the `counts` rule).
    pub adjustment: i64,
    /// Leading bytes to remove from each delivered frame; `None` (the default) removes the whole
    /// header, so frames are bodies.
    pub strip: Option<usize>,
    /// The largest body accepted and sent; `None` is 8 MiB or the largest the header can express,
    /// whichever is smaller.
    pub max_frame_length: Option<usize>,
    /// What to do with an oversized frame.
    pub oversize: Oversize,
    /// What to do with an empty frame.
    pub empty: EmptyFrames,
    /// How an empty frame is written on a framing with a trailer; `None` for the default (see
    /// [`EmptyForm`] and [`empty_form_in_effect`](Self::empty_form_in_effect)).
    pub empty_form: Option<EmptyForm>,
}

impl LengthPrefixedConfig {
    /// Options with the given encoding and every other option at its default.
    pub fn new(encoding: LengthEncoding) -> Self {
        LengthPrefixedConfig {
            encoding,
            before: Bytes::new(),
            after: Bytes::new(),
            trailer: Bytes::new(),
            counts_trailer: false,
            keep_trailer: false,
            verify_fixed: true,
            counts: LengthCounts::Body,
            adjustment: 0,
            strip: None,
            max_frame_length: None,
            oversize: Oversize::Fail,
            empty: EmptyFrames::Deliver,
            empty_form: None,
        }
    }

    /// Fixed bytes before the length field.
    pub fn before(mut self, bytes: impl Into<Bytes>) -> Self {
        self.before = bytes.into();
        self
    }

    /// Fixed bytes after the length field.
    pub fn after(mut self, bytes: impl Into<Bytes>) -> Self {
        self.after = bytes.into();
        self
    }

    /// Fixed bytes after the body.
    pub fn trailer(mut self, bytes: impl Into<Bytes>) -> Self {
        self.trailer = bytes.into();
        self
    }

    /// Whether the length counts the trailer.
    pub fn counts_trailer(mut self, counted: bool) -> Self {
        self.counts_trailer = counted;
        self
    }

    /// Whether delivered frames keep the trailer.
    pub fn keep_trailer(mut self, keep: bool) -> Self {
        self.keep_trailer = keep;
        self
    }

    /// Whether received fixed bytes must match (default `true`).
    pub fn verify_fixed(mut self, verify: bool) -> Self {
        self.verify_fixed = verify;
        self
    }

    /// Which bytes the length counts.
    pub fn counts(mut self, counts: LengthCounts) -> Self {
        self.counts = counts;
        self
    }

    /// A signed adjustment added to the length field's value.
    pub fn adjustment(mut self, adjustment: i64) -> Self {
        self.adjustment = adjustment;
        self
    }

    /// Leading bytes to remove from each delivered frame (at most the header length).
    pub fn strip(mut self, strip: usize) -> Self {
        self.strip = Some(strip);
        self
    }

    /// The largest body accepted and sent.
    pub fn max_frame_length(mut self, max: usize) -> Self {
        self.max_frame_length = Some(max);
        self
    }

    /// What to do with an oversized frame.
    pub fn oversize(mut self, policy: Oversize) -> Self {
        self.oversize = policy;
        self
    }

    /// What to do with an empty frame.
    pub fn empty(mut self, policy: EmptyFrames) -> Self {
        self.empty = policy;
        self
    }

    /// How an empty frame is written on a framing with a trailer (see [`EmptyForm`]).
    pub fn empty_form(mut self, form: EmptyForm) -> Self {
        self.empty_form = Some(form);
        self
    }

    /// The empty frame's form these options give: the one set; by default [`EmptyForm::Bare`] on
    /// a framing with a trailer where a length of 0 frames nothing (the length counts the trailer,
    /// or the header), [`EmptyForm::Framed`] elsewhere.
    pub fn empty_form_in_effect(&self) -> EmptyForm {
        match self.empty_form {
            Some(form) => form,
            None if !self.trailer.is_empty() && self.body_offset() < 0 => EmptyForm::Bare,
            None => EmptyForm::Framed,
        }
    }

    /// What the decoder adds to the length field's value to get the body's length:
    /// `adjustment − counted header bytes − counted trailer bytes`.
    fn body_offset(&self) -> i128 {
        let counted = match self.counts {
            LengthCounts::Body => 0,
            LengthCounts::FromLengthField => self.encoding.width() + self.after.len(),
            LengthCounts::WholeFrame => self.header_len(),
        } + if self.counts_trailer {
            self.trailer.len()
        } else {
            0
        };
        i128::from(self.adjustment) - counted as i128
    }

    /// The header's length in bytes: before + length field + after.
    pub fn header_len(&self) -> usize {
        self.before.len() + self.encoding.width() + self.after.len()
    }

    /// Checks the options and builds the framing.
    ///
    /// # Errors
    /// [`CodecError::InvalidConfig`] when the options contradict each other: a strip longer than the
    /// header, an explicit maximum the length field cannot express, or a length field that cannot
    /// describe any frame at all.
    pub fn build(self) -> Result<LengthPrefixed, CodecError> {
        let header_len = self.header_len();
        // body = value + offset
        let offset = self.body_offset();
        let largest_body = i128::from(self.encoding.max_length()) + offset;
        if largest_body < 0 {
            return Err(CodecError::InvalidConfig(format!(
                "a {} length field holds at most {}, but with adjustment {} it must count {} header bytes: no frame fits",
                self.encoding,
                self.encoding.max_length(),
                self.adjustment,
                -offset,
            )));
        }
        let strip = self.strip.unwrap_or(header_len);
        if strip > header_len {
            return Err(CodecError::InvalidConfig(format!(
                "strip of {strip} bytes is longer than the {header_len}-byte header"
            )));
        }
        if self.counts_trailer && self.trailer.is_empty() {
            return Err(CodecError::InvalidConfig(
                "the length cannot count a trailer: none is configured".into(),
            ));
        }
        if self.empty_form == Some(EmptyForm::Bare) && self.trailer.is_empty() {
            return Err(CodecError::InvalidConfig(
                "a bare empty frame leaves out the trailer: none is configured".into(),
            ));
        }
        if self.keep_trailer && self.trailer.is_empty() {
            return Err(CodecError::InvalidConfig(
                "cannot keep a trailer: none is configured".into(),
            ));
        }
        // A frame (header + body + trailer) must fit a buffer: at most isize::MAX bytes.
        let addressable = isize::MAX as usize - header_len - self.trailer.len();
        let expressible = usize::try_from(largest_body)
            .unwrap_or(usize::MAX)
            .min(addressable);
        let max = match self.max_frame_length {
            Some(max) if max > expressible => {
                return Err(CodecError::InvalidConfig(format!(
                    "maximum frame length {max} cannot be expressed by a {} length field{}: the largest body it can describe is {expressible}",
                    self.encoding,
                    if offset != 0 { format!(" with offset {offset}") } else { String::new() },
                )))
            }
            Some(max) => max,
            None => DEFAULT_MAX_FRAME_LENGTH.min(expressible),
        };
        if header_len > u16::MAX as usize || self.trailer.len() > u16::MAX as usize {
            return Err(CodecError::InvalidConfig(format!(
                "header of {header_len} bytes or trailer of {} bytes is too long",
                self.trailer.len()
            )));
        }
        let offset = i64::try_from(offset).map_err(|_| {
            CodecError::InvalidConfig(format!("adjustment {} is out of range", self.adjustment))
        })?;
        let put = Put::of(self.encoding);
        // The largest body the encoder's fast paths frame: a bare length field (no offset, no
        // fixed bytes, no trailer) holds the body's length itself, checked here once.
        let fast_max = if offset == 0
            && self.before.is_empty()
            && self.after.is_empty()
            && self.trailer.is_empty()
        {
            usize::try_from(self.encoding.max_length())
                .unwrap_or(usize::MAX)
                .min(max)
        } else {
            0
        };
        Ok(LengthPrefixed {
            bare_read: !self.trailer.is_empty()
                && (offset < 0 || self.empty_form_in_effect() == EmptyForm::Bare),
            bare_write: self.empty_form_in_effect() == EmptyForm::Bare,
            header_len,
            trailer_len: self.trailer.len(),
            kept_trailer: if self.keep_trailer {
                self.trailer.len()
            } else {
                0
            },
            length_at: self.before.len(),
            field_end: self.before.len() + self.encoding.width(),
            field: Field::of(self.encoding),
            max_value: self.encoding.max_length(),
            verify_fixed: self.verify_fixed
                && !(self.before.is_empty() && self.after.is_empty() && self.trailer.is_empty()),
            strip,
            offset,
            min_value: if offset < 0 { offset.unsigned_abs() } else { 0 },
            simple: !(self.verify_fixed
                && !(self.before.is_empty() && self.after.is_empty() && self.trailer.is_empty()))
                && self.trailer.is_empty()
                && self.empty == EmptyFrames::Deliver
                && (offset < 0
                    || self
                        .encoding
                        .max_length()
                        .checked_add(offset as u64)
                        .is_some()),
            put,
            fast_encode_max: if put.is_binary_store() { fast_max } else { 0 },
            fast_decimal4_max: if put == Put::Decimal4 { fast_max } else { 0 },
            fast_bcd2_max: if put == Put::Bcd2 { fast_max } else { 0 },
            fast_hex4_max: if put == Put::Hex4 { fast_max } else { 0 },
            max,
            config: self,
            state: State::Head,
            consumed: 0,
            keepalives: 0,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for a whole header.
    Head,
    /// Header parsed; waiting for the whole frame of `total` bytes (header included).
    Body { total: usize },
    /// Skipping the rest of an oversized frame that started at stream offset `offset` and spans
    /// `total` bytes; `remaining` of them are still to come.
    Discard {
        remaining: u64,
        offset: u64,
        total: u64,
    },
    /// A fatal error happened at this offset.
    Poisoned { offset: u64 },
}

/// How the length field is read on the hot path: fixed-size loads for the common binary widths,
/// tight loops for ASCII decimal and BCD; anything else through the general decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    U8,
    Be16,
    Be32,
    Le16,
    Le32,
    /// Four ASCII decimal digits (ISO 8583's `ascii:4`), read at once.
    Decimal4,
    Decimal,
    /// Two bytes of packed BCD (`bcd:2`), read at once.
    Bcd2,
    Bcd,
    Other,
}

impl Field {
    fn of(encoding: LengthEncoding) -> Self {
        match encoding {
            LengthEncoding::Binary(b) => match (b.order(), b.width()) {
                (_, 1) => Field::U8,
                (ByteOrder::BigEndian, 2) => Field::Be16,
                (ByteOrder::BigEndian, 4) => Field::Be32,
                (ByteOrder::LittleEndian, 2) => Field::Le16,
                (ByteOrder::LittleEndian, 4) => Field::Le32,
                _ => Field::Other,
            },
            LengthEncoding::AsciiDecimal(a) if !a.is_lenient() && a.width() == 4 => Field::Decimal4,
            LengthEncoding::AsciiDecimal(a) if !a.is_lenient() => Field::Decimal,
            LengthEncoding::PackedBcd(b) if b.width() == 2 => Field::Bcd2,
            LengthEncoding::PackedBcd(_) => Field::Bcd,
            _ => Field::Other,
        }
    }
}

/// How the length field is written, chosen when the framing is built: fixed-width stores for the
/// common widths (4 ASCII decimal or hex digits and 2 BCD bytes computed in one machine word, see
/// [`digits`]), four digits at a time for the other text and BCD widths. The value is checked
/// before it is written (against `fast_encode_max` and the digit fields' bounds, or in
/// `value_for`), so no writer checks it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Put {
    U8,
    Be16,
    Be32,
    Le16,
    Le32,
    /// A big-endian binary field of another width (3, 5..=8 bytes).
    BeN(u8),
    /// A little-endian binary field of another width.
    LeN(u8),
    /// Four ASCII decimal digits (`ascii:4`; strict or lenient, both write zeros).
    Decimal4,
    /// ASCII decimal digits, another width (1..=10).
    Decimal(u8),
    /// Four upper-case ASCII hex digits (`hex:4`).
    Hex4,
    /// Upper-case ASCII hex digits, another width (1..=16).
    Hex(u8),
    /// Two bytes of packed BCD (`bcd:2`).
    Bcd2,
    /// Packed BCD, another width (1..=5 bytes).
    Bcd(u8),
}

impl Put {
    fn of(encoding: LengthEncoding) -> Self {
        // Widths are at most 16: `as u8` cannot truncate.
        let width = encoding.width() as u8;
        match encoding {
            LengthEncoding::Binary(b) => match (b.order(), width) {
                (_, 1) => Put::U8,
                (ByteOrder::BigEndian, 2) => Put::Be16,
                (ByteOrder::BigEndian, 4) => Put::Be32,
                (ByteOrder::LittleEndian, 2) => Put::Le16,
                (ByteOrder::LittleEndian, 4) => Put::Le32,
                (ByteOrder::BigEndian, _) => Put::BeN(width),
                (ByteOrder::LittleEndian, _) => Put::LeN(width),
            },
            LengthEncoding::AsciiDecimal(_) if width == 4 => Put::Decimal4,
            LengthEncoding::AsciiDecimal(_) => Put::Decimal(width),
            LengthEncoding::AsciiHex(_) if width == 4 => Put::Hex4,
            LengthEncoding::AsciiHex(_) => Put::Hex(width),
            LengthEncoding::PackedBcd(_) if width == 2 => Put::Bcd2,
            LengthEncoding::PackedBcd(_) => Put::Bcd(width),
        }
    }

    /// Whether the field is a binary length of 1, 2 or 4 bytes: [`Encoder::encode`] writes it
    /// with one fixed-width store of the length.
    fn is_binary_store(self) -> bool {
        matches!(
            self,
            Put::U8 | Put::Be16 | Put::Be32 | Put::Le16 | Put::Le32
        )
    }
}

/// Where the frame at the start of a buffer is, as [`LengthPrefixed::locate`] finds it.
enum Located {
    /// A frame: delivered bytes `start..end`, spanning `len` bytes of the buffer.
    Frame {
        start: usize,
        end: usize,
        len: usize,
    },
    /// An empty frame of `len` bytes to skip (a keepalive).
    Skip { len: usize },
    /// Not whole yet: `needed` more bytes at least; `total` is the frame's size when the header is in.
    Partial { needed: usize, total: Option<usize> },
}

/// Length-prefixed framing: a header holding the body's length, in any [`LengthEncoding`], with
/// optional fixed bytes before and after the length field, and after the body.
///
/// Common layouts (the body is 123 bytes):
///
/// ```text
///  4 ASCII digits          30 31 32 33 | body            LengthPrefixed::new(LengthEncoding::ascii_decimal(4)?)
///  2-byte BCD              01 23 | body                  LengthPrefixed::new(LengthEncoding::packed_bcd(2)?)
///  2-byte binary           00 7B | body                  LengthPrefixed::new(LengthEncoding::big_endian(2)?)
///  Visa-style              00 7B 00 00 | body            .after([0, 0])
///  CMPP / SMPP             00 00 00 7F | body            .counts(LengthCounts::WholeFrame), 4-byte BE
///  TPKT (RFC 1006)         03 00 00 7F | body            .before([3, 0]), .counts(WholeFrame)
///  BASE24-style            00 7C | body | 03             .trailer([3]), .counts_trailer(true)
/// ```
///
/// ```
/// use bytes::BytesMut;
/// use msgframe_codec::{Decoder, Encoder, LengthCounts, LengthPrefixed};
/// use msgframe_header::LengthEncoding;
///
/// // TPKT: 03 00, then a 2-byte big-endian length counting the 4 header bytes.
/// let mut tpkt = LengthPrefixed::builder(LengthEncoding::big_endian(2)?)
///     .before(&[0x03, 0x00][..])
///     .counts(LengthCounts::WholeFrame)
///     .build()?;
///
/// let mut wire = BytesMut::new();
/// tpkt.encode(b"hello", &mut wire)?;
/// assert_eq!(&wire[..], b"\x03\x00\x00\x09hello");
///
/// assert_eq!(tpkt.decode(&mut wire)?.as_deref(), Some(&b"hello"[..]));
/// assert!(wire.is_empty());
///
/// // BASE24-style: a 2-byte length that counts the ETX trailer after the body.
/// let mut base24 = LengthPrefixed::builder(LengthEncoding::big_endian(2)?)
///     .trailer(&[0x03][..])
///     .counts_trailer(true)
///     .build()?;
/// base24.encode(b"hello", &mut wire)?;
/// assert_eq!(&wire[..], b"\x00\x06hello\x03");
/// assert_eq!(base24.decode(&mut wire)?.as_deref(), Some(&b"hello"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Limits and errors
/// The maximum body length (default 8 MiB, or less when the header cannot express that much) is
/// checked against the header's claim **before** anything is buffered or reserved; within it, buffer
/// space is reserved only as bytes arrive (at most 64 KiB ahead of them). A malformed
/// length field, mismatching fixed bytes (before, after or trailer), a length smaller than the
/// header it counts, or an oversized frame under [`Oversize::Fail`] poison the decoder. Under
/// [`Oversize::Discard`] an oversized frame is reported once, then skipped as it arrives; a stream
/// that ends inside it is [`CodecError::UnexpectedEof`].
#[derive(Debug, Clone)]
pub struct LengthPrefixed {
    config: LengthPrefixedConfig,
    header_len: usize,
    trailer_len: usize,
    /// Trailer bytes left in delivered frames: all of them or none.
    kept_trailer: usize,
    length_at: usize,
    field_end: usize,
    field: Field,
    /// How the length field is written.
    put: Put,
    /// The largest value the length field holds.
    max_value: u64,
    /// Whether fixed bytes must be checked: asked for, and there are some.
    verify_fixed: bool,
    strip: usize,
    /// body length = field value + offset
    offset: i64,
    /// The smallest valid field value: `-offset` when the offset is negative, else 0.
    min_value: u64,
    /// Whether the header is just the length field's arithmetic: no fixed bytes to verify, no
    /// trailer, empty frames delivered, and no field value can overflow the offset. The hot path
    /// then skips every optional check.
    simple: bool,
    /// The largest body [`Encoder::encode`] frames on its inlined fast path when the header is a
    /// bare 1-, 2- or 4-byte binary length (no offset, no fixed bytes, no trailer): the smaller of
    /// the field's largest value and the maximum; 0 otherwise. Empty bodies always take the general
    /// path.
    fast_encode_max: usize,
    /// The same for a bare field of 4 ASCII decimal digits, on the digit fields' fast path
    /// (checked only when the binary one is not taken); 0 otherwise.
    fast_decimal4_max: usize,
    /// The same for a bare field of 2 BCD bytes; 0 otherwise.
    fast_bcd2_max: usize,
    /// The same for a bare field of 4 ASCII hex digits; 0 otherwise.
    fast_hex4_max: usize,
    max: usize,
    /// Whether a length field of 0 is read as a bare empty frame: a trailer framing where 0 frames
    /// nothing else, or one set to [`EmptyForm::Bare`].
    bare_read: bool,
    /// Whether an empty frame is written as the length field's 0 alone ([`EmptyForm::Bare`]).
    bare_write: bool,
    state: State,
    consumed: u64,
    keepalives: u64,
}

impl LengthPrefixed {
    /// Options for a framing with the given length encoding, to be finished with
    /// [`build`](LengthPrefixedConfig::build).
    pub fn builder(encoding: LengthEncoding) -> LengthPrefixedConfig {
        LengthPrefixedConfig::new(encoding)
    }

    /// The framing with just a length field counting the body, and every other option at its default.
    pub fn new(encoding: LengthEncoding) -> Result<Self, CodecError> {
        LengthPrefixedConfig::new(encoding).build()
    }

    /// The options this framing was built from.
    pub fn config(&self) -> &LengthPrefixedConfig {
        &self.config
    }

    /// The header's length in bytes.
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// The largest body accepted and sent.
    pub fn max_frame_length(&self) -> usize {
        self.max
    }

    /// How many empty frames were skipped as keepalives (with [`EmptyFrames::Skip`]).
    pub fn keepalives_skipped(&self) -> u64 {
        self.keepalives
    }

    #[cold]
    #[inline(never)]
    fn poison(&mut self, err: CodecError) -> CodecError {
        self.state = State::Poisoned {
            offset: self.consumed,
        };
        err
    }

    /// The length field's value in `header` (a whole header), or `None` when it is malformed. The
    /// hot path: no error is built, and fixed-width fields are read as one word with one bounds
    /// check.
    #[inline(always)]
    fn field_value(&self, header: &[u8]) -> Option<u64> {
        let rest = &header[self.length_at..];
        // `header` is whole: the `?` on `first_chunk` never returns.
        Some(match self.field {
            Field::U8 => u64::from(*rest.first()?),
            Field::Be16 => u64::from(u16::from_be_bytes(*rest.first_chunk()?)),
            Field::Le16 => u64::from(u16::from_le_bytes(*rest.first_chunk()?)),
            Field::Be32 => u64::from(u32::from_be_bytes(*rest.first_chunk()?)),
            Field::Le32 => u64::from(u32::from_le_bytes(*rest.first_chunk()?)),
            Field::Decimal4 => {
                // All four bytes at once: each must be '0'..='9'.
                let digits = u32::from_le_bytes(*rest.first_chunk()?).wrapping_sub(0x3030_3030);
                // A byte below '0' borrows (its high bit is set); one above '9' overflows
                // into its high bit when 0x76 is added.
                if (digits | digits.wrapping_add(0x7676_7676)) & 0x8080_8080 != 0 {
                    return None;
                }
                // Pairs: (d0 * 10 + d1) in byte 0, (d2 * 10 + d3) in byte 2.
                let pairs = (digits * 10 + (digits >> 8)) & 0x00FF_00FF;
                u64::from((pairs & 0xFF) * 100 + (pairs >> 16))
            }
            Field::Decimal => {
                // At most 10 digits: no overflow.
                let mut value = 0u64;
                for &b in &rest[..self.field_end - self.length_at] {
                    let digit = b.wrapping_sub(b'0');
                    if digit > 9 {
                        return None;
                    }
                    value = value * 10 + u64::from(digit);
                }
                value
            }
            Field::Bcd2 => {
                let bytes = u16::from_le_bytes(*rest.first_chunk()?);
                let (high, low) = ((bytes >> 4) & 0x0F0F, bytes & 0x0F0F);
                // Every nibble must be 0..=9: adding 6 carries into bit 4 of its lane otherwise.
                if ((high + 0x0606) | (low + 0x0606)) & 0x1010 != 0 {
                    return None;
                }
                // Byte 0 holds the two high digits, byte 1 the two low ones.
                let pairs = high * 10 + low;
                u64::from((pairs & 0xFF) * 100 + (pairs >> 8))
            }
            Field::Bcd => {
                // At most 5 bytes: no overflow.
                let mut value = 0u64;
                for &b in &rest[..self.field_end - self.length_at] {
                    let (high, low) = (b >> 4, b & 0x0F);
                    if high > 9 || low > 9 {
                        return None;
                    }
                    value = value * 100 + u64::from(high * 10 + low);
                }
                value
            }
            Field::Other => {
                let field = &rest[..self.field_end - self.length_at];
                return self.config.encoding.decode(field).ok();
            }
        })
    }

    /// Parses the header at the start of `buf` (which holds at least `header_len` bytes) and returns
    /// the body length the header claims (saturating at `u64::MAX`), or `None` when the header is
    /// wrong (see [`header_error`](Self::header_error) for what).
    #[inline(always)]
    fn body_len(&self, buf: &[u8]) -> Option<u64> {
        let cfg = &self.config;
        if self.verify_fixed
            && (buf[..self.length_at] != cfg.before[..]
                || buf[self.field_end..self.header_len] != cfg.after[..])
        {
            return None;
        }
        let value = self.field_value(buf)?;
        if self.offset >= 0 {
            Some(value.saturating_add(self.offset as u64))
        } else {
            value.checked_sub(self.offset.unsigned_abs())
        }
    }

    /// Whether the whole header at the start of `buf` is a bare empty frame: its fixed bytes right
    /// and its length field 0.
    #[inline]
    fn is_bare_empty(&self, buf: &[u8]) -> bool {
        let cfg = &self.config;
        (!self.verify_fixed
            || (buf[..self.length_at] == cfg.before[..]
                && buf[self.field_end..self.header_len] == cfg.after[..]))
            && self.field_value(buf) == Some(0)
    }

    /// The common case, without building any error: a whole frame to deliver at the start of `buf`,
    /// as `(start, end, len)` like [`Located::Frame`]. `None` for anything else (not whole yet, a
    /// keepalive, an error), which [`locate`](Self::locate) then sorts out.
    #[inline(always)]
    fn whole_frame(&self, buf: &[u8]) -> Option<(usize, usize, usize)> {
        if self.simple {
            let total = self.simple_total(buf)?;
            return (buf.len() >= total).then_some((self.strip, total, total));
        }
        if buf.len() < self.header_len || (self.bare_read && self.is_bare_empty(buf)) {
            return None;
        }
        let body = self.body_len(buf)?;
        if body > self.max as u64 {
            return None;
        }
        let end = self.header_len + body as usize;
        let total = end + self.trailer_len;
        if buf.len() < total
            || (body == 0 && self.config.empty == EmptyFrames::Skip)
            || (self.trailer_len > 0
                && self.verify_fixed
                && buf[end..total] != self.config.trailer[..])
        {
            return None;
        }
        Some((self.strip, end + self.kept_trailer, total))
    }

    /// For a simple framing (see [`LengthPrefixed::simple`]): the size of the frame whose whole
    /// header is at the start of `buf`, when the header is valid and within the maximum. `None`
    /// otherwise (not whole, or an error for [`locate_general`](Self::locate_general) to name).
    #[inline(always)]
    fn simple_total(&self, buf: &[u8]) -> Option<usize> {
        if buf.len() < self.header_len {
            // The header is not whole (unverified fixed bytes may follow the field).
            return None;
        }
        let value = self.field_value(buf)?;
        if value < self.min_value {
            return None;
        }
        // Cannot wrap: `simple` holds only when the largest value plus the offset fits a u64.
        let body = value.wrapping_add(self.offset as u64);
        if body > self.max as u64 {
            return None;
        }
        Some(self.header_len + body as usize)
    }

    /// Where the frame at the start of `buf` is. Pure: the owned and the borrowed decoders both use
    /// it. `offset` is the stream offset of `buf[0]`, for errors.
    #[inline(always)]
    fn locate(&self, buf: &[u8], offset: u64) -> Result<Located, CodecError> {
        if self.simple {
            if let Some(total) = self.simple_total(buf) {
                return Ok(if buf.len() >= total {
                    Located::Frame {
                        start: self.strip,
                        end: total,
                        len: total,
                    }
                } else {
                    Located::Partial {
                        needed: total - buf.len(),
                        total: Some(total),
                    }
                });
            }
        }
        self.locate_general(buf, offset)
    }

    /// [`locate`](Self::locate) for every configuration, errors included.
    #[inline]
    fn locate_general(&self, buf: &[u8], offset: u64) -> Result<Located, CodecError> {
        if buf.len() < self.header_len {
            return Ok(Located::Partial {
                needed: self.header_len - buf.len(),
                total: None,
            });
        }
        if self.bare_read && self.is_bare_empty(buf) {
            // A keep-alive: the header alone, no trailer.
            return Ok(if self.config.empty == EmptyFrames::Skip {
                Located::Skip {
                    len: self.header_len,
                }
            } else {
                Located::Frame {
                    start: self.strip,
                    end: self.header_len,
                    len: self.header_len,
                }
            });
        }
        let Some(body) = self.body_len(buf) else {
            return Err(self.header_error(buf, offset));
        };
        if body > self.max as u64 {
            return Err(self.too_long(offset, body, false));
        }
        let end = self.header_len + body as usize;
        let total = end + self.trailer_len;
        if buf.len() < total {
            return Ok(Located::Partial {
                needed: total - buf.len(),
                total: Some(total),
            });
        }
        if self.trailer_len > 0 && self.verify_fixed && buf[end..total] != self.config.trailer[..] {
            return Err(self.trailer_error(&buf[end..total], offset));
        }
        if body == 0 && self.config.empty == EmptyFrames::Skip {
            return Ok(Located::Skip { len: total });
        }
        Ok(Located::Frame {
            start: self.strip,
            end: end + self.kept_trailer,
            len: total,
        })
    }

    /// What is wrong with the header at the start of `buf`, checked in wire order. Out of line:
    /// the hot path only learns that something is.
    #[cold]
    #[inline(never)]
    fn header_error(&self, buf: &[u8], offset: u64) -> CodecError {
        let cfg = &self.config;
        let field_end = self.field_end;
        let mismatch = |part, expected: &[u8], found: &[u8]| CodecError::FixedBytesMismatch {
            offset,
            part,
            expected: Hex::of(expected),
            found: Hex::of(found),
        };
        if self.verify_fixed && buf[..self.length_at] != cfg.before[..] {
            return mismatch(FixedPart::BeforeLength, &cfg.before, &buf[..self.length_at]);
        }
        let field = &buf[self.length_at..field_end];
        let value = match cfg.encoding.decode(field) {
            Ok(value) => value,
            Err(source) => return CodecError::Header { offset, source },
        };
        if self.verify_fixed && buf[field_end..self.header_len] != cfg.after[..] {
            return mismatch(
                FixedPart::AfterLength,
                &cfg.after,
                &buf[field_end..self.header_len],
            );
        }
        CodecError::LengthTooSmall {
            offset,
            field: Hex::of(field),
            length: value,
            minimum: self.offset.unsigned_abs(),
        }
    }

    #[cold]
    #[inline(never)]
    fn trailer_error(&self, found: &[u8], offset: u64) -> CodecError {
        CodecError::FixedBytesMismatch {
            offset,
            part: FixedPart::Trailer,
            expected: Hex::of(&self.config.trailer),
            found: Hex::of(found),
        }
    }

    #[cold]
    #[inline(never)]
    fn too_long(&self, offset: u64, body: u64, discarding: bool) -> CodecError {
        CodecError::FrameTooLong {
            offset,
            length: body,
            exact: true,
            max: self.max as u64,
            discarding,
        }
    }

    /// Everything but the common case: discarding, keepalives, partial frames, errors.
    #[inline(never)]
    fn decode_slow(&mut self, buf: &[u8]) -> Result<Decoded, CodecError> {
        match self.state {
            State::Head | State::Body { .. } => {}
            State::Discard {
                remaining,
                offset,
                total,
            } => {
                let n = usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(buf.len());
                self.consumed += n as u64;
                let remaining = remaining - n as u64;
                if remaining > 0 {
                    self.state = State::Discard {
                        remaining,
                        offset,
                        total,
                    };
                    return Ok(Decoded::Partial { consumed: n });
                }
                self.state = State::Head;
                return Ok(Decoded::Skip { consumed: n });
            }
            State::Poisoned { offset } => return Err(CodecError::Poisoned { offset }),
        }
        match self.locate(buf, self.consumed) {
            Ok(Located::Frame { start, end, len }) => {
                self.state = State::Head;
                self.consumed += len as u64;
                Ok(Decoded::Frame {
                    start,
                    end,
                    consumed: len,
                })
            }
            Ok(Located::Skip { len }) => {
                // Keepalives come in runs (a flooding peer sends nothing else): skip the whole run
                // that is buffered in one step.
                let mut skipped = len;
                self.keepalives += 1;
                while let Ok(Located::Skip { len }) =
                    self.locate(&buf[skipped..], self.consumed + skipped as u64)
                {
                    skipped += len;
                    self.keepalives += 1;
                }
                self.state = State::Head;
                self.consumed += skipped as u64;
                Ok(Decoded::Skip { consumed: skipped })
            }
            Ok(Located::Partial { total, .. }) => {
                self.state = match total {
                    Some(total) => State::Body { total },
                    None => State::Head,
                };
                Ok(Decoded::Partial { consumed: 0 })
            }
            Err(CodecError::FrameTooLong { length, .. })
                if self.config.oversize == Oversize::Discard =>
            {
                // Reported now; its bytes are skipped from the next call on, as they arrive.
                let total = ((self.header_len + self.trailer_len) as u64).saturating_add(length);
                self.state = State::Discard {
                    remaining: total,
                    offset: self.consumed,
                    total,
                };
                Err(self.too_long(self.consumed, length, true))
            }
            Err(err) => Err(self.poison(err)),
        }
    }
}

impl Decoder for LengthPrefixed {
    fn stream_offset(&self) -> u64 {
        self.consumed
    }

    fn continue_at(&mut self, offset: u64) {
        self.consumed = offset;
    }

    #[inline(always)]
    fn decode_slice(&mut self, buf: &[u8]) -> Result<Decoded, CodecError> {
        // The common case, inlined: between frames, a whole frame buffered.
        if let State::Head = self.state {
            if let Some((start, end, len)) = self.whole_frame(buf) {
                self.consumed += len as u64;
                return Ok(Decoded::Frame {
                    start,
                    end,
                    consumed: len,
                });
            }
        }
        self.decode_slow(buf)
    }

    #[inline(always)]
    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        // The common case, inlined: the frame is taken out of the buffer in the caller.
        if let Some(frame) = self.decode_whole(buf) {
            return Ok(Some(frame));
        }
        crate::decode_slow(self, buf, false)
    }

    #[inline(always)]
    fn decode_whole(&mut self, buf: &mut BytesMut) -> Option<Bytes> {
        if let State::Head = self.state {
            if let Some((start, end, len)) = self.whole_frame(buf) {
                self.consumed += len as u64;
                return Some(crate::take_frame(buf, start, end, len));
            }
        }
        None
    }

    fn decode_slice_eof(&mut self, buf: &[u8]) -> Result<Decoded, CodecError> {
        if let Some(found) = crate::before_eof(self.decode_slice(buf)?) {
            return Ok(found);
        }
        match self.state {
            State::Head if buf.is_empty() => Ok(Decoded::Partial { consumed: 0 }),
            State::Discard {
                remaining,
                offset,
                total,
            } => Err(CodecError::UnexpectedEof {
                offset,
                buffered: usize::try_from(total - remaining).unwrap_or(usize::MAX),
                expected: Some(total),
            }),
            State::Head => Err(CodecError::UnexpectedEof {
                offset: self.consumed,
                buffered: buf.len(),
                expected: Some(self.header_len as u64),
            }),
            State::Body { total } => Err(CodecError::UnexpectedEof {
                offset: self.consumed,
                buffered: buf.len(),
                expected: Some(total as u64),
            }),
            State::Poisoned { offset } => Err(CodecError::Poisoned { offset }),
        }
    }

    fn bytes_wanted(&self, buffered: usize) -> Option<usize> {
        match self.state {
            State::Head => Some(self.header_len.saturating_sub(buffered).max(1)),
            State::Body { total } => Some(total.saturating_sub(buffered).max(1)),
            State::Discard { remaining, .. } => {
                Some(usize::try_from(remaining).unwrap_or(usize::MAX))
            }
            State::Poisoned { .. } => None,
        }
    }

    fn is_between_frames(&self) -> bool {
        !matches!(self.state, State::Discard { .. })
    }
}

impl Parse for LengthPrefixed {
    #[inline(always)]
    fn whole_frame(&self, buf: &[u8]) -> Option<(usize, usize, usize)> {
        LengthPrefixed::whole_frame(self, buf)
    }

    #[inline(always)]
    fn parse<'a>(&self, buf: &'a [u8], offset: u64) -> Result<Status<'a>, CodecError> {
        Ok(match self.locate(buf, offset)? {
            Located::Frame { start, end, len } => Status::Frame {
                frame: &buf[start..end],
                len,
            },
            Located::Skip { len } => Status::Skip { len },
            Located::Partial { needed, .. } => Status::Partial {
                needed: Some(needed),
            },
        })
    }
}

impl LengthPrefixed {
    /// The length field's value for a body of `length` bytes, or why there is none.
    #[inline]
    fn value_for(&self, length: usize) -> Result<u64, CodecError> {
        let value = length as i128 - i128::from(self.offset);
        if length > self.max || value < 0 || value > i128::from(self.max_value) {
            return Err(self.unframeable(length));
        }
        Ok(value as u64)
    }

    #[cold]
    #[inline(never)]
    fn unframeable(&self, length: usize) -> CodecError {
        if length > self.max {
            return CodecError::MessageTooLong {
                length,
                max: self.max,
            };
        }
        match u64::try_from(length as i128 - i128::from(self.offset)) {
            Err(_) => CodecError::MessageTooShort {
                length,
                min: self.offset as usize,
            },
            Ok(value) => match self.config.encoding.encode(value) {
                Err(source) => CodecError::LengthNotEncodable { length, source },
                Ok(_) => unreachable!("{value} fits the length field"),
            },
        }
    }

    /// Appends the header for a body whose length field holds `value`; `dst` has room for it.
    #[inline(always)]
    fn put_header(&self, value: u64, dst: &mut BytesMut) {
        if !self.config.before.is_empty() {
            dst.extend_from_slice(&self.config.before);
        }
        // `value_for` checked the value against the field's maximum: the casts cannot truncate,
        // and the digit writers get a value their width holds.
        match self.put {
            Put::U8 => dst.put_u8(value as u8),
            Put::Be16 => dst.put_u16(value as u16),
            Put::Le16 => dst.put_u16_le(value as u16),
            Put::Be32 => dst.put_u32(value as u32),
            Put::Le32 => dst.put_u32_le(value as u32),
            Put::BeN(width) => dst.put_uint(value, usize::from(width)),
            Put::LeN(width) => dst.put_uint_le(value, usize::from(width)),
            Put::Decimal4 => dst.put_u32_le(digits::decimal4(value as u32)),
            Put::Hex4 => dst.put_u32_le(digits::hex4(value as u32)),
            Put::Bcd2 => dst.put_u16_le(digits::bcd2(value as u32)),
            Put::Decimal(width) => digits::put_decimal(value, usize::from(width), dst),
            Put::Hex(width) => digits::put_hex(value, usize::from(width), dst),
            Put::Bcd(width) => digits::put_bcd(value, usize::from(width), dst),
        }
        if !self.config.after.is_empty() {
            dst.extend_from_slice(&self.config.after);
        }
    }
}

impl Encoder for LengthPrefixed {
    #[inline]
    fn encode_head(&self, body: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
        let value = self.value_or_bare(body.len())?;
        dst.reserve(self.header_len);
        self.put_header(value, dst);
        Ok(())
    }

    #[inline(always)]
    fn encode(&self, body: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
        let len = body.len();
        // 1 <= len <= fast_encode_max, in one comparison (an empty body wraps to usize::MAX).
        if len.wrapping_sub(1) >= self.fast_encode_max {
            // The digit fields' fast paths, after the binary one so that it keeps its code (one
            // match over all eight kinds cost `be:2` through `Framing` 8 instructions a frame in
            // registers and jumps). Each kind has its own bound, which says both that the field
            // is of that kind and that the length fits it; they are checked in this order, ASCII
            // decimal first (a match on the kind is a chain of comparisons in whatever order the
            // compiler picks). The reserves name the field's width as a constant, so that the
            // store's own capacity check folds away.
            let i = len.wrapping_sub(1);
            let word = if i < self.fast_decimal4_max {
                digits::decimal4(len as u32)
            } else if i < self.fast_bcd2_max {
                dst.reserve(2 + len);
                dst.put_u16_le(digits::bcd2(len as u32));
                dst.extend_from_slice(body);
                return Ok(());
            } else if i < self.fast_hex4_max {
                digits::hex4(len as u32)
            } else {
                return self.encode_general(body, dst);
            };
            dst.reserve(4 + len);
            dst.put_u32_le(word);
            dst.extend_from_slice(body);
            return Ok(());
        }
        // The fast path: a bare binary length that `fast_encode_max` says fits the field. Each
        // arm reserves with its own width, a constant: the store's capacity check then folds away.
        match self.put {
            Put::U8 => {
                dst.reserve(1 + len);
                dst.put_u8(len as u8);
            }
            Put::Be16 => {
                dst.reserve(2 + len);
                dst.put_u16(len as u16);
            }
            Put::Le16 => {
                dst.reserve(2 + len);
                dst.put_u16_le(len as u16);
            }
            Put::Be32 => {
                dst.reserve(4 + len);
                dst.put_u32(len as u32);
            }
            Put::Le32 => {
                dst.reserve(4 + len);
                dst.put_u32_le(len as u32);
            }
            _ => return self.encode_general(body, dst),
        }
        dst.extend_from_slice(body);
        Ok(())
    }

    fn tail(&self) -> &[u8] {
        &self.config.trailer
    }

    fn tail_for(&self, body_len: usize) -> &[u8] {
        if self.bare_write && body_len == 0 {
            &[]
        } else {
            &self.config.trailer
        }
    }

    fn head_len(&self) -> usize {
        self.header_len
    }
}

impl LengthPrefixed {
    /// [`Encoder::encode`] for every layout and length: fixed bytes, offsets, trailers, text
    /// and BCD fields, and lengths the field or the maximum refuses.
    #[inline(never)]
    fn encode_general(&self, body: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
        let value = self.value_or_bare(body.len())?;
        let tail = self.tail_for(body.len());
        dst.reserve(self.header_len + body.len() + tail.len());
        self.put_header(value, dst);
        dst.extend_from_slice(body);
        dst.extend_from_slice(tail);
        Ok(())
    }

    /// The length field's value for a body of `length` bytes: 0 for a bare empty frame.
    #[inline]
    fn value_or_bare(&self, length: usize) -> Result<u64, CodecError> {
        if !self.bare_write {
            return self.value_for(length);
        }
        match (length, self.value_for(length)) {
            (0, _) => Ok(0),
            // A length field of 0 is the bare empty frame: no other body may have it.
            (_, Ok(0)) => Err(CodecError::MessageTooShort {
                length,
                min: length + 1,
            }),
            (_, value) => value,
        }
    }
}

/// The digits of text and BCD length fields, computed in a machine word: four digits with a few
/// multiplications and masks, no division loop, no table, no formatting. Each function expects a
/// value its field holds: the caller has checked it, so none checks it again.
///
/// The four-digit words are in memory order in a little-endian integer (the first digit in the
/// low byte): `put_u32_le` / `put_u16_le` store them as they are.
mod digits {
    use bytes::BytesMut;

    /// `n` (below 10 000) as four ASCII decimal digits: `123` is `"0123"`.
    #[inline(always)]
    pub(super) fn decimal4(n: u32) -> u32 {
        // The two pairs of digits in two 16-bit lanes: n / 100 in lane 0, n % 100 in lane 1.
        // 5243 / 2^19 is 1/100 by a little excess, exact for n below 43 690.
        let high = (n * 5243) >> 19;
        let pairs = high | ((n - high * 100) << 16);
        // Each lane divided by 10: 103 / 2^10 is exact below 179, and a lane below 100 times 103
        // stays below 2^16, so the lanes do not mix; the mask drops what lane 1 shifts into lane 0.
        let tens = ((pairs * 103) >> 10) & 0x000F_000F;
        // Tens in the first byte of each lane, ones in the second.
        let digits = tens | ((pairs - tens * 10) << 8);
        digits | 0x3030_3030
    }

    /// `n` (below 10 000) as two bytes of packed BCD: `123` is `01 23`.
    #[inline(always)]
    pub(super) fn bcd2(n: u32) -> u16 {
        // As in `decimal4`: the pairs in two 16-bit lanes, their tens.
        let high = (n * 5243) >> 19;
        let pairs = high | ((n - high * 100) << 16);
        let tens = ((pairs * 103) >> 10) & 0x000F_000F;
        // A pair p of t tens is t * 16 + (p - 10 t) = p + 6 t in BCD, below 0x9A: one byte.
        let bcd = pairs + tens * 6;
        // Lane 1's byte (bits 16..24) next to lane 0's (bits 0..8).
        (bcd | (bcd >> 8)) as u16
    }

    /// `n` (below 65 536) as four upper-case ASCII hex digits: `123` is `"007B"`.
    #[inline(always)]
    pub(super) fn hex4(n: u32) -> u32 {
        // The high byte in lane 0 and the low byte in lane 1 (16-bit lanes), then each lane's high
        // nibble in its first byte and its low nibble in its second.
        let bytes = ((n >> 8) & 0xFF) | ((n & 0xFF) << 16);
        let nibbles = ((bytes >> 4) & 0x000F_000F) | ((bytes & 0x000F_000F) << 8);
        // Adding 6 carries into bit 4 of the bytes holding 10..=15: those are letters, which start
        // at 'A' = '0' + 10 + 7.
        let letters = ((nibbles + 0x0606_0606) >> 4) & 0x0101_0101;
        nibbles + 0x3030_3030 + letters * 7
    }

    /// Appends `value` (below 10^`width`) as `width` (1..=12) ASCII decimal digits.
    pub(super) fn put_decimal(mut value: u64, width: usize, dst: &mut BytesMut) {
        let mut field = [b'0'; 12];
        // Four digits at a time from the right, while any are not zero.
        for chunk in field.rchunks_exact_mut(4) {
            if value == 0 {
                break;
            }
            chunk.copy_from_slice(&decimal4((value % 10_000) as u32).to_le_bytes());
            value /= 10_000;
        }
        dst.extend_from_slice(&field[field.len() - width..]);
    }

    /// Appends `value` (below 16^`width`) as `width` (1..=16) upper-case ASCII hex digits.
    pub(super) fn put_hex(mut value: u64, width: usize, dst: &mut BytesMut) {
        let mut field = [b'0'; 16];
        for chunk in field.rchunks_exact_mut(4) {
            if value == 0 {
                break;
            }
            chunk.copy_from_slice(&hex4((value & 0xFFFF) as u32).to_le_bytes());
            value >>= 16;
        }
        dst.extend_from_slice(&field[field.len() - width..]);
    }

    /// Appends `value` (below 100^`width`) as `width` (1..=6) bytes of packed BCD.
    pub(super) fn put_bcd(mut value: u64, width: usize, dst: &mut BytesMut) {
        let mut field = [0u8; 6];
        for chunk in field.rchunks_exact_mut(2) {
            if value == 0 {
                break;
            }
            chunk.copy_from_slice(&bcd2((value % 10_000) as u32).to_le_bytes());
            value /= 10_000;
        }
        dst.extend_from_slice(&field[field.len() - width..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl LengthPrefixed {
        /// The bounds of the encoder's fast paths: binary, 4 decimal digits, 2 BCD bytes, 4 hex
        /// digits.
        fn fast_bounds(&self) -> [usize; 4] {
            [
                self.fast_encode_max,
                self.fast_decimal4_max,
                self.fast_bcd2_max,
                self.fast_hex4_max,
            ]
        }
    }

    /// Every encoding at every width it has.
    fn every_encoding() -> Vec<LengthEncoding> {
        let mut all = Vec::new();
        for width in 1..=10 {
            let decimal = LengthEncoding::ascii_decimal(width).unwrap();
            all.push(decimal);
            if let LengthEncoding::AsciiDecimal(d) = decimal {
                all.push(d.lenient().into());
            }
        }
        for width in 1..=16 {
            all.push(LengthEncoding::ascii_hex(width).unwrap());
        }
        for width in 1..=5 {
            all.push(LengthEncoding::packed_bcd(width).unwrap());
        }
        for width in 1..=8 {
            all.push(LengthEncoding::big_endian(width).unwrap());
            all.push(LengthEncoding::little_endian(width).unwrap());
        }
        all
    }

    /// Values a field of largest value `max` can hold: the edges of every digit count, and a
    /// spread in between (a fixed linear congruential sequence).
    fn values(max: u64) -> Vec<u64> {
        let mut values = vec![0, 1, max / 2, max - 1, max];
        let mut power = 1u64;
        while let Some(next) = power.checked_mul(10) {
            values.extend([power - 1, power, next - 1]);
            power = next;
        }
        for shift in 0..64 {
            values.extend([(1u64 << shift) - 1, 1 << shift]);
        }
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..2000 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            values.push(x % (max.saturating_add(1).max(1)));
        }
        values.retain(|&v| v <= max);
        values
    }

    #[test]
    fn four_digit_words_are_the_header_crates_fields_for_every_value() {
        let ascii = LengthEncoding::ascii_decimal(4).unwrap();
        let bcd = LengthEncoding::packed_bcd(2).unwrap();
        for n in 0..10_000u32 {
            let want = ascii.encode(u64::from(n)).unwrap();
            assert_eq!(digits::decimal4(n).to_le_bytes(), want[..], "ascii:4 {n}");
            let want = bcd.encode(u64::from(n)).unwrap();
            assert_eq!(digits::bcd2(n).to_le_bytes(), want[..], "bcd:2 {n}");
        }
        let hex = LengthEncoding::ascii_hex(4).unwrap();
        for n in 0..=0xFFFFu32 {
            let want = hex.encode(u64::from(n)).unwrap();
            assert_eq!(digits::hex4(n).to_le_bytes(), want[..], "hex:4 {n}");
        }
    }

    #[test]
    fn every_width_writes_the_header_crates_field() {
        for encoding in every_encoding() {
            let framing = LengthPrefixed::new(encoding).unwrap();
            for value in values(encoding.max_length()) {
                let mut dst = BytesMut::from(&b"xy"[..]);
                framing.put_header(value, &mut dst);
                let want = encoding.encode(value).unwrap();
                assert_eq!(&dst[..2], b"xy", "{encoding}: {value}");
                assert_eq!(&dst[2..], &want[..], "{encoding}: {value}");
            }
        }
    }

    /// `encode`'s result, bytes or error, and what `dst` holds after it.
    fn encoded(
        framing: &LengthPrefixed,
        body: &[u8],
        general: bool,
    ) -> (Result<(), CodecError>, BytesMut) {
        let mut dst = BytesMut::from(&b"xy"[..]);
        let result = if general {
            framing.encode_general(body, &mut dst)
        } else {
            Encoder::encode(framing, body, &mut dst)
        };
        (result, dst)
    }

    /// The fast path writes what the general path writes, at its edges and around them, and
    /// refuses what it refuses with the same error, for every encoding and width, with and without
    /// an explicit maximum.
    #[test]
    fn fast_path_writes_and_refuses_what_the_general_path_does() {
        let big = vec![0x5Au8; DEFAULT_MAX_FRAME_LENGTH + 2];
        let mut fast = 0;
        for encoding in every_encoding() {
            let field_max = usize::try_from(encoding.max_length()).unwrap_or(usize::MAX);
            for max in [None, Some(1000.min(field_max)), Some(1)] {
                let mut config = LengthPrefixedConfig::new(encoding);
                config.max_frame_length = max;
                let framing = config.build().unwrap();
                let largest = framing.max_frame_length();
                let bounds = framing.fast_bounds();
                let fast_max = bounds.into_iter().max().unwrap();
                assert!(
                    bounds.iter().filter(|&&b| b > 0).count() <= 1,
                    "{encoding}: one fast path at most"
                );
                if fast_max > 0 {
                    fast += 1;
                    assert_eq!(fast_max, largest, "{encoding}");
                }
                for len in [0, 1, 2, 9, 10, 99, 100, 255, 256, 999, 1000, 9999, 10_000]
                    .into_iter()
                    .chain([largest.saturating_sub(1), largest, largest + 1])
                    .filter(|&len| len <= largest + 1)
                {
                    let body = &big[..len];
                    let (fast_result, fast_bytes) = encoded(&framing, body, false);
                    let (general_result, general_bytes) = encoded(&framing, body, true);
                    assert_eq!(
                        fast_result, general_result,
                        "{encoding}, max {max:?}: {len}"
                    );
                    assert_eq!(fast_bytes, general_bytes, "{encoding}, max {max:?}: {len}");
                    if len > largest {
                        assert_eq!(
                            fast_result,
                            Err(CodecError::MessageTooLong {
                                length: len,
                                max: largest
                            }),
                            "{encoding}, max {max:?}"
                        );
                        assert_eq!(&fast_bytes[..], b"xy", "nothing written when refused");
                    } else {
                        let field = encoding.encode(len as u64).unwrap();
                        let want = [&b"xy"[..], &field, body].concat();
                        assert_eq!(fast_bytes[..], want[..], "{encoding}, max {max:?}: {len}");
                    }
                }
            }
        }
        // Binary of 1, 2 and 4 bytes in either order (6), 4 ASCII decimal digits, strict and
        // lenient (2), 4 hex digits, 2 BCD bytes: each with three maxima.
        assert_eq!(fast, 3 * 10);
    }

    /// Only a bare length field takes the fast path: an offset, fixed bytes or a trailer keep the
    /// general one, and write the same digits.
    #[test]
    fn fast_path_only_for_bare_fields() {
        for spec in ["ascii:4", "bcd:2", "hex:4", "be:2"] {
            let bare: crate::Framing = spec.parse().unwrap();
            let crate::Framing::LengthPrefixed(bare) = bare else {
                panic!("{spec}");
            };
            assert_eq!(
                bare.fast_bounds().iter().filter(|&&b| b > 0).count(),
                1,
                "{spec}"
            );
            for options in [
                ",counts-header",
                ",before=00",
                ",after=00",
                ",trailer=03",
                ",adjust=2",
            ] {
                let spec = format!("{spec}{options}");
                let crate::Framing::LengthPrefixed(framing) = spec.parse().unwrap() else {
                    panic!("{spec}");
                };
                assert_eq!(framing.fast_bounds(), [0; 4], "{spec}");
            }
        }
    }
}
