//! The `FramingSpec` text form: every row of its table parses, prints back, and bad parts are pointed at.

use msgframe_codec::header::{LengthEncoding, LengthField};
use msgframe_codec::{
    DelimitedConfig, EmptyFrames, Framing, FramingSpec, LengthCounts, LengthPrefixedConfig,
    Oversize, UnterminatedAtEof,
};

fn parse(s: &str) -> FramingSpec {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn every_documented_form_round_trips_unchanged() {
    for s in [
        "ascii:4",
        "ascii:4,lenient",
        "hex:4",
        "bcd:2",
        "be:2",
        "le:4",
        "be:8",
        "be:4,counts-header",
        "be:2,after=0000",
        "be:2,before=0300,counts-header",
        "be:2,before=aa,after=bbcc,no-verify,counts-from-length,adjust=-2,strip=1,max=100,oversize=discard,empty=skip",
        "ascii:4,adjust=+5",
        "eof",
        "eof,max=1024",
        "fixed:128",
        "delim:03",
        "delim:0d0a,keep,max=4096,oversize=discard,eof=deliver",
        "delim:03,crlf",
        "lines",
        "lines:crlf",
        "lines,max=80",
        "netstring",
        "netstring,max=99999",
    ] {
        assert_eq!(parse(s).to_string(), s, "{s}");
        let framing: Framing = s.parse().unwrap();
        assert_eq!(framing.spec(), parse(s), "{s}");
    }
}

#[test]
fn equivalent_forms_print_canonically() {
    assert_eq!(parse("delim:0a").to_string(), "lines");
    assert_eq!(parse("delim:0A").to_string(), "lines");
    assert_eq!(parse("be:4,max=64k").to_string(), "be:4,max=65536");
    assert_eq!(parse("be:4,max=8m").to_string(), "be:4,max=8388608");
    assert_eq!(parse("be:2,adjust=0").to_string(), "be:2");
    assert_eq!(parse("eof,max=8m").to_string(), "eof");
}

#[test]
fn a_spec_describes_its_framing_fully() {
    let s =
        parse("bcd:2,before=0300,after=0000,counts-header,adjust=-1,strip=0,max=500,empty=skip");
    let expected = LengthPrefixedConfig::new(LengthEncoding::packed_bcd(2).unwrap())
        .before(&[0x03, 0x00][..])
        .after(&[0x00, 0x00][..])
        .counts(LengthCounts::WholeFrame)
        .adjustment(-1)
        .strip(0)
        .max_frame_length(500)
        .empty(EmptyFrames::Skip);
    assert_eq!(s, FramingSpec::LengthPrefixed(expected));

    let d = parse("delim:0304,keep,oversize=discard,eof=deliver");
    let expected = DelimitedConfig::new(&[0x03, 0x04][..])
        .keep_delimiter(true)
        .oversize(Oversize::Discard)
        .at_eof(UnterminatedAtEof::Deliver);
    assert_eq!(d, FramingSpec::Delimited(expected));

    let FramingSpec::LengthPrefixed(c) = parse("ascii:6,lenient") else {
        panic!()
    };
    assert_eq!(c.encoding.decode(b"   123").unwrap(), 123);
}

/// (input, span pointed at, message)
const BAD: &[(&str, &str, &str)] = &[
    ("", "", "unknown framing"),
    ("bee:2", "bee", "unknown framing"),
    ("be", "be", "`be` needs a width"),
    ("be:x", "x", "expected a number"),
    (
        "be:9",
        "9",
        "binary length field cannot be 9 bytes wide (allowed: 1..=8)",
    ),
    (
        "bcd:6",
        "6",
        "packed BCD length field cannot be 6 bytes wide",
    ),
    ("ascii:0", "0", "cannot be 0 bytes wide"),
    ("be:2,max=", "", "expected a number"),
    ("be:2,max=12q", "12q", "expected a number"),
    ("be:2,after=000", "000", "even number of hex digits"),
    ("be:2,after=00zz", "z", "not a hex digit"),
    ("delim:0é", "é", "not a hex digit"),
    (
        "be:2,lenient",
        "lenient",
        "`lenient` applies to `ascii` only",
    ),
    (
        "be:2,counts-header,counts-from-length",
        "counts-from-length",
        "option given twice",
    ),
    ("be:2,,max=1", "", "empty option"),
    ("be:2,", "", "empty option"),
    ("be:2,oversize=drop", "drop", "expected fail or discard"),
    ("be:2,empty=maybe", "maybe", "expected deliver or skip"),
    ("be:2,keep", "keep", "unknown option for a length header"),
    ("be:2,counts-header=1", "1", "takes no value"),
    ("eof:3", "3", "takes no value"),
    ("eof,keep", "keep", "unknown option for `eof`"),
    ("fixed:16,max=4", "max=4", "`fixed` takes no option"),
    ("delim", "delim", "`delim` needs hex bytes"),
    ("lines:cr", "cr", "expected `lines` or `lines:crlf`"),
    ("lines,crlf", "crlf", "unknown option for `lines`"),
    ("lines,eof=maybe", "maybe", "expected error or deliver"),
    ("be:2,adjust=1.5", "1.5", "expected a signed integer"),
    (
        "be:2,adjust=99999999999999999999",
        "99999999999999999999",
        "out of range",
    ),
];

#[test]
fn parse_errors_point_at_the_bad_part() {
    for (input, part, message) in BAD {
        let err = input.parse::<FramingSpec>().unwrap_err();
        assert_eq!(&&input[err.span()], part, "span for {input:?}: {err}");
        assert!(
            err.message().contains(message),
            "{input:?}: {:?} should mention {message:?}",
            err.message()
        );
    }
}

#[test]
fn contradicting_options_are_spec_errors_too() {
    let err = "be:2,strip=3".parse::<FramingSpec>().unwrap_err();
    assert_eq!(err.span(), 0..12);
    assert!(err
        .message()
        .contains("strip of 3 bytes is longer than the 2-byte header"));
    assert!("be:2,max=65536".parse::<FramingSpec>().is_err());
    assert!("fixed:0".parse::<FramingSpec>().is_err());
    assert!("delim:".parse::<FramingSpec>().is_err());
}

#[test]
fn the_pointer_draws_carets_under_the_bad_part() {
    let err = "be:2,oversize=drop".parse::<FramingSpec>().unwrap_err();
    assert_eq!(err.pointer(), "be:2,oversize=drop\n              ^^^^");
}
