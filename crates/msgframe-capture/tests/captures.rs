//! Captures written with `synth` (Ethernet/IPv4/TCP packets in pcap and pcapng files), read back
//! into conversations: handshake direction, retransmissions, reordering, gaps.

use std::net::SocketAddr;

use msgframe_capture::synth::{Conversation, Format};
use msgframe_capture::{read_capture, CaptureError, Gap};

const CLIENT: ([u8; 4], u16) = ([10, 0, 0, 1], 40000);
const SERVER: ([u8; 4], u16) = ([10, 0, 0, 2], 9000);

/// The client sends `0004ping` (its second segment retransmitted), then `0002ok` and `0002go`
/// captured in the wrong order; the server answers `0004pong`.
fn conversation() -> Conversation {
    let mut c = Conversation::new(CLIENT, SERVER);
    c.client_sends(b"0004pi")
        .client_sends_twice(b"ng")
        .client_sends_reordered(b"0002ok", b"0002go")
        .server_sends(b"0004pong");
    c
}

fn addr((ip, port): ([u8; 4], u16)) -> SocketAddr {
    SocketAddr::from((ip, port))
}

fn check(bytes: &[u8]) {
    let capture = read_capture(bytes).unwrap();
    assert_eq!(capture.conversations.len(), 1);
    let c = &capture.conversations[0];
    assert_eq!((c.client, c.server), (addr(CLIENT), addr(SERVER)));
    assert_eq!(c.to_server.data, b"0004ping0002ok0002go");
    assert_eq!(c.to_server.retransmitted, 1);
    assert_eq!(c.to_server.out_of_order, 1);
    assert!(c.to_server.gaps.is_empty());
    assert_eq!(c.to_client.data, b"0004pong");
}

#[test]
fn a_pcap_file_gives_both_directions_in_sequence_order() {
    check(&conversation().write(Format::Pcap));
}

#[test]
fn a_pcapng_file_gives_the_same() {
    check(&conversation().write(Format::PcapNg));
}

#[test]
fn raw_ip_captures_are_read_too() {
    check(&conversation().write(Format::PcapRawIp));
}

#[test]
fn a_segment_missing_from_the_capture_is_a_gap() {
    let mut c = Conversation::new(CLIENT, SERVER);
    c.client_sends(b"0004pi")
        .client_sends_uncaptured(b"ng")
        .client_sends(b"0002ok");
    let capture = read_capture(&c.write(Format::Pcap)[..]).unwrap();
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
    let mut c = conversation();
    c.without_syn();
    let capture = read_capture(&c.write(Format::Pcap)[..]).unwrap();
    let c = &capture.conversations[0];
    assert_eq!(c.client, addr(CLIENT));
    assert_eq!(c.to_client.data, b"0004pong");
}

#[test]
fn a_file_that_is_no_capture_is_refused_clearly() {
    let err = read_capture(&b"GET / HTTP/1.1\r\n"[..]).unwrap_err();
    assert!(matches!(err, CaptureError::UnknownFormat(_)), "{err}");
    assert!(err.to_string().contains("47 45 54 20"), "{err}");
    let mut truncated = conversation().write(Format::Pcap);
    truncated.truncate(truncated.len() - 3);
    let err = read_capture(&truncated[..]).unwrap_err();
    assert!(matches!(err, CaptureError::Format(_)), "{err}");
}
