//! The `FramingSpec` text form: every row of its table parses, prints back, and bad parts are pointed at.

use msgframe_codec::header::{LengthEncoding, LengthField};
use msgframe_codec::{
    DelimitedConfig, EmptyFrames, FixedLength, Framing, FramingSpec, LengthCounts,
    LengthPrefixedConfig, Netstring, Oversize, UnterminatedAtEof,
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
    assert_eq!(err.span(), 5..12);
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

/// The error of a spec that parses but does not build: its span, its pointer, its message.
fn build_error(input: &str, span: std::ops::Range<usize>, pointer: &str, message: &str) {
    let err = input.parse::<FramingSpec>().unwrap_err();
    assert_eq!(err.span(), span, "span for {input:?}: {err}");
    assert_eq!(err.pointer(), pointer, "pointer for {input:?}: {err}");
    assert_eq!(
        err.message(),
        format!("invalid framing: {message}"),
        "message for {input:?}"
    );
    assert_eq!(
        input.parse::<Framing>().unwrap_err().to_string(),
        err.to_string(),
        "Framing::from_str reports the same error for {input:?}"
    );
}

#[test]
fn a_maximum_the_length_field_cannot_express_points_at_max() {
    build_error(
        "be:1,max=300",
        5..12,
        "be:1,max=300\n     ^^^^^^^",
        "maximum frame length 300 cannot be expressed by a 1-byte big-endian binary length field: the largest body it can describe is 255",
    );
    // The message is the build error's, unchanged.
    let config =
        LengthPrefixedConfig::new(LengthEncoding::big_endian(1).unwrap()).max_frame_length(300);
    assert_eq!(
        "be:1,max=300".parse::<FramingSpec>().unwrap_err().message(),
        config.build().unwrap_err().to_string()
    );
    build_error(
        "be:2,counts-header,max=65536",
        19..28,
        "be:2,counts-header,max=65536\n                   ^^^^^^^^^",
        "maximum frame length 65536 cannot be expressed by a 2-byte big-endian binary length field with offset -2: the largest body it can describe is 65533",
    );
}

#[test]
fn an_option_that_only_makes_another_worse_is_not_blamed() {
    // Without adjust=+5 the maximum is still too large; without max=300 the spec builds.
    build_error(
        "be:1,adjust=+5,max=300",
        15..22,
        "be:1,adjust=+5,max=300\n               ^^^^^^^",
        "maximum frame length 300 cannot be expressed by a 1-byte big-endian binary length field with offset 5: the largest body it can describe is 260",
    );
    // counts-header adds to what adjust=-300 already does alone.
    build_error(
        "be:1,counts-header,adjust=-300",
        19..30,
        "be:1,counts-header,adjust=-300\n                   ^^^^^^^^^^^",
        "a 1-byte big-endian binary length field holds at most 255, but with adjustment -300 it must count 301 header bytes: no frame fits",
    );
}

#[test]
fn an_impossible_strip_points_at_strip() {
    build_error(
        "be:2,strip=3",
        5..12,
        "be:2,strip=3\n     ^^^^^^^",
        "strip of 3 bytes is longer than the 2-byte header",
    );
    // Two errors at once: the message names the strip, and so does the pointer.
    build_error(
        "be:2,before=00,strip=4,max=70000",
        15..22,
        "be:2,before=00,strip=4,max=70000\n               ^^^^^^^",
        "strip of 4 bytes is longer than the 3-byte header",
    );
}

#[test]
fn an_impossible_adjust_points_at_adjust() {
    build_error(
        "be:1,adjust=-256",
        5..16,
        "be:1,adjust=-256\n     ^^^^^^^^^^^",
        "a 1-byte big-endian binary length field holds at most 255, but with adjustment -256 it must count 256 header bytes: no frame fits",
    );
}

#[test]
fn a_netstring_maximum_above_one_buffer_points_at_max() {
    let max = Netstring::MAX + 1;
    let input = format!("netstring,max={max}");
    let pointer = format!("{input}\n          {}", "^".repeat(input.len() - 10));
    build_error(
        &input,
        10..input.len(),
        &pointer,
        &format!(
            "netstring maximum {max} is above the largest buffer, {}",
            Netstring::MAX
        ),
    );
    // Given twice, the last maximum counts, and only it is blamed.
    let input = format!("netstring,max={max},max=5");
    assert!(input.parse::<FramingSpec>().is_ok());
    let input = format!("netstring,max=5,max={max}");
    let err = input.parse::<FramingSpec>().unwrap_err();
    assert_eq!(&input[err.span()], format!("max={max}"));
    assert_eq!(err.span().start, 16);
}

#[test]
fn a_header_too_long_points_at_the_fixed_bytes() {
    let input = format!("be:2,before={}", "00".repeat(70_000));
    let err = input.parse::<FramingSpec>().unwrap_err();
    assert_eq!(err.span(), 5..input.len());
    assert!(
        err.message()
            .starts_with("invalid framing: header of 70002 bytes"),
        "{err}"
    );
    assert!(err
        .pointer()
        .ends_with(&format!("\n     {}", "^".repeat(input.len() - 5))));
}

#[test]
fn a_crlf_delimiter_found_in_its_own_ending_points_at_crlf() {
    build_error(
        "delim:0d,crlf",
        9..13,
        "delim:0d,crlf\n         ^^^^",
        "with crlf, the delimiter [0D] would be found inside its own ending [0D 0D]",
    );
}

#[test]
fn a_framing_argument_that_cannot_build_points_at_the_argument() {
    build_error(
        "fixed:0",
        6..7,
        "fixed:0\n      ^",
        FixedLength::new(0)
            .unwrap_err()
            .to_string()
            .trim_start_matches("invalid framing: "),
    );
    // An empty delimiter: an empty span after the colon, drawn as one caret.
    build_error("delim:", 6..6, "delim:\n      ^", "the delimiter is empty");
    build_error(
        "delim:,keep",
        6..6,
        "delim:,keep\n      ^",
        "the delimiter is empty",
    );
}

#[test]
fn an_error_no_single_option_causes_points_at_the_whole_spec() {
    // Neither before= nor counts-header alone is wrong: together the header outgrows the field.
    let input = format!("be:1,before={},counts-header", "00".repeat(255));
    let err = input.parse::<FramingSpec>().unwrap_err();
    assert_eq!(err.span(), 0..input.len());
    assert!(err.message().ends_with("no frame fits"), "{err}");
    assert_eq!(
        err.pointer(),
        format!("{input}\n{}", "^".repeat(input.len()))
    );
    // counts-from-length and adjust=-255 are each fine alone.
    build_error(
        "be:1,counts-from-length,adjust=-255",
        0..35,
        &format!("be:1,counts-from-length,adjust=-255\n{}", "^".repeat(35)),
        "a 1-byte big-endian binary length field holds at most 255, but with adjustment -255 it must count 256 header bytes: no frame fits",
    );
    // The adjustment overflows only with the header counted.
    let input = "be:8,counts-header,adjust=-9223372036854775808";
    let err = input.parse::<FramingSpec>().unwrap_err();
    assert_eq!(err.span(), 0..input.len());
    assert_eq!(
        err.message(),
        "invalid framing: adjustment -9223372036854775808 is out of range"
    );
}
