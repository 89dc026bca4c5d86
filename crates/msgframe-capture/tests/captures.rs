//! Captures written by the test itself (Ethernet/IPv4/TCP packets in pcap and pcapng files),
//! read back into conversations: handshake direction, retransmissions, reordering, gaps.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::Duration;

use etherparse::PacketBuilder;
use msgframe_capture::{read_capture, CaptureError, Gap};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::DataLink;

const CLIENT: ([u8; 4], u16) = ([10, 0, 0, 1], 40000);
const SERVER: ([u8; 4], u16) = ([10, 0, 0, 2], 9000);

/// One TCP packet, as an Ethernet frame.
fn packet(from_client: bool, seq: u32, syn: bool, ack: bool, payload: &[u8]) -> Vec<u8> {
    let (src, dst) = if from_client {
        (CLIENT, SERVER)
    } else {
        (SERVER, CLIENT)
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
    builder.write(&mut out, payload).unwrap();
    out
}

/// A conversation: handshake, then the client sends `0004ping` in two segments (the second
/// retransmitted, and a third segment overtaking it), the server answers `0004pong`.
fn packets() -> Vec<Vec<u8>> {
    vec![
        packet(true, 1000, true, false, b""),
        packet(false, 5000, true, true, b""),
        packet(true, 1001, false, true, b"0004pi"),
        packet(true, 1009, false, true, b"0002ok"), // overtakes the next one
        packet(true, 1007, false, true, b"ng"),
        packet(true, 1007, false, true, b"ng"), // retransmitted
        packet(false, 5001, false, true, b"0004pong"),
    ]
}

fn pcap(packets: &[Vec<u8>], datalink: DataLink) -> Vec<u8> {
    let header = PcapHeader {
        datalink,
        ..PcapHeader::default()
    };
    let mut writer = PcapWriter::with_header(Vec::new(), header).unwrap();
    for (i, p) in packets.iter().enumerate() {
        let packet = PcapPacket::new(Duration::from_millis(i as u64), p.len() as u32, p);
        writer.write_packet(&packet).unwrap();
    }
    writer.into_writer()
}

fn pcapng(packets: &[Vec<u8>]) -> Vec<u8> {
    let mut writer = PcapNgWriter::new(Vec::new()).unwrap();
    writer
        .write_pcapng_block(InterfaceDescriptionBlock {
            linktype: DataLink::ETHERNET,
            snaplen: 65535,
            options: vec![],
        })
        .unwrap();
    for (i, p) in packets.iter().enumerate() {
        writer
            .write_pcapng_block(EnhancedPacketBlock {
                interface_id: 0,
                timestamp: Duration::from_millis(i as u64),
                original_len: p.len() as u32,
                data: Cow::Borrowed(p),
                options: vec![],
            })
            .unwrap();
    }
    writer.into_inner()
}

fn addr((ip, port): ([u8; 4], u16)) -> SocketAddr {
    SocketAddr::from((ip, port))
}

fn check(bytes: &[u8]) {
    let capture = read_capture(bytes).unwrap();
    assert_eq!(capture.conversations.len(), 1);
    let c = &capture.conversations[0];
    assert_eq!((c.client, c.server), (addr(CLIENT), addr(SERVER)));
    assert_eq!(c.to_server.data, b"0004ping0002ok");
    assert_eq!(c.to_server.retransmitted, 1);
    assert_eq!(c.to_server.out_of_order, 1);
    assert!(c.to_server.gaps.is_empty());
    assert_eq!(c.to_client.data, b"0004pong");
}

#[test]
fn a_pcap_file_gives_both_directions_in_sequence_order() {
    check(&pcap(&packets(), DataLink::ETHERNET));
}

#[test]
fn a_pcapng_file_gives_the_same() {
    check(&pcapng(&packets()));
}

#[test]
fn a_segment_missing_from_the_capture_is_a_gap() {
    let mut p = packets();
    p.retain(|packet| !packet.ends_with(b"ng") || packet.ends_with(b"pong"));
    let capture = read_capture(&pcap(&p, DataLink::ETHERNET)[..]).unwrap();
    let flow = &capture.conversations[0].to_server;
    assert_eq!(flow.data, b"0004pi0002ok");
    assert_eq!(
        flow.gaps,
        [Gap {
            offset: 6,
            missing: 2
        }]
    );
}

#[test]
fn the_client_is_the_side_that_sent_the_syn_even_if_the_capture_starts_later() {
    // The capture starts with the server's SYN-ACK.
    let p = packets()[1..].to_vec();
    let capture = read_capture(&pcap(&p, DataLink::ETHERNET)[..]).unwrap();
    let c = &capture.conversations[0];
    assert_eq!(c.client, addr(CLIENT));
    assert_eq!(c.to_client.data, b"0004pong");
}

#[test]
fn raw_ip_captures_are_read_too() {
    let p: Vec<Vec<u8>> = packets().into_iter().map(|e| e[14..].to_vec()).collect();
    check(&pcap(&p, DataLink::RAW));
}

#[test]
fn other_packets_are_counted_as_skipped() {
    let mut p = packets();
    p.push(vec![0u8; 60]); // not IP
    let capture = read_capture(&pcap(&p, DataLink::ETHERNET)[..]).unwrap();
    assert_eq!(capture.skipped, 1);
}

#[test]
fn a_file_that_is_no_capture_is_refused_clearly() {
    let err = read_capture(&b"GET / HTTP/1.1\r\n"[..]).unwrap_err();
    assert!(matches!(err, CaptureError::UnknownFormat(_)), "{err}");
    assert!(err.to_string().contains("47 45 54 20"), "{err}");
    let mut truncated = pcap(&packets(), DataLink::ETHERNET);
    truncated.truncate(truncated.len() - 3);
    let err = read_capture(&truncated[..]).unwrap_err();
    assert!(matches!(err, CaptureError::Format(_)), "{err}");
}
