//! `msgframe replay` on real captures: tcpdump records a client talking to `msgframe serve` on
//! loopback, and the capture is replayed against the same kind of host (every pair equal), a
//! host that changes a field and drops a reply (exactly those pairs reported), a host that
//! answers out of order (pairs found by key), over short connections and over TLS.
//!
//! Capturing needs tcpdump and root: without them these tests are skipped locally (one line
//! each) and fail in CI (`CI=true`), whose `.ci/run` installs tcpdump.

#[path = "../../msgframe-conn/tests/certs/mod.rs"]
mod certs;
mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use support::tcpdump::{self, Tcpdump};
use support::{msgframe, Running};

/// Whether this process can record captures; a failure in CI when it cannot.
fn capturing(test: &str) -> bool {
    if tcpdump::can_capture() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "tcpdump (run as root) is missing in CI: .ci/run must install it"
    );
    println!("skipping {test}: recording a capture needs tcpdump and root");
    false
}

fn dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An ISO 8583 0200 (hex bitmap) with fields 7 (transmission time), 11 (STAN) and 41
/// (terminal id): field 7 at offsets 20-29, field 11 at 30-35.
fn request(stan: u32) -> Vec<u8> {
    format!(
        "02000220000000800000120508{:04}{stan:06}TERM0042",
        stan % 10_000
    )
    .into_bytes()
}

/// An `ascii:4` frame.
fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = format!("{:04}", body.len()).into_bytes();
    f.extend_from_slice(body);
    f
}

fn read_frame(stream: &mut impl Read) -> Option<Vec<u8>> {
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).ok()?;
    let len: usize = std::str::from_utf8(&header).ok()?.parse().ok()?;
    let mut body = vec![0; len];
    stream.read_exact(&mut body).ok()?;
    Some(body)
}

fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Records, with tcpdump, `client` talking to `msgframe serve --echo` (ascii:4), into `name`.
fn record(name: &str, client: impl FnOnce(&str)) -> PathBuf {
    let serve = echo_host();
    let port: u16 = serve.addr.rsplit(':').next().unwrap().parse().unwrap();
    let file = dir().join(name);
    let capture = Tcpdump::start(&file, &[port]);
    client(&serve.addr);
    capture.stop();
    drop(serve);
    file
}

/// One connection, five exchanges one at a time, 100 ms apart.
fn one_at_a_time() -> &'static Path {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        record("one-at-a-time.pcap", |addr| {
            let mut s = connect(addr);
            for stan in 1..=5 {
                if stan > 1 {
                    thread::sleep(Duration::from_millis(100));
                }
                s.write_all(&frame(&request(stan))).unwrap();
                assert_eq!(read_frame(&mut s).unwrap(), request(stan));
            }
        })
    })
}

/// One connection, two batches of four requests in flight.
fn pipelined() -> &'static Path {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        record("pipelined.pcap", |addr| {
            let mut s = connect(addr);
            for batch in 0..2 {
                let stans: Vec<u32> = (1..=4).map(|i| batch * 4 + i).collect();
                let bytes: Vec<u8> = stans.iter().flat_map(|&n| frame(&request(n))).collect();
                s.write_all(&bytes).unwrap();
                for &n in &stans {
                    assert_eq!(read_frame(&mut s).unwrap(), request(n));
                }
            }
        })
    })
}

/// Three short connections, one exchange each.
fn short_connections() -> &'static Path {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        record("short.pcap", |addr| {
            for stan in 1..=3 {
                let mut s = connect(addr);
                s.write_all(&frame(&request(stan))).unwrap();
                assert_eq!(read_frame(&mut s).unwrap(), request(stan));
            }
        })
    })
}

/// What a test host does with the `n`th request it gets (from 1, all connections counted).
#[derive(Clone, Copy)]
enum Host {
    /// Echoes, except: the reply to request `changed` with field 7 rewritten, none to `dropped`.
    Altered { changed: usize, dropped: usize },
    /// Echoes each batch of four in reverse order; with `extra`, a network message (0800, no
    /// STAN) after each batch.
    Reversed { extra: bool },
    /// Echoes each request once `requests` have come in, all connections counted (at most 3 s
    /// later): only a replay with that many conversations at once gets its replies in time.
    Together { requests: usize },
}

/// A host on loopback behaving as `host` asks, until the test ends; its address.
fn host(host: Host) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let count = Arc::new(AtomicUsize::new(0));
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let count = Arc::clone(&count);
            thread::spawn(move || {
                let mut held = Vec::new();
                while let Some(body) = read_frame(&mut stream) {
                    let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                    let replies = match host {
                        Host::Altered { changed, dropped } => {
                            let mut reply = body;
                            if n == changed {
                                reply[20..30].copy_from_slice(b"9999999999");
                            }
                            if n == dropped {
                                continue;
                            }
                            vec![reply]
                        }
                        Host::Reversed { extra } => {
                            held.push(body);
                            if held.len() < 4 {
                                continue;
                            }
                            let mut replies: Vec<Vec<u8>> = held.drain(..).rev().collect();
                            if extra {
                                replies.push(b"08000000000000000000".to_vec());
                            }
                            replies
                        }
                        Host::Together { requests } => {
                            let until = Instant::now() + Duration::from_secs(3);
                            while count.load(Ordering::SeqCst) < requests && Instant::now() < until
                            {
                                thread::sleep(Duration::from_millis(5));
                            }
                            vec![body]
                        }
                    };
                    for reply in replies {
                        if stream.write_all(&frame(&reply)).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

/// Runs `msgframe replay CAPTURE --to TO ARGS...`: exit code, stdout, stderr.
fn replay(capture: &Path, to: &str, args: &[&str]) -> (i32, String, String) {
    let out = msgframe()
        .arg("replay")
        .arg(capture)
        .args(["--to", to, "--framing", "ascii:4", "--timeout", "1s"])
        .args(args)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// The JSON summary of a `--json` replay.
fn summary(stdout: &str) -> serde_json::Value {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "summary")
        .unwrap_or_else(|| panic!("no summary in {stdout}"))
}

fn counts(summary: &serde_json::Value) -> [u64; 5] {
    ["pairs", "equal", "different", "missing", "unexpected"].map(|k| summary[k].as_u64().unwrap())
}

fn echo_host() -> Running {
    Running::start(&[
        "serve",
        "-l",
        "127.0.0.1:0",
        "-f",
        "ascii:4",
        "--echo",
        "-q",
    ])
}

#[test]
fn a_capture_replayed_against_the_same_kind_of_host_is_all_equal() {
    if !capturing("a_capture_replayed_against_the_same_kind_of_host_is_all_equal") {
        return;
    }
    let host = echo_host();
    let (code, out, err) = replay(one_at_a_time(), &host.addr, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("5 pairs: 5 equal, 0 different, 0 missing, 0 unexpected (5 of 5 requests sent on 1 connection)"),
        "{out}"
    );
    // Latencies, captured and new.
    assert!(out.lines().any(|l| l.starts_with("captured ")), "{out}");
    assert!(out.lines().any(|l| l.starts_with("new ")), "{out}");
    let (code, out, _) = replay(one_at_a_time(), &host.addr, &["--json"]);
    assert_eq!(code, 0);
    let pairs: Vec<serde_json::Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "pair")
        .collect();
    assert_eq!(pairs.len(), 5, "--json prints every pair");
    assert!(pairs.iter().all(|p| p["outcome"] == "equal"
        && p["new_latency_ms"].is_number()
        && p["captured_latency_ms"].is_number()));
    let s = summary(&out);
    assert_eq!(counts(&s), [5, 5, 0, 0, 0]);
    assert!(s["latency"]["captured"]["p50_ms"].is_number());
}

#[test]
fn a_changed_field_and_a_dropped_reply_are_exactly_what_is_reported() {
    if !capturing("a_changed_field_and_a_dropped_reply_are_exactly_what_is_reported") {
        return;
    }
    // The host counts requests: a fresh one for each replay.
    let altered = || {
        host(Host::Altered {
            changed: 3,
            dropped: 5,
        })
    };
    let (code, out, err) = replay(one_at_a_time(), &altered(), &[]);
    assert_eq!(code, 1, "{out}{err}");
    let reported: Vec<&str> = out
        .lines()
        .filter(|l| {
            l.starts_with("different") || l.starts_with("missing") || l.starts_with("unexpected")
        })
        .collect();
    assert_eq!(reported.len(), 2, "{out}");
    assert!(
        reported[0].starts_with("different  #0 pair 3 (request 3): first difference at offset 20: captured 31 32 30 35 30 38 30 30, new 39 39 39 39 39 39 39 39"),
        "{out}"
    );
    assert!(
        reported[1].starts_with("missing    #0 pair 5 (request 5): no reply within 1.00 s"),
        "{out}"
    );
    assert!(
        out.contains("5 pairs: 3 equal, 1 different, 1 missing, 0 unexpected"),
        "{out}"
    );

    // Masks: the changed field may differ; the dropped reply is still missing.
    for mask in [&["--ignore-field", "7"][..], &["--ignore", "20:10"]] {
        let (code, out, _) = replay(one_at_a_time(), &altered(), &[mask, &["--json"]].concat());
        assert_eq!(code, 1, "{out}");
        assert_eq!(counts(&summary(&out)), [5, 4, 0, 1, 0], "{mask:?}: {out}");
    }
    // Field masks name the field a difference falls in.
    let (_, out, _) = replay(one_at_a_time(), &altered(), &["--ignore-field", "11"]);
    assert!(
        out.contains("first difference at offset 20 (field 7)"),
        "{out}"
    );
}

#[test]
fn replies_in_another_order_pair_by_key() {
    if !capturing("replies_in_another_order_pair_by_key") {
        return;
    }
    let to = host(Host::Reversed { extra: false });
    // In order, the reversed replies differ.
    let (code, out, _) = replay(pipelined(), &to, &["--json"]);
    assert_eq!(code, 1);
    assert_eq!(counts(&summary(&out))[1], 0, "{out}");
    // By STAN and terminal id, or by the STAN's bytes, every pair is equal.
    for key in [&["--key-fields", "11,41"][..], &["--key-at", "30:6"]] {
        let (code, out, err) = replay(pipelined(), &to, &[key, &["--json"]].concat());
        assert_eq!(code, 0, "{key:?}: {out}{err}");
        assert_eq!(counts(&summary(&out)), [8, 8, 0, 0, 0], "{key:?}");
    }
    // A message the capture does not have is unexpected.
    let to = host(Host::Reversed { extra: true });
    let (code, out, _) = replay(pipelined(), &to, &["--key-fields", "11,41", "--json"]);
    assert_eq!(code, 1);
    assert_eq!(counts(&summary(&out)), [10, 8, 0, 0, 2], "{out}");
}

#[test]
fn short_connection_captures_replay_as_short_connections() {
    if !capturing("short_connection_captures_replay_as_short_connections") {
        return;
    }
    let host = echo_host();
    let (code, out, err) = replay(short_connections(), &host.addr, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("a short connection per conversation, as captured"),
        "{out}"
    );
    assert!(out.contains("3 pairs: 3 equal, 0 different, 0 missing, 0 unexpected (3 of 3 requests sent on 3 connections)"), "{out}");
    // --short: a connection per request of a long conversation.
    let (code, out, _) = replay(one_at_a_time(), &host.addr, &["--short", "--json"]);
    assert_eq!(code, 0, "{out}");
    let s = summary(&out);
    assert_eq!(
        (s["connections"].as_u64(), s["equal"].as_u64()),
        (Some(5), Some(5))
    );
}

#[test]
fn conversations_replay_side_by_side_when_asked() {
    if !capturing("conversations_replay_side_by_side_when_asked") {
        return;
    }
    let together = || host(Host::Together { requests: 3 });
    let (code, out, err) = replay(short_connections(), &together(), &["--concurrency", "3"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("3 conversations at a time"), "{out}");
    assert!(out.contains("3 pairs: 3 equal"), "{out}");
    // One after another, the first request's reply does not come in time.
    let (code, out, _) = replay(short_connections(), &together(), &["--json"]);
    assert_eq!(code, 1, "{out}");
    assert!(counts(&summary(&out))[3] >= 1, "{out}");
    // The captured pace already plays them side by side.
    let (code, _, err) = replay(
        short_connections(),
        &together(),
        &["--timing", "captured", "--concurrency", "2"],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("--concurrency is for fast or --rate pacing"),
        "{err}"
    );
}

#[test]
fn a_capture_replays_against_a_tls_host() {
    if !capturing("a_capture_replays_against_a_tls_host") {
        return;
    }
    let ca = certs::Ca::new("Replay Test Root");
    let id = ca.issue("replay-host", &["localhost"], false);
    let files = dir().join("tls");
    std::fs::create_dir_all(&files).unwrap();
    let write = |name: &str, text: &str| {
        let p = files.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let (ca_pem, cert, key) = (
        write("ca.pem", &ca.pem()),
        write("host.pem", &id.cert),
        write("host.key", &id.key),
    );
    let host = Running::start(&[
        "serve",
        "-l",
        "127.0.0.1:0",
        "-f",
        "ascii:4",
        "--echo",
        "-q",
        "--tls",
        "--cert",
        &cert,
        "--key",
        &key,
    ]);
    let (code, out, err) = replay(
        one_at_a_time(),
        &host.addr,
        &[
            "--tls",
            "--ca",
            &ca_pem,
            "--server-name",
            "localhost",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(counts(&summary(&out)), [5, 5, 0, 0, 0]);
    // A certificate for another name: nothing sent, and said.
    let (code, out, err) = replay(
        one_at_a_time(),
        &host.addr,
        &["--tls", "--ca", &ca_pem, "--server-name", "elsewhere"],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("0 of 5 requests sent on 0 connections"),
        "{out}"
    );
    assert!(err.contains("#0: "), "{err}");
}

#[test]
fn a_dry_run_lists_the_requests_and_connects_nowhere() {
    if !capturing("a_dry_run_lists_the_requests_and_connects_nowhere") {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let to = listener.local_addr().unwrap().to_string();
    let (code, out, err) = replay(one_at_a_time(), &to, &["--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.matches("  request ").count(), 5, "{out}");
    assert!(
        out.contains(&format!(
            "dry run: 5 requests would go to {to}; nothing was sent"
        )),
        "{out}"
    );
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "a dry run connected"
    );
}

#[test]
fn captured_timing_keeps_the_captured_gaps() {
    if !capturing("captured_timing_keeps_the_captured_gaps") {
        return;
    }
    let host = echo_host();
    // The capture spans four gaps of at least 100 ms.
    let started = Instant::now();
    let (code, out, _) = replay(
        one_at_a_time(),
        &host.addr,
        &["--timing", "captured", "--settle", "0s"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    // Conversations side by side, each connection opened when its request is due.
    let (code, out, _) = replay(
        short_connections(),
        &host.addr,
        &["--timing", "captured", "--json"],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(summary(&out)["connections"], 3);
    // A rate of 20 a second spaces five requests by 50 ms at least.
    let started = Instant::now();
    let (code, out, _) = replay(
        one_at_a_time(),
        &host.addr,
        &["--rate", "20/s", "--settle", "0s"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_raw_stream_replays_with_its_replies() {
    let host = echo_host();
    let dir = dir();
    let requests: Vec<u8> = (1..=3).flat_map(|n| frame(&request(n))).collect();
    let (req, rep) = (dir.join("requests.bin"), dir.join("replies.bin"));
    std::fs::write(&req, &requests).unwrap();
    std::fs::write(&rep, &requests).unwrap();
    let (code, out, err) = replay(&req, &host.addr, &["--replies", rep.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("3 pairs: 3 equal"), "{out}");
    // Without --replies: refused, nothing sent.
    let (code, _, err) = replay(&req, &host.addr, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("needs --replies FILE"), "{err}");
}

#[test]
fn without_a_framing_it_is_sniffed_and_its_confidence_said() {
    let host = echo_host();
    let dir = dir();
    let requests: Vec<u8> = (1..=40).flat_map(|n| frame(&request(n))).collect();
    let (req, rep) = (dir.join("sniffed.bin"), dir.join("sniffed-replies.bin"));
    std::fs::write(&req, &requests).unwrap();
    std::fs::write(&rep, &requests).unwrap();
    let out = msgframe()
        .arg("replay")
        .arg(&req)
        .args(["--to", &host.addr, "--replies", rep.to_str().unwrap()])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stderr.contains("framing sniffed from the client's messages: ascii:4 (")
            && stderr.contains("% confident"),
        "{stderr}"
    );
    assert!(stdout.contains("40 pairs: 40 equal"), "{stdout}");
    // Too few messages to be sure: no guess, a usage error that says what to do.
    std::fs::write(&req, frame(&request(1))).unwrap();
    let out = msgframe()
        .arg("replay")
        .arg(&req)
        .args(["--to", &host.addr, "--replies", rep.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("give --framing"));
}

/// A 0200 or 0210 of a packed-BCD host behind a 5-byte TPDU: BCD MTI, binary bitmap, fields 3
/// and 11 (n6, 3 bytes each), 12 (local time, n6), 41 (terminal id, ans8).
fn bcd_message(mti: u8, stan: u32, time: u32) -> Vec<u8> {
    let bcd6 = |n: u32| {
        let d = format!("{n:06}");
        (0..3)
            .map(|i| u8::from_str_radix(&d[2 * i..2 * i + 2], 16).unwrap())
            .collect::<Vec<u8>>()
    };
    let mut m = vec![0x60, 0x00, 0x01, 0x00, 0x00, 0x02, mti];
    m.extend([0x20, 0x30, 0, 0, 0, 0x80, 0, 0]); // fields 3, 11, 12, 41
    m.extend([0x00, 0x00, 0x00]);
    m.extend(bcd6(stan));
    m.extend(bcd6(time));
    m.extend(b"TERM0042");
    m
}

/// A `be:2` frame.
fn be2(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as u16).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

#[test]
fn packed_bcd_messages_are_masked_and_keyed_by_their_fields() {
    // The host answers each 0200 with a 0210 stamped with its own local time (field 12).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let to = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            thread::spawn(move || loop {
                let mut len = [0u8; 2];
                if stream.read_exact(&mut len).is_err() {
                    return;
                }
                let mut body = vec![0; usize::from(u16::from_be_bytes(len))];
                if stream.read_exact(&mut body).is_err() {
                    return;
                }
                let stan = body[18..21].iter().fold(0, |n, b| {
                    n * 100 + u32::from(b >> 4) * 10 + u32::from(b & 15)
                });
                if stream
                    .write_all(&be2(&bcd_message(0x10, stan, 235959)))
                    .is_err()
                {
                    return;
                }
            });
        }
    });
    let dir = dir();
    let (req, rep) = (dir.join("bcd-requests.bin"), dir.join("bcd-replies.bin"));
    let requests: Vec<u8> = (1..=4)
        .flat_map(|n| be2(&bcd_message(0x00, n, 120000 + n)))
        .collect();
    let replies: Vec<u8> = (1..=4)
        .flat_map(|n| be2(&bcd_message(0x10, n, 120000 + n)))
        .collect();
    std::fs::write(&req, requests).unwrap();
    std::fs::write(&rep, replies).unwrap();
    let run = |args: &[&str]| {
        let out = msgframe()
            .arg("replay")
            .arg(&req)
            .args(["--replies", rep.to_str().unwrap(), "--to", &to])
            .args(["-f", "be:2", "--timeout", "1s", "--iso8583-header", "5"])
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.code().unwrap_or(-1), text)
    };
    // Field 12 differs in every reply, at offset 21 of the body, and is named.
    let (code, out) = run(&["--ignore-field", "11"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("different  #0 pair 1 (request 1): first difference at offset 21 (field 12): captured 12 00 01"),
        "{out}"
    );
    assert!(out.contains("4 pairs: 0 equal, 4 different"), "{out}");
    // Masked, every pair is equal; paired by STAN and terminal id, too.
    for args in [
        &["--ignore-field", "12"][..],
        &["--ignore-field", "12", "--key-fields", "11,41"],
        &["--ignore-field", "12", "--iso8583-encoding", "bcd"],
    ] {
        let (code, out) = run(args);
        assert_eq!(code, 0, "{args:?}: {out}");
        assert!(out.contains("4 pairs: 4 equal"), "{args:?}: {out}");
    }
    // Walked as ASCII, they are not ISO 8583: the masks are not applied, and that is said.
    let (code, out) = run(&["--ignore-field", "12", "--iso8583-encoding", "ascii"]);
    assert_eq!(code, 1);
    assert!(
        out.contains("field masks not applied to the captured reply (not ISO 8583 as laid out: the MTI at offset 5 is not 4 ASCII digits (02 10 20 30))"),
        "{out}"
    );
}

/// `msgframe serve --echo` as a simplex host: requests on its address, replies on the return
/// link each client dials to its second one. The host, and that second address.
fn simplex_host() -> (Running, String) {
    let mut host = Running::start(&[
        "serve",
        "-l",
        "127.0.0.1:0",
        "--simplex-return",
        "127.0.0.1:0",
        "-f",
        "ascii:4",
        "--echo",
        "-q",
    ]);
    let line = host.next_line();
    let back = line
        .strip_prefix("return links on ")
        .unwrap_or_else(|| panic!("{line}"))
        .to_owned();
    (host, back)
}

fn port_of(addr: &str) -> String {
    addr.rsplit(':').next().unwrap().to_owned()
}

#[test]
fn a_simplex_pair_replays_on_two_links() {
    if !capturing("a_simplex_pair_replays_on_two_links") {
        return;
    }
    // Recorded: the return link dialled first, then five requests on the other, their replies
    // read on the return link.
    let (host, back) = simplex_host();
    let ports: Vec<u16> = [&host.addr, &back]
        .iter()
        .map(|a| port_of(a).parse().unwrap())
        .collect();
    let file = dir().join("simplex.pcap");
    let capture = Tcpdump::start(&file, &ports);
    {
        let mut replies = connect(&back);
        thread::sleep(Duration::from_millis(100));
        let mut requests = connect(&host.addr);
        for stan in 1..=5 {
            requests.write_all(&frame(&request(stan))).unwrap();
            assert_eq!(read_frame(&mut replies).unwrap(), request(stan));
        }
    }
    capture.stop();
    drop(host);

    // Against a new simplex host: every pair equal, on two links.
    let (host, back) = simplex_host();
    let pair = [
        "--port",
        &port_of(&ports[0].to_string()),
        "--reply-port",
        &port_of(&ports[1].to_string()),
        "--simplex-in",
        &back,
    ];
    let (code, out, err) = replay(&file, &host.addr, &[&pair[..], &["--json"]].concat());
    assert_eq!(code, 0, "{out}{err}");
    let s = summary(&out);
    assert_eq!(counts(&s), [5, 5, 0, 0, 0], "{out}");
    assert_eq!(s["connections"].as_u64(), Some(2), "{out}");
    // Without its second link the host has nowhere to answer: every reply missing.
    let (code, out, _) = replay(
        &file,
        &host.addr,
        &[&pair[..4], &["--simplex-in", &host.addr, "--json"]].concat(),
    );
    assert_eq!(code, 1, "{out}");
    assert_eq!(counts(&summary(&out))[3], 5, "{out}");
    // A host that answers on the requests' link: the replies count, and that is said.
    let (duplex, other) = (echo_host(), echo_host());
    let (code, out, err) = replay(
        &file,
        &duplex.addr,
        &[&pair[..4], &["--simplex-in", &other.addr]].concat(),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("5 of the replies came on the requests' link"),
        "{err}"
    );
    // Half a pair is refused before anything is sent.
    let (code, _, err) = replay(&file, &host.addr, &pair[..4]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--simplex-in"), "{err}");
}
