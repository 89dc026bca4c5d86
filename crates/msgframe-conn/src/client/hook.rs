//! The connection lent to a long client's after-connect hook (a logon or sign-on exchange).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use msgframe_codec::Framing;
use msgframe_tokio::{MessageReader, MessageWriter};
use tokio::time::Instant;

use super::connect::{BoxRead, BoxWrite};
use crate::socket::Keepalive;
use crate::Error;

/// A future returned by an after-connect hook.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An after-connect hook.
pub(crate) type Hook = std::sync::Arc<
    dyn for<'a> Fn(&'a mut Session) -> BoxFuture<'a, Result<(), Error>> + Send + Sync,
>;

/// A new connection, lent to the after-connect hook before the client uses it: send and read
/// messages for a logon or sign-on exchange.
pub struct Session {
    pub(crate) host: String,
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) reader: MessageReader<BoxRead, Framing>,
    pub(crate) writer: MessageWriter<BoxWrite, Framing>,
    pub(crate) keepalive: std::io::Result<Keepalive>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("host", &self.host)
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The host as configured.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The address connected to.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// The TCP keepalive settings the kernel reported for this connection right after it was
    /// made (Linux).
    ///
    /// # Errors
    /// Keepalive is off, or the operating system refused to answer (or this is not Linux).
    pub fn keepalive(&self) -> std::io::Result<Keepalive> {
        match &self.keepalive {
            Ok(k) => Ok(*k),
            Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
        }
    }

    /// Writes one message.
    ///
    /// # Errors
    /// [`Error::Frame`] when it cannot be framed or written.
    pub async fn send(&mut self, body: &[u8]) -> Result<(), Error> {
        Ok(self.writer.write_message(body).await?)
    }

    /// Reads one message within `timeout`.
    ///
    /// # Errors
    /// [`Error::Frame`] ([`msgframe_io::Error::TimedOut`] when none came in time).
    pub async fn read(&mut self, timeout: Duration) -> Result<Bytes, Error> {
        Ok(self.reader.read_message_timeout(timeout).await?)
    }

    /// Writes one message and reads the next, both within `timeout`.
    ///
    /// # Errors
    /// As [`send`](Self::send) and [`read`](Self::read).
    pub async fn request(&mut self, body: &[u8], timeout: Duration) -> Result<Bytes, Error> {
        let start = Instant::now();
        match tokio::time::timeout(timeout, self.writer.write_message(body)).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(Error::TimedOut {
                    written: false,
                    elapsed: start.elapsed(),
                })
            }
        }
        self.read(timeout.saturating_sub(start.elapsed())).await
    }
}
