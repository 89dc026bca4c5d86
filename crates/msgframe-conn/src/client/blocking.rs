//! The long client for synchronous programs: the same client, its calls blocking the calling
//! thread while the crate's runtime runs the connection.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use tokio::runtime::Handle;

use super::event::Event;
use super::long::LongClient;
use super::receiver::LongReceiver;
use super::sender::LongSender;
use crate::error::ConfigError;
use crate::message::IntoMessage;
use crate::message::Key;
use crate::Error;

/// A [`LongClient`] for plain threads, from
/// [`LongClientBuilder::start_blocking`](crate::LongClientBuilder::start_blocking). Every call
/// blocks the calling thread; [`split`](Self::split) gives a sender (it clones) and a receiver for
/// different threads.
///
/// Do not call it from inside an async runtime: the calls return [`Error::Config`] there.
pub struct BlockingLongClient<K = ()> {
    client: LongClient<K>,
    runtime: Handle,
}

impl<K> fmt::Debug for BlockingLongClient<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingLongClient")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

fn block_on<F: std::future::Future>(runtime: &Handle, future: F) -> Result<F::Output, Error> {
    if Handle::try_current().is_ok() {
        return Err(Error::Config(ConfigError::BlockingInRuntime));
    }
    Ok(runtime.block_on(future))
}

impl<K: Key> BlockingLongClient<K> {
    pub(crate) fn new(client: LongClient<K>, runtime: Handle) -> Self {
        BlockingLongClient { client, runtime }
    }

    /// See [`LongClient::send`].
    ///
    /// # Errors
    /// As [`LongSender::send_timeout`].
    pub fn send(&self, body: impl IntoMessage) -> Result<(), Error> {
        block_on(&self.runtime, self.client.send(body))?
    }

    /// See [`LongClient::send_timeout`].
    ///
    /// # Errors
    /// As [`LongSender::send_timeout`].
    pub fn send_timeout(&self, body: impl IntoMessage, timeout: Duration) -> Result<(), Error> {
        block_on(&self.runtime, self.client.send_timeout(body, timeout))?
    }

    /// See [`LongClient::request`].
    ///
    /// # Errors
    /// As [`LongSender::request`].
    pub fn request(&self, body: impl IntoMessage, timeout: Duration) -> Result<Bytes, Error> {
        block_on(&self.runtime, self.client.request(body, timeout))?
    }

    /// The next unmatched message within `timeout`; `Ok(None)` once the client has shut down.
    ///
    /// # Errors
    /// [`Error::TimedOut`] when none came in time.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Bytes>, Error> {
        let BlockingLongClient { client, runtime } = self;
        block_on(runtime, client_receiver(client).recv_timeout(timeout))?
    }

    /// Waits until connected, within `timeout`; returns the host.
    ///
    /// # Errors
    /// As [`LongClient::wait_connected`].
    pub fn wait_connected(&self, timeout: Duration) -> Result<String, Error> {
        block_on(&self.runtime, self.client.wait_connected(timeout))?
    }

    /// The connection's events (see [`LongClient::events`]); read them with `blocking_recv`.
    pub fn events(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.client.events()
    }

    /// The host connected to now, if any.
    pub fn connected_to(&self) -> Option<String> {
        self.client.connected_to()
    }

    /// A sender and a receiver for different threads.
    pub fn split(self) -> (BlockingSender<K>, BlockingReceiver) {
        let (sender, receiver) = self.client.split();
        (
            BlockingSender {
                sender,
                runtime: self.runtime.clone(),
            },
            BlockingReceiver {
                receiver,
                runtime: self.runtime,
            },
        )
    }

    /// Shuts the client down (see [`LongClient::close`]).
    pub fn close(&self) {
        let _ = block_on(&self.runtime, self.client.close());
    }
}

fn client_receiver<K: Key>(client: &mut LongClient<K>) -> &mut LongReceiver {
    client.receiver_mut()
}

/// The sending half of a [`BlockingLongClient`]; clones share the connection.
#[derive(Debug, Clone)]
pub struct BlockingSender<K = ()> {
    sender: LongSender<K>,
    runtime: Handle,
}

impl<K: Key> BlockingSender<K> {
    /// See [`LongSender::send_timeout`].
    ///
    /// # Errors
    /// As [`LongSender::send_timeout`].
    pub fn send_timeout(&self, body: impl IntoMessage, timeout: Duration) -> Result<(), Error> {
        block_on(&self.runtime, self.sender.send_timeout(body, timeout))?
    }

    /// See [`LongSender::request`].
    ///
    /// # Errors
    /// As [`LongSender::request`].
    pub fn request(&self, body: impl IntoMessage, timeout: Duration) -> Result<Bytes, Error> {
        block_on(&self.runtime, self.sender.request(body, timeout))?
    }

    /// Shuts the client down.
    pub fn close(&self) {
        let _ = block_on(&self.runtime, self.sender.close());
    }
}

/// The receiving half of a [`BlockingLongClient`].
#[derive(Debug)]
pub struct BlockingReceiver {
    receiver: LongReceiver,
    runtime: Handle,
}

impl BlockingReceiver {
    /// The next unmatched message within `timeout`; `Ok(None)` once the client has shut down.
    ///
    /// # Errors
    /// [`Error::TimedOut`] when none came in time.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Bytes>, Error> {
        block_on(&self.runtime, self.receiver.recv_timeout(timeout))?
    }
}
