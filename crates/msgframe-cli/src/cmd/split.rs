//! `msgframe split`: cut a captured stream into frames, and say exactly where and why it stops
//! being valid.

use msgframe_codec::header::hex;
use msgframe_codec::StreamFrames;
use serde_json::json;

use crate::cli::SplitArgs;
use crate::dump::{self, Style};
use crate::error::{Failure, Result};
use crate::input::{self, Stream};
use crate::out::{out, outln};

/// How a stream ended under the framing.
enum End {
    /// Every byte is in a whole frame.
    Complete,
    /// The last frame is cut short.
    Partial { offset: usize, buffered: usize },
    /// The bytes at `offset` are not a valid frame.
    Invalid { offset: usize, reason: String },
}

pub fn run(args: SplitArgs) -> Result<()> {
    // Validate the spec before reading anything.
    input::framing(&args.framing)?;
    let style = Style::new(args.common.json);
    let mut invalid = Vec::new();
    for stream in input::streams(&args.input)? {
        let framing = input::framing(&args.framing)?;
        if let End::Invalid { offset, reason } = split(&style, &args, framing, &stream)? {
            invalid.push(format!(
                "{}: invalid at offset {offset}: {reason}",
                stream.label
            ));
        }
    }
    if invalid.is_empty() {
        Ok(())
    } else {
        Err(Failure::data(invalid.join("; ")))
    }
}

fn split(
    style: &Style,
    args: &SplitArgs,
    framing: msgframe_codec::Framing,
    stream: &Stream,
) -> Result<End> {
    let data = &stream.data;
    if !style.json {
        outln!(
            "{}",
            style.heading(&format!(
                "{}: {} bytes, framing {}",
                stream.label,
                data.len(),
                args.framing
            ))
        )?;
    }
    let mut frames = 0usize;
    let mut gaps = stream.gaps.iter().peekable();
    let mut end = End::Complete;
    for item in StreamFrames::new(framing, data) {
        match item {
            Ok(frame) => {
                frames += 1;
                while let Some(&&(gap_at, missing)) = gaps.peek() {
                    if gap_at > frame.end() {
                        break;
                    }
                    gaps.next();
                    gap_note(style, gap_at, missing)?;
                }
                show_frame(
                    style,
                    args,
                    stream,
                    frames,
                    frame.offset,
                    frame.len,
                    frame.frame,
                )?;
            }
            Err(e) if e.is_truncated() => {
                end = End::Partial {
                    offset: e.offset,
                    buffered: data.len() - e.offset,
                }
            }
            Err(e) => {
                end = End::Invalid {
                    offset: e.offset,
                    reason: e.error.to_string(),
                }
            }
        }
    }
    for &(gap_at, missing) in gaps {
        gap_note(style, gap_at, missing)?;
    }
    summary(style, stream, frames, &end)?;
    Ok(end)
}

fn gap_note(style: &Style, at: usize, missing: u64) -> Result<()> {
    if style.json {
        dump::json_line(json!({"event": "gap", "offset": at, "missing": missing}))
    } else {
        outln!(
            "{}",
            style.bad(&format!(
                "  the capture misses {missing} bytes at offset {at}: frames across it are not what was sent"
            ))
        )
    }
}

fn show_frame(
    style: &Style,
    args: &SplitArgs,
    stream: &Stream,
    index: usize,
    offset: usize,
    span: usize,
    body: &[u8],
) -> Result<()> {
    if style.json {
        return dump::json_line(json!({
            "event": "frame",
            "stream": stream.label,
            "index": index,
            "offset": offset,
            "length": span,
            "body_length": body.len(),
            "hex": hex::display(body).to_string(),
        }));
    }
    outln!(
        "#{index}  offset {offset}  {span} bytes on the wire, body {} bytes",
        body.len()
    )?;
    if !args.brief {
        out!("{}", style.hexdump(body, "  "))?;
    }
    Ok(())
}

fn summary(style: &Style, stream: &Stream, frames: usize, end: &End) -> Result<()> {
    let (complete, text, stopped_at) = match end {
        End::Complete => (true, "every byte is in a whole frame".to_owned(), None),
        End::Partial { offset, buffered } => (
            false,
            format!("the stream ends inside a frame: {buffered} bytes from offset {offset} (cut short?)"),
            Some(*offset),
        ),
        End::Invalid { offset, reason } => (
            false,
            format!("not a valid frame at offset {offset}: {reason}"),
            Some(*offset),
        ),
    };
    if style.json {
        dump::json_line(json!({
            "event": "end",
            "stream": stream.label,
            "frames": frames,
            "bytes": stream.data.len(),
            "complete": complete,
            "stopped_at": stopped_at,
            "reason": if complete { None } else { Some(text) },
        }))
    } else {
        let line = format!("{frames} frames; {text}");
        outln!(
            "{}",
            if complete {
                style.dim(&line)
            } else {
                style.bad(&line)
            }
        )
    }
}
