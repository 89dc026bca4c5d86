//! tcpdump on loopback, for tests that record real captures (`msgframe replay`'s, `sniff`'s
//! evaluation on interop peers' traffic). Capturing needs tcpdump and root.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How long tcpdump may take to start listening, and to stop.
const TCPDUMP_LIMIT: Duration = Duration::from_secs(10);

/// Whether tcpdump is installed and this process may capture (it runs as root).
pub fn can_capture() -> bool {
    let installed = Command::new("tcpdump")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    installed && root
}

/// A running `tcpdump -i lo -w FILE` on some ports. Dropping it stops it (also when a test
/// panics).
pub struct Tcpdump {
    child: Child,
    file: PathBuf,
    stderr: mpsc::Receiver<String>,
    stopped: bool,
}

impl Tcpdump {
    /// Starts capturing TCP on loopback to and from `ports`, and returns once tcpdump says it
    /// is listening (its filter is set by then).
    pub fn start(file: &Path, ports: &[u16]) -> Tcpdump {
        let _ = std::fs::remove_file(file);
        let filter = ports
            .iter()
            .map(|p| format!("port {p}"))
            .collect::<Vec<_>>()
            .join(" or ");
        let mut child = Command::new("tcpdump")
            // -U: every packet written as tcpdump gets it; -B: a 32 MiB kernel buffer, so that
            // nothing is dropped (packets come in blocks, within a second: see `stop`); -Z root:
            // keep the rights to write into the target directory.
            .args(["-i", "lo", "-n", "-U", "-B", "32768"])
            .args(["-Z", "root", "-w"])
            .arg(file)
            .arg(format!("tcp and ({filter})"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting tcpdump: {e}"));
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut tcpdump = Tcpdump {
            child,
            file: file.to_owned(),
            stderr: rx,
            stopped: false,
        };
        let deadline = Instant::now() + TCPDUMP_LIMIT;
        let mut said = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tcpdump.stderr.recv_timeout(left) {
                Ok(line) if line.contains("listening on") => return tcpdump,
                Ok(line) => said.push(line),
                Err(_) => {
                    tcpdump.terminate();
                    panic!("tcpdump did not start listening within {TCPDUMP_LIMIT:?}: {said:?}")
                }
            }
        }
    }

    /// Waits until the capture file stops growing (the last packets written: tcpdump gets them
    /// in blocks, at most a second after they pass), stops tcpdump, and returns what it said at
    /// the end (packets captured, received, dropped). Panics when the kernel dropped packets.
    pub fn stop(mut self) -> Vec<String> {
        let size = |file: &Path| std::fs::metadata(file).map(|m| m.len()).ok();
        let deadline = Instant::now() + TCPDUMP_LIMIT;
        let (mut last, mut still) = (size(&self.file), 0);
        while still < 15 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(100));
            let now = size(&self.file);
            if now == last {
                still += 1;
            } else {
                (last, still) = (now, 0);
            }
        }
        self.terminate();
        let mut said = Vec::new();
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(2)) {
            said.push(line);
        }
        let dropped = said
            .iter()
            .find_map(|l| l.strip_suffix(" packets dropped by kernel"));
        assert!(
            dropped == Some("0"),
            "tcpdump lost packets ({}): {said:?}",
            self.file.display()
        );
        said
    }

    /// SIGTERM (tcpdump flushes and closes the file), then a kill if it has not exited in time.
    fn terminate(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + TCPDUMP_LIMIT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Tcpdump {
    fn drop(&mut self) {
        self.terminate();
    }
}
