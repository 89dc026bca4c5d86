//! Checks for one length-field decoder on its own.

use msgframe_header::parse;
use msgframe_header::{FieldBytes, HeaderError, LengthEncoding, LengthField};
use nom::error::{ErrorKind, FromExternalError, ParseError};
use nom::{IResult, Needed};

/// A nom error that keeps the [`HeaderError`] the parser passes along.
#[derive(Debug, Clone, PartialEq)]
pub struct Captured<'a> {
    /// Where parsing failed.
    pub input: &'a [u8],
    /// nom's error kind.
    pub kind: ErrorKind,
    /// The header error, when the parser gave one.
    pub header: Option<HeaderError>,
}

impl<'a> ParseError<&'a [u8]> for Captured<'a> {
    fn from_error_kind(input: &'a [u8], kind: ErrorKind) -> Self {
        Captured {
            input,
            kind,
            header: None,
        }
    }

    fn append(_: &'a [u8], _: ErrorKind, other: Self) -> Self {
        other
    }
}

impl<'a> FromExternalError<&'a [u8], HeaderError> for Captured<'a> {
    fn from_external_error(input: &'a [u8], kind: ErrorKind, e: HeaderError) -> Self {
        Captured {
            input,
            kind,
            header: Some(e),
        }
    }
}

/// What a complete-input nom length parser must return for `data`, given `decode`'s result.
fn expected_nom<'a>(
    enc: LengthEncoding,
    data: &'a [u8],
    decoded: &Result<u64, HeaderError>,
) -> IResult<&'a [u8], u64, Captured<'a>> {
    match decoded {
        Ok(v) => Ok((&data[enc.width()..], *v)),
        Err(e) => Err(nom::Err::Error(Captured {
            input: data,
            kind: if matches!(e, HeaderError::Truncated { .. }) {
                ErrorKind::Eof
            } else {
                ErrorKind::MapRes
            },
            header: Some(e.clone()),
        })),
    }
}

/// Checks a nom parser built by one of the width-taking constructors (`parse::ascii_decimal(w)`,
/// ...) against [`LengthField::decode`].
pub fn check_named_parser<'a>(
    enc: LengthEncoding,
    data: &'a [u8],
    got: IResult<&'a [u8], u64, Captured<'a>>,
) {
    let expected = expected_nom(enc, data, &enc.decode(data));
    assert_eq!(
        got, expected,
        "{enc}: named nom parser disagrees with decode on {data:02X?}"
    );
}

/// Checks `enc.decode(data)` and everything built on it.
///
/// * `reference`: an independent decoding of exactly `width` bytes (`None`: invalid field).
/// * `canonical`: the field `encode` must write for a field that decodes (e.g. upper-cased hex).
/// * `probe`: an arbitrary length to encode.
pub fn check_field(
    enc: LengthEncoding,
    data: &[u8],
    reference: impl Fn(&[u8]) -> Option<u64>,
    canonical: impl Fn(&[u8]) -> Vec<u8>,
    probe: u64,
) {
    let w = enc.width();
    let max = enc.max_length();
    let decoded = enc.decode(data);
    if let Err(e) = &decoded {
        let _ = e.to_string();
    }
    let _ = enc.to_string();

    if data.len() < w {
        assert_eq!(
            decoded,
            Err(HeaderError::Truncated {
                encoding: enc,
                needed: w,
                got: data.len()
            }),
            "{enc}: short input"
        );
    } else {
        let field = &data[..w];
        match (&decoded, reference(field)) {
            (Ok(v), Some(r)) => assert_eq!(*v, r, "{enc}: decode {field:02X?} vs reference"),
            (
                Err(HeaderError::InvalidByte {
                    encoding,
                    field: shown,
                    offset,
                    byte,
                    ..
                }),
                None,
            ) => {
                assert_eq!(*encoding, enc);
                assert_eq!(
                    *shown,
                    FieldBytes::new(field),
                    "{enc}: error shows other bytes"
                );
                assert!(
                    *offset < w,
                    "{enc}: error offset {offset} outside the field"
                );
                assert_eq!(*byte, field[*offset], "{enc}: error names the wrong byte");
            }
            (got, want) => {
                panic!("{enc}: decode {field:02X?} = {got:?}, reference says {want:?}")
            }
        }
        // Bytes after the field never matter.
        assert_eq!(
            enc.decode(field),
            decoded,
            "{enc}: trailing bytes changed the result"
        );
    }

    if let Ok(v) = decoded {
        assert!(v <= max, "{enc}: decoded {v} above max_length {max}");
        let encoded = enc
            .encode(v)
            .unwrap_or_else(|e| panic!("{enc}: decoded {v} but cannot encode it: {e}"));
        assert_eq!(encoded.len(), w);
        assert_eq!(
            enc.decode(&encoded),
            Ok(v),
            "{enc}: encode/decode round trip of {v}"
        );
        assert_eq!(
            &encoded[..],
            &canonical(&data[..w])[..],
            "{enc}: canonical encoding of {v} differs from the decoded field"
        );
    }

    // nom parsers, complete and streaming.
    let nom_complete = parse::length::<Captured<'_>>(enc)(data);
    assert_eq!(
        nom_complete,
        expected_nom(enc, data, &decoded),
        "{enc}: nom `length` disagrees with decode on {data:02X?}"
    );
    let nom_streaming = parse::length_streaming::<Captured<'_>>(enc)(data);
    if data.len() < w {
        assert_eq!(
            nom_streaming,
            Err(nom::Err::Incomplete(Needed::new(w - data.len()))),
            "{enc}: streaming parser on short input"
        );
    } else {
        assert_eq!(
            nom_streaming, nom_complete,
            "{enc}: streaming vs complete parser"
        );
    }

    // Encoding an arbitrary length (and one near the field's range): never truncated, never
    // wrapped.
    for probe in [probe, probe % max.saturating_add(2)] {
        check_encode(enc, probe);
    }
    assert!(
        enc.encode(max).is_ok(),
        "{enc}: its own max_length does not encode"
    );
    if let Some(above) = max.checked_add(1) {
        assert!(enc.encode(above).is_err(), "{enc}: max_length + 1 encodes");
    }
}

fn check_encode(enc: LengthEncoding, probe: u64) {
    let w = enc.width();
    let max = enc.max_length();
    let mut out = [0xAAu8; 24];
    match enc.encode(probe) {
        Ok(e) => {
            assert!(probe <= max, "{enc}: encoded {probe} above max {max}");
            assert_eq!(enc.decode(&e), Ok(probe), "{enc}: round trip of {probe}");
            enc.encode_into(probe, &mut out)
                .expect("encode_into agrees with encode");
            assert_eq!(&out[..w], &e[..]);
            assert!(
                out[w..].iter().all(|&b| b == 0xAA),
                "{enc}: wrote past its width"
            );
        }
        Err(e) => {
            assert_eq!(
                e,
                HeaderError::LengthTooLarge {
                    encoding: enc,
                    length: probe,
                    max
                },
                "{enc}: encoding {probe}"
            );
            let _ = e.to_string();
            assert!(enc.encode_into(probe, &mut out).is_err());
            assert!(
                out.iter().all(|&b| b == 0xAA),
                "{enc}: failed encode wrote bytes"
            );
        }
    }
}
