//! Writing captures: a TCP conversation as a pcap or pcapng file, with the imperfections real
//! captures have (a retransmitted segment, segments out of order, a lost one). For tests of
//! anything that reads captures, and for reproducing a field problem without the field.
//!
//! [`Recorder`] writes connections as they happen instead (what a proxy relays, say): a pcap
//! file of synthesised Ethernet, IP and TCP packets with real timestamps, one segment per chunk
//! of bytes, that Wireshark opens and [`read_capture`](crate::read_capture) reads back.
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

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::format::LinkType;
use etherparse::PacketBuilder;

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
        let flags = Flags {
            syn,
            ack: ack.then_some(1),
            ..Flags::default()
        };
        tcp_frame(src.into(), dst.into(), seq, flags, payload)
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

    /// The capture file: the packets a millisecond apart. Classic pcap is written big-endian
    /// with microsecond timestamps, pcapng little-endian with nanosecond ones (`if_tsresol` 9),
    /// so that readers see both byte orders and both resolutions.
    pub fn write(&self, format: Format) -> Vec<u8> {
        write_frames(self.frames.iter().map(Vec::as_slice), format)
    }
}

/// A capture of several conversations at once: their packets taken in turn, one from each (a
/// conversation that has none left drops out), a millisecond apart, written as
/// [`Conversation::write`] writes one. Give the conversations endpoints of their own.
///
/// ```
/// use msgframe_capture::synth::{interleaved, Conversation, Format};
///
/// let mut a = Conversation::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 9000));
/// a.client_sends(b"0004ping");
/// let mut b = Conversation::new(([10, 0, 0, 1], 40001), ([10, 0, 0, 2], 9000));
/// b.server_sends(b"0004pong");
/// let capture = msgframe_capture::parse_capture(&interleaved(&[a, b], Format::PcapNg))?;
/// assert_eq!(capture.conversations.len(), 2);
/// assert_eq!(capture.conversations[1].to_client.data, b"0004pong");
/// # Ok::<(), msgframe_capture::CaptureError>(())
/// ```
pub fn interleaved(conversations: &[Conversation], format: Format) -> Vec<u8> {
    let longest = conversations.iter().map(|c| c.frames.len()).max();
    let frames = (0..longest.unwrap_or(0)).flat_map(|i| {
        conversations
            .iter()
            .filter_map(move |c| c.frames.get(i).map(Vec::as_slice))
    });
    write_frames(frames, format)
}

/// A capture file of these Ethernet frames, a millisecond apart.
fn write_frames<'a>(frames: impl Iterator<Item = &'a [u8]>, format: Format) -> Vec<u8> {
    let mut out = Vec::new();
    match format {
        Format::Pcap | Format::PcapRawIp => {
            // An Ethernet II header is 14 bytes.
            let (linktype, skip) = match format {
                Format::PcapRawIp => (LinkType::RAW, 14),
                _ => (LinkType::ETHERNET, 0),
            };
            // Magic (microseconds), version 2.4, zone, accuracy, snapshot length, link type.
            for field in [
                0xa1b2_c3d4,
                0x0002_0004,
                0,
                0,
                65_535,
                u32::from(linktype.0),
            ] {
                out.extend_from_slice(&u32::to_be_bytes(field));
            }
            for (i, f) in frames.enumerate() {
                let data = &f[skip..];
                let len = data.len() as u32;
                let (secs, micros) = ((i / 1000) as u32, (i % 1000 * 1000) as u32);
                for field in [secs, micros, len, len] {
                    out.extend_from_slice(&field.to_be_bytes());
                }
                out.extend_from_slice(data);
            }
        }
        Format::PcapNg => {
            // Section header: byte-order magic, version 1.0, section length unknown.
            let mut body = Vec::new();
            body.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
            body.extend_from_slice(&1u16.to_le_bytes());
            body.extend_from_slice(&0u16.to_le_bytes());
            body.extend_from_slice(&(-1i64).to_le_bytes());
            pcapng_block(&mut out, 0x0a0d_0d0a, &body);
            // Interface: Ethernet, snapshot length, if_tsresol 9 (nanoseconds), end.
            let mut body = Vec::new();
            body.extend_from_slice(&LinkType::ETHERNET.0.to_le_bytes());
            body.extend_from_slice(&0u16.to_le_bytes());
            body.extend_from_slice(&65_535u32.to_le_bytes());
            body.extend_from_slice(&[9, 0, 1, 0, 9, 0, 0, 0]);
            body.extend_from_slice(&[0; 4]);
            pcapng_block(&mut out, 1, &body);
            for (i, f) in frames.enumerate() {
                let nanos = i as u64 * 1_000_000;
                let len = f.len() as u32;
                let mut body = Vec::with_capacity(20 + f.len() + 3);
                for field in [0, (nanos >> 32) as u32, nanos as u32, len, len] {
                    body.extend_from_slice(&field.to_le_bytes());
                }
                body.extend_from_slice(f);
                body.resize(body.len().next_multiple_of(4), 0);
                pcapng_block(&mut out, 6, &body);
            }
        }
    }
    out
}

/// Appends a little-endian pcapng block of type `kind` holding `body` (a multiple of 4 bytes).
fn pcapng_block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
    let len = (12 + body.len()) as u32;
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&len.to_le_bytes());
}

/// The TCP flags of a synthesised segment.
#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    syn: bool,
    fin: bool,
    psh: bool,
    /// The acknowledgement number, with the ACK flag.
    ack: Option<u32>,
}

/// The most payload one synthesised segment carries: it keeps the frame within a 65,535-byte
/// snapshot length and an IP packet's 16-bit length, with IPv6 headers.
pub const MAX_SEGMENT: usize = 65_000;

/// An Ethernet II frame carrying a TCP segment from `src` to `dst` (both IPv4, or both IPv6: an
/// IPv4 address facing an IPv6 one is written IPv4-mapped), window 65,535.
fn tcp_frame(src: SocketAddr, dst: SocketAddr, seq: u32, flags: Flags, payload: &[u8]) -> Vec<u8> {
    let ethernet = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let ip = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => ethernet.ipv4(s.octets(), d.octets(), 64),
        (s, d) => ethernet.ipv6(v6(s).octets(), v6(d).octets(), 64),
    };
    let mut builder = ip.tcp(src.port(), dst.port(), seq, 65535);
    if flags.syn {
        builder = builder.syn();
    }
    if flags.fin {
        builder = builder.fin();
    }
    if flags.psh {
        builder = builder.psh();
    }
    if let Some(ack) = flags.ack {
        builder = builder.ack(ack);
    }
    let mut out = Vec::with_capacity(builder.size(payload.len()));
    // Writing into a Vec cannot fail, and payloads are cut to MAX_SEGMENT.
    let _ = builder.write(&mut out, payload);
    out
}

fn v6(ip: IpAddr) -> std::net::Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// Which side of a recorded connection sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The side that connected.
    Client,
    /// The side connected to.
    Server,
}

/// One connection being recorded by a [`Recorder`]: its endpoints and the next sequence number
/// each way.
#[derive(Debug, Clone)]
pub struct Link {
    client: SocketAddr,
    server: SocketAddr,
    /// The next sequence number from the client, and from the server.
    client_next: u32,
    server_next: u32,
    closed: bool,
}

impl Link {
    /// The side that connected.
    pub fn client(&self) -> SocketAddr {
        self.client
    }

    /// The side connected to.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// Whether [`Recorder::close`] was called for it.
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

/// Writes TCP connections as a classic pcap file (Ethernet, microsecond timestamps) while they
/// happen: a handshake when one opens, a segment (or several, past [`MAX_SEGMENT`]) for every
/// chunk of bytes with sequence numbers that follow on each way, FINs when it closes. Packets
/// are written in the order they are given, with the times given.
///
/// ```
/// use std::time::Duration;
/// use msgframe_capture::synth::{Recorder, Side};
///
/// let mut recorder = Recorder::new(Vec::new())?;
/// let ms = Duration::from_millis;
/// let mut link = recorder.open("10.0.0.1:40000".parse()?, "10.0.0.2:9000".parse()?, ms(0))?;
/// recorder.data(&mut link, Side::Client, b"0004ping", ms(1))?;
/// recorder.data(&mut link, Side::Server, b"0004pong", ms(2))?;
/// recorder.close(&mut link, Side::Client, ms(3))?;
/// let file = recorder.into_inner();
///
/// let capture = msgframe_capture::read_capture(&file[..])?;
/// let c = &capture.conversations[0];
/// assert_eq!((c.to_server.data.as_slice(), c.to_client.data.as_slice()), (&b"0004ping"[..], &b"0004pong"[..]));
/// // SYN, SYN-ACK, ACK; two segments; FIN, FIN, ACK.
/// assert_eq!(c.to_server.packets + c.to_client.packets, 8);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Recorder<W: Write> {
    out: W,
    /// Connections opened so far: each gets initial sequence numbers of its own.
    opened: u32,
}

impl<W: Write> Recorder<W> {
    /// A recorder writing to `out`, starting with the file header.
    ///
    /// # Errors
    /// [`CaptureError::Io`](crate::CaptureError::Io) when `out` fails.
    pub fn new(mut out: W) -> Result<Self, crate::CaptureError> {
        let mut header = Vec::with_capacity(24);
        header.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes()); // microseconds, little-endian
        header.extend_from_slice(&2u16.to_le_bytes()); // version 2.4
        header.extend_from_slice(&4u16.to_le_bytes());
        header.extend_from_slice(&0i32.to_le_bytes()); // UTC
        header.extend_from_slice(&0u32.to_le_bytes()); // timestamp accuracy
        header.extend_from_slice(&65_535u32.to_le_bytes()); // snapshot length
        header.extend_from_slice(&1u32.to_le_bytes()); // Ethernet
        out.write_all(&header)?;
        Ok(Recorder { out, opened: 0 })
    }

    fn packet(&mut self, frame: &[u8], time: Duration) -> Result<(), crate::CaptureError> {
        // A classic pcap counts seconds in 32 bits: times past 2106 stop there.
        let secs = u32::try_from(time.as_secs()).unwrap_or(u32::MAX);
        let len = frame.len() as u32;
        let mut header = [0u8; 16];
        header[..4].copy_from_slice(&secs.to_le_bytes());
        header[4..8].copy_from_slice(&time.subsec_micros().to_le_bytes());
        header[8..12].copy_from_slice(&len.to_le_bytes());
        header[12..].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&header)?;
        self.out.write_all(frame)?;
        Ok(())
    }

    fn segment(
        &mut self,
        link: &Link,
        from: Side,
        flags: Flags,
        payload: &[u8],
        time: Duration,
    ) -> Result<(), crate::CaptureError> {
        let (src, dst, seq) = match from {
            Side::Client => (link.client, link.server, link.client_next),
            Side::Server => (link.server, link.client, link.server_next),
        };
        self.packet(&tcp_frame(src, dst, seq, flags, payload), time)
    }

    /// A connection from `client` to `server` opens at `time`: its handshake (SYN, SYN-ACK, ACK).
    ///
    /// # Errors
    /// [`CaptureError::Io`](crate::CaptureError::Io) when writing fails.
    pub fn open(
        &mut self,
        client: SocketAddr,
        server: SocketAddr,
        time: Duration,
    ) -> Result<Link, crate::CaptureError> {
        self.opened = self.opened.wrapping_add(1);
        // Initial sequence numbers apart for every connection, as a real stack's are.
        let isn = self.opened.wrapping_mul(0x0101_0000);
        let mut link = Link {
            client,
            server,
            client_next: isn,
            server_next: isn.wrapping_add(0x8000_0000),
            closed: false,
        };
        let syn = Flags {
            syn: true,
            ..Flags::default()
        };
        self.segment(&link, Side::Client, syn, b"", time)?;
        let syn_ack = Flags {
            syn: true,
            ack: Some(link.client_next.wrapping_add(1)),
            ..Flags::default()
        };
        self.segment(&link, Side::Server, syn_ack, b"", time)?;
        link.client_next = link.client_next.wrapping_add(1);
        link.server_next = link.server_next.wrapping_add(1);
        let ack = Flags {
            ack: Some(link.server_next),
            ..Flags::default()
        };
        self.segment(&link, Side::Client, ack, b"", time)?;
        Ok(link)
    }

    /// `from` sends `payload` at `time`: one segment, or several of at most [`MAX_SEGMENT`]
    /// bytes. Nothing for an empty payload or a closed link.
    ///
    /// # Errors
    /// [`CaptureError::Io`](crate::CaptureError::Io) when writing fails.
    pub fn data(
        &mut self,
        link: &mut Link,
        from: Side,
        payload: &[u8],
        time: Duration,
    ) -> Result<(), crate::CaptureError> {
        if link.closed {
            return Ok(());
        }
        for chunk in payload.chunks(MAX_SEGMENT) {
            let ack = match from {
                Side::Client => link.server_next,
                Side::Server => link.client_next,
            };
            let flags = Flags {
                psh: true,
                ack: Some(ack),
                ..Flags::default()
            };
            self.segment(link, from, flags, chunk, time)?;
            let next = match from {
                Side::Client => &mut link.client_next,
                Side::Server => &mut link.server_next,
            };
            *next = next.wrapping_add(chunk.len() as u32);
        }
        Ok(())
    }

    /// The connection closes at `time`, `first` closing first: a FIN each way, and the last
    /// acknowledgement. Nothing if it was closed already.
    ///
    /// # Errors
    /// [`CaptureError::Io`](crate::CaptureError::Io) when writing fails.
    pub fn close(
        &mut self,
        link: &mut Link,
        first: Side,
        time: Duration,
    ) -> Result<(), crate::CaptureError> {
        if link.closed {
            return Ok(());
        }
        link.closed = true;
        let second = match first {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        };
        let next = |link: &Link, side| match side {
            Side::Client => link.client_next,
            Side::Server => link.server_next,
        };
        let fin = |ack| Flags {
            fin: true,
            ack: Some(ack),
            ..Flags::default()
        };
        self.segment(link, first, fin(next(link, second)), b"", time)?;
        let first_fin = next(link, first).wrapping_add(1);
        self.segment(link, second, fin(first_fin), b"", time)?;
        // The FINs took a sequence number each.
        let second_fin = next(link, second).wrapping_add(1);
        match first {
            Side::Client => link.client_next = first_fin,
            Side::Server => link.server_next = first_fin,
        }
        let ack = Flags {
            ack: Some(second_fin),
            ..Flags::default()
        };
        self.segment(link, first, ack, b"", time)?;
        match second {
            Side::Client => link.client_next = second_fin,
            Side::Server => link.server_next = second_fin,
        }
        Ok(())
    }

    /// Flushes what was written to the underlying writer.
    ///
    /// # Errors
    /// [`CaptureError::Io`](crate::CaptureError::Io) when flushing fails.
    pub fn flush(&mut self) -> Result<(), crate::CaptureError> {
        Ok(self.out.flush()?)
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}
