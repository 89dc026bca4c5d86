//! `split -`: stdin cut as it arrives.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

use super::cutter::Cutter;
use super::{invalid, merged, show, summary, End, Item, Origin, Totals};
use crate::cli::SplitArgs;
use crate::dump::Style;
use crate::error::Result;
use crate::input::{self, Stream};
use crate::live::{Live, Step};
use crate::out::outln;

/// `split -`: stdin cut as it arrives, each frame shown (and stdout flushed) as soon as it is
/// whole; a capture's conversation followed as it is captured, or with `--port P` every
/// conversation on that port.
pub(super) fn live(style: &Style, args: &SplitArgs, spec: &str) -> Result<()> {
    let mut input = Live::open(&args.input)?;
    if !input.is_capture() {
        return live_raw(style, args, spec, input);
    }
    let every_on = input.every_on_port();
    // One cutter per direction asked for of each conversation followed, from when it is.
    let mut cutters: BTreeMap<usize, Vec<Cutter>> = BTreeMap::new();
    // Whether anything was written to stdout: stderr says which conversation is followed after
    // that (a reader gone at once hears nothing).
    let mut wrote = false;
    let mut headed = false;
    // The packets whose bytes were cut.
    let mut cut_upto = 0;
    // With --port: how the conversations done so far ended, each counted (and let go of) as
    // it ends; said at the end in the order of the conversations, as for a file.
    let mut totals = Totals::default();
    let mut endings = Vec::new();
    let mut done_count = 0;
    loop {
        if let Step::End = input.step()? {
            break;
        }
        let followed = input.followed(cut_upto);
        cut_upto = input.packets();
        let mut cut: Vec<(Origin<'_>, Vec<Item<'_>>)> = Vec::new();
        let mut read = Vec::new();
        let mut done = Vec::new();
        for now in &followed {
            if !headed {
                let labels: Vec<&str> = now.ways.iter().map(|(w, _)| w.label.as_str()).collect();
                wrote |= live_heading(style, spec, every_on, &labels)?;
                headed = true;
            }
            let cutters = match cutters.entry(now.index) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => e.insert(new_cutters(spec, now.ways.len())?),
            };
            for ((way, flow), cutter) in now.ways.iter().zip(cutters.iter_mut()) {
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
                read.push((now.index, way.to_server, cutter.consumed()));
            }
            if now.done && every_on.is_some() {
                done.push(now.index);
            }
        }
        let labelled = every_on.is_some() || cut.len() > 1;
        wrote |= show_live(style, args, &cut, labelled)?;
        drop(cut);
        drop(followed);
        // What was cut is shown: only the frames not whole yet are kept.
        for (index, to_server, upto) in read {
            input.release(index, to_server, upto);
        }
        // Conversations on the port that are done: their ends said (or counted) and let go of.
        for index in done {
            let streams = input.take(index);
            let mut cutters = cutters.remove(&index).unwrap_or_default();
            let cut = to_the_end(&streams, &mut cutters);
            wrote |= show_live(style, args, &cut, true)?;
            done_count += 1;
            for (stream, cutter) in streams.iter().zip(&mut cutters) {
                let end = cutter.end.take().unwrap_or(End::Complete);
                totals.add(style, index, stream, cutter.frames, &end, &mut endings);
            }
        }
        if wrote {
            input.announce();
        }
    }
    let conversations = input.finish()?;
    if !headed {
        let labels: Vec<&str> = conversations
            .iter()
            .flat_map(|(_, streams)| streams.iter().map(|s| s.label.as_str()))
            .collect();
        live_heading(style, spec, every_on, &labels)?;
    }
    let mut cut = Vec::new();
    for (index, streams) in &conversations {
        let cutters = match cutters.entry(*index) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(new_cutters(spec, streams.len())?),
        };
        cut.extend(to_the_end(streams, cutters));
    }
    let labelled = every_on.is_some() || cut.len() > 1;
    wrote |= show_live(style, args, &cut, labelled)?;
    drop(cut);
    if wrote {
        input.announce();
    }
    // How each direction ended.
    let mut ends = Vec::new();
    for (index, streams) in &conversations {
        let cutters = cutters
            .get_mut(index)
            .expect("a cutter for each conversation");
        for (stream, cutter) in streams.iter().zip(cutters.iter_mut()) {
            let end = cutter.end.take().unwrap_or(End::Complete);
            ends.push((*index, stream, cutter.frames, end));
        }
    }
    let Some(port) = every_on else {
        for (_, stream, frames, end) in &ends {
            summary(
                style,
                Origin::of(stream),
                *frames,
                stream.len(),
                end,
                ends.len() == 2,
            )?;
        }
        return invalid(
            ends.iter()
                .map(|(_, stream, _, end)| (stream.label.as_str(), end)),
        );
    };
    for (index, stream, frames, end) in &ends {
        totals.add(style, *index, stream, *frames, end, &mut endings);
    }
    totals.say(style, port, done_count + conversations.len(), &mut endings)?;
    invalid(endings.iter().map(|e| (e.label.as_str(), &e.end)))
}

/// What is left of `streams` (directions of a conversation, whole: nothing more will come), cut
/// by their `cutters`.
fn to_the_end<'a>(
    streams: &'a [Stream],
    cutters: &mut [Cutter],
) -> Vec<(Origin<'a>, Vec<Item<'a>>)> {
    streams
        .iter()
        .zip(cutters)
        .map(|(stream, cutter)| {
            let items = cutter.cut(&stream.data, stream.released(), true, &stream.gaps, |end| {
                stream.packet_at(end)
            });
            (Origin::of(stream), items)
        })
        .collect()
}

/// A cutter for each of `ways` directions.
fn new_cutters(spec: &str, ways: usize) -> Result<Vec<Cutter>> {
    (0..ways)
        .map(|_| Ok(Cutter::new(input::framing(spec)?)))
        .collect()
}

/// The heading of streams cut as they arrive (their lengths unknown yet): one stream, both
/// directions of a conversation, or every conversation on a port. Whether it was written.
fn live_heading(style: &Style, spec: &str, every_on: Option<u16>, labels: &[&str]) -> Result<bool> {
    let text = match (every_on, labels) {
        (Some(port), _) => format!(
            "every TCP conversation on port {port}: framing {spec}, in capture order, as it arrives"
        ),
        (None, [one]) => format!("{one}: framing {spec}, as it arrives"),
        (None, [a, ..]) => {
            format!("{a} and back, framing {spec}, in capture order, as it arrives")
        }
        (None, []) => return Ok(false),
    };
    if style.json {
        return Ok(false);
    }
    outln!("{}", style.heading(&text))?;
    Ok(true)
}

/// The items just cut of the streams followed: interleaved as captured (labelled with their
/// direction when `labelled`), each frame flushed to stdout at once. Whether there were any.
fn show_live(
    style: &Style,
    args: &SplitArgs,
    cut: &[(Origin<'_>, Vec<Item<'_>>)],
    labelled: bool,
) -> Result<bool> {
    if labelled {
        let streams: Vec<(Origin<'_>, &[Item<'_>])> = cut
            .iter()
            .map(|(origin, items)| (*origin, &items[..]))
            .collect();
        merged(style, args, &streams, true)?;
    } else {
        for (origin, items) in cut {
            for item in items {
                show(style, args, *origin, item, false)?;
                crate::out::flush()?;
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
    live_heading(style, spec, None, &[&label])?;
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
        let done = cutter.consumed() - base;
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
