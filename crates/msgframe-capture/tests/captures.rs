//! Captures written with `synth` (Ethernet/IPv4/TCP packets in pcap and pcapng files), read back
//! into conversations: handshake direction, retransmissions, reordering, gaps.

use std::net::SocketAddr;
use std::time::Duration;

use msgframe_capture::synth::{Conversation, Format};
use msgframe_capture::{parse_capture, read_capture, CaptureError, Captured, Gap};

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
    // Packets numbered from 1, one millisecond apart from 0 (pcapng: in nanoseconds, as its
    // interface says).
    let at = |packet: u64| Captured {
        packet,
        time: Duration::from_millis(packet - 1),
    };
    assert_eq!((c.first, c.last), (at(1), at(8)));
    assert_eq!((c.to_server.packets, c.to_client.packets), (6, 2));
    // 0004ping: completed by its second segment (packet 4; its retransmission is 5).
    assert_eq!(c.to_server.captured_by(8), Some(at(4)));
    // 0002ok, then 0002go, captured the other way round: both complete with packet 7.
    assert_eq!(c.to_server.captured_by(14), Some(at(7)));
    assert_eq!(c.to_server.captured_by(20), Some(at(7)));
    assert_eq!(c.to_client.captured_by(8), Some(at(8)));
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
    let err = read_capture(&b""[..]).unwrap_err();
    assert!(matches!(err, CaptureError::UnknownFormat(_)), "{err}");
    // Cut short inside the file header: nothing to read at all.
    for format in [Format::Pcap, Format::PcapNg] {
        let file = conversation().write(format);
        let err = parse_capture(&file[..10]).unwrap_err();
        assert!(matches!(err, CaptureError::Format(_)), "{err}");
        assert!(err.to_string().contains("ends inside its"), "{err}");
    }
}

#[test]
fn a_damaged_record_is_an_error_not_a_truncation() {
    // pcap: the second record claims 4 GiB (its captured length, 8 bytes into its header).
    let mut file = conversation().write(Format::Pcap);
    let first = 24 + 16 + u32::from_be_bytes(file[24 + 8..24 + 12].try_into().unwrap()) as usize;
    file[first + 8..first + 12].copy_from_slice(&[0xff; 4]);
    let err = parse_capture(&file).unwrap_err();
    assert!(matches!(err, CaptureError::Format(_)), "{err}");
    assert!(
        err.to_string().contains(&format!("record at byte {first}")),
        "{err}"
    );
    // pcapng: a whole block whose trailing length disagrees with its leading one.
    let mut file = conversation().write(Format::PcapNg);
    let last_len = u32::from_le_bytes(file[file.len() - 4..].try_into().unwrap()) as usize;
    let last = file.len() - last_len;
    let end = file.len();
    file[end - 4] ^= 0x04;
    let err = parse_capture(&file).unwrap_err();
    assert!(matches!(err, CaptureError::Format(_)), "{err}");
    assert!(
        err.to_string().contains(&format!("record at byte {last}")),
        "{err}"
    );
}

/// The client sends `0004ping`, the server `0004pong`, then the client `0004more`: each capture
/// a prefix of the next (the same packets, one more each time).
fn growing(format: Format) -> [Vec<u8>; 3] {
    let mut c = Conversation::new(CLIENT, SERVER);
    c.client_sends(b"0004ping");
    let one = c.write(format);
    c.server_sends(b"0004pong");
    let two = c.write(format);
    c.client_sends(b"0004more");
    [one, two, c.write(format)]
}

#[test]
fn a_capture_cut_short_is_read_up_to_the_cut() {
    for format in [Format::Pcap, Format::PcapNg, Format::PcapRawIp] {
        let [one, two, three] = growing(format);
        assert!(
            three.starts_with(&two) && two.starts_with(&one),
            "{format:?}"
        );
        // Whole files: nothing truncated.
        for whole in [&one, &two, &three] {
            let capture = parse_capture(whole).unwrap();
            assert_eq!(capture.truncated, None, "{format:?}");
        }
        // Cuts inside the last packet: its record header, its link and IP headers, its payload.
        let last = two.len();
        for cut in [last + 1, last + 8, last + 16, last + 30, three.len() - 1] {
            let capture = parse_capture(&three[..cut]).unwrap();
            let c = &capture.conversations[0];
            assert_eq!(c.to_server.data, b"0004ping", "{format:?} cut at {cut}");
            assert_eq!(c.to_client.data, b"0004pong", "{format:?} cut at {cut}");
            let t = capture.truncated.unwrap();
            assert_eq!((t.offset, t.file_len), (last, cut), "{format:?}");
            assert_eq!(
                t.record_len.is_some(),
                cut - last >= if format == Format::PcapNg { 8 } else { 16 },
                "{format:?} cut at {cut}"
            );
            if let Some(len) = t.record_len {
                assert_eq!(len as usize, three.len() - last, "{format:?}");
            }
            let text = t.to_string();
            assert!(
                text.contains(&format!("ends at byte {cut}"))
                    && text.contains(&format!("record at byte {last}")),
                "{text}"
            );
        }
        // A cut inside the packet before: only what came before that one.
        let capture = parse_capture(&two[..two.len() - 3]).unwrap();
        let c = &capture.conversations[0];
        assert_eq!(c.to_server.data, b"0004ping");
        assert_eq!(c.to_client.data, b"");
        assert_eq!(capture.truncated.unwrap().offset, one.len());
        // read_capture, from a reader, the same.
        let capture = read_capture(&three[..three.len() - 1]).unwrap();
        assert_eq!(capture.truncated.unwrap().offset, last);
    }
}

#[test]
fn captures_are_told_from_raw_bytes_by_their_magic_number() {
    use msgframe_capture::{detect_format, FileFormat};
    assert_eq!(
        detect_format(&conversation().write(Format::Pcap)),
        FileFormat::Pcap
    );
    assert_eq!(
        detect_format(&conversation().write(Format::PcapRawIp)),
        FileFormat::Pcap
    );
    assert_eq!(
        detect_format(&conversation().write(Format::PcapNg)),
        FileFormat::PcapNg
    );
    // Both byte orders, microsecond and nanosecond timestamps.
    for magic in [
        [0xa1, 0xb2, 0xc3, 0xd4],
        [0xd4, 0xc3, 0xb2, 0xa1],
        [0xa1, 0xb2, 0x3c, 0x4d],
        [0x4d, 0x3c, 0xb2, 0xa1],
    ] {
        assert_eq!(detect_format(&magic), FileFormat::Pcap, "{magic:02x?}");
    }
    assert_eq!(detect_format(b"\x0a\x0d\x0d\x0a"), FileFormat::PcapNg);
    // Anything else is raw bytes, however short.
    for raw in [
        &b"GET / HTTP/1.1\r\n"[..],
        b"00040800",
        b"\x0a\x0d\x0d\x0b",
        b"\xa1\xb2\xc3",
        b"",
    ] {
        assert_eq!(detect_format(raw), FileFormat::Raw, "{raw:02x?}");
    }
}

/// A capture of conversations between 10.0.0.1 and 10.0.0.2 with these (client, server) ports.
fn capture_of(ports: &[(u16, u16)]) -> msgframe_capture::Capture {
    msgframe_capture::Capture {
        conversations: ports
            .iter()
            .map(|&(client, server)| msgframe_capture::Conversation {
                client: addr(([10, 0, 0, 1], client)),
                server: addr(([10, 0, 0, 2], server)),
                to_server: Default::default(),
                to_client: Default::default(),
                first: Default::default(),
                last: Default::default(),
            })
            .collect(),
        skipped: 3,
        truncated: None,
    }
}

#[test]
fn a_conversation_is_selected_first_by_index_or_by_port() {
    use msgframe_capture::{Select, SelectError};
    let capture = capture_of(&[(40000, 9000), (40001, 9001), (9001, 80)]);
    let port = |which| capture.select(which).map(|(i, c)| (i, c.client.port()));
    assert_eq!(port(Select::First), Ok((0, 40000)));
    assert_eq!(port(Select::Index(1)), Ok((1, 40001)));
    assert_eq!(port(Select::Index(2)), Ok((2, 9001)));
    // By port: the first conversation with the port on either side.
    assert_eq!(port(Select::Port(9000)), Ok((0, 40000)));
    assert_eq!(port(Select::Port(9001)), Ok((1, 40001)));
    assert_eq!(port(Select::Port(80)), Ok((2, 9001)));
    assert_eq!(port(Select::Port(40000)), Ok((0, 40000)));

    let err = capture.select(Select::Index(3)).unwrap_err();
    assert_eq!(err, SelectError::NoSuchIndex { index: 3, count: 3 });
    assert_eq!(err.to_string(), "no TCP conversation 3: it has 3 (0 to 2)");
    let err = capture.select(Select::Port(443)).unwrap_err();
    assert_eq!(err, SelectError::NoSuchPort { port: 443 });
    assert_eq!(err.to_string(), "no TCP conversation on port 443");
}

#[test]
fn a_capture_without_conversations_has_none_to_select() {
    use msgframe_capture::{Select, SelectError};
    let capture = capture_of(&[]);
    for which in [Select::First, Select::Index(0), Select::Port(9000)] {
        let err = capture.select(which).unwrap_err();
        assert_eq!(err, SelectError::NoConversation { skipped: 3 });
        assert_eq!(
            err.to_string(),
            "no TCP conversation in the capture (3 other packets)"
        );
    }
}

#[test]
fn an_index_wins_over_a_port() {
    use msgframe_capture::Select;
    assert_eq!(Select::new(Some(1), Some(9000)), Select::Index(1));
    assert_eq!(Select::new(None, Some(9000)), Select::Port(9000));
    assert_eq!(Select::new(None, None), Select::First);
    assert_eq!(Select::default(), Select::First);
}

#[test]
fn a_recorder_writes_connections_as_they_happen_and_they_read_back() {
    use msgframe_capture::synth::{Recorder, Side, MAX_SEGMENT};
    let us = Duration::from_micros;
    let base = Duration::from_secs(1_714_555_800);
    let mut recorder = Recorder::new(Vec::new()).unwrap();
    let v4 = |s: &str| s.parse::<SocketAddr>().unwrap();
    // Two connections at once, one over IPv6, and one whose ends are of both families (written
    // IPv4-mapped).
    let mut a = recorder
        .open(v4("10.0.0.1:40000"), v4("10.0.0.2:9000"), base)
        .unwrap();
    let mut b = recorder
        .open(v4("[fd00::1]:40001"), v4("[fd00::2]:9000"), base + us(1))
        .unwrap();
    let mut c = recorder
        .open(v4("127.0.0.1:40002"), v4("[::1]:9000"), base + us(2))
        .unwrap();
    let big: Vec<u8> = (0..MAX_SEGMENT * 2 + 10).map(|i| i as u8).collect();
    recorder
        .data(&mut a, Side::Client, b"0004ping", base + us(10))
        .unwrap();
    recorder
        .data(&mut b, Side::Client, &big, base + us(11))
        .unwrap();
    recorder
        .data(&mut a, Side::Server, b"0004pong", base + us(12))
        .unwrap();
    recorder
        .data(&mut c, Side::Server, b"hello", base + us(13))
        .unwrap();
    recorder
        .data(&mut b, Side::Server, b"", base + us(14))
        .unwrap();
    recorder.close(&mut a, Side::Server, base + us(20)).unwrap();
    recorder.close(&mut b, Side::Client, base + us(21)).unwrap();
    // After its close, nothing more on a link.
    recorder
        .data(&mut a, Side::Client, b"late", base + us(22))
        .unwrap();
    recorder.close(&mut a, Side::Client, base + us(23)).unwrap();
    assert!(a.is_closed() && !c.is_closed());
    let file = recorder.into_inner();

    let capture = parse_capture(&file).unwrap();
    assert_eq!(capture.truncated, None);
    assert_eq!(capture.skipped, 0);
    let ends: Vec<_> = capture
        .conversations
        .iter()
        .map(|c| (c.client.to_string(), c.server.to_string()))
        .collect();
    assert_eq!(
        ends,
        [
            ("10.0.0.1:40000".into(), "10.0.0.2:9000".into()),
            ("[fd00::1]:40001".into(), "[fd00::2]:9000".into()),
            ("[::ffff:127.0.0.1]:40002".into(), "[::1]:9000".into()),
        ]
    );
    let [a, b, c] = &capture.conversations[..] else {
        panic!("three conversations");
    };
    assert_eq!(a.to_server.data, b"0004ping");
    assert_eq!(a.to_client.data, b"0004pong");
    assert_eq!(b.to_server.data, big);
    assert_eq!(b.to_client.data, b"");
    assert_eq!(c.to_client.data, b"hello");
    for flow in [&a.to_server, &a.to_client, &b.to_server, &c.to_client] {
        assert!(flow.gaps.is_empty() && flow.retransmitted == 0 && flow.out_of_order == 0);
    }
    // a, closed by the server: SYN, ACK, data, FIN from the client; SYN-ACK, data, FIN, the
    // last ACK from the server.
    assert_eq!((a.to_server.packets, a.to_client.packets), (4, 4));
    // b: the big chunk in three segments.
    assert_eq!(b.to_server.segments, 3);
    assert_eq!((b.to_server.packets, b.to_client.packets), (7, 2));
    // Real times, to the microsecond.
    assert_eq!(a.first.time, base);
    assert_eq!(a.last.time, base + us(20));
    assert_eq!(a.to_server.captured_by(8).unwrap().time, base + us(10));
    assert_eq!(a.to_client.captured_by(8).unwrap().time, base + us(12));
    assert_eq!(c.last.time, base + us(13));
}

#[test]
fn a_port_used_again_is_a_new_conversation_and_a_syn_sent_again_is_not() {
    use msgframe_capture::synth::{interleaved, Recorder, Side};
    use msgframe_capture::{CaptureReader, Select};
    let ms = Duration::from_millis;
    let (client, server) = (
        "10.0.0.1:40000".parse().unwrap(),
        "10.0.0.2:9000".parse().unwrap(),
    );
    // Three short connections from the same port, one after another, as a client reusing its
    // port (a host behind TIME_WAIT reuse, a NAT) makes them.
    let mut recorder = Recorder::new(Vec::new()).unwrap();
    for (i, body) in [&b"0004ping"[..], b"0004pong", b"0004last"]
        .iter()
        .enumerate()
    {
        let t = ms(10 * i as u64);
        let mut link = recorder.open(client, server, t).unwrap();
        recorder
            .data(&mut link, Side::Client, body, t + ms(1))
            .unwrap();
        recorder
            .data(&mut link, Side::Server, b"0002ok", t + ms(2))
            .unwrap();
        recorder.close(&mut link, Side::Client, t + ms(3)).unwrap();
    }
    let file = recorder.into_inner();
    let capture = parse_capture(&file).unwrap();
    let sent: Vec<&[u8]> = capture
        .conversations
        .iter()
        .map(|c| &c.to_server.data[..])
        .collect();
    assert_eq!(sent, [&b"0004ping"[..], b"0004pong", b"0004last"]);
    assert!(capture
        .conversations
        .iter()
        .all(|c| c.to_server.gaps.is_empty() && c.to_client.data == b"0002ok"));
    // Read live, with only the port's conversations kept, or only the second: the same.
    for keep in [None, Some(1)] {
        let mut reader = CaptureReader::new();
        match keep {
            Some(index) => reader.keep_only(index),
            None => reader.keep_port(9000),
        }
        for chunk in file.chunks(7) {
            reader.push(chunk).unwrap();
        }
        assert_eq!(reader.select(Select::Index(2)), Some(2));
        let live = reader.finish().unwrap();
        assert_eq!(live.conversations.len(), 3);
        assert_eq!(live.conversations[1], capture.conversations[1]);
    }

    // A SYN sent again (the same sequence number) belongs to the connection it opens.
    let mut first = Conversation::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 9000));
    first.client_sends(b"0004ping");
    let again = Conversation::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 9000));
    let capture = parse_capture(&interleaved(&[first, again], Format::Pcap)).unwrap();
    assert_eq!(capture.conversations.len(), 1);
    assert_eq!(capture.conversations[0].to_server.data, b"0004ping");
}

#[test]
fn a_hole_still_open_after_five_seconds_of_capture_time_is_a_gap_when_read_live() {
    use msgframe_capture::synth::{Recorder, Side};
    use msgframe_capture::{CaptureReader, HoldLimit};
    let ms = Duration::from_millis;
    let v4 = |s: &str| s.parse::<SocketAddr>().unwrap();
    // Slow traffic: the next packet captured (another connection's) comes 6 s later.
    let mut recorder = Recorder::new(Vec::new()).unwrap();
    recorder
        .open(v4("10.0.0.3:40001"), v4("10.0.0.2:9000"), ms(6_000))
        .unwrap();
    let later = recorder.into_inner();
    // The first connection's file, less the record of the lost segment (the fifth: three of
    // the handshake, then "ping", then "lost"), then the later packets.
    let mut whole = Recorder::new(Vec::new()).unwrap();
    let mut a = whole
        .open(v4("10.0.0.1:40000"), v4("10.0.0.2:9000"), ms(0))
        .unwrap();
    for (i, body) in [&b"0004ping"[..], b"0004lost", b"0004next"]
        .iter()
        .enumerate()
    {
        whole
            .data(&mut a, Side::Client, body, ms(1 + i as u64))
            .unwrap();
    }
    let file = whole.into_inner();
    let mut records = Vec::new();
    let mut at = 24;
    while at < file.len() {
        let len = 16 + u32::from_le_bytes(file[at + 8..at + 12].try_into().unwrap()) as usize;
        records.push(&file[at..at + len]);
        at += len;
    }
    let mut capture = file[..24].to_vec();
    for (i, record) in records.iter().enumerate() {
        if i != 4 {
            capture.extend_from_slice(record);
        }
    }
    let before = capture.len();
    capture.extend_from_slice(&later[24..]);

    let mut reader = CaptureReader::new();
    reader.push(&capture[..before]).unwrap();
    let flow = reader.conversation(0).unwrap().to_server;
    assert_eq!(flow.contiguous(), b"0004ping", "the hole is waited for");
    reader.push(&capture[before..]).unwrap();
    let flow = reader.conversation(0).unwrap().to_server;
    assert_eq!(flow.contiguous(), b"0004ping0004next", "given up after 5 s");
    assert_eq!(
        flow.gaps(),
        [Gap {
            offset: 8,
            missing: 8
        }]
    );
    // Without a wait, it is waited for until the end.
    let mut reader = CaptureReader::with_hold_limit(HoldLimit::new(1 << 20, 1000));
    reader.push(&capture).unwrap();
    assert_eq!(
        reader.conversation(0).unwrap().to_server.contiguous(),
        b"0004ping"
    );
    assert_eq!(HoldLimit::LIVE.wait(), Some(Duration::from_secs(5)));
}

#[test]
fn damaged_and_cut_captures_never_panic() {
    // A small deterministic generator (xorshift): bytes flipped, cut, or both, at many places.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for format in [Format::Pcap, Format::PcapNg, Format::PcapRawIp] {
        let file = conversation().write(format);
        for _ in 0..10_000 {
            let mut bytes = file.clone();
            for _ in 0..=next() % 4 {
                let at = next() as usize % bytes.len();
                bytes[at] = next() as u8;
            }
            if next() % 2 == 0 {
                bytes.truncate(next() as usize % bytes.len());
            }
            // An answer either way, never a panic; a truncation always lies within the file.
            if let Ok(capture) = parse_capture(&bytes) {
                if let Some(t) = capture.truncated {
                    assert!(t.offset < t.file_len && t.file_len == bytes.len());
                }
                for c in &capture.conversations {
                    for flow in [&c.to_server, &c.to_client] {
                        let _ = flow.captured_by(flow.data.len());
                    }
                }
            }
        }
    }
}

/// Three conversations at once, with what real captures have: a retransmission, segments
/// captured out of order, a segment the capture lacks, a capture started after a SYN.
fn several(format: Format) -> Vec<u8> {
    let mut a = conversation();
    a.server_sends(b"0004more");
    let mut b = Conversation::new(([10, 0, 0, 3], 40001), SERVER);
    b.client_sends(b"0002hi")
        .client_sends_uncaptured(b"0004lost")
        .client_sends(b"0004next")
        .server_sends(b"0002ok")
        .client_sends_reordered(b"0003abc", b"0003def");
    let mut c = Conversation::new(([10, 0, 0, 4], 40002), ([10, 0, 0, 5], 7000));
    c.without_syn()
        .server_sends(b"0005hello")
        .client_sends_twice(b"0001x")
        .client_sends(b"0001y");
    msgframe_capture::synth::interleaved(&[a, b, c], format)
}

/// `bytes` given to a [`CaptureReader`](msgframe_capture::CaptureReader) in chunks of the sizes
/// `size` gives, then finished: the capture, or the error as text.
fn read_in_chunks(
    bytes: &[u8],
    size: impl FnMut() -> usize,
) -> Result<msgframe_capture::Capture, String> {
    read_in_chunks_holding(bytes, size, msgframe_capture::HoldLimit::LIVE)
}

/// [`read_in_chunks`] with a reader that holds `limit` past a hole.
fn read_in_chunks_holding(
    bytes: &[u8],
    mut size: impl FnMut() -> usize,
    limit: msgframe_capture::HoldLimit,
) -> Result<msgframe_capture::Capture, String> {
    let mut reader = msgframe_capture::CaptureReader::with_hold_limit(limit);
    let mut rest = bytes;
    while !rest.is_empty() {
        let (chunk, after) = rest.split_at(size().clamp(1, rest.len()));
        if let Err(e) = reader.push(chunk) {
            // The error stays: pushing more, or finishing, gives it again.
            assert_eq!(reader.push(after).unwrap_err().to_string(), e.to_string());
            assert_eq!(reader.finish().unwrap_err().to_string(), e.to_string());
            return Err(e.to_string());
        }
        rest = after;
    }
    reader.finish().map_err(|e| e.to_string())
}

#[test]
fn a_capture_read_in_chunks_of_any_size_gives_what_parse_capture_gives() {
    let mut state = 0x853c_49e6_748f_ea9bu64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for format in [Format::Pcap, Format::PcapNg, Format::PcapRawIp] {
        let file = several(format);
        let whole = parse_capture(&file).unwrap();
        assert_eq!(whole.conversations.len(), 3, "{format:?}");
        assert_eq!(whole.conversations[1].to_server.gaps.len(), 1, "{format:?}");
        // Whole, a byte at a time, a record at a time (about), and at random.
        assert_eq!(read_in_chunks(&file, || file.len()), Ok(whole.clone()));
        assert_eq!(read_in_chunks(&file, || 1), Ok(whole.clone()));
        assert_eq!(read_in_chunks(&file, || 70), Ok(whole.clone()));
        for _ in 0..300 {
            let most = [3, 40, 200, 2000][next() as usize % 4];
            let got = read_in_chunks(&file, || next() as usize % most + 1);
            assert_eq!(got, Ok(whole.clone()), "{format:?}");
        }
        // Damaged or cut short: the same capture, or the same error (a reader that waits for
        // every hole: a damaged timestamp could make a live one give a hole up).
        for _ in 0..2000 {
            let mut bytes = file.clone();
            for _ in 0..next() % 3 {
                let at = next() as usize % bytes.len();
                bytes[at] = next() as u8;
            }
            if next() % 2 == 0 {
                bytes.truncate(next() as usize % bytes.len());
            }
            let expected = parse_capture(&bytes).map_err(|e| e.to_string());
            let most = [3, 40, 200][next() as usize % 3];
            let got = read_in_chunks_holding(
                &bytes,
                || next() as usize % most + 1,
                msgframe_capture::HoldLimit::NONE,
            );
            assert_eq!(got, expected, "{format:?}");
        }
    }
    // Nothing, or less than a magic number: what parse_capture says.
    for bytes in [&b""[..], b"\xa1\xb2", b"\x0a\x0d\x0d\x0a\x1c"] {
        assert_eq!(
            read_in_chunks(bytes, || 1),
            parse_capture(bytes).map_err(|e| e.to_string())
        );
    }
}

#[test]
fn a_capture_read_as_it_arrives_shows_each_direction_as_soon_as_its_bytes_are_whole() {
    use msgframe_capture::{CaptureReader, Select};
    for format in [Format::Pcap, Format::PcapNg] {
        let file = conversation().write(format);
        let mut reader = CaptureReader::new();
        assert_eq!(reader.select(Select::First), None);
        // (packets read, to-server bytes, to-client bytes), each time they change.
        let mut seen: Vec<(u64, usize, usize)> = Vec::new();
        for byte in file.chunks(1) {
            reader.push(byte).unwrap();
            let Some(index) = reader.select(Select::Port(9000)) else {
                continue;
            };
            let c = reader.conversation(index).unwrap();
            let now = (
                reader.packets(),
                c.to_server.contiguous().len(),
                c.to_client.contiguous().len(),
            );
            if seen.last().map(|s| (s.1, s.2)) != Some((now.1, now.2)) {
                seen.push(now);
            }
        }
        // The handshake; 0004pi (packet 3); ng (4) then its retransmission (5); 0002go (6)
        // waits for 0002ok (7); the server's 0004pong (8).
        assert_eq!(
            seen,
            [(1, 0, 0), (3, 6, 0), (4, 8, 0), (7, 20, 0), (8, 20, 8)],
            "{format:?}"
        );
        let c = reader.conversation(0).unwrap();
        assert_eq!(c.to_server.contiguous(), b"0004ping0002ok0002go");
        let at = |packet: u64| Captured {
            packet,
            time: Duration::from_millis(packet - 1),
        };
        assert_eq!(c.to_server.captured_by(8), Some(at(4)));
        assert_eq!(c.to_server.captured_by(20), Some(at(7)));
        assert_eq!((c.to_server_packets, c.to_client_packets), (6, 2));
        assert_eq!((c.first, c.last), (at(1), at(8)));
        assert_eq!(reader.conversations().len(), 1);
        assert_eq!(reader.bytes_pushed(), file.len());
        assert_eq!(reader.finish().unwrap(), parse_capture(&file).unwrap());
    }
}

#[test]
fn conversations_read_as_they_arrive_are_numbered_and_selected_as_in_the_whole_capture() {
    use msgframe_capture::{CaptureReader, Select};
    let file = several(Format::Pcap);
    let whole = parse_capture(&file).unwrap();
    let mut reader = CaptureReader::new();
    let choices = [
        Select::First,
        Select::Index(1),
        Select::Index(2),
        Select::Index(3),
        Select::Port(9000),
        Select::Port(7000),
        Select::Port(40001),
        Select::Port(80),
    ];
    let mut found = vec![None; choices.len()];
    for chunk in file.chunks(33) {
        reader.push(chunk).unwrap();
        for (choice, found) in choices.iter().zip(&mut found) {
            let now = reader.select(*choice);
            // Once found, a choice never changes.
            if found.is_some() {
                assert_eq!(now, *found, "{choice:?}");
            }
            *found = now;
        }
    }
    for (choice, found) in choices.iter().zip(found) {
        assert_eq!(
            found,
            whole.select(*choice).ok().map(|(i, _)| i),
            "{choice:?}"
        );
    }
    let ends: Vec<_> = reader
        .conversations()
        .map(|c| (c.client, c.server))
        .collect();
    let whole_ends: Vec<_> = whole
        .conversations
        .iter()
        .map(|c| (c.client, c.server))
        .collect();
    assert_eq!(ends, whole_ends);
}

#[test]
fn a_hole_the_capture_never_fills_is_given_up_on_while_reading() {
    use msgframe_capture::{CaptureReader, HoldLimit, Select};
    let mut c = Conversation::new(CLIENT, SERVER);
    c.client_sends(b"0004ping")
        .client_sends_uncaptured(b"0004lost");
    for _ in 0..10 {
        c.client_sends(b"0004more");
    }
    let file = c.write(Format::Pcap);
    // With no limit, nothing past the hole until the end; with one of 20 bytes, from the third
    // segment past it on.
    for (limit, before_the_end) in [(HoldLimit::NONE, 8), (HoldLimit::new(20, 100), 8 + 80)] {
        let mut reader = CaptureReader::with_hold_limit(limit);
        reader.push(&file).unwrap();
        let index = reader.select(Select::First).unwrap();
        let flow = reader.conversation(index).unwrap().to_server;
        assert_eq!(flow.contiguous().len(), before_the_end, "{limit:?}");
        let capture = reader.finish().unwrap();
        assert_eq!(capture, parse_capture(&file).unwrap(), "{limit:?}");
        assert_eq!(
            capture.conversations[0].to_server.gaps,
            [Gap {
                offset: 8,
                missing: 8
            }]
        );
    }
}
