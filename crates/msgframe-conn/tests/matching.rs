//! Request matching on one long connection: replies in any order, timeouts, unmatched messages,
//! a lost connection, back-pressure.

mod support;

use std::time::Duration;

use msgframe_conn::{Error, LongClient, LongClientBuilder};
use support::{be2, Peer};

const S: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

/// The key of a message: its first four bytes, a big-endian sequence number (CMPP-style).
fn sequence(message: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(message.get(..4)?.try_into().ok()?))
}

fn request(seq: u32, body: &[u8]) -> Vec<u8> {
    let mut m = seq.to_be_bytes().to_vec();
    m.extend_from_slice(body);
    m
}

fn client(peer: &Peer) -> LongClientBuilder<u32> {
    LongClient::builder([peer.host()], be2()).match_replies(sequence)
}

/// A deterministic shuffle (a linear congruential generator), so a failure repeats.
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let j = (seed >> 33) as usize % (i + 1);
        items.swap(i, j);
    }
}

#[tokio::test]
async fn a_thousand_concurrent_requests_answered_in_shuffled_order_all_match() {
    const N: usize = 1000;
    // Collects all N requests, then answers them in a shuffled order, each reply carrying the
    // request's sequence number and its body reversed.
    let peer = Peer::start(|mut conn| async move {
        let mut requests = Vec::with_capacity(N);
        while requests.len() < N {
            requests.push(conn.read().await.expect("a request"));
        }
        shuffle(&mut requests, 7);
        for r in requests {
            let mut reply = r[..4].to_vec();
            reply.extend(r[4..].iter().rev());
            conn.write(&reply).await;
        }
        while conn.read().await.is_some() {}
    })
    .await;
    let client = client(&peer).max_in_flight(N).start().unwrap();
    let calls = (0..N as u32).map(|seq| {
        let client = client.sender();
        async move {
            let body = format!("req-{seq}");
            let reply = client
                .request(request(seq, body.as_bytes()), 10 * S)
                .await?;
            Ok::<_, Error>((seq, body, reply))
        }
    });
    let results = futures_join_all(calls).await;
    for result in results {
        let (seq, body, reply) = result.unwrap();
        assert_eq!(sequence(&reply), Some(seq));
        let reversed: Vec<u8> = body.bytes().rev().collect();
        assert_eq!(&reply[4..], &reversed[..], "reply to {seq}");
    }
    client.close().await;
}

/// Runs futures concurrently on the current task and returns their outputs in order.
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

#[tokio::test]
async fn a_late_reply_and_an_unsolicited_message_reach_the_unmatched_channel() {
    let peer = Peer::start(|mut conn| async move {
        // An unsolicited message first (a deliver_sm), then every reply 300 ms late.
        conn.write(&request(999, b"unsolicited")).await;
        while let Some(m) = conn.read().await {
            tokio::time::sleep(300 * MS).await;
            conn.write(&m).await;
        }
    })
    .await;
    let mut client = client(&peer).start().unwrap();
    let err = client
        .request(request(1, b"late"), 100 * MS)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::TimedOut { written: true, .. }),
        "{err}"
    );
    let first = tokio::time::timeout(S, client.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&first[..], &request(999, b"unsolicited")[..]);
    let late = tokio::time::timeout(S, client.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&late[..], &request(1, b"late")[..]);
    // The connection is still fine.
    let reply = client.request(request(2, b"ok"), S).await.unwrap();
    assert_eq!(&reply[..], &request(2, b"ok")[..]);
    client.close().await;
}

#[tokio::test]
async fn a_lost_connection_fails_every_request_in_flight_at_once() {
    const N: usize = 100;
    let (got_all_tx, got_all_rx) = tokio::sync::oneshot::channel::<()>();
    let got_all_tx = std::sync::Mutex::new(Some(got_all_tx));
    let peer = Peer::start(move |mut conn| {
        let tx = got_all_tx.lock().unwrap().take();
        async move {
            for _ in 0..N {
                conn.read().await.expect("a request");
            }
            if let Some(tx) = tx {
                let _ = tx.send(());
            }
            // Never answers; the test kills the connection.
            std::future::pending::<()>().await;
        }
    })
    .await;
    let client = client(&peer)
        .backoff(msgframe_conn::Backoff::new(60 * S, 60 * S))
        .start()
        .unwrap();
    let calls: Vec<_> = (0..N as u32)
        .map(|seq| {
            let client = client.sender();
            tokio::spawn(async move { client.request(request(seq, b"x"), 30 * S).await })
        })
        .collect();
    tokio::time::timeout(10 * S, got_all_rx)
        .await
        .unwrap()
        .unwrap();
    let killed = tokio::time::Instant::now();
    peer.kill();
    for call in calls {
        let err = tokio::time::timeout(5 * S, call)
            .await
            .expect("no request is left hanging")
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(err, Error::ConnectionLost { written: true, .. }),
            "{err}"
        );
        assert!(!err.is_not_sent());
    }
    assert!(killed.elapsed() < 2 * S, "{:?}", killed.elapsed());
    client.close().await;
}

#[tokio::test]
async fn requests_beyond_max_in_flight_wait_and_give_up_unsent() {
    // Answers nothing.
    let peer = Peer::start(|mut conn| async move { while conn.read().await.is_some() {} }).await;
    let client = client(&peer).max_in_flight(2).start().unwrap();
    let busy: Vec<_> = (0..2u32)
        .map(|seq| {
            let client = client.sender();
            tokio::spawn(async move { client.request(request(seq, b"x"), 2 * S).await })
        })
        .collect();
    tokio::time::sleep(100 * MS).await;
    let err = client
        .request(request(7, b"third"), 100 * MS)
        .await
        .unwrap_err();
    assert!(err.is_not_sent(), "{err}");
    assert!(err.to_string().contains("slot"), "{err}");
    for b in busy {
        b.abort();
    }
    client.close().await;
}

#[tokio::test]
async fn a_second_request_with_a_key_in_flight_is_refused_and_the_first_still_matches() {
    let peer = Peer::start(|mut conn| async move {
        let first = conn.read().await.unwrap();
        tokio::time::sleep(200 * MS).await;
        conn.write(&first).await;
        while conn.read().await.is_some() {}
    })
    .await;
    let client = client(&peer).start().unwrap();
    let sender = client.sender();
    let first = tokio::spawn(async move { sender.request(request(5, b"first"), 2 * S).await });
    tokio::time::sleep(50 * MS).await;
    let err = client.request(request(5, b"second"), S).await.unwrap_err();
    assert!(matches!(err, Error::DuplicateKey { .. }), "{err}");
    assert!(err.is_not_sent());
    let reply = first.await.unwrap().unwrap();
    assert_eq!(&reply[4..], b"first");
    client.close().await;
}

#[tokio::test]
async fn a_request_without_a_key_is_refused_unsent() {
    let peer = Peer::echo().await;
    let client = client(&peer).start().unwrap();
    let err = client.request(&b"abc"[..], S).await.unwrap_err();
    assert!(matches!(err, Error::NoKey), "{err}");
    client.close().await;
}
