//! Writing to stdout and stderr without panicking.
//!
//! Every write to stdout says whether it got there. When the reader has gone away
//! (`msgframe split … | head -1`), the write fails with a broken pipe and the command ends
//! quietly with exit status 0, as `cat` and `grep` end; any other failure to write is one line
//! and exit status 1. Notes on stderr are best effort: a closed stderr loses them, nothing more.

use std::fmt;
use std::io::{self, Write};

use crate::error::{Failure, Result};

/// Writes `format!`-style text to stdout: `Ok`, or why the command must end.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::text(format_args!($($arg)*))
    };
}

/// [`out!`] with a newline.
macro_rules! outln {
    () => {
        $crate::out::text(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::text(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Writes `format!`-style text and a newline to stderr, ignoring a stderr that cannot be written.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::out::note(format_args!($($arg)*))
    };
}

pub(crate) use {errln, out, outln};

/// Writes text to stdout (see [`out!`]).
pub fn text(args: fmt::Arguments<'_>) -> Result<()> {
    io::stdout().lock().write_fmt(args).map_err(failed)
}

/// Writes bytes to stdout as they are, and flushes them.
pub fn bytes(data: &[u8]) -> Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(data).map_err(failed)?;
    stdout.flush().map_err(failed)
}

/// Flushes stdout, so that a reader sees a line at once.
pub fn flush() -> Result<()> {
    io::stdout().lock().flush().map_err(failed)
}

/// One line on stderr (see [`errln!`]).
pub fn note(args: fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "{args}");
}

/// Reports a failure: its line on stderr (`msgframe: …`) and, with `--json`, an `error` event on
/// stdout too, so that a reader of the JSON lines learns why they stop (unless the command's own
/// output already said it). A stdout that cannot take the event loses it: the line on stderr is
/// there.
pub fn report(failure: &Failure, json: bool) {
    note(format_args!("msgframe: {}", failure.message));
    if json && !failure.in_output {
        let _ = crate::dump::json_line(serde_json::json!({
            "event": "error",
            "ts": crate::dump::now(),
            "message": failure.message,
            "code": failure.code,
        }))
        .and_then(|()| flush());
    }
}

/// A reader gone away ends the command quietly; anything else is an error.
fn failed(e: io::Error) -> Failure {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Failure::stdout_closed()
    } else {
        Failure::peer(format!("writing to stdout: {e}"))
    }
}
