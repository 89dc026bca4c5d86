//! The async reader and writer at their hard edges: unsent bytes stay bounded and a refused message
//! says so, lent messages, end-of-stream inside a discarded frame, kept messages that do not pin
//! the read buffer.

use std::time::Duration;

use bytes::Bytes;
use msgframe_codec::Framing;
use msgframe_io::Error;
use msgframe_tokio::{MessageReader, MessageWriter};
use tokio::io::AsyncWriteExt;

fn framing(spec: &str) -> Framing {
    spec.parse().unwrap()
}

#[tokio::test(start_paused = true)]
async fn unsent_bytes_of_timed_out_writes_stay_bounded_and_refused_messages_say_so() {
    // A peer that never reads: the pipe holds 64 KiB, then nothing more goes out.
    let (_peer, stream) = tokio::io::duplex(64 * 1024);
    let mut writer = MessageWriter::new(stream, framing("be:4,max=1m"));
    let message = vec![b'x'; 64 * 1024];
    let (mut taken, mut refused) = (0, 0);
    for _ in 0..1000 {
        match writer
            .write_message_timeout(&message, Duration::from_millis(10))
            .await
        {
            Err(Error::TimedOut { writing: true, .. }) => taken += 1,
            Err(e @ Error::NotSent { .. }) => {
                assert!(e
                    .to_string()
                    .contains("nothing of this message was sent or kept"));
                refused += 1
            }
            other => panic!("{other:?}"),
        }
        assert!(
            writer.pending()
                <= MessageWriter::<tokio::io::DuplexStream, Framing>::DEFAULT_MAX_PENDING
                    + message.len()
                    + 4,
            "{} bytes pending",
            writer.pending()
        );
    }
    assert!(
        taken >= 1 && refused >= 990,
        "taken {taken}, refused {refused}"
    );
}

#[tokio::test]
async fn every_message_taken_arrives_and_none_refused_is_sent() {
    let (peer, stream) = tokio::io::duplex(1024);
    let mut writer = MessageWriter::new(stream, framing("be:2")).with_max_pending(2048);
    let mut sent = Vec::new();
    for i in 0..200u32 {
        let body = format!("message {i}").repeat(40);
        match writer
            .write_message_timeout(body.as_bytes(), Duration::from_millis(1))
            .await
        {
            Ok(()) | Err(Error::TimedOut { .. }) => sent.push(body),
            Err(Error::NotSent { .. }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    let reading = tokio::spawn(async move {
        let mut reader = MessageReader::new(peer, framing("be:2"));
        let mut got = Vec::new();
        loop {
            match reader.read_message().await {
                Ok(m) => got.push(String::from_utf8(m.to_vec()).unwrap()),
                Err(e) if e.is_closed() => return got,
                Err(e) => panic!("{e}"),
            }
        }
    });
    writer.flush().await.unwrap();
    drop(writer);
    assert_eq!(
        reading.await.unwrap(),
        sent,
        "exactly the taken messages, in order"
    );
}

#[tokio::test]
async fn the_async_reader_lends_messages_without_copying_them() {
    let (mut peer, stream) = tokio::io::duplex(256);
    let mut reader = MessageReader::new(stream, framing("ascii:4"));
    peer.write_all(b"0005hello0005world00").await.unwrap();
    assert_eq!(reader.read_ref().await.unwrap(), b"hello");
    assert_eq!(&reader.read_message().await.unwrap()[..], b"world");
    assert_eq!(reader.buffered(), b"00");
    peer.write_all(b"03bye").await.unwrap();
    drop(peer);
    assert_eq!(reader.read_ref().await.unwrap(), b"bye");
    assert!(reader.read_ref().await.unwrap_err().is_closed());
}

#[tokio::test]
async fn a_peer_closing_inside_a_discarded_frame_is_an_unexpected_eof() {
    let (mut peer, stream) = tokio::io::duplex(256);
    let mut reader = MessageReader::new(stream, framing("be:2,max=10,oversize=discard"));
    peer.write_all(b"\x00\x64only part of it").await.unwrap();
    drop(peer);
    let err = reader.read_message().await.unwrap_err();
    assert!(
        matches!(&err, Error::TooLong(e) if e.is_resumable()),
        "{err}"
    );
    let err = reader.read_message().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnexpectedEof {
                offset: 0,
                expected: Some(102),
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn kept_messages_are_copied_out_of_the_read_buffer() {
    let (mut peer, stream) = tokio::io::duplex(64 * 1024);
    let mut reader = MessageReader::new(stream, framing("lines"));
    let mut kept: Vec<Bytes> = Vec::new();
    for i in 0..100 {
        peer.write_all(format!("{i}\n").as_bytes()).await.unwrap();
        kept.push(reader.read_message().await.unwrap());
    }
    // A kept message is its own allocation: `Bytes::try_into_mut` succeeds only on a unique,
    // unshared buffer of its own.
    for (i, m) in kept.into_iter().enumerate() {
        let owned = m
            .try_into_mut()
            .expect("a kept small message owns its allocation");
        assert_eq!(&owned[..], format!("{i}").as_bytes());
        assert!(owned.capacity() < 64, "{}", owned.capacity());
    }
}

#[tokio::test]
async fn the_async_reader_lends_every_buffered_message_per_call() {
    let (mut peer, stream) = tokio::io::duplex(256);
    let mut reader = MessageReader::new(stream, framing("be:2"));
    peer.write_all(b"\x00\x01a\x00\x01b\x00\x01").await.unwrap();
    let mut got = Vec::new();
    assert_eq!(reader.read_each(|m| got.push(m.to_vec())).await.unwrap(), 2);
    peer.write_all(b"c").await.unwrap();
    drop(peer);
    assert_eq!(reader.read_each(|m| got.push(m.to_vec())).await.unwrap(), 1);
    assert_eq!(got, [b"a", b"b", b"c"]);
    assert!(reader.read_each(|_| ()).await.unwrap_err().is_closed());
}
