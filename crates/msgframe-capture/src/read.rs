//! Reading pcap and pcapng files into TCP conversations.

use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::net::{IpAddr, SocketAddr};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::DataLink;

use crate::reassembly::{Flow, Reassembler};

/// Why a capture cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// Neither a pcap nor a pcapng file.
    #[error("not a pcap or pcapng capture (the file starts with {0})")]
    UnknownFormat(String),
    /// The file is damaged or cut short.
    #[error("reading the capture: {0}")]
    Format(String),
    /// Reading the file failed.
    #[error("reading the capture: {0}")]
    Io(#[from] std::io::Error),
}

/// The TCP conversations of a capture, in the order their first packets appear.
#[derive(Debug, Clone, Default)]
pub struct Capture {
    /// One per pair of endpoints.
    pub conversations: Vec<Conversation>,
    /// Packets that were not TCP over IP (ARP, UDP, ...), or whose link layer is not supported.
    pub skipped: usize,
}

/// Both directions of one TCP connection.
#[derive(Debug, Clone)]
pub struct Conversation {
    /// The side that sent the SYN (or, with no SYN captured, the first packet).
    pub client: SocketAddr,
    /// The other side.
    pub server: SocketAddr,
    /// What the client sent.
    pub to_server: Flow,
    /// What the server sent.
    pub to_client: Flow,
}

/// One TCP segment, as the link and IP layers leave it.
struct Segment<'a> {
    from: SocketAddr,
    to: SocketAddr,
    seq: u32,
    syn: bool,
    ack: bool,
    payload: &'a [u8],
}

/// A conversation being collected.
struct Collecting {
    client: SocketAddr,
    server: SocketAddr,
    to_server: Reassembler,
    to_client: Reassembler,
}

#[derive(Default)]
struct Collector {
    conversations: Vec<Collecting>,
    by_endpoints: HashMap<(SocketAddr, SocketAddr), usize>,
    skipped: usize,
}

impl Collector {
    fn packet(&mut self, linktype: DataLink, data: &[u8]) {
        match segment(linktype, data) {
            Some(segment) => self.segment(segment),
            None => self.skipped += 1,
        }
    }

    fn segment(&mut self, s: Segment<'_>) {
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
        let index = *self.by_endpoints.entry(key).or_insert_with(|| {
            self.conversations.push(Collecting {
                client,
                server,
                to_server: Reassembler::default(),
                to_client: Reassembler::default(),
            });
            self.conversations.len() - 1
        });
        let c = &mut self.conversations[index];
        if s.syn && !s.ack && s.from == c.server && c.to_server.is_empty() && c.to_client.is_empty()
        {
            // The first packet was the server's after all.
            std::mem::swap(&mut c.client, &mut c.server);
        }
        let flow = if s.from == c.client {
            &mut c.to_server
        } else {
            &mut c.to_client
        };
        if s.syn {
            flow.syn(s.seq);
        }
        flow.segment(s.seq, s.payload);
    }

    fn finish(self) -> Capture {
        Capture {
            conversations: self
                .conversations
                .into_iter()
                .map(|c| Conversation {
                    client: c.client,
                    server: c.server,
                    to_server: c.to_server.finish(),
                    to_client: c.to_client.finish(),
                })
                .collect(),
            skipped: self.skipped,
        }
    }
}

/// The TCP segment in a captured frame, if it holds one.
fn segment(linktype: DataLink, data: &[u8]) -> Option<Segment<'_>> {
    let sliced = match linktype {
        DataLink::ETHERNET => SlicedPacket::from_ethernet(data).ok()?,
        DataLink::LINUX_SLL => SlicedPacket::from_linux_sll(data).ok()?,
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => SlicedPacket::from_ip(data).ok()?,
        // BSD loopback: a 4-byte address family, then IP.
        DataLink::NULL | DataLink::LOOP => SlicedPacket::from_ip(data.get(4..)?).ok()?,
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
/// into its TCP conversations.
///
/// # Errors
/// [`CaptureError`] for a file that is neither format, is damaged, or cannot be read.
pub fn read_capture(reader: impl Read) -> Result<Capture, CaptureError> {
    let mut reader = BufReader::new(reader);
    let mut magic = [0u8; 4];
    reader.read_exact(&mut magic)?;
    let chained = std::io::Cursor::new(magic).chain(reader);
    let format = |e: pcap_file::PcapError| CaptureError::Format(e.to_string());
    let mut collector = Collector::default();
    match detect_format(&magic) {
        FileFormat::PcapNg => {
            let mut pcapng = PcapNgReader::new(chained).map_err(format)?;
            // The link types of the current section's interfaces, by interface id.
            let mut linktypes: Vec<DataLink> = Vec::new();
            while let Some(block) = pcapng.next_block() {
                let block = block.map_err(format)?;
                let (interface, data) = match &block {
                    Block::SectionHeader(_) => {
                        linktypes.clear();
                        continue;
                    }
                    Block::InterfaceDescription(idb) => {
                        linktypes.push(idb.linktype);
                        continue;
                    }
                    Block::EnhancedPacket(p) => (p.interface_id, p.data.as_ref()),
                    Block::SimplePacket(p) => (0, p.data.as_ref()),
                    Block::Packet(p) => (u32::from(p.interface_id), p.data.as_ref()),
                    _ => continue,
                };
                match linktypes.get(interface as usize) {
                    Some(linktype) => collector.packet(*linktype, data),
                    None => collector.skipped += 1,
                }
            }
        }
        FileFormat::Pcap => {
            let mut pcap = PcapReader::new(chained).map_err(format)?;
            let linktype = pcap.header().datalink;
            while let Some(packet) = pcap.next_packet() {
                let packet = packet.map_err(format)?;
                collector.packet(linktype, &packet.data);
            }
        }
        FileFormat::Raw => {
            return Err(CaptureError::UnknownFormat(
                magic
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ))
        }
    }
    Ok(collector.finish())
}
