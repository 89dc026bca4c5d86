//! `msgframe sniff`: guess the framing of a captured stream, with a confidence.

mod joined;

use msgframe_codec::sniff::{self, Answer, Sniffed};
use serde_json::json;

use crate::cli::SniffArgs;
use crate::dump::{self, Style};
use crate::error::{Failure, Result};
use crate::input;
use crate::live::{Live, Step};
use crate::out::outln;

pub fn run(args: SniffArgs) -> Result<()> {
    let style = Style::new(args.common.json);
    if input::is_live(&args.input.file) {
        return live(&style, &args);
    }
    let mut conversations = input::conversations(&args.input)?;
    if let (Some(port), true) = (args.input.port, conversations.len() > 1) {
        let name = args.input.file.display().to_string();
        return joined::file(&style, &args, &name, port, &conversations);
    }
    let mut undecided = Vec::new();
    for stream in conversations.pop().unwrap_or_default() {
        let sniffed = sniff::sniff(&stream.data);
        if !verdict(
            &style,
            &args,
            &stream.label,
            stream.data.len(),
            &sniffed,
            None,
        )? {
            undecided.push(stream.label.clone());
        }
    }
    end(undecided)
}

/// The command's end: exit status 4 when a stream has no confident framing.
fn end(undecided: Vec<String>) -> Result<()> {
    if undecided.is_empty() {
        Ok(())
    } else {
        Err(Failure::undecided(format!(
            "no framing is confident for {}",
            undecided.join(", ")
        ))
        .in_output())
    }
}

/// Prints what sniffing stream `label` (`len` bytes so far) found: the heading, the best answers,
/// the verdict; `live`, for a verdict given before the stream ended, says what it is. Whether a
/// framing is confident.
fn verdict(
    style: &Style,
    args: &SniffArgs,
    label: &str,
    len: usize,
    sniffed: &Sniffed,
    live: Option<&str>,
) -> Result<bool> {
    if !style.json {
        outln!("{}", style.heading(&format!("{label}: {len} bytes")))?;
        if len > sniff::SNIFF_LIMIT {
            outln!(
                "{}",
                style.dim(&format!(
                    "  (judged on the first {} bytes)",
                    sniff::SNIFF_LIMIT
                ))
            )?;
        }
    }
    for (rank, a) in sniffed.answers.iter().take(args.top.max(1)).enumerate() {
        if style.json {
            dump::json_line(answer_json(label, rank + 1, a))?;
        } else {
            print_answer(style, rank + 1, a)?;
        }
    }
    let confident = sniffed.confident();
    if style.json {
        let mut line = json!({
            "event": "verdict",
            "stream": label,
            "confident": confident.is_some(),
            "spec": confident.map(|a| a.specs[0].clone()),
            "confidence": sniffed.answers.first().map(|a| rounded(a.confidence, 1000.0)),
            "tried": sniffed.tried,
        });
        if live.is_some() {
            line["live"] = json!(true);
            line["frames"] = json!(confident.map_or(0, |a| a.frames));
        }
        dump::json_line(line)?;
    } else {
        match confident {
            Some(a) => outln!(
                "  {}",
                style.heading(&format!(
                    "→ --framing {}  ({})",
                    a.specs[0],
                    percent(a.confidence)
                ))
            )?,
            None => outln!("  {}", not_confident(sniffed))?,
        }
        if let (Some(what), Some(a)) = (live, confident) {
            outln!(
                "  {}",
                style.dim(&format!(
                    "decided after {} frames of a {what} (--frames N to wait for more)",
                    a.frames
                ))
            )?;
        }
    }
    Ok(confident.is_some())
}

/// One stream judged as it arrives.
struct Judge {
    label: String,
    progressive: sniff::Progressive,
    /// Once its verdict was given: whether a framing is confident.
    verdict: Option<bool>,
}

impl Judge {
    fn new(label: String, args: &SniffArgs) -> Self {
        Judge {
            label,
            progressive: sniff::Progressive::new(args.frames),
            verdict: None,
        }
    }

    /// Judges the stream's bytes so far, `data` (the first of them, up to what sniffing
    /// examines) of `len` (see [`sniff::Progressive`]), and prints the verdict once it is
    /// decided. Whether it was given now.
    fn judge(
        &mut self,
        style: &Style,
        args: &SniffArgs,
        data: &[u8],
        len: usize,
        what: &str,
    ) -> Result<bool> {
        let Some(sniffed) = self.progressive.judge(data) else {
            return Ok(false);
        };
        self.verdict = Some(verdict(
            style,
            args,
            &self.label,
            len,
            &sniffed,
            Some(what),
        )?);
        Ok(true)
    }
}

/// `sniff -`: the stream(s) judged as they arrive, each verdict given as soon as a framing is
/// confident with `--frames` frames; the command ends once every stream has its verdict, or at
/// the end of the input, with a verdict on what there is.
fn live(style: &Style, args: &SniffArgs) -> Result<()> {
    let mut input = Live::open(&args.input)?;
    if let (true, Some(port)) = (input.is_capture(), input.every_on_port()) {
        return joined::live(style, args, input, port);
    }
    let mut wrote = false;
    if !input.is_capture() {
        let mut judge = Judge::new(input.name().to_owned(), args);
        // The bytes sniffing examines, and how many there were.
        let (mut kept, mut len) = (Vec::new(), 0usize);
        loop {
            match input.step()? {
                Step::Bytes(bytes) => {
                    len += bytes.len();
                    let room = sniff::SNIFF_LIMIT.saturating_sub(kept.len());
                    kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
                }
                Step::Capture => {}
                Step::End => break,
            }
            judge.judge(style, args, &kept, len, "live stream")?;
            if judge.verdict.is_some() {
                break;
            }
        }
        let confident = match judge.verdict {
            Some(confident) => confident,
            None => verdict(style, args, &judge.label, len, &sniff::sniff(&kept), None)?,
        };
        return end(if confident { vec![] } else { vec![judge.label] });
    }
    let mut judges: Vec<Judge> = Vec::new();
    loop {
        if let Step::End = input.step()? {
            break;
        }
        let Some(ways) = input.followed(0).into_iter().next().map(|f| f.ways) else {
            continue;
        };
        if judges.is_empty() {
            judges = ways
                .iter()
                .map(|(way, _)| Judge::new(way.label.clone(), args))
                .collect();
        }
        for ((_, flow), judge) in ways.iter().zip(&mut judges) {
            let data = flow.contiguous();
            wrote |= judge.judge(style, args, data, data.len(), "live capture")?;
        }
        if wrote {
            input.announce();
        }
        if judges.iter().all(|j| j.verdict.is_some()) {
            break;
        }
    }
    if judges.is_empty() || judges.iter().any(|j| j.verdict.is_none()) {
        // The end of the input: a verdict on what there is for each stream without one.
        let streams = input.finish()?.pop().map(|(_, s)| s).unwrap_or_default();
        if judges.is_empty() {
            judges = streams
                .iter()
                .map(|s| Judge::new(s.label.clone(), args))
                .collect();
        }
        for (stream, judge) in streams.iter().zip(&mut judges) {
            if judge.verdict.is_none() {
                let sniffed = sniff::sniff(&stream.data);
                let len = stream.data.len();
                judge.verdict = Some(verdict(style, args, &stream.label, len, &sniffed, None)?);
                input.announce();
            }
        }
    }
    end(judges
        .into_iter()
        .filter(|j| j.verdict == Some(false))
        .map(|j| j.label)
        .collect())
}

fn print_answer(style: &Style, rank: usize, a: &Answer) -> Result<()> {
    outln!(
        "  {}  {}",
        style.heading(&format!("{rank}. --framing {}", a.specs[0])),
        style.dim(&format!(
            "(confidence {}, {:.0} bits of evidence)",
            percent(a.confidence),
            a.bits
        ))
    )?;
    if a.specs.len() > 1 {
        outln!(
            "       same frames: {}",
            a.specs[1..]
                .iter()
                .take(4)
                .cloned()
                .collect::<Vec<_>>()
                .join("  ")
        )?;
    }
    for line in &a.evidence {
        outln!("       {line}")?;
    }
    if let Some(undecided) = &a.undecided {
        outln!("       {undecided}")?;
    }
    Ok(())
}

fn answer_json(stream: &str, rank: usize, a: &Answer) -> serde_json::Value {
    json!({
        "event": "answer",
        "stream": stream,
        "rank": rank,
        "spec": a.specs[0],
        "specs": a.specs,
        "confidence": rounded(a.confidence, 1000.0),
        "bits": rounded(a.bits, 10.0),
        "frames": a.frames,
        "explained": a.explained,
        "partial": a.partial,
        "examined": a.examined,
        "coverage": rounded(a.coverage(), 1000.0),
        "stopped": a.stopped,
        "evidence": a.evidence,
        "undecided": a.undecided,
    })
}

fn not_confident(sniffed: &sniff::Sniffed) -> String {
    let best = sniffed.answers.iter().find(|a| a.specs[0] != "eof");
    match best {
        Some(b) => format!(
            "no framing is confident: the best, {}, is {} likely (too few frames, or not framed \
             this way)",
            b.specs[0],
            percent(b.confidence)
        ),
        None => "no framing finds frames: one message, or not framed".to_owned(),
    }
}

fn percent(p: f64) -> String {
    if p > 0.999 {
        ">99.9 %".to_owned()
    } else {
        format!("{:.1} %", 100.0 * p)
    }
}

fn rounded(x: f64, scale: f64) -> f64 {
    (x * scale).round() / scale
}
