//! `split -`: stdin cut as it arrives.

use super::cutter::Cutter;
use super::{invalid, merged, show, summary, End, Item, Origin};
use crate::cli::SplitArgs;
use crate::dump::Style;
use crate::error::Result;
use crate::input;
use crate::live::{Live, Step};
use crate::out::outln;

/// `split -`: stdin cut as it arrives, each frame shown (and stdout flushed) as soon as it is
/// whole; a capture's conversation followed as it is captured.
pub(super) fn live(style: &Style, args: &SplitArgs, spec: &str) -> Result<()> {
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
            .map(|((way, _), cutter)| (way.to_server, cutter.consumed()))
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
