//! One-line errors with the exit code they end the program with.

use std::fmt;

/// What ends a command unsuccessfully: one line for the user, and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub code: u8,
    /// The command's own JSON output already says it (sniff's verdict, bench's summary, split's
    /// end of each stream): with `--json`, no `error` event repeats it.
    pub in_output: bool,
}

/// The peer or the network failed.
pub const PEER: u8 = 1;
/// A bad option, framing spec, hex string or file.
pub const USAGE: u8 = 2;
/// The data is invalid.
pub const DATA: u8 = 3;
/// `sniff`: no framing is confident.
pub const UNDECIDED: u8 = 4;
/// Not a failure: the reader of stdout went away, and the command ends quietly.
const STDOUT_CLOSED: u8 = 0;

impl Failure {
    pub fn peer(message: impl fmt::Display) -> Self {
        Failure {
            message: message.to_string(),
            code: PEER,
            in_output: false,
        }
    }

    pub fn usage(message: impl fmt::Display) -> Self {
        Failure {
            message: message.to_string(),
            code: USAGE,
            in_output: false,
        }
    }

    pub fn undecided(message: impl fmt::Display) -> Self {
        Failure {
            message: message.to_string(),
            code: UNDECIDED,
            in_output: false,
        }
    }

    pub fn data(message: impl fmt::Display) -> Self {
        Failure {
            message: message.to_string(),
            code: DATA,
            in_output: false,
        }
    }

    /// The reader of stdout went away (`msgframe split … | head -1`): the command stops at once
    /// and ends quietly with exit status 0, as `cat` and `grep` do.
    pub fn stdout_closed() -> Self {
        Failure {
            message: "stdout closed".to_owned(),
            code: STDOUT_CLOSED,
            in_output: false,
        }
    }

    /// The command's JSON output already says it (see [`Failure::in_output`]).
    pub fn in_output(mut self) -> Self {
        self.in_output = true;
        self
    }

    /// Whether this is [`Failure::stdout_closed`]: nothing to report.
    pub fn is_stdout_closed(&self) -> bool {
        self.code == STDOUT_CLOSED
    }
}

impl From<msgframe_conn::Error> for Failure {
    /// What happened, first: a frame the peer got wrong reads "peer sent an invalid frame: …"
    /// (with its offset and bytes), not the connection loss it caused. Durations read `1.00 s`
    /// (the library writes them so in its messages).
    fn from(e: msgframe_conn::Error) -> Self {
        if let Some(frame) = invalid_frame(&e) {
            return Failure::peer(format!("peer sent an invalid frame: {frame}"));
        }
        match e.fault() {
            msgframe_conn::Fault::Caller | msgframe_conn::Fault::Configuration => Failure::usage(e),
            _ => Failure::peer(e),
        }
    }
}

/// The peer's frame that broke the framing (malformed, or longer than allowed), when that is why
/// `e` happened: read directly, or the cause of a lost connection.
pub fn invalid_frame(e: &msgframe_conn::Error) -> Option<&msgframe_io::Error> {
    use msgframe_conn::{Disconnect, Error};
    match e {
        Error::Frame(read) => crate::event::invalid_frame(read).then_some(read),
        Error::ConnectionLost { cause, .. } | Error::Disconnected(cause) => match &**cause {
            Disconnect::Read(read) => crate::event::invalid_frame(read).then_some(read),
            _ => None,
        },
        Error::NotConnected {
            last: Some(last), ..
        } => invalid_frame(last),
        _ => None,
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::peer(e)
    }
}

pub type Result<T> = std::result::Result<T, Failure>;
