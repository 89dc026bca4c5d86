//! Every msgframe framing for tokio: as `tokio_util` codecs for `Framed`, `FramedRead` and
//! `FramedWrite`, and as async message readers and writers with whole-message deadlines.
//!
//! No framing logic lives here: [`Codec`] hands bytes to the same sans-IO framings that the blocking
//! and non-blocking adapters of `msgframe-io` use, so all modes agree byte for byte. Errors are
//! [`msgframe_io::Error`], the same type the blocking adapters return.
//!
//! ```
//! use futures_util::{SinkExt, StreamExt};
//! use msgframe_tokio::Codec;
//! use tokio_util::codec::Framed;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), msgframe_tokio::Error> {
//! let (a, b) = tokio::io::duplex(64);
//! let mut client = Framed::new(a, "bcd:2".parse::<Codec>()?);
//! let mut server = Framed::new(b, "bcd:2".parse::<Codec>()?);
//!
//! client.send(&b"0800 echo test"[..]).await?;
//! let request = server.next().await.expect("a message")?;
//! assert_eq!(&request[..], b"0800 echo test");
//! # Ok(())
//! # }
//! ```
//!
//! With `Framed`, any decoding error ends the stream (that is how `tokio_util` treats decoder
//! errors). [`MessageReader`] keeps going after resumable errors (an oversized frame skipped under
//! `oversize=discard`) and adds whole-message deadlines.
//!
//! Short connections: [`connect`] opens a TCP connection (every address of a host in turn, within
//! deadlines, failing with a [`ConnectError`] that names the host and the last address tried),
//! [`exchange`] sends one request and reads one reply on any connected stream (plain or TLS),
//! and [`request`] does both.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod codec;
mod connect;
mod io;
mod short;

pub use codec::Codec;
pub use connect::{connect, connect_addrs, connect_from};
pub use io::{MessageReader, MessageWriter};
pub use msgframe_io::Error;
pub use msgframe_io::{ConnectError, ShortRequest};
pub use short::{exchange, request};

/// The crate's README.md examples, compiled (and run) with the doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
