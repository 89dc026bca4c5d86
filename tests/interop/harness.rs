//! What every interoperability test needs: start a third-party peer on a loopback port, learn its
//! port, always stop it, and skip (locally) or fail (in CI) when the peer is not installed.
//!
//! Include it from a test file with `#[path = "interop/harness.rs"] mod harness;`.

#![allow(dead_code)]

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// How long a peer may take to start and print its port.
pub const START_LIMIT: Duration = Duration::from_secs(60);

/// Whether this run is CI, where a missing peer is a failure rather than a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Checks that a peer is available. When it is not: in CI, panics (the suite must not skip
/// silently); elsewhere, prints one line per missing peer for the whole test binary and returns
/// `false`, so the test can return early.
pub fn available(peer: &str, present: bool, how_to_install: &str) -> bool {
    if present {
        return true;
    }
    assert!(
        !in_ci(),
        "interop peer {peer} is missing in CI ({how_to_install}); .ci/run must install it"
    );
    static SAID: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let said = SAID.get_or_init(Default::default);
    if said.lock().unwrap().insert(peer.to_owned()) {
        println!("skipping interop with {peer}: not installed ({how_to_install})");
    }
    false
}

/// Whether `program` runs (`program args...` exits, successfully or not).
pub fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// A running peer process. Dropping it kills the process (also when a test panics).
pub struct Peer {
    name: String,
    child: Child,
    /// Where the peer listens, when it is a server.
    pub addr: Option<SocketAddr>,
    /// The peer's other stdout lines, as they come.
    pub lines: mpsc::Receiver<String>,
}

impl Peer {
    /// Starts `command` and waits (at most [`START_LIMIT`]) for the line `PORT <n>` on its stdout,
    /// the peer's port on 127.0.0.1. Other lines go to [`Peer::lines`]; stderr is inherited, so a
    /// peer's own errors show in the test output.
    pub fn start_server(name: &str, command: Command) -> Peer {
        let mut peer = Self::spawn(name, command);
        let port = peer
            .next_line_matching(START_LIMIT, |l| l.starts_with("PORT "))
            .unwrap_or_else(|| panic!("{name} did not report its port within {START_LIMIT:?}"));
        let port: u16 = port[5..]
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} printed a bad port line: {port:?}"));
        peer.addr = Some(SocketAddr::from(([127, 0, 0, 1], port)));
        peer
    }

    /// Starts `command` without waiting for anything (a client peer).
    pub fn spawn(name: &str, mut command: Command) -> Peer {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        let stdout: ChildStdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Peer {
            name: name.to_owned(),
            child,
            addr: None,
            lines: rx,
        }
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("the peer is a server")
    }

    /// The next stdout line for which `wanted` holds, within `limit`.
    pub fn next_line_matching(
        &mut self,
        limit: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            match self.lines.recv_timeout(left) {
                Ok(line) if wanted(&line) => return Some(line),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// Waits (at most `limit`) for the peer to exit by itself and returns whether it succeeded.
    pub fn wait(&mut self, limit: Duration) -> Option<bool> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.success());
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The peer's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads all of `reader` into a string (for small helper outputs).
pub fn read_all(mut reader: impl Read) -> String {
    let mut s = String::new();
    let _ = reader.read_to_string(&mut s);
    s
}

/// Compiles the Java file `source` with `javac -cp classpath` into `<target>/tmp/<name>-<hash>`,
/// the hash of the source and the classpath, and returns that directory. Each version is compiled
/// once for every run that shares the target directory, runs side by side included: javac writes
/// into a directory of this process's own, which then takes the shared name in one rename (a run
/// that finds the name taken uses what is there), and a directory under the shared name is never
/// written again, so a peer running from it never sees its classes change.
pub fn compiled_java(name: &str, source: &Path, classpath: &str) -> PathBuf {
    let text =
        std::fs::read(source).unwrap_or_else(|e| panic!("reading {}: {e}", source.display()));
    let mut hasher = DefaultHasher::new();
    (text, classpath).hash(&mut hasher);
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let out = tmp.join(format!("{name}-{:016x}", hasher.finish()));
    if out.is_dir() {
        return out;
    }
    let own = tmp.join(format!("{name}.building-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&own);
    std::fs::create_dir_all(&own).unwrap_or_else(|e| panic!("creating {}: {e}", own.display()));
    let javac = Command::new("javac")
        .arg("-d")
        .arg(&own)
        .args(["-cp", classpath])
        .arg(source)
        .output()
        .expect("run javac");
    assert!(
        javac.status.success(),
        "javac {} failed:\n{}",
        source.display(),
        String::from_utf8_lossy(&javac.stderr)
    );
    if std::fs::rename(&own, &out).is_err() {
        let _ = std::fs::remove_dir_all(&own);
        assert!(
            out.is_dir(),
            "{} is neither built here nor by another run",
            out.display()
        );
    }
    out
}
