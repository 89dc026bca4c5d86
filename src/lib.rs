//! # msgframe
//!
//! Whole messages over TCP and other byte streams: where one message ends and the next begins.
//!
//! This facade re-exports the layers of the msgframe crate family:
//!
//! - [`header`] ([`msgframe_header`]): length-field encodings: ASCII decimal, ASCII hex, packed BCD,
//!   binary big/little-endian, and nom parsers for them.
//! - [`codec`] ([`msgframe_codec`]): sans-IO framings over `BytesMut`: length-prefixed, until-EOF,
//!   fixed-length, delimiter and lines, and the [`FramingSpec`] text form.
//! - [`io`] ([`msgframe_io`]): blocking-with-deadline and non-blocking readers and writers over
//!   `std::io` streams behind the [`MessageRead`] / [`MessageWrite`] traits, and short-connection
//!   helpers.
//! - `tokio` (feature `tokio`, `msgframe_tokio`): `tokio_util` codecs for every framing, async
//!   message readers and writers with deadlines.
//! - `conn` (feature `conn`, `msgframe_conn`): connections: a short client, a long client
//!   (keepalive, heartbeats, reconnect and failover, request matching, duplex split, blocking
//!   handles) and a protected server (caps, idle reaping, graceful shutdown, counters).
//!
//! ```
//! use bytes::BytesMut;
//! use msgframe::{Decoder, Encoder, Framing};
//!
//! // An ISO 8583 host behind a 2-byte BCD length header.
//! let mut framing: Framing = "bcd:2".parse()?;
//! let mut wire = BytesMut::new();
//! framing.encode(b"0800...", &mut wire)?;
//! assert_eq!(&wire[..2], &[0x00, 0x07]);
//! assert_eq!(framing.decode(&mut wire)?.as_deref(), Some(&b"0800..."[..]));
//! # Ok::<(), msgframe::CodecError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use msgframe_codec as codec;
/// Connections (feature `conn`): short and long clients, the server.
#[cfg(feature = "conn")]
pub use msgframe_conn as conn;
pub use msgframe_header as header;
pub use msgframe_io as io;
/// tokio adapters (feature `tokio`): codecs for `Framed`, async readers and writers.
#[cfg(feature = "tokio")]
pub use msgframe_tokio as tokio;

pub use msgframe_codec::{
    CodecError, Decoded, Decoder, Delimited, DelimitedConfig, EmptyFrames, Encoder, FixedLength,
    Frames, Framing, FramingSpec, LengthCounts, LengthPrefixed, LengthPrefixedConfig, Netstring,
    Oversize, Parse, SpecError, Status, UnterminatedAtEof, UntilEof, COPY_MAX,
    DEFAULT_MAX_FRAME_LENGTH,
};
pub use msgframe_header::{
    AsciiDecimal, AsciiHex, Binary, ByteOrder, HeaderError, LengthEncoding, LengthField, PackedBcd,
};
pub use msgframe_io::{
    BlockingReader, BlockingWriter, Deadlines, MessageRead, MessageWrite, NonBlockingReader,
    NonBlockingWriter, ReadBuffer, ShortRequest,
};
