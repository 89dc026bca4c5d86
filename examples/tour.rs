//! A tour of msgframe: one sample message framed and unframed in every encoding and framing.
//!
//! Run with `cargo run --example tour`. For each framing spec it prints the bytes on the wire (head,
//! body, tail), then decodes them again, fed one byte at a time as a slow network would deliver them.

use bytes::BytesMut;
use msgframe::header::hex;
use msgframe::{Decoder, Encoder, Framing};

const SAMPLE: &[u8] = b"0800 network test";

const SPECS: &[(&str, &str)] = &[
    ("ascii:4", "4 ASCII decimal digits (many ISO 8583 hosts)"),
    ("ascii:4,lenient", "the same, accepting space padding"),
    ("hex:4", "4 ASCII hex digits"),
    ("bcd:2", "2 bytes of packed BCD (ISO 8583 over POS)"),
    ("be:1", "1-byte binary"),
    ("be:2", "2-byte big-endian binary (network order)"),
    ("le:2", "2-byte little-endian binary"),
    ("be:3", "3-byte big-endian binary"),
    ("be:4", "4-byte big-endian binary"),
    ("be:8", "8-byte big-endian binary"),
    ("be:2,after=0000", "Visa-style: length, then two zero bytes"),
    ("be:2,before=0000", "two zero bytes, then the length"),
    ("be:2,counts-header", "2-byte binary counting itself"),
    (
        "be:4,counts-header",
        "CMPP / SMPP: 4 bytes counting the whole PDU",
    ),
    ("be:2,before=0300,counts-header", "TPKT (RFC 1006)"),
    ("fixed:17", "fixed length: always 17 bytes"),
    ("delim:03", "ETX terminator, no length"),
    ("lines", "a line ending in LF"),
    ("lines:crlf", "a line ending in CR LF"),
    (
        "eof",
        "short connection: the message ends at the peer's FIN",
    ),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "sample message: {:?} ({} bytes)\n",
        String::from_utf8_lossy(SAMPLE),
        SAMPLE.len()
    );
    for (spec, what) in SPECS {
        let mut framing: Framing = spec.parse()?;
        let mut head = BytesMut::new();
        framing.encode_head(SAMPLE, &mut head)?;
        let mut wire = BytesMut::new();
        framing.encode(SAMPLE, &mut wire)?;

        // Unframe it again, one byte per "read".
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for byte in wire.iter() {
            buf.extend_from_slice(&[*byte]);
            while let Some(frame) = framing.decode(&mut buf)? {
                frames.push(frame);
            }
        }
        while let Some(frame) = framing.decode_eof(&mut buf)? {
            frames.push(frame);
        }
        assert_eq!(frames.len(), 1, "{spec}");
        assert_eq!(&frames[0][..], SAMPLE, "{spec}");

        println!("{spec:<32} {what}");
        println!("    head  [{}]", hex::display(&head).upper().spaced());
        println!("    body  [{}]", hex::display(SAMPLE).upper().spaced());
        if !framing.tail().is_empty() {
            println!(
                "    tail  [{}]",
                hex::display(framing.tail()).upper().spaced()
            );
        }
        println!(
            "    {} bytes on the wire, decoded back from {} one-byte reads: {:?}\n",
            wire.len(),
            wire.len(),
            String::from_utf8_lossy(&frames[0])
        );
    }

    // What a bad header looks like.
    let mut bcd: Framing = "bcd:2".parse()?;
    let mut bad = BytesMut::from(&[0x01, 0x2A, b'x'][..]);
    println!("a bad BCD header: {}", bcd.decode(&mut bad).unwrap_err());
    let err = "be:2,oversize=drop".parse::<Framing>().unwrap_err();
    println!("a bad spec: {err}");
    Ok(())
}
