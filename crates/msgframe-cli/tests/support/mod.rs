//! What the command's tests share: the built binary, and long-running commands.

#![allow(dead_code)]

pub mod tcpdump;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command as StdCommand, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use assert_cmd::Command;

pub fn msgframe() -> Command {
    let mut cmd = Command::cargo_bin("msgframe").unwrap();
    cmd.timeout(Duration::from_secs(30));
    cmd
}

/// How long a test waits for a line from a long-running `msgframe`, or for it to end, before it
/// fails.
const PATIENCE: Duration = Duration::from_secs(60);

/// A long-running `msgframe` (serve, proxy), killed when dropped; `addr` is where it listens,
/// read from its first line of output.
pub struct Running {
    child: Child,
    pub addr: String,
    /// Its stdout, line by line, read on a thread of its own (so that a wait for a line is
    /// bounded).
    lines: mpsc::Receiver<String>,
    /// Its stderr, whole once it has ended, when captured.
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Running {
    pub fn start(args: &[&str]) -> Running {
        Running::spawn(args, &[], false)
    }

    /// As [`Running::start`], with its stderr captured (see [`Running::terminate`]) and these
    /// environment variables set.
    pub fn start_logged(args: &[&str], env: &[(&str, &str)]) -> Running {
        Running::spawn(args, env, true)
    }

    fn spawn(args: &[&str], env: &[(&str, &str)], capture_stderr: bool) -> Running {
        let mut command = StdCommand::new(assert_cmd::cargo::cargo_bin("msgframe"));
        command
            .args(args)
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(if capture_stderr {
                Stdio::piped()
            } else {
                Stdio::inherit()
            });
        let mut child = command.spawn().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stderr = child.stderr.take().map(|mut stderr| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = stderr.read_to_string(&mut text);
                text
            })
        });
        let mut running = Running {
            child,
            addr: String::new(),
            lines,
            stderr,
        };
        let first = running.next_line();
        running.addr = match first.strip_prefix('{') {
            // --json: {"addr": ..., "event": "listening", ...}
            Some(_) => serde_json::from_str::<serde_json::Value>(&first).unwrap()["addr"]
                .as_str()
                .unwrap_or_else(|| panic!("no address in {first:?}"))
                .to_owned(),
            None => first
                .split_whitespace()
                .nth(2)
                .unwrap_or_else(|| panic!("no address in {first:?}"))
                .to_owned(),
        };
        running
    }

    /// The next line it prints (the test fails after a minute without one).
    pub fn next_line(&mut self) -> String {
        match self.lines.recv_timeout(PATIENCE) {
            Ok(line) => line.trim_end().to_owned(),
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("no line from msgframe within 60 s"),
            Err(mpsc::RecvTimeoutError::Disconnected) => String::new(),
        }
    }

    /// Its lines up to and including the first that contains `text` (the test fails after a
    /// minute without one).
    pub fn lines_until(&mut self, text: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = match self.lines.recv_timeout(PATIENCE) {
                Ok(line) => line,
                Err(_) => panic!("no line with {text:?} from msgframe; got {lines:#?}"),
            };
            let found = line.contains(text);
            lines.push(line);
            if found {
                return lines;
            }
        }
    }

    /// Sends it `signal` and waits for it to end (killing it after 20 s): its exit code (`None`
    /// when killed), the rest of its output, and its stderr when captured.
    fn signal(mut self, signal: &str) -> (Option<i32>, String, String) {
        let _ = StdCommand::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        let code = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status.code(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
            }
        };
        let rest = self.rest();
        let stderr = self
            .stderr
            .take()
            .map(|t| t.join().unwrap_or_default())
            .unwrap_or_default();
        (code, rest, stderr)
    }

    /// Stops it as Ctrl-C does (SIGINT) and waits for it to end (killing it after 20 s):
    /// whether it exited successfully, and the rest of its output.
    pub fn interrupt(self) -> (bool, String) {
        let (code, rest, _) = self.signal("-INT");
        (code == Some(0), rest)
    }

    /// Stops it as a service manager does (SIGTERM) and waits for it to end (killing it after
    /// 20 s): its exit code, the rest of its output, and its stderr when captured.
    pub fn terminate(self) -> (Option<i32>, String, String) {
        self.signal("-TERM")
    }

    /// The output so far, after stopping it.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.rest()
    }

    /// What it printed and was not read yet, up to its end (or a minute).
    fn rest(&mut self) -> String {
        let deadline = Instant::now() + PATIENCE;
        let mut rest = String::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    rest.push_str(&line);
                    rest.push('\n');
                }
                Err(_) => break,
            }
        }
        rest
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the other side closed `stream` (end of stream or a reset) rather than answer; a read
/// that times out is neither, and fails the test.
pub fn closed_unanswered(stream: &mut TcpStream) -> bool {
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

/// Whether `line` starts with a time in RFC 3339, UTC, with milliseconds
/// (`2026-12-05T01:02:03.456Z`) and a space.
pub fn starts_with_timestamp(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 24
        && b.iter().take(24).enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'.',
            23 => c == b'Z',
            _ => c.is_ascii_digit(),
        })
        && b[24] == b' '
}

/// Whether `ts` is a time in RFC 3339, UTC, with milliseconds.
pub fn is_timestamp(ts: &serde_json::Value) -> bool {
    ts.as_str()
        .is_some_and(|ts| ts.len() == 24 && starts_with_timestamp(&format!("{ts} .")))
}

/// Runs `msgframe` with `stdin` on its stdin and its stdout a pipe whose reader goes away after
/// the first line, as `| head -1` does; `then` runs once the pipe is closed, with that line.
/// Returns how the command ended and what it wrote on stderr. A command that is still running
/// after 60 s is killed and the test fails.
pub fn closed_after_first_line(
    args: &[&str],
    stdin: &[u8],
    then: impl FnOnce(&str),
) -> (ExitStatus, String) {
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("msgframe"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let feeding = std::thread::spawn(move || {
        // The command may stop reading before the end: that is its business.
        let _ = input.write_all(&stdin);
    });
    let mut stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader, and with it the only read end of the pipe, is gone here.
    then(&first);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`msgframe {}` still running 60 s after its stdout closed",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    feeding.join().unwrap();
    (status, errors.join().unwrap())
}

/// Runs `msgframe` with its stdout a pipe whose reader is gone before `stdin` is written to it:
/// a command that reads all of its stdin before it writes (split, sniff) finds its stdout closed
/// at its first write, however little it has to say. Returns how the command ended and what it
/// wrote on stderr. A command that is still running after 60 s is killed and the test fails.
pub fn closed_before_output(args: &[&str], stdin: &[u8]) -> (ExitStatus, String) {
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("msgframe"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The only read end of the pipe goes here, before the command has its input.
    drop(child.stdout.take());
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let feeding = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let mut stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`msgframe {}` still running 60 s after its stdout closed",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    feeding.join().unwrap();
    (status, errors.join().unwrap())
}

/// A port on 127.0.0.1 that refuses connections for as long as the returned socket lives: bound
/// but not listening, so that no other program (another run of the suite) can take it
/// meanwhile.
pub fn refusing_port() -> (socket2::Socket, u16) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let port = socket.local_addr().unwrap().as_socket().unwrap().port();
    (socket, port)
}
