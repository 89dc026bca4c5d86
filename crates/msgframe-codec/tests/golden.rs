//! Golden bytes: the exact layouts real protocols and legacy card hosts put on the wire.
//!
//! Each test builds a framing the way a user would, encodes a body, compares the bytes with the
//! layout, and decodes them back.

use bytes::{Bytes, BytesMut};
use msgframe_codec::header::LengthEncoding;
use msgframe_codec::{
    CodecError, Decoder, Delimited, EmptyFrames, Encoder, FixedLength, Framing, FramingSpec,
    LengthCounts, LengthPrefixed, UntilEof,
};

/// Encodes `body`, checks the wire bytes, decodes them back to `body`.
fn assert_layout(framing: &mut impl FramingBoth, body: &[u8], wire: &[u8]) {
    let mut out = BytesMut::new();
    framing.encode(body, &mut out).expect("encodes");
    assert_eq!(&out[..], wire, "wire bytes");
    let mut buf = BytesMut::from(wire);
    let frame = framing
        .decode_eof(&mut buf)
        .expect("decodes")
        .expect("a frame");
    assert_eq!(&frame[..], body, "decoded body");
    assert!(buf.is_empty(), "nothing left over");
}

trait FramingBoth: Decoder + Encoder {}
impl<T: Decoder + Encoder> FramingBoth for T {}

fn body(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

fn wire(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn spec(s: &str) -> Framing {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

// ---- The protocol table of DESIGN.md -------------------------------------------------------------

#[test]
fn four_ascii_digits_then_123_bytes() {
    let b = body(123);
    assert_layout(&mut spec("ascii:4"), &b, &wire(&[b"0123", &b]));
}

#[test]
fn two_byte_bcd_then_123_bytes() {
    let b = body(123);
    assert_layout(&mut spec("bcd:2"), &b, &wire(&[&[0x01, 0x23], &b]));
}

#[test]
fn two_byte_binary_then_123_bytes() {
    let b = body(123);
    assert_layout(&mut spec("be:2"), &b, &wire(&[&[0x00, 0x7B], &b]));
}

#[test]
fn two_byte_binary_with_a_tpdu_counted_in_the_length() {
    // The TPDU (60 + destination + source) is the first 5 bytes of the counted body.
    let tpdu = [0x60, 0x00, 0x03, 0x00, 0x00];
    let msg = body(118);
    let counted = wire(&[&tpdu, &msg]);
    assert_layout(
        &mut spec("be:2"),
        &counted,
        &wire(&[&[0x00, 0x7B], &tpdu, &msg]),
    );
}

#[test]
fn visa_style_two_byte_length_then_two_zero_bytes() {
    let b = body(123);
    let mut visa = LengthPrefixed::builder(LengthEncoding::big_endian(2).unwrap())
        .after(&[0x00, 0x00][..])
        .build()
        .unwrap();
    assert_layout(&mut visa, &b, &wire(&[&[0x00, 0x7B, 0x00, 0x00], &b]));
    assert_eq!(visa.to_spec_string(), "be:2,after=0000");
}

#[test]
fn cmpp_smpp_four_byte_length_counts_itself_and_the_rest() {
    // SMPP enquire_link: command_length 16 = the whole PDU, header included.
    let pdu_after_length = [
        0x00, 0x00, 0x00, 0x15, // command_id enquire_link
        0x00, 0x00, 0x00, 0x00, // command_status
        0x00, 0x00, 0x00, 0x01, // sequence_number
    ];
    let mut smpp = spec("be:4,counts-header");
    assert_layout(
        &mut smpp,
        &pdu_after_length,
        &wire(&[&[0x00, 0x00, 0x00, 0x10], &pdu_after_length]),
    );
}

#[test]
fn tpkt_version_reserved_then_length_counting_four_header_bytes() {
    let b = body(123);
    let mut tpkt = LengthPrefixed::builder(LengthEncoding::big_endian(2).unwrap())
        .before(&[0x03, 0x00][..])
        .counts(LengthCounts::WholeFrame)
        .build()
        .unwrap();
    assert_layout(&mut tpkt, &b, &wire(&[&[0x03, 0x00, 0x00, 0x7F], &b]));
}

#[test]
fn tpkt_with_a_wrong_version_byte_names_the_bytes_and_offset() {
    let mut tpkt = spec("be:2,before=0300,counts-header");
    let mut buf = BytesMut::from(&[0x03, 0x00, 0x00, 0x05, b'x', 0x04, 0x00, 0x00, 0x05][..]);
    assert_eq!(tpkt.decode(&mut buf).unwrap().as_deref(), Some(&b"x"[..]));
    let err = tpkt.decode(&mut buf).unwrap_err();
    assert_eq!(
        err.to_string(),
        "frame at stream offset 5: bytes before the length field are [04 00], expected [03 00]"
    );
    assert!(!err.is_resumable());
    assert_eq!(
        tpkt.decode(&mut buf).unwrap_err(),
        CodecError::Poisoned { offset: 5 }
    );
}

#[test]
fn short_connection_body_until_fin() {
    let mut eof = UntilEof::default();
    let mut buf = BytesMut::new();
    for piece in [&b"HTTP/1.0 200 OK\r\n"[..], b"\r\n", b"body"] {
        buf.extend_from_slice(piece);
        assert_eq!(eof.decode(&mut buf).unwrap(), None);
    }
    assert_eq!(
        eof.decode_eof(&mut buf).unwrap().as_deref(),
        Some(&b"HTTP/1.0 200 OK\r\n\r\nbody"[..])
    );
    assert_eq!(eof.decode_eof(&mut buf).unwrap(), None);
}

#[test]
fn short_connection_closed_without_a_byte_is_one_empty_message() {
    let mut eof = UntilEof::default();
    let mut buf = BytesMut::new();
    assert_eq!(eof.decode_eof(&mut buf).unwrap(), Some(Bytes::new()));
    assert_eq!(eof.decode_eof(&mut buf).unwrap(), None);
}

#[test]
fn short_connection_longer_than_its_maximum_fails_before_eof() {
    let mut eof = UntilEof::new(8);
    let mut buf = BytesMut::from(&b"123456789"[..]);
    let err = eof.decode(&mut buf).unwrap_err();
    assert!(
        matches!(err, CodecError::FrameTooLong { max: 8, .. }),
        "{err}"
    );
}

// ---- Legacy card-host layouts --------------------------------------------------------------------

#[test]
fn card_host_two_byte_binary_not_counting_itself() {
    assert_layout(&mut spec("be:2"), b"0800", b"\x00\x040800");
}

#[test]
fn card_host_two_byte_binary_counting_itself() {
    assert_layout(&mut spec("be:2,counts-header"), b"0800", b"\x00\x060800");
    assert_layout(&mut spec("be:2,adjust=-2"), b"0800", b"\x00\x060800");
}

#[test]
fn card_host_two_byte_binary_counting_a_trailing_etx() {
    // The length covers the message and its trailing 0x03; the frame keeps the 0x03 so the
    // application can check it.
    let mut framing = spec("be:2");
    let mut buf = BytesMut::from(&b"\x00\x050800\x03\x00\x050810\x03"[..]);
    assert_eq!(
        framing.decode(&mut buf).unwrap().as_deref(),
        Some(&b"0800\x03"[..])
    );
    assert_eq!(
        framing.decode(&mut buf).unwrap().as_deref(),
        Some(&b"0810\x03"[..])
    );
}

#[test]
fn card_host_three_byte_binary() {
    let b = body(70_000);
    assert_layout(&mut spec("be:3"), &b, &wire(&[&[0x01, 0x11, 0x70], &b]));
}

#[test]
fn card_host_four_byte_binary() {
    assert_layout(&mut spec("be:4"), b"0800", b"\x00\x00\x00\x040800");
}

#[test]
fn card_host_length_then_two_zero_bytes() {
    assert_layout(
        &mut spec("be:2,after=0000"),
        b"0800",
        b"\x00\x04\x00\x000800",
    );
}

#[test]
fn card_host_two_zero_bytes_then_length() {
    assert_layout(
        &mut spec("be:2,before=0000"),
        b"0800",
        b"\x00\x00\x00\x040800",
    );
    // Read as a 4-byte length the same bytes mean the same thing, up to 65535.
    assert_layout(&mut spec("be:4"), b"0800", b"\x00\x00\x00\x040800");
}

#[test]
fn card_host_four_ascii_hex_digits() {
    let b = body(123);
    assert_layout(&mut spec("hex:4"), &b, &wire(&[b"007B", &b]));
}

#[test]
fn card_host_etx_terminator_without_length() {
    let mut etx = spec("delim:03");
    assert_layout(&mut etx, b"0800", b"0800\x03");
    let mut keep = spec("delim:03,keep");
    let mut buf = BytesMut::from(&b"0800\x030810\x03"[..]);
    assert_eq!(
        keep.decode(&mut buf).unwrap().as_deref(),
        Some(&b"0800\x03"[..])
    );
}

#[test]
fn little_endian_two_byte_length() {
    assert_layout(
        &mut spec("le:2"),
        &body(300),
        &wire(&[&[0x2C, 0x01], &body(300)]),
    );
}

#[test]
fn lenient_ascii_accepts_space_padded_lengths() {
    let mut lenient = spec("ascii:4,lenient");
    let mut buf = BytesMut::from(&b"  12hello world!"[..]);
    assert_eq!(
        lenient.decode(&mut buf).unwrap().as_deref(),
        Some(&b"hello world!"[..])
    );
    // Encoding still writes zeros.
    let mut out = BytesMut::new();
    lenient.encode(b"hi", &mut out).unwrap();
    assert_eq!(&out[..], b"0002hi");
}

#[test]
fn fixed_length_frames_back_to_back() {
    let mut fixed = FixedLength::new(3).unwrap();
    let mut buf = BytesMut::from(&b"abcdefg"[..]);
    assert_eq!(
        fixed.decode(&mut buf).unwrap().as_deref(),
        Some(&b"abc"[..])
    );
    assert_eq!(
        fixed.decode(&mut buf).unwrap().as_deref(),
        Some(&b"def"[..])
    );
    assert_eq!(
        fixed.decode_eof(&mut buf).unwrap_err(),
        CodecError::UnexpectedEof {
            offset: 6,
            buffered: 1,
            expected: Some(3)
        }
    );
    let mut out = BytesMut::new();
    assert_eq!(
        fixed.encode(b"ab", &mut out).unwrap_err(),
        CodecError::WrongLength {
            length: 2,
            expected: 3
        }
    );
}

#[test]
fn crlf_lines_accept_both_endings_and_write_crlf() {
    let mut lines = Delimited::crlf_lines().unwrap();
    let mut buf = BytesMut::from(&b"one\r\ntwo\n\r\n"[..]);
    assert_eq!(
        lines.decode(&mut buf).unwrap().as_deref(),
        Some(&b"one"[..])
    );
    assert_eq!(
        lines.decode(&mut buf).unwrap().as_deref(),
        Some(&b"two"[..])
    );
    assert_eq!(lines.decode(&mut buf).unwrap().as_deref(), Some(&b""[..]));
    let mut out = BytesMut::new();
    lines.encode(b"three", &mut out).unwrap();
    assert_eq!(&out[..], b"three\r\n");
}

#[test]
fn plain_lines_keep_a_carriage_return() {
    let mut lines = spec("lines");
    let mut buf = BytesMut::from(&b"one\r\n"[..]);
    assert_eq!(
        lines.decode(&mut buf).unwrap().as_deref(),
        Some(&b"one\r"[..])
    );
}

// ---- Edge values well-known implementations get wrong ----------------------------------------------

#[test]
fn a_length_above_9999_does_not_fit_two_bcd_bytes() {
    let mut out = BytesMut::new();
    let err = spec("bcd:2,max=9999").encode(&body(10_000), &mut out);
    assert!(err.is_err());
    // Without an explicit maximum the default is what the header can express.
    let bcd = LengthPrefixed::new(LengthEncoding::packed_bcd(2).unwrap()).unwrap();
    assert_eq!(bcd.max_frame_length(), 9999);
    let err = bcd.encode(&body(10_000), &mut out).unwrap_err();
    assert_eq!(
        err,
        CodecError::MessageTooLong {
            length: 10_000,
            max: 9999
        }
    );
    assert!(out.is_empty(), "nothing written on error");
    // And a maximum above what the header holds is refused when building.
    assert!("bcd:2,max=10000".parse::<Framing>().is_err());
}

#[test]
fn a_length_above_9999_does_not_fit_four_ascii_digits() {
    let ascii = spec("ascii:4");
    let mut out = BytesMut::new();
    assert!(matches!(
        ascii.encode(&body(10_000), &mut out),
        Err(CodecError::MessageTooLong { max: 9999, .. })
    ));
    assert!(out.is_empty());
    assert_layout(
        &mut spec("ascii:4"),
        &body(9999),
        &wire(&[b"9999", &body(9999)]),
    );
}

#[test]
fn a_length_never_wraps_modulo_the_header_range() {
    // 65 536 in two binary bytes would be 00 00: an empty frame followed by garbage.
    let be2 = spec("be:2");
    let mut out = BytesMut::new();
    assert!(be2.encode(&body(65_536), &mut out).is_err());
    assert!(out.is_empty());
    // 256 in one byte would be 00.
    assert!(spec("be:1").encode(&body(256), &mut out).is_err());
    // With counts-header, 65 534 body bytes + 2 = 65 536 does not fit either.
    let counting = spec("be:2,counts-header");
    assert!(counting.encode(&body(65_534), &mut out).is_err());
    counting.encode(&body(65_533), &mut out).unwrap();
    assert_eq!(&out[..2], &[0xFF, 0xFF]);
}

#[test]
fn hex_ffff_is_written_as_ffff_and_65536_is_refused() {
    let b = body(0xFFFF);
    assert_layout(&mut spec("hex:4"), &b, &wire(&[b"FFFF", &b]));
    let mut out = BytesMut::new();
    assert!(spec("hex:4").encode(&body(0x1_0000), &mut out).is_err());
    // Lower-case digits from a peer are accepted.
    let mut buf = BytesMut::from(&b"000ahelloworld"[..]);
    assert_eq!(
        spec("hex:4").decode(&mut buf).unwrap().as_deref(),
        Some(&b"helloworld"[..])
    );
}

#[test]
fn a_bcd_nibble_above_nine_is_an_error_naming_the_bytes() {
    let mut bcd = spec("bcd:2");
    let mut buf = BytesMut::from(&[0x01, 0x2A, 0xFF][..]);
    let err = bcd.decode(&mut buf).unwrap_err();
    assert_eq!(
        err.to_string(),
        "frame at stream offset 0: 2-byte packed BCD length field [01 2A] has byte 0x2A at offset 1, expected a low nibble 0-9"
    );
    assert_eq!(buf.len(), 3, "a rejected header is not consumed");
}

#[test]
fn a_non_digit_in_an_ascii_length_is_an_error_at_its_stream_offset() {
    let mut ascii = spec("ascii:4");
    let mut buf = BytesMut::from(&b"0002ok00x1"[..]);
    assert_eq!(ascii.decode(&mut buf).unwrap().as_deref(), Some(&b"ok"[..]));
    let err = ascii.decode(&mut buf).unwrap_err();
    assert_eq!(
        err.to_string(),
        "frame at stream offset 6: 4-digit ASCII decimal length field [30 30 78 31] has byte 0x78 at offset 2, expected a digit 0-9"
    );
}

// ---- Options -----------------------------------------------------------------------------------

#[test]
fn strip_zero_delivers_the_header_too() {
    let mut keep_header = spec("ascii:4,strip=0");
    let mut buf = BytesMut::from(&b"0002ok"[..]);
    assert_eq!(
        keep_header.decode(&mut buf).unwrap().as_deref(),
        Some(&b"0002ok"[..])
    );
}

#[test]
fn strip_part_of_the_header() {
    // TPKT without its version bytes: the length stays in the frame.
    let mut f = spec("be:2,before=0300,counts-header,strip=2");
    let mut buf = BytesMut::from(&b"\x03\x00\x00\x06ok"[..]);
    assert_eq!(
        f.decode(&mut buf).unwrap().as_deref(),
        Some(&b"\x00\x06ok"[..])
    );
}

#[test]
fn counts_from_length_field_excludes_the_bytes_before_it() {
    assert_layout(
        &mut spec("be:2,before=aa,after=bb,counts-from-length"),
        b"ok",
        b"\xAA\x00\x05\xBBok",
    );
}

#[test]
fn zero_length_frames_are_delivered_by_default() {
    let mut f = spec("ascii:4");
    let mut buf = BytesMut::from(&b"00000002ok"[..]);
    assert_eq!(f.decode(&mut buf).unwrap(), Some(Bytes::new()));
    assert_eq!(f.decode(&mut buf).unwrap().as_deref(), Some(&b"ok"[..]));
}

#[test]
fn zero_length_frames_can_be_skipped_as_keepalives() {
    let mut f = LengthPrefixed::builder(LengthEncoding::ascii_decimal(4).unwrap())
        .empty(EmptyFrames::Skip)
        .build()
        .unwrap();
    let mut buf = BytesMut::from(&b"000000000002ok0000"[..]);
    assert_eq!(f.decode(&mut buf).unwrap().as_deref(), Some(&b"ok"[..]));
    assert_eq!(f.decode(&mut buf).unwrap(), None);
    assert_eq!(f.keepalives_skipped(), 3);
    assert!(buf.is_empty());
}

#[test]
fn a_length_smaller_than_the_header_it_counts_is_an_error() {
    let mut cmpp = spec("be:4,counts-header");
    let mut buf = BytesMut::from(&[0, 0, 0, 3, 9, 9][..]);
    let err = cmpp.decode(&mut buf).unwrap_err();
    assert_eq!(
        err.to_string(),
        "frame at stream offset 0: length field [00 00 00 03] says 3, less than the 4 header bytes it counts"
    );
}

#[test]
fn oversized_claim_fails_without_buffering() {
    let mut f = spec("be:4,max=1024");
    let mut buf = BytesMut::with_capacity(16);
    buf.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3]);
    let err = f.decode(&mut buf).unwrap_err();
    assert_eq!(
        err.to_string(),
        "frame at stream offset 0 is 4294967295 bytes, above the maximum of 1024"
    );
    assert!(buf.capacity() < 1024, "no space reserved for the claim");
    assert!(matches!(
        f.decode(&mut buf),
        Err(CodecError::Poisoned { .. })
    ));
}

#[test]
fn oversized_frame_can_be_discarded_and_the_stream_resumes() {
    let mut f = spec("be:2,max=4,oversize=discard");
    let mut buf = BytesMut::from(&b"\x00\x0Atoo long!!\x00\x02ok"[..]);
    let err = f.decode(&mut buf).unwrap_err();
    assert!(err.is_resumable());
    assert_eq!(
        err.to_string(),
        "frame at stream offset 0 is 10 bytes, above the maximum of 4; discarding it"
    );
    assert_eq!(f.decode(&mut buf).unwrap().as_deref(), Some(&b"ok"[..]));
}

#[test]
fn end_of_stream_mid_header_and_mid_body_count_bytes() {
    let mut f = spec("ascii:4");
    let mut buf = BytesMut::from(&b"00"[..]);
    assert_eq!(
        f.decode_eof(&mut buf).unwrap_err(),
        CodecError::UnexpectedEof {
            offset: 0,
            buffered: 2,
            expected: Some(4)
        }
    );
    let mut f = spec("ascii:4");
    let mut buf = BytesMut::from(&b"0010hello"[..]);
    let err = f.decode_eof(&mut buf).unwrap_err();
    assert_eq!(
        err,
        CodecError::UnexpectedEof {
            offset: 0,
            buffered: 9,
            expected: Some(14)
        }
    );
    assert_eq!(
        err.to_string(),
        "stream ended inside the frame at stream offset 0: 9 bytes buffered, 14 expected"
    );
}

#[test]
fn a_message_containing_the_delimiter_is_refused() {
    let etx = spec("delim:03");
    let mut out = BytesMut::new();
    assert_eq!(
        etx.encode(b"ab\x03cd", &mut out).unwrap_err().to_string(),
        "message contains the delimiter [03] at offset 2"
    );
    // A body ending in the start of a multi-byte delimiter would complete it early.
    let aa = spec("delim:6161");
    assert!(aa.encode(b"xa", &mut out).is_err());
    assert!(out.is_empty());
}

// ---- Construction errors -------------------------------------------------------------------------

#[test]
fn contradicting_options_are_refused_when_building() {
    let be2 = LengthEncoding::big_endian(2).unwrap();
    let strip_too_long = LengthPrefixed::builder(be2).strip(3).build().unwrap_err();
    assert_eq!(
        strip_too_long.to_string(),
        "invalid framing: strip of 3 bytes is longer than the 2-byte header"
    );
    let max_too_big = LengthPrefixed::builder(be2)
        .max_frame_length(70_000)
        .build()
        .unwrap_err();
    assert_eq!(
        max_too_big.to_string(),
        "invalid framing: maximum frame length 70000 cannot be expressed by a 2-byte big-endian binary length field: the largest body it can describe is 65535"
    );
    let nothing_fits = LengthPrefixed::builder(LengthEncoding::big_endian(1).unwrap())
        .counts(LengthCounts::WholeFrame)
        .adjustment(-300)
        .build();
    assert!(nothing_fits.is_err());
    assert!(FixedLength::new(0).is_err());
    assert!(Delimited::new(Bytes::new()).is_err());
}

#[test]
fn counts_header_lowers_the_default_maximum_to_what_fits() {
    let f = LengthPrefixed::builder(LengthEncoding::big_endian(2).unwrap())
        .counts(LengthCounts::WholeFrame)
        .build()
        .unwrap();
    assert_eq!(f.max_frame_length(), 65_533);
}

trait ToSpecString {
    fn to_spec_string(&self) -> String;
}

impl ToSpecString for LengthPrefixed {
    fn to_spec_string(&self) -> String {
        FramingSpec::from(self).to_string()
    }
}

#[test]
fn an_unterminated_last_frame_above_the_maximum_is_refused_even_under_eof_deliver() {
    let mut f = spec("lines:crlf,max=3,eof=deliver");
    let mut buf = BytesMut::from(&b"abcd"[..]);
    assert_eq!(
        f.decode(&mut buf).unwrap(),
        None,
        "4 bytes may still be 3 + CR"
    );
    assert!(matches!(
        f.decode_eof(&mut buf),
        Err(CodecError::FrameTooLong {
            length: 4,
            max: 3,
            ..
        })
    ));
    let mut f = spec("lines:crlf,max=3,eof=deliver");
    let mut buf = BytesMut::from(&b"abc"[..]);
    assert_eq!(
        f.decode_eof(&mut buf).unwrap().as_deref(),
        Some(&b"abc"[..])
    );
}

/// Found by fuzzing: with unverified bytes after the length field, a stream ending after the field
/// but inside those bytes is short of the header, not of a frame whose size the field gave.
#[test]
fn end_of_stream_inside_unverified_header_bytes_expects_the_header() {
    let mut framing = spec("le:2,after=030000,no-verify,adjust=+1");
    let mut buf = BytesMut::from(&b"\x00\x00\x03\x00"[..]);
    assert_eq!(framing.decode(&mut buf).unwrap(), None);
    assert_eq!(
        framing.decode_eof(&mut buf),
        Err(CodecError::UnexpectedEof {
            offset: 0,
            buffered: 4,
            expected: Some(5),
        })
    );
}

/// The bare binary lengths, 4 ASCII decimal or hex digits and 2 BCD bytes encode on fast paths;
/// their edges give the same bytes and errors as the general path: the empty body, the largest body
/// the field or the maximum allows, one more.
#[test]
fn bare_length_fields_encode_the_same_at_the_edges_of_the_fast_paths() {
    for (s, largest) in [
        ("be:1", 255),
        ("le:2", 65_535),
        ("be:2,max=1000", 1000),
        ("le:4,max=70000", 70_000),
        ("ascii:4", 9999),
        ("ascii:4,max=1000", 1000),
        ("bcd:2", 9999),
        ("bcd:2,max=100", 100),
        ("hex:4", 65_535),
        ("hex:4,max=4096", 4096),
    ] {
        let framing = spec(s);
        for len in [0, 1, largest] {
            let body = body(len);
            let mut out = BytesMut::new();
            framing.encode(&body, &mut out).expect(s);
            let mut head = BytesMut::new();
            framing.encode_head(&body, &mut head).expect(s);
            assert_eq!(&out[..head.len()], &head[..], "{s}: header of {len} bytes");
            assert_eq!(&out[head.len()..], &body[..], "{s}: body of {len} bytes");
        }
        let mut out = BytesMut::new();
        let err = framing.encode(&body(largest + 1), &mut out).unwrap_err();
        assert!(
            matches!(
                err,
                CodecError::MessageTooLong { .. } | CodecError::LengthNotEncodable { .. }
            ),
            "{s}: {err}"
        );
        assert!(out.is_empty(), "{s}: nothing written for a refused body");
    }
    // An offset keeps the general path, the empty body included.
    let counted = spec("be:2,counts-header");
    let mut out = BytesMut::new();
    counted.encode(b"", &mut out).unwrap();
    assert_eq!(&out[..], b"\x00\x02");
    for (s, len, header) in [
        ("ascii:4", 123, &b"0123"[..]),
        ("ascii:4", 9999, b"9999"),
        ("bcd:2", 123, b"\x01\x23"),
        ("bcd:2", 9999, b"\x99\x99"),
        ("hex:4", 123, b"007B"),
        ("hex:4", 0xABCD, b"ABCD"),
        ("ascii:4,counts-header", 123, b"0127"),
        ("bcd:2,counts-header", 123, b"\x01\x25"),
        ("hex:4,before=03,after=00", 0xFF, b"\x0300FF\x00"),
    ] {
        let mut out = BytesMut::new();
        spec(s).encode(&body(len), &mut out).unwrap();
        assert_eq!(&out[..header.len()], header, "{s}: {len}");
        assert_eq!(out.len(), header.len() + len, "{s}: {len}");
    }
}
