//! Reading pcap and pcapng files into TCP conversations.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};

use std::time::Duration;

use crate::format::{Interface, LinkType, Stop};
use crate::live::CaptureReader;
use crate::reassembly::{Captured, Flow, HoldLimit, Reassembler};

/// Why a capture cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// Neither a pcap nor a pcapng file.
    #[error("not a pcap or pcapng capture (the file starts with {0})")]
    UnknownFormat(String),
    /// The file is damaged (a record that cannot be what it says it is), or cut short before its
    /// first packet. A file cut short later is read up to the cut: see [`Capture::truncated`].
    #[error("reading the capture: {0}")]
    Format(String),
    /// Reading the file failed.
    #[error("reading the capture: {0}")]
    Io(#[from] std::io::Error),
}

/// The TCP conversations of a capture, in the order their first packets appear.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capture {
    /// One per pair of endpoints.
    pub conversations: Vec<Conversation>,
    /// Packets that were not TCP over IP (ARP, UDP, ...), or whose link layer is not supported.
    pub skipped: usize,
    /// Where the file was cut short, when it was: everything before the cut was read, the
    /// record the cut falls in was not.
    pub truncated: Option<Truncation>,
}

/// Where a capture file ends in the middle of a record (a packet, or a pcapng block), as a copy
/// or a capture stopped mid-write leaves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncation {
    /// Where the record cut short starts, in bytes from the start of the file: every record
    /// before it was read.
    pub offset: usize,
    /// Where the file ends (its length): inside the record.
    pub file_len: usize,
    /// The record's full length as its header gives it (header included), when the header
    /// itself is there.
    pub record_len: Option<u64>,
}

impl fmt::Display for Truncation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let have = self.file_len - self.offset;
        match self.record_len {
            Some(len) => write!(
                f,
                "truncated capture: the file ends at byte {}, {have} bytes into the {len}-byte record at byte {}",
                self.file_len, self.offset
            ),
            None => write!(
                f,
                "truncated capture: the file ends at byte {}, {have} bytes into the header of the record at byte {}",
                self.file_len, self.offset
            ),
        }
    }
}

/// Both directions of one TCP connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    /// The side that sent the SYN (or, with no SYN captured, the first packet).
    pub client: SocketAddr,
    /// The other side.
    pub server: SocketAddr,
    /// What the client sent.
    pub to_server: Flow,
    /// What the server sent.
    pub to_client: Flow,
    /// Its first packet, either way.
    pub first: Captured,
    /// Its last packet, either way.
    pub last: Captured,
}

/// One TCP segment, as the link and IP layers leave it.
struct Segment<'a> {
    from: SocketAddr,
    to: SocketAddr,
    seq: u32,
    syn: bool,
    ack: bool,
    fin: bool,
    rst: bool,
    payload: &'a [u8],
}

/// A conversation being collected.
#[derive(Debug)]
pub(crate) struct Collecting {
    pub(crate) client: SocketAddr,
    pub(crate) server: SocketAddr,
    pub(crate) to_server: Reassembler,
    pub(crate) to_client: Reassembler,
    /// Packets each way.
    pub(crate) to_server_packets: usize,
    pub(crate) to_client_packets: usize,
    pub(crate) first: Captured,
    pub(crate) last: Captured,
    /// The sequence number of the client's SYN, once seen.
    client_syn: Option<u32>,
    /// Whether a SYN (either way) or any payload was seen: the connection has started.
    started: bool,
    /// A FIN from the client, from the server; a reset either way.
    pub(crate) fin_from_client: bool,
    pub(crate) fin_from_server: bool,
    pub(crate) reset: bool,
    /// Taken by its reader ([`CaptureReader::take`](crate::CaptureReader::take)): its packets
    /// are counted, their bytes dropped.
    pub(crate) taken: bool,
}

impl Collecting {
    /// Whether `s`, a SYN without ACK between this conversation's endpoints, opens a new
    /// connection between them (the client's port used again): it does unless this one has
    /// not started yet or `s` is its own SYN sent again.
    fn opened_again_by(&self, s: &Segment<'_>) -> bool {
        s.syn && !s.ack && self.started && self.client_syn != Some(s.seq)
    }

    /// The conversation as read so far, its reassemblers finished (holes left become gaps) and
    /// left empty.
    pub(crate) fn take(&mut self, limit: HoldLimit) -> Conversation {
        let finished = |r: &mut Reassembler, packets: usize| Flow {
            packets,
            ..std::mem::replace(r, Reassembler::with_hold_limit(limit)).finish()
        };
        Conversation {
            client: self.client,
            server: self.server,
            to_server: finished(&mut self.to_server, self.to_server_packets),
            to_client: finished(&mut self.to_client, self.to_client_packets),
            first: self.first,
            last: self.last,
        }
    }
}

/// The TCP conversations of a capture, collected a packet at a time.
#[derive(Debug)]
pub(crate) struct Collector {
    pub(crate) conversations: Vec<Collecting>,
    by_endpoints: HashMap<(SocketAddr, SocketAddr), usize>,
    pub(crate) skipped: usize,
    /// Packets so far, TCP or not.
    pub(crate) packets: u64,
    /// The latest capture time so far.
    latest: Duration,
    /// What each direction's reassembler holds aside past a hole.
    pub(crate) limit: HoldLimit,
    /// Whose bytes are kept (see [`CaptureReader::keep_only`](crate::CaptureReader::keep_only)
    /// and [`CaptureReader::keep_port`](crate::CaptureReader::keep_port)).
    pub(crate) keep: Keep,
}

/// Which conversations' bytes a collector keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keep {
    /// Every conversation's.
    All,
    /// The conversation at this index alone.
    One(usize),
    /// Those with this port on either side.
    Port(u16),
}

impl Keep {
    /// Whether the bytes of conversation `index`, between `client` and `server`, are kept.
    pub(crate) fn keeps(self, index: usize, client: SocketAddr, server: SocketAddr) -> bool {
        match self {
            Keep::All => true,
            Keep::One(one) => one == index,
            Keep::Port(port) => client.port() == port || server.port() == port,
        }
    }
}

impl Collector {
    pub(crate) fn new(limit: HoldLimit) -> Self {
        Collector {
            conversations: Vec::new(),
            by_endpoints: HashMap::new(),
            skipped: 0,
            packets: 0,
            latest: Duration::ZERO,
            limit,
            keep: Keep::All,
        }
    }

    /// The next packet of the file, captured at `time`.
    pub(crate) fn packet(&mut self, linktype: LinkType, data: &[u8], time: Duration) {
        let at = self.next(time);
        match segment(linktype, data) {
            Some(segment) => self.segment(segment, at),
            None => self.skipped += 1,
        }
    }

    /// Numbers the next packet of the file, read or not.
    pub(crate) fn next(&mut self, time: Duration) -> Captured {
        self.packets += 1;
        self.latest = self.latest.max(time);
        Captured {
            packet: self.packets,
            time,
        }
    }

    fn segment(&mut self, s: Segment<'_>, at: Captured) {
        let key = if s.from <= s.to {
            (s.from, s.to)
        } else {
            (s.to, s.from)
        };
        // A SYN-ACK comes from the server; anything else first seen is taken to come from the
        // client until a SYN says otherwise.
        let (client, server) = if s.syn && s.ack {
            (s.to, s.from)
        } else {
            (s.from, s.to)
        };
        let limit = self.limit;
        // The conversation between these endpoints, unless this SYN opens a new one (a short
        // connection's port used again: each connection is a conversation of its own).
        let known = self
            .by_endpoints
            .get(&key)
            .copied()
            .filter(|&i| !self.conversations[i].opened_again_by(&s));
        let index = match known {
            Some(index) => index,
            None => {
                self.conversations.push(Collecting {
                    client,
                    server,
                    to_server: Reassembler::with_hold_limit(limit),
                    to_client: Reassembler::with_hold_limit(limit),
                    to_server_packets: 0,
                    to_client_packets: 0,
                    first: at,
                    last: at,
                    client_syn: None,
                    started: false,
                    fin_from_client: false,
                    fin_from_server: false,
                    reset: false,
                    taken: false,
                });
                let index = self.conversations.len() - 1;
                self.by_endpoints.insert(key, index);
                index
            }
        };
        let c = &mut self.conversations[index];
        if s.syn && !s.ack && s.from == c.server && !c.started {
            // The first packet was the server's after all.
            std::mem::swap(&mut c.client, &mut c.server);
        }
        if s.syn && !s.ack && c.client_syn.is_none() {
            c.client_syn = Some(s.seq);
        }
        c.started |= s.syn || !s.payload.is_empty();
        c.reset |= s.rst;
        if s.fin {
            if s.from == c.client {
                c.fin_from_client = true;
            } else {
                c.fin_from_server = true;
            }
        }
        c.last = at;
        let keep = !c.taken && self.keep.keeps(index, c.client, c.server);
        let flow = if s.from == c.client {
            c.to_server_packets += 1;
            &mut c.to_server
        } else {
            c.to_client_packets += 1;
            &mut c.to_client
        };
        if s.syn {
            flow.syn(s.seq);
        }
        if keep {
            flow.segment_at(s.seq, s.payload, at);
        }
    }

    /// Declares gaps the holes of every direction kept that were waited for longer than the
    /// hold limit's wait, by the latest capture time (see [`Reassembler::expire`]).
    pub(crate) fn expire(&mut self) {
        if self.limit.wait().is_none() {
            return;
        }
        for c in &mut self.conversations {
            for flow in [&mut c.to_server, &mut c.to_client] {
                if flow.held() > 0 {
                    flow.expire(self.latest);
                }
            }
        }
    }

    pub(crate) fn finish(self) -> Capture {
        let limit = self.limit;
        Capture {
            conversations: self
                .conversations
                .into_iter()
                .map(|mut c| c.take(limit))
                .collect(),
            skipped: self.skipped,
            truncated: None,
        }
    }
}

/// The TCP segment in a captured frame, if it holds one.
fn segment(linktype: LinkType, data: &[u8]) -> Option<Segment<'_>> {
    let sliced = match linktype {
        LinkType::ETHERNET => SlicedPacket::from_ethernet(data).ok()?,
        LinkType::LINUX_SLL => SlicedPacket::from_linux_sll(data).ok()?,
        LinkType::RAW | LinkType::IPV4 | LinkType::IPV6 => SlicedPacket::from_ip(data).ok()?,
        // BSD loopback: a 4-byte address family, then IP.
        LinkType::NULL | LinkType::LOOP => SlicedPacket::from_ip(data.get(4..)?).ok()?,
        _ => return None,
    };
    let (source, destination): (IpAddr, IpAddr) = match sliced.net? {
        NetSlice::Ipv4(ip) => (
            ip.header().source_addr().into(),
            ip.header().destination_addr().into(),
        ),
        NetSlice::Ipv6(ip) => (
            ip.header().source_addr().into(),
            ip.header().destination_addr().into(),
        ),
    };
    let TransportSlice::Tcp(tcp) = sliced.transport? else {
        return None;
    };
    Some(Segment {
        from: SocketAddr::new(source, tcp.source_port()),
        to: SocketAddr::new(destination, tcp.destination_port()),
        seq: tcp.sequence_number(),
        syn: tcp.syn(),
        ack: tcp.ack(),
        fin: tcp.fin(),
        rst: tcp.rst(),
        payload: tcp.payload(),
    })
}

/// What a file holds, told by its first bytes; see [`detect_format`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// A classic pcap capture (either byte order, microsecond or nanosecond timestamps).
    Pcap,
    /// A pcapng capture.
    PcapNg,
    /// No capture: raw bytes (a recorded stream, a message file), or too short to tell.
    Raw,
}

/// What `data` holds, judged by its magic number (its first four bytes): a pcap capture
/// (`a1 b2 c3 d4` or `a1 b2 3c 4d` in either byte order), a pcapng capture (`0a 0d 0d 0a`), or
/// anything else, [`FileFormat::Raw`]. Only the first four bytes are looked at.
///
/// ```
/// use msgframe_capture::synth::{Conversation, Format};
/// use msgframe_capture::{detect_format, FileFormat};
///
/// let pcap = Conversation::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 9000)).write(Format::Pcap);
/// assert_eq!(detect_format(&pcap), FileFormat::Pcap);
/// assert_eq!(detect_format(b"\x0a\x0d\x0d\x0a..."), FileFormat::PcapNg);
/// assert_eq!(detect_format(b"00040800"), FileFormat::Raw);
/// assert_eq!(detect_format(b"\xa1\xb2"), FileFormat::Raw); // too short to be a capture
/// ```
pub fn detect_format(data: &[u8]) -> FileFormat {
    match data.get(..4) {
        Some([0x0a, 0x0d, 0x0d, 0x0a]) => FileFormat::PcapNg,
        Some(
            [0xa1, 0xb2, 0xc3, 0xd4]
            | [0xd4, 0xc3, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0x3c, 0x4d]
            | [0x4d, 0x3c, 0xb2, 0xa1],
        ) => FileFormat::Pcap,
        _ => FileFormat::Raw,
    }
}

/// Reads a pcap or pcapng capture (told apart by their first bytes, as [`detect_format`] does)
/// into its TCP conversations, as [`parse_capture`] reads the same bytes: a chunk at a time, each
/// given to a [`CaptureReader`] (with no [`HoldLimit`]), so that no more than the record being
/// read is held besides the conversations' bytes.
///
/// # Errors
/// [`CaptureError`] for a file that is neither format, is damaged, or cannot be read. A file cut
/// short after its first header is no error: it is read up to the cut
/// ([`Capture::truncated`]).
pub fn read_capture(mut reader: impl Read) -> Result<Capture, CaptureError> {
    let mut capture = CaptureReader::with_hold_limit(HoldLimit::NONE);
    let mut buf = vec![0; 64 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return capture.finish(),
            Ok(n) => capture.push(&buf[..n])?,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Parses a pcap or pcapng capture held in memory into its TCP conversations; see
/// [`read_capture`]. The same as giving the bytes to a [`CaptureReader`] with no
/// [`HoldLimit`] and finishing it.
///
/// A file cut short inside a record (a copy cut short, a capture stopped mid-write) is read up to
/// that record, and the cut reported in [`Capture::truncated`].
///
/// ```
/// use msgframe_capture::synth::{Conversation, Format};
///
/// let mut c = Conversation::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 9000));
/// c.client_sends(b"0004ping").client_sends(b"0004pong");
/// let mut file = c.write(Format::Pcap);
/// file.truncate(file.len() - 5); // inside the last packet
/// let capture = msgframe_capture::parse_capture(&file)?;
/// assert_eq!(capture.conversations[0].to_server.data, b"0004ping");
/// let cut = capture.truncated.unwrap();
/// assert_eq!(cut.file_len, file.len());
/// # Ok::<(), msgframe_capture::CaptureError>(())
/// ```
///
/// # Errors
/// [`CaptureError::UnknownFormat`] for a file that is neither format,
/// [`CaptureError::Format`] for a damaged one, or one cut short in its first header.
pub fn parse_capture(data: &[u8]) -> Result<Capture, CaptureError> {
    let mut capture = CaptureReader::with_hold_limit(HoldLimit::NONE);
    capture.push(data)?;
    capture.finish()
}

/// What the first bytes of a file that is no capture are, for [`CaptureError::UnknownFormat`].
pub(crate) fn unknown_format(data: &[u8]) -> CaptureError {
    let start = &data[..data.len().min(4)];
    CaptureError::UnknownFormat(if start.is_empty() {
        "nothing: it is empty".to_owned()
    } else {
        start
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// A damaged record at `offset`.
pub(crate) fn damaged(offset: usize, why: String) -> CaptureError {
    CaptureError::Format(format!("the record at byte {offset} is damaged: {why}"))
}

/// A file whose first header is damaged or cut short.
pub(crate) fn bad_header(what: &str, stop: Stop) -> CaptureError {
    match stop {
        Stop::Cut { .. } => CaptureError::Format(format!("the file ends inside its {what}")),
        Stop::Damaged(why) => CaptureError::Format(format!("its {what} is damaged: {why}")),
    }
}

/// A timestamp of `units` of `interface`'s resolution, as time since 1970 (saturating: a file
/// controls these numbers).
pub(crate) fn interface_time(interface: &Interface, units: u128) -> Duration {
    let resolution = interface.resolution;
    let nanos: u128 = if resolution & 0x80 == 0 {
        let exp = u32::from(resolution);
        if exp <= 9 {
            units.saturating_mul(10u128.pow(9 - exp))
        } else {
            units / 10u128.checked_pow(exp - 9).unwrap_or(u128::MAX)
        }
    } else {
        let exp = u32::from(resolution & 0x7f);
        let whole = units.checked_shr(exp).unwrap_or(0);
        let frac = units - whole.checked_shl(exp).unwrap_or(0);
        whole.saturating_mul(1_000_000_000) + (frac * 1_000_000_000).checked_shr(exp).unwrap_or(0)
    };
    let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    Duration::new(
        secs.saturating_add(interface.offset),
        (nanos % 1_000_000_000) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interface(resolution: u8, offset: u64) -> Interface {
        Interface {
            linktype: LinkType::ETHERNET,
            resolution,
            offset,
        }
    }

    #[test]
    fn pcapng_timestamps_follow_the_interface_resolution() {
        let t = |resolution, units| interface_time(&interface(resolution, 0), units);
        // The default: microseconds.
        assert_eq!(t(6, 1_500_000), Duration::from_millis(1500));
        assert_eq!(t(9, 1_500_000), Duration::from_micros(1500));
        assert_eq!(t(3, 1_500), Duration::from_millis(1500));
        assert_eq!(t(12, 1_500_000), Duration::from_nanos(1500));
        // 2^-10 seconds: 1024 units a second.
        assert_eq!(t(0x80 | 10, 1024 + 512), Duration::from_millis(1500));
        assert_eq!(t(0x80, 3), Duration::from_secs(3));
        // With an offset, in seconds.
        assert_eq!(
            interface_time(&interface(6, 100), 1),
            Duration::new(100, 1000)
        );
        // Whatever a file says, no overflow.
        for resolution in [0, 1, 9, 10, 38, 39, 127, 0x80, 0x80 | 63, 0x80 | 64, 0xff] {
            let _ = interface_time(&interface(resolution, u64::MAX), u128::from(u64::MAX));
        }
    }
}
