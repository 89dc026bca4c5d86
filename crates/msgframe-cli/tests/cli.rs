//! The built `msgframe` binary, driven as a user would: against a real `serve` on loopback, a
//! proxy re-framing between two framings (checked byte for byte on both sides), split and sniff on
//! streams and captures written by the library, bench and demo; every command in a pipe whose
//! reader goes away.

mod support;

use std::io::{BufRead, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use bytes::BytesMut;
use msgframe_capture::synth::{Conversation, Format};
use msgframe_codec::{Encoder, Framing};
use support::{closed_after_first_line, msgframe, Running};

fn encoded(spec: &str, bodies: &[&[u8]]) -> Vec<u8> {
    let framing: Framing = spec.parse().unwrap();
    let mut out = BytesMut::new();
    for b in bodies {
        framing.encode(b, &mut out).unwrap();
    }
    out.to_vec()
}

fn temp_file(name: &str, data: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("msgframe-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path
}

#[test]
fn send_talks_to_a_real_serve_and_shows_the_replies() {
    let serve = Running::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--framing",
        "ascii:4",
        "--echo",
    ]);
    let out = msgframe()
        .args([
            "send",
            "--to",
            &serve.addr,
            "--framing",
            "ascii:4",
            "--hex",
            "30 38 30 30 41",
        ])
        .args(["--repeat", "3"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(out.matches("reply ").count(), 3, "{out}");
    assert!(out.contains("|0800A|"), "{out}");
    let log = serve.stop();
    assert_eq!(log.matches("-> 5 bytes").count(), 3, "{log}");
}

#[test]
fn send_and_serve_speak_two_links() {
    let mut serve = Running::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--framing",
        "be:2",
        "--echo",
        "--simplex-return",
        "127.0.0.1:0",
    ]);
    let back = serve.next_line();
    let back = back.trim_start_matches("return links on ").to_owned();
    let out = msgframe()
        .args(["send", "--to", &serve.addr, "--simplex-in", &back])
        .args(["--framing", "be:2", "--hex", "30 38 30 30", "--repeat", "3"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(out.matches("reply ").count(), 3, "{out}");
    serve.stop();
}

#[test]
fn send_json_and_raw_output_for_scripts() {
    let serve = Running::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--framing",
        "bcd:2",
        "--reply-hex",
        "30383130",
    ]);
    let out = msgframe()
        .args([
            "send",
            "--to",
            &serve.addr,
            "--framing",
            "bcd:2",
            "--hex",
            "30383030",
            "--json",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let line: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(line["event"], "reply");
    assert_eq!(line["hex"], "30383130");
    msgframe()
        .args([
            "send",
            "--to",
            &serve.addr,
            "--framing",
            "bcd:2",
            "--out",
            "raw",
        ])
        .write_stdin("0800")
        .assert()
        .success()
        .stdout("0810");
}

#[test]
fn serve_runs_a_command_per_message() {
    let serve = Running::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--framing",
        "lines",
        "--exec",
        "tr a-z A-Z",
    ]);
    msgframe()
        .args([
            "send",
            "--to",
            &serve.addr,
            "--framing",
            "lines",
            "--out",
            "raw",
        ])
        .write_stdin("hello host")
        .assert()
        .success()
        .stdout("HELLO HOST");
}

#[test]
fn send_short_connections_with_a_reply_until_end_of_stream() {
    let serve = Running::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--framing",
        "eof",
        "--echo",
    ]);
    msgframe()
        .args([
            "send",
            "--to",
            &serve.addr,
            "--framing",
            "eof",
            "--short",
            "--out",
            "raw",
        ])
        .args(["--repeat", "2"])
        .write_stdin("<req/>")
        .assert()
        .success()
        .stdout("<req/><req/>");
}

#[test]
fn proxy_reframes_between_two_framings_byte_for_byte() {
    // The host speaks be:2 and records exactly what it receives.
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let host_addr = host.local_addr().unwrap().to_string();
    let recorded = std::thread::spawn(move || {
        let (mut s, _) = host.accept().unwrap();
        let mut got = [0u8; 7];
        s.read_exact(&mut got).unwrap();
        s.write_all(b"\x00\x03bye").unwrap();
        got
    });
    let proxy = Running::start(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--to",
        &host_addr,
        "--framing",
        "ascii:4",
        "--upstream-framing",
        "be:2",
    ]);
    // The terminal speaks ascii:4.
    let mut terminal = TcpStream::connect(&proxy.addr).unwrap();
    terminal
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    terminal.write_all(b"0005hello").unwrap();
    let mut reply = [0u8; 7];
    terminal.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"0003bye", "the terminal gets ascii:4");
    assert_eq!(
        &recorded.join().unwrap(),
        b"\x00\x05hello",
        "the host gets be:2"
    );
    drop(terminal);
    let log = proxy.stop();
    assert!(log.contains("client -> host: 5 bytes"), "{log}");
    assert!(log.contains("host -> client: 3 bytes"), "{log}");
}

#[test]
fn proxy_relays_a_host_that_speaks_first_and_keeps_the_servers_limits() {
    // The host greets every connection before it is asked anything, then echoes.
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let host_addr = host.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in host.incoming().take(2) {
            let Ok(mut s) = stream else { return };
            std::thread::spawn(move || {
                s.write_all(b"\x00\x05hello").unwrap();
                let mut buf = [0u8; 64];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let proxy = Running::start(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--to",
        &host_addr,
        "--framing",
        "be:2",
        "--max-connections",
        "1",
        "--idle-timeout",
        "1s",
    ]);
    let mut first = TcpStream::connect(&proxy.addr).unwrap();
    first
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut greeting = [0u8; 7];
    first.read_exact(&mut greeting).unwrap();
    assert_eq!(&greeting, b"\x00\x05hello", "the host's greeting, unasked");
    // A second client is over the cap: refused at once, the first still served.
    let mut second = TcpStream::connect(&proxy.addr).unwrap();
    second
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut nothing = [0u8; 1];
    assert!(
        matches!(second.read(&mut nothing), Ok(0) | Err(_)),
        "refused"
    );
    first.write_all(b"\x00\x02hi").unwrap();
    let mut echoed = [0u8; 4];
    first.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"\x00\x02hi");
    // Idle for more than a second: reaped, and the host's side closed with it.
    assert!(matches!(first.read(&mut nothing), Ok(0) | Err(_)), "reaped");
    // The proxy notes it just after.
    std::thread::sleep(Duration::from_millis(300));
    let log = proxy.stop();
    assert!(log.contains("host -> client: 5 bytes"), "{log}");
    assert!(log.contains("closed: client side: reaped: idle"), "{log}");
}

#[test]
fn serve_keeps_a_base24_link_that_sends_bare_keepalives() {
    for extra in [&[][..], &["--answer-keepalives"][..]] {
        let mut args = vec![
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--framing",
            "be:2,trailer=03,counts-trailer",
            "--reply-hex",
            "30383130",
        ];
        args.extend_from_slice(extra);
        let serve = Running::start(&args);
        let mut host = TcpStream::connect(&serve.addr).unwrap();
        host.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // A bare zero length: kept, and with --answer-keepalives answered in kind.
        host.write_all(b"\x00\x00").unwrap();
        if !extra.is_empty() {
            let mut answer = [0u8; 2];
            host.read_exact(&mut answer).unwrap();
            assert_eq!(&answer, b"\x00\x00");
        } else {
            // Without it, the fixed reply answers the empty message like any other.
            let mut reply = [0u8; 7];
            host.read_exact(&mut reply).unwrap();
            assert_eq!(&reply, b"\x00\x050810\x03");
        }
        // Then a real message on the same link.
        host.write_all(b"\x00\x050800\x03").unwrap();
        let mut reply = [0u8; 7];
        host.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"\x00\x050810\x03", "{extra:?}");
        drop(host);
        serve.stop();
    }
}

#[test]
fn split_cuts_a_stream_and_names_where_it_stops_being_valid() {
    let stream = encoded("be:2", &[b"0800", b"0810 ok", b"0200 pay"]);
    let path = temp_file("split.bin", &stream);
    let out = msgframe()
        .args(["split", "--framing", "be:2", "--json"])
        .arg(&path)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let lines: Vec<serde_json::Value> = out
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[1]["offset"], 6);
    assert_eq!(lines[1]["body_length"], 7);
    assert_eq!(lines[3]["complete"], true);

    // A garbage tail: the exact offset and reason, exit code 3.
    let mut bad = stream.clone();
    bad.extend_from_slice(b"\xff\xff!");
    let path = temp_file("bad.bin", &bad);
    let assert = msgframe()
        .args(["split", "--framing", "be:2,max=1000"])
        .arg(&path)
        .assert()
        .code(3);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("offset 25"), "{stderr}");
}

#[test]
fn sniff_ranks_the_true_framing_first() {
    for spec in ["ascii:4", "bcd:2", "be:4,counts-header", "delim:03"] {
        let bodies: Vec<Vec<u8>> = (1..=5)
            .map(|i| format!("0200{i:06}amount={}", i * 100).into_bytes())
            .collect();
        let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
        let path = temp_file(
            &format!("sniff-{}.bin", spec.replace([':', ','], "_")),
            &encoded(spec, &refs),
        );
        let out = msgframe()
            .args(["sniff", "--json", "--top", "1"])
            .arg(&path)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let top: serde_json::Value = serde_json::from_slice(out.trim_ascii()).unwrap();
        assert_eq!(top["spec"], spec, "{top}");
        assert_eq!(top["frames"], 5);
    }
}

#[test]
fn split_and_sniff_read_captures_with_retransmissions_and_reordering() {
    let mut c = Conversation::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 9000));
    let request = encoded("ascii:4", &[b"0200000001 pay 100", b"0200000002 pay 250"]);
    let (a, rest) = request.split_at(9);
    let (b, rest) = rest.split_at(10);
    c.client_sends(a)
        .client_sends_twice(b)
        .client_sends_reordered(&rest[..5], &rest[5..]);
    c.server_sends(&encoded("ascii:4", &[b"0210000001 ok", b"0210000002 ok"]));
    for format in [Format::Pcap, Format::PcapNg] {
        let path = temp_file(&format!("capture-{format:?}.cap"), &c.write(format));
        let out = msgframe()
            .args(["split", "--framing", "ascii:4", "--brief", "--port", "9000"])
            .arg(&path)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(out.matches("body 18 bytes").count(), 2, "{out}");
        assert_eq!(out.matches("body 13 bytes").count(), 2, "{out}");
        let out = msgframe()
            .args(["sniff", "--json", "--top", "1", "--direction", "to-server"])
            .arg(&path)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let top: serde_json::Value = serde_json::from_slice(out.trim_ascii()).unwrap();
        assert_eq!(top["spec"], "ascii:4", "{top}");
    }
}

#[test]
fn a_gap_in_a_capture_is_reported() {
    let mut c = Conversation::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 9000));
    c.client_sends(b"0004ping")
        .client_sends_uncaptured(b"0004lost")
        .client_sends(b"0004pong");
    let path = temp_file("gap.pcap", &c.write(Format::Pcap));
    let out = msgframe()
        .args(["split", "--framing", "ascii:4", "--direction", "to-server"])
        .arg(&path)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("misses 8 bytes at offset 8"), "{out}");
}

#[test]
fn bench_runs_briefly_and_summarises() {
    let out = msgframe()
        .args([
            "bench",
            "--framing",
            "be:2",
            "--count",
            "300",
            "--connections",
            "3",
            "--json",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let summary: serde_json::Value = serde_json::from_slice(out.trim_ascii()).unwrap();
    assert_eq!(summary["count"], 300);
    assert!(summary["messages_per_second"].as_f64().unwrap() > 0.0);
    assert!(summary["latency_ms"]["p99"].as_f64().unwrap() > 0.0);
    let out = msgframe()
        .args(["bench", "--framing", "ascii:4", "--count", "50", "--short"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(String::from_utf8_lossy(&out).contains("exchanges/s"));
}

#[test]
fn demo_shows_every_framing_on_the_wire() {
    let out = msgframe()
        .arg("demo")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    for spec in [
        "ascii:4",
        "bcd:2",
        "be:2",
        "be:4,counts-header",
        "delim:03",
        "eof",
    ] {
        assert!(out.contains(&format!("--framing {spec})")), "{spec}: {out}");
    }
    assert!(out.contains("|00170800 network|"), "{out}");
}

#[test]
fn errors_are_one_line_with_documented_exit_codes() {
    let assert = msgframe()
        .args([
            "send",
            "--to",
            "127.0.0.1:9",
            "--framing",
            "be:2,adjust=x",
            "--hex",
            "00",
        ])
        .assert()
        .code(2);
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(err.contains("at `x`") && err.contains('^'), "{err}");
    // Nothing listens on a port just freed.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let assert = msgframe()
        .args([
            "send",
            "--to",
            &format!("127.0.0.1:{port}"),
            "--framing",
            "be:2",
            "--hex",
            "00",
        ])
        .assert()
        .code(1);
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(err.contains("refused"), "{err}");
    msgframe()
        .args(["send", "--to", "x:1", "--framing", "be:2", "--hex", "0g"])
        .assert()
        .code(2);
    msgframe().args(["sniff", "/no/such/file"]).assert().code(2);
    msgframe().args(["--help"]).assert().success();
    let help = msgframe()
        .args(["send", "--help"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(String::from_utf8(help).unwrap().contains("Examples:"));
}

/// A stream of many frames, so that its dump is far larger than a pipe holds.
fn long_stream() -> Vec<u8> {
    let bodies: Vec<Vec<u8>> = (0..20_000)
        .map(|i| format!("0200{i:06} amount=100").into_bytes())
        .collect();
    let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
    encoded("be:2", &refs)
}

fn assert_quiet_success(status: std::process::ExitStatus, stderr: &str) {
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert!(stderr.is_empty(), "nothing on stderr, got: {stderr}");
}

#[test]
fn split_ends_quietly_when_its_reader_goes_away() {
    let path = temp_file("long-split.bin", &long_stream());
    let path = path.to_str().unwrap();
    for extra in [&[][..], &["--json"], &["--brief"]] {
        let mut args = vec!["split", "--framing", "be:2", path];
        args.extend_from_slice(extra);
        let (status, stderr) = closed_after_first_line(&args, b"", |first| {
            assert!(!first.is_empty(), "{extra:?}");
        });
        assert_quiet_success(status, &stderr);
    }
    // From stdin too.
    let (status, stderr) =
        closed_after_first_line(&["split", "--framing", "be:2", "-"], &long_stream(), |_| {});
    assert_quiet_success(status, &stderr);
}

#[test]
fn send_ends_quietly_when_its_reader_goes_away() {
    let serve = Running::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--framing",
        "be:2",
        "--echo",
        "--quiet",
    ]);
    // 400 replies of 200 bytes: some 400 kB of dumps, far more than a pipe holds.
    let message = "41".repeat(200);
    let (status, stderr) = closed_after_first_line(
        &[
            "send",
            "--to",
            &serve.addr,
            "--framing",
            "be:2",
            "--hex",
            &message,
            "--repeat",
            "400",
        ],
        b"",
        |first| assert!(first.starts_with("reply 1: 200 bytes"), "{first}"),
    );
    assert_quiet_success(status, &stderr);
    serve.stop();
}

#[test]
fn serve_ends_quietly_when_its_reader_goes_away() {
    let (status, stderr) = closed_after_first_line(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--framing",
            "lines",
            "--echo",
        ],
        b"",
        |first| {
            let addr = first.split_whitespace().nth(2).unwrap();
            // Its next line, the log of this message, has nowhere to go: the server stops, and
            // closes this connection rather than answer.
            let mut client = TcpStream::connect(addr).unwrap();
            client
                .set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            client.write_all(b"hello\n").unwrap();
            let mut rest = Vec::new();
            let read = client.read_to_end(&mut rest);
            assert!(
                read.is_ok()
                    || read
                        .as_ref()
                        .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
                "closed, not timed out: {read:?}"
            );
            assert!(rest.is_empty(), "no reply: {rest:?}");
        },
    );
    assert_quiet_success(status, &stderr);
}

#[test]
fn short_flags_as_netcat_and_tcpdump_users_type_them() {
    let serve = Running::start(&["serve", "-l", "127.0.0.1:0", "-f", "lines", "--echo", "-q"]);
    let out = msgframe()
        .args([
            "send",
            "--to",
            &serve.addr,
            "-f",
            "lines",
            "-w",
            "10s",
            "-q",
            "-vv",
        ])
        .args(["--hex", "6869", "--repeat", "2"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    // -q: one line per reply, no hex dump.
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.lines().all(|l| l.starts_with("reply ")), "{out}");
    let log = serve.stop();
    assert_eq!(log.matches("-> 2 bytes").count(), 2, "{log}");
    assert!(!log.contains("|hi|"), "no dump: {log}");

    let path = temp_file("short-flags.bin", &encoded("be:2", &[b"0800", b"0810"]));
    let out = msgframe()
        .args(["split", "-f", "be:2", "-q", "-v"])
        .arg(&path)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(out.matches("body 4 bytes").count(), 2, "{out}");
    assert!(!out.contains("|0800|"), "no dump: {out}");
}

#[test]
fn an_address_without_a_port_is_a_usage_error_that_says_so() {
    let expected = "'localhost' has no port: write HOST:PORT, e.g. localhost:9000";
    for args in [
        &["send", "--to", "localhost", "-f", "be:2", "--hex", "00"][..],
        &[
            "proxy",
            "-l",
            "127.0.0.1:0",
            "--to",
            "localhost",
            "-f",
            "be:2",
        ],
        &["serve", "-l", "localhost", "-f", "be:2", "--echo"],
    ] {
        let assert = msgframe().args(args).assert().code(2);
        let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

#[test]
fn proxy_ends_quietly_when_its_reader_goes_away() {
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let host_addr = host.local_addr().unwrap().to_string();
    // Holds the connection the proxy opens until the test ends.
    let _accepting = std::thread::spawn(move || host.accept());
    let (status, stderr) = closed_after_first_line(
        &[
            "proxy",
            "-l",
            "127.0.0.1:0",
            "--to",
            &host_addr,
            "-f",
            "be:2",
        ],
        b"",
        |first| {
            let addr = first.split_whitespace().nth(2).unwrap();
            // The proxy's note that this client is connected has nowhere to go: it stops.
            let mut client = TcpStream::connect(addr).unwrap();
            let _ = client.write_all(b"\x00\x02hi");
            assert!(closed_unanswered(&mut client));
        },
    );
    assert_quiet_success(status, &stderr);
}

/// The JSON lines of an output.
fn json_lines(out: &[u8]) -> Vec<serde_json::Value> {
    out.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

#[test]
fn send_lines_sends_each_line_and_shows_each_reply() {
    let serve = Running::start(&[
        "serve",
        "-l",
        "127.0.0.1:0",
        "-f",
        "ascii:4",
        "--echo",
        "-q",
    ]);
    // Text: a line ending in CR LF, an empty line (skipped), a last line without its newline.
    let out = msgframe()
        .args([
            "send",
            "--to",
            &serve.addr,
            "-f",
            "ascii:4",
            "--lines",
            "--json",
        ])
        .write_stdin("hello\r\nworld\n\nlast")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let replies: Vec<_> = json_lines(&out).iter().map(|r| r["hex"].clone()).collect();
    assert_eq!(replies, ["68656c6c6f", "776f726c64", "6c617374"]);
    // Hex, from a file: comments and blank lines skipped.
    let path = temp_file("lines.hex", b"# a sign-on\n30 38 30 30\n\n0x41:42\n");
    let out = msgframe()
        .args([
            "send",
            "--to",
            &serve.addr,
            "-f",
            "ascii:4",
            "--lines",
            "hex",
        ])
        .arg("--file")
        .arg(&path)
        .args(["--out", "raw"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(out, b"0800AB");
    // Short connections too: one per line.
    msgframe()
        .args([
            "send",
            "--to",
            &serve.addr,
            "-f",
            "ascii:4",
            "--lines",
            "--short",
        ])
        .args(["--out", "raw"])
        .write_stdin("one\ntwo\n")
        .assert()
        .success()
        .stdout("onetwo");
    let log = serve.stop();
    assert_eq!(log.matches(" bytes").count(), 7, "{log}");
}

#[test]
fn a_bad_line_ends_a_piped_send_but_not_an_interactive_one() {
    let serve = Running::start(&[
        "serve",
        "-l",
        "127.0.0.1:0",
        "-f",
        "ascii:4",
        "--echo",
        "-q",
    ]);
    let input = "4142\nzz\n4344\n";
    let assert = msgframe()
        .args([
            "send",
            "--to",
            &serve.addr,
            "-f",
            "ascii:4",
            "--lines",
            "hex",
        ])
        .args(["--out", "raw"])
        .write_stdin(input)
        .assert()
        .code(2)
        .stdout("AB");
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(err.contains("line 2: `z` at character 0"), "{err}");
    // Interactive: reported, and the next line sent.
    let assert = msgframe()
        .args([
            "send",
            "--to",
            &serve.addr,
            "-f",
            "ascii:4",
            "--lines",
            "hex",
            "-i",
        ])
        .args(["--out", "raw"])
        .write_stdin(input)
        .assert()
        .success()
        .stdout("ABCD");
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(err.contains("Ctrl-D to end"), "{err}");
    assert!(err.contains("line 2: `z` at character 0"), "{err}");
    // A line the framing cannot carry: the same.
    let assert = msgframe()
        .args([
            "send",
            "--to",
            &serve.addr,
            "-f",
            "ascii:4,max=50",
            "--lines",
        ])
        .write_stdin(format!("ok\n{}\n", "x".repeat(100)))
        .assert()
        .code(2);
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(
        err.contains("line 2 cannot be framed as ascii:4,max=50"),
        "{err}"
    );
}

#[test]
fn send_interactive_sends_each_line_as_it_is_typed() {
    use std::process::{Command, Stdio};
    use std::sync::mpsc;

    let serve = Running::start(&["serve", "-l", "127.0.0.1:0", "-f", "lines", "--echo", "-q"]);
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("msgframe"))
        .args(["send", "--to", &serve.addr, "-f", "lines", "-i", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut typed = child.stdin.take().unwrap();
    let (tx, replies) = mpsc::channel();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines() {
            let Ok(line) = line else { return };
            let _ = tx.send(serde_json::from_str::<serde_json::Value>(&line).unwrap());
        }
    });
    // Each reply comes while the input is still open: the line was sent as soon as it was typed.
    for (line, hex) in [("hello", "68656c6c6f"), ("again", "616761696e")] {
        writeln!(typed, "{line}").unwrap();
        let reply = replies
            .recv_timeout(Duration::from_secs(30))
            .expect("a reply to a line typed, before the input ends");
        assert_eq!(reply["hex"], hex);
    }
    drop(typed);
    assert!(child.wait().unwrap().success());
    serve.stop();
}

/// Whether the other side closed `stream` (end of stream or a reset) rather than answer; a read
/// that times out is neither, and fails the test.
fn closed_unanswered(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut got = Vec::new();
    match stream.read_to_end(&mut got) {
        Ok(_) => got.is_empty(),
        Err(e) => match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                panic!("not closed within 30 s")
            }
            _ => got.is_empty(),
        },
    }
}

#[test]
fn serve_refuses_denied_clients_and_those_not_allowed() {
    for (refused, rules) in [
        (true, &["--deny", "127.0.0.1"][..]),
        (true, &["--allow", "10.0.0.0/8"]),
        (true, &["--allow", "127.0.0.0/8", "--deny", "127.0.0.1/32"]),
        (false, &["--deny", "10.0.0.0/8", "--allow", "127.0.0.1"]),
    ] {
        let mut args = vec!["serve", "-l", "127.0.0.1:0", "-f", "be:2", "--echo"];
        args.extend_from_slice(rules);
        args.extend_from_slice(&["--message-timeout", "10s", "--write-timeout", "10s"]);
        let serve = Running::start(&args);
        let mut client = TcpStream::connect(&serve.addr).unwrap();
        // Refused as it connects: this write may already fail.
        let written = client.write_all(b"\x00\x02hi");
        if refused {
            assert!(closed_unanswered(&mut client), "{rules:?}: refused");
        } else {
            written.unwrap();
            client
                .set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            let mut echoed = [0u8; 4];
            client.read_exact(&mut echoed).unwrap();
            assert_eq!(&echoed, b"\x00\x02hi", "{rules:?}: served");
        }
        serve.stop();
    }
    let assert = msgframe()
        .args([
            "serve",
            "-l",
            ":0",
            "-f",
            "be:2",
            "--echo",
            "--allow",
            "10.0.0.0/33",
        ])
        .assert()
        .code(2);
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(
        err.contains("`10.0.0.0/33` is not an IP address or network"),
        "{err}"
    );
}

#[test]
fn serve_exec_sees_the_peers_address() {
    let serve = Running::start(&[
        "serve",
        "-l",
        "127.0.0.1:0",
        "-f",
        "lines",
        "--exec",
        r#"printf '%s %s' "$MSGFRAME_PEER_ADDR" "$MSGFRAME_PEER_PORT""#,
    ]);
    let mut client = TcpStream::connect(&serve.addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    client.write_all(b"who am I?\n").unwrap();
    let mut line = String::new();
    std::io::BufReader::new(&client)
        .read_line(&mut line)
        .unwrap();
    let port = client.local_addr().unwrap().port();
    assert_eq!(line, format!("127.0.0.1 {port}\n"));
    serve.stop();
}

/// Whether process `pid` has ended (gone, or a zombie nobody reaped yet).
#[cfg(target_os = "linux")]
fn ended(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command's name in parentheses.
        Ok(stat) => stat
            .rsplit(") ")
            .next()
            .is_some_and(|rest| rest.starts_with('Z')),
        Err(_) => true,
    }
}

#[test]
fn serve_exec_that_overruns_its_timeout_closes_the_connection() {
    let pid_file = temp_file("exec-overrun.pid", b"");
    // The shell starts a second process and waits for it: both must go.
    let cmd = format!(
        "sleep 300 & echo $! > '{}'; wait; echo late",
        pid_file.display()
    );
    let serve = Running::start(&[
        "serve",
        "-l",
        "127.0.0.1:0",
        "-f",
        "lines",
        "--exec",
        &cmd,
        "--exec-timeout",
        "1s",
    ]);
    let mut client = TcpStream::connect(&serve.addr).unwrap();
    client.write_all(b"hello\n").unwrap();
    assert!(closed_unanswered(&mut client), "closed, no late reply");
    #[cfg(target_os = "linux")]
    {
        // Empty when the command was cut short before it got that far (a loaded machine).
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let pid = pid.trim();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !pid.is_empty() && !ended(pid) {
            assert!(
                std::time::Instant::now() < deadline,
                "what the command started is still running"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // The server itself goes on.
    let mut next = TcpStream::connect(&serve.addr).unwrap();
    next.write_all(b"again\n").unwrap();
    assert!(closed_unanswered(&mut next));
    serve.stop();
    msgframe()
        .args([
            "serve",
            "-l",
            ":0",
            "-f",
            "lines",
            "--echo",
            "--exec-timeout",
            "1s",
        ])
        .assert()
        .code(2)
        .stderr("msgframe: --exec-timeout applies to --exec only\n");
}
