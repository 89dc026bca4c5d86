//! What a proxy relays, written down as it happens: a pcap file of the client's side of each
//! connection (`--pcap`), and a timestamped hex dump of every message (`--hex-dump`).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use msgframe_capture::synth::{Link, Recorder, Side};

use crate::dump::{self, Style};
use crate::error::{Failure, Result};
use crate::out::errln;

/// The files being written, shared by every connection's tasks: one lock keeps each file's
/// records in the order they happened.
pub struct Recording {
    state: Mutex<State>,
}

struct State {
    pcap: Option<Output<Recorder<BufWriter<File>>>>,
    hex: Option<Output<BufWriter<File>>>,
    /// The pcap's view of each open connection, by connection id.
    links: HashMap<u64, Link>,
    /// Once finished, later events (connections still winding down) are not written.
    finished: bool,
}

/// One file, and the first error writing it (after which it is left alone).
struct Output<W> {
    path: PathBuf,
    out: W,
    failed: Option<String>,
}

impl<W> Output<W> {
    /// Runs `write` unless an earlier write failed; the first failure is kept, and told on stderr.
    fn write<E: std::fmt::Display>(
        &mut self,
        write: impl FnOnce(&mut W) -> std::result::Result<(), E>,
    ) {
        if self.failed.is_some() {
            return;
        }
        if let Err(e) = write(&mut self.out) {
            let message = format!("writing {}: {e}", self.path.display());
            errln!("msgframe: warning: {message}; no longer writing it");
            self.failed = Some(message);
        }
    }
}

fn create(path: &Path) -> Result<BufWriter<File>> {
    File::create(path)
        .map(BufWriter::new)
        .map_err(|e| Failure::usage(format!("cannot create {}: {e}", path.display())))
}

/// Now, as time since 1970.
fn now() -> Duration {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
}

/// An address as a packet shows it: IPv4-mapped IPv6 addresses as IPv4.
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// The proxy's own end of a client's connection: the address it listens on, or, listening on
/// every interface (where the address the client reached is not known), the loopback address
/// for a client on loopback and the unspecified address otherwise, in the client's family.
pub fn local_end(listening: SocketAddr, client: SocketAddr) -> SocketAddr {
    let listening = canonical(listening);
    if !listening.ip().is_unspecified() {
        return listening;
    }
    let ip = match (client.ip().to_canonical(), client.ip().is_loopback()) {
        (IpAddr::V4(_), true) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        (IpAddr::V4(_), false) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (IpAddr::V6(_), true) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        (IpAddr::V6(_), false) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, listening.port())
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Client => "client -> host",
        Side::Server => "host -> client",
    }
}

impl Recording {
    /// Creates the files asked for; `None` when neither is.
    ///
    /// # Errors
    /// A usage error when a file cannot be created.
    pub fn create(pcap: Option<&Path>, hex: Option<&Path>) -> Result<Option<Recording>> {
        if pcap.is_none() && hex.is_none() {
            return Ok(None);
        }
        let pcap = match pcap {
            Some(path) => Some(Output {
                path: path.to_owned(),
                out: Recorder::new(create(path)?)
                    .map_err(|e| Failure::usage(format!("writing {}: {e}", path.display())))?,
                failed: None,
            }),
            None => None,
        };
        let hex = match hex {
            Some(path) => Some(Output {
                path: path.to_owned(),
                out: create(path)?,
                failed: None,
            }),
            None => None,
        };
        Ok(Some(Recording {
            state: Mutex::new(State {
                pcap,
                hex,
                links: HashMap::new(),
                finished: false,
            }),
        }))
    }

    /// Runs `f` on the state, unless finished; then flushes both files.
    fn with(&self, f: impl FnOnce(&mut State, Duration)) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if state.finished {
            return;
        }
        f(&mut state, now());
        state.flush();
    }

    /// Connection `id` from `client` to the proxy's `local` end opened.
    pub fn opened(&self, id: u64, client: SocketAddr, local: SocketAddr) {
        let client = canonical(client);
        self.with(|state, time| {
            if let Some(pcap) = &mut state.pcap {
                let mut link = None;
                pcap.write(|r| r.open(client, local, time).map(|l| link = Some(l)));
                if let Some(link) = link {
                    state.links.insert(id, link);
                }
            }
            if let Some(hex) = &mut state.hex {
                let line = format!(
                    "{} #{id} opened {client} -> {local}\n",
                    dump::timestamp_micros(time)
                );
                hex.write(|w| w.write_all(line.as_bytes()));
            }
        });
    }

    /// Connection `id` carried `bytes` (a message as framed on the client's side) `from` one
    /// side.
    pub fn message(&self, id: u64, from: Side, bytes: &[u8]) {
        self.with(|state, time| {
            if let (Some(pcap), Some(link)) = (&mut state.pcap, state.links.get_mut(&id)) {
                pcap.write(|r| r.data(link, from, bytes, time));
            }
            if let Some(hex) = &mut state.hex {
                let style = Style {
                    json: false,
                    colour: false,
                };
                let text = format!(
                    "{} #{id} {}: {} bytes\n{}",
                    dump::timestamp_micros(time),
                    side_name(from),
                    bytes.len(),
                    style.hexdump(bytes, "  ")
                );
                hex.write(|w| w.write_all(text.as_bytes()));
            }
        });
    }

    /// Connection `id` closed, `first` closing first, for `reason`.
    pub fn closed(&self, id: u64, first: Side, reason: &str) {
        self.with(|state, time| {
            state.close(id, first, reason, time);
        });
    }

    /// The proxy stops: every connection still open is closed (the proxy's side first), both
    /// files flushed, and nothing more written.
    ///
    /// # Errors
    /// A usage error naming the first write that failed, if one did.
    pub fn finish(&self) -> Result<()> {
        let Ok(mut state) = self.state.lock() else {
            return Ok(());
        };
        if state.finished {
            return Ok(());
        }
        let time = now();
        let mut open: Vec<u64> = state.links.keys().copied().collect();
        open.sort_unstable();
        for id in open {
            state.close(id, Side::Server, "the proxy stopped", time);
        }
        state.flush();
        state.finished = true;
        let failed: Vec<String> = [
            state.pcap.as_ref().and_then(|o| o.failed.clone()),
            state.hex.as_ref().and_then(|o| o.failed.clone()),
        ]
        .into_iter()
        .flatten()
        .collect();
        if failed.is_empty() {
            Ok(())
        } else {
            Err(Failure::usage(failed.join("; ")))
        }
    }
}

impl State {
    fn close(&mut self, id: u64, first: Side, reason: &str, time: Duration) {
        if let (Some(pcap), Some(mut link)) = (&mut self.pcap, self.links.remove(&id)) {
            pcap.write(|r| r.close(&mut link, first, time));
        }
        if let Some(hex) = &mut self.hex {
            let line = format!("{} #{id} closed: {reason}\n", dump::timestamp_micros(time));
            hex.write(|w| w.write_all(line.as_bytes()));
        }
    }

    fn flush(&mut self) {
        if let Some(pcap) = &mut self.pcap {
            pcap.write(|r| r.flush());
        }
        if let Some(hex) = &mut self.hex {
            hex.write(|w| w.flush());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxys_end_is_its_listening_address_or_a_stand_in() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(
            local_end(addr("10.0.0.5:9001"), addr("10.0.0.1:40000")),
            addr("10.0.0.5:9001")
        );
        assert_eq!(
            local_end(addr("0.0.0.0:9001"), addr("127.0.0.1:40000")),
            addr("127.0.0.1:9001")
        );
        assert_eq!(
            local_end(addr("0.0.0.0:9001"), addr("10.0.0.1:40000")),
            addr("0.0.0.0:9001")
        );
        assert_eq!(
            local_end(addr("[::]:9001"), addr("[::ffff:10.0.0.1]:40000")),
            addr("0.0.0.0:9001")
        );
        assert_eq!(
            local_end(addr("[::]:9001"), addr("[::1]:40000")),
            addr("[::1]:9001")
        );
    }
}
