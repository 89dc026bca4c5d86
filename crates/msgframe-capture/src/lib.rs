//! TCP streams out of packet captures: what a bank sends after a failed test, turned back into
//! the byte streams each side sent, ready for a framing to cut into messages.
//!
//! [`read_capture`] reads a `.pcap` or `.pcapng` file (Ethernet, Linux cooked, raw IP or loopback
//! link layers; IPv4 and IPv6), sorts TCP segments into [`Conversation`]s, and puts each
//! direction back in sequence order ([`Flow`]): retransmitted segments are dropped, reordered
//! ones put in place, and stretches the capture lacks are reported as [`Gap`]s, never papered
//! over. A file cut short (a copy cut short, a capture stopped mid-write) is read up to the cut,
//! and the cut reported ([`Capture::truncated`]); [`parse_capture`] reads one already in memory.
//! Packets are numbered and timestamped ([`Captured`]), and each flow knows which packet
//! completed it up to any point ([`Flow::captured_by`]): the packet, and time, of a frame.
//!
//! [`detect_format`] tells a capture from raw bytes by its magic number, and
//! [`Capture::select`] picks the conversation to read ([`Select`]: the first, by index, or by
//! port).
//!
//! ```no_run
//! let capture = msgframe_capture::read_capture(std::fs::File::open("failed-test.pcapng")?)?;
//! for c in &capture.conversations {
//!     println!("{} -> {}: {} bytes, {} gaps", c.client, c.server, c.to_server.data.len(), c.to_server.gaps.len());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A capture still being written (`tcpdump -U -w - | …`) is read as it arrives by a
//! [`CaptureReader`]: push the bytes as they come, and each conversation's directions
//! ([`ConversationSoFar`]) grow as their segments arrive, each byte placed as soon as every byte
//! before it is there ([`Reassembler::contiguous`]), so frames can be cut as soon as they are
//! whole. A hole a dropped packet leaves is given up on past a [`HoldLimit`], and reported as a
//! gap. At the end it gives the same [`Capture`] as [`parse_capture`] (which is built on it).
//!
//! ```no_run
//! use std::io::Read;
//! use msgframe_capture::{CaptureReader, Select};
//!
//! let mut reader = CaptureReader::new();
//! let mut stdin = std::io::stdin().lock();
//! let mut buf = vec![0; 64 * 1024];
//! let mut shown = 0;
//! loop {
//!     let n = stdin.read(&mut buf)?;
//!     if n == 0 {
//!         break;
//!     }
//!     reader.push(&buf[..n])?;
//!     if let Some(c) = reader.select(Select::Port(9000)).and_then(|i| reader.conversation(i)) {
//!         let bytes = c.to_server.contiguous();
//!         println!("{} new bytes to the server", bytes.len() - shown);
//!         shown = bytes.len();
//!     }
//! }
//! let capture = reader.finish()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod format;
mod live;
mod read;
mod reassembly;
mod select;
pub mod synth;

pub use live::{CaptureReader, ConversationSoFar};
pub use read::{
    detect_format, parse_capture, read_capture, Capture, CaptureError, Conversation, FileFormat,
    Truncation,
};
pub use reassembly::{Captured, Flow, Gap, HoldLimit, Reassembler};
pub use select::{Select, SelectError};

/// The crate's README.md examples, compiled (and run) with the doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
