//! Short connections past TIME_WAIT: in a network namespace of its own (loopback only,
//! `tcp_tw_reuse=0`, a 2,000-port ephemeral range: a client that has used its ports up), 6,000
//! short exchanges complete when the client closes abortively or lets the host close first, or
//! closes gracefully from four local addresses, and fail with an error that names the cause and
//! the way out when it closes gracefully from one.

use std::process::{Command, Output};

/// A network namespace, deleted when dropped.
struct Namespace(String);

impl Namespace {
    /// Creates one, or says why it cannot.
    fn create() -> Result<Namespace, String> {
        let name = format!("msgframe-tw-{}", std::process::id());
        let added = Command::new("ip")
            .args(["netns", "add", &name])
            .output()
            .map_err(|e| format!("`ip` cannot run ({e}); install iproute2"))?;
        if !added.status.success() {
            return Err(format!(
                "`ip netns add` failed (it needs root): {}",
                String::from_utf8_lossy(&added.stderr).trim()
            ));
        }
        let ns = Namespace(name);
        ns.run(&["ip", "link", "set", "lo", "up"])?;
        ns.run(&[
            "sysctl",
            "-q",
            "-w",
            "net.ipv4.tcp_tw_reuse=0",
            "net.ipv4.ip_local_port_range=40000 41999",
        ])?;
        Ok(ns)
    }

    fn exec(&self, args: &[&str]) -> std::io::Result<Output> {
        Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(args)
            .output()
    }

    fn run(&self, args: &[&str]) -> Result<(), String> {
        match self.exec(args) {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => Err(format!(
                "{args:?} in the namespace failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => Err(format!("{args:?} in the namespace: {e}")),
        }
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

fn bench(ns: &Namespace, close: &str, extra: &[&str]) -> Output {
    let bin = assert_cmd::cargo::cargo_bin("msgframe");
    let bin = bin.to_str().expect("a UTF-8 path");
    let mut args = vec![
        bin,
        "bench",
        "--short",
        "--count",
        "6000",
        "--connections",
        "4",
    ];
    args.extend_from_slice(&["--close", close, "--json"]);
    args.extend_from_slice(extra);
    ns.exec(&args).expect("the command runs")
}

#[test]
fn short_connections_outlast_a_used_up_port_range_with_abortive_and_host_first_closes() {
    let ns = match Namespace::create() {
        Ok(ns) => ns,
        Err(why) => {
            eprintln!("skipped: no network namespace for this test: {why}");
            return;
        }
    };
    for close in ["abortive", "host-first"] {
        let out = bench(&ns, close, &[]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "--close {close}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: serde_json::Value =
            serde_json::from_str(stdout.lines().last().expect("a summary line")).expect("JSON");
        assert_eq!(summary["count"], 6000, "{summary}");
        assert_eq!(summary["time_wait"], 0, "--close {close}: {summary}");
    }
    let out = bench(&ns, "graceful", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no local port free"), "{stderr}");
    assert!(stderr.contains("in TIME_WAIT"), "{stderr}");
    assert!(
        stderr.contains("abortive") && stderr.contains("host-first"),
        "{stderr}"
    );
    // Closing gracefully from four local addresses: four ranges of ports, enough for all 6,000
    // (TIME_WAIT left on the client).
    let mut from = Vec::new();
    for ip in ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"] {
        from.extend(["--local-address", ip]);
    }
    let out = bench(&ns, "graceful", &from);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
