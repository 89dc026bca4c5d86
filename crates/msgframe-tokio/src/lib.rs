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
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod codec;
mod io;
mod short;

pub use codec::Codec;
pub use io::{MessageReader, MessageWriter};
pub use msgframe_io::Error;
pub use msgframe_io::ShortRequest;
pub use short::request;
