//! What a handler wants done after a message.

use bytes::Bytes;

use crate::message::IntoMessage;

/// What the handler wants done after a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Send this message back.
    Send(Bytes),
    /// Send nothing (the message needs no answer, or the answer is pushed later).
    Nothing,
    /// Close the connection without answering.
    Close,
    /// Send this message, then close the connection.
    SendAndClose(Bytes),
}

impl Reply {
    /// Send `body` back.
    pub fn send(body: impl IntoMessage) -> Self {
        Reply::Send(body.into_message())
    }
}
