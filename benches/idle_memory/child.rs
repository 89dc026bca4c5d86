//! The bench's processes: a role of this executable or another program started in a child
//! process with the open-files limit raised, talked to by lines, its memory read from
//! `/proc/PID/status`, and killed whatever happens (dropping the guard kills it, also when the
//! bench panics).

use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// The first argument that makes this executable play a role instead of running the bench.
pub const ROLE_FLAG: &str = "--idle-role";

/// The open-files limit a child asks for: 10,000 connections and some to spare (the hard limit
/// per process here is 20,000; where it is lower, the child gets the hard limit).
const FILES_LIMIT: u32 = 20_000;

/// A running child process. Dropping it kills the process.
pub struct Child {
    name: String,
    child: std::process::Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Child {
    /// Starts this executable in `role` (`ROLE_FLAG role args...`).
    pub fn role(name: &str, args: &[&str]) -> Child {
        let exe = std::env::current_exe().expect("the bench's own executable");
        let mut all = vec![ROLE_FLAG];
        all.extend_from_slice(args);
        Self::start(name, &exe, &all)
    }

    /// Starts `program args...` through `sh`, which raises the open-files limit and then
    /// `exec`s the program: the child's process id is the program's.
    pub fn start(name: &str, program: &Path, args: &[&str]) -> Child {
        let script = format!(
            "ulimit -n {FILES_LIMIT} 2>/dev/null || ulimit -n \"$(ulimit -Hn)\"; exec \"$0\" \"$@\""
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name} ({}): {e}", program.display()));
        let stdin = child.stdin.take();
        let lines = forward_lines(child.stdout.take().expect("piped stdout"));
        Child {
            name: name.to_owned(),
            child,
            stdin,
            lines,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line of the child's output that starts with `prefix`, within `limit`; other
    /// lines are skipped. Panics when none comes.
    pub fn expect(&mut self, prefix: &str, limit: Duration) -> String {
        self.expect_sampling(prefix, limit, limit, || {})
    }

    /// As [`expect`](Self::expect), calling `sample` every `every` while waiting.
    pub fn expect_sampling(
        &mut self,
        prefix: &str,
        limit: Duration,
        every: Duration,
        mut sample: impl FnMut(),
    ) -> String {
        let deadline = Instant::now() + limit;
        loop {
            sample();
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left.min(every)) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout) if !left.is_zero() => continue,
                Err(_) => panic!(
                    "{} did not print a line starting with {prefix:?} within {limit:?}",
                    self.name
                ),
            }
        }
    }

    /// Sends the child one line on its standard input.
    pub fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("the child's stdin is open");
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| panic!("telling {} {line:?}: {e}", self.name));
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every line of `output`, as it comes, on a channel (a thread reads it, so the child never
/// blocks on a full pipe).
fn forward_lines(output: impl io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A process's resident memory, in KiB.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss: u64,
    /// `VmHWM`: the most resident at any time so far.
    pub hwm: u64,
}

impl Memory {
    /// Reads `VmRSS` and `VmHWM` from `/proc/PID/status` (zero where they cannot be read).
    pub fn of(pid: u32) -> Memory {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        Memory {
            rss: status_kib(&status, "VmRSS:").unwrap_or(0),
            hwm: status_kib(&status, "VmHWM:").unwrap_or(0),
        }
    }
}

/// The value of a `Field:   1234 kB` line of `/proc/PID/status`.
fn status_kib(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].split_whitespace().next()?.parse().ok()
}

/// Waits for the next line on standard input (a command from the parent); `None` at its end.
pub fn read_command() -> Option<String> {
    let mut line = String::new();
    match io::stdin().lock().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim().to_owned()),
    }
}
