//! Short connections, async: connect, send one request, read one reply, close.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use msgframe_codec::Framing;
use msgframe_io::ShortRequest;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::ToSocketAddrs;
use tokio::time::Instant;

use crate::{Error, MessageReader, MessageWriter};

/// Sends one request on a new connection and reads one reply, as configured by a
/// [`ShortRequest`] (the same options the blocking [`ShortRequest::send`] uses): connect within its
/// connect timeout (each resolved address in turn, see [`connect_addrs`](crate::connect_addrs)),
/// then [`exchange`] within its timeout: write the request, shut down the write half when the
/// request is framed until end-of-stream, read the reply by its framing (or until end-of-stream),
/// close.
///
/// ```no_run
/// use std::time::Duration;
/// use msgframe_io::ShortRequest;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let options = ShortRequest::new("bcd:2".parse()?).timeout(Duration::from_secs(10));
/// let reply = msgframe_tokio::request(&options, "127.0.0.1:9000", b"0200...").await?;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// The resolver's error; [`Error::Io`] with a [`ConnectError`](crate::ConnectError) naming the
/// last address tried and its error; or as [`exchange`].
pub async fn request(
    options: &ShortRequest,
    addr: impl ToSocketAddrs,
    body: &[u8],
) -> Result<Bytes, Error> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(addr).await?.collect();
    let stream = crate::connect_addrs(&addrs, options.connect_timeout, None).await?;
    let deadline = deadline_after(options.timeout);
    exchange(stream, &options.request, &options.reply, body, deadline).await
}

/// One short exchange on a connected stream (plain TCP, TLS, anything that reads and writes),
/// all before `deadline`: write `body` framed by `request`, shut the write half down when the
/// request is framed until end-of-stream (for TLS that sends close_notify), read one reply framed
/// by `reply` (until the peer closes for `eof`), and drop the stream: this side closes first.
///
/// ```
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// use tokio::time::{Duration, Instant};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (client, mut host) = tokio::io::duplex(64);
/// tokio::spawn(async move {
///     let mut request = [0u8; 6];
///     host.read_exact(&mut request).await.unwrap();
///     host.write_all(b"\x00\x02ok").await.unwrap();
/// });
/// let framing: msgframe_codec::Framing = "be:2".parse()?;
/// let deadline = Instant::now() + Duration::from_secs(5);
/// let reply = msgframe_tokio::exchange(client, &framing, &framing, b"ping", deadline).await?;
/// assert_eq!(&reply[..], b"ok");
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// [`Error::TimedOut`] when the deadline passed, `writing` saying whether the request was still
/// going out (`buffered`: its bytes unsent) or the reply was awaited (`buffered`: its bytes
/// received); or any error of writing the request or reading the reply.
pub async fn exchange<S>(
    stream: S,
    request: &Framing,
    reply: &Framing,
    body: &[u8],
    deadline: Instant,
) -> Result<Bytes, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let start = Instant::now();
    let timed_out = |buffered: usize, writing: bool| Error::TimedOut {
        buffered,
        elapsed_ms: start.elapsed().as_millis() as u64,
        writing,
    };
    let mut writer = MessageWriter::new(stream, request.clone());
    let sent = async {
        writer.write_message(body).await?;
        if matches!(request, Framing::UntilEof(_)) {
            writer.shutdown().await?;
        }
        Ok::<_, Error>(())
    };
    match tokio::time::timeout_at(deadline, sent).await {
        Ok(result) => result?,
        Err(_) => return Err(timed_out(writer.pending(), true)),
    }
    let mut reader = MessageReader::new(writer.into_inner(), reply.clone());
    match tokio::time::timeout_at(deadline, reader.read_message()).await {
        Ok(result) => result,
        Err(_) => Err(timed_out(reader.buffered().len(), false)),
    }
    // The stream drops here: this side closes first.
}

/// The instant `timeout` from now, or far in the future when that cannot be represented.
fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30))
}
