//! What README.md shows outside its Rust blocks (those run as doctests of the `msgframe` crate):
//! the framing spec table's bytes and the spec parse error it quotes.

use bytes::BytesMut;
use msgframe::{Encoder, Framing};

#[test]
fn the_readme_spec_table_and_its_parse_error_are_true() -> Result<(), Box<dyn std::error::Error>> {
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
