//! Short connections, async: connect, send one request, read one reply, close.

use std::time::Instant;

use bytes::Bytes;
use msgframe_codec::Framing;
use msgframe_io::ShortRequest;
use tokio::net::{TcpStream, ToSocketAddrs};

use crate::{Error, MessageReader, MessageWriter};

/// Sends one request on a new connection and reads one reply, as configured by a
/// [`ShortRequest`] (the same options the blocking [`ShortRequest::send`] uses): connect within its
/// connect timeout (each resolved address in turn), write the request, shut down the write half when
/// the request is framed until end-of-stream, read the reply by its framing (or until end-of-stream),
/// close. Sending and receiving share the request's deadline.
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
/// The last connection error (naming the address), [`Error::TimedOut`], or any error of writing the
/// request or reading the reply.
pub async fn request(
    options: &ShortRequest,
    addr: impl ToSocketAddrs,
    body: &[u8],
) -> Result<Bytes, Error> {
    let start = Instant::now();
    let stream = connect(options, addr).await?;
    stream.set_nodelay(true)?;
    let (read_half, write_half) = stream.into_split();
    let exchange = async {
        let mut writer = MessageWriter::new(write_half, options.request.clone());
        writer.write_message(body).await?;
        if matches!(options.request, Framing::UntilEof(_)) {
            writer.shutdown().await?;
        }
        let mut reader = MessageReader::new(read_half, options.reply.clone());
        reader.read_message().await
    };
    match tokio::time::timeout(options.timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(Error::TimedOut {
            buffered: 0,
            elapsed_ms: start.elapsed().as_millis() as u64,
            writing: false,
        }),
    }
}

async fn connect(options: &ShortRequest, addr: impl ToSocketAddrs) -> Result<TcpStream, Error> {
    let mut last = None;
    for addr in tokio::net::lookup_host(addr).await? {
        match tokio::time::timeout(options.connect_timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = Some((addr, e)),
            Err(_) => last = Some((addr, std::io::ErrorKind::TimedOut.into())),
        }
    }
    Err(Error::connect_failed(last))
}
