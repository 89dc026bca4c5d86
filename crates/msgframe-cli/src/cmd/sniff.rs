//! `msgframe sniff`: guess the framing of a captured stream, with a confidence.

use msgframe_codec::sniff::{self, Answer};
use serde_json::json;

use crate::cli::SniffArgs;
use crate::dump::{self, Style};
use crate::error::{Failure, Result};
use crate::input;
use crate::out::outln;

pub fn run(args: SniffArgs) -> Result<()> {
    let style = Style::new(args.common.json);
    let mut undecided = Vec::new();
    for stream in input::streams(&args.input)? {
        let sniffed = sniff::sniff(&stream.data);
        if !style.json {
            outln!(
                "{}",
                style.heading(&format!("{}: {} bytes", stream.label, stream.data.len()))
            )?;
            if stream.data.len() > sniff::SNIFF_LIMIT {
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
                dump::json_line(answer_json(&stream.label, rank + 1, a))?;
            } else {
                print_answer(&style, rank + 1, a)?;
            }
        }
        let confident = sniffed.confident();
        if style.json {
            dump::json_line(json!({
                "event": "verdict",
                "stream": stream.label,
                "confident": confident.is_some(),
                "spec": confident.map(|a| a.specs[0].clone()),
                "confidence": sniffed.answers.first().map(|a| rounded(a.confidence, 1000.0)),
                "tried": sniffed.tried,
            }))?;
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
                None => outln!("  {}", not_confident(&sniffed))?,
            }
        }
        if confident.is_none() {
            undecided.push(stream.label.clone());
        }
    }
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
