//! Length-prefixed framing: a header holding the frame's length, then the frame.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use msgframe_header::{ByteOrder, EncodedLength, LengthEncoding, LengthField};

use crate::error::{FixedPart, Hex};
use crate::{CodecError, Decoder, Encoder, Parse, Status, DEFAULT_MAX_FRAME_LENGTH};

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

/// The options of a [`LengthPrefixed`] framing; [`build`](LengthPrefixedConfig::build) checks them.
///
/// ```text
///  +---------------+--------------+--------------+---------------------+
///  | before        | length field | after        | body                |
///  | (fixed bytes) | (encoding)   | (fixed bytes)| (length bytes)      |
///  +---------------+--------------+--------------+---------------------+
///  |<------------------- header ----------------->|
///  |<-- strip (default: the whole header) -->|  delivered frame: the rest
/// ```
///
/// The body length is `value + adjustment − counted header bytes`, where the counted header bytes
/// depend on [`LengthCounts`]: none for `Body`, `length field + after` for `FromLengthField`, the whole
/// header for `WholeFrame`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LengthPrefixedConfig {
    /// The length field's encoding.
    pub encoding: LengthEncoding,
    /// Fixed bytes before the length field (e.g. TPKT's `03 00`).
    pub before: Bytes,
    /// Fixed bytes after the length field (e.g. two zero bytes in Visa-style headers).
    pub after: Bytes,
    /// Whether received `before`/`after` bytes must equal the configured ones (default `true`).
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
}

impl LengthPrefixedConfig {
    /// Options with the given encoding and every other option at its default.
    pub fn new(encoding: LengthEncoding) -> Self {
        LengthPrefixedConfig {
            encoding,
            before: Bytes::new(),
            after: Bytes::new(),
            verify_fixed: true,
            counts: LengthCounts::Body,
            adjustment: 0,
            strip: None,
            max_frame_length: None,
            oversize: Oversize::Fail,
            empty: EmptyFrames::Deliver,
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
        let counted = match self.counts {
            LengthCounts::Body => 0,
            LengthCounts::FromLengthField => self.encoding.width() + self.after.len(),
            LengthCounts::WholeFrame => header_len,
        };
        // body = value + offset
        let offset = i128::from(self.adjustment) - counted as i128;
        let largest_body = i128::from(self.encoding.max_length()) + offset;
        if largest_body < 0 {
            return Err(CodecError::InvalidConfig(format!(
                "a {} length field holds at most {}, but with adjustment {} it must count {} header bytes: no frame fits",
                self.encoding,
                self.encoding.max_length(),
                self.adjustment,
                counted as i128 - i128::from(self.adjustment),
            )));
        }
        let strip = self.strip.unwrap_or(header_len);
        if strip > header_len {
            return Err(CodecError::InvalidConfig(format!(
                "strip of {strip} bytes is longer than the {header_len}-byte header"
            )));
        }
        // A frame (header + body) must fit a buffer: at most isize::MAX bytes.
        let addressable = isize::MAX as usize - header_len;
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
        if header_len > u16::MAX as usize {
            return Err(CodecError::InvalidConfig(format!(
                "header of {header_len} bytes is too long"
            )));
        }
        let offset = i64::try_from(offset).map_err(|_| {
            CodecError::InvalidConfig(format!("adjustment {} is out of range", self.adjustment))
        })?;
        Ok(LengthPrefixed {
            header_len,
            length_at: self.before.len(),
            field_end: self.before.len() + self.encoding.width(),
            max_value: self.encoding.max_length(),
            verify_fixed: self.verify_fixed && !(self.before.is_empty() && self.after.is_empty()),
            strip,
            offset,
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
    /// Skipping the rest of an oversized frame.
    Discard { remaining: u64 },
    /// A fatal error happened at this offset.
    Poisoned { offset: u64 },
}

/// Length-prefixed framing: a header holding the body's length, in any [`LengthEncoding`], with
/// optional fixed bytes before and after the length field.
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
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Limits and errors
/// The maximum body length (default 8 MiB, or less when the header cannot express that much) is
/// checked against the header's claim **before** anything is buffered or reserved; within it, buffer
/// space is reserved only as bytes arrive (at most 64 KiB ahead of them). A malformed
/// length field, mismatching fixed bytes, a length smaller than the header it counts, or an oversized
/// frame under [`Oversize::Fail`] poison the decoder. Under [`Oversize::Discard`] an oversized frame is
/// reported once, then skipped as it arrives.
#[derive(Debug, Clone)]
pub struct LengthPrefixed {
    config: LengthPrefixedConfig,
    header_len: usize,
    length_at: usize,
    field_end: usize,
    /// The largest value the length field holds.
    max_value: u64,
    /// Whether fixed bytes must be checked: asked for, and there are some.
    verify_fixed: bool,
    strip: usize,
    /// body length = field value + offset
    offset: i64,
    max: usize,
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

    /// Bytes consumed from the stream so far: the stream offset of the next frame.
    pub fn stream_offset(&self) -> u64 {
        self.consumed
    }

    #[cold]
    #[inline(never)]
    fn poison(&mut self, err: CodecError) -> CodecError {
        self.state = State::Poisoned {
            offset: self.consumed,
        };
        err
    }

    /// Parses the header at the start of `buf` (which holds at least `header_len` bytes) and returns
    /// the body length the header claims (saturating at `u64::MAX`). `offset` is the stream offset of
    /// `buf[0]`, for errors. Pure: the owned and the borrowed decoders both use it.
    #[inline]
    fn body_len(&self, buf: &[u8], offset: u64) -> Result<u64, CodecError> {
        let cfg = &self.config;
        let field_end = self.field_end;
        let fixed_ok = !self.verify_fixed
            || (buf[..self.length_at] == cfg.before[..]
                && buf[field_end..self.header_len] == cfg.after[..]);
        let value = match cfg.encoding.decode(&buf[self.length_at..field_end]) {
            Ok(value) if fixed_ok => value,
            _ => return Err(self.header_error(buf, offset)),
        };
        if self.offset >= 0 {
            Ok(value.saturating_add(self.offset as u64))
        } else {
            match value.checked_sub(self.offset.unsigned_abs()) {
                Some(body) => Ok(body),
                None => Err(self.header_error(buf, offset)),
            }
        }
    }

    /// What is wrong with the header at the start of `buf`, checked in wire order. Out of line:
    /// the hot path only learns that something is.
    #[cold]
    #[inline(never)]
    fn header_error(&self, buf: &[u8], offset: u64) -> CodecError {
        let cfg = &self.config;
        let field_end = self.length_at + cfg.encoding.width();
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
    fn too_long(&self, offset: u64, body: u64, discarding: bool) -> CodecError {
        CodecError::FrameTooLong {
            offset,
            length: body,
            exact: true,
            max: self.max as u64,
            discarding,
        }
    }

    /// Skips as much of an oversized frame as is buffered.
    fn discard(&mut self, buf: &mut BytesMut, remaining: u64) {
        let n = usize::try_from(remaining)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        buf.advance(n);
        self.consumed += n as u64;
        let remaining = remaining - n as u64;
        self.state = if remaining == 0 {
            State::Head
        } else {
            State::Discard { remaining }
        };
    }
}

impl Decoder for LengthPrefixed {
    #[inline]
    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        loop {
            match self.state {
                State::Head | State::Body { .. } => {}
                State::Discard { remaining } => {
                    self.discard(buf, remaining);
                    if let State::Discard { .. } = self.state {
                        return Ok(None);
                    }
                    continue;
                }
                State::Poisoned { offset } => return Err(CodecError::Poisoned { offset }),
            }
            // The borrowed parser decides; this only turns its answer into buffer operations.
            match self.parse(buf, self.consumed) {
                Ok(Status::Frame { frame, len }) => {
                    // Written only when it changes: rewriting it for every frame would make the
                    // next call's read of the whole state wait on that narrower store.
                    if self.state != State::Head {
                        self.state = State::Head;
                    }
                    self.consumed += len as u64;
                    let frame_len = frame.len();
                    buf.advance(len - frame_len);
                    return Ok(Some(buf.split_to(frame_len).freeze()));
                }
                Ok(Status::Skip { len }) => {
                    self.state = State::Head;
                    self.consumed += len as u64;
                    buf.advance(len);
                    self.keepalives += 1;
                }
                Ok(Status::Partial { needed }) => {
                    if let (Some(needed), true) = (needed, buf.len() >= self.header_len) {
                        // The header is in: remember the frame's size, and reserve ahead, never
                        // more than 64 KiB beyond what has arrived (a claim within the maximum
                        // still allocates only as the peer actually sends).
                        self.state = State::Body {
                            total: buf.len() + needed,
                        };
                        buf.reserve(needed.min(crate::RESERVE_AHEAD));
                    }
                    return Ok(None);
                }
                Err(CodecError::FrameTooLong { length, .. })
                    if self.config.oversize == Oversize::Discard =>
                {
                    let err = self.too_long(self.consumed, length, true);
                    buf.advance(self.header_len);
                    self.consumed += self.header_len as u64;
                    self.discard(buf, length);
                    return Err(err);
                }
                Err(err) => return Err(self.poison(err)),
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        if let Some(frame) = self.decode(buf)? {
            return Ok(Some(frame));
        }
        match self.state {
            State::Head if buf.is_empty() => Ok(None),
            State::Discard { .. } => {
                // The oversized frame was already reported; its missing tail will never come.
                self.state = State::Head;
                Ok(None)
            }
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
            State::Discard { remaining } => Some(usize::try_from(remaining).unwrap_or(usize::MAX)),
            State::Poisoned { .. } => None,
        }
    }
}

impl Parse for LengthPrefixed {
    #[inline]
    fn parse<'a>(&self, buf: &'a [u8], offset: u64) -> Result<Status<'a>, CodecError> {
        if buf.len() < self.header_len {
            return Ok(Status::Partial {
                needed: Some(self.header_len - buf.len()),
            });
        }
        let body = self.body_len(buf, offset)?;
        if body > self.max as u64 {
            return Err(self.too_long(offset, body, false));
        }
        let total = self.header_len + body as usize;
        if buf.len() < total {
            return Ok(Status::Partial {
                needed: Some(total - buf.len()),
            });
        }
        if body == 0 && self.config.empty == EmptyFrames::Skip {
            return Ok(Status::Skip { len: total });
        }
        Ok(Status::Frame {
            frame: &buf[self.strip..total],
            len: total,
        })
    }
}

impl LengthPrefixed {
    /// The length field's value for a body of `length` bytes, or why there is none.
    #[inline]
    fn field_value(&self, length: usize) -> Result<u64, CodecError> {
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

    /// Appends the header for a body of `length` bytes; `dst` has room for it.
    #[inline]
    fn put_header(&self, value: u64, dst: &mut BytesMut) {
        if !self.config.before.is_empty() {
            dst.extend_from_slice(&self.config.before);
        }
        match self.config.encoding {
            LengthEncoding::Binary(b) => match b.order() {
                ByteOrder::BigEndian => dst.put_uint(value, b.width()),
                ByteOrder::LittleEndian => dst.put_uint_le(value, b.width()),
            },
            other => {
                let mut field = [0u8; EncodedLength::CAPACITY];
                // Cannot fail: `field_value` checked the value against the field's maximum.
                let _ = other.encode_into(value, &mut field);
                dst.extend_from_slice(&field[..other.width()]);
            }
        }
        if !self.config.after.is_empty() {
            dst.extend_from_slice(&self.config.after);
        }
    }
}

impl Encoder for LengthPrefixed {
    fn encode_head(&self, body: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
        let value = self.field_value(body.len())?;
        dst.reserve(self.header_len);
        self.put_header(value, dst);
        Ok(())
    }

    #[inline]
    fn encode(&self, body: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
        let value = self.field_value(body.len())?;
        dst.reserve(self.header_len + body.len());
        self.put_header(value, dst);
        dst.extend_from_slice(body);
        Ok(())
    }

    fn head_len(&self) -> usize {
        self.header_len
    }
}
