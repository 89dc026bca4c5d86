//! be:2 (a 2-byte big-endian length, then the body) as the hand-written contenders speak it: echo
//! the whole frames, keep only the bytes of an incomplete one.

use std::io::{self, ErrorKind};

/// The body of the message every client sends once.
pub const PAYLOAD: usize = 100;

/// The message every client sends once: a be:2 frame of [`PAYLOAD`] bytes.
pub fn request_frame() -> Vec<u8> {
    let mut frame = (PAYLOAD as u16).to_be_bytes().to_vec();
    frame.extend((0..PAYLOAD).map(|i| b'a' + (i % 26) as u8));
    frame
}

/// The length of the whole frames at the start of `bytes`.
pub fn whole_frames(bytes: &[u8]) -> usize {
    let mut at = 0;
    while let Some(header) = bytes.get(at..at + 2) {
        let end = at + 2 + usize::from(u16::from_be_bytes([header[0], header[1]]));
        if end > bytes.len() {
            break;
        }
        at = end;
    }
    at
}

/// Writes as much of `bytes` as `write` takes without blocking; returns how much that was.
pub fn write_nonblocking(
    bytes: &[u8],
    mut write: impl FnMut(&[u8]) -> io::Result<usize>,
) -> io::Result<usize> {
    let mut written = 0;
    while written < bytes.len() {
        match write(&bytes[written..]) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}

/// Echoes the whole frames of what `partial` kept and `input` through `write`, keeps the bytes of
/// an incomplete frame in `partial` (left without an allocation when there are none), and returns
/// the echo bytes `write` could not take without blocking.
pub fn echo_frames(
    partial: &mut Vec<u8>,
    input: &[u8],
    write: impl FnMut(&[u8]) -> io::Result<usize>,
) -> io::Result<Vec<u8>> {
    if partial.is_empty() {
        return echo_from(input, partial, write);
    }
    let mut data = std::mem::take(partial);
    data.extend_from_slice(input);
    echo_from(&data, partial, write)
}

fn echo_from(
    data: &[u8],
    partial: &mut Vec<u8>,
    write: impl FnMut(&[u8]) -> io::Result<usize>,
) -> io::Result<Vec<u8>> {
    let whole = whole_frames(data);
    let written = write_nonblocking(&data[..whole], write)?;
    partial.extend_from_slice(&data[whole..]);
    Ok(data[written..whole].to_vec())
}
