//! Interop with a third-party TLS peer: OpenSSL's `s_server` and `s_client` carrying framed
//! messages both ways to and from msgframe's long client and server, with mutual TLS. Skipped
//! with a note when `openssl` is not installed, unless `CI=true` (then missing is a failure;
//! `.ci/install-interop-openssl.sh` installs it).
//!
//! `s_server` binds port 0 itself, so that runs side by side never contend for a port. Under
//! `-quiet` it does not print the port it got: the test reads it from the kernel's table of
//! listening sockets (`/proc/net/tcp`), as the one held by the `s_server` process, which also
//! tells that it listens before any client connects.

mod certs;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

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

/// Whether the listening port of a child process can be read (Linux `/proc`); a skip with a note
/// elsewhere, a failure when `CI=true`.
fn listening_ports_readable() -> bool {
    let readable = Path::new("/proc/self/fd").is_dir() && Path::new("/proc/net/tcp").is_file();
    if !readable {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "/proc/net/tcp is not readable (CI=true): s_server's port cannot be found"
        );
        eprintln!("skipped: s_server's port is read from /proc/net/tcp, which is not readable");
    }
    readable
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

/// How many times `s_server` is started before the test gives up on it.
const S_SERVER_STARTS: usize = 5;
/// How long one start of `s_server` may take to listen.
const S_SERVER_LISTEN_LIMIT: Duration = Duration::from_secs(10);

/// A listening `openssl s_server`, killed on drop.
struct SServer {
    /// Its port on 127.0.0.1.
    port: u16,
    stdin: ChildStdin,
    stdout: ChildStdout,
    _process: Killed,
}

/// Starts `openssl s_server -quiet -accept 127.0.0.1:0` with the arguments `more` adds, and
/// returns once it listens, on the port it bound itself. A start that exits, or does not listen
/// within [`S_SERVER_LISTEN_LIMIT`], is killed and another is made, [`S_SERVER_STARTS`] in all;
/// then this panics with how each ended and what it printed on stderr.
fn s_server_listening_on_a_port_of_its_own(more: impl Fn(&mut Command)) -> SServer {
    let mut failures = Vec::new();
    for start in 1..=S_SERVER_STARTS {
        let mut command = Command::new("openssl");
        command.args(["s_server", "-quiet", "-accept", "127.0.0.1:0"]);
        more(&mut command);
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        // Read all along, so that s_server never blocks on a full pipe; it ends with the process.
        let said = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let mut process = Killed(child);
        let deadline = Instant::now() + S_SERVER_LISTEN_LIMIT;
        let outcome = loop {
            match process.0.try_wait() {
                Ok(Some(status)) => break format!("exited ({status}) before listening"),
                Ok(None) => {}
                Err(e) => break format!("could not be waited for: {e}"),
            }
            if let Some(port) = listening_port_of(process.0.id()) {
                return SServer {
                    port,
                    stdin,
                    stdout,
                    _process: process,
                };
            }
            if Instant::now() >= deadline {
                break format!("did not listen within {S_SERVER_LISTEN_LIMIT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        drop(process);
        let said = said.join().unwrap_or_default();
        failures.push(format!(
            "start {start}: {outcome}; stderr: {:?}",
            said.trim()
        ));
    }
    panic!(
        "openssl s_server did not listen in {S_SERVER_STARTS} starts:\n{}",
        failures.join("\n")
    );
}

/// The port of a listening TCP socket that process `pid` holds: its socket descriptors
/// (`/proc/<pid>/fd`, links `socket:[<inode>]`) against the kernel's tables of TCP sockets
/// (`/proc/net/tcp` and `tcp6`: local address `ADDR:PORT` in hex, state `0A` for listening, then
/// the inode). `None` when there is none (yet), or the process is gone.
fn listening_port_of(pid: u32) -> Option<u16> {
    let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_str()?;
            let inode = target.strip_prefix("socket:[")?.strip_suffix(']')?;
            Some(inode.to_owned())
        })
        .collect();
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .into_iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .find_map(|table| {
            table.lines().skip(1).find_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let (local, state, inode) = (fields.get(1)?, fields.get(3)?, fields.get(9)?);
                if *state != "0A" || !inodes.contains(*inode) {
                    return None;
                }
                u16::from_str_radix(local.rsplit(':').next()?, 16).ok()
            })
        })
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
    if !openssl_available() || !listening_ports_readable() {
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
    let mut s_server = s_server_listening_on_a_port_of_its_own(|s_server| {
        s_server
            .args(["-naccept", "1", "-cert"])
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .arg("-CAfile")
            .arg(&ca_file)
            .args(["-Verify", "1"]);
    });
    let port = s_server.port;

    let tls = ClientTls::new()
        .ca_pem(ca.pem().as_bytes(), "interop CA")
        .unwrap()
        .client_cert_pem(terminal.cert.as_bytes(), terminal.key.as_bytes())
        .unwrap()
        .server_name("localhost")
        .build()
        .unwrap();
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
    let (got, _stdout) = read_exact_from(s_server.stdout, 11).await;
    assert_eq!(&got, b"\x00\x090800 echo");
    // OpenSSL sends a framed reply back.
    s_server.stdin.write_all(b"\x00\x040810").unwrap();
    s_server.stdin.flush().unwrap();
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
