//! Interop with a third-party TLS peer: OpenSSL's `s_server` and `s_client` carrying framed
//! messages both ways to and from msgframe's long client and server, with mutual TLS. Skipped
//! with a note when `openssl` is not installed, unless `CI=true` (then missing is a failure;
//! `.ci/install-interop-openssl.sh` installs it).

mod certs;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use certs::Ca;
use msgframe_conn::tls::{ClientTls, ServerTls};
use msgframe_conn::{Backoff, Connection, LongClient, Reply, Server};

const S: Duration = Duration::from_secs(1);

fn openssl_available() -> bool {
    let found = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "openssl is not installed (CI=true): run .ci/install-interop-openssl.sh"
        );
        eprintln!("skipped: openssl is not installed");
    }
    found
}

fn write_temp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("msgframe-openssl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Reads exactly `n` bytes from a child's output on a blocking thread.
async fn read_exact_from(mut out: impl Read + Send + 'static, n: usize) -> (Vec<u8>, impl Read) {
    tokio::task::spawn_blocking(move || {
        let mut buf = vec![0u8; n];
        out.read_exact(&mut buf).unwrap();
        (buf, out)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn msgframe_long_client_with_mutual_tls_to_openssl_s_server() {
    if !openssl_available() {
        return;
    }
    let ca = Ca::new("Interop Root");
    let host = ca.issue("openssl-host", &["localhost"], false);
    let terminal = ca.issue("terminal-7", &[], false);
    let (cert, key, ca_file) = (
        write_temp("host.pem", &host.cert),
        write_temp("host.key", &host.key),
        write_temp("ca.pem", &ca.pem()),
    );
    let port = free_port();
    let mut server = Command::new("openssl")
        .args(["s_server", "-quiet", "-naccept", "1", "-accept"])
        .arg(port.to_string())
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .arg("-CAfile")
        .arg(&ca_file)
        .args(["-Verify", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = server.stdin.take().unwrap();
    let stdout = server.stdout.take().unwrap();
    let _server = Killed(server);

    let tls = ClientTls::new()
        .ca_pem(ca.pem().as_bytes(), "interop CA")
        .unwrap()
        .client_cert_pem(terminal.cert.as_bytes(), terminal.key.as_bytes())
        .unwrap()
        .server_name("localhost")
        .build()
        .unwrap();
    // s_server may take a moment to listen: the client retries on its own.
    let client = LongClient::builder([format!("127.0.0.1:{port}")], "be:2".parse().unwrap())
        .tls(tls)
        .backoff(Backoff::new(
            Duration::from_millis(50),
            Duration::from_millis(200),
        ))
        .start()
        .unwrap();
    client.wait_connected(10 * S).await.unwrap();
    let sender = client.sender();
    let request = tokio::spawn(async move { sender.request(&b"0800 echo"[..], 10 * S).await });
    // What crossed TLS to OpenSSL: exactly the framed request.
    let (got, _stdout) = read_exact_from(stdout, 11).await;
    assert_eq!(&got, b"\x00\x090800 echo");
    // OpenSSL sends a framed reply back.
    stdin.write_all(b"\x00\x040810").unwrap();
    stdin.flush().unwrap();
    let reply = request.await.unwrap().unwrap();
    assert_eq!(&reply[..], b"0810");
    client.close().await;
}

#[tokio::test]
async fn openssl_s_client_to_the_msgframe_server() {
    if !openssl_available() {
        return;
    }
    let ca = Ca::new("Interop Root");
    let host = ca.issue("msgframe-host", &["localhost"], false);
    let ca_file = write_temp("ca-client.pem", &ca.pem());
    let server = Server::builder("ascii:4".parse().unwrap())
        .tls(
            ServerTls::new_pem(host.cert.as_bytes(), host.key.as_bytes())
                .unwrap()
                .build()
                .unwrap(),
        )
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.serve(|_c: Connection, m: Bytes| async move {
        let mut reply = m.to_vec();
        reply[2] = b'1';
        Reply::Send(reply.into())
    }));
    let mut client = Command::new("openssl")
        .args(["s_client", "-quiet", "-connect"])
        .arg(addr.to_string())
        .args([
            "-servername",
            "localhost",
            "-verify_return_error",
            "-CAfile",
        ])
        .arg(&ca_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = client.stdin.take().unwrap();
    let stdout = client.stdout.take().unwrap();
    let _client = Killed(client);
    stdin.write_all(b"00110800 hello!").unwrap();
    stdin.flush().unwrap();
    let (got, _stdout) = read_exact_from(stdout, 15).await;
    assert_eq!(&got, b"00110810 hello!");
}
