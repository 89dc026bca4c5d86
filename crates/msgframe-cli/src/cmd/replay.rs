//! `msgframe replay`: play a capture's requests against a host and compare its replies with the
//! captured ones.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use msgframe_capture::{detect_format, FileFormat};
use msgframe_codec::header::hex;
use msgframe_codec::{sniff, Framing};
use serde_json::json;

use crate::cli::{Iso8583Encoding, ReplayArgs, Timing};
use crate::dump::{self, Style};
use crate::error::{Failure, Result};
use crate::input;
use crate::iso8583;
use crate::out::{errln, out, outln};
use crate::replay::diff::Masks;
use crate::replay::drive::{self, Pacing, Played, Settings, Target};
use crate::replay::pair::{Key, Matching};
use crate::replay::plan::{self, Script, Which};
use crate::replay::{check, percentiles, Checked, Outcome};

pub async fn run(args: ReplayArgs) -> Result<()> {
    let style = Style::new(args.common.json);
    if args.simplex_in.is_some() && (args.short || args.concurrency.get() > 1) {
        return Err(Failure::usage(
            "a simplex replay is one pair of links: --short and --concurrency do not apply",
        ));
    }
    if args.timing == Timing::Captured && args.concurrency.get() > 1 {
        return Err(Failure::usage(
            "--concurrency is for fast or --rate pacing: --timing captured already plays \
             conversations side by side, each at its captured time",
        ));
    }
    let name = args.capture.display().to_string();
    let data = input::read_file(&args.capture)?;
    let raw = detect_format(&data) == FileFormat::Raw;
    let (scripts, framing, reply_framing) = if raw {
        raw_script(&args, &style, &name, &data)?
    } else {
        captured_scripts(&args, &style, &name, &data)?
    };
    drop(data);
    for s in &scripts {
        for w in &s.warnings {
            warn(&style, w)?;
        }
    }
    let requests: usize = scripts.iter().map(|s| s.requests.len()).sum();
    let one_each = plan::one_exchange_each(&scripts);
    let connections = if let Some(simplex_in) = &args.simplex_in {
        format!("a simplex pair: requests on the link to --to, replies on the link to {simplex_in}")
    } else if args.short {
        "a new connection for every request".to_owned()
    } else if one_each {
        "a short connection per conversation, as captured (one exchange each)".to_owned()
    } else {
        "one connection per conversation".to_owned()
    };
    let mut pace = match (args.rate, args.timing) {
        (Some(rate), _) => format!("at most {} requests a second", rate.0),
        (None, Timing::Captured) => "at the captured times".to_owned(),
        (None, Timing::Fast) => "as fast as the host answers".to_owned(),
    };
    if args.concurrency.get() > 1 {
        pace.push_str(&format!(", {} conversations at a time", args.concurrency));
    }
    if !style.json {
        outln!(
            "{}",
            style.heading(&format!(
                "replay of {name}{}: {} conversation{}, {requests} requests, framing {framing}{}; {connections}; {pace}",
                if args.dry_run { String::new() } else { format!(" to {}", args.to) },
                scripts.len(),
                if scripts.len() == 1 { "" } else { "s" },
                if reply_framing.to_string() == framing.to_string() {
                    String::new()
                } else {
                    format!(" (replies {reply_framing})")
                },
            ))
        )?;
    }
    if args.dry_run {
        return dry_run(&args, &style, &scripts);
    }
    let tls = input::client_tls_of(&args.tls)?;
    let target = Arc::new(Target {
        to: args.to.clone(),
        simplex_in: args.simplex_in.clone(),
        tls,
    });
    let settings = Arc::new(Settings {
        framing,
        reply_framing,
        timeout: args.timeout,
        settle: args.settle,
    });
    let start = tokio::time::Instant::now();
    let pacing = Arc::new(match (args.rate, args.timing) {
        (Some(rate), _) => Pacing::Rate {
            interval: Duration::from_secs_f64(1.0 / rate.0),
            next: tokio::sync::Mutex::new(start),
        },
        (None, Timing::Captured) => Pacing::Captured {
            origin: scripts
                .iter()
                .filter_map(|s| s.requests.first())
                .map(|r| r.message.time)
                .min()
                .unwrap_or_default(),
            start,
        },
        (None, Timing::Fast) => Pacing::Fast,
    });
    // Conversations side by side at the captured pace; otherwise `--concurrency` at a time.
    let at_once = match *pacing {
        Pacing::Captured { .. } => scripts.len(),
        _ => args.concurrency.get(),
    };
    let scripts = Arc::new(scripts);
    let mut tasks = tokio::task::JoinSet::new();
    let mut played: Vec<Option<Played>> = (0..scripts.len()).map(|_| None).collect();
    let mut record = |done: std::result::Result<(usize, Played), tokio::task::JoinError>| {
        let (i, p) = done.map_err(|e| Failure::peer(format!("a replay task failed: {e}")))?;
        played[i] = Some(p);
        Ok::<(), Failure>(())
    };
    for i in 0..scripts.len() {
        if tasks.len() >= at_once {
            if let Some(done) = tasks.join_next().await {
                record(done)?;
            }
        }
        let (scripts, target, settings, pacing) = (
            Arc::clone(&scripts),
            Arc::clone(&target),
            Arc::clone(&settings),
            Arc::clone(&pacing),
        );
        let short = args.short;
        tasks.spawn(async move {
            let played = if target.simplex_in.is_some() {
                drive::play_simplex(&scripts[i], &target, &settings, &pacing).await
            } else {
                drive::play(&scripts[i], short, &target, &settings, &pacing).await
            };
            (i, played)
        });
    }
    while let Some(done) = tasks.join_next().await {
        record(done)?;
    }
    let played: Vec<Played> = played.into_iter().map(Option::unwrap_or_default).collect();
    report(&args, &style, &scripts, &played)
}

/// The scripts of a capture's conversations, and the framings (given, or sniffed and said).
fn captured_scripts(
    args: &ReplayArgs,
    style: &Style,
    name: &str,
    data: &[u8],
) -> Result<(Vec<Script>, Framing, Framing)> {
    let capture = input::capture(name, data)?;
    let which = match (args.stream, args.port) {
        (Some(i), _) => Which::Index(i),
        (None, Some(port)) => Which::Port(port),
        (None, None) => Which::All,
    };
    let framing = match &args.framing {
        Some(spec) => input::framing(spec)?,
        None => {
            // Sniffed from the client's bytes of the chosen conversations, joined: short
            // connections hold a message or two each.
            let chosen =
                plan::chosen(&capture, which).map_err(|e| Failure::data(format!("{name}: {e}")))?;
            let streams = chosen
                .iter()
                .map(|&i| &capture.conversations[i].to_server.data[..]);
            sniffed(style, name, sniff::sniff_joined(streams), chosen.len())?
        }
    };
    let reply_framing = match &args.reply_framing {
        Some(spec) => input::framing(spec)?,
        None => framing.clone(),
    };
    let scripts = match args.reply_port {
        Some(reply_port) => {
            plan::simplex(&capture, which, reply_port, &framing, &reply_framing).map(|s| vec![s])
        }
        None => plan::scripts(&capture, which, &framing, &reply_framing),
    }
    .map_err(|e| Failure::data(format!("{name}: {e}")))?;
    Ok((scripts, framing, reply_framing))
}

/// The framing `sniff` was confident of (`result`) for the client's messages of `conversations`
/// conversations, said on stderr; a usage error when none is.
fn sniffed(
    style: &Style,
    name: &str,
    result: sniff::Sniffed,
    conversations: usize,
) -> Result<Framing> {
    match result.confident() {
        Some(answer) => {
            let spec = answer.specs[0].clone();
            let joined = if conversations > 1 {
                format!(" of {conversations} conversations, joined")
            } else {
                String::new()
            };
            let line = format!(
                "{name}: framing sniffed from the client's messages{joined}: {spec} ({:.1} % confident; give --framing to be sure)",
                100.0 * answer.confidence
            );
            if style.json {
                dump::json_line(json!({
                    "event": "sniffed",
                    "spec": spec,
                    "confidence": (answer.confidence * 1000.0).round() / 1000.0,
                    "conversations": conversations,
                }))?;
            } else {
                errln!("msgframe: {line}");
            }
            input::framing(&spec)
        }
        None => Err(Failure::usage(format!(
            "{name}: no framing is confident for the client's messages: give --framing (`msgframe sniff {name}` shows the candidates)"
        ))),
    }
}

/// A raw stream of the client's messages, with `--replies`: the old host's replies.
fn raw_script(
    args: &ReplayArgs,
    style: &Style,
    name: &str,
    data: &[u8],
) -> Result<(Vec<Script>, Framing, Framing)> {
    let Some(replies) = &args.replies else {
        return Err(Failure::usage(format!(
            "{name} is not a pcap or pcapng capture: a raw stream of requests needs --replies FILE (the old host's replies) to compare with"
        )));
    };
    if args.port.is_some()
        || args.stream.is_some()
        || args.reply_port.is_some()
        || args.timing == Timing::Captured
    {
        return Err(Failure::usage(format!(
            "{name} is a raw stream: --port, --stream, --reply-port and --timing captured apply to captures"
        )));
    }
    let framing = match &args.framing {
        Some(spec) => input::framing(spec)?,
        None => sniffed(style, name, sniff::sniff(data), 1)?,
    };
    let reply_framing = match &args.reply_framing {
        Some(spec) => input::framing(spec)?,
        None => framing.clone(),
    };
    let replies = input::read_file(replies)?;
    let script =
        plan::raw(name, data, &replies, &framing, &reply_framing).map_err(Failure::data)?;
    Ok((vec![script], framing, reply_framing))
}

fn warn(style: &Style, text: &str) -> Result<()> {
    if style.json {
        dump::json_line(json!({"event": "warning", "message": text}))
    } else {
        errln!("msgframe: warning: {text}");
        Ok(())
    }
}

/// `--dry-run`: every request that would go to `--to`, and nothing sent.
fn dry_run(args: &ReplayArgs, style: &Style, scripts: &[Script]) -> Result<()> {
    for s in scripts {
        if !style.json {
            outln!(
                "#{} {}: {} requests, {} replies captured",
                s.index,
                s.label,
                s.requests.len(),
                s.replies.len()
            )?;
        }
        for (i, r) in s.requests.iter().enumerate() {
            let m = &r.message;
            if style.json {
                dump::json_line(json!({
                    "event": "would-send",
                    "to": args.to,
                    "conversation": s.index,
                    "request": i + 1,
                    "after_replies": r.replies_before,
                    "ts": dump::timestamp(m.time),
                    "packet": m.packet,
                    "length": m.body.len(),
                    "hex": hex::display(&m.body).to_string(),
                }))?;
            } else {
                outln!(
                    "  {}  request {}: {} bytes (packet {}), after {} repl{}",
                    dump::timestamp(m.time),
                    i + 1,
                    m.body.len(),
                    m.packet,
                    r.replies_before,
                    if r.replies_before == 1 { "y" } else { "ies" }
                )?;
                out!("{}", style.hexdump(&m.body, "    "))?;
            }
        }
    }
    let requests: usize = scripts.iter().map(|s| s.requests.len()).sum();
    if style.json {
        dump::json_line(json!({"event": "dry-run", "to": args.to, "requests": requests}))
    } else {
        outln!(
            "{}",
            style.dim(&format!(
                "dry run: {requests} requests would go to {}; nothing was sent",
                args.to
            ))
        )
    }
}

/// Where the ISO 8583 part of each body starts and how it is encoded, as the options say.
fn iso_layout(args: &ReplayArgs) -> iso8583::Layout {
    iso8583::Layout {
        header: args.iso8583_header,
        encoding: match args.iso8583_encoding {
            Iso8583Encoding::Auto => None,
            Iso8583Encoding::Ascii => Some(iso8583::Encoding::Ascii),
            Iso8583Encoding::Bcd => Some(iso8583::Encoding::Bcd),
        },
    }
}

/// The masks and matching the options give.
fn masks(args: &ReplayArgs) -> (Masks, Matching) {
    let masks = Masks {
        spans: args.ignore.clone(),
        fields: args.ignore_field.clone().map(|f| f.0).unwrap_or_default(),
        iso: iso_layout(args),
    };
    let matching = match (args.key_at, &args.key_fields) {
        (Some((offset, len)), _) => Matching::Key(Key::Span { offset, len }),
        (None, Some(fields)) => Matching::Key(Key::Fields {
            fields: fields.0.clone(),
            layout: iso_layout(args),
        }),
        (None, None) => Matching::Order,
    };
    (masks, matching)
}

/// Every pair judged and shown, the notes, the summary; exit status 1 unless all are equal.
fn report(args: &ReplayArgs, style: &Style, scripts: &[Script], played: &[Played]) -> Result<()> {
    let (masks, matching) = masks(args);
    let mut counts = [0usize; 4];
    let (mut old, mut new) = (Vec::new(), Vec::new());
    for (script, played) in scripts.iter().zip(played) {
        for note in &played.notes {
            let note = format!("#{}: {note}", script.index);
            if style.json {
                dump::json_line(
                    json!({"event": "note", "conversation": script.index, "message": note}),
                )?;
            } else {
                errln!("msgframe: {note}");
            }
        }
        for c in check(script, played, &matching, &masks) {
            counts[match c.outcome {
                Outcome::Equal => 0,
                Outcome::Different(_) => 1,
                Outcome::Missing => 2,
                Outcome::Unexpected => 3,
            }] += 1;
            old.extend(c.old_latency);
            new.extend(c.new_latency);
            show(args, style, &c)?;
        }
    }
    let sent: usize = played.iter().map(|p| p.sent.iter().flatten().count()).sum();
    let requests: usize = scripts.iter().map(|s| s.requests.len()).sum();
    let opened: usize = played.iter().map(|p| p.connections).sum();
    let pairs: usize = counts.iter().sum();
    let [equal, different, missing, unexpected] = counts;
    let (old, new) = (percentiles(&mut old), percentiles(&mut new));
    if style.json {
        let table = |p: Option<[Duration; 4]>| {
            p.map(|[p50, p90, p99, max]| {
                json!({"p50_ms": dump::millis(p50), "p90_ms": dump::millis(p90), "p99_ms": dump::millis(p99), "max_ms": dump::millis(max)})
            })
        };
        dump::json_line(json!({
            "event": "summary",
            "to": args.to,
            "pairs": pairs,
            "equal": equal,
            "different": different,
            "missing": missing,
            "unexpected": unexpected,
            "requests": requests,
            "sent": sent,
            "connections": opened,
            "latency": {"captured": table(old), "new": table(new)},
        }))?;
    } else {
        let line = format!(
            "{pairs} pairs: {equal} equal, {different} different, {missing} missing, {unexpected} unexpected ({sent} of {requests} requests sent on {opened} connection{})",
            if opened == 1 { "" } else { "s" }
        );
        outln!(
            "{}",
            if equal == pairs {
                style.heading(&line)
            } else {
                style.bad(&line)
            }
        )?;
        if old.is_some() || new.is_some() {
            outln!(
                "{}",
                style.dim(&format!(
                    "{:<10}{:>12}{:>12}{:>12}{:>12}",
                    "latency", "p50", "p90", "p99", "max"
                ))
            )?;
            for (label, p) in [("captured", old), ("new", new)] {
                match p {
                    Some(p) => outln!(
                        "{label:<10}{:>12}{:>12}{:>12}{:>12}",
                        dump::duration(p[0]),
                        dump::duration(p[1]),
                        dump::duration(p[2]),
                        dump::duration(p[3])
                    )?,
                    None => outln!("{label:<10}{:>12}", "-")?,
                }
            }
        }
    }
    if equal == pairs && sent == requests {
        Ok(())
    } else if equal == pairs {
        Err(Failure::peer(format!(
            "{} of {requests} requests could not be sent",
            requests - sent
        ))
        .in_output())
    } else {
        Err(Failure::peer(format!(
            "{} of {pairs} pairs are not equal: {different} different, {missing} missing, {unexpected} unexpected",
            pairs - equal
        ))
        .in_output())
    }
}

/// One pair: a line for those not equal (every one with --all), a JSON event for each.
fn show(args: &ReplayArgs, style: &Style, c: &Checked) -> Result<()> {
    let request = c.pair.request.map(|i| i + 1);
    if style.json {
        let mut line = json!({
            "event": "pair",
            "conversation": c.conversation,
            "pair": c.number,
            "request": request,
            "outcome": c.outcome.name(),
            "captured_hex": c.captured.as_deref().map(|b| hex::display(b).to_string()),
            "new_hex": c.new.as_deref().map(|b| hex::display(b).to_string()),
            "captured_latency_ms": c.old_latency.map(dump::millis),
            "new_latency_ms": c.new_latency.map(dump::millis),
        });
        if let Outcome::Different(d) = &c.outcome {
            line["offset"] = json!(d.captured_offset);
            line["new_offset"] = json!(d.new_offset);
            line["part"] = json!(d.part);
            line["captured_bytes"] = json!(hex::display(&d.captured).spaced().to_string());
            line["new_bytes"] = json!(hex::display(&d.new).spaced().to_string());
        }
        if !c.notes.is_empty() {
            line["notes"] = json!(c.notes);
        }
        return dump::json_line(line);
    }
    if c.outcome == Outcome::Equal && !args.all {
        return Ok(());
    }
    let which = match request {
        Some(r) => format!("#{} pair {} (request {r})", c.conversation, c.number),
        None => format!("#{} pair {}", c.conversation, c.number),
    };
    let what = match &c.outcome {
        Outcome::Equal => format!("{} bytes", c.new.as_ref().map_or(0, Bytes::len)),
        Outcome::Different(d) => {
            let offset = if d.captured_offset == d.new_offset {
                format!("offset {}", d.captured_offset)
            } else {
                format!("offset {} (new reply: {})", d.captured_offset, d.new_offset)
            };
            let part = d.part.as_ref().map_or(String::new(), |p| format!(" ({p})"));
            let bytes = |b: &[u8]| {
                if b.is_empty() {
                    "(ends)".to_owned()
                } else {
                    hex::display(b).spaced().to_string()
                }
            };
            format!(
                "first difference at {offset}{part}: captured {}, new {}",
                bytes(&d.captured),
                bytes(&d.new)
            )
        }
        Outcome::Missing => format!(
            "no reply within {} (captured: {} bytes)",
            dump::duration(args.timeout),
            c.captured.as_ref().map_or(0, Bytes::len)
        ),
        Outcome::Unexpected => format!(
            "a reply the capture does not have: {} bytes",
            c.new.as_ref().map_or(0, Bytes::len)
        ),
    };
    let label = format!("{:<11}", c.outcome.name());
    let label = if c.outcome == Outcome::Equal {
        style.dim(&label)
    } else {
        style.bad(&label)
    };
    outln!("{label}{which}: {what}")?;
    for note in &c.notes {
        outln!("{}", style.dim(&format!("           {note}")))?;
    }
    Ok(())
}
