//! Logs an operator can read, from the built binary on loopback: `serve` and `proxy` log every
//! connect and close with its reason and time, refusals, and their counters on SIGTERM; `-v`
//! shows the library's own events; `send` shows each reply's latency and names a malformed reply
//! for what it is.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use serde_json::Value;
use support::{closed_unanswered, is_timestamp, msgframe, starts_with_timestamp, Running};

fn json(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines().filter(|l| !l.is_empty()).map(json).collect()
}

/// The events of one kind.
fn events<'a>(all: &'a [Value], event: &str) -> Vec<&'a Value> {
    all.iter().filter(|e| e["event"] == event).collect()
}

/// Connects to `addr` with reads bounded at 30 s.
fn connect(addr: &str) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
}

/// A length header of ASCII digits whose first bytes are letters.
const MALFORMED: &[u8] = b"zz9xhello";

#[test]
fn serve_logs_connects_and_closes_with_their_reasons_and_its_counters_on_sigterm() {
    let serve = Running::start(&[
        "serve",
        "-l",
        "127.0.0.1:0",
        "-f",
        "ascii:4",
        "--echo",
        "--idle-timeout",
        "1s",
    ]);
    // A malformed frame: the server closes the connection.
    let mut bad = connect(&serve.addr);
    bad.write_all(MALFORMED).unwrap();
    assert!(closed_unanswered(&mut bad), "closed on a malformed frame");
    // A client answered once, then idle past --idle-timeout: reaped.
    let mut idle = connect(&serve.addr);
    idle.write_all(b"0002hi").unwrap();
    let mut echoed = [0u8; 6];
    idle.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"0002hi");
    assert!(closed_unanswered(&mut idle), "reaped");

    let (code, log, _) = serve.terminate();
    assert_eq!(code, Some(0), "SIGTERM ends serve gracefully: {log}");
    // Every line starts with the time, but the hex dump's and the counters' details.
    for line in log.lines().filter(|l| !l.starts_with("  ")) {
        assert!(starts_with_timestamp(line), "{line:?} in {log}");
    }
    let bad = bad.local_addr().unwrap();
    let idle = idle.local_addr().unwrap();
    assert!(log.contains(&format!("#1 {bad} connected")), "{log}");
    let closed = log
        .lines()
        .find(|l| l.contains(&format!("#1 {bad} closed: ")))
        .unwrap_or_else(|| panic!("no close line for {bad}: {log}"));
    // The malformed bytes and where they were.
    assert!(
        closed.contains("stream offset 0") && closed.contains("[7A 7A 39 78]"),
        "{closed}"
    );
    assert!(log.contains(&format!("#2 {idle} connected")), "{log}");
    assert!(log.contains(&format!("#2 {idle} -> 2 bytes")), "{log}");
    assert!(
        log.contains(&format!("#2 {idle} closed: reaped: idle")),
        "{log}"
    );
    // The counters, once it stopped.
    assert!(
        log.contains("stopped: 2 accepted, 0 refused"),
        "counters: {log}"
    );
    assert!(
        log.contains("  in: 1 frames, 2 bytes; out: 1 frames, 2 bytes"),
        "{log}"
    );
    assert!(
        log.contains("  closed: 1 invalid frame, 1 reaped idle"),
        "{log}"
    );
}

#[test]
fn serve_logs_a_refused_client_with_the_rule_that_refused_it() {
    let serve = Running::start(&[
        "serve",
        "-l",
        "127.0.0.1:0",
        "-f",
        "be:2",
        "--echo",
        "--deny",
        "127.0.0.1",
    ]);
    let mut client = connect(&serve.addr);
    let _ = client.write_all(b"\x00\x02hi");
    assert!(closed_unanswered(&mut client), "refused");
    let (code, log, _) = serve.terminate();
    assert_eq!(code, Some(0), "{log}");
    let peer = client.local_addr().unwrap();
    let refused = log
        .lines()
        .find(|l| l.contains(&format!(" {peer} refused: address denied")))
        .unwrap_or_else(|| panic!("no refusal of {peer}: {log}"));
    assert!(starts_with_timestamp(refused), "{refused}");
    assert!(
        log.contains("stopped: 0 accepted, 1 refused (1 by address, 0 server full"),
        "{log}"
    );
}

#[test]
fn serve_json_events_carry_their_time_a_refusal_and_a_malformed_frame() {
    let mut serve = Running::start(&[
        "serve",
        "-l",
        "127.0.0.1:0",
        "-f",
        "ascii:4",
        "--echo",
        "--max-connections",
        "1",
        "--json",
    ]);
    let mut first = connect(&serve.addr);
    // Its connect logged: the server holds its one connection.
    let connected = json(&serve.next_line());
    assert_eq!(connected["event"], "connected", "{connected}");
    assert_eq!(
        connected["peer"],
        first.local_addr().unwrap().to_string(),
        "{connected}"
    );
    // Over the cap: refused.
    let mut second = connect(&serve.addr);
    let _ = second.write_all(b"0002hi");
    assert!(closed_unanswered(&mut second), "refused");
    first.write_all(MALFORMED).unwrap();
    assert!(closed_unanswered(&mut first), "closed on a malformed frame");

    let (code, rest, _) = serve.terminate();
    assert_eq!(code, Some(0), "{rest}");
    let mut all = vec![connected];
    all.extend(json_lines(&rest));
    for event in &all {
        assert!(is_timestamp(&event["ts"]), "{event}");
    }
    let refused = events(&all, "refused");
    assert_eq!(refused.len(), 1, "{all:#?}");
    assert_eq!(refused[0]["peer"], second.local_addr().unwrap().to_string());
    assert_eq!(refused[0]["cause"], "total_cap");
    assert_eq!(refused[0]["reason"], "server full: 1 connections open");
    let closed = events(&all, "closed");
    assert_eq!(closed.len(), 1, "{all:#?}");
    assert_eq!(closed[0]["connection"], 1);
    assert_eq!(closed[0]["cause"], "invalid_frame", "{}", closed[0]);
    let reason = closed[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("stream offset 0") && reason.contains("[7A 7A 39 78]"),
        "{reason}"
    );
    let stopped = events(&all, "stopped");
    assert_eq!(stopped.len(), 1, "{all:#?}");
    let stopped = stopped[0];
    assert_eq!(stopped["accepted"], 1, "{stopped}");
    assert_eq!(stopped["refused"]["total_cap"], 1, "{stopped}");
    assert_eq!(stopped["refused"]["address"], 0, "{stopped}");
    assert_eq!(stopped["frames_in"], 0, "{stopped}");
    assert_eq!(stopped["closed"]["invalid_frame"], 1, "{stopped}");
    assert_eq!(all.last().unwrap()["event"], "stopped", "the last line");
}

/// Runs `serve` with these extra arguments and environment, one client exchange, SIGTERM: what
/// it wrote on stderr.
fn serve_stderr(extra: &[&str], env: &[(&str, &str)]) -> String {
    let mut args = vec!["serve", "-l", "127.0.0.1:0", "-f", "be:2", "--echo", "-q"];
    args.extend_from_slice(extra);
    let serve = Running::start_logged(&args, env);
    let mut client = connect(&serve.addr);
    client.write_all(b"\x00\x02hi").unwrap();
    let mut echoed = [0u8; 4];
    client.read_exact(&mut echoed).unwrap();
    drop(client);
    let (code, _, stderr) = serve.terminate();
    assert_eq!(code, Some(0), "{extra:?}: {stderr}");
    stderr
}

#[test]
fn verbose_shows_the_librarys_own_events_on_stderr() {
    assert_eq!(serve_stderr(&[], &[]), "", "nothing without -v");
    let info = serve_stderr(&["-v"], &[]);
    assert!(
        info.contains(" INFO ") && info.contains("serving"),
        "-v: {info}"
    );
    assert!(!info.contains("DEBUG"), "-v: {info}");
    let debug = serve_stderr(&["-vv"], &[]);
    assert!(
        debug.contains("DEBUG") && debug.contains("accepted"),
        "-vv: {debug}"
    );
    // RUST_LOG says instead.
    let chosen = serve_stderr(&[], &[("RUST_LOG", "msgframe_conn=debug")]);
    assert!(chosen.contains("DEBUG"), "RUST_LOG: {chosen}");
    let off = serve_stderr(&["-vv"], &[("RUST_LOG", "off")]);
    assert_eq!(off, "", "RUST_LOG=off");
}

/// Whether `text` is a duration as the command prints one: `1.23 ms`, `250 µs`, `1.00 s`.
fn is_duration(text: &str) -> bool {
    let Some((number, unit)) = text.split_once(' ') else {
        return false;
    };
    number.parse::<f64>().is_ok_and(|n| n >= 0.0) && ["ns", "µs", "ms", "s"].contains(&unit)
}

#[test]
fn send_shows_each_replys_latency() {
    let serve = Running::start(&["serve", "-l", "127.0.0.1:0", "-f", "be:2", "--echo", "-q"]);
    for quiet in [false, true] {
        let mut args = vec!["send", "--to", &serve.addr, "-f", "be:2", "--hex", "3030"];
        args.extend_from_slice(&["--repeat", "2"]);
        if quiet {
            args.push("-q");
        }
        let out = msgframe().args(&args).assert().success();
        let out = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        let replies: Vec<&str> = out.lines().filter(|l| l.starts_with("reply ")).collect();
        assert_eq!(replies.len(), 2, "{out}");
        for line in replies {
            let (_, latency) = line
                .split_once(": 2 bytes in ")
                .unwrap_or_else(|| panic!("{line}"));
            assert!(is_duration(latency), "{line}");
        }
    }
    let out = msgframe()
        .args(["send", "--to", &serve.addr, "-f", "be:2", "--hex", "3030"])
        .arg("--json")
        .assert()
        .success();
    let reply = json(
        std::str::from_utf8(&out.get_output().stdout)
            .unwrap()
            .trim(),
    );
    assert_eq!(reply["event"], "reply");
    assert!(
        reply["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{reply}"
    );
}

/// A host that answers every request with a malformed frame, for `connections` connections.
fn malformed_host(connections: usize) -> String {
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = host.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in host.incoming().take(connections) {
            let Ok(mut s) = stream else { return };
            std::thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                let mut buf = [0u8; 64];
                if matches!(s.read(&mut buf), Ok(n) if n > 0) {
                    let _ = s.write_all(MALFORMED);
                }
                // Until the client goes.
                while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    addr
}

#[test]
fn a_malformed_reply_is_an_invalid_frame_not_a_lost_connection() {
    let host = malformed_host(3);
    for extra in [&[][..], &["--short"]] {
        let assert = msgframe()
            .args(["send", "--to", &host, "-f", "ascii:4", "--hex", "3030"])
            .args(extra)
            .assert()
            .code(1);
        let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
        assert!(
            err.starts_with("msgframe: peer sent an invalid frame: frame at stream offset 0: "),
            "{extra:?}: {err}"
        );
        assert!(err.contains("[7A 7A 39 78]"), "{extra:?}: {err}");
        assert!(!err.contains("connection lost"), "{extra:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
    // With --json, the error is an event on stdout too.
    let assert = msgframe()
        .args([
            "send", "--to", &host, "-f", "ascii:4", "--hex", "3030", "--json",
        ])
        .assert()
        .code(1);
    let out = json_lines(std::str::from_utf8(&assert.get_output().stdout).unwrap());
    let error = out.last().expect("an error event");
    assert_eq!(error["event"], "error", "{error}");
    assert_eq!(error["code"], 1, "{error}");
    assert!(is_timestamp(&error["ts"]), "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("peer sent an invalid frame: "),
        "{error}"
    );
    assert!(
        !assert.get_output().stderr.is_empty(),
        "and its line on stderr"
    );
}

#[test]
fn proxy_logs_both_sides_connects_and_closes_as_json_events() {
    // An echo host: the first connection until the client goes, the second for one message,
    // after which the host closes.
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let host_addr = host.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for (n, stream) in host.incoming().take(2).enumerate() {
            let Ok(mut s) = stream else { return };
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut buf = [0u8; 4];
            while s.read_exact(&mut buf).is_ok() && s.write_all(&buf).is_ok() {
                if n == 1 {
                    break;
                }
            }
        }
    });
    let mut proxy = Running::start(&[
        "proxy",
        "-l",
        "127.0.0.1:0",
        "--to",
        &host_addr,
        "-f",
        "be:2",
        "--json",
    ]);
    let mut all = Vec::new();
    let mut closes_seen = 0;
    let mut clients = Vec::new();
    for n in 0..2 {
        let mut client = connect(&proxy.addr);
        client.write_all(b"\x00\x02hi").unwrap();
        let mut echoed = [0u8; 4];
        client.read_exact(&mut echoed).unwrap();
        assert_eq!(&echoed, b"\x00\x02hi");
        clients.push(client.local_addr().unwrap().to_string());
        // The first client goes; the second stays until the host has closed (and with it the
        // proxy, the client's connection).
        if n == 1 {
            assert!(closed_unanswered(&mut client), "closed after the host");
        }
        drop(client);
        // Both sides' closes logged before the next connection.
        while closes_seen < 2 * clients.len() {
            let event = json(&proxy.next_line());
            if event["event"] == "closed" {
                closes_seen += 1;
            }
            all.push(event);
        }
    }
    let (code, rest, _) = proxy.terminate();
    assert_eq!(code, Some(0), "{rest}");
    all.extend(json_lines(&rest));
    for event in &all {
        assert!(is_timestamp(&event["ts"]), "{event}");
    }
    let on = |event: &str, connection: u64, side: &str| -> Value {
        let found: Vec<&Value> = all
            .iter()
            .filter(|e| e["event"] == event && e["connection"] == connection && e["side"] == side)
            .collect();
        assert_eq!(found.len(), 1, "{event} {connection} {side}: {all:#?}");
        found[0].clone()
    };
    for (connection, client) in [(1, &clients[0]), (2, &clients[1])] {
        assert_eq!(on("connected", connection, "client")["peer"], **client);
        assert_eq!(on("connected", connection, "host")["peer"], host_addr);
        let answer = all
            .iter()
            .find(|e| e["connection"] == connection && e["direction"] == "host -> client")
            .unwrap_or_else(|| panic!("no answer on {connection}: {all:#?}"));
        assert!(answer["latency_ms"].as_f64().is_some(), "{answer}");
    }
    // The client went first: its close, then the host side closed by the proxy.
    let client = on("closed", 1, "client");
    assert_eq!(client["peer"], clients[0]);
    assert_eq!(client["cause"], "peer_closed", "{client}");
    assert_eq!(client["reason"], "the peer closed the connection");
    let host = on("closed", 1, "host");
    assert_eq!(host["peer"], host_addr);
    assert_eq!(host["cause"], "closed", "{host}");
    assert_eq!(host["reason"], "closed by the proxy: the client side ended");
    let position = |e: &Value| all.iter().position(|x| x == e).unwrap();
    assert!(position(&client) < position(&host), "{all:#?}");
    // The host went first on the second: its close, then the client's, with why.
    let host = on("closed", 2, "host");
    assert_eq!(host["cause"], "peer_closed", "{host}");
    let client = on("closed", 2, "client");
    assert_eq!(client["cause"], "closed", "{client}");
    assert_eq!(
        client["reason"],
        "closed by the server: host side: the peer closed the connection"
    );
    assert!(position(&host) < position(&client), "{all:#?}");
}
