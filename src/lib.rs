//! # msgframe
//!
//! Whole messages over TCP and other byte streams: where one message ends and the next begins,
//! and how the connections that carry them are run. For protocol implementers and for teams that
//! talk to legacy hosts: ISO 8583 card hosts behind 4-digit ASCII, BCD or 2-byte binary length
//! headers, SMS gateways speaking CMPP or SMPP, anything that frames messages on a stream.
//!
//! Depend on `msgframe` alone: it re-exports every layer, the optional ones behind cargo
//! features.
//!
//! ## Which part for which job
//!
//! | you want to | use | crate |
//! |---|---|---|
//! | read or write a length field (ASCII decimal or hex, packed BCD, binary) | [`header`]: [`LengthField`], [`LengthEncoding`] | `msgframe-header` |
//! | find messages in bytes you already have, with no I/O (your own event loop, a capture) | [`codec`]: [`Framing`], [`Decoder`], [`Encoder`], [`Parse`] | `msgframe-codec` |
//! | read and write messages on a `std` socket: blocking with a deadline per whole message, or non-blocking | [`io`]: [`BlockingReader`], [`BlockingWriter`], [`NonBlockingReader`], [`NonBlockingWriter`] | `msgframe-io` |
//! | the same on tokio: a `tokio_util` codec, async readers and writers | `tokio` (feature `tokio`): `Codec`, `MessageReader`, `MessageWriter` | `msgframe-tokio` |
//! | run connections: short or long clients (keepalive, heartbeats, reconnect, failover, request matching, pools, two-link pairs) and a server that protects itself | `conn` (feature `conn`): `ShortClient`, `LongClient`, `Server` | `msgframe-conn` |
//! | TLS under any of it | feature `tls`: `conn::tls`, rustls streams for the blocking readers | `msgframe-conn`, `msgframe-io` |
//!
//! The same framing value works in every layer: a text spec such as `"bcd:2"`, `"ascii:4"`,
//! `"be:4,counts-header"`, `"lines"` or `"netstring"` builds it ([`FramingSpec`] lists the
//! forms).
//!
//! ## Feature flags
//!
//! | feature | adds | brings in |
//! |---|---|---|
//! | (none) | [`header`], [`codec`], [`io`] | `bytes`, `nom`, `thiserror` |
//! | `tokio` | `msgframe::tokio` | `tokio`, `tokio-util` |
//! | `conn` | `msgframe::conn` (implies `tokio`) | `socket2`, `tracing`, `mio` |
//! | `tls` | `msgframe::conn::tls`, TLS for the blocking readers and writers (implies `conn`) | `rustls` (ring provider), `tokio-rustls` |
//! | `metrics` | counters and histograms of servers (`msgframe_server_*`) and clients (`msgframe_client_*`) through the `metrics` facade, for the exporter the application installs (implies `conn`) | `metrics` |
//!
//! ## One example per layer
//!
//! The codec, on bytes you hold: an ISO 8583 host behind a 2-byte BCD length header.
//!
//! ```
//! use bytes::BytesMut;
//! use msgframe::{Decoder, Encoder, Framing};
//!
//! let mut framing: Framing = "bcd:2".parse()?;
//! let mut wire = BytesMut::new();
//! framing.encode(b"0800...", &mut wire)?;
//! assert_eq!(&wire[..2], &[0x00, 0x07]);
//! let mut buf = BytesMut::from(&wire[..3]); // a partial read
//! assert_eq!(framing.decode(&mut buf)?, None); // not whole yet: the bytes stay buffered
//! buf.extend_from_slice(&wire[3..]);
//! assert_eq!(framing.decode(&mut buf)?.as_deref(), Some(&b"0800..."[..]));
//! # Ok::<(), msgframe::CodecError>(())
//! ```
//!
//! Blocking I/O, one deadline for a whole message:
//!
//! ```
//! use std::net::{TcpListener, TcpStream};
//! use std::time::Duration;
//! use msgframe::{BlockingReader, BlockingWriter, Framing, MessageRead, MessageWrite};
//!
//! let framing: Framing = "be:4,counts-header".parse()?; // CMPP, SMPP
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let mut writer = BlockingWriter::new(TcpStream::connect(listener.local_addr()?)?, framing.clone());
//! let mut reader = BlockingReader::new(listener.accept()?.0, framing)
//!     .with_timeout(Duration::from_secs(5));
//! writer.write_message(b"submit_sm")?; // header and body in one write
//! assert_eq!(&reader.read_message()?[..], b"submit_sm");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! tokio, with `tokio_util`'s `Framed` (feature `tokio`):
//!
//! ```
//! # #[cfg(feature = "tokio")]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use futures_util::{SinkExt, StreamExt};
//! use msgframe::tokio::Codec;
//! use tokio_util::codec::Framed;
//!
//! let (near, far) = tokio::io::duplex(1024);
//! let mut near = Framed::new(near, "ascii:4".parse::<Codec>()?);
//! let mut far = Framed::new(far, "ascii:4".parse::<Codec>()?);
//! near.send(&b"0800"[..]).await?;
//! assert_eq!(far.next().await.transpose()?.as_deref(), Some(&b"0800"[..]));
//! # Ok(())
//! # }
//! # #[cfg(feature = "tokio")]
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```
//!
//! Connections (feature `conn`): a server and a long client that matches replies to requests.
//!
//! ```
//! # #[cfg(feature = "conn")]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use bytes::Bytes;
//! use msgframe::conn::{Connection, LongClient, Reply, Server};
//!
//! let server = Server::builder("be:2".parse()?).bind("127.0.0.1:0").await?;
//! let addr = server.local_addr().to_string();
//! tokio::spawn(server.serve(|_c: Connection, request: Bytes| async move { Reply::Send(request) }));
//!
//! let client = LongClient::builder([addr], "be:2".parse()?).start()?;
//! let reply = client.request(&b"0200"[..], Duration::from_secs(5)).await?;
//! assert_eq!(reply, &b"0200"[..]);
//! client.close().await;
//! # Ok(())
//! # }
//! # #[cfg(feature = "conn")]
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```
//!
//! The `msgframe` command (crate `msgframe-cli`) does all of this from a shell: send, serve,
//! proxy, split and sniff captures, load a host.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[doc(inline)]
pub use msgframe_codec as codec;
#[cfg(feature = "conn")]
#[cfg_attr(docsrs, doc(cfg(feature = "conn")))]
#[doc(inline)]
pub use msgframe_conn as conn;
#[doc(inline)]
pub use msgframe_header as header;
#[doc(inline)]
pub use msgframe_io as io;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[doc(inline)]
pub use msgframe_tokio as tokio;

/// Every Rust block of README.md, compiled and run with the doctests: the README cannot drift
/// from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

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
