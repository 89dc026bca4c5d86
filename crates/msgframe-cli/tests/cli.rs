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
use support::{
    closed_after_first_line, closed_before_output, closed_unanswered, msgframe, Running,
};

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
    let port = first.local_addr().unwrap().port();
    assert!(
        log.contains(&format!("#1 client 127.0.0.1:{port} closed: reaped: idle")),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "#1 host {host_addr} closed: closed by the proxy: the client side ended"
        )),
        "{log}"
    );
    assert!(log.contains(" refused: server full"), "{log}");
}

#[test]
fn proxy_writes_what_crosses_as_a_pcap_that_split_reads_back_frame_for_frame() {
    proxy_pcap_reads_back(None);
}

#[test]
fn proxy_writes_the_host_leg_as_framed_for_the_host_with_upstream_framing() {
    proxy_pcap_reads_back(Some("be:4"));
}

/// A proxy with `--pcap` and `--hex-dump` (and `--upstream-framing upstream`), two clients one
/// after the other: both legs of each connection in the pcap, frame for frame.
fn proxy_pcap_reads_back(upstream: Option<&str>) {
    let host_framing = upstream.unwrap_or("be:2");
    // The length of a message's header, for the host.
    let host_header = if upstream.is_some() { 4 } else { 2 };
    // An echo host, for two connections (bytes back as they came, in any framing); it tells
    // where each connection came from.
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let host_addr = host.local_addr().unwrap().to_string();
    let (from_tx, from_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in host.incoming().take(2) {
            let Ok(mut s) = stream else { return };
            let _ = from_tx.send(s.peer_addr().unwrap());
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let tag = host_framing.replace(':', "");
    let pcap = temp_file(&format!("relay-{tag}.pcap"), b"");
    let hex_dump = temp_file(&format!("relay-{tag}.txt"), b"");
    let mut args = vec![
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--to",
        &host_addr,
        "--framing",
        "be:2",
        "--quiet",
        "--pcap",
        pcap.to_str().unwrap(),
        "--hex-dump",
        hex_dump.to_str().unwrap(),
    ];
    if let Some(upstream) = upstream {
        args.extend(["--upstream-framing", upstream]);
    }
    let proxy = Running::start(&args);
    let bodies: Vec<Vec<u8>> = (0..6)
        .map(|i| format!("0200{i:06} amount={}{}", i * 100, "x".repeat(i * 500)).into_bytes())
        .collect();
    // Two clients one after the other: all six messages, then the first two.
    let mut ports = Vec::new();
    for count in [6, 2] {
        let mut client = TcpStream::connect(&proxy.addr).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        ports.push(client.local_addr().unwrap().port());
        for body in &bodies[..count] {
            let framed = encoded("be:2", &[body]);
            client.write_all(&framed).unwrap();
            let mut echoed = vec![0u8; framed.len()];
            client.read_exact(&mut echoed).unwrap();
            assert_eq!(echoed, framed);
        }
    }
    let proxy_addr = proxy.addr.clone();
    let (stopped, _) = proxy.interrupt();
    assert!(stopped, "the proxy ends cleanly on Ctrl-C");

    // Where the proxy's connections to the host came from.
    let upstream_ends: Vec<String> = from_rx.try_iter().map(|a| a.to_string()).collect();
    assert_eq!(upstream_ends.len(), 2);

    // The conversations: two per client, its own (the proxy's end where it listened), then the
    // proxy's to the host (from the upstream connection's own address).
    let assert = msgframe()
        .args(["split", "--list", "--json"])
        .arg(&pcap)
        .assert()
        .success();
    assert!(
        assert.get_output().stderr.is_empty(),
        "no warning: the file is whole"
    );
    let list = json_lines(&assert.get_output().stdout);
    assert_eq!(list.len(), 4, "{list:?}");
    let legs = [
        (format!("127.0.0.1:{}", ports[0]), &proxy_addr, 6, 2),
        (upstream_ends[0].clone(), &host_addr, 6, host_header),
        (format!("127.0.0.1:{}", ports[1]), &proxy_addr, 2, 2),
        (upstream_ends[1].clone(), &host_addr, 2, host_header),
    ];
    for (c, (client, server, count, header)) in list.iter().zip(legs) {
        assert_eq!(c["client"], client, "{c}");
        assert_eq!(&c["server"], server, "{c}");
        let bytes: usize = bodies[..count].iter().map(|b| b.len() + header).sum();
        assert_eq!(c["to_server"]["bytes"], bytes);
        assert_eq!(c["to_client"]["bytes"], bytes);
        assert_eq!(c["to_server"]["missing"], 0);
        // The handshake (3), a segment per message each way, the FINs and the last ACK (3).
        let packets = c["to_server"]["packets"].as_u64().unwrap()
            + c["to_client"]["packets"].as_u64().unwrap();
        assert_eq!(packets, 2 * count as u64 + 6, "{c}");
    }

    // Frame for frame: each request, then its echo, in the order they crossed, as framed on
    // each leg.
    for (stream, framing, count) in [
        ("0", "be:2", 6),
        ("1", host_framing, 6),
        ("2", "be:2", 2),
        ("3", host_framing, 2),
    ] {
        let assert = msgframe()
            .args(["split", "--framing", framing, "--json", "--stream", stream])
            .arg(&pcap)
            .assert()
            .success();
        let lines = json_lines(&assert.get_output().stdout);
        let frames: Vec<(String, String)> = lines
            .iter()
            .filter(|l| l["event"] == "frame")
            .map(|f| {
                assert!(f["ts"].as_str().unwrap().ends_with('Z'), "{f}");
                (
                    f["direction"].as_str().unwrap().to_owned(),
                    f["hex"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let expected: Vec<(String, String)> = bodies[..count]
            .iter()
            .flat_map(|b| {
                let hex = msgframe_codec::header::hex::display(b).to_string();
                [
                    ("to-server".to_owned(), hex.clone()),
                    ("to-client".to_owned(), hex),
                ]
            })
            .collect();
        assert_eq!(frames, expected, "stream {stream}");
        let ends: Vec<_> = lines.iter().filter(|l| l["event"] == "end").collect();
        assert!(ends.iter().all(|e| e["complete"] == true), "{ends:?}");
    }

    // The hex dump: every message both ways, with its time; the connections open and close.
    let text = std::fs::read_to_string(&hex_dump).unwrap();
    assert_eq!(text.matches(" client -> host: ").count(), 8, "{text}");
    assert_eq!(text.matches(" host -> client: ").count(), 8, "{text}");
    assert_eq!(text.matches(" opened 127.0.0.1:").count(), 2, "{text}");
    assert_eq!(text.matches(" closed: ").count(), 2, "{text}");
    let first = text.lines().nth(1).unwrap();
    assert!(
        first.ends_with(&format!(
            " #1 client -> host: {} bytes",
            bodies[0].len() + 2
        )),
        "{text}"
    );
    assert!(first.contains('T') && first.contains("Z #1"), "{first}");
    assert!(text.contains("|..0200000000 amo|"), "{text}");
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
        // Twenty frames: enough evidence to be confident.
        let bodies: Vec<Vec<u8>> = (1..=20)
            .map(|i| format!("0200{i:06}amount={}{}", i * 100, "*".repeat(i % 7)).into_bytes())
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
        let lines: Vec<serde_json::Value> = out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        let (top, verdict) = (&lines[0], &lines[1]);
        assert_eq!(top["event"], "answer", "{top}");
        assert_eq!(top["spec"], spec, "{top}");
        assert_eq!(top["frames"], 20);
        assert_eq!(verdict["event"], "verdict", "{verdict}");
        assert_eq!(verdict["confident"], true, "{verdict}");
        assert_eq!(verdict["spec"], spec, "{verdict}");
    }
}

#[test]
fn sniff_on_random_bytes_is_not_confident_and_exits_with_4() {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let bytes: Vec<u8> = (0..3000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let path = temp_file("sniff-random.bin", &bytes);
    let out = msgframe().arg("sniff").arg(&path).assert().code(4);
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(stdout.contains("no framing is confident"), "{stdout}");
    assert!(stderr.contains("no framing is confident"), "{stderr}");
    let out = msgframe()
        .args(["sniff", "--json"])
        .arg(&path)
        .assert()
        .code(4);
    let last = out
        .get_output()
        .stdout
        .trim_ascii()
        .rsplit(|&b| b == b'\n')
        .next()
        .unwrap()
        .to_vec();
    let verdict: serde_json::Value = serde_json::from_slice(&last).unwrap();
    assert_eq!(verdict["event"], "verdict");
    assert_eq!(verdict["confident"], false, "{verdict}");
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
            // Two frames are too few to be confident of: ranked first, exit 4.
            .code(4)
            .get_output()
            .stdout
            .clone();
        let first = out.split(|&b| b == b'\n').next().unwrap();
        let top: serde_json::Value = serde_json::from_slice(first).unwrap();
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
fn a_capture_cut_short_is_split_up_to_the_cut_with_a_warning() {
    let mut c = Conversation::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 9000));
    c.client_sends(b"0004ping").client_sends(b"0004pong");
    let whole = c.write(Format::Pcap);
    c.client_sends(b"0004lost");
    let longer = c.write(Format::Pcap);
    // Cut inside the last packet, 20 bytes into its record.
    let cut = whole.len() + 20;
    let path = temp_file("cut-short.pcap", &longer[..cut]);
    let assert = msgframe()
        .args([
            "split",
            "--framing",
            "ascii:4",
            "--brief",
            "--direction",
            "to-server",
        ])
        .arg(&path)
        .assert()
        .success();
    let out = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert_eq!(out.matches("body 4 bytes").count(), 2, "{out}");
    assert!(out.contains("every byte is in a whole frame"), "{out}");
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(
        err.contains("warning") && err.contains("truncated capture"),
        "{err}"
    );
    assert!(
        err.contains(&format!("ends at byte {cut}"))
            && err.contains(&format!("record at byte {}", whole.len())),
        "{err}"
    );
    // A damaged capture is still refused: exit 3.
    let mut damaged = longer.clone();
    let at = whole.len() + 8;
    damaged[at..at + 4].copy_from_slice(&[0xff; 4]);
    let path = temp_file("damaged.pcap", &damaged);
    msgframe()
        .args(["split", "--framing", "ascii:4"])
        .arg(&path)
        .assert()
        .code(3);
}

/// The JSON lines of an output.
fn json_lines(out: &[u8]) -> Vec<serde_json::Value> {
    out.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

/// A conversation of four exchanges captured one packet a millisecond (packets 1 and 2 are the
/// handshake): the client's `0004ping` in two segments captured the wrong way round (packets 4
/// and 3), the server's `0004pong` (5), the client's `0004more` (6), the server's `0004done`
/// (7).
fn exchanges() -> Conversation {
    let mut c = Conversation::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 9000));
    c.client_sends_reordered(b"000", b"4ping")
        .server_sends(b"0004pong")
        .client_sends(b"0004more")
        .server_sends(b"0004done");
    c
}

#[test]
fn split_shows_both_directions_in_capture_order_with_their_packets_times() {
    for format in [Format::Pcap, Format::PcapNg] {
        let path = temp_file(
            &format!("exchanges-{format:?}.cap"),
            &exchanges().write(format),
        );
        let out = msgframe()
            .args(["split", "--framing", "ascii:4", "--json"])
            .arg(&path)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let lines = json_lines(&out);
        let frames: Vec<_> = lines.iter().filter(|l| l["event"] == "frame").collect();
        let seen: Vec<(&str, &str, u64, &str)> = frames
            .iter()
            .map(|f| {
                (
                    f["hex"].as_str().unwrap(),
                    f["direction"].as_str().unwrap(),
                    f["packet"].as_u64().unwrap(),
                    f["ts"].as_str().unwrap(),
                )
            })
            .collect();
        let hex = |s: &str| msgframe_codec::header::hex::display(s.as_bytes()).to_string();
        let (ping, pong, more, done) = (hex("ping"), hex("pong"), hex("more"), hex("done"));
        assert_eq!(
            seen,
            [
                // Completed by packet 4, the first segment, captured second.
                (&*ping, "to-server", 4, "1970-01-01T00:00:00.003Z"),
                (&*pong, "to-client", 5, "1970-01-01T00:00:00.004Z"),
                (&*more, "to-server", 6, "1970-01-01T00:00:00.005Z"),
                (&*done, "to-client", 7, "1970-01-01T00:00:00.006Z"),
            ],
            "{format:?}"
        );
        // Each direction ends with its own summary.
        let ends: Vec<_> = lines.iter().filter(|l| l["event"] == "end").collect();
        assert_eq!(ends.len(), 2);
        assert!(ends
            .iter()
            .all(|e| e["frames"] == 2 && e["complete"] == true));

        // In text: the time, the direction, the frame, its packet.
        let out = msgframe()
            .args(["split", "--framing", "ascii:4", "--brief"])
            .arg(&path)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let out = String::from_utf8(out).unwrap();
        let frame_lines: Vec<&str> = out.lines().filter(|l| l.contains(" offset ")).collect();
        assert_eq!(frame_lines.len(), 4, "{out}");
        assert!(
            frame_lines[0].starts_with(
                "1970-01-01T00:00:00.003Z  10.0.0.1:40000 -> 10.0.0.2:9000  #1  offset 0"
            ) && frame_lines[0].ends_with("(packet 4)"),
            "{out}"
        );
        assert!(
            frame_lines[1].starts_with(
                "1970-01-01T00:00:00.004Z  10.0.0.2:9000 -> 10.0.0.1:40000  #1  offset 0"
            ),
            "{out}"
        );
        assert!(frame_lines[3].contains("#2  offset 8"), "{out}");

        // One direction: the same times, no direction label.
        let out = msgframe()
            .args([
                "split",
                "--framing",
                "ascii:4",
                "--brief",
                "--direction",
                "to-client",
            ])
            .arg(&path)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.contains("\n1970-01-01T00:00:00.006Z  #2  offset 8  8 bytes on the wire, body 4 bytes  (packet 7)\n"),
            "{out}"
        );
    }
}

#[test]
fn split_lists_a_captures_conversations() {
    let mut c = exchanges();
    c.client_sends_uncaptured(b"0004lost")
        .client_sends(b"0004last");
    let path = temp_file("list.pcap", &c.write(Format::Pcap));
    let out = msgframe()
        .args(["split", "--list", "--json"])
        .arg(&path)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let c = &lines[0];
    assert_eq!(c["event"], "conversation");
    assert_eq!(c["index"], 0);
    assert_eq!(
        (c["client"].as_str(), c["server"].as_str()),
        (Some("10.0.0.1:40000"), Some("10.0.0.2:9000"))
    );
    // SYN, two segments of ping, more, last; SYN-ACK, pong, done.
    assert_eq!(c["to_server"]["packets"], 5);
    assert_eq!(c["to_server"]["bytes"], 24);
    assert_eq!(c["to_server"]["missing"], 8);
    assert_eq!(c["to_client"]["packets"], 3);
    assert_eq!(c["to_client"]["bytes"], 16);
    assert_eq!(c["first"], "1970-01-01T00:00:00.000Z");
    assert_eq!(c["last"], "1970-01-01T00:00:00.007Z");
    assert_eq!(
        (c["first_packet"].as_u64(), c["last_packet"].as_u64()),
        (Some(1), Some(8))
    );

    let out = msgframe()
        .args(["split", "--list"])
        .arg(&path)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.contains("1 TCP conversation (0 other packets)"),
        "{out}"
    );
    assert!(
        out.contains("#0  10.0.0.1:40000 -> 10.0.0.2:9000  to server: 5 packets, 24 bytes (8 missing); to client: 3 packets, 16 bytes  1970-01-01T00:00:00.000Z to 1970-01-01T00:00:00.007Z"),
        "{out}"
    );
    // Not on raw bytes, and not with a framing.
    let raw = temp_file("list.bin", b"0004ping");
    msgframe()
        .args(["split", "--list"])
        .arg(&raw)
        .assert()
        .code(2);
    msgframe()
        .args(["split", "--list", "--framing", "be:2"])
        .arg(&path)
        .assert()
        .code(2);
    // Without --list, a framing is needed.
    msgframe().args(["split"]).arg(&path).assert().code(2);
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
    assert!(String::from_utf8_lossy(&out).contains("req/s"));
}

/// The summary a `bench --json` run ends with.
fn bench_summary(out: &[u8]) -> serde_json::Value {
    let summary = json_lines(out).pop().expect("a summary line");
    assert_eq!(summary["event"], "summary", "{summary}");
    summary
}

/// Every percentile is there, above zero and in order.
fn assert_percentiles(summary: &serde_json::Value) {
    let latency = &summary["latency_ms"];
    let values: Vec<f64> = ["p50", "p90", "p99", "p999", "max"]
        .iter()
        .map(|p| {
            latency[p]
                .as_f64()
                .unwrap_or_else(|| panic!("{p}: {summary}"))
        })
        .collect();
    assert!(values[0] > 0.0, "{summary}");
    assert!(values.windows(2).all(|w| w[0] <= w[1]), "{summary}");
}

#[test]
fn bench_loads_a_real_serve_with_a_fixed_count_and_prints_percentiles() {
    let serve = Running::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--framing",
        "be:2",
        "--echo",
        "--quiet",
    ]);
    let out = msgframe()
        .args(["bench", "--to", &serve.addr, "--framing", "be:2"])
        .args(["--count", "200", "--connections", "2", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let summary = bench_summary(&out);
    assert_eq!(summary["to"], serve.addr.as_str());
    assert_eq!(summary["count"], 200);
    assert_eq!(summary["ok"], 200);
    assert_eq!(summary["errors"], 0);
    assert_eq!(summary["timeouts"], 0);
    assert_eq!(summary["loop"], "closed");
    assert!(summary["messages_per_second"].as_f64().unwrap() > 0.0);
    assert_percentiles(&summary);

    // The body from a file; the summary as text.
    let file = temp_file(
        "bench-payload.bin",
        b"0800 a request of 37 bytes, from file",
    );
    let out = msgframe()
        .args(["bench", "--to", &serve.addr, "--framing", "be:2"])
        .args(["--count", "100", "--payload-file"])
        .arg(&file)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("100 ok, 0 errors, 0 timeouts"), "{out}");
    for part in [" req/s", "p50 ", "p90 ", "p99 ", "p99.9 ", "max "] {
        assert!(out.contains(part), "{part}: {out}");
    }

    // Short connections to the same host, a key in each request checked in its reply.
    let out = msgframe()
        .args(["bench", "--to", &serve.addr, "--framing", "be:2", "--short"])
        .args(["--count", "20", "--connections", "2", "--json"])
        .args([
            "--payload-hex",
            "30 38 30 30 00 00 00 00",
            "--key",
            "4:4:be",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let summary = bench_summary(&out);
    assert_eq!(
        (summary["ok"].as_u64(), summary["short"].as_bool()),
        (Some(20), Some(true))
    );
    assert_percentiles(&summary);

    let log = serve.stop();
    assert_eq!(log.matches("-> 100 bytes").count(), 200, "{log}");
    assert_eq!(log.matches("-> 37 bytes").count(), 100, "{log}");
    assert_eq!(log.matches("-> 8 bytes").count(), 20, "{log}");
}

#[test]
fn bench_open_loop_issues_requests_on_a_schedule() {
    let serve = Running::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--framing",
        "ascii:4",
        "--echo",
        "--quiet",
    ]);
    let out = msgframe()
        .args(["bench", "--to", &serve.addr, "--framing", "ascii:4"])
        .args(["--rate", "200/s", "--duration", "1s", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let summary = bench_summary(&out);
    let count = summary["count"].as_u64().unwrap();
    assert!((100..=300).contains(&count), "{summary}");
    assert_eq!(summary["ok"], count);
    assert_eq!(summary["errors"], 0);
    assert_eq!(summary["loop"], "open");
    assert_eq!(summary["rate"], 200.0);
    assert!(
        summary["issue_lag_ms"]["max"].as_f64().is_some(),
        "{summary}"
    );
    assert_percentiles(&summary);
    // A count ends an open loop too.
    let out = msgframe()
        .args(["bench", "--to", &serve.addr, "--framing", "ascii:4"])
        .args(["--rate", "1k/s", "--count", "50", "--short"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.starts_with("50 requests to "), "{out}");
    assert!(out.contains("open loop at 1.00k req/s"), "{out}");
    assert!(out.contains("latency ms (from the schedule)"), "{out}");
}

/// What a test host saw on one connection: the bodies received, and how many batches it answered
/// in reverse order.
type Seen = (Vec<Vec<u8>>, usize);

/// An echo host (be:2) that answers out of order: it holds what arrives and answers each batch
/// (four messages, or what came before a 20 ms lull) last first. For each of `connections`
/// connections, once it closes: what it saw.
fn reordering_echo(connections: usize) -> (String, std::sync::mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let Ok(mut s) = stream else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
                let (mut seen, mut reversed) = (Vec::new(), 0);
                let (mut buf, mut pending) = (Vec::new(), Vec::<Vec<u8>>::new());
                let mut chunk = [0u8; 4096];
                loop {
                    let lull = match s.read(&mut chunk) {
                        Ok(0) => break,
                        Ok(n) => {
                            buf.extend_from_slice(&chunk[..n]);
                            false
                        }
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) =>
                        {
                            true
                        }
                        Err(_) => break,
                    };
                    while buf.len() >= 2 {
                        let len = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
                        if buf.len() < 2 + len {
                            break;
                        }
                        let body: Vec<u8> = buf.drain(..2 + len).skip(2).collect();
                        seen.push(body.clone());
                        pending.push(body);
                    }
                    if pending.len() >= 4 || (lull && !pending.is_empty()) {
                        reversed += usize::from(pending.len() > 1);
                        let mut out = Vec::new();
                        for body in pending.drain(..).rev() {
                            out.extend_from_slice(&(body.len() as u16).to_be_bytes());
                            out.extend_from_slice(&body);
                        }
                        if s.write_all(&out).is_err() {
                            break;
                        }
                    }
                }
                let _ = tx.send((seen, reversed));
            });
        }
    });
    (addr, rx)
}

#[test]
fn bench_matches_replies_by_key_with_several_in_flight() {
    let (addr, done) = reordering_echo(2);
    let payload = "0200______ pay 100";
    let out = msgframe()
        .args([
            "bench",
            "--to",
            &addr,
            "--framing",
            "be:2",
            "--payload",
            payload,
        ])
        .args(["--key", "4:6", "--connections", "2", "--in-flight", "8"])
        .args(["--count", "400", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let summary = bench_summary(&out);
    assert_eq!(summary["ok"], 400, "{summary}");
    assert_eq!(summary["errors"], 0, "{summary}");
    assert_eq!(summary["timeouts"], 0, "{summary}");
    assert_eq!(summary["unmatched"], 0, "{summary}");
    assert_eq!(summary["in_flight"], 8, "{summary}");
    assert_percentiles(&summary);

    // The host saw 400 requests, each the payload with its own six-digit key.
    let mut keys = std::collections::BTreeSet::new();
    let mut reversed = 0;
    for _ in 0..2 {
        let (seen, r) = done.recv_timeout(Duration::from_secs(20)).unwrap();
        reversed += r;
        for body in seen {
            assert_eq!(body.len(), payload.len());
            assert_eq!((&body[..4], &body[10..]), (&b"0200"[..], &b" pay 100"[..]));
            assert!(body[4..10].iter().all(u8::is_ascii_digit), "{body:?}");
            assert!(keys.insert(body[4..10].to_vec()), "a key twice: {body:?}");
        }
    }
    assert_eq!(keys.len(), 400);
    assert!(reversed > 0, "the host answered some batches out of order");
}

/// A host that takes `connections` connections and reads everything, answering nothing.
fn silent_host(connections: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let Ok(mut s) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    addr
}

#[test]
fn bench_counts_timeouts_from_a_host_that_does_not_answer_and_exits_with_1() {
    let addr = silent_host(4);
    for extra in [&[][..], &["--key", "0:4", "--in-flight", "3"][..]] {
        let assert = msgframe()
            .args(["bench", "--to", &addr, "--count", "6", "--connections", "2"])
            .args(["--timeout", "200ms", "--json"])
            .args(extra)
            .assert()
            .code(1);
        let summary = bench_summary(&assert.get_output().stdout);
        assert_eq!(summary["count"], 6, "{extra:?} {summary}");
        assert_eq!(summary["timeouts"], 6, "{extra:?} {summary}");
        assert_eq!(summary["ok"], 0, "{summary}");
        assert_eq!(summary["errors"], 0, "{summary}");
        assert!(summary["latency_ms"].is_null(), "{summary}");
        let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("6 of 6 requests failed: 6 timed out"), "{err}");
    }
}

#[test]
fn bench_refuses_bad_options_and_an_unreachable_host() {
    for bad in [
        &["--in-flight", "8"][..],
        &["--size", "8", "--key", "4:6"],
        &["--rate", "0/s"],
        &["--rate", "fast"],
        &["--key", "4"],
        &["--payload-hex", "zz"],
        &["--key", "0:1", "--in-flight", "5", "--connections", "2"],
        &["--short", "--in-flight", "2", "--key", "0:4"],
    ] {
        let assert = msgframe().arg("bench").args(bad).assert().code(2);
        assert!(!assert.get_output().stderr.is_empty(), "{bad:?}");
    }
    // A port bound but not listening refuses connections, and no other program can take it.
    let (_reserved, port) = support::refusing_port();
    let to = format!("127.0.0.1:{port}");
    let assert = msgframe()
        .args(["bench", "--to", &to, "--count", "5"])
        .assert()
        .code(1);
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(
        err.contains("cannot connect") && err.contains("refused"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    // Short connections: each refusal counted.
    let assert = msgframe()
        .args(["bench", "--to", &to, "--count", "5", "--short", "--json"])
        .assert()
        .code(1);
    let summary = bench_summary(&assert.get_output().stdout);
    assert_eq!(summary["errors"], 5, "{summary}");
    let help = msgframe()
        .args(["bench", "--help"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(String::from_utf8(help).unwrap().contains("Examples:"));
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
    // A port bound but not listening refuses connections, and no other program can take it.
    let (_reserved, port) = support::refusing_port();
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
        &["bench", "--to", "localhost", "-f", "be:2", "--count", "1"],
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

#[test]
fn sniff_ends_quietly_when_its_reader_goes_away() {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let random: Vec<u8> = (0..3000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    // A confident answer, and none (exit 4 with a reader): nobody reads either, so status 0.
    for (stream, what) in [(long_stream(), "framed"), (random, "random")] {
        for extra in [&[][..], &["--json"], &["--top", "5"]] {
            let mut args = vec!["sniff", "-"];
            args.extend_from_slice(extra);
            let (status, stderr) = closed_before_output(&args, &stream);
            assert_eq!(status.code(), Some(0), "{what} {extra:?}: {stderr}");
            assert!(stderr.is_empty(), "{what} {extra:?}: {stderr}");
        }
    }
}

#[test]
fn bench_ends_quietly_when_its_reader_goes_away() {
    for extra in [&[][..], &["--json"]] {
        let mut args = vec!["bench", "-f", "be:2", "--count", "50", "--connections", "1"];
        args.extend_from_slice(extra);
        let (status, stderr) = closed_before_output(&args, b"");
        assert_quiet_success(status, &stderr);
    }
}

#[test]
fn split_of_a_capture_and_its_list_end_quietly_when_their_reader_goes_away() {
    let capture = exchanges().write(Format::Pcap);
    for args in [
        &["split", "--list", "-"][..],
        &["split", "--list", "--json", "-"],
        // Both directions interleaved, and one.
        &["split", "-f", "ascii:4", "-"],
        &["split", "-f", "ascii:4", "--json", "-"],
        &["split", "-f", "ascii:4", "--direction", "to-client", "-"],
    ] {
        let (status, stderr) = closed_before_output(args, &capture);
        assert_quiet_success(status, &stderr);
    }
}

#[test]
fn a_proxy_whose_reader_goes_away_still_completes_its_recordings() {
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let host_addr = host.local_addr().unwrap().to_string();
    // Holds the connection the proxy opens until the test ends.
    let _accepting = std::thread::spawn(move || host.accept());
    let dir = std::env::temp_dir().join(format!("msgframe-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("closed-log.pcap");
    let hex = dir.join("closed-log.txt");
    let (status, stderr) = closed_after_first_line(
        &[
            "proxy",
            "-l",
            "127.0.0.1:0",
            "--to",
            &host_addr,
            "-f",
            "be:2",
            "--pcap",
            pcap.to_str().unwrap(),
            "--hex-dump",
            hex.to_str().unwrap(),
        ],
        b"",
        |first| {
            let addr = first.split_whitespace().nth(2).unwrap();
            let mut client = TcpStream::connect(addr).unwrap();
            let _ = client.write_all(b"\x00\x02hi");
            assert!(closed_unanswered(&mut client));
        },
    );
    assert_quiet_success(status, &stderr);
    // The connection is in both files, opened and closed.
    let out = msgframe()
        .args(["split", "--list", "--json"])
        .arg(&pcap)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let lines = json_lines(&out);
    // The client's leg and the host's.
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines.iter().all(|l| l["event"] == "conversation"),
        "{lines:?}"
    );
    assert_eq!(lines[1]["server"], host_addr);
    let text = std::fs::read_to_string(&hex).unwrap();
    assert_eq!(text.matches(" opened 127.0.0.1:").count(), 1, "{text}");
    assert_eq!(text.matches(" closed: ").count(), 1, "{text}");
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
