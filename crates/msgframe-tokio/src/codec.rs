//! `tokio_util::codec` for every framing.

use std::str::FromStr;

use bytes::{Bytes, BytesMut};
use msgframe_codec::Framing;

use crate::Error;

/// Any msgframe framing as a `tokio_util` [`Decoder`](tokio_util::codec::Decoder) and
/// [`Encoder`](tokio_util::codec::Encoder), for `Framed`, `FramedRead` and `FramedWrite`.
///
/// Decoded items are [`Bytes`] of their own (small ones copied out of the read buffer, so a kept item
/// never pins it; large ones split off without a copy). Anything that is
/// `AsRef<[u8]>` can be sent (`&[u8]`, `Bytes`, `Vec<u8>`, `String`, ...).
/// End-of-stream inside a frame is [`Error::UnexpectedEof`] with the bytes buffered and expected.
///
/// ```
/// use msgframe_codec::LengthPrefixed;
/// use msgframe_codec::header::LengthEncoding;
/// use msgframe_tokio::Codec;
///
/// let from_text: Codec = "be:4,counts-header".parse()?;
/// let built = Codec::new(LengthPrefixed::new(LengthEncoding::ascii_decimal(4)?)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Codec<F = Framing> {
    framing: F,
}

impl<F> Codec<F> {
    /// Wraps a framing.
    pub fn new(framing: F) -> Self {
        Codec { framing }
    }

    /// The framing.
    pub fn framing(&self) -> &F {
        &self.framing
    }

    /// The framing, mutably.
    pub fn framing_mut(&mut self) -> &mut F {
        &mut self.framing
    }

    /// Unwraps the framing.
    pub fn into_inner(self) -> F {
        self.framing
    }
}

impl<F> From<F> for Codec<F> {
    fn from(framing: F) -> Self {
        Codec::new(framing)
    }
}

/// Builds the codec from a [`FramingSpec`](msgframe_codec::FramingSpec) string.
impl FromStr for Codec<Framing> {
    type Err = Error;

    fn from_str(spec: &str) -> Result<Self, Error> {
        spec.parse::<Framing>()
            .map(Codec::new)
            .map_err(Error::Message)
    }
}

impl<F: msgframe_codec::Decoder> tokio_util::codec::Decoder for Codec<F> {
    type Item = Bytes;
    type Error = Error;

    #[inline]
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, Error> {
        self.framing.decode(src).map_err(Error::from_decode)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, Error> {
        self.framing.decode_eof(src).map_err(Error::from_decode)
    }
}

impl<F: msgframe_codec::Encoder, T: AsRef<[u8]>> tokio_util::codec::Encoder<T> for Codec<F> {
    type Error = Error;

    #[inline]
    fn encode(&mut self, item: T, dst: &mut BytesMut) -> Result<(), Error> {
        self.framing
            .encode(item.as_ref(), dst)
            .map_err(Error::from_encode)
    }
}
