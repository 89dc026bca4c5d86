//! Any framing, chosen at run time.

use core::fmt;
use core::str::FromStr;

use bytes::{Bytes, BytesMut};

use crate::{
    CodecError, Decoded, Decoder, Delimited, Encoder, FixedLength, FramingSpec, LengthPrefixed,
    Netstring, Parse, Status, UntilEof,
};

/// Any one of the framings, chosen at run time (typically from a [`FramingSpec`]).
///
/// ```
/// use msgframe_codec::Framing;
///
/// let framing: Framing = "be:2,after=0000".parse()?;
/// assert_eq!(framing.to_string(), "be:2,after=0000");
/// # Ok::<(), msgframe_codec::CodecError>(())
/// ```
#[derive(Debug, Clone)]
pub enum Framing {
    /// A length header, then the body.
    LengthPrefixed(LengthPrefixed),
    /// The whole stream is one message.
    UntilEof(UntilEof),
    /// Every frame has the same length.
    FixedLength(FixedLength),
    /// Frames end with a delimiter.
    Delimited(Delimited),
    /// Netstrings.
    Netstring(Netstring),
}

impl Framing {
    /// The spec this framing was built from.
    pub fn spec(&self) -> FramingSpec {
        match self {
            Framing::LengthPrefixed(f) => FramingSpec::LengthPrefixed(f.config().clone()),
            Framing::UntilEof(f) => FramingSpec::UntilEof {
                max: f.max_frame_length(),
            },
            Framing::FixedLength(f) => FramingSpec::FixedLength { len: f.len() },
            Framing::Delimited(f) => FramingSpec::Delimited(f.config().clone()),
            Framing::Netstring(f) => FramingSpec::Netstring {
                max: f.max_frame_length(),
            },
        }
    }
}

macro_rules! each {
    ($self:ident, $f:ident => $body:expr) => {
        match $self {
            Framing::LengthPrefixed($f) => $body,
            Framing::UntilEof($f) => $body,
            Framing::FixedLength($f) => $body,
            Framing::Delimited($f) => $body,
            Framing::Netstring($f) => $body,
        }
    };
}

impl Decoder for Framing {
    #[inline(always)]
    fn decode_slice(&mut self, buf: &[u8]) -> Result<Decoded, CodecError> {
        each!(self, f => f.decode_slice(buf))
    }

    fn decode_slice_eof(&mut self, buf: &[u8]) -> Result<Decoded, CodecError> {
        each!(self, f => f.decode_slice_eof(buf))
    }

    #[inline(always)]
    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        // The length-prefixed fast path inlines into the caller; the rest stays out of line.
        match self {
            Framing::LengthPrefixed(f) => f.decode(buf),
            other => other.decode_other(buf),
        }
    }

    #[inline(always)]
    fn decode_whole(&mut self, buf: &mut BytesMut) -> Option<Bytes> {
        match self {
            Framing::LengthPrefixed(f) => f.decode_whole(buf),
            _ => None,
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        each!(self, f => f.decode_eof(buf))
    }

    fn bytes_wanted(&self, buffered: usize) -> Option<usize> {
        each!(self, f => f.bytes_wanted(buffered))
    }

    fn is_between_frames(&self) -> bool {
        each!(self, f => f.is_between_frames())
    }

    fn stream_offset(&self) -> u64 {
        each!(self, f => f.stream_offset())
    }

    fn continue_at(&mut self, offset: u64) {
        each!(self, f => f.continue_at(offset))
    }
}

impl Parse for Framing {
    #[inline(always)]
    fn whole_frame(&self, buf: &[u8]) -> Option<(usize, usize, usize)> {
        match self {
            Framing::LengthPrefixed(f) => Parse::whole_frame(f, buf),
            _ => None,
        }
    }

    #[inline(always)]
    fn parse<'a>(&self, buf: &'a [u8], offset: u64) -> Result<Status<'a>, CodecError> {
        each!(self, f => f.parse(buf, offset))
    }
}

impl Encoder for Framing {
    #[inline]
    fn encode_head(&self, body: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
        each!(self, f => f.encode_head(body, dst))
    }

    fn tail(&self) -> &[u8] {
        each!(self, f => f.tail())
    }

    fn tail_for(&self, body_len: usize) -> &[u8] {
        each!(self, f => f.tail_for(body_len))
    }

    fn head_len(&self) -> usize {
        each!(self, f => f.head_len())
    }

    #[inline(always)]
    fn encode(&self, body: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
        // The length-prefixed fast path inlines into the caller; the rest stays out of line.
        match self {
            Framing::LengthPrefixed(f) => f.encode(body, dst),
            other => other.encode_other(body, dst),
        }
    }
}

impl Framing {
    #[inline(never)]
    fn decode_other(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        each!(self, f => f.decode(buf))
    }

    #[inline(never)]
    fn encode_other(&self, body: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
        each!(self, f => f.encode(body, dst))
    }
}

impl From<LengthPrefixed> for Framing {
    fn from(f: LengthPrefixed) -> Self {
        Framing::LengthPrefixed(f)
    }
}

impl From<UntilEof> for Framing {
    fn from(f: UntilEof) -> Self {
        Framing::UntilEof(f)
    }
}

impl From<FixedLength> for Framing {
    fn from(f: FixedLength) -> Self {
        Framing::FixedLength(f)
    }
}

impl From<Delimited> for Framing {
    fn from(f: Delimited) -> Self {
        Framing::Delimited(f)
    }
}

impl From<Netstring> for Framing {
    fn from(f: Netstring) -> Self {
        Framing::Netstring(f)
    }
}

/// Parses a [`FramingSpec`] and builds it.
impl FromStr for Framing {
    type Err = CodecError;

    fn from_str(s: &str) -> Result<Self, CodecError> {
        s.parse::<FramingSpec>()?.build()
    }
}

/// Prints the framing's [`FramingSpec`].
impl fmt::Display for Framing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.spec().fmt(f)
    }
}
