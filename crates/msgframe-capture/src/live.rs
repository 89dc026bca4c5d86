//! Reading a capture as it arrives: a pipe from `tcpdump -w -`, a file still being written.

use std::net::SocketAddr;
use std::time::Duration;

use crate::format::{self, Block, Interface, Order, PcapHeader, Stop};
use crate::read::{
    bad_header, damaged, interface_time, unknown_format, Capture, CaptureError, Collecting,
    Collector, Conversation, Keep, Truncation,
};
use crate::reassembly::{Captured, HoldLimit, Reassembler};
use crate::select::Select;

/// Reads a pcap or pcapng capture a chunk of bytes at a time, as it arrives: each whole record
/// is read as soon as its last byte is there, and each conversation's directions grow as their
/// segments arrive, so that a caller can cut frames as soon as they are whole.
///
/// [`push`](CaptureReader::push) the bytes as they come, in any chunks (the format is told by the
/// first four bytes, as [`detect_format`](crate::detect_format) does); look at the
/// [`conversations`](CaptureReader::conversations) so far, numbered in order of first packet as
/// [`Capture::conversations`] are (so [`select`](CaptureReader::select) finds the conversation
/// [`Capture::select`] would), each direction's bytes so far
/// ([`Reassembler::contiguous`]) and the packet that completed them up to each point
/// ([`Reassembler::captured_by`]); at the end of the input, [`finish`](CaptureReader::finish)
/// gives the [`Capture`]: the same as [`parse_capture`](crate::parse_capture) gives for the
/// same bytes, however they were cut into chunks (a capture that dropped a packet aside: see
/// [`HoldLimit`]).
///
/// Only the start of a record not whole yet is kept besides the conversations' bytes; nothing is
/// allocated from a length the capture claims.
///
/// ```
/// use msgframe_capture::synth::{Conversation, Format};
/// use msgframe_capture::{CaptureReader, Select};
///
/// let mut c = Conversation::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 9000));
/// c.client_sends(b"0004ping").server_sends(b"0004pong").client_sends(b"0004more");
/// let file = c.write(Format::PcapNg);
///
/// let mut reader = CaptureReader::new();
/// let mut seen = Vec::new();
/// for chunk in file.chunks(50) {
///     reader.push(chunk)?;
///     if let Some(index) = reader.select(Select::Port(9000)) {
///         let conversation = reader.conversation(index).unwrap();
///         let to_server = conversation.to_server.contiguous();
///         if seen.last() != Some(&to_server.len()) {
///             seen.push(to_server.len());
///         }
///     }
/// }
/// // The client's bytes as they arrived: nothing, one message, then the next.
/// assert_eq!(seen, [0, 8, 16]);
/// let capture = reader.finish()?;
/// assert_eq!(capture, msgframe_capture::parse_capture(&file)?);
/// assert_eq!(capture.conversations[0].to_server.data, b"0004ping0004more");
/// # Ok::<(), msgframe_capture::CaptureError>(())
/// ```
#[derive(Debug)]
pub struct CaptureReader {
    /// Bytes pushed and not read yet: the start of a record not whole yet.
    tail: Vec<u8>,
    /// Where `tail` starts in the whole capture.
    offset: usize,
    /// Bytes pushed.
    len: usize,
    reading: Reading,
    /// When reading stopped at a record cut short: its whole length, when its header says.
    cut_len: Option<u64>,
    collector: Collector,
    /// Why reading failed: every later call fails the same way.
    failed: Option<Failed>,
}

/// Where reading is.
#[derive(Debug)]
enum Reading {
    /// Fewer than four bytes: the format is not told yet.
    Magic,
    /// A pcap file: its header, once read.
    Pcap(Option<PcapHeader>),
    /// A pcapng file: its section, once its first section header is read.
    PcapNg(Option<Section>),
}

/// The pcapng section being read.
#[derive(Debug)]
struct Section {
    order: Order,
    /// Its interfaces, by interface id.
    interfaces: Vec<Interface>,
    /// The time of the last packet: simple packet blocks carry none, and take it.
    time: Duration,
}

/// A failure kept to be given again.
#[derive(Debug, Clone)]
enum Failed {
    UnknownFormat(String),
    Format(String),
}

impl Failed {
    fn of(e: &CaptureError) -> Failed {
        match e {
            CaptureError::UnknownFormat(what) => Failed::UnknownFormat(what.clone()),
            other => Failed::Format(match other {
                CaptureError::Format(why) => why.clone(),
                other => other.to_string(),
            }),
        }
    }

    fn error(&self) -> CaptureError {
        match self {
            Failed::UnknownFormat(what) => CaptureError::UnknownFormat(what.clone()),
            Failed::Format(why) => CaptureError::Format(why.clone()),
        }
    }
}

/// A TCP conversation as far as a [`CaptureReader`] has read: its endpoints, and each direction
/// being reassembled (see [`Reassembler::contiguous`] and [`Reassembler::captured_by`]).
///
/// Which side is the client is settled by the first SYN or payload either way: while both
/// directions are [empty](Reassembler::is_empty), a SYN from the side taken for the server
/// (the first packet was its acknowledgement) swaps them.
#[derive(Debug, Clone, Copy)]
pub struct ConversationSoFar<'a> {
    /// The side that sent the SYN (or, with no SYN captured, the first packet).
    pub client: SocketAddr,
    /// The other side.
    pub server: SocketAddr,
    /// What the client sent, so far.
    pub to_server: &'a Reassembler,
    /// What the server sent, so far.
    pub to_client: &'a Reassembler,
    /// TCP packets from the client so far, with or without payload.
    pub to_server_packets: usize,
    /// TCP packets from the server so far.
    pub to_client_packets: usize,
    /// Its first packet, either way.
    pub first: Captured,
    /// Its last packet so far, either way.
    pub last: Captured,
    /// Whether it has ended: a FIN each way, or a reset. Packets may still come (a segment
    /// sent again, one captured late), but no new bytes of the connection.
    pub ended: bool,
}

impl ConversationSoFar<'_> {
    /// Whether either side of the conversation uses `port`.
    pub fn has_port(&self, port: u16) -> bool {
        self.client.port() == port || self.server.port() == port
    }

    fn of(c: &Collecting) -> ConversationSoFar<'_> {
        ConversationSoFar {
            client: c.client,
            server: c.server,
            to_server: &c.to_server,
            to_client: &c.to_client,
            to_server_packets: c.to_server_packets,
            to_client_packets: c.to_client_packets,
            first: c.first,
            last: c.last,
            ended: c.reset || (c.fin_from_client && c.fin_from_server),
        }
    }
}

impl Default for CaptureReader {
    fn default() -> Self {
        CaptureReader::new()
    }
}

impl CaptureReader {
    /// A reader for a capture read as it arrives: each direction holds at most
    /// [`HoldLimit::LIVE`] aside past a hole before declaring it a gap, so that a packet the
    /// capture dropped stalls nothing for long.
    pub fn new() -> Self {
        CaptureReader::with_hold_limit(HoldLimit::LIVE)
    }

    /// A reader whose directions hold `limit` aside past a hole ([`HoldLimit::NONE`]: wait for
    /// the end, as [`parse_capture`](crate::parse_capture) does).
    pub fn with_hold_limit(limit: HoldLimit) -> Self {
        CaptureReader {
            tail: Vec::new(),
            offset: 0,
            len: 0,
            reading: Reading::Magic,
            cut_len: None,
            collector: Collector::new(limit),
            failed: None,
        }
    }

    /// The next bytes of the capture: every record they complete is read, its packet numbered
    /// and, when it is TCP, given to its conversation.
    ///
    /// # Errors
    /// [`CaptureError::UnknownFormat`] when the first four bytes are not a pcap or pcapng magic
    /// number; [`CaptureError::Format`] for a damaged record (named by its offset in the whole
    /// capture) or a damaged first header. Reading stops there: every later call returns the
    /// same error.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), CaptureError> {
        if let Some(failed) = &self.failed {
            return Err(failed.error());
        }
        self.len += bytes.len();
        let read = if self.tail.is_empty() {
            // Read in place: only the start of a record not whole yet is copied.
            let read = self.records(bytes);
            if let Ok(n) = read {
                self.tail.extend_from_slice(&bytes[n..]);
            }
            read
        } else {
            self.tail.extend_from_slice(bytes);
            let tail = std::mem::take(&mut self.tail);
            let read = self.records(&tail);
            self.tail = tail;
            if let Ok(n) = read {
                self.tail.drain(..n);
                if self.tail.is_empty() && self.tail.capacity() > 1024 * 1024 {
                    self.tail = Vec::new();
                }
            }
            read
        };
        self.collector.expire();
        match read {
            Ok(n) => {
                self.offset += n;
                Ok(())
            }
            Err(e) => {
                self.failed = Some(Failed::of(&e));
                Err(e)
            }
        }
    }

    /// The conversations so far, in the order of their first packets.
    pub fn conversations(&self) -> impl ExactSizeIterator<Item = ConversationSoFar<'_>> + '_ {
        self.collector
            .conversations
            .iter()
            .map(ConversationSoFar::of)
    }

    /// The conversation at `index` in the order of first packets, once it has appeared.
    pub fn conversation(&self, index: usize) -> Option<ConversationSoFar<'_>> {
        self.collector
            .conversations
            .get(index)
            .map(ConversationSoFar::of)
    }

    /// The index of the conversation `which` names, once it has appeared: the one
    /// [`Capture::select`] gives for the whole capture (conversations only ever add up, in order
    /// of first packet, so the answer never changes once there is one). `None` while it has not
    /// appeared: whether it never does is known at the end ([`finish`](CaptureReader::finish),
    /// then [`Capture::select`]).
    pub fn select(&self, which: Select) -> Option<usize> {
        let count = self.collector.conversations.len();
        match which {
            Select::First => (count > 0).then_some(0),
            Select::Index(index) => (index < count).then_some(index),
            Select::Port(port) => self.conversations().position(|c| c.has_port(port)),
        }
    }

    /// Keeps the bytes of conversation `index` alone from now on, and frees what the others hold:
    /// their packets are still counted (and new conversations still numbered), but their
    /// segments are dropped, so [`finish`](Self::finish) gives them with empty flows. For a reader
    /// that follows one conversation of a long capture: memory then grows with that conversation
    /// only, not with all the traffic captured.
    ///
    /// ```
    /// use msgframe_capture::synth::{interleaved, Conversation, Format};
    /// use msgframe_capture::CaptureReader;
    ///
    /// let mut a = Conversation::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 9000));
    /// let mut b = Conversation::new(([10, 0, 0, 3], 40001), ([10, 0, 0, 2], 9000));
    /// a.client_sends(b"0004ping");
    /// b.client_sends(b"0004pong");
    /// let file = interleaved(&[a, b], Format::Pcap);
    /// let mut reader = CaptureReader::new();
    /// reader.keep_only(1);
    /// reader.push(&file)?;
    /// let capture = reader.finish()?;
    /// let whole = msgframe_capture::parse_capture(&file)?;
    /// assert_eq!(capture.conversations[0].to_server.data, b"");
    /// // Its packets are counted all the same.
    /// assert_eq!(capture.conversations[0].to_server.packets, whole.conversations[0].to_server.packets);
    /// assert_eq!(capture.conversations[1], whole.conversations[1]);
    /// # Ok::<(), msgframe_capture::CaptureError>(())
    /// ```
    pub fn keep_only(&mut self, index: usize) {
        let limit = self.collector.limit;
        for (i, c) in self.collector.conversations.iter_mut().enumerate() {
            if i != index {
                c.to_server = Reassembler::with_hold_limit(limit);
                c.to_client = Reassembler::with_hold_limit(limit);
            }
        }
        self.collector.keep = Keep::One(index);
    }

    /// Keeps the bytes of the conversations with `port` on either side alone, those read so far
    /// and those to come, and frees what the others hold (as [`keep_only`](Self::keep_only)
    /// does for one): for a reader that follows every connection to a host, short connections
    /// included.
    ///
    /// ```
    /// use msgframe_capture::synth::{interleaved, Conversation, Format};
    /// use msgframe_capture::CaptureReader;
    ///
    /// let mut a = Conversation::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 9000));
    /// let mut b = Conversation::new(([10, 0, 0, 1], 40001), ([10, 0, 0, 2], 80));
    /// let mut c = Conversation::new(([10, 0, 0, 3], 40002), ([10, 0, 0, 2], 9000));
    /// a.client_sends(b"0004ping");
    /// b.client_sends(b"GET /");
    /// c.client_sends(b"0004pong");
    /// let file = interleaved(&[a, b, c], Format::Pcap);
    /// let mut reader = CaptureReader::new();
    /// reader.keep_port(9000);
    /// reader.push(&file)?;
    /// let capture = reader.finish()?;
    /// let data: Vec<&[u8]> = capture.conversations.iter().map(|c| &c.to_server.data[..]).collect();
    /// assert_eq!(data, [&b"0004ping"[..], b"", b"0004pong"]);
    /// # Ok::<(), msgframe_capture::CaptureError>(())
    /// ```
    pub fn keep_port(&mut self, port: u16) {
        let limit = self.collector.limit;
        for c in &mut self.collector.conversations {
            if c.client.port() != port && c.server.port() != port {
                c.to_server = Reassembler::with_hold_limit(limit);
                c.to_client = Reassembler::with_hold_limit(limit);
            }
        }
        self.collector.keep = Keep::Port(port);
    }

    /// Lets go of the bytes before stream offset `upto` of one direction (`to_server`: what the
    /// client sent; else what the server sent) of conversation `index`: the frames a reader has
    /// already cut (see [`Reassembler::release`]). With [`keep_only`](Self::keep_only), a reader
    /// that follows a connection for hours holds only its frames not cut yet. The
    /// [`Capture`] that [`finish`](Self::finish) gives then has those bytes released
    /// ([`Flow::released`](crate::Flow::released)).
    pub fn release(&mut self, index: usize, to_server: bool, upto: usize) {
        if let Some(c) = self.collector.conversations.get_mut(index) {
            if to_server {
                c.to_server.release(upto);
            } else {
                c.to_client.release(upto);
            }
        }
    }

    /// Takes conversation `index` as read so far, its holes left declared gaps, as
    /// [`finish`](Self::finish) would give it; from then on its packets are counted but their
    /// bytes dropped, and `finish` gives it with empty flows. `None` when there is no such
    /// conversation or it was taken already. For a reader that follows many conversations (every
    /// short connection to a port, for hours): one that has [ended](ConversationSoFar::ended)
    /// is taken, shown and let go of, so memory does not grow with the connections seen.
    ///
    /// ```
    /// use msgframe_capture::synth::{Recorder, Side};
    /// use msgframe_capture::CaptureReader;
    /// use std::time::Duration;
    ///
    /// let mut recorder = Recorder::new(Vec::new())?;
    /// let ms = Duration::from_millis;
    /// let mut link = recorder.open("10.0.0.1:40000".parse()?, "10.0.0.2:9000".parse()?, ms(0))?;
    /// recorder.data(&mut link, Side::Client, b"0004ping", ms(1))?;
    /// recorder.close(&mut link, Side::Client, ms(2))?;
    /// let mut reader = CaptureReader::new();
    /// reader.push(&recorder.into_inner())?;
    /// assert!(reader.conversation(0).unwrap().ended);
    /// let taken = reader.take(0).unwrap();
    /// assert_eq!(taken.to_server.data, b"0004ping");
    /// assert!(reader.take(0).is_none());
    /// assert_eq!(reader.finish()?.conversations[0].to_server.data, b"");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn take(&mut self, index: usize) -> Option<Conversation> {
        let limit = self.collector.limit;
        let c = self.collector.conversations.get_mut(index)?;
        if std::mem::replace(&mut c.taken, true) {
            return None;
        }
        Some(c.take(limit))
    }

    /// Packets read so far, TCP or not.
    pub fn packets(&self) -> u64 {
        self.collector.packets
    }

    /// Packets so far that were not TCP over IP, or whose link layer is not supported.
    pub fn skipped(&self) -> usize {
        self.collector.skipped
    }

    /// Bytes pushed so far.
    pub fn bytes_pushed(&self) -> usize {
        self.len
    }

    /// The end of the capture: the conversations, each direction whole (holes still open
    /// declared gaps), and where the capture was cut short, if it ends inside a record.
    ///
    /// # Errors
    /// The error [`push`](CaptureReader::push) gave, if it gave one;
    /// [`CaptureError::UnknownFormat`] for fewer than four bytes; [`CaptureError::Format`] for a
    /// capture that ends inside its first header.
    pub fn finish(self) -> Result<Capture, CaptureError> {
        if let Some(failed) = &self.failed {
            return Err(failed.error());
        }
        match &self.reading {
            Reading::Magic => return Err(unknown_format(&self.tail)),
            Reading::Pcap(None) => {
                return Err(bad_header(
                    "pcap file header",
                    Stop::Cut { record_len: None },
                ))
            }
            Reading::PcapNg(None) => {
                let stop = match format::pcapng_block(&self.tail, Order::Little) {
                    Err(stop) => stop,
                    Ok(_) => Stop::Cut { record_len: None },
                };
                return Err(bad_header("pcapng section header", stop));
            }
            Reading::Pcap(Some(_)) | Reading::PcapNg(Some(_)) => {}
        }
        let truncated = (!self.tail.is_empty()).then_some(Truncation {
            offset: self.offset,
            file_len: self.len,
            record_len: self.cut_len,
        });
        let mut capture = self.collector.finish();
        capture.truncated = truncated;
        Ok(capture)
    }

    /// Reads the whole records at the start of `data`, the capture's bytes from `self.offset`
    /// on: how many bytes they span. The rest is the start of a record not whole yet.
    fn records(&mut self, data: &[u8]) -> Result<usize, CaptureError> {
        if let Reading::Magic = self.reading {
            if data.len() < 4 {
                return Ok(0);
            }
            self.reading = match crate::detect_format(data) {
                crate::FileFormat::Pcap => Reading::Pcap(None),
                crate::FileFormat::PcapNg => Reading::PcapNg(None),
                crate::FileFormat::Raw => return Err(unknown_format(data)),
            };
        }
        match &mut self.reading {
            Reading::Magic => Ok(0),
            Reading::Pcap(header) => {
                let mut at = 0;
                let header = match header {
                    Some(header) => *header,
                    None => match format::pcap_header(data) {
                        Ok(read) => {
                            at = format::PCAP_HEADER_LEN;
                            *header = Some(read);
                            read
                        }
                        Err(Stop::Cut { .. }) => return Ok(0),
                        Err(stop) => return Err(bad_header("pcap file header", stop)),
                    },
                };
                pcap_records(
                    data,
                    at,
                    &header,
                    self.offset,
                    &mut self.collector,
                    &mut self.cut_len,
                )
            }
            Reading::PcapNg(section) => pcapng_blocks(
                data,
                section,
                self.offset,
                &mut self.collector,
                &mut self.cut_len,
            ),
        }
    }
}

/// Reads the pcap records of `data` from `at`: where the last whole one ends.
fn pcap_records(
    data: &[u8],
    mut at: usize,
    header: &PcapHeader,
    offset: usize,
    collector: &mut Collector,
    cut_len: &mut Option<u64>,
) -> Result<usize, CaptureError> {
    while at < data.len() {
        match format::pcap_record(&data[at..], header) {
            Ok((packet, len)) => {
                let time = Duration::new(packet.secs, packet.nanos);
                collector.packet(header.linktype, packet.data, time);
                at += len;
            }
            Err(Stop::Cut { record_len }) => {
                *cut_len = record_len;
                break;
            }
            Err(Stop::Damaged(why)) => return Err(damaged(offset + at, why)),
        }
    }
    Ok(at)
}

/// Reads the pcapng blocks of `data`, in `section` (none before the first section header): where
/// the last whole one ends.
fn pcapng_blocks(
    data: &[u8],
    section: &mut Option<Section>,
    offset: usize,
    collector: &mut Collector,
    cut_len: &mut Option<u64>,
) -> Result<usize, CaptureError> {
    let mut at = 0;
    while at < data.len() {
        let order = section.as_ref().map_or(Order::Little, |s| s.order);
        let (block, len) = match format::pcapng_block(&data[at..], order) {
            Ok(found) => found,
            // The first block: the section header, not whole yet.
            Err(Stop::Cut { .. }) if section.is_none() => break,
            Err(Stop::Cut { record_len }) => {
                *cut_len = record_len;
                break;
            }
            Err(stop) if section.is_none() => {
                return Err(bad_header("pcapng section header", stop))
            }
            Err(Stop::Damaged(why)) => return Err(damaged(offset + at, why)),
        };
        at += len;
        let (interface, units, packet) = match (block, section.as_mut()) {
            (Block::Section(order), current) => {
                let time = current.map_or(Duration::ZERO, |s| s.time);
                *section = Some(Section {
                    order,
                    interfaces: Vec::new(),
                    time,
                });
                continue;
            }
            (_, None) => {
                let why = Stop::Damaged("it is not a section header".to_owned());
                return Err(bad_header("pcapng section header", why));
            }
            (Block::Interface(interface), Some(section)) => {
                section.interfaces.push(interface);
                continue;
            }
            (Block::Other, Some(_)) => continue,
            (
                Block::Packet {
                    interface,
                    units,
                    data,
                },
                Some(_),
            ) => (interface, units, data),
        };
        let Some(section) = section.as_mut() else {
            continue;
        };
        let interface = section.interfaces.get(interface as usize);
        if let (Some(interface), Some(units)) = (interface, units) {
            section.time = interface_time(interface, u128::from(units));
        }
        match interface {
            Some(interface) => collector.packet(interface.linktype, packet, section.time),
            None => {
                collector.next(section.time);
                collector.skipped += 1;
            }
        }
    }
    Ok(at)
}
