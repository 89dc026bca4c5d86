//! Annotated hex dumps, and the output conventions of every command: text or JSON lines, colour
//! only on a terminal.

use std::fmt::Write as _;
use std::io::IsTerminal;

use msgframe_codec::header::hex;

/// How a command writes: JSON lines or text, with or without colour.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub json: bool,
    pub colour: bool,
}

impl Style {
    /// JSON when asked; colour only when stdout is a terminal and `NO_COLOR` is not set.
    pub fn new(json: bool) -> Self {
        let colour = !json
            && std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Style { json, colour }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// A heading line (bold).
    pub fn heading(&self, text: &str) -> String {
        self.paint("1", text)
    }

    /// A note (dim).
    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }

    /// Something that went wrong (red).
    pub fn bad(&self, text: &str) -> String {
        self.paint("31", text)
    }

    /// `bytes` as lines of `offset  hex  |ascii|`, 16 bytes a line, indented by `indent`.
    pub fn hexdump(&self, bytes: &[u8], indent: &str) -> String {
        let mut out = String::new();
        if bytes.is_empty() {
            let _ = writeln!(out, "{indent}{}", self.dim("(empty)"));
        }
        for (line, chunk) in bytes.chunks(16).enumerate() {
            // Two groups of 8 bytes, two spaces apart.
            let (first, second) = chunk.split_at(chunk.len().min(8));
            let hex = format!(
                "{}  {}",
                hex::display(first).spaced(),
                hex::display(second).spaced()
            );
            let ascii: String = chunk
                .iter()
                .map(|&b| {
                    if b.is_ascii_graphic() || b == b' ' {
                        b as char
                    } else {
                        '.'
                    }
                })
                .collect();
            let _ = writeln!(
                out,
                "{indent}{}  {hex:<49} |{ascii}|",
                self.dim(&format!("{:04x}", line * 16))
            );
        }
        out
    }
}

/// Prints one JSON object on a line of its own.
pub fn json_line(value: serde_json::Value) -> crate::error::Result<()> {
    crate::out::outln!("{value}")
}

/// A time since 1970 (a capture's timestamp) in RFC 3339, UTC, with milliseconds:
/// `2024-05-01T09:30:00.123Z`. Past the year 9999 (a file can say anything), the seconds since
/// 1970.
pub fn timestamp(since_epoch: std::time::Duration) -> String {
    timestamp_with(since_epoch, humantime::format_rfc3339_millis)
}

/// As [`timestamp`], with microseconds.
pub fn timestamp_micros(since_epoch: std::time::Duration) -> String {
    timestamp_with(since_epoch, humantime::format_rfc3339_micros)
}

fn timestamp_with(
    since_epoch: std::time::Duration,
    format: fn(std::time::SystemTime) -> humantime::Rfc3339Timestamp,
) -> String {
    // The last second of the year 9999.
    const LAST: u64 = 253_402_300_799;
    match std::time::UNIX_EPOCH.checked_add(since_epoch) {
        Some(time) if since_epoch.as_secs() <= LAST => format(time).to_string(),
        _ => format!("{:.6}s after 1970", since_epoch.as_secs_f64()),
    }
}

/// The time now (the wall clock), as [`timestamp`] writes it: what every log line of `serve` and
/// `proxy` starts with (JSON `ts`).
pub fn now() -> String {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    timestamp(since_epoch)
}

/// A duration as milliseconds with three decimals.
pub fn millis(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// A duration as text shows it: three significant digits in the largest unit that fits
/// (`1.00 s`, `250 ms`, `1.23 ms`, `12.5 µs`), whole seconds from 100 s on. Every duration the
/// command prints in text (latencies, timeouts in messages) goes through here.
pub fn duration(d: std::time::Duration) -> String {
    msgframe_conn::ReadableDuration(d).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_and_never_panic() {
        use std::time::Duration;
        assert_eq!(
            timestamp(Duration::from_millis(1_714_555_800_123)),
            "2024-05-01T09:30:00.123Z"
        );
        assert_eq!(timestamp(Duration::ZERO), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            timestamp_micros(Duration::from_micros(1_714_555_800_123_456)),
            "2024-05-01T09:30:00.123456Z"
        );
        assert!(timestamp(Duration::from_secs(253_402_300_800)).ends_with("s after 1970"));
        assert!(timestamp(Duration::MAX).ends_with("s after 1970"));
    }

    #[test]
    fn durations_read_as_people_write_them() {
        use std::time::Duration;
        assert_eq!(duration(Duration::from_nanos(1_001_150_624)), "1.00 s");
        assert_eq!(duration(Duration::from_millis(250)), "250 ms");
        assert_eq!(duration(Duration::from_micros(1_234)), "1.23 ms");
        assert_eq!(duration(Duration::from_micros(12_345)), "12.3 ms");
        assert_eq!(duration(Duration::from_micros(999_700)), "1.00 s");
        assert_eq!(duration(Duration::from_nanos(12_500)), "12.5 µs");
        assert_eq!(duration(Duration::from_nanos(800)), "800 ns");
        assert_eq!(duration(Duration::from_secs(5)), "5.00 s");
        assert_eq!(duration(Duration::from_secs(3600)), "3600 s");
        assert_eq!(duration(Duration::ZERO), "0 s");
        let now = now();
        assert!(now.len() == 24 && now.ends_with('Z'), "{now}");
    }

    #[test]
    fn a_hexdump_shows_offsets_hex_and_ascii() {
        let style = Style {
            json: false,
            colour: false,
        };
        let dump = style.hexdump(b"0800\x00\x01 network test, a bit longer", "");
        let first = dump.lines().next().unwrap();
        assert!(
            first.starts_with("0000  30 38 30 30 00 01 20 6e  65 74"),
            "{first}"
        );
        assert!(first.ends_with("|0800.. network t|"), "{first}");
        assert!(dump.lines().nth(1).unwrap().starts_with("0010  "));
    }
}
