//! `msgframe sniff`: guess the framing of a captured stream.

use msgframe_codec::sniff;
use serde_json::json;

use crate::cli::SniffArgs;
use crate::dump::{self, Style};
use crate::error::{Failure, Result};
use crate::input;
use crate::out::outln;

pub fn run(args: SniffArgs) -> Result<()> {
    let style = Style::new(args.common.json);
    let mut unexplained = Vec::new();
    for stream in input::streams(&args.input)? {
        let candidates = sniff::sniff(&stream.data);
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
        if candidates.is_empty() {
            unexplained.push(stream.label.clone());
            if !style.json {
                outln!("  no framing finds a frame at the start of this stream")?;
            }
            continue;
        }
        for (rank, c) in candidates.iter().take(args.top.max(1)).enumerate() {
            if style.json {
                dump::json_line(json!({
                    "event": "candidate",
                    "stream": stream.label,
                    "rank": rank + 1,
                    "spec": c.spec,
                    "score": (c.score * 10.0).round() / 10.0,
                    "frames": c.frames,
                    "explained": c.explained,
                    "examined": c.examined,
                    "coverage": (c.coverage() * 1000.0).round() / 1000.0,
                    "evidence": c.evidence,
                }))?;
                continue;
            }
            outln!(
                "  {}  {}",
                style.heading(&format!("{}. --framing {}", rank + 1, c.spec)),
                style.dim(&format!("(score {:.1})", c.score))
            )?;
            for line in &c.evidence {
                outln!("       {line}")?;
            }
        }
    }
    if unexplained.is_empty() {
        Ok(())
    } else {
        Err(Failure::data(format!(
            "no framing explains {}",
            unexplained.join(", ")
        )))
    }
}
