//! The `msgframe` command over TLS: `send` to `serve` with mutual TLS, a refused client without a
//! certificate, `proxy` terminating TLS in front of a plain host, and `--insecure`.

#[path = "../../msgframe-conn/tests/certs/mod.rs"]
mod certs;
mod support;

use certs::Ca;
use std::path::{Path, PathBuf};
use support::{msgframe, Running};

struct Files {
    ca: PathBuf,
    host_cert: PathBuf,
    host_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn files(tag: &str) -> Files {
    let ca = Ca::new("CLI Test Root");
    let host = ca.issue("cli-host", &["localhost"], false);
    let client = ca.issue("cli-terminal", &[], false);
    let dir = std::env::temp_dir().join(format!("msgframe-cli-tls-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    Files {
        ca: write("ca.pem", &ca.pem()),
        host_cert: write("host.pem", &host.cert),
        host_key: write("host.key", &host.key),
        client_cert: write("client.pem", &client.cert),
        client_key: write("client.key", &client.key),
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn send_and_serve_with_mutual_tls() {
    let f = files("mtls");
    let serve = Running::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--framing",
        "ascii:4",
        "--echo",
        "--tls",
        "--cert",
        s(&f.host_cert),
        "--key",
        s(&f.host_key),
        "--ca",
        s(&f.ca),
    ]);
    msgframe()
        .args([
            "send",
            "--to",
            &serve.addr,
            "--framing",
            "ascii:4",
            "--out",
            "raw",
            "--tls",
        ])
        .args([
            "--ca",
            s(&f.ca),
            "--cert",
            s(&f.client_cert),
            "--key",
            s(&f.client_key),
        ])
        .args([
            "--server-name",
            "localhost",
            "--hex",
            "3038303020736563757265",
        ])
        .assert()
        .success()
        .stdout("0800 secure");

    // Without a client certificate: refused, and said so.
    let assert = msgframe()
        .args([
            "send",
            "--to",
            &serve.addr,
            "--framing",
            "ascii:4",
            "--tls",
            "--ca",
            s(&f.ca),
        ])
        .args(["--server-name", "localhost", "--hex", "30"])
        .assert()
        .code(1);
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(err.contains("client certificate"), "{err}");
}

#[test]
fn proxy_terminates_tls_in_front_of_a_plain_host() {
    let f = files("proxy");
    let host = Running::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--framing",
        "be:2",
        "--echo",
    ]);
    let proxy = Running::start(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--to",
        &host.addr,
        "--framing",
        "ascii:4",
        "--upstream-framing",
        "be:2",
        "--tls",
        "--cert",
        s(&f.host_cert),
        "--key",
        s(&f.host_key),
    ]);
    msgframe()
        .args([
            "send",
            "--to",
            &proxy.addr,
            "--framing",
            "ascii:4",
            "--out",
            "raw",
            "--tls",
        ])
        .args([
            "--ca",
            s(&f.ca),
            "--server-name",
            "localhost",
            "--hex",
            "6869",
        ])
        .assert()
        .success()
        .stdout("hi");
}

#[test]
fn insecure_is_labelled_and_skips_the_check() {
    let f = files("insecure");
    let serve = Running::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--framing",
        "be:2",
        "--echo",
        "--tls",
        "--cert",
        s(&f.host_cert),
        "--key",
        s(&f.host_key),
    ]);
    // No CA given: the certificate cannot be checked, --insecure accepts it anyway.
    let assert = msgframe()
        .args([
            "send",
            "--to",
            &serve.addr,
            "--framing",
            "be:2",
            "--out",
            "raw",
            "--tls",
            "--insecure",
        ])
        .args(["--hex", "6f6b"])
        .assert()
        .success()
        .stdout("ok");
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(err.contains("WARNING") && err.contains("insecure"), "{err}");
}
