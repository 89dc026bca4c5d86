//! The records of pcap and pcapng files, read from bytes in memory: a file header or block at a
//! time, each one whole, cut short (the bytes it still needs are not there yet), or damaged.
//!
//! ```text
//! pcap:    file header (24 bytes: magic, version, zone, accuracy, snapshot length, link type)
//!          then records: seconds | fraction | captured length | original length | packet
//! pcapng:  blocks: type | total length | body (padded to 4) | total length
//!          section header (0x0A0D0D0A, byte-order magic 0x1A2B3C4D), interface description (1),
//!          enhanced packet (6), simple packet (3), packet (2, obsolete); others skipped
//! ```
//!
//! Nothing is allocated from a length a file claims, and no input makes these functions panic:
//! every length is checked against the bytes there before it is used.

/// A link-layer type (`LINKTYPE_*`), as a capture names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LinkType(pub(crate) u16);

impl LinkType {
    /// BSD loopback: a 4-byte address family in host order, then IP.
    pub(crate) const NULL: LinkType = LinkType(0);
    /// Ethernet II.
    pub(crate) const ETHERNET: LinkType = LinkType(1);
    /// Raw IP, version told by the packet.
    pub(crate) const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback: a 4-byte address family in network order, then IP.
    pub(crate) const LOOP: LinkType = LinkType(108);
    /// Linux "cooked" capture (v1).
    pub(crate) const LINUX_SLL: LinkType = LinkType(113);
    /// Raw IPv4.
    pub(crate) const IPV4: LinkType = LinkType(228);
    /// Raw IPv6.
    pub(crate) const IPV6: LinkType = LinkType(229);
}

/// The byte order of a pcap file or pcapng section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    Big,
    Little,
}

pub(crate) fn u16_at(data: &[u8], at: usize, order: Order) -> Option<u16> {
    let bytes: [u8; 2] = data.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(match order {
        Order::Big => u16::from_be_bytes(bytes),
        Order::Little => u16::from_le_bytes(bytes),
    })
}

pub(crate) fn u32_at(data: &[u8], at: usize, order: Order) -> Option<u32> {
    let bytes: [u8; 4] = data.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(match order {
        Order::Big => u32::from_be_bytes(bytes),
        Order::Little => u32::from_le_bytes(bytes),
    })
}

fn u64_at(data: &[u8], at: usize, order: Order) -> Option<u64> {
    let bytes: [u8; 8] = data.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(match order {
        Order::Big => u64::from_be_bytes(bytes),
        Order::Little => u64::from_le_bytes(bytes),
    })
}

/// Why a record could not be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The bytes end inside it; its whole length (header included) when its header says.
    Cut { record_len: Option<u64> },
    /// It cannot be what it says it is.
    Damaged(String),
}

/// The longest packet libpcap writes whatever the snapshot length (262,144 bytes).
const MAX_SNAPLEN: u32 = 262_144;

/// The longest pcapng block, or pcap packet record, read (16 MiB): a packet holds at most a
/// snapshot length of bytes (262,144 from libpcap), and the other blocks are small.
const MAX_BLOCK_LEN: u32 = 16 * 1024 * 1024;

/// A classic pcap file's header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PcapHeader {
    pub(crate) order: Order,
    /// Fractions of a second in nanoseconds (else microseconds).
    pub(crate) nanos: bool,
    pub(crate) snaplen: u32,
    pub(crate) linktype: LinkType,
}

/// The size of a pcap file header.
pub(crate) const PCAP_HEADER_LEN: usize = 24;

/// The pcap file header at the start of `data`.
pub(crate) fn pcap_header(data: &[u8]) -> Result<PcapHeader, Stop> {
    if data.len() < PCAP_HEADER_LEN {
        return Err(Stop::Cut {
            record_len: Some(PCAP_HEADER_LEN as u64),
        });
    }
    let (order, nanos) = match u32_at(data, 0, Order::Big) {
        Some(0xa1b2_c3d4) => (Order::Big, false),
        Some(0xd4c3_b2a1) => (Order::Little, false),
        Some(0xa1b2_3c4d) => (Order::Big, true),
        Some(0x4d3c_b2a1) => (Order::Little, true),
        _ => return Err(Stop::Damaged("its magic number is not pcap's".to_owned())),
    };
    let field = |at| u32_at(data, at, order).unwrap_or_default();
    Ok(PcapHeader {
        order,
        nanos,
        snaplen: field(16),
        // The low 16 bits: the link type; the others may say how long a frame check sequence is.
        linktype: LinkType((field(20) & 0xffff) as u16),
    })
}

/// A packet of a capture.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Packet<'a> {
    /// Seconds since 1970.
    pub(crate) secs: u64,
    pub(crate) nanos: u32,
    pub(crate) data: &'a [u8],
}

/// The pcap record at the start of `rest`, and its length.
pub(crate) fn pcap_record<'a>(
    rest: &'a [u8],
    header: &PcapHeader,
) -> Result<(Packet<'a>, usize), Stop> {
    const RECORD_HEADER: usize = 16;
    let (Some(secs), Some(frac), Some(captured)) = (
        u32_at(rest, 0, header.order),
        u32_at(rest, 4, header.order),
        u32_at(rest, 8, header.order),
    ) else {
        return Err(Stop::Cut { record_len: None });
    };
    if captured > header.snaplen.max(MAX_SNAPLEN) {
        return Err(Stop::Damaged(format!(
            "it claims {captured} captured bytes, more than the file's snapshot length ({})",
            header.snaplen
        )));
    }
    if captured > MAX_BLOCK_LEN {
        // Whatever snapshot length the header claims: a capture read as it arrives would hold
        // everything after such a record, waiting for it.
        return Err(Stop::Damaged(format!(
            "it claims {captured} captured bytes, more than any packet has ({MAX_BLOCK_LEN})"
        )));
    }
    let len = RECORD_HEADER + captured as usize;
    let Some(data) = rest.get(RECORD_HEADER..len) else {
        return Err(Stop::Cut {
            record_len: Some(len as u64),
        });
    };
    // A fraction of a second or more carries over.
    let nanos = u64::from(frac) * if header.nanos { 1 } else { 1000 };
    let packet = Packet {
        secs: u64::from(secs) + nanos / 1_000_000_000,
        nanos: (nanos % 1_000_000_000) as u32,
        data,
    };
    Ok((packet, len))
}

/// A pcapng block's type: a section header.
pub(crate) const SECTION_HEADER: u32 = 0x0a0d_0d0a;
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
const INTERFACE_DESCRIPTION: u32 = 1;
const PACKET: u32 = 2;
const SIMPLE_PACKET: u32 = 3;
const ENHANCED_PACKET: u32 = 6;

/// A pcapng block.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Block<'a> {
    /// A new section, in this byte order: its interfaces start again.
    Section(Order),
    Interface(Interface),
    /// A packet of interface `interface`; its time in that interface's units, when it has one
    /// (a simple packet block has none).
    Packet {
        interface: u32,
        units: Option<u64>,
        data: &'a [u8],
    },
    /// A block of a type not read here.
    Other,
}

/// What a pcapng interface says about its packets: their link layer, and how to read their
/// timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Interface {
    pub(crate) linktype: LinkType,
    /// `if_tsresol`: units of 10^-n seconds, or of 2^-n with the top bit set (default 6:
    /// microseconds).
    pub(crate) resolution: u8,
    /// `if_tsoffset`: seconds to add to every timestamp (a negative offset counts as none).
    pub(crate) offset: u64,
}

/// The pcapng block at the start of `rest` in a section of byte order `order` (a section header
/// says its own), and its length.
pub(crate) fn pcapng_block(rest: &[u8], order: Order) -> Result<(Block<'_>, usize), Stop> {
    let cut = || Stop::Cut { record_len: None };
    let kind = u32_at(rest, 0, order).ok_or_else(cut)?;
    let order = if kind == SECTION_HEADER {
        match u32_at(rest, 8, Order::Big).ok_or_else(cut)? {
            BYTE_ORDER_MAGIC => Order::Big,
            m if m == BYTE_ORDER_MAGIC.swap_bytes() => Order::Little,
            m => return Err(Stop::Damaged(format!("its byte-order magic is {m:08x}"))),
        }
    } else {
        order
    };
    let len = u32_at(rest, 4, order).ok_or_else(cut)?;
    if len < 12 || len % 4 != 0 {
        return Err(Stop::Damaged(format!("it claims a length of {len} bytes")));
    }
    if len > MAX_BLOCK_LEN {
        // Else a capture read as it arrives would hold everything after it, waiting.
        return Err(Stop::Damaged(format!(
            "it claims a length of {len} bytes, more than any block has ({MAX_BLOCK_LEN})"
        )));
    }
    let len = len as usize;
    let Some(block) = rest.get(..len) else {
        return Err(Stop::Cut {
            record_len: Some(len as u64),
        });
    };
    let trailing = u32_at(block, len - 4, order).unwrap_or_default();
    if trailing as usize != len {
        return Err(Stop::Damaged(format!(
            "its trailing length ({trailing}) is not its leading length ({len})"
        )));
    }
    let body = &block[8..len - 4];
    let damaged = |what: &str| Stop::Damaged(format!("its {what} goes past the end of the block"));
    let block = match kind {
        SECTION_HEADER => Block::Section(order),
        INTERFACE_DESCRIPTION => {
            let linktype = u16_at(body, 0, order).ok_or_else(|| damaged("header"))?;
            let mut interface = Interface {
                linktype: LinkType(linktype),
                resolution: 6,
                offset: 0,
            };
            options(
                body.get(8..).unwrap_or_default(),
                order,
                |code, value| match (code, value) {
                    (9, [resolution, ..]) => interface.resolution = *resolution,
                    (14, value) => {
                        if let Some(offset) = u64_at(value, 0, order) {
                            interface.offset = u64::try_from(offset as i64).unwrap_or(0);
                        }
                    }
                    _ => {}
                },
            );
            Block::Interface(interface)
        }
        ENHANCED_PACKET | PACKET => {
            // Enhanced: interface (4), time (8), captured (4), original (4). The obsolete
            // packet block: interface (2), drops (2), then the same.
            let interface = if kind == ENHANCED_PACKET {
                u32_at(body, 0, order)
            } else {
                u16_at(body, 0, order).map(u32::from)
            };
            let (Some(interface), Some(high), Some(low), Some(captured)) = (
                interface,
                u32_at(body, 4, order),
                u32_at(body, 8, order),
                u32_at(body, 12, order),
            ) else {
                return Err(damaged("header"));
            };
            let data = body
                .get(20..20usize.saturating_add(captured as usize))
                .ok_or_else(|| damaged("packet"))?;
            Block::Packet {
                interface,
                units: Some(u64::from(high) << 32 | u64::from(low)),
                data,
            }
        }
        SIMPLE_PACKET => {
            // The original length; the packet is what the block holds of it (padded to 4).
            let original = u32_at(body, 0, order).ok_or_else(|| damaged("header"))?;
            let held = &body[4..];
            Block::Packet {
                interface: 0,
                units: None,
                data: &held[..held.len().min(original as usize)],
            }
        }
        _ => Block::Other,
    };
    Ok((block, len))
}

/// Calls `each` with every option (code, value) in `data`, up to the end-of-options option or
/// the first that does not fit.
fn options(mut data: &[u8], order: Order, mut each: impl FnMut(u16, &[u8])) {
    while let (Some(code), Some(len)) = (u16_at(data, 0, order), u16_at(data, 2, order)) {
        if code == 0 {
            return;
        }
        let len = usize::from(len);
        let Some(value) = data.get(4..4 + len) else {
            return;
        };
        each(code, value);
        let padded = 4 + len.div_ceil(4) * 4;
        data = data.get(padded..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pcap_record_is_whole_cut_or_damaged() {
        let header = PcapHeader {
            order: Order::Little,
            nanos: false,
            snaplen: 65_535,
            linktype: LinkType::ETHERNET,
        };
        let mut record = Vec::new();
        for field in [7u32, 1_500_000, 3, 3] {
            record.extend_from_slice(&field.to_le_bytes());
        }
        record.extend_from_slice(b"abc");
        let (packet, len) = pcap_record(&record, &header).unwrap();
        assert_eq!(
            (packet.secs, packet.nanos, packet.data, len),
            (8, 500_000_000, &b"abc"[..], 19)
        );
        assert_eq!(
            pcap_record(&record[..18], &header).unwrap_err(),
            Stop::Cut {
                record_len: Some(19)
            }
        );
        assert_eq!(
            pcap_record(&record[..11], &header).unwrap_err(),
            Stop::Cut { record_len: None }
        );
        record[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            pcap_record(&record, &header),
            Err(Stop::Damaged(_))
        ));
        // Whatever snapshot length the file claims, no packet is longer than 16 MiB.
        let anything = PcapHeader {
            snaplen: u32::MAX,
            ..header
        };
        record[8..12].copy_from_slice(&(MAX_BLOCK_LEN + 1).to_le_bytes());
        assert!(matches!(
            pcap_record(&record[..16], &anything),
            Err(Stop::Damaged(why)) if why.contains("more than any packet has")
        ));
    }

    /// A pcapng block of type `kind` holding `body`, in byte order `order`.
    fn block(kind: u32, body: &[u8], order: Order) -> Vec<u8> {
        let u32s = |v: u32| match order {
            Order::Big => v.to_be_bytes(),
            Order::Little => v.to_le_bytes(),
        };
        let len = 12 + body.len() as u32;
        [&u32s(kind)[..], &u32s(len), body, &u32s(len)].concat()
    }

    #[test]
    fn pcapng_blocks_are_read_in_their_sections_byte_order() {
        for order in [Order::Big, Order::Little] {
            let u16s = |v: u16| match order {
                Order::Big => v.to_be_bytes().to_vec(),
                Order::Little => v.to_le_bytes().to_vec(),
            };
            let u32s = |v: u32| match order {
                Order::Big => v.to_be_bytes().to_vec(),
                Order::Little => v.to_le_bytes().to_vec(),
            };
            let section = [u32s(0x1a2b_3c4d), u16s(1), u16s(0), vec![0xff; 8]].concat();
            let shb = block(SECTION_HEADER, &section, order);
            assert!(
                matches!(pcapng_block(&shb, Order::Little), Ok((Block::Section(o), 28)) if o == order)
            );
            // An interface: raw IP, if_tsresol 3 (milliseconds), if_tsoffset 100 s.
            let mut idb = [u16s(101), u16s(0), u32s(65_535), u16s(9), u16s(1)].concat();
            idb.extend_from_slice(&[3, 0, 0, 0]);
            idb.extend([u16s(14), u16s(8)].concat());
            idb.extend(match order {
                Order::Big => 100u64.to_be_bytes(),
                Order::Little => 100u64.to_le_bytes(),
            });
            idb.extend([u16s(0), u16s(0)].concat());
            let idb = block(INTERFACE_DESCRIPTION, &idb, order);
            let expected = Interface {
                linktype: LinkType::RAW,
                resolution: 3,
                offset: 100,
            };
            assert!(
                matches!(pcapng_block(&idb, order), Ok((Block::Interface(i), _)) if i == expected)
            );
            // An enhanced packet and the obsolete packet block: interface, time, lengths, data.
            let epb = [
                u32s(0),
                u32s(1),
                u32s(2),
                u32s(3),
                u32s(3),
                b"abc\0".to_vec(),
            ]
            .concat();
            let pb = [
                u16s(0),
                u16s(0),
                u32s(1),
                u32s(2),
                u32s(3),
                u32s(3),
                b"abc\0".to_vec(),
            ]
            .concat();
            for (kind, body) in [(ENHANCED_PACKET, epb), (PACKET, pb)] {
                let bytes = block(kind, &body, order);
                let found = pcapng_block(&bytes, order);
                assert!(
                    matches!(found, Ok((Block::Packet { interface: 0, units: Some(u), data }, _))
                        if u == (1 << 32 | 2) && data == b"abc"),
                    "{found:?}"
                );
            }
            // A simple packet: what the block holds of the original length.
            let spb = block(SIMPLE_PACKET, &[u32s(2), b"xyz\0".to_vec()].concat(), order);
            assert!(matches!(
                pcapng_block(&spb, order),
                Ok((
                    Block::Packet {
                        units: None,
                        data: b"xy",
                        ..
                    },
                    _
                ))
            ));
        }
    }

    #[test]
    fn a_pcapng_block_that_lies_about_its_length_is_damaged_and_one_cut_short_is_cut() {
        let epb = block(ENHANCED_PACKET, &[0; 24], Order::Little);
        assert_eq!(
            pcapng_block(&epb[..20], Order::Little).unwrap_err(),
            Stop::Cut {
                record_len: Some(36)
            }
        );
        assert_eq!(
            pcapng_block(&epb[..6], Order::Little).unwrap_err(),
            Stop::Cut { record_len: None }
        );
        let mut lying = epb.clone();
        lying[32] ^= 4;
        assert!(matches!(
            pcapng_block(&lying, Order::Little),
            Err(Stop::Damaged(_))
        ));
        let mut short = epb.clone();
        short[4] = 10; // below the 12 bytes every block has
        assert!(matches!(
            pcapng_block(&short, Order::Little),
            Err(Stop::Damaged(_))
        ));
        // A length no block has: damaged at once, not waited for (a capture read as it
        // arrives would hold everything after it).
        let mut huge = epb.clone();
        huge[4..8].copy_from_slice(&(64u32 << 20).to_le_bytes());
        assert_eq!(
            pcapng_block(&huge[..16], Order::Little).unwrap_err(),
            Stop::Damaged(format!(
                "it claims a length of {} bytes, more than any block has ({MAX_BLOCK_LEN})",
                64u32 << 20
            ))
        );
        // Captured bytes beyond the block.
        let mut over = epb;
        over[20] = 200;
        assert!(matches!(
            pcapng_block(&over, Order::Little),
            Err(Stop::Damaged(_))
        ));
    }

    #[test]
    fn options_end_at_the_end_of_options_or_the_first_that_does_not_fit() {
        let mut seen = Vec::new();
        let data = [
            9, 0, 1, 0, 9, 0, 0, 0, 14, 0, 8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        options(&data, Order::Little, |code, value| {
            seen.push((code, value.to_vec()))
        });
        assert_eq!(seen, [(9, vec![9]), (14, vec![1, 0, 0, 0, 0, 0, 0, 0])]);
        seen.clear();
        options(&[9, 0, 200, 0, 1], Order::Little, |code, value| {
            seen.push((code, value.to_vec()))
        });
        assert!(seen.is_empty());
    }
}
