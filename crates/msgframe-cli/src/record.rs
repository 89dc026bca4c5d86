//! What a proxy relays, written down as it happens: a pcap file of both legs of each connection
//! (`--pcap`), and a timestamped hex dump of every message (`--hex-dump`).
//!
//! In the pcap, each proxied connection is two TCP conversations: the client's, between the
//! client and the proxy's listening end, carrying each message as framed for the client; and
//! the host's, between the proxy's upstream local address and the host, carrying each message
//! as framed for the host (`--upstream-framing`). Each has its own handshake, sequence numbers
//! and FINs (the side that closed first first), with the times things happened. The hex dump
//! shows the client's leg.

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
    /// The pcap's view of each open connection's legs, by connection id and leg.
    links: HashMap<(u64, Leg), Link>,
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

/// One leg of a proxied connection. On both, [`Side::Client`] is the side that connected (the
/// client; the proxy towards the host) and [`Side::Server`] the side connected to (the proxy
/// towards the client; the host): a client's message is sent by the client side of both legs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Leg {
    /// Between the client and the proxy.
    Client,
    /// Between the proxy and the host.
    Host,
}

/// The proxy's end of its connection to `host`: its local address, or, when it is not known (the
/// connection already gone), the unspecified address of the host's family with port 0.
pub fn upstream_end(local: Option<SocketAddr>, host: SocketAddr) -> SocketAddr {
    match local {
        Some(local) => canonical(local),
        None => {
            let ip = match host.ip().to_canonical() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            };
            SocketAddr::new(ip, 0)
        }
    }
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
            state.open(id, Leg::Client, client, local, time);
            if let Some(hex) = &mut state.hex {
                let line = format!(
                    "{} #{id} opened {client} -> {local}\n",
                    dump::timestamp_micros(time)
                );
                hex.write(|w| w.write_all(line.as_bytes()));
            }
        });
    }

    /// Connection `id`'s host leg, from the proxy's `local` end to `host`, opened (in the pcap
    /// only).
    pub fn host_opened(&self, id: u64, local: SocketAddr, host: SocketAddr) {
        let host = canonical(host);
        self.with(|state, time| state.open(id, Leg::Host, local, host, time));
    }

    /// Connection `id` carried `bytes` (a message as framed on that leg) `from` one side, on
    /// `leg` (the hex dump shows the client's leg).
    pub fn message(&self, id: u64, leg: Leg, from: Side, bytes: &[u8]) {
        self.with(|state, time| {
            if let (Some(pcap), Some(link)) = (&mut state.pcap, state.links.get_mut(&(id, leg))) {
                pcap.write(|r| r.data(link, from, bytes, time));
            }
            if leg == Leg::Host {
                return;
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

    /// Connection `id`'s host leg closed, `first` closing first (in the pcap only).
    pub fn host_closed(&self, id: u64, first: Side) {
        self.with(|state, time| state.close_leg(id, Leg::Host, first, time));
    }

    /// Connection `id`'s client leg closed, `first` closing first, for `reason`.
    pub fn closed(&self, id: u64, first: Side, reason: &str) {
        self.with(|state, time| {
            state.close(id, first, reason, time);
        });
    }

    /// The proxy stops: every leg still open is closed (the proxy's side first), both files
    /// flushed, and nothing more written.
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
        let mut open: Vec<(u64, Leg)> = state.links.keys().copied().collect();
        open.sort_unstable();
        for (id, leg) in open {
            match leg {
                Leg::Client => state.close(id, Side::Server, "the proxy stopped", time),
                Leg::Host => state.close_leg(id, Leg::Host, Side::Client, time),
            }
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
    /// Leg `leg` of connection `id`, from `client` to `server`, opens in the pcap.
    fn open(&mut self, id: u64, leg: Leg, client: SocketAddr, server: SocketAddr, time: Duration) {
        if let Some(pcap) = &mut self.pcap {
            let mut link = None;
            pcap.write(|r| r.open(client, server, time).map(|l| link = Some(l)));
            if let Some(link) = link {
                self.links.insert((id, leg), link);
            }
        }
    }

    /// Leg `leg` of connection `id` closes in the pcap, `first` closing first.
    fn close_leg(&mut self, id: u64, leg: Leg, first: Side, time: Duration) {
        if let (Some(pcap), Some(mut link)) = (&mut self.pcap, self.links.remove(&(id, leg))) {
            pcap.write(|r| r.close(&mut link, first, time));
        }
    }

    /// Connection `id`'s client leg closes, for `reason`.
    fn close(&mut self, id: u64, first: Side, reason: &str, time: Duration) {
        self.close_leg(id, Leg::Client, first, time);
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

    #[test]
    fn the_proxys_upstream_end_is_its_local_address_or_a_stand_in() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(
            upstream_end(Some(addr("[::ffff:10.0.0.5]:40000")), addr("10.0.0.2:9000")),
            addr("10.0.0.5:40000")
        );
        assert_eq!(upstream_end(None, addr("10.0.0.2:9000")), addr("0.0.0.0:0"));
        assert_eq!(upstream_end(None, addr("[::1]:9000")), addr("[::]:0"));
    }
}
