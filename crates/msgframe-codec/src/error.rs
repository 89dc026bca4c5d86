//! The one error type of this crate.

use core::fmt;

use msgframe_header::HeaderError;

use crate::spec::SpecError;

/// Bytes shown as space-separated upper-case hex in error messages, e.g. `03 00`.
#[derive(Clone, PartialEq, Eq)]
pub struct Hex(pub Box<[u8]>);

impl Hex {
    pub(crate) fn of(bytes: &[u8]) -> Self {
        Hex(bytes.into())
    }
}

impl fmt::Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}",
            msgframe_header::hex::display(&self.0).upper().spaced()
        )
    }
}

impl fmt::Debug for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{self}]")
    }
}

/// Which fixed bytes of a length header did not match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixedPart {
    /// The bytes configured before the length field.
    BeforeLength,
    /// The bytes configured after the length field.
    AfterLength,
    /// The bytes configured after the body.
    Trailer,
}

impl fmt::Display for FixedPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FixedPart::BeforeLength => "bytes before the length field",
            FixedPart::AfterLength => "bytes after the length field",
            FixedPart::Trailer => "trailer bytes after the body",
        })
    }
}

/// Everything that can go wrong when configuring, decoding or encoding a framing.
///
/// Offsets are positions in the stream: the number of bytes the decoder had consumed before the frame
/// in question started. After a decoding error the decoder is either **resumable** (call `decode`
/// again, the stream goes on) or **poisoned** (every later call returns [`CodecError::Poisoned`]; close
/// the connection). [`CodecError::is_resumable`] tells which. [`CodecError::UnexpectedEof`] is
/// neither: it reports that the stream has ended, so there is nothing left to decode (the decoder
/// keeps the partial frame, and calling `decode_eof` again reports it again).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The length field of the frame at `offset` is malformed. Poisons the decoder.
    #[error("frame at stream offset {offset}: {source}")]
    Header {
        /// Stream offset of the frame's first byte.
        offset: u64,
        /// What was wrong with the field.
        source: HeaderError,
    },

    /// Fixed header bytes differ from the configured ones. Poisons the decoder.
    #[error("frame at stream offset {offset}: {part} are [{found}], expected [{expected}]")]
    FixedBytesMismatch {
        /// Stream offset of the frame's first byte.
        offset: u64,
        /// Which fixed bytes.
        part: FixedPart,
        /// The configured bytes.
        expected: Hex,
        /// The bytes received.
        found: Hex,
    },

    /// The length field claims fewer bytes than the header it says it counts. Poisons the decoder.
    #[error(
        "frame at stream offset {offset}: length field [{field}] says {length}, less than the {minimum} header bytes it counts"
    )]
    LengthTooSmall {
        /// Stream offset of the frame's first byte.
        offset: u64,
        /// The length field's bytes.
        field: Hex,
        /// The decoded length.
        length: u64,
        /// The smallest value that would have been valid.
        minimum: u64,
    },

    /// A frame is longer than the configured maximum. With the fail policy this poisons the decoder;
    /// with the discard policy (`discarding: true`) its bytes are skipped as they arrive and decoding
    /// resumes with the next frame.
    #[error(
        "frame at stream offset {offset} is {}{length} bytes, above the maximum of {max}{}",
        if *.exact { "" } else { "at least " },
        if *.discarding { "; discarding it" } else { "" }
    )]
    FrameTooLong {
        /// Stream offset of the frame's first byte.
        offset: u64,
        /// The frame's length (after the header), as claimed or as counted so far.
        length: u64,
        /// Whether `length` is the exact length (from a header) or a lower bound (no delimiter yet).
        exact: bool,
        /// The configured maximum.
        max: u64,
        /// Whether the decoder is discarding the frame and will resume after it.
        discarding: bool,
    },

    /// Bytes that the framing does not allow where they are (e.g. a netstring's length prefix).
    /// Poisons the decoder.
    #[error("frame at stream offset {offset}: [{bytes}]: {reason}")]
    Malformed {
        /// Stream offset of the frame's first byte.
        offset: u64,
        /// The offending bytes (at most 16).
        bytes: Hex,
        /// What the framing expected.
        reason: &'static str,
    },

    /// The stream ended inside a frame.
    #[error(
        "stream ended inside the frame at stream offset {offset}: {buffered} bytes buffered{}",
        match .expected { Some(n) => format!(", {n} expected"), None => String::from(", no delimiter") }
    )]
    UnexpectedEof {
        /// Stream offset of the partial frame's first byte.
        offset: u64,
        /// Bytes of the frame that had arrived.
        buffered: usize,
        /// Bytes the whole frame needs (header included), when known; at least the header length when
        /// the header itself was cut short.
        expected: Option<u64>,
    },

    /// The decoder was poisoned by an earlier error and will not decode again.
    #[error("decoder is poisoned by an earlier error at stream offset {offset}; close the stream")]
    Poisoned {
        /// Stream offset of the frame that caused the first error.
        offset: u64,
    },

    /// A message given to an encoder is longer than the configured maximum.
    #[error("message of {length} bytes is above the maximum of {max}")]
    MessageTooLong {
        /// The message's length.
        length: usize,
        /// The configured maximum.
        max: usize,
    },

    /// A message is shorter than the length field's adjustment allows (the field would be negative).
    #[error(
        "message of {length} bytes is below the minimum of {min} this length adjustment allows"
    )]
    MessageTooShort {
        /// The message's length.
        length: usize,
        /// The shortest message that can be framed.
        min: usize,
    },

    /// A message's length cannot be written in the length field.
    #[error("message of {length} bytes cannot be framed: {source}")]
    LengthNotEncodable {
        /// The message's length.
        length: usize,
        /// Why the field cannot hold it.
        source: HeaderError,
    },

    /// A message given to a fixed-length encoder has the wrong size.
    #[error("message of {length} bytes given to a fixed-length framing of {expected} bytes")]
    WrongLength {
        /// The message's length.
        length: usize,
        /// The framing's length.
        expected: usize,
    },

    /// A message given to a delimiter encoder contains the delimiter, which would split it.
    #[error("message contains the delimiter [{delimiter}] at offset {offset}")]
    ContainsDelimiter {
        /// Offset of the delimiter in the message.
        offset: usize,
        /// The delimiter.
        delimiter: Hex,
    },

    /// A framing's options contradict each other.
    #[error("invalid framing: {0}")]
    InvalidConfig(String),

    /// A length encoding could not be built (e.g. an unsupported width).
    #[error("invalid framing: {0}")]
    InvalidEncoding(#[from] HeaderError),

    /// A framing spec string could not be parsed.
    #[error(transparent)]
    Spec(#[from] SpecError),
}

impl CodecError {
    /// Whether the decoder can go on after this error. `false` for poisoning errors, and for errors
    /// that are not decoding errors at all (encoding and configuration).
    pub fn is_resumable(&self) -> bool {
        matches!(
            self,
            CodecError::FrameTooLong {
                discarding: true,
                ..
            }
        )
    }
}
