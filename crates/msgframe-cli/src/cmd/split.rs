//! `msgframe split`: cut a captured stream into frames, and say exactly where and why it stops
//! being valid; or list a capture's TCP conversations. From stdin (`-`), frames are cut and
//! shown as they arrive.

use msgframe_capture::{detect_format, Capture, Captured, FileFormat};
use msgframe_codec::header::hex;
use msgframe_codec::{Decoded, Decoder, Framing, StreamError};
use serde_json::json;

use crate::cli::SplitArgs;
use crate::dump::{self, Style};
use crate::error::{Failure, Result};
use crate::input::{self, Stream, Way};
use crate::live::{Live, Step};
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

/// Cuts a stream into frames as its bytes come (all at once for a file): the frames whole so
/// far, with the gaps before them, and at the end of the stream how it ended. The same cuts,
/// offsets and ends as [`msgframe_codec::StreamFrames`] over the whole stream, however the bytes
/// came.
struct Cutter {
    framing: Framing,
    /// Where the next frame starts: where the last one ended.
    offset: usize,
    /// The next byte for the decoder (past `offset` by what it consumed without a frame yet).
    at: usize,
    frames: usize,
    /// Gaps shown so far.
    gaps: usize,
    /// How the stream ended, once it did (or stopped being valid).
    end: Option<End>,
}

/// What the decoder found next.
enum Next {
    /// A frame: its bytes at `start..end` of the bytes given.
    Frame { start: usize, end: usize },
    /// No whole frame yet: wait for more bytes.
    Wait,
    /// The end of the frames (see [`Cutter::end`]).
    Stop,
}

impl Cutter {
    fn new(framing: Framing) -> Self {
        Cutter {
            framing,
            offset: 0,
            at: 0,
            frames: 0,
            gaps: 0,
            end: None,
        }
    }

    /// The frames `data` completes, the stream's bytes from offset `base` on (every byte from
    /// where the last frame ended), with `gaps` (all so far: offset, bytes missing) shown before
    /// the frame they fall in or after the last one; `ended` when no more bytes follow. `packet`
    /// tells which packet completed the stream up to an offset.
    fn cut<'a>(
        &mut self,
        data: &'a [u8],
        base: usize,
        ended: bool,
        gaps: &[(usize, u64)],
        packet: impl Fn(usize) -> Option<Captured>,
    ) -> Vec<Item<'a>> {
        let mut items = Vec::new();
        while self.end.is_none() {
            let (start, end) = match self.next(data, base, ended) {
                Next::Frame { start, end } => (start, end),
                Next::Wait | Next::Stop => break,
            };
            self.frames += 1;
            let offset = std::mem::replace(&mut self.offset, self.at);
            // A gap inside the frame (or at its start) comes before it; one where it ends, after.
            while let Some(&(at, missing)) = gaps.get(self.gaps) {
                if at >= self.at {
                    break;
                }
                self.gaps += 1;
                items.push(Item::Gap { at, missing });
            }
            items.push(Item::Frame {
                index: self.frames,
                offset,
                span: self.at - offset,
                body: &data[start..end],
                packet: packet(self.at),
            });
        }
        if ended {
            for &(at, missing) in gaps.get(self.gaps..).unwrap_or_default() {
                items.push(Item::Gap { at, missing });
            }
            self.gaps = gaps.len();
        }
        items
    }

    /// Decodes the next frame of `data` (from offset `base`), as a reader would: what is there,
    /// and only when that finds no whole frame and the stream has ended, as the end.
    fn next(&mut self, data: &[u8], base: usize, ended: bool) -> Next {
        let len = base + data.len();
        let mut at_end = false;
        loop {
            let from = self.at - base;
            let rest = &data[from..];
            let found = if at_end {
                self.framing.decode_slice_eof(rest)
            } else {
                self.framing.decode_slice(rest)
            };
            match found {
                Ok(Decoded::Frame {
                    start,
                    end,
                    consumed,
                }) => {
                    self.at += consumed;
                    return Next::Frame {
                        start: from + start,
                        end: from + end,
                    };
                }
                Ok(Decoded::Skip { consumed }) => self.at += consumed,
                Ok(Decoded::Partial { consumed }) => {
                    self.at += consumed;
                    if !ended {
                        return Next::Wait;
                    }
                    if at_end || self.at == len {
                        self.end = Some(End::Complete);
                        return Next::Stop;
                    }
                    at_end = true;
                }
                Err(error) => {
                    let e = StreamError {
                        offset: self.offset,
                        error,
                    };
                    self.end = Some(if e.is_truncated() {
                        End::Partial {
                            offset: e.offset,
                            buffered: len - e.offset,
                        }
                    } else {
                        End::Invalid {
                            offset: e.offset,
                            reason: e.error.to_string(),
                        }
                    });
                    return Next::Stop;
                }
            }
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
        return live(&style, &args, spec);
    }
    let streams = input::streams(&args.input)?;
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
        (Origin::of(a.stream), &a.items),
        (Origin::of(b.stream), &b.items),
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

/// The items of both directions, interleaved in the order the capture completed them (the
/// first direction's first when one packet completed both), labelled; stdout flushed after each
/// frame when `flush`.
fn merged(
    style: &Style,
    args: &SplitArgs,
    (a, a_items): (Origin<'_>, &[Item<'_>]),
    (b, b_items): (Origin<'_>, &[Item<'_>]),
    flush: bool,
) -> Result<()> {
    let (order_a, order_b) = (order(a_items), order(b_items));
    let (mut i, mut j) = (0, 0);
    while i < a_items.len() || j < b_items.len() {
        let take_a = j == b_items.len() || (i < a_items.len() && order_a[i] <= order_b[j]);
        let (origin, item) = if take_a {
            i += 1;
            (a, &a_items[i - 1])
        } else {
            j += 1;
            (b, &b_items[j - 1])
        };
        show(style, args, origin, item, true)?;
        if flush {
            crate::out::flush()?;
        }
    }
    Ok(())
}

/// `split -`: stdin cut as it arrives, each frame shown (and stdout flushed) as soon as it is
/// whole; a capture's conversation followed as it is captured.
fn live(style: &Style, args: &SplitArgs, spec: &str) -> Result<()> {
    let mut input = Live::open(&args.input)?;
    if !input.is_capture() {
        return live_raw(style, args, spec, input);
    }
    // One cutter per direction asked for, once the conversation followed is known.
    let mut cutters: Vec<Cutter> = Vec::new();
    // Whether anything was written to stdout: stderr says which conversation is followed after
    // that (a reader gone at once hears nothing).
    let mut wrote = false;
    loop {
        if let Step::End = input.step()? {
            break;
        }
        let Some(ways) = input.followed() else {
            continue;
        };
        if cutters.is_empty() {
            if !style.json {
                let labels: Vec<&str> = ways.iter().map(|(w, _)| w.label.as_str()).collect();
                live_heading(style, spec, &labels)?;
                wrote = true;
            }
            for _ in &ways {
                cutters.push(Cutter::new(input::framing(spec)?));
            }
        }
        let mut cut: Vec<(Origin<'_>, Vec<Item<'_>>)> = Vec::new();
        for ((way, flow), cutter) in ways.iter().zip(&mut cutters) {
            let gaps: Vec<(usize, u64)> =
                flow.gaps().iter().map(|g| (g.offset, g.missing)).collect();
            let items = cutter.cut(flow.contiguous(), flow.released(), false, &gaps, |end| {
                flow.captured_by(end)
            });
            let origin = Origin {
                label: &way.label,
                way: Some(way),
            };
            cut.push((origin, items));
        }
        wrote |= show_live(style, args, &cut)?;
        drop(cut);
        // What was cut is shown: only the frames not whole yet are kept.
        let read: Vec<(bool, usize)> = ways
            .iter()
            .zip(&cutters)
            .map(|((way, _), cutter)| (way.to_server, cutter.at))
            .collect();
        for (to_server, upto) in read {
            input.release(to_server, upto);
        }
        if wrote {
            input.announce();
        }
    }
    let streams = input.finish()?;
    if cutters.is_empty() {
        if !style.json {
            let labels: Vec<&str> = streams.iter().map(|s| s.label.as_str()).collect();
            live_heading(style, spec, &labels)?;
        }
        for _ in &streams {
            cutters.push(Cutter::new(input::framing(spec)?));
        }
    }
    let mut cut = Vec::new();
    for (stream, cutter) in streams.iter().zip(&mut cutters) {
        let items = cutter.cut(&stream.data, stream.released(), true, &stream.gaps, |end| {
            stream.packet_at(end)
        });
        cut.push((Origin::of(stream), items));
    }
    wrote |= show_live(style, args, &cut)?;
    if wrote {
        input.announce();
    }
    let labelled = streams.len() == 2;
    for (stream, cutter) in streams.iter().zip(&mut cutters) {
        let end = cutter.end.take().unwrap_or(End::Complete);
        summary(
            style,
            Origin::of(stream),
            cutter.frames,
            stream.len(),
            &end,
            labelled,
        )?;
        cutter.end = Some(end);
    }
    invalid(
        streams
            .iter()
            .zip(&cutters)
            .filter_map(|(stream, cutter)| Some((stream.label.as_str(), cutter.end.as_ref()?))),
    )
}

/// The heading of streams cut as they arrive (their lengths unknown yet): one stream, or both
/// directions of a conversation.
fn live_heading(style: &Style, spec: &str, labels: &[&str]) -> Result<()> {
    let text = match labels {
        [one] => format!("{one}: framing {spec}, as it arrives"),
        [a, ..] => format!("{a} and back, framing {spec}, in capture order, as it arrives"),
        [] => return Ok(()),
    };
    outln!("{}", style.heading(&text))
}

/// The items just cut of the stream(s) followed: both directions interleaved as captured, each
/// frame flushed to stdout at once. Whether there were any.
fn show_live(style: &Style, args: &SplitArgs, cut: &[(Origin<'_>, Vec<Item<'_>>)]) -> Result<bool> {
    match cut {
        [(a, a_items), (b, b_items)] => merged(style, args, (*a, a_items), (*b, b_items), true)?,
        _ => {
            for (origin, items) in cut {
                for item in items {
                    show(style, args, *origin, item, false)?;
                    crate::out::flush()?;
                }
            }
        }
    }
    Ok(cut.iter().any(|(_, items)| !items.is_empty()))
}

/// `split -` of raw bytes: frames cut and shown as the bytes arrive; only the bytes of the frame
/// not whole yet are kept.
fn live_raw(style: &Style, args: &SplitArgs, spec: &str, mut input: Live) -> Result<()> {
    let label = input.name().to_owned();
    let origin = Origin {
        label: &label,
        way: None,
    };
    if !style.json {
        live_heading(style, spec, &[&label])?;
    }
    let mut cutter = Cutter::new(input::framing(spec)?);
    // The stream from offset `base` on, while frames are cut; and its length.
    let (mut kept, mut base, mut len) = (Vec::new(), 0usize, 0usize);
    loop {
        let ended = match input.step()? {
            Step::Bytes(bytes) => {
                len += bytes.len();
                if cutter.end.is_none() {
                    kept.extend_from_slice(bytes);
                }
                false
            }
            Step::Capture => false,
            Step::End => true,
        };
        for item in cutter.cut(&kept, base, ended, &[], |_| None) {
            show(style, args, origin, &item, false)?;
            crate::out::flush()?;
        }
        let done = cutter.at - base;
        kept.drain(..done);
        base += done;
        if ended {
            break;
        }
    }
    let end = cutter.end.unwrap_or(End::Complete);
    summary(style, origin, cutter.frames, len, &end, false)?;
    invalid([(label.as_str(), &end)].into_iter())
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

#[cfg(test)]
mod tests {
    use super::*;
    use msgframe_codec::StreamFrames;

    /// What a walk found: each frame (offset, length, body), and how it ended.
    type Walk = (Vec<(usize, usize, Vec<u8>)>, String);

    fn describe(end: &End) -> String {
        match end {
            End::Complete => "complete".to_owned(),
            End::Partial { offset, buffered } => format!("partial {offset} {buffered}"),
            End::Invalid { offset, reason } => format!("invalid {offset} {reason}"),
        }
    }

    /// The whole stream walked by the codec's own walk.
    fn stream_frames(spec: &str, data: &[u8]) -> Walk {
        let mut frames = Vec::new();
        let mut end = End::Complete;
        for item in StreamFrames::new(spec.parse::<Framing>().unwrap(), data) {
            match item {
                Ok(f) => frames.push((f.offset, f.len, f.frame.to_vec())),
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
        (frames, describe(&end))
    }

    /// The stream given to a cutter in chunks of the sizes `size` gives, the bytes frames took
    /// dropped as it goes (as stdin's are).
    fn cutter(spec: &str, data: &[u8], mut size: impl FnMut() -> usize) -> Walk {
        let mut cutter = Cutter::new(spec.parse().unwrap());
        let (mut kept, mut base, mut at) = (Vec::new(), 0, 0);
        let mut frames = Vec::new();
        loop {
            let next = (at + size()).min(data.len());
            kept.extend_from_slice(&data[at..next]);
            at = next;
            let ended = at == data.len();
            for item in cutter.cut(&kept, base, ended, &[], |_| None) {
                if let Item::Frame {
                    offset, span, body, ..
                } = item
                {
                    frames.push((offset, span, body.to_vec()));
                }
            }
            let done = cutter.at - base;
            kept.drain(..done);
            base += done;
            if ended {
                break;
            }
        }
        (frames, describe(cutter.end.as_ref().unwrap()))
    }

    #[test]
    fn a_stream_cut_as_it_arrives_gives_what_the_whole_stream_gives() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as usize
        };
        let streams: [(&str, &[u8]); 10] = [
            ("ascii:4", b"0004ping0002ok0000"),
            ("ascii:4", b"0004ping00x2ok"),
            ("ascii:4", b"0004ping0010cut"),
            (
                "be:2,empty=skip",
                b"\x00\x00\x00\x02hi\x00\x00\x00\x00\x00\x01!",
            ),
            (
                "be:2,max=3,oversize=discard",
                b"\x00\x02hi\x00\x05toolong\x00\x01!\x00",
            ),
            ("be:2,max=3", b"\x00\x02hi\x00\x05toolong"),
            ("delim:03", b"one\x03two\x03\x03three"),
            ("delim:03,eof=deliver", b"one\x03two\x03three"),
            ("lines:crlf", b"a\r\nb\nc\r\n\r\nd"),
            ("eof", b"everything at once"),
        ];
        for (spec, data) in streams {
            let whole = stream_frames(spec, data);
            assert_eq!(cutter(spec, data, || data.len()), whole, "{spec} whole");
            assert_eq!(cutter(spec, data, || 1), whole, "{spec} a byte at a time");
            for _ in 0..200 {
                assert_eq!(cutter(spec, data, || next() % 6), whole, "{spec}");
            }
        }
    }

    #[test]
    fn gaps_come_before_the_frame_they_fall_in_and_the_rest_at_the_end() {
        // A gap where a frame ends comes after it, before the next (whose bytes follow the hole);
        // one after the last frame, at the end.
        let data = b"0004ping0004pong0004more00";
        let gaps = [(8, 3), (20, 1), (26, 5)];
        let mut cutter = Cutter::new("ascii:4".parse().unwrap());
        let kinds: Vec<String> = cutter
            .cut(data, 0, true, &gaps, |_| None)
            .iter()
            .map(|item| match item {
                Item::Frame { index, .. } => format!("#{index}"),
                Item::Gap { at, .. } => format!("gap {at}"),
            })
            .collect();
        assert_eq!(kinds, ["#1", "gap 8", "#2", "gap 20", "#3", "gap 26"]);
    }
}
