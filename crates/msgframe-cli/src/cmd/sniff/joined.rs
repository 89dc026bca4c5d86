//! `sniff --port P` over several conversations: a host of short connections holds a message or
//! two in each, too few to judge one by one, so each direction of them all is judged joined end
//! to end (`msgframe_codec::sniff::sniff_joined`).

use msgframe_codec::sniff;

use super::{end, verdict, Judge};
use crate::cli::{Direction, SniffArgs};
use crate::dump::Style;
use crate::error::Result;
use crate::input::Stream;
use crate::live::{Live, Step};

/// The directions asked for: `true` for what the clients sent.
fn directions(direction: Direction) -> Vec<bool> {
    match direction {
        Direction::ToServer => vec![true],
        Direction::ToClient => vec![false],
        Direction::Both => vec![true, false],
    }
}

/// What the output calls one direction of the conversations on `port` of capture `name`.
fn label(name: &str, port: u16, to_server: bool) -> String {
    let way = if to_server {
        "to the server"
    } else {
        "to the clients"
    };
    format!("{name}: every conversation on port {port}, {way}, joined")
}

/// Whether `stream` is what the clients sent.
fn to_server(stream: &Stream) -> bool {
    stream.captured.as_ref().is_none_or(|c| c.way.to_server)
}

/// `sniff FILE --port P` with several conversations on the port: each direction asked for
/// judged over them all, joined in the order of their first packets.
pub(super) fn file(
    style: &Style,
    args: &SniffArgs,
    name: &str,
    port: u16,
    conversations: &[Vec<Stream>],
) -> Result<()> {
    let mut undecided = Vec::new();
    for way in directions(args.input.direction) {
        let pieces: Vec<&[u8]> = conversations
            .iter()
            .flatten()
            .filter(|s| to_server(s) == way)
            .map(|s| &s.data[..])
            .collect();
        let label = format!(
            "{} ({} conversations)",
            label(name, port, way),
            pieces.len()
        );
        let len = pieces.iter().map(|p| p.len()).sum();
        let sniffed = sniff::sniff_joined(pieces);
        if !verdict(style, args, &label, len, &sniffed, None)? {
            undecided.push(label);
        }
    }
    end(undecided)
}

/// One direction of the conversations on the port, as it arrives.
struct Joined {
    to_server: bool,
    judge: Judge,
    /// The conversations that have ended, joined (as far as sniffing examines).
    done: Vec<u8>,
    /// Their bytes, all told.
    len: usize,
}

/// `sniff - --port P`: each direction judged as the capture arrives, over the conversations on
/// the port that have ended, joined, and the one still open with the most bytes after them (a
/// frame it has not finished is then the last, cut short, as a stream's is): a single long
/// connection is judged as it grows, short ones as they end.
pub(super) fn live(style: &Style, args: &SniffArgs, mut input: Live, port: u16) -> Result<()> {
    let name = input.name().to_owned();
    let mut ways: Vec<Joined> = directions(args.input.direction)
        .into_iter()
        .map(|to_server| Joined {
            to_server,
            judge: Judge::new(label(&name, port, to_server), args),
            done: Vec::new(),
            len: 0,
        })
        .collect();
    let mut since = 0;
    let mut wrote = false;
    loop {
        if let Step::End = input.step()? {
            break;
        }
        let followed = input.followed(since);
        since = input.packets();
        let ended: Vec<usize> = followed
            .iter()
            .filter(|f| f.done)
            .map(|f| f.index)
            .collect();
        // The open conversation with the most bytes, each way.
        let mut open: Vec<Option<&[u8]>> = vec![None; ways.len()];
        for f in followed.iter().filter(|f| !f.done) {
            for (way, flow) in &f.ways {
                if let Some(i) = ways.iter().position(|w| w.to_server == way.to_server) {
                    let data = flow.contiguous();
                    if open[i].is_none_or(|o| o.len() < data.len()) {
                        open[i] = Some(data);
                    }
                }
            }
        }
        let candidates: Vec<Vec<u8>> = ways
            .iter()
            .zip(&open)
            .map(|(w, open)| joined(&w.done, open.unwrap_or_default()))
            .collect();
        drop(followed);
        for (w, candidate) in ways.iter_mut().zip(&candidates) {
            if w.judge.verdict.is_none() {
                let len = w.len + candidate.len() - w.done.len();
                wrote |= w.judge.judge(style, args, candidate, len, "live capture")?;
            }
        }
        for index in ended {
            add(&mut ways, &input.take(index));
        }
        if wrote {
            input.announce();
        }
        if ways.iter().all(|w| w.judge.verdict.is_some()) {
            break;
        }
    }
    if ways.iter().any(|w| w.judge.verdict.is_none()) {
        // The end of the input: a verdict on what there is for each direction without one.
        for (_, streams) in input.finish()? {
            add(&mut ways, &streams);
        }
        for w in ways.iter_mut().filter(|w| w.judge.verdict.is_none()) {
            let sniffed = sniff::sniff(&w.done);
            w.judge.verdict = Some(verdict(style, args, &w.judge.label, w.len, &sniffed, None)?);
            input.announce();
        }
    }
    end(ways
        .into_iter()
        .filter(|w| w.judge.verdict == Some(false))
        .map(|w| w.judge.label)
        .collect())
}

/// `done` and then `open`, as far as sniffing examines.
fn joined(done: &[u8], open: &[u8]) -> Vec<u8> {
    let room = sniff::SNIFF_LIMIT.saturating_sub(done.len());
    [done, &open[..open.len().min(room)]].concat()
}

/// Adds the directions of a conversation that has ended to those joined.
fn add(ways: &mut [Joined], streams: &[Stream]) {
    for stream in streams {
        if let Some(w) = ways.iter_mut().find(|w| w.to_server == to_server(stream)) {
            w.len += stream.len();
            let room = sniff::SNIFF_LIMIT.saturating_sub(w.done.len());
            w.done
                .extend_from_slice(&stream.data[..stream.data.len().min(room)]);
        }
    }
}
