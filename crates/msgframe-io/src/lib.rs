//! Whole messages over `std::io` streams: blocking with a deadline, or non-blocking, for every
//! msgframe framing, behind one pair of traits.
//!
//! This crate only moves bytes between a stream and a buffer; the framings of
//! [`msgframe_codec`] decide where messages end. So every framing works in every mode:
//!
//! | | reading | writing |
//! |---|---|---|
//! | blocking, deadline per whole message | [`BlockingReader`] | [`BlockingWriter`] |
//! | non-blocking (mio, poll loops) | [`NonBlockingReader`] | [`NonBlockingWriter`] |
//! | the common traits | [`MessageRead`] | [`MessageWrite`] |
//! | short connections | [`read_until_eof`] | [`ShortRequest`], [`request`] |
//!
//! ```
//! use std::net::{TcpListener, TcpStream};
//! use std::time::Duration;
//! use msgframe_codec::Framing;
//! use msgframe_io::{BlockingReader, BlockingWriter, MessageRead, MessageWrite};
//!
//! let framing: Framing = "be:2".parse()?;
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let client = TcpStream::connect(listener.local_addr()?)?;
//! let (server, _) = listener.accept()?;
//!
//! let mut writer = BlockingWriter::new(client, framing.clone()).with_timeout(Duration::from_secs(5));
//! writer.write_message(b"first")?;
//! writer.write_message(b"second")?;
//!
//! let mut reader = BlockingReader::new(server, framing).with_timeout(Duration::from_secs(5));
//! assert_eq!(&reader.read_message()?[..], b"first");
//! assert_eq!(&reader.read_message()?[..], b"second");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Writing puts a message's header and body on the wire with one syscall: small messages are
//! framed into one buffer, large ones go out as one vectored write of header, body and trailer.
//! Reading asks for up to 64 KiB at a time (8 KiB at first, more while reads fill the buffer), so
//! one `read` can bring many messages and later calls are served from the buffer.
//!
//! [`connect`] opens the TCP connection to a host: every address its name resolves to in turn,
//! each attempt within a time of its own and all before a deadline, failing with a
//! [`ConnectError`] that names the host and the last address tried.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod blocking;
mod buffers;
mod connect;
mod error;
mod nonblocking;
mod short;

use std::io;
use std::time::Duration;

use bytes::Bytes;

pub use blocking::{BlockingReader, BlockingWriter, Deadlines};
pub use buffers::ReadBuffer;
pub use connect::{connect, connect_addrs, ConnectError};
pub use error::Error;
pub use nonblocking::{NonBlockingReader, NonBlockingWriter};
pub use short::{read_until_eof, request, ShortRequest};

/// Reads one whole message at a time.
///
/// Implemented by [`BlockingReader`] and [`NonBlockingReader`] for every decoder, so code written
/// against this trait runs unchanged in either mode.
pub trait MessageRead {
    /// Reads one whole message.
    ///
    /// # Errors
    /// [`Error::Closed`] at a clean end of stream; see [`Error`] for the others and the reader's
    /// state after each.
    fn read_message(&mut self) -> Result<Bytes, Error>;
}

/// Writes one whole message at a time.
///
/// Implemented by [`BlockingWriter`] and [`NonBlockingWriter`] for every encoder.
pub trait MessageWrite {
    /// Frames `body` and writes it.
    ///
    /// # Errors
    /// See [`Error`] for each variant and the writer's state after it.
    fn write_message(&mut self, body: &[u8]) -> Result<(), Error>;

    /// Sends anything still pending and flushes the stream.
    ///
    /// # Errors
    /// See [`Error`].
    fn flush(&mut self) -> Result<(), Error>;
}

impl<T: MessageRead + ?Sized> MessageRead for &mut T {
    fn read_message(&mut self) -> Result<Bytes, Error> {
        (**self).read_message()
    }
}

impl<T: MessageWrite + ?Sized> MessageWrite for &mut T {
    fn write_message(&mut self, body: &[u8]) -> Result<(), Error> {
        (**self).write_message(body)
    }

    fn flush(&mut self) -> Result<(), Error> {
        (**self).flush()
    }
}

/// Streams whose read and write timeouts can be set, as the blocking adapters need.
///
/// Implemented for `TcpStream` and `UnixStream` and references to them; implement it for your own
/// stream type to use it with [`BlockingReader`] and [`BlockingWriter`].
pub trait Timeouts {
    /// Sets the timeout of each `read` (`None`: block indefinitely).
    ///
    /// # Errors
    /// The stream's error.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;

    /// Sets the timeout of each `write` (`None`: block indefinitely).
    ///
    /// # Errors
    /// The stream's error.
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
}

/// Streams whose write half can be shut down, so that the peer reads end-of-stream.
pub trait ShutdownWrite {
    /// Shuts down the write half.
    ///
    /// # Errors
    /// The stream's error.
    fn shutdown_write(&self) -> io::Result<()>;
}

/// A stream borrowed mutably has its timeouts: a writer can borrow the stream a reader owns
/// (`BlockingWriter::new(reader.get_mut(), ...)`), which is how one TLS stream both reads and
/// writes.
impl<T: Timeouts + ?Sized> Timeouts for &mut T {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(timeout)
    }
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_write_timeout(timeout)
    }
}

/// A rustls stream (feature `tls`) times out as its socket does: the blocking readers and writers
/// work over TLS unchanged. A timeout in the middle of a TLS record keeps the record's bytes in
/// rustls; the next call goes on.
#[cfg(feature = "tls")]
impl<C, T: io::Read + io::Write + Timeouts> Timeouts for rustls::StreamOwned<C, T> {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_read_timeout(timeout)
    }
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_write_timeout(timeout)
    }
}

macro_rules! socket_impls {
    ($($ty:ty),*) => {$(
        impl Timeouts for $ty {
            fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
                <$ty>::set_read_timeout(self, timeout)
            }
            fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
                <$ty>::set_write_timeout(self, timeout)
            }
        }

        impl Timeouts for &$ty {
            fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
                <$ty>::set_read_timeout(self, timeout)
            }
            fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
                <$ty>::set_write_timeout(self, timeout)
            }
        }

        impl ShutdownWrite for $ty {
            fn shutdown_write(&self) -> io::Result<()> {
                self.shutdown(std::net::Shutdown::Write)
            }
        }

        impl ShutdownWrite for &$ty {
            fn shutdown_write(&self) -> io::Result<()> {
                self.shutdown(std::net::Shutdown::Write)
            }
        }
    )*};
}

socket_impls!(std::net::TcpStream);
#[cfg(unix)]
socket_impls!(std::os::unix::net::UnixStream);

/// Splits a TCP connection into a blocking reader and writer (over two handles of the same socket),
/// for one thread that reads and another that writes, or one that does both.
///
/// # Errors
/// The error of duplicating the socket handle.
pub fn split_tcp<F: msgframe_codec::Decoder + msgframe_codec::Encoder + Clone>(
    stream: std::net::TcpStream,
    framing: F,
) -> io::Result<(
    BlockingReader<std::net::TcpStream, F>,
    BlockingWriter<std::net::TcpStream, F>,
)> {
    let read_half = stream.try_clone()?;
    Ok((
        BlockingReader::new(read_half, framing.clone()),
        BlockingWriter::new(stream, framing),
    ))
}

/// The crate's README.md examples, compiled (and run) with the doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
