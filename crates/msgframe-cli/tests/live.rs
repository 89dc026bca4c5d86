//! `split -` and `sniff -` on a capture (or raw bytes) written into stdin slowly, as
//! `tcpdump -U -w -` writes one: frames and verdicts must come out while the capture is still
//! being written, and the whole output must be what the same capture read from a file gives.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use msgframe_capture::synth::{Conversation, Format};
use msgframe_codec::{Encoder, Framing};
use support::msgframe;

/// How long a test waits for the command's output before it fails.
const PATIENCE: Duration = Duration::from_secs(20);

/// The pause between two records written into stdin.
const PAUSE: Duration = Duration::from_millis(20);

fn temp_file(name: &str, data: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("msgframe-cli-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path
}

fn ascii4(body: &[u8]) -> Vec<u8> {
    let framing: Framing = "ascii:4".parse().unwrap();
    let mut out = BytesMut::new();
    framing.encode(body, &mut out).unwrap();
    out.to_vec()
}

/// A conversation of `exchanges` requests and replies in `ascii:4`: every fifth request in two
/// segments, one retransmitted and two captured the wrong way round.
fn exchanges(exchanges: usize) -> Conversation {
    let mut c = Conversation::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 5000));
    for i in 1..=exchanges {
        let request =
            ascii4(format!("0200{i:06}0000{:012}{}", i * 125, "*".repeat(i % 7)).as_bytes());
        match i % 10 {
            5 => {
                let (a, b) = request.split_at(9);
                c.client_sends(a).client_sends(b);
            }
            7 => {
                c.client_sends_twice(&request);
            }
            9 => {
                let (a, b) = request.split_at(12);
                c.client_sends_reordered(a, b);
            }
            _ => {
                c.client_sends(&request);
            }
        }
        c.server_sends(&ascii4(format!("0210{i:06}00 approved").as_bytes()));
    }
    c
}

/// A capture's file header (pcapng: its section header and interface blocks), then its records
/// one by one, as the synthesised files lay them out.
fn records(file: &[u8], format: Format) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut at = match format {
        Format::PcapNg => {
            let shb = u32::from_le_bytes(file[4..8].try_into().unwrap()) as usize;
            let idb = u32::from_le_bytes(file[shb + 4..shb + 8].try_into().unwrap()) as usize;
            shb + idb
        }
        _ => 24,
    };
    out.push(&file[..at]);
    while at < file.len() {
        let len = match format {
            Format::PcapNg => u32::from_le_bytes(file[at + 4..at + 8].try_into().unwrap()) as usize,
            _ => 16 + u32::from_be_bytes(file[at + 8..at + 12].try_into().unwrap()) as usize,
        };
        out.push(&file[at..at + len]);
        at += len;
    }
    out
}

/// A `msgframe` fed slowly: each of `chunks` written into its stdin with a pause before the
/// next, by a thread of its own, while its stdout is read line by line, each line with the
/// instant it arrived. Killed when dropped.
struct Fed {
    child: Child,
    lines: mpsc::Receiver<(Instant, String)>,
    /// The instant the last byte was written (or the writer gave up: the command stopped
    /// reading).
    written: Option<std::thread::JoinHandle<Instant>>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Fed {
    fn start(args: &[&str], chunks: Vec<Vec<u8>>) -> Fed {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("msgframe"))
            .args(args)
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let written = std::thread::spawn(move || {
            for (i, chunk) in chunks.iter().enumerate() {
                if i > 0 {
                    std::thread::sleep(PAUSE);
                }
                if stdin.write_all(chunk).and_then(|()| stdin.flush()).is_err() {
                    break;
                }
            }
            Instant::now()
        });
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { return };
                if tx.send((Instant::now(), line)).is_err() {
                    return;
                }
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Fed {
            child,
            lines,
            written: Some(written),
            stderr: Some(stderr),
        }
    }

    /// Every line it prints, with when it arrived, up to its end; when the writer finished; its
    /// exit code and stderr. Fails the test past [`PATIENCE`].
    fn finish(mut self) -> (Vec<(Instant, String)>, Instant, Option<i32>, String) {
        let deadline = Instant::now() + PATIENCE;
        let mut lines = Vec::new();
        loop {
            let left = deadline
                .checked_duration_since(Instant::now())
                .unwrap_or_else(|| panic!("no end of output within {PATIENCE:?}: {lines:#?}"));
            match self.lines.recv_timeout(left) {
                Ok(line) => lines.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("no end of output within {PATIENCE:?}: {lines:#?}")
                }
            }
        }
        let code = loop {
            match self.child.try_wait().unwrap() {
                Some(status) => break status.code(),
                None if Instant::now() < deadline => std::thread::sleep(PAUSE),
                None => panic!("still running {PATIENCE:?} after it started"),
            }
        };
        let written = self.written.take().unwrap().join().unwrap();
        let stderr = self.stderr.take().unwrap().join().unwrap();
        (lines, written, code, stderr)
    }
}

impl Drop for Fed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What `msgframe ARGS` prints for a file, the name of the file replaced by `-`; and its exit
/// code.
fn from_file(args: &[&str], path: &std::path::Path) -> (Vec<String>, Option<i32>) {
    let out = msgframe()
        .args(args)
        .arg(path)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout)
        .unwrap()
        .replace(path.to_str().unwrap(), "-");
    (text.lines().map(str::to_owned).collect(), out.status.code())
}

fn text(lines: &[(Instant, String)]) -> Vec<String> {
    lines.iter().map(|(_, line)| line.clone()).collect()
}

/// The lines that show a frame.
fn is_frame(line: &str) -> bool {
    line.contains("bytes on the wire") || line.contains("\"event\":\"frame\"")
}

/// The first frames' lines came out while the input was still being written.
fn frames_came_early(lines: &[(Instant, String)], written: Instant, what: &str) {
    let frames: Vec<&(Instant, String)> = lines.iter().filter(|(_, l)| is_frame(l)).collect();
    assert!(frames.len() >= 10, "{what}: {frames:#?}");
    for (i, (at, line)) in frames.iter().take(5).enumerate() {
        assert!(
            *at < written,
            "{what}: frame {i} came out {:?} after the input was all written: {line}",
            at.duration_since(written)
        );
    }
}

#[test]
fn split_of_a_capture_on_stdin_shows_each_frame_as_it_is_captured() {
    let conversation = exchanges(30);
    for (format, extra) in [
        (Format::Pcap, &[][..]),
        (Format::PcapNg, &["--json"][..]),
        (Format::Pcap, &["--brief", "--direction", "to-client"][..]),
    ] {
        let file = conversation.write(format);
        let chunks = records(&file, format)
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect();
        let mut args = vec!["split", "--framing", "ascii:4"];
        args.extend_from_slice(extra);
        let what = format!("{format:?} {extra:?}");
        let (lines, written, code, stderr) = {
            let mut live = args.clone();
            live.push("-");
            Fed::start(&live, chunks).finish()
        };
        assert_eq!(code, Some(0), "{what}: {stderr}");
        frames_came_early(&lines, written, &what);
        assert!(
            stderr.contains("following TCP conversation #0, 10.0.0.1:40000 -> 10.0.0.2:5000"),
            "{what}: {stderr}"
        );
        // The same as from the file, but for the heading (the file's knows its length).
        let path = temp_file(&format!("live-{format:?}.cap"), &file);
        let (expected, file_code) = from_file(&args, &path);
        assert_eq!(file_code, Some(0));
        let mut got = text(&lines);
        let json = extra.contains(&"--json");
        if !json {
            let heading = got.remove(0);
            assert!(heading.ends_with("as it arrives"), "{what}: {heading}");
        }
        let expected = &expected[usize::from(!json)..];
        assert_eq!(got, expected, "{what}");
        let frames = got.iter().filter(|l| is_frame(l)).count();
        assert_eq!(frames, if extra.len() > 1 { 30 } else { 60 }, "{what}");
    }
}

#[test]
fn split_of_raw_bytes_on_stdin_shows_each_frame_as_it_arrives() {
    // Frames written one at a time, the last cut short.
    let mut chunks: Vec<Vec<u8>> = (1..=20)
        .map(|i| ascii4(format!("0800{i:06}").as_bytes()))
        .collect();
    chunks.push(b"0010abc".to_vec());
    let (lines, written, code, stderr) =
        Fed::start(&["split", "-f", "ascii:4", "-"], chunks.clone()).finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    frames_came_early(&lines, written, "raw");
    let path = temp_file("live-raw.bin", &chunks.concat());
    let (expected, _) = from_file(&["split", "-f", "ascii:4"], &path);
    let got = text(&lines);
    assert_eq!(got[0], "-: framing ascii:4, as it arrives");
    assert_eq!(got[1..], expected[1..]);
    assert!(
        got.last()
            .unwrap()
            .contains("20 frames; the stream ends inside a frame"),
        "{got:#?}"
    );
    // An invalid frame: said where, exit status 3, as for a file.
    let chunks = vec![ascii4(b"0800"), b"00x4oops".to_vec(), ascii4(b"0810")];
    let (lines, _, code, stderr) = Fed::start(&["split", "-f", "ascii:4", "-"], chunks).finish();
    assert_eq!(code, Some(3), "{stderr}");
    let got = text(&lines);
    assert!(
        got.last()
            .unwrap()
            .contains("not a valid frame at offset 8"),
        "{got:#?}"
    );
}

#[test]
fn a_capture_redirected_from_a_file_is_split_as_the_file_is() {
    let file = exchanges(5).write(Format::PcapNg);
    let path = temp_file("live-redirected.pcapng", &file);
    for extra in [&[][..], &["--json"]] {
        let mut args = vec!["split", "-f", "ascii:4"];
        args.extend_from_slice(extra);
        let (expected, _) = from_file(&args, &path);
        args.push("-");
        let out = Command::new(assert_cmd::cargo::cargo_bin("msgframe"))
            .args(&args)
            .env("NO_COLOR", "1")
            .stdin(std::fs::File::open(&path).unwrap())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let got: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(got, expected, "{extra:?}");
    }
}

#[test]
fn sniff_of_a_capture_on_stdin_decides_as_soon_as_it_is_confident() {
    let file = exchanges(30).write(Format::Pcap);
    let chunks: Vec<Vec<u8>> = records(&file, Format::Pcap)
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    let (lines, written, code, stderr) = Fed::start(
        &["sniff", "--frames", "10", "--top", "1", "-"],
        chunks.clone(),
    )
    .finish();
    assert_eq!(code, Some(0), "{stderr}");
    let verdicts: Vec<&(Instant, String)> = lines
        .iter()
        .filter(|(_, l)| l.contains("→ --framing"))
        .collect();
    assert_eq!(verdicts.len(), 2, "{lines:#?}");
    for (at, line) in &verdicts {
        assert!(line.contains("--framing ascii:4"), "{line}");
        assert!(*at < written, "{line}: after the input was all written");
    }
    let decided: Vec<&(Instant, String)> = lines
        .iter()
        .filter(|(_, l)| l.contains("decided after"))
        .collect();
    assert_eq!(decided.len(), 2, "{lines:#?}");
    assert!(
        decided[0]
            .1
            .contains("frames of a live capture (--frames N to wait for more)"),
        "{decided:#?}"
    );
    assert!(stderr.contains("following TCP conversation #0"), "{stderr}");

    // In JSON, the verdict says it was given live, and after how many frames.
    let (lines, _, code, _) = Fed::start(
        &[
            "sniff",
            "--frames",
            "10",
            "--json",
            "--direction",
            "to-server",
            "-",
        ],
        chunks,
    )
    .finish();
    assert_eq!(code, Some(0));
    let verdict: serde_json::Value = lines
        .iter()
        .map(|(_, l)| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["event"] == "verdict")
        .unwrap();
    assert_eq!(verdict["spec"], "ascii:4", "{verdict}");
    assert_eq!(verdict["live"], true, "{verdict}");
    let frames = verdict["frames"].as_u64().unwrap();
    assert!((10..30).contains(&frames), "{verdict}");
}

#[test]
fn sniff_of_a_short_capture_on_stdin_judges_at_its_end_as_for_a_file() {
    let file = exchanges(6).write(Format::PcapNg);
    let chunks = records(&file, Format::PcapNg)
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    let (lines, _, code, stderr) = Fed::start(&["sniff", "--frames", "10", "-"], chunks).finish();
    let path = temp_file("live-short.pcapng", &file);
    let (expected, file_code) = from_file(&["sniff"], &path);
    assert_eq!(code, file_code, "{stderr}");
    assert_eq!(text(&lines), expected);
    assert!(!text(&lines).iter().any(|l| l.contains("decided after")));
}

#[test]
fn sniff_of_raw_bytes_on_stdin_decides_before_they_end() {
    let chunks: Vec<Vec<u8>> = (1..=60)
        .map(|i| ascii4(format!("0200{i:06}0000{:012}{}", i * 125, "*".repeat(i % 7)).as_bytes()))
        .collect();
    let (lines, written, code, stderr) =
        Fed::start(&["sniff", "--frames", "10", "--top", "1", "-"], chunks).finish();
    assert_eq!(code, Some(0), "{stderr}");
    let (at, verdict) = lines
        .iter()
        .find(|(_, l)| l.contains("→ --framing"))
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert!(verdict.contains("ascii:4"), "{verdict}");
    assert!(*at < written, "{verdict}: after the input was all written");
    assert!(
        lines
            .iter()
            .any(|(_, l)| l.contains("frames of a live stream")),
        "{lines:#?}"
    );
}

#[test]
fn split_of_one_conversation_among_several_on_stdin_is_that_conversation_from_the_file() {
    // Two conversations, their packets interleaved; the second is followed (and only its bytes
    // kept while reading).
    let mut other = Conversation::new(([10, 0, 0, 3], 40001), ([10, 0, 0, 2], 5000));
    for n in 0..10u32 {
        other.client_sends(&ascii4(format!("other {n}").as_bytes()));
    }
    let file = msgframe_capture::synth::interleaved(&[other, exchanges(10)], Format::Pcap);
    let args = ["split", "--framing", "ascii:4", "--json", "--stream", "1"];
    let (lines, _, code, stderr) =
        Fed::start(&[&args[..], &["-"]].concat(), vec![file.clone()]).finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("following TCP conversation #1, 10.0.0.1:40000"),
        "{stderr}"
    );
    let path = temp_file("several.pcap", &file);
    let (expected, _) = from_file(&args, &path);
    assert_eq!(text(&lines), expected);
    assert_eq!(text(&lines).iter().filter(|l| is_frame(l)).count(), 20);
}

#[test]
fn a_live_capture_ending_inside_a_frame_or_missing_bytes_ends_as_the_file_does() {
    // Frames cut as they come are let go of: the ends, offsets and lengths still count them.
    let mut cut_short = exchanges(12);
    cut_short.client_sends(b"0040 only part of it");
    let mut missing = exchanges(12);
    missing
        .client_sends(&ascii4(b"before the hole"))
        .client_sends_uncaptured(&ascii4(b"lost"))
        .client_sends(&ascii4(b"after the hole"));
    for (what, conversation) in [("cut short", cut_short), ("missing bytes", missing)] {
        let file = conversation.write(Format::Pcap);
        let chunks = records(&file, Format::Pcap)
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect();
        let args = [
            "split",
            "--framing",
            "ascii:4",
            "--json",
            "--direction",
            "to-server",
        ];
        let (lines, _, code, stderr) = Fed::start(&[&args[..], &["-"]].concat(), chunks).finish();
        let path = temp_file(&format!("ends-{}.pcap", what.replace(' ', "-")), &file);
        let (expected, file_code) = from_file(&args, &path);
        assert_eq!(code, file_code, "{what}: {stderr}");
        assert_eq!(text(&lines), expected, "{what}");
    }
}

/// Twelve short connections to port 5000 (the last four from a client port used again), each a
/// request and its reply, the last reply cut short; beside them, a conversation on port 80.
fn short_connections() -> Vec<u8> {
    use msgframe_capture::synth::{Recorder, Side};
    let ms = Duration::from_millis;
    let base = Duration::from_secs(1_764_900_000);
    let mut recorder = Recorder::new(Vec::new()).unwrap();
    let server = "10.0.0.2:5000".parse().unwrap();
    let mut web = recorder
        .open(
            "10.0.0.9:41000".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
            base,
        )
        .unwrap();
    for i in 0..12u64 {
        let t = base + ms(10 * i + 1);
        let port = if i < 8 { 40000 + i as u16 } else { 40100 };
        let client = format!("10.0.0.1:{port}").parse().unwrap();
        let mut link = recorder.open(client, server, t).unwrap();
        let request = ascii4(format!("0200{i:06}").as_bytes());
        recorder
            .data(&mut link, Side::Client, &request, t + ms(1))
            .unwrap();
        recorder
            .data(&mut web, Side::Client, b"GET / HTTP/1.1\r\n", t + ms(2))
            .unwrap();
        let mut reply = ascii4(format!("0210{i:06}00").as_bytes());
        if i == 11 {
            reply.truncate(9);
        }
        recorder
            .data(&mut link, Side::Server, &reply, t + ms(3))
            .unwrap();
        recorder.close(&mut link, Side::Client, t + ms(4)).unwrap();
    }
    recorder.into_inner()
}

#[test]
fn split_of_every_conversation_on_a_port_follows_short_connections_as_they_come() {
    let file = short_connections();
    let path = temp_file("short-connections.pcap", &file);
    for extra in [
        &[][..],
        &["--json"],
        &["--brief", "--direction", "to-server"],
    ] {
        let mut args = vec!["split", "--framing", "ascii:4", "--port", "5000"];
        args.extend_from_slice(extra);
        let what = format!("{extra:?}");
        let chunks: Vec<Vec<u8>> = file.chunks(160).map(<[u8]>::to_vec).collect();
        let (lines, written, code, stderr) =
            Fed::start(&[&args[..], &["-"]].concat(), chunks).finish();
        // The last reply is cut short: said, but no error (the capture may have ended first).
        let cut = !extra.contains(&"to-server");
        assert_eq!(code, Some(0), "{what}: {stderr}");
        frames_came_early(&lines, written, &what);
        assert!(
            stderr.contains("following every TCP conversation on port 5000"),
            "{what}: {stderr}"
        );
        let (expected, file_code) = from_file(&args, &path);
        assert_eq!(file_code, code, "{what}");
        let json = extra.contains(&"--json");
        let mut got = text(&lines);
        if !json {
            let (live_heading, file_heading) = (got.remove(0), &expected[0]);
            assert!(
                live_heading.ends_with("as it arrives"),
                "{what}: {live_heading}"
            );
            assert_eq!(
                file_heading,
                "-: 12 TCP conversations on port 5000, framing ascii:4, in capture order",
                "{what}"
            );
        }
        assert_eq!(got, expected[usize::from(!json)..], "{what}");
        let frames: Vec<&String> = got.iter().filter(|l| is_frame(l)).collect();
        assert_eq!(frames.len(), if cut { 23 } else { 12 }, "{what}: {got:#?}");
        // Nothing of port 80; each connection from the port used again is its own.
        assert!(!got.iter().any(|l| l.contains(":80")), "{what}");
        assert_eq!(
            frames
                .iter()
                .filter(|l| l.contains("10.0.0.1:40100"))
                .count(),
            if cut { 7 } else { 4 },
            "{what}"
        );
        let last = got.last().unwrap();
        if json {
            let total: serde_json::Value = serde_json::from_str(last).unwrap();
            assert_eq!(total["event"], "conversations", "{last}");
            assert_eq!(
                (total["count"].as_u64(), total["complete"].as_bool()),
                (Some(12), Some(false))
            );
        } else if cut {
            assert_eq!(
                last,
                "12 conversations on port 5000: 12 frames to the server, 11 frames to the clients; 1 directions end short of a whole frame (above)"
            );
            assert!(got.iter().any(|l| l.starts_with(
                "10.0.0.2:5000 -> 10.0.0.1:40100: 0 frames; the stream ends inside a frame"
            )));
        } else {
            assert_eq!(
                last,
                "12 conversations on port 5000: 12 frames to the server; every byte is in a whole frame"
            );
        }
    }
}

/// Forty short connections to port 5000, one ISO 8583-like exchange each (`ascii:4`), their
/// bodies of varied lengths.
fn forty_short_connections() -> Vec<u8> {
    use msgframe_capture::synth::{Recorder, Side};
    let ms = Duration::from_millis;
    let base = Duration::from_secs(1_764_900_000);
    let mut recorder = Recorder::new(Vec::new()).unwrap();
    let server = "10.0.0.2:5000".parse().unwrap();
    for i in 0..40u64 {
        let t = base + ms(10 * i);
        let client = format!("10.0.0.1:{}", 40000 + i).parse().unwrap();
        let mut link = recorder.open(client, server, t).unwrap();
        let request = format!(
            "0200{i:06}0000{:012}{}",
            i * 125,
            "*".repeat(i as usize % 7)
        );
        recorder
            .data(
                &mut link,
                Side::Client,
                &ascii4(request.as_bytes()),
                t + ms(1),
            )
            .unwrap();
        let reply = format!("0210{i:06}00{}", "#".repeat(i as usize % 5));
        recorder
            .data(
                &mut link,
                Side::Server,
                &ascii4(reply.as_bytes()),
                t + ms(2),
            )
            .unwrap();
        recorder.close(&mut link, Side::Client, t + ms(3)).unwrap();
    }
    recorder.into_inner()
}

#[test]
fn sniff_of_short_connections_judges_them_joined() {
    let file = forty_short_connections();
    let path = temp_file("forty-short.pcap", &file);
    // One connection alone is too short to judge.
    let one = msgframe()
        .args(["sniff", "--stream", "0"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(one.status.code(), Some(4));
    // Every connection on the port, each direction joined: confident.
    let out = msgframe()
        .args(["sniff", "--port", "5000", "--json", "--top", "1"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}");
    let verdicts: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "verdict")
        .collect();
    assert_eq!(verdicts.len(), 2, "{text}");
    for v in &verdicts {
        assert_eq!(v["spec"], "ascii:4", "{v}");
        assert!(
            v["stream"]
                .as_str()
                .unwrap()
                .contains("every conversation on port 5000"),
            "{v}"
        );
    }
    // On a pipe: decided from the connections that have ended, before the capture does.
    let chunks: Vec<Vec<u8>> = file.chunks(200).map(<[u8]>::to_vec).collect();
    let (lines, written, code, stderr) = Fed::start(
        &["sniff", "--port", "5000", "--direction", "to-server", "-"],
        chunks,
    )
    .finish();
    assert_eq!(code, Some(0), "{stderr}");
    let decided = lines
        .iter()
        .find(|(_, l)| l.contains("decided after"))
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert!(decided.0 < written, "{lines:#?}");
    assert!(
        lines.iter().any(|(_, l)| l.contains("--framing ascii:4")),
        "{lines:#?}"
    );
    // Replay sniffs the framing the same way.
    let out = msgframe()
        .arg("replay")
        .arg(&path)
        .args(["--to", "127.0.0.1:9", "--dry-run"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "framing sniffed from the client's messages of 40 conversations, joined: ascii:4"
        ),
        "{stderr}"
    );
}

/// Sends SIGINT to `child`, as Ctrl-C in its terminal does.
fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn ctrl_c_on_a_pipe_ends_with_the_summary_once_the_writer_stops() {
    let spawn = || {
        Command::new(assert_cmd::cargo::cargo_bin("msgframe"))
            .args(["split", "--framing", "ascii:4", "--brief", "-"])
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Interrupted while reading: it goes on until stdin closes (the writer, interrupted too,
    // stops), then prints what a file would end with.
    let mut child = spawn();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&ascii4(b"first")).unwrap();
    stdin.flush().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut heading = String::new();
    stdout.read_line(&mut heading).unwrap();
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.contains("body 5 bytes"), "{first}");
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(200));
    stdin.write_all(&ascii4(b"second")).unwrap();
    drop(stdin);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(rest.contains("body 6 bytes"), "{rest}");
    assert!(
        rest.contains("2 frames; every byte is in a whole frame"),
        "{rest}"
    );

    // A writer that does not stop: a second Ctrl-C ends it at once.
    let mut child = spawn();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&ascii4(b"first")).unwrap();
    stdin.flush().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(200));
    interrupt(&child);
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running after two interrupts"
        );
        std::thread::sleep(PAUSE);
    };
    assert_eq!(status.code(), Some(130));
    drop(stdin);
}
