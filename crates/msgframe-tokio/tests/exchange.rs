//! `exchange`: one request and one reply on any connected stream, within one deadline, the
//! timeout saying which half it caught.

use std::time::Duration;

use msgframe_codec::Framing;
use msgframe_tokio::{exchange, Error};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

const SECS_5: Duration = Duration::from_secs(5);
const MS: Duration = Duration::from_millis(1);

fn framing(spec: &str) -> Framing {
    spec.parse().unwrap()
}

#[tokio::test]
async fn one_request_one_reply_and_this_side_closes() {
    let (client, mut host) = tokio::io::duplex(1024);
    let peer = tokio::spawn(async move {
        let mut request = [0u8; 6];
        host.read_exact(&mut request).await.unwrap();
        assert_eq!(&request, b"\x00\x04ping");
        host.write_all(b"\x00\x04pong").await.unwrap();
        // The client closes once it has the reply.
        let mut rest = Vec::new();
        host.read_to_end(&mut rest).await.unwrap();
        rest
    });
    let be2 = framing("be:2");
    let reply = exchange(client, &be2, &be2, b"ping", Instant::now() + SECS_5)
        .await
        .unwrap();
    assert_eq!(&reply[..], b"pong");
    assert!(peer.await.unwrap().is_empty());
}

#[tokio::test]
async fn until_eof_both_ways_over_a_stream_that_is_not_tcp() {
    let (client, mut host) = tokio::io::duplex(1024);
    tokio::spawn(async move {
        let mut request = Vec::new();
        host.read_to_end(&mut request).await.unwrap();
        request.reverse();
        host.write_all(&request).await.unwrap();
    });
    let eof = framing("eof");
    let reply = exchange(client, &eof, &eof, b"abc", Instant::now() + SECS_5)
        .await
        .unwrap();
    assert_eq!(&reply[..], b"cba");
}

#[tokio::test]
async fn a_peer_that_does_not_read_times_the_request_out_while_writing() {
    let (client, host) = tokio::io::duplex(64);
    let start = Instant::now();
    let be2 = framing("be:2");
    let err = exchange(client, &be2, &be2, &[7; 1000], start + 200 * MS)
        .await
        .unwrap_err();
    assert!(start.elapsed() >= 200 * MS);
    match err {
        Error::TimedOut {
            writing, buffered, ..
        } => {
            assert!(writing);
            assert_eq!(buffered, 1002 - 64, "the bytes the pipe did not take");
        }
        other => panic!("{other}"),
    }
    drop(host);
}

#[tokio::test]
async fn a_reply_cut_short_times_out_while_reading() {
    let (client, mut host) = tokio::io::duplex(1024);
    tokio::spawn(async move {
        let mut request = [0u8; 3];
        host.read_exact(&mut request).await.unwrap();
        // Three bytes of a ten-byte reply, then nothing.
        host.write_all(b"\x00\x0aabc").await.unwrap();
        tokio::time::sleep(SECS_5).await;
    });
    let start = Instant::now();
    let be2 = framing("be:2");
    let err = exchange(client, &be2, &be2, b"q", start + 200 * MS)
        .await
        .unwrap_err();
    match err {
        Error::TimedOut {
            writing,
            buffered,
            elapsed_ms,
        } => {
            assert!(!writing);
            assert_eq!(buffered, 5);
            assert!((200..2000).contains(&elapsed_ms), "{elapsed_ms}");
        }
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn a_malformed_reply_is_the_codec_error() {
    let (client, mut host) = tokio::io::duplex(1024);
    tokio::spawn(async move {
        let mut request = [0u8; 5];
        host.read_exact(&mut request).await.unwrap();
        host.write_all(b"00x2ok").await.unwrap();
    });
    let err = exchange(
        client,
        &framing("ascii:4"),
        &framing("ascii:4"),
        b"q",
        Instant::now() + SECS_5,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Malformed(_)), "{err}");
}
