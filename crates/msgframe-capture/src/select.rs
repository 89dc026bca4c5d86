//! Choosing the TCP conversation of a capture to read.

use crate::read::{Capture, Conversation};

/// Which TCP conversation of a capture to take; see [`Capture::select`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Select {
    /// The first conversation (the one whose first packet comes first).
    #[default]
    First,
    /// The conversation at this index in [`Capture::conversations`], counting from 0.
    Index(usize),
    /// The first conversation with this port on either side.
    Port(u16),
}

impl Select {
    /// The choice that an index and a port, each optional, make (as command-line options give
    /// them): the index when there is one, else the port, else the first conversation.
    ///
    /// ```
    /// use msgframe_capture::Select;
    ///
    /// assert_eq!(Select::new(Some(2), Some(9000)), Select::Index(2));
    /// assert_eq!(Select::new(None, Some(9000)), Select::Port(9000));
    /// assert_eq!(Select::new(None, None), Select::First);
    /// ```
    pub fn new(index: Option<usize>, port: Option<u16>) -> Self {
        match (index, port) {
            (Some(index), _) => Select::Index(index),
            (None, Some(port)) => Select::Port(port),
            (None, None) => Select::First,
        }
    }
}

/// Why no conversation is selected; see [`Capture::select`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectError {
    /// The capture holds no TCP conversation at all.
    #[error("no TCP conversation in the capture ({skipped} other packets)")]
    NoConversation {
        /// The packets it holds, none of them TCP (see [`Capture::skipped`]).
        skipped: usize,
    },
    /// There is no conversation at the index asked for.
    #[error("no TCP conversation {index}: it has {count} (0 to {})", count.saturating_sub(1))]
    NoSuchIndex {
        /// The index asked for.
        index: usize,
        /// How many conversations there are (at least one).
        count: usize,
    },
    /// No conversation has the port asked for on either side.
    #[error("no TCP conversation on port {port}")]
    NoSuchPort {
        /// The port asked for.
        port: u16,
    },
}

impl Conversation {
    /// Whether either side of the conversation uses `port`.
    pub fn has_port(&self, port: u16) -> bool {
        self.client.port() == port || self.server.port() == port
    }
}

impl Capture {
    /// The conversation `which` names, with its index in [`conversations`](Capture::conversations).
    ///
    /// # Errors
    /// [`SelectError::NoConversation`] when the capture has no TCP conversation (whatever the
    /// choice), [`SelectError::NoSuchIndex`] or [`SelectError::NoSuchPort`] when none is the one
    /// asked for.
    ///
    /// ```
    /// use msgframe_capture::synth::{Conversation, Format};
    /// use msgframe_capture::{read_capture, Select, SelectError};
    ///
    /// let mut c = Conversation::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 9000));
    /// c.client_sends(b"0004ping");
    /// let capture = read_capture(&c.write(Format::Pcap)[..])?;
    ///
    /// let (index, first) = capture.select(Select::Port(9000))?;
    /// assert_eq!((index, first.server.port()), (0, 9000));
    /// assert_eq!(
    ///     capture.select(Select::Index(1)).unwrap_err().to_string(),
    ///     "no TCP conversation 1: it has 1 (0 to 0)"
    /// );
    /// assert_eq!(capture.select(Select::Port(80)).unwrap_err(), SelectError::NoSuchPort { port: 80 });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn select(&self, which: Select) -> Result<(usize, &Conversation), SelectError> {
        let count = self.conversations.len();
        if count == 0 {
            return Err(SelectError::NoConversation {
                skipped: self.skipped,
            });
        }
        let index = match which {
            Select::First => 0,
            Select::Index(index) if index < count => index,
            Select::Index(index) => return Err(SelectError::NoSuchIndex { index, count }),
            Select::Port(port) => self
                .conversations
                .iter()
                .position(|c| c.has_port(port))
                .ok_or(SelectError::NoSuchPort { port })?,
        };
        Ok((index, &self.conversations[index]))
    }
}
