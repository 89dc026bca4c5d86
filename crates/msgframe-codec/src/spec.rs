//! `FramingSpec`: a short text form for framings, for configuration files and command lines.
//!
//! A spec is a framing, then options separated by commas: `be:4,counts-header,max=65536`.
//! Spaces are not allowed. Every spec that parses can be built, and printing a spec gives text that
//! parses back to the same spec.
//!
//! | spec                  | framing                                                              |
//! |-----------------------|----------------------------------------------------------------------|
//! | `ascii:N`             | length in N ASCII decimal digits (1..=10), `"0123"`                  |
//! | `hex:N`               | length in N ASCII hex digits (1..=16), `"007B"`                      |
//! | `bcd:N`               | length in N bytes of packed BCD (1..=5), `01 23`                     |
//! | `be:N`                | length as an N-byte big-endian integer (1..=8), `00 7B`              |
//! | `le:N`                | length as an N-byte little-endian integer (1..=8), `7B 00`           |
//! | `eof`                 | the whole stream until end-of-stream is one message                  |
//! | `fixed:N`             | every message is exactly N bytes                                     |
//! | `delim:HEX`           | messages end with the bytes HEX, e.g. `delim:03`, `delim:0d0a`       |
//! | `lines`               | messages end with `\n` (same as `delim:0a`)                          |
//! | `lines:crlf`          | messages end with `\n` or `\r\n`; `\r\n` is written                  |
//! | `netstring`           | netstrings: `5:hello,`                                               |
//!
//! | option (length header)  | meaning                                                   | default      |
//! |-------------------------|-----------------------------------------------------------|--------------|
//! | `lenient`               | (`ascii` only) accept leading spaces in the length        | strict       |
//! | `before=HEX`            | fixed bytes before the length field, e.g. TPKT `before=0300` | none      |
//! | `after=HEX`             | fixed bytes after the length field, e.g. `after=0000`     | none         |
//! | `trailer=HEX`           | fixed bytes after the body, e.g. an ETX `trailer=03`      | none         |
//! | `counts-trailer`        | the length counts the trailer too (BASE24-style)          | not counted  |
//! | `keep-trailer`          | keep the trailer in delivered frames                      | removed      |
//! | `no-verify`             | do not check received `before`/`after`/trailer bytes      | checked      |
//! | `counts-header`         | the length counts the whole header too (CMPP, SMPP, TPKT) | body only    |
//! | `counts-from-length`    | the length counts itself and what follows it              | body only    |
//! | `adjust=±N`             | add N to the length field's value                         | 0            |
//! | `strip=N`               | remove N leading bytes from each frame                    | whole header |
//! | `max=N`                 | largest body (`k`/`m` suffixes: KiB/MiB)                  | 8 MiB or less|
//! | `oversize=discard`      | skip oversized frames instead of failing                  | `fail`       |
//! | `empty=skip`            | skip empty frames (keepalives)                            | `deliver`    |
//! | `empty-form=bare`       | with a trailer: an empty frame is the length 0 alone (BASE24-TCP `00 00`) | `bare` where the length counts the trailer |
//! | `empty-form=framed`     | with a trailer: an empty frame is a length and the trailer (`00 01 03`) | `framed` elsewhere |
//!
//! | option (delimiters)     | meaning                                                   | default      |
//! |-------------------------|-----------------------------------------------------------|--------------|
//! | `crlf`                  | (`delim` only) a `\r` before the delimiter belongs to it  | off          |
//! | `keep`                  | keep the delimiter in delivered frames                    | removed      |
//! | `max=N`                 | longest frame, delimiter not counted                      | 8 MiB        |
//! | `oversize=discard`      | skip oversized frames instead of failing                  | `fail`       |
//! | `eof=deliver`           | deliver bytes left at end-of-stream as a last frame       | `error`      |
//!
//! `eof` and `netstring` take `max=N`; `fixed` takes no option.
//!
//! ```
//! use msgframe_codec::FramingSpec;
//!
//! let spec: FramingSpec = "be:4,counts-header".parse()?;
//! assert_eq!(spec.to_string(), "be:4,counts-header");
//!
//! let err = "be:2,adjust=x".parse::<FramingSpec>().unwrap_err();
//! assert_eq!(err.span(), 12..13);
//! assert_eq!(err.pointer(), "be:2,adjust=x\n            ^");
//! assert_eq!(
//!     err.to_string(),
//!     "invalid framing spec `be:2,adjust=x` at `x` (bytes 12..13): expected a signed integer such as -2 or +5"
//! );
//! # Ok::<(), msgframe_codec::SpecError>(())
//! ```

use core::fmt;
use core::ops::Range;
use core::str::FromStr;

use bytes::Bytes;
use msgframe_header::hex::{self, HexError};
use msgframe_header::{ByteOrder, LengthEncoding, LengthField};

use crate::Netstring;

use crate::{
    CodecError, Delimited, DelimitedConfig, EmptyForm, EmptyFrames, FixedLength, Framing,
    LengthCounts, LengthPrefixed, LengthPrefixedConfig, Oversize, UnterminatedAtEof, UntilEof,
    DEFAULT_MAX_FRAME_LENGTH,
};

/// A framing described as data: what a spec string says. [`build`](FramingSpec::build) turns it into
/// a [`Framing`]; `parse` and `to_string` convert to and from text (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FramingSpec {
    /// A length header, then the body.
    LengthPrefixed(LengthPrefixedConfig),
    /// The whole stream until end-of-stream is one message.
    UntilEof {
        /// Largest message (8 MiB unless given).
        max: usize,
    },
    /// Every message is exactly `len` bytes.
    FixedLength {
        /// The message length.
        len: usize,
    },
    /// Messages end with a delimiter.
    Delimited(DelimitedConfig),
    /// Netstrings: `length ':' data ','`.
    Netstring {
        /// Largest message (8 MiB unless given).
        max: usize,
    },
}

impl FramingSpec {
    /// Builds the framing.
    ///
    /// # Errors
    /// [`CodecError::InvalidConfig`] when the options contradict each other.
    pub fn build(&self) -> Result<Framing, CodecError> {
        Ok(match self {
            FramingSpec::LengthPrefixed(c) => Framing::LengthPrefixed(c.clone().build()?),
            FramingSpec::UntilEof { max } => Framing::UntilEof(UntilEof::new(*max)),
            FramingSpec::FixedLength { len } => Framing::FixedLength(FixedLength::new(*len)?),
            FramingSpec::Delimited(c) => Framing::Delimited(c.clone().build()?),
            FramingSpec::Netstring { max } if *max > Netstring::MAX => {
                return Err(CodecError::InvalidConfig(format!(
                    "netstring maximum {max} is above the largest buffer, {}",
                    Netstring::MAX
                )))
            }
            FramingSpec::Netstring { max } => Framing::Netstring(Netstring::new(*max)),
        })
    }
}

/// A spec string that could not be parsed or built: what was wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid framing spec `{input}` at `{}` (bytes {}..{}): {message}", &.input[.span.clone()], .span.start, .span.end)]
pub struct SpecError {
    input: String,
    span: Range<usize>,
    message: String,
}

impl SpecError {
    fn new(input: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        SpecError {
            input: input.to_owned(),
            span,
            message: message.into(),
        }
    }

    /// The byte range of the offending part of the input. A spec that parses but does not build
    /// (its options contradict each other or the framing) points at the option to blame, or at the
    /// whole input when no single option is.
    pub fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// What was wrong.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The input, and under it carets marking the offending part.
    pub fn pointer(&self) -> String {
        let width = self.input[self.span.clone()].chars().count().max(1);
        let lead = self.input[..self.span.start].chars().count();
        format!("{}\n{}{}", self.input, " ".repeat(lead), "^".repeat(width))
    }
}

/// A piece of the input with its position.
#[derive(Clone, Copy)]
struct Part<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Part<'a> {
    fn span(&self) -> Range<usize> {
        self.at..self.at + self.text.len()
    }

    /// Splits `key:value` or `key=value` at the first `sep`.
    fn split(&self, sep: char) -> (Part<'a>, Option<Part<'a>>) {
        match self.text.find(sep) {
            Some(i) => (
                Part {
                    text: &self.text[..i],
                    at: self.at,
                },
                Some(Part {
                    text: &self.text[i + 1..],
                    at: self.at + i + 1,
                }),
            ),
            None => (*self, None),
        }
    }
}

struct Parser<'a> {
    input: &'a str,
}

impl<'a> Parser<'a> {
    fn err(&self, part: Part<'_>, message: impl Into<String>) -> SpecError {
        SpecError::new(self.input, part.span(), message)
    }

    fn need<'p>(
        &self,
        whole: Part<'p>,
        value: Option<Part<'p>>,
        what: &str,
    ) -> Result<Part<'p>, SpecError> {
        value.ok_or_else(|| self.err(whole, format!("`{}` needs {what}", whole.text)))
    }

    fn no_value(&self, key: Part<'_>, value: Option<Part<'_>>) -> Result<(), SpecError> {
        match value {
            Some(v) => Err(self.err(v, format!("`{}` takes no value", key.text))),
            None => Ok(()),
        }
    }

    fn usize(&self, part: Part<'_>) -> Result<usize, SpecError> {
        let (digits, unit) = match part.text.as_bytes().last() {
            Some(b'k' | b'K') => (&part.text[..part.text.len() - 1], 1024),
            Some(b'm' | b'M') => (&part.text[..part.text.len() - 1], 1024 * 1024),
            _ => (part.text, 1),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.err(part, "expected a number such as 128, 64k or 8m"));
        }
        digits
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_mul(unit))
            .ok_or_else(|| self.err(part, "number too large"))
    }

    fn i64(&self, part: Part<'_>) -> Result<i64, SpecError> {
        let digits = part.text.strip_prefix(['+', '-']).unwrap_or(part.text);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.err(part, "expected a signed integer such as -2 or +5"));
        }
        part.text
            .trim_start_matches('+')
            .parse::<i64>()
            .map_err(|_| self.err(part, "number out of range"))
    }

    fn hex(&self, part: Part<'_>) -> Result<Bytes, SpecError> {
        match hex::parse(part.text) {
            Ok(bytes) => Ok(bytes.into()),
            Err(HexError::InvalidDigit { offset, found }) => {
                let bad = Part {
                    text: &part.text[offset..offset + found.len_utf8()],
                    at: part.at + offset,
                };
                Err(self.err(bad, "not a hex digit"))
            }
            Err(_) => Err(self.err(
                part,
                "expected hex bytes (an even number of hex digits, e.g. 0300)",
            )),
        }
    }

    fn policy<T: Copy>(&self, part: Part<'_>, choices: &[(&str, T)]) -> Result<T, SpecError> {
        choices
            .iter()
            .find(|(name, _)| *name == part.text)
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                let names: Vec<_> = choices.iter().map(|(n, _)| *n).collect();
                self.err(part, format!("expected {}", names.join(" or ")))
            })
    }

    fn parse(&self) -> Result<FramingSpec, SpecError> {
        let mut parts = Vec::new();
        let mut at = 0;
        for text in self.input.split(',') {
            parts.push(Part { text, at });
            at += text.len() + 1;
        }
        let (kind, arg) = parts[0].split(':');
        let options = &parts[1..];
        if let Some(p) = options.iter().find(|p| p.text.is_empty()) {
            return Err(self.err(
                *p,
                "empty option (two commas in a row, or a trailing comma)",
            ));
        }
        let spec = self.spec(kind, arg, options)?;
        if let Err(e) = spec.build() {
            let span = self.blame(kind, arg, options, &e);
            return Err(SpecError::new(self.input, span, e.to_string()));
        }
        Ok(spec)
    }

    /// The spec that the framing `kind`, its argument and `options` describe, not yet built.
    fn spec(
        &self,
        kind: Part<'_>,
        arg: Option<Part<'_>>,
        options: &[Part<'_>],
    ) -> Result<FramingSpec, SpecError> {
        Ok(match kind.text {
            "ascii" | "hex" | "bcd" | "be" | "le" => {
                let n = self.usize(self.need(kind, arg, "a width, e.g. `be:2`")?)?;
                let encoding = match kind.text {
                    "ascii" => LengthEncoding::ascii_decimal(n),
                    "hex" => LengthEncoding::ascii_hex(n),
                    "bcd" => LengthEncoding::packed_bcd(n),
                    "be" => LengthEncoding::big_endian(n),
                    _ => LengthEncoding::little_endian(n),
                }
                .map_err(|e| self.err(arg.unwrap_or(kind), e.to_string()))?;
                self.length_prefixed(encoding, options)?
            }
            "eof" | "netstring" => {
                self.no_value(kind, arg)?;
                let mut max = DEFAULT_MAX_FRAME_LENGTH;
                for opt in options {
                    let (key, value) = opt.split('=');
                    match key.text {
                        "max" => {
                            max = self.usize(self.need(key, value, "a number, e.g. `max=65536`")?)?
                        }
                        _ => {
                            return Err(self.err(
                                *opt,
                                format!("unknown option for `{}`; expected max=N", kind.text),
                            ))
                        }
                    }
                }
                if kind.text == "eof" {
                    FramingSpec::UntilEof { max }
                } else {
                    FramingSpec::Netstring { max }
                }
            }
            "fixed" => {
                let len = self.usize(self.need(kind, arg, "a length, e.g. `fixed:128`")?)?;
                if let Some(opt) = options.first() {
                    return Err(self.err(*opt, "`fixed` takes no option"));
                }
                FramingSpec::FixedLength { len }
            }
            "delim" | "lines" => {
                let config = if kind.text == "delim" {
                    let hex = self.need(kind, arg, "hex bytes, e.g. `delim:03`")?;
                    DelimitedConfig::new(self.hex(hex)?)
                } else {
                    let mut c = DelimitedConfig::new(&b"\n"[..]);
                    if let Some(a) = arg {
                        if a.text != "crlf" {
                            return Err(self.err(a, "expected `lines` or `lines:crlf`"));
                        }
                        c.crlf = true;
                    }
                    c
                };
                self.delimited(kind, config, options)?
            }
            _ => {
                return Err(self.err(
                    kind,
                    "unknown framing; expected ascii:N, hex:N, bcd:N, be:N, le:N, eof, fixed:N, delim:HEX, lines or netstring",
                ))
            }
        })
    }

    /// Where to point for `error`, which building the spec of `kind`, `arg` and `options` gave.
    ///
    /// Each option is tried away. The option to blame is the one without which this error goes
    /// away: the spec builds, or fails for another reason (messages compared with their numbers
    /// left out, so that `be:2,before=00,strip=4` blames `strip=4`: without `before=00` the strip is
    /// still too long, only the numbers change). When several options are, the one without which
    /// the spec builds (`be:1,adjust=+5,max=300`: `max=300`); when that does not single one out
    /// either, the one without which the error changes at all. Failing that, the framing's argument
    /// when the framing without options fails the same way (`fixed:0`, `delim:`), and otherwise
    /// the whole spec (`be:1,counts-from-length,adjust=-255`: each option is fine alone).
    fn blame(
        &self,
        kind: Part<'_>,
        arg: Option<Part<'_>>,
        options: &[Part<'_>],
        error: &CodecError,
    ) -> Range<usize> {
        // `Some(None)` when the options build; subsets of options that parsed always parse.
        let outcome = |options: &[Part<'_>]| {
            self.spec(kind, arg, options)
                .ok()
                .map(|spec| spec.build().err())
        };
        let message = error.to_string();
        let (mut gone, mut builds, mut changed) = (Vec::new(), Vec::new(), Vec::new());
        // An option given again later (only `max=` of `eof` and `netstring` may be) is overridden:
        // only the last of each key is tried, which keeps this linear in the number of options.
        let mut later: Vec<&str> = Vec::new();
        for (i, opt) in options.iter().enumerate().rev() {
            let key = opt.split('=').0.text;
            if later.contains(&key) {
                continue;
            }
            later.push(key);
            let without: Vec<Part<'_>> = options
                .iter()
                .enumerate()
                .filter_map(|(j, p)| (j != i).then_some(*p))
                .collect();
            match outcome(&without) {
                Some(None) => {
                    gone.push(*opt);
                    builds.push(*opt);
                    changed.push(*opt);
                }
                Some(Some(e)) => {
                    let other = e.to_string();
                    if other != message {
                        changed.push(*opt);
                        if without_numbers(&other) != without_numbers(&message) {
                            gone.push(*opt);
                        }
                    }
                }
                None => {}
            }
        }
        if let ([one], _, _) | (_, [one], _) | (_, _, [one]) =
            (&gone[..], &builds[..], &changed[..])
        {
            return one.span();
        }
        match arg {
            Some(arg) if outcome(&[]).flatten().as_ref() == Some(error) => arg.span(),
            _ => 0..self.input.len(),
        }
    }

    fn length_prefixed(
        &self,
        encoding: LengthEncoding,
        options: &[Part<'_>],
    ) -> Result<FramingSpec, SpecError> {
        let mut c = LengthPrefixedConfig::new(encoding);
        let mut seen: Vec<&str> = Vec::new();
        for opt in options {
            let (key, value) = opt.split('=');
            let group = if key.text == "counts-header" || key.text == "counts-from-length" {
                "counts-"
            } else {
                key.text
            };
            if seen.contains(&group) {
                return Err(self.err(*opt, "option given twice"));
            }
            seen.push(group);
            match key.text {
                "lenient" => {
                    self.no_value(key, value)?;
                    match c.encoding {
                        LengthEncoding::AsciiDecimal(a) => c.encoding = a.lenient().into(),
                        _ => return Err(self.err(key, "`lenient` applies to `ascii` only")),
                    }
                }
                "before" => c.before = self.hex(self.need(key, value, "hex bytes, e.g. `before=0300`")?)?,
                "after" => c.after = self.hex(self.need(key, value, "hex bytes, e.g. `after=0000`")?)?,
                "trailer" => c.trailer = self.hex(self.need(key, value, "hex bytes, e.g. `trailer=03`")?)?,
                "counts-trailer" => {
                    self.no_value(key, value)?;
                    c.counts_trailer = true;
                }
                "keep-trailer" => {
                    self.no_value(key, value)?;
                    c.keep_trailer = true;
                }
                "no-verify" => {
                    self.no_value(key, value)?;
                    c.verify_fixed = false;
                }
                "counts-header" => {
                    self.no_value(key, value)?;
                    c.counts = LengthCounts::WholeFrame;
                }
                "counts-from-length" => {
                    self.no_value(key, value)?;
                    c.counts = LengthCounts::FromLengthField;
                }
                "adjust" => c.adjustment = self.i64(self.need(key, value, "a number, e.g. `adjust=-2`")?)?,
                "strip" => c.strip = Some(self.usize(self.need(key, value, "a number, e.g. `strip=0`")?)?),
                "max" => c.max_frame_length = Some(self.usize(self.need(key, value, "a number, e.g. `max=65536`")?)?),
                "oversize" => {
                    let v = self.need(key, value, "`fail` or `discard`")?;
                    c.oversize = self.policy(v, &[("fail", Oversize::Fail), ("discard", Oversize::Discard)])?;
                }
                "empty" => {
                    let v = self.need(key, value, "`deliver` or `skip`")?;
                    c.empty = self.policy(v, &[("deliver", EmptyFrames::Deliver), ("skip", EmptyFrames::Skip)])?;
                }
                "empty-form" => {
                    let v = self.need(key, value, "`bare` or `framed`")?;
                    c.empty_form = Some(self.policy(v, &[("bare", EmptyForm::Bare), ("framed", EmptyForm::Framed)])?);
                }
                _ => {
                    return Err(self.err(
                        key,
                        "unknown option for a length header; expected lenient, before=, after=, trailer=, no-verify, counts-header, counts-from-length, counts-trailer, keep-trailer, adjust=, strip=, max=, oversize=, empty= or empty-form=",
                    ))
                }
            }
        }
        Ok(FramingSpec::LengthPrefixed(c))
    }

    fn delimited(
        &self,
        kind: Part<'_>,
        mut c: DelimitedConfig,
        options: &[Part<'_>],
    ) -> Result<FramingSpec, SpecError> {
        let mut seen: Vec<&str> = Vec::new();
        for opt in options {
            let (key, value) = opt.split('=');
            if seen.contains(&key.text) {
                return Err(self.err(*opt, "option given twice"));
            }
            seen.push(key.text);
            match key.text {
                "crlf" if kind.text == "delim" => {
                    self.no_value(key, value)?;
                    c.crlf = true;
                }
                "keep" => {
                    self.no_value(key, value)?;
                    c.keep_delimiter = true;
                }
                "max" => {
                    c.max_frame_length =
                        Some(self.usize(self.need(key, value, "a number, e.g. `max=4096`")?)?)
                }
                "oversize" => {
                    let v = self.need(key, value, "`fail` or `discard`")?;
                    c.oversize = self.policy(
                        v,
                        &[("fail", Oversize::Fail), ("discard", Oversize::Discard)],
                    )?;
                }
                "eof" => {
                    let v = self.need(key, value, "`error` or `deliver`")?;
                    c.at_eof = self.policy(
                        v,
                        &[
                            ("error", UnterminatedAtEof::Error),
                            ("deliver", UnterminatedAtEof::Deliver),
                        ],
                    )?;
                }
                _ => {
                    return Err(self.err(
                        key,
                        format!(
                            "unknown option for `{}`; expected {}keep, max=, oversize= or eof=",
                            kind.text,
                            if kind.text == "delim" { "crlf, " } else { "" }
                        ),
                    ))
                }
            }
        }
        Ok(FramingSpec::Delimited(c))
    }
}

/// `text` with every run of digits replaced by `#`: what an error message says, whatever the
/// numbers.
fn without_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('#') {
            out.push('#');
        }
    }
    out
}

impl FromStr for FramingSpec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, SpecError> {
        Parser { input: s }.parse()
    }
}

impl fmt::Display for FramingSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FramingSpec::LengthPrefixed(c) => {
                let width = c.encoding.width();
                match c.encoding {
                    LengthEncoding::AsciiDecimal(a) => {
                        write!(f, "ascii:{width}")?;
                        if a.is_lenient() {
                            f.write_str(",lenient")?;
                        }
                    }
                    LengthEncoding::AsciiHex(_) => write!(f, "hex:{width}")?,
                    LengthEncoding::PackedBcd(_) => write!(f, "bcd:{width}")?,
                    LengthEncoding::Binary(b) => match b.order() {
                        ByteOrder::BigEndian => write!(f, "be:{width}")?,
                        ByteOrder::LittleEndian => write!(f, "le:{width}")?,
                    },
                }
                if !c.before.is_empty() {
                    write!(f, ",before={}", hex::display(&c.before))?;
                }
                if !c.after.is_empty() {
                    write!(f, ",after={}", hex::display(&c.after))?;
                }
                if !c.trailer.is_empty() {
                    write!(f, ",trailer={}", hex::display(&c.trailer))?;
                }
                if !c.verify_fixed {
                    f.write_str(",no-verify")?;
                }
                match c.counts {
                    LengthCounts::Body => {}
                    LengthCounts::FromLengthField => f.write_str(",counts-from-length")?,
                    LengthCounts::WholeFrame => f.write_str(",counts-header")?,
                }
                if c.counts_trailer {
                    f.write_str(",counts-trailer")?;
                }
                if c.keep_trailer {
                    f.write_str(",keep-trailer")?;
                }
                if c.adjustment != 0 {
                    write!(f, ",adjust={:+}", c.adjustment)?;
                }
                if let Some(strip) = c.strip {
                    write!(f, ",strip={strip}")?;
                }
                if let Some(max) = c.max_frame_length {
                    write!(f, ",max={max}")?;
                }
                if c.oversize == Oversize::Discard {
                    f.write_str(",oversize=discard")?;
                }
                if c.empty == EmptyFrames::Skip {
                    f.write_str(",empty=skip")?;
                }
                match c.empty_form {
                    Some(EmptyForm::Bare) => f.write_str(",empty-form=bare")?,
                    Some(EmptyForm::Framed) => f.write_str(",empty-form=framed")?,
                    None => {}
                }
                Ok(())
            }
            FramingSpec::UntilEof { max } => {
                f.write_str("eof")?;
                if *max != DEFAULT_MAX_FRAME_LENGTH {
                    write!(f, ",max={max}")?;
                }
                Ok(())
            }
            FramingSpec::FixedLength { len } => write!(f, "fixed:{len}"),
            FramingSpec::Netstring { max } => {
                f.write_str("netstring")?;
                if *max != DEFAULT_MAX_FRAME_LENGTH {
                    write!(f, ",max={max}")?;
                }
                Ok(())
            }
            FramingSpec::Delimited(c) => {
                if c.is_lines() {
                    f.write_str(if c.crlf { "lines:crlf" } else { "lines" })?;
                } else {
                    write!(f, "delim:{}", hex::display(&c.delimiter))?;
                    if c.crlf {
                        f.write_str(",crlf")?;
                    }
                }
                if c.keep_delimiter {
                    f.write_str(",keep")?;
                }
                if let Some(max) = c.max_frame_length {
                    write!(f, ",max={max}")?;
                }
                if c.oversize == Oversize::Discard {
                    f.write_str(",oversize=discard")?;
                }
                if c.at_eof == UnterminatedAtEof::Deliver {
                    f.write_str(",eof=deliver")?;
                }
                Ok(())
            }
        }
    }
}

impl From<&LengthPrefixed> for FramingSpec {
    fn from(f: &LengthPrefixed) -> Self {
        FramingSpec::LengthPrefixed(f.config().clone())
    }
}

impl From<&Delimited> for FramingSpec {
    fn from(f: &Delimited) -> Self {
        FramingSpec::Delimited(f.config().clone())
    }
}
