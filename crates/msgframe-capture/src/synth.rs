//! Writing captures: a TCP conversation as a pcap or pcapng file, with the imperfections real
//! captures have (a retransmitted segment, segments out of order, a lost one). For tests of
//! anything that reads captures, and for reproducing a field problem without the field.
//!
//! ```
//! use msgframe_capture::synth::{Conversation, Format};
//!
//! let mut c = Conversation::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 9000));
//! c.client_sends(b"0004ping");
//! c.server_sends(b"0004pong");
//! let pcap = c.write(Format::Pcap);
//! let capture = msgframe_capture::read_capture(&pcap[..]).unwrap();
//! assert_eq!(capture.conversations[0].to_server.data, b"0004ping");
//! ```

use std::borrow::Cow;
use std::time::Duration;

use etherparse::PacketBuilder;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::DataLink;

/// The file format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Classic pcap, Ethernet link layer.
    Pcap,
    /// pcapng, one Ethernet interface.
    PcapNg,
    /// Classic pcap with no link layer: raw IP packets.
    PcapRawIp,
}

/// A TCP conversation to write: a handshake, then segments in the order they are added.
#[derive(Debug, Clone)]
pub struct Conversation {
    client: ([u8; 4], u16),
    server: ([u8; 4], u16),
    client_seq: u32,
    server_seq: u32,
    /// Ethernet frames, in capture order.
    frames: Vec<Vec<u8>>,
}

impl Conversation {
    /// A conversation whose handshake is already captured.
    pub fn new(client: ([u8; 4], u16), server: ([u8; 4], u16)) -> Self {
        let mut c = Conversation {
            client,
            server,
            client_seq: 1000,
            server_seq: 5000,
            frames: Vec::new(),
        };
        let syn = c.frame(true, c.client_seq, true, false, b"");
        let syn_ack = c.frame(false, c.server_seq, true, true, b"");
        c.frames.push(syn);
        c.frames.push(syn_ack);
        c.client_seq += 1;
        c.server_seq += 1;
        c
    }

    fn frame(&self, from_client: bool, seq: u32, syn: bool, ack: bool, payload: &[u8]) -> Vec<u8> {
        let (src, dst) = if from_client {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        };
        let mut builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(src.0, dst.0, 64)
            .tcp(src.1, dst.1, seq, 65535);
        if syn {
            builder = builder.syn();
        }
        if ack {
            builder = builder.ack(1);
        }
        let mut out = Vec::with_capacity(builder.size(payload.len()));
        // Writing into a Vec cannot fail for payloads this size.
        let _ = builder.write(&mut out, payload);
        out
    }

    fn send(&mut self, from_client: bool, payload: &[u8]) -> (u32, Vec<u8>) {
        let seq = if from_client {
            self.client_seq
        } else {
            self.server_seq
        };
        let frame = self.frame(from_client, seq, false, true, payload);
        let next = seq.wrapping_add(payload.len() as u32);
        if from_client {
            self.client_seq = next;
        } else {
            self.server_seq = next;
        }
        (seq, frame)
    }

    /// The client sends `payload` in one segment.
    pub fn client_sends(&mut self, payload: &[u8]) -> &mut Self {
        let (_, frame) = self.send(true, payload);
        self.frames.push(frame);
        self
    }

    /// The server sends `payload` in one segment.
    pub fn server_sends(&mut self, payload: &[u8]) -> &mut Self {
        let (_, frame) = self.send(false, payload);
        self.frames.push(frame);
        self
    }

    /// The client sends `first` then `second`, captured in the opposite order.
    pub fn client_sends_reordered(&mut self, first: &[u8], second: &[u8]) -> &mut Self {
        let (_, a) = self.send(true, first);
        let (_, b) = self.send(true, second);
        self.frames.push(b);
        self.frames.push(a);
        self
    }

    /// The client sends `payload`, captured twice (a retransmission).
    pub fn client_sends_twice(&mut self, payload: &[u8]) -> &mut Self {
        let (_, frame) = self.send(true, payload);
        self.frames.push(frame.clone());
        self.frames.push(frame);
        self
    }

    /// The client sends `payload`, but the capture misses it (a gap).
    pub fn client_sends_uncaptured(&mut self, payload: &[u8]) -> &mut Self {
        let _ = self.send(true, payload);
        self
    }

    /// Drops the client's SYN from the capture (a capture started a moment too late).
    pub fn without_syn(&mut self) -> &mut Self {
        self.frames.remove(0);
        self
    }

    /// The capture file.
    pub fn write(&self, format: Format) -> Vec<u8> {
        match format {
            Format::Pcap | Format::PcapRawIp => {
                // An Ethernet II header is 14 bytes.
                let (datalink, skip) = match format {
                    Format::PcapRawIp => (DataLink::RAW, 14),
                    _ => (DataLink::ETHERNET, 0),
                };
                let header = PcapHeader {
                    datalink,
                    ..PcapHeader::default()
                };
                let Ok(mut writer) = PcapWriter::with_header(Vec::new(), header) else {
                    return Vec::new();
                };
                for (i, f) in self.frames.iter().enumerate() {
                    let data = &f[skip..];
                    let packet =
                        PcapPacket::new(Duration::from_millis(i as u64), data.len() as u32, data);
                    let _ = writer.write_packet(&packet);
                }
                writer.into_writer()
            }
            Format::PcapNg => {
                let Ok(mut writer) = PcapNgWriter::new(Vec::new()) else {
                    return Vec::new();
                };
                let _ = writer.write_pcapng_block(InterfaceDescriptionBlock {
                    linktype: DataLink::ETHERNET,
                    snaplen: 65535,
                    // Timestamps in nanoseconds (the parser writes nanoseconds; the format's
                    // default is microseconds).
                    options: vec![InterfaceDescriptionOption::IfTsResol(9)],
                });
                for (i, f) in self.frames.iter().enumerate() {
                    let _ = writer.write_pcapng_block(EnhancedPacketBlock {
                        interface_id: 0,
                        timestamp: Duration::from_millis(i as u64),
                        original_len: f.len() as u32,
                        data: Cow::Borrowed(f),
                        options: vec![],
                    });
                }
                writer.into_inner()
            }
        }
    }
}
