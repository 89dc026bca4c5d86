//! The short client: one connection per exchange, one deadline for all of it.

mod support;

use std::time::Duration;

use msgframe_conn::{Error, Fault, ShortClient};
use support::{be2, closed_port, Peer};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const S: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

#[tokio::test]
async fn one_exchange_per_connection_and_the_client_closes_first() {
    let (closed_tx, mut closed_rx) = tokio::sync::mpsc::channel(4);
    let peer = Peer::start(move |mut conn| {
        let closed = closed_tx.clone();
        async move {
            let request = conn.read().await.unwrap();
            conn.write(&request).await;
            // The next read sees the client's close: it closed first.
            let after = conn.reader.read_message().await;
            let _ = closed
                .send(after.err().is_some_and(|e| e.is_closed()))
                .await;
        }
    })
    .await;
    let client = ShortClient::new(be2()).timeout(2 * S);
    for i in 0..3u8 {
        let reply = client.request(&peer.host(), &[i; 4]).await.unwrap();
        assert_eq!(&reply[..], &[i; 4]);
        assert!(closed_rx.recv().await.unwrap(), "the client closed first");
    }
    assert_eq!(peer.accepted(), 3);
}

#[tokio::test]
async fn the_deadline_covers_a_slow_peer() {
    let peer = Peer::start(|mut conn| async move {
        let request = conn.read().await.unwrap();
        tokio::time::sleep(5 * S).await;
        conn.write(&request).await;
    })
    .await;
    let start = tokio::time::Instant::now();
    let err = ShortClient::new(be2())
        .timeout(300 * MS)
        .request(&peer.host(), b"slow")
        .await
        .unwrap_err();
    let took = start.elapsed();
    assert!(
        matches!(err, Error::TimedOut { written: true, .. }),
        "{err}"
    );
    assert!(took >= 300 * MS && took < 2 * S, "{took:?}");
}

#[tokio::test]
async fn a_peer_that_trickles_its_reply_still_ends_at_the_deadline() {
    let peer = Peer::start(|conn| async move {
        let mut stream = conn.writer.into_inner();
        // A header announcing 100 bytes, then one byte every 50 ms.
        let _ = stream.write_all(&[0, 100]).await;
        for _ in 0..100 {
            tokio::time::sleep(50 * MS).await;
            if stream.write_all(b"x").await.is_err() {
                break;
            }
        }
    })
    .await;
    let start = tokio::time::Instant::now();
    let err = ShortClient::new(be2())
        .timeout(400 * MS)
        .request(&peer.host(), b"q")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TimedOut { .. }), "{err}");
    assert!(start.elapsed() < 2 * S);
}

#[tokio::test]
async fn connecting_to_a_closed_port_fails_fast_and_names_the_host() {
    let host = closed_port().await;
    let start = tokio::time::Instant::now();
    let err = ShortClient::new(be2())
        .request(&host, b"x")
        .await
        .unwrap_err();
    assert!(start.elapsed() < S, "{:?}", start.elapsed());
    assert!(matches!(err, Error::Connect { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains(&host) && text.contains("refused"), "{text}");
    assert!(err.is_not_sent());
    assert_eq!(err.fault(), Fault::Network);
}

#[tokio::test]
async fn a_refused_name_names_the_host_and_the_address_tried() {
    let port = closed_port().await.rsplit_once(':').unwrap().1.to_owned();
    let host = format!("localhost:{port}");
    let err = ShortClient::new(be2())
        .request(&host, b"x")
        .await
        .unwrap_err();
    let Error::Connect {
        host: named,
        source,
    } = &err
    else {
        panic!("{err}");
    };
    // `localhost:PORT (127.0.0.1:PORT)`, or the IPv6 loopback.
    assert!(
        named.starts_with(&format!("{host} (")) && named.ends_with(&format!(":{port})")),
        "{named}"
    );
    assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn a_peer_that_does_not_read_times_the_request_out_unwritten() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let _deaf = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        tokio::time::sleep(10 * S).await;
        drop(stream);
    });
    // More than the socket buffers of both sides hold.
    let body = vec![7u8; 64 << 20];
    let start = tokio::time::Instant::now();
    let err = ShortClient::new("be:4,max=64m".parse().unwrap())
        .timeout(500 * MS)
        .request(&host, &body)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::TimedOut { written: false, .. }),
        "{err}"
    );
    assert!(start.elapsed() < 3 * S, "{:?}", start.elapsed());
}

#[tokio::test]
async fn a_host_that_does_not_resolve_is_a_clear_error() {
    let err = ShortClient::new(be2())
        .request("no-such-host.invalid:9000", b"x")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err}");
    assert!(err.to_string().contains("no-such-host.invalid"), "{err}");
}

#[tokio::test]
async fn a_reply_framed_until_end_of_stream() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut header = [0u8; 2];
        stream.read_exact(&mut header).await.unwrap();
        let mut body = vec![0; usize::from(u16::from_be_bytes(header))];
        stream.read_exact(&mut body).await.unwrap();
        stream.write_all(b"reply without a header, ").await.unwrap();
        stream.write_all(b"ended by closing").await.unwrap();
        // Dropping the stream closes it: the end of the reply.
    });
    let reply = ShortClient::new(be2())
        .reply_framing("eof".parse().unwrap())
        .timeout(2 * S)
        .request(&host, b"q")
        .await
        .unwrap();
    assert_eq!(&reply[..], b"reply without a header, ended by closing");
}

#[test]
fn the_blocking_request_serves_plain_threads() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let peer = runtime.block_on(Peer::echo());
    let client = ShortClient::new(be2()).timeout(5 * S);
    let reply = client.request_blocking(&peer.host(), b"sync").unwrap();
    assert_eq!(&reply[..], b"sync");
    drop(runtime);
}

/// A host on loopback that answers every message on its own connection and, when `closes`, closes
/// right after its reply; it records the most connections it had open at once.
async fn host(closes: bool) -> (Peer, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    host_on("127.0.0.1:0", closes).await
}

/// [`host`] listening on `addr`.
async fn host_on(
    addr: &str,
    closes: bool,
) -> (Peer, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let open = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&most);
    let peer = Peer::start_on(addr, move |mut conn| {
        let (open, most) = (Arc::clone(&open), Arc::clone(&most));
        async move {
            let now = open.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            if let Some(m) = conn.read().await {
                tokio::time::sleep(20 * MS).await;
                conn.write(&m).await;
            }
            if !closes {
                // Until the client goes.
                while conn.read().await.is_some() {}
            }
            open.fetch_sub(1, Ordering::SeqCst);
        }
    })
    .await;
    (peer, seen)
}

#[tokio::test]
async fn the_close_policy_decides_who_keeps_time_wait() {
    use msgframe_conn::{time_wait_toward, ClosePolicy};
    // Each host listens on a loopback address no other test uses, so no other connection's
    // TIME_WAIT (a host's, whose remote is a client port the kernel may hand to this listener)
    // is counted; what was there before is subtracted.
    for (policy, host_closes, left, ip) in [
        (ClosePolicy::Graceful, false, 3, "127.0.0.71"),
        (ClosePolicy::Abortive, false, 0, "127.0.0.72"),
        (ClosePolicy::HostFirst, true, 0, "127.0.0.73"),
    ] {
        let (peer, _) = host_on(&format!("{ip}:0"), host_closes).await;
        let Some(before) = time_wait_toward(peer.addr) else {
            eprintln!("no /proc/net/tcp here: TIME_WAIT not counted");
            return;
        };
        let client = ShortClient::new(be2()).timeout(5 * S).close(policy);
        for i in 0..3u8 {
            assert_eq!(
                &client.request(&peer.host(), &[i; 3]).await.unwrap()[..],
                &[i; 3]
            );
        }
        // The last close completes when the host's FIN comes back.
        support::eventually(S, || time_wait_toward(peer.addr) == Some(before + left)).await;
        assert_eq!(
            time_wait_toward(peer.addr),
            Some(before + left),
            "{policy:?}: client sockets in TIME_WAIT"
        );
    }
}

#[tokio::test]
async fn host_first_returns_the_reply_when_the_host_does_not_close_in_time() {
    let (peer, _) = host(false).await;
    let client = ShortClient::new(be2())
        .timeout(300 * MS)
        .close(msgframe_conn::ClosePolicy::HostFirst);
    let started = tokio::time::Instant::now();
    assert_eq!(&client.request(&peer.host(), b"x").await.unwrap()[..], b"x");
    assert!(
        started.elapsed() >= 250 * MS,
        "it waited for the host's close"
    );
}

#[tokio::test]
async fn connections_to_one_host_are_capped_and_the_wait_counts_in_the_deadline() {
    use std::sync::atomic::Ordering;
    let (peer, most) = host(true).await;
    let client = ShortClient::new(be2()).timeout(5 * S).max_per_host(2);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10u8 {
        let (client, host) = (client.clone(), peer.host());
        tasks.spawn(async move { client.request(&host, &[i]).await });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap().unwrap();
    }
    assert_eq!(most.load(Ordering::SeqCst), 2);
    // A slot not free within the deadline: not sent.
    let busy = client.clone().timeout(10 * MS);
    let (a, b) = (client.clone(), client.clone());
    let host = peer.host();
    let (h1, h2) = (host.clone(), host.clone());
    let hold1 = tokio::spawn(async move { a.request(&h1, b"1").await });
    let hold2 = tokio::spawn(async move { b.request(&h2, b"2").await });
    tokio::time::sleep(5 * MS).await;
    let err = busy.request(&host, b"3").await.unwrap_err();
    assert!(err.is_not_sent(), "{err}");
    hold1.await.unwrap().unwrap();
    hold2.await.unwrap().unwrap();
}
