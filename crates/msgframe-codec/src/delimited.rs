//! Delimiter framing (any byte sequence) and line framing.

use bytes::{Bytes, BytesMut};
use memchr::memmem;

use crate::error::Hex;
use crate::{
    CodecError, Decoded, Decoder, Encoder, Oversize, Parse, Status, DEFAULT_MAX_FRAME_LENGTH,
};

/// What to do with bytes left without a delimiter when the stream ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum UnterminatedAtEof {
    /// Return [`CodecError::UnexpectedEof`]. The default.
    #[default]
    Error,
    /// Deliver them as a last frame.
    Deliver,
}

/// The options of a [`Delimited`] framing; [`build`](DelimitedConfig::build) checks them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DelimitedConfig {
    /// The byte sequence that ends each frame (at least one byte).
    pub delimiter: Bytes,
    /// Whether a `\r` right before the delimiter belongs to it: removed with it when decoding,
    /// written before it when encoding. Lines with `\r\n` endings; see [`Delimited::crlf_lines`].
    pub crlf: bool,
    /// Whether delivered frames keep their delimiter (default: removed).
    pub keep_delimiter: bool,
    /// The longest frame accepted and sent, delimiter not counted; `None` is 8 MiB.
    pub max_frame_length: Option<usize>,
    /// What to do with an oversized frame.
    pub oversize: Oversize,
    /// What to do with bytes left at end-of-stream.
    pub at_eof: UnterminatedAtEof,
}

impl DelimitedConfig {
    /// Options for frames ending in `delimiter`, every other option at its default.
    pub fn new(delimiter: impl Into<Bytes>) -> Self {
        DelimitedConfig {
            delimiter: delimiter.into(),
            crlf: false,
            keep_delimiter: false,
            max_frame_length: None,
            oversize: Oversize::Fail,
            at_eof: UnterminatedAtEof::Error,
        }
    }

    /// Whether a `\r` before the delimiter belongs to it.
    pub fn crlf(mut self, crlf: bool) -> Self {
        self.crlf = crlf;
        self
    }

    /// Whether delivered frames keep their delimiter.
    pub fn keep_delimiter(mut self, keep: bool) -> Self {
        self.keep_delimiter = keep;
        self
    }

    /// The longest frame accepted and sent, delimiter not counted.
    pub fn max_frame_length(mut self, max: usize) -> Self {
        self.max_frame_length = Some(max);
        self
    }

    /// What to do with an oversized frame.
    pub fn oversize(mut self, policy: Oversize) -> Self {
        self.oversize = policy;
        self
    }

    /// What to do with bytes left at end-of-stream.
    pub fn at_eof(mut self, policy: UnterminatedAtEof) -> Self {
        self.at_eof = policy;
        self
    }

    /// Whether these options are line framing (`\n` delimiter).
    pub fn is_lines(&self) -> bool {
        &self.delimiter[..] == b"\n"
    }

    /// Checks the options and builds the framing.
    ///
    /// # Errors
    /// [`CodecError::InvalidConfig`] when the delimiter is empty.
    pub fn build(self) -> Result<Delimited, CodecError> {
        if self.delimiter.is_empty() {
            return Err(CodecError::InvalidConfig("the delimiter is empty".into()));
        }
        let max = self.max_frame_length.unwrap_or(DEFAULT_MAX_FRAME_LENGTH);
        let finder = Box::new(memmem::Finder::new(&self.delimiter[..]).into_owned());
        let tail = if self.crlf {
            Bytes::from([&b"\r"[..], &self.delimiter].concat())
        } else {
            self.delimiter.clone()
        };
        if finder.find(&tail) != Some(tail.len() - self.delimiter.len()) {
            return Err(CodecError::InvalidConfig(format!(
                "with crlf, the delimiter [{}] would be found inside its own ending [{}]",
                Hex::of(&self.delimiter),
                Hex::of(&tail)
            )));
        }
        Ok(Delimited {
            tail,
            max,
            finder,
            config: self,
            scanned: 0,
            discarding: false,
            discard_from: 0,
            consumed: 0,
            poisoned: None,
        })
    }
}

/// Frames that end with a delimiter: any byte sequence (ETX `0x03`, `\r\n`, `"END"`), or lines.
///
/// ```text
///  | frame | delimiter | frame | delimiter | ...
/// ```
///
/// The decoder remembers how far it has searched, so a long frame arriving in many reads is scanned
/// once. The maximum (default 8 MiB) bounds the buffered bytes while no delimiter has arrived: past it
/// the frame is oversized ([`Oversize::Fail`] poisons, [`Oversize::Discard`] reports it once and
/// skips to the next delimiter). Encoding a message that contains the delimiter is an error, since it
/// would arrive as two frames.
///
/// ```
/// use bytes::BytesMut;
/// use msgframe_codec::{Decoder, Delimited, Encoder};
///
/// let mut etx = Delimited::new(&[0x03][..])?;
/// let mut wire = BytesMut::new();
/// etx.encode(b"first", &mut wire)?;
/// etx.encode(b"second", &mut wire)?;
/// assert_eq!(&wire[..], b"first\x03second\x03");
/// assert_eq!(etx.decode(&mut wire)?.as_deref(), Some(&b"first"[..]));
/// assert_eq!(etx.decode(&mut wire)?.as_deref(), Some(&b"second"[..]));
///
/// let mut lines = Delimited::crlf_lines()?;
/// let mut buf = BytesMut::from(&b"HELO a\r\nQUIT\n"[..]);
/// assert_eq!(lines.decode(&mut buf)?.as_deref(), Some(&b"HELO a"[..]));
/// assert_eq!(lines.decode(&mut buf)?.as_deref(), Some(&b"QUIT"[..]));
/// # Ok::<(), msgframe_codec::CodecError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Delimited {
    config: DelimitedConfig,
    max: usize,
    finder: Box<memmem::Finder<'static>>,
    /// What encoding writes after each body: the delimiter, with `\r` before it under `crlf`.
    tail: Bytes,
    /// How many buffered bytes are known to hold no delimiter start.
    scanned: usize,
    discarding: bool,
    /// The stream offset of the frame being discarded.
    discard_from: u64,
    consumed: u64,
    poisoned: Option<u64>,
}

impl Delimited {
    /// Options for frames ending in `delimiter`, to be finished with
    /// [`build`](DelimitedConfig::build).
    pub fn builder(delimiter: impl Into<Bytes>) -> DelimitedConfig {
        DelimitedConfig::new(delimiter)
    }

    /// Frames ending in `delimiter`, which is removed; every other option at its default.
    pub fn new(delimiter: impl Into<Bytes>) -> Result<Self, CodecError> {
        DelimitedConfig::new(delimiter).build()
    }

    /// Lines ending in `\n`, which is removed; a `\r` before it stays part of the line.
    pub fn lines() -> Result<Self, CodecError> {
        DelimitedConfig::new(&b"\n"[..]).build()
    }

    /// Lines ending in `\n` or `\r\n`, which are removed; encoding writes `\r\n`.
    pub fn crlf_lines() -> Result<Self, CodecError> {
        DelimitedConfig::new(&b"\n"[..]).crlf(true).build()
    }

    /// The options this framing was built from.
    pub fn config(&self) -> &DelimitedConfig {
        &self.config
    }

    /// The longest frame accepted and sent, delimiter not counted.
    pub fn max_frame_length(&self) -> usize {
        self.max
    }

    #[cold]
    fn too_long(&mut self, length: usize, exact: bool) -> CodecError {
        let discarding = self.config.oversize == Oversize::Discard;
        let err = CodecError::FrameTooLong {
            offset: self.consumed,
            length: length as u64,
            exact,
            max: self.max as u64,
            discarding,
        };
        if discarding {
            self.discarding = true;
            self.discard_from = self.consumed;
            self.scanned = 0;
        } else {
            self.poisoned = Some(self.consumed);
        }
        err
    }
}

/// Where the first frame of a buffer ends, as [`Delimited::locate`] finds it.
enum Located {
    /// A frame: its body is `buf[..body]`, and it spans `buf[..end]` with its delimiter.
    Frame { body: usize, end: usize },
    /// No delimiter yet; bytes before `scanned` cannot start one.
    Partial { scanned: usize },
    /// The frame is longer than the maximum: `length` bytes (a lower bound unless `exact`, when
    /// its delimiter has arrived).
    TooLong { length: usize, exact: bool },
}

impl Delimited {
    /// Finds the end of the first frame of `buf`, searching from `from` (the bytes before it are
    /// known to hold no delimiter start). The one place that decides where a delimited frame ends,
    /// for the owned and the borrowed decoders alike.
    #[inline]
    fn locate(&self, buf: &[u8], from: usize) -> Located {
        let dlen = self.config.delimiter.len();
        let Some(found) = self.finder.find(&buf[from..]).map(|i| i + from) else {
            // A delimiter could still start in the last dlen - 1 bytes, and under crlf the byte
            // before it may be a `\r` that is not part of the body.
            let slack = dlen - 1 + usize::from(self.config.crlf);
            if buf.len() > self.max.saturating_add(slack) {
                return Located::TooLong {
                    length: buf.len() - slack,
                    exact: false,
                };
            }
            return Located::Partial {
                scanned: buf.len().saturating_sub(dlen - 1),
            };
        };
        let body = if self.config.crlf && found > 0 && buf[found - 1] == b'\r' {
            found - 1
        } else {
            found
        };
        let end = found + dlen;
        if body > self.max {
            return Located::TooLong {
                length: body,
                exact: true,
            };
        }
        Located::Frame { body, end }
    }

    /// Counts `n` bytes skipped while discarding.
    fn skipped(&mut self, n: usize) {
        self.consumed += n as u64;
        self.scanned = 0;
    }
}

impl Decoder for Delimited {
    fn stream_offset(&self) -> u64 {
        self.consumed
    }

    fn continue_at(&mut self, offset: u64) {
        self.consumed = offset;
    }

    fn decode_slice(&mut self, buf: &[u8]) -> Result<Decoded, CodecError> {
        if let Some(offset) = self.poisoned {
            return Err(CodecError::Poisoned { offset });
        }
        // The buffer may have been changed outside the decoder: never index past its end.
        let from = self.scanned.min(buf.len());
        if self.discarding {
            // Skipping an oversized frame: only its end matters.
            return Ok(match self.finder.find(&buf[from..]) {
                Some(i) => {
                    let n = from + i + self.config.delimiter.len();
                    self.skipped(n);
                    self.discarding = false;
                    Decoded::Skip { consumed: n }
                }
                None => {
                    // Everything that cannot be the start of a delimiter goes.
                    let keep = (self.config.delimiter.len() - 1).min(buf.len());
                    let n = buf.len() - keep;
                    self.skipped(n);
                    Decoded::Partial { consumed: n }
                }
            });
        }
        match self.locate(buf, from) {
            Located::Frame { body, end } => {
                self.scanned = 0;
                self.consumed += end as u64;
                Ok(Decoded::Frame {
                    start: 0,
                    end: if self.config.keep_delimiter {
                        end
                    } else {
                        body
                    },
                    consumed: end,
                })
            }
            Located::Partial { scanned } => {
                self.scanned = scanned;
                Ok(Decoded::Partial { consumed: 0 })
            }
            // Under the discard policy its bytes are skipped from the next call on.
            Located::TooLong { length, exact } => Err(self.too_long(length, exact)),
        }
    }

    fn decode_slice_eof(&mut self, buf: &[u8]) -> Result<Decoded, CodecError> {
        if let Some(found) = crate::before_eof(self.decode_slice(buf)?) {
            return Ok(found);
        }
        if self.discarding {
            // The stream ended inside the oversized frame (already reported as too long).
            return Err(CodecError::UnexpectedEof {
                offset: self.discard_from,
                buffered: usize::try_from(self.consumed - self.discard_from)
                    .unwrap_or(usize::MAX)
                    .saturating_add(buf.len()),
                expected: None,
            });
        }
        if buf.is_empty() {
            return Ok(Decoded::Partial { consumed: 0 });
        }
        match self.config.at_eof {
            UnterminatedAtEof::Error => Err(CodecError::UnexpectedEof {
                offset: self.consumed,
                buffered: buf.len(),
                expected: None,
            }),
            UnterminatedAtEof::Deliver if buf.len() > self.max => {
                self.poisoned = Some(self.consumed);
                Err(CodecError::FrameTooLong {
                    offset: self.consumed,
                    length: buf.len() as u64,
                    exact: true,
                    max: self.max as u64,
                    discarding: false,
                })
            }
            UnterminatedAtEof::Deliver => {
                self.consumed += buf.len() as u64;
                self.scanned = 0;
                Ok(Decoded::Frame {
                    start: 0,
                    end: buf.len(),
                    consumed: buf.len(),
                })
            }
        }
    }

    fn bytes_wanted(&self, _buffered: usize) -> Option<usize> {
        None
    }

    fn is_between_frames(&self) -> bool {
        !self.discarding
    }
}

impl Parse for Delimited {
    fn parse<'a>(&self, buf: &'a [u8], offset: u64) -> Result<Status<'a>, CodecError> {
        match self.locate(buf, 0) {
            Located::Frame { body, end } => Ok(Status::Frame {
                frame: &buf[..if self.config.keep_delimiter {
                    end
                } else {
                    body
                }],
                len: end,
            }),
            Located::Partial { .. } => Ok(Status::Partial { needed: None }),
            Located::TooLong { length, exact } => Err(CodecError::FrameTooLong {
                offset,
                length: length as u64,
                exact,
                max: self.max as u64,
                discarding: false,
            }),
        }
    }
}

impl Encoder for Delimited {
    fn encode_head(&self, body: &[u8], _dst: &mut BytesMut) -> Result<(), CodecError> {
        if body.len() > self.max {
            return Err(CodecError::MessageTooLong {
                length: body.len(),
                max: self.max,
            });
        }
        if let Some(i) = self.finder.find(body) {
            return Err(self.contains(i));
        }
        // The body's last bytes must not join the tail's first bytes into a delimiter that would end
        // the frame early ("xa" + "aa" with delimiter "aa").
        let delimiter = &self.config.delimiter[..];
        for m in 1..delimiter.len().min(body.len() + 1) {
            let p = body.len() - m;
            if body[p..] == delimiter[..m] && self.tail[..delimiter.len() - m] == delimiter[m..] {
                return Err(self.contains(p));
            }
        }
        Ok(())
    }

    fn tail(&self) -> &[u8] {
        &self.tail
    }
}

impl Delimited {
    fn contains(&self, offset: usize) -> CodecError {
        CodecError::ContainsDelimiter {
            offset,
            delimiter: Hex::of(&self.config.delimiter),
        }
    }
}
