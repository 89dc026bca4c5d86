//! The README's example, compiled and run.

#[test]
fn readme_example_runs() -> Result<(), Box<dyn std::error::Error>> {
    use bytes::BytesMut;
    use msgframe::{Decoder, Encoder, Framing};

    let mut framing: Framing = "bcd:2".parse()?; // ISO 8583 host, 2-byte BCD length
    let mut wire = BytesMut::new();
    framing.encode(b"0800...", &mut wire)?; // 00 07 30 38 30 30 2E 2E 2E
    assert_eq!(&wire[..2], &[0x00, 0x07]);
    let mut buf = BytesMut::from(&wire[..3]); // a partial read
    assert_eq!(framing.decode(&mut buf)?, None); // not whole yet: bytes stay buffered
    buf.extend_from_slice(&wire[3..]);
    assert_eq!(framing.decode(&mut buf)?.as_deref(), Some(&b"0800..."[..]));

    let spec_table_rows = [
        ("ascii:4", &b"0003abc"[..]),
        ("hex:4", b"0003abc"),
        ("bcd:2", b"\x00\x03abc"),
        ("be:2", b"\x00\x03abc"),
        ("le:2", b"\x03\x00abc"),
        ("eof", b"abc"),
        ("fixed:3", b"abc"),
        ("delim:03", b"abc\x03"),
        ("lines", b"abc\n"),
        ("lines:crlf", b"abc\r\n"),
        ("netstring", b"3:abc,"),
    ];
    for (spec, bytes) in spec_table_rows {
        let framing: Framing = spec.parse()?;
        let mut out = BytesMut::new();
        framing.encode(b"abc", &mut out)?;
        assert_eq!(&out[..], bytes, "{spec}");
    }
    let err = "be:2,oversize=drop".parse::<Framing>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid framing spec `be:2,oversize=drop` at `drop` (bytes 14..18): expected fail or discard"
    );
    Ok(())
}
