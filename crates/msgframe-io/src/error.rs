//! The one error type of this crate.

use std::io;

use msgframe_codec::CodecError;

/// Everything that can go wrong reading or writing a message.
///
/// What the reader or writer can do afterwards is part of each variant's documentation:
///
/// | error | reader afterwards | writer afterwards |
/// |-------|-------------------|-------------------|
/// | [`Closed`](Error::Closed) | at end of stream; every call returns `Closed` | — |
/// | [`UnexpectedEof`](Error::UnexpectedEof) | at end of stream | — |
/// | [`TimedOut`](Error::TimedOut) | partial message kept: call again to continue | message taken; its unsent rest is kept and goes first on the next call |
/// | [`WouldBlock`](Error::WouldBlock) | partial message kept: call again when readable | (flush) bytes still pending: call again when writable |
/// | [`Yielded`](Error::Yielded) | read budget spent, partial message kept: call again soon, without waiting for readiness | — |
/// | [`NotSent`](Error::NotSent) | — | message refused: nothing of it was sent or kept; offer it again once earlier bytes are out |
/// | [`Malformed`](Error::Malformed) | poisoned: close the stream | — |
/// | [`TooLong`](Error::TooLong) | poisoned, or resumable under the discard policy ([`Error::is_resumable`]) | message not written |
/// | [`Message`](Error::Message) | — | message not written; the writer is fine |
/// | [`Io`](Error::Io) | the stream failed: close it | the stream failed: close it |
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer closed the stream cleanly, between messages.
    #[error("stream closed by the peer between messages")]
    Closed,

    /// The peer closed the stream inside a message.
    #[error(
        "stream closed by the peer inside the message at stream offset {offset}: {buffered} bytes received{}",
        match .expected { Some(n) => format!(", {n} expected"), None => String::from(", no delimiter yet") }
    )]
    UnexpectedEof {
        /// Stream offset of the partial message's first byte.
        offset: u64,
        /// Bytes of the message that had arrived.
        buffered: usize,
        /// Bytes the whole message needs (header included), when known.
        expected: Option<u64>,
    },

    /// The deadline passed before the whole message was read or written.
    #[error("timed out after {elapsed_ms} ms with {buffered} bytes of a message {}", if *.writing { "unsent" } else { "buffered" })]
    TimedOut {
        /// Bytes of the partial message buffered (reading) or not yet sent (writing).
        buffered: usize,
        /// How long the call waited, in milliseconds.
        elapsed_ms: u64,
        /// Whether this was a write.
        writing: bool,
    },

    /// The stream is non-blocking and no whole message is available (reading), or bytes are still
    /// pending after a flush (writing).
    #[error("operation would block")]
    WouldBlock,

    /// A non-blocking read returned to its caller after reading its budget of bytes without
    /// completing a message (a peer flooding keepalives, or a very large message): the stream may
    /// still be readable. Serve other connections, then call again **without waiting for a
    /// readiness event** (an edge-triggered poller will not repeat it). Nothing is lost.
    #[error("read budget of {read} bytes spent without a whole message; call again soon")]
    Yielded {
        /// Bytes read by the call.
        read: usize,
    },

    /// The writer did not take the message: bytes of earlier messages are still unsent (a
    /// deadline passed while sending them, or a non-blocking writer's queue is full). Nothing of
    /// this message was sent or kept; offer it again once the writer has caught up.
    #[error(
        "message not sent: {pending} bytes of earlier messages are still waiting for the peer; nothing of this message was sent or kept"
    )]
    NotSent {
        /// Bytes of earlier messages not sent yet.
        pending: usize,
    },

    /// The peer sent bytes that are not a valid frame.
    #[error(transparent)]
    Malformed(CodecError),

    /// A frame (received or to be sent) is longer than the configured maximum.
    #[error(transparent)]
    TooLong(CodecError),

    /// A message cannot be framed (wrong size for a fixed length, contains the delimiter, ...).
    #[error(transparent)]
    Message(CodecError),

    /// Any other I/O error, including a connection reset.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

impl Error {
    /// Whether the peer closed the stream cleanly between messages.
    pub fn is_closed(&self) -> bool {
        matches!(self, Error::Closed)
    }

    /// Whether this is a timeout, would-block, a spent read budget or a refused message: nothing is
    /// lost, call again (a refused message: offer it again).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::TimedOut { .. }
                | Error::WouldBlock
                | Error::Yielded { .. }
                | Error::NotSent { .. }
        )
    }

    /// Whether the writer refused the message: nothing of it was sent or kept.
    pub fn is_not_sent(&self) -> bool {
        matches!(self, Error::NotSent { .. })
    }

    /// Whether reading can go on after this error: timeouts, would-block, a spent read budget, and
    /// oversized frames that are being discarded.
    pub fn is_resumable(&self) -> bool {
        match self {
            Error::TimedOut { .. } | Error::WouldBlock | Error::Yielded { .. } => true,
            Error::TooLong(e) => e.is_resumable(),
            _ => false,
        }
    }

    /// The error for a connection that no address accepted: the last address tried and its error
    /// (`connecting to 127.0.0.1:9000: Connection refused`), or that there was no address at all.
    pub fn connect_failed(last: Option<(std::net::SocketAddr, io::Error)>) -> Self {
        match last {
            Some(last) => crate::ConnectError::after_attempts(None, Some(last)).into(),
            None => Error::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no address to connect to",
            )),
        }
    }

    /// Sorts a codec error from decoding into the variant that says what happened:
    /// `UnexpectedEof`, `TooLong` for oversized frames, `Malformed` for the rest.
    pub fn from_decode(err: CodecError) -> Self {
        match err {
            CodecError::UnexpectedEof {
                offset,
                buffered,
                expected,
            } => Error::UnexpectedEof {
                offset,
                buffered,
                expected,
            },
            e @ CodecError::FrameTooLong { .. } => Error::TooLong(e),
            e => Error::Malformed(e),
        }
    }

    /// Sorts a codec error from encoding: `TooLong` for oversized messages, `Message` for the rest.
    pub fn from_encode(err: CodecError) -> Self {
        match err {
            e @ CodecError::MessageTooLong { .. } => Error::TooLong(e),
            e => Error::Message(e),
        }
    }
}

impl From<Error> for io::Error {
    /// For code that speaks `io::Result`: each variant maps to the closest [`io::ErrorKind`].
    fn from(err: Error) -> Self {
        let kind = match &err {
            Error::Closed | Error::UnexpectedEof { .. } => io::ErrorKind::UnexpectedEof,
            Error::TimedOut { .. } => io::ErrorKind::TimedOut,
            Error::WouldBlock | Error::Yielded { .. } | Error::NotSent { .. } => {
                io::ErrorKind::WouldBlock
            }
            Error::Malformed(_) | Error::TooLong(_) => io::ErrorKind::InvalidData,
            Error::Message(_) => io::ErrorKind::InvalidInput,
            Error::Io(e) => e.kind(),
        };
        match err {
            Error::Io(e) => e,
            other => io::Error::new(kind, other),
        }
    }
}
