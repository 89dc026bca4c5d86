//! `msgframe split`: cut a captured stream into frames, and say exactly where and why it stops
//! being valid; or list a capture's TCP conversations. From stdin (`-`), frames are cut and
//! shown as they arrive.

mod cutter;
mod live;

use msgframe_capture::{detect_format, Capture, Captured, FileFormat};
use msgframe_codec::header::hex;
use msgframe_codec::Framing;
use serde_json::json;

use crate::cli::SplitArgs;
use crate::dump::{self, Style};
use crate::error::{Failure, Result};
use crate::input::{self, Stream, Way};
use crate::out::{out, outln};
use cutter::Cutter;

/// How a stream ended under the framing.
#[derive(Clone)]
enum End {
    /// Every byte is in a whole frame.
    Complete,
    /// The last frame is cut short.
    Partial { offset: usize, buffered: usize },
    /// The bytes at `offset` are not a valid frame.
    Invalid { offset: usize, reason: String },
}

/// What a stream holds under the framing, in stream order.
enum Item<'a> {
    /// The `index`th frame (from 1): `span` bytes on the wire from `offset`, and its body;
    /// `packet`, the capture's packet that completed it.
    Frame {
        index: usize,
        offset: usize,
        span: usize,
        body: &'a [u8],
        packet: Option<Captured>,
    },
    /// Bytes the capture misses at `at`.
    Gap { at: usize, missing: u64 },
}

/// Whose items are shown: a stream's label and, for a direction of a captured conversation,
/// which.
#[derive(Clone, Copy)]
struct Origin<'a> {
    label: &'a str,
    way: Option<&'a Way>,
}

impl<'a> Origin<'a> {
    fn of(stream: &'a Stream) -> Self {
        Origin {
            label: &stream.label,
            way: stream.captured.as_ref().map(|c| &c.way),
        }
    }
}

/// A stream cut into frames.
struct Cut<'a> {
    stream: &'a Stream,
    items: Vec<Item<'a>>,
    frames: usize,
    end: End,
}

/// Where each item falls in the capture: its frame's packet number; a gap, that of the frame
/// after it (or before, at the end). Never decreasing along the stream.
fn order(items: &[Item<'_>]) -> Vec<u64> {
    let mut keys: Vec<Option<u64>> = items
        .iter()
        .map(|item| match item {
            Item::Frame { packet, .. } => packet.map(|p| p.packet),
            Item::Gap { .. } => None,
        })
        .collect();
    let mut next = None;
    for key in keys.iter_mut().rev() {
        next = key.or(next);
        *key = next;
    }
    let mut last = 0;
    keys.into_iter()
        .map(|key| {
            last = key.unwrap_or(last).max(last);
            last
        })
        .collect()
}

pub fn run(args: SplitArgs) -> Result<()> {
    if args.list {
        return list(&args);
    }
    let Some(spec) = args.framing.as_deref() else {
        return Err(Failure::usage("split needs --framing SPEC (or --list)"));
    };
    // Validate the spec before reading anything.
    input::framing(spec)?;
    let style = Style::new(args.common.json);
    if input::is_live(&args.input.file) {
        return live::live(&style, &args, spec);
    }
    let mut conversations = input::conversations(&args.input)?;
    if let (Some(port), true) = (args.input.port, conversations.len() > 1) {
        return many(&style, &args, spec, port, &conversations);
    }
    let streams = conversations.pop().unwrap_or_default();
    let cuts = streams
        .iter()
        .map(|stream| Ok(cut(input::framing(spec)?, stream)))
        .collect::<Result<Vec<_>>>()?;
    match &cuts[..] {
        // Both directions of a captured conversation: interleaved, as captured.
        [a, b] if a.stream.captured.is_some() && b.stream.captured.is_some() => {
            interleaved(&style, &args, spec, a, b)?
        }
        _ => {
            for c in &cuts {
                single(&style, &args, spec, c)?;
            }
        }
    }
    invalid(cuts.iter().map(|c| (c.stream.label.as_str(), &c.end)))
}

/// Every conversation on a port: their frames interleaved in the order the capture completed
/// them, each labelled with its endpoints; then how they ended.
fn many(
    style: &Style,
    args: &SplitArgs,
    spec: &str,
    port: u16,
    conversations: &[Vec<Stream>],
) -> Result<()> {
    let cuts = conversations
        .iter()
        .flatten()
        .map(|stream| Ok(cut(input::framing(spec)?, stream)))
        .collect::<Result<Vec<_>>>()?;
    if !style.json {
        outln!(
            "{}",
            style.heading(&format!(
                "{}: {} TCP conversations on port {port}, framing {spec}, in capture order",
                args.input.file.display(),
                conversations.len(),
            ))
        )?;
    }
    let streams: Vec<(Origin<'_>, &[Item<'_>])> = cuts
        .iter()
        .map(|c| (Origin::of(c.stream), &c.items[..]))
        .collect();
    merged(style, args, &streams, false)?;
    let mut totals = Totals::default();
    let mut endings = Vec::new();
    // The cuts, in the order of the conversations' streams.
    let mut each = cuts.iter();
    for (place, conversation) in conversations.iter().enumerate() {
        for c in each.by_ref().take(conversation.len()) {
            totals.add(style, place, c.stream, c.frames, &c.end, &mut endings);
        }
    }
    totals.say(style, port, conversations.len(), &mut endings)?;
    invalid(cuts.iter().map(|c| (c.stream.label.as_str(), &c.end)))
}

/// How the conversations on a port ended, added up direction by direction as each ends.
#[derive(Default)]
struct Totals {
    to_server: Option<usize>,
    to_client: Option<usize>,
    /// Directions that did not end in a whole frame.
    short: usize,
}

/// How one direction of a conversation on a port ended, kept to be said after every frame
/// (with JSON, every direction; else those that did not end in a whole frame).
struct Ending {
    /// Where the conversation comes among those shown (by its index in the capture).
    place: usize,
    label: String,
    way: Option<Way>,
    frames: usize,
    bytes: usize,
    end: End,
}

impl Totals {
    /// Adds how `stream`, a direction of the `place`th conversation, ended after `frames`
    /// frames; keeps it in `endings` when it is to be said.
    fn add(
        &mut self,
        style: &Style,
        place: usize,
        stream: &Stream,
        frames: usize,
        end: &End,
        endings: &mut Vec<Ending>,
    ) {
        let way = stream.captured.as_ref().map(|c| &c.way);
        let count = match way {
            Some(way) if !way.to_server => &mut self.to_client,
            _ => &mut self.to_server,
        };
        *count = Some(count.unwrap_or(0) + frames);
        let whole = matches!(end, End::Complete);
        self.short += usize::from(!whole);
        if style.json || !whole {
            endings.push(Ending {
                place,
                label: stream.label.clone(),
                way: way.cloned(),
                frames,
                bytes: stream.len(),
                end: end.clone(),
            });
        }
    }

    /// Says each direction kept in `endings` (in the order of the conversations, the client's
    /// first), then one line for all `conversations` on `port`.
    fn say(
        &self,
        style: &Style,
        port: u16,
        conversations: usize,
        endings: &mut [Ending],
    ) -> Result<()> {
        endings.sort_by_key(|e| (e.place, e.way.as_ref().is_some_and(|w| !w.to_server)));
        for e in endings.iter() {
            let origin = Origin {
                label: &e.label,
                way: e.way.as_ref(),
            };
            summary(style, origin, e.frames, e.bytes, &e.end, true)?;
        }
        if style.json {
            return dump::json_line(json!({
                "event": "conversations",
                "port": port,
                "count": conversations,
                "frames_to_server": self.to_server,
                "frames_to_client": self.to_client,
                "complete": self.short == 0,
            }));
        }
        let frames: Vec<String> = [
            (self.to_server, "to the server"),
            (self.to_client, "to the clients"),
        ]
        .iter()
        .filter_map(|(n, way)| Some(format!("{} frames {way}", (*n)?)))
        .collect();
        let line = format!(
            "{conversations} conversation{} on port {port}: {}; {}",
            if conversations == 1 { "" } else { "s" },
            frames.join(", "),
            if self.short == 0 {
                "every byte is in a whole frame".to_owned()
            } else {
                format!(
                    "{} directions end short of a whole frame (above)",
                    self.short
                )
            }
        );
        outln!(
            "{}",
            if self.short == 0 {
                style.dim(&line)
            } else {
                style.bad(&line)
            }
        )
    }
}

/// The command's end: a data error naming each stream that stopped being valid frames.
fn invalid<'a>(ends: impl Iterator<Item = (&'a str, &'a End)>) -> Result<()> {
    let invalid: Vec<String> = ends
        .filter_map(|(label, end)| match end {
            End::Invalid { offset, reason } => {
                Some(format!("{label}: invalid at offset {offset}: {reason}"))
            }
            _ => None,
        })
        .collect();
    if invalid.is_empty() {
        Ok(())
    } else {
        Err(Failure::data(invalid.join("; ")).in_output())
    }
}

fn cut(framing: Framing, stream: &Stream) -> Cut<'_> {
    let mut cutter = Cutter::new(framing);
    let items = cutter.cut(&stream.data, 0, true, &stream.gaps, |end| {
        stream.packet_at(end)
    });
    Cut {
        stream,
        items,
        frames: cutter.frames,
        end: cutter.end.unwrap_or(End::Complete),
    }
}

/// One stream: a heading, its frames, how it ended.
fn single(style: &Style, args: &SplitArgs, spec: &str, cut: &Cut<'_>) -> Result<()> {
    let stream = cut.stream;
    if !style.json {
        outln!(
            "{}",
            style.heading(&format!(
                "{}: {} bytes, framing {spec}",
                stream.label,
                stream.data.len(),
            ))
        )?;
    }
    for item in &cut.items {
        show(style, args, Origin::of(stream), item, false)?;
    }
    summary(
        style,
        Origin::of(stream),
        cut.frames,
        stream.data.len(),
        &cut.end,
        false,
    )
}

/// Both directions of a conversation, frames interleaved in the order the capture completed
/// them (as a followed stream shows them), each labelled with its direction.
fn interleaved(
    style: &Style,
    args: &SplitArgs,
    spec: &str,
    a: &Cut<'_>,
    b: &Cut<'_>,
) -> Result<()> {
    if !style.json {
        outln!(
            "{}",
            style.heading(&format!(
                "{} ({} bytes) and back ({} bytes), framing {spec}, in capture order",
                a.stream.label,
                a.stream.data.len(),
                b.stream.data.len(),
            ))
        )?;
    }
    merged(
        style,
        args,
        &[
            (Origin::of(a.stream), &a.items),
            (Origin::of(b.stream), &b.items),
        ],
        false,
    )?;
    for c in [a, b] {
        let stream = c.stream;
        summary(
            style,
            Origin::of(stream),
            c.frames,
            stream.data.len(),
            &c.end,
            true,
        )?;
    }
    Ok(())
}

/// The items of several streams (both directions of a conversation, or of every conversation on
/// a port), interleaved in the order the capture completed them (the earlier stream's first
/// when one packet completed both), labelled; stdout flushed after each frame when `flush`.
fn merged(
    style: &Style,
    args: &SplitArgs,
    streams: &[(Origin<'_>, &[Item<'_>])],
    flush: bool,
) -> Result<()> {
    use std::cmp::Reverse;
    let orders: Vec<Vec<u64>> = streams.iter().map(|(_, items)| order(items)).collect();
    // The next item of each stream, smallest (packet, stream) first.
    let mut next: std::collections::BinaryHeap<Reverse<(u64, usize, usize)>> = orders
        .iter()
        .enumerate()
        .filter_map(|(s, order)| Some(Reverse((*order.first()?, s, 0))))
        .collect();
    while let Some(Reverse((_, s, i))) = next.pop() {
        let (origin, items) = streams[s];
        show(style, args, origin, &items[i], true)?;
        if flush {
            crate::out::flush()?;
        }
        if let Some(&key) = orders[s].get(i + 1) {
            next.push(Reverse((key, s, i + 1)));
        }
    }
    Ok(())
}

fn show(
    style: &Style,
    args: &SplitArgs,
    origin: Origin<'_>,
    item: &Item<'_>,
    labelled: bool,
) -> Result<()> {
    let direction = origin.way;
    match *item {
        Item::Gap { at, missing } => {
            if style.json {
                dump::json_line(json!({
                    "event": "gap",
                    "stream": origin.label,
                    "direction": direction.map(|d| d.direction),
                    "offset": at,
                    "missing": missing,
                }))
            } else {
                let arrow = match direction {
                    Some(d) if labelled => format!("{}: ", d.arrow),
                    _ => String::new(),
                };
                outln!(
                    "{}",
                    style.bad(&format!(
                        "  {arrow}the capture misses {missing} bytes at offset {at}: frames across it are not what was sent"
                    ))
                )
            }
        }
        Item::Frame {
            index,
            offset,
            span,
            body,
            packet,
        } => {
            if style.json {
                let mut line = json!({
                    "event": "frame",
                    "stream": origin.label,
                    "index": index,
                    "offset": offset,
                    "length": span,
                    "body_length": body.len(),
                    "hex": hex::display(body).to_string(),
                });
                if let Some(d) = direction {
                    line["direction"] = json!(d.direction);
                }
                if let Some(p) = packet {
                    line["packet"] = json!(p.packet);
                    line["ts"] = json!(dump::timestamp(p.time));
                }
                return dump::json_line(line);
            }
            let mut head = String::new();
            if let Some(p) = packet {
                head.push_str(&dump::timestamp(p.time));
                head.push_str("  ");
            }
            if let (Some(d), true) = (direction, labelled) {
                head.push_str(&d.arrow);
                head.push_str("  ");
            }
            let packet = packet.map_or(String::new(), |p| format!("  (packet {})", p.packet));
            outln!(
                "{head}#{index}  offset {offset}  {span} bytes on the wire, body {} bytes{}",
                body.len(),
                style.dim(&packet)
            )?;
            if !args.brief {
                out!("{}", style.hexdump(body, "  "))?;
            }
            Ok(())
        }
    }
}

/// How a stream of `bytes` bytes ended under the framing, after `frames` frames.
fn summary(
    style: &Style,
    origin: Origin<'_>,
    frames: usize,
    bytes: usize,
    end: &End,
    labelled: bool,
) -> Result<()> {
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
            "stream": origin.label,
            "frames": frames,
            "bytes": bytes,
            "complete": complete,
            "stopped_at": stopped_at,
            "reason": if complete { None } else { Some(text) },
        }))
    } else {
        let arrow = match origin.way {
            Some(d) if labelled => format!("{}: ", d.arrow),
            _ => String::new(),
        };
        let line = format!("{arrow}{frames} frames; {text}");
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

/// `split --list`: the capture's TCP conversations, one a line.
fn list(args: &SplitArgs) -> Result<()> {
    let path = &args.input.file;
    let name = path.display().to_string();
    let data = input::read_file(path)?;
    if detect_format(&data) == FileFormat::Raw {
        return Err(Failure::usage(format!(
            "{name} is not a pcap or pcapng capture: --list lists a capture's TCP conversations"
        )));
    }
    let capture: Capture = input::capture(&name, &data)?;
    let style = Style::new(args.common.json);
    if !style.json {
        outln!(
            "{}",
            style.heading(&format!(
                "{name}: {} TCP conversation{} ({} other packets)",
                capture.conversations.len(),
                if capture.conversations.len() == 1 {
                    ""
                } else {
                    "s"
                },
                capture.skipped
            ))
        )?;
    }
    for (index, c) in capture.conversations.iter().enumerate() {
        let way = |flow: &msgframe_capture::Flow| {
            let missing: u64 = flow.gaps.iter().map(|g| g.missing).sum();
            (flow.packets, flow.data.len(), missing)
        };
        let (to_server, to_client) = (way(&c.to_server), way(&c.to_client));
        if style.json {
            let way = |(packets, bytes, missing): (usize, usize, u64)| json!({"packets": packets, "bytes": bytes, "missing": missing});
            dump::json_line(json!({
                "event": "conversation",
                "index": index,
                "client": c.client.to_string(),
                "server": c.server.to_string(),
                "to_server": way(to_server),
                "to_client": way(to_client),
                "first": dump::timestamp(c.first.time),
                "last": dump::timestamp(c.last.time),
                "first_packet": c.first.packet,
                "last_packet": c.last.packet,
            }))?;
            continue;
        }
        let way = |(packets, bytes, missing): (usize, usize, u64)| {
            let missing = if missing > 0 {
                format!(" ({missing} missing)")
            } else {
                String::new()
            };
            format!("{packets} packets, {bytes} bytes{missing}")
        };
        outln!(
            "#{index}  {} -> {}  to server: {}; to client: {}  {} to {}",
            c.client,
            c.server,
            way(to_server),
            way(to_client),
            dump::timestamp(c.first.time),
            dump::timestamp(c.last.time),
        )?;
    }
    Ok(())
}
