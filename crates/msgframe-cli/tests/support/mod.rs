//! What the command's tests share: the built binary, and long-running commands.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command as StdCommand, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;

pub fn msgframe() -> Command {
    let mut cmd = Command::cargo_bin("msgframe").unwrap();
    cmd.timeout(Duration::from_secs(30));
    cmd
}

/// A long-running `msgframe` (serve, proxy), killed when dropped; `addr` is where it listens,
/// read from its first line of output.
pub struct Running {
    child: Child,
    pub addr: String,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Running {
    pub fn start(args: &[&str]) -> Running {
        let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("msgframe"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let addr = first
            .split_whitespace()
            .nth(2)
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .to_owned();
        Running {
            child,
            addr,
            stdout,
        }
    }

    /// The next line it prints.
    pub fn next_line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim_end().to_owned()
    }

    /// Stops it as Ctrl-C does (SIGINT) and waits for it to end (killing it after 20 s):
    /// whether it exited successfully, and the rest of its output.
    pub fn interrupt(mut self) -> (bool, String) {
        let _ = StdCommand::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let success = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status.success(),
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break false;
                }
            }
        };
        let mut rest = String::new();
        let _ = self.stdout.read_to_string(&mut rest);
        (success, rest)
    }

    /// The output so far, after stopping it.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut rest = String::new();
        let _ = self.stdout.read_to_string(&mut rest);
        rest
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
