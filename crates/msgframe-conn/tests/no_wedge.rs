//! No connection wedges, over loopback: a client whose application never takes its incoming
//! messages, a server pushing to a client that never reads, and a clean close that reports a
//! shutdown only.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use msgframe_conn::{
    AnswerHeartbeats, Backoff, Connection, Error, Event, Heartbeat, HeartbeatTiming, LongClient,
    Reply, Server,
};
use support::{be2, eventually, Peer};
use tokio::io::AsyncWriteExt;
use tokio::sync::{broadcast, mpsc};

const MS: Duration = Duration::from_millis(1);
const S: Duration = Duration::from_secs(1);

fn id(m: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(m.get(..4)?.try_into().ok()?))
}

/// A host that answers every message after `delay` while `slow` is set, at once otherwise, and
/// answers zero-length heartbeats at once.
async fn host(slow: Arc<AtomicBool>, delay: Duration) -> Peer {
    Peer::start(move |mut conn| {
        let slow = Arc::clone(&slow);
        async move {
            let (tx, mut rx) = mpsc::unbounded_channel::<(tokio::time::Instant, Bytes)>();
            let mut writer = conn.writer;
            let writing = tokio::spawn(async move {
                while let Some((at, m)) = rx.recv().await {
                    tokio::time::sleep_until(at).await;
                    if writer.write_message(&m).await.is_err() {
                        return;
                    }
                }
            });
            while let Ok(m) = conn.reader.read_message().await {
                let now = tokio::time::Instant::now();
                let at = if slow.load(Ordering::SeqCst) && !m.is_empty() {
                    now + delay
                } else {
                    now
                };
                if tx.send((at, m)).is_err() {
                    break;
                }
            }
            drop(tx);
            let _ = writing.await;
        }
    })
    .await
}

/// Every event up to now.
fn drain(events: &mut broadcast::Receiver<Event>) -> Vec<Event> {
    std::iter::from_fn(|| events.try_recv().ok()).collect()
}

/// The wedge of old: requests time out at 20 ms against a host that answers at 60 ms and the
/// application only calls `request()`. Its late replies overflow the incoming queue (1,024); the
/// client must go on completing prompt requests, checking heartbeats, and noticing a lost host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_incoming_queue_does_not_wedge_the_client() {
    let slow = Arc::new(AtomicBool::new(true));
    let peer = host(Arc::clone(&slow), 60 * MS).await;
    let timing = HeartbeatTiming {
        idle: 300 * MS,
        reply_timeout: 200 * MS,
        max_missed: 2,
    };
    let client = LongClient::builder([peer.host()], be2())
        .match_replies(id)
        .max_in_flight(256)
        .heartbeat(Heartbeat::empty_frame(timing))
        .backoff(Backoff::new(100 * MS, 100 * MS).jitter(0.0))
        .start()
        .unwrap();
    let mut events = client.events();
    client.wait_connected(5 * S).await.unwrap();

    // 1,200 requests, 100 at a time, every one timing out: a late reply for each one written (on a
    // loaded machine a few may not be), for a queue of 1,024.
    let mut sent = 0u64;
    for batch in 0..12u32 {
        let mut requests = tokio::task::JoinSet::new();
        for n in batch * 100..(batch + 1) * 100 {
            let sender = client.sender();
            requests.spawn(async move { sender.request(n.to_be_bytes().to_vec(), 20 * MS).await });
        }
        while let Some(result) = requests.join_next().await {
            match result.unwrap() {
                // Written whole, or its rest still going out: either way the host answers it.
                Err(Error::TimedOut { .. }) => sent += 1,
                Err(e) if e.is_not_sent() => {}
                other => panic!("{other:?}"),
            }
        }
    }
    assert!(sent > 1_100, "{sent} of 1,200 written");
    // Every late reply is in by now: the queue is full and the rest were dropped, counted.
    let dropped = tokio::time::timeout(5 * S, async {
        loop {
            match events.recv().await {
                Ok(Event::IncomingDropped { dropped }) if dropped >= sent - 1024 => return dropped,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("events ended: {e}"),
            }
        }
    })
    .await
    .expect("the overflow is counted");
    assert_eq!(dropped, sent - 1024);

    // Prompt replies still complete their requests (20 of 20, where the wedged client timed out
    // 20 of 20).
    slow.store(false, Ordering::SeqCst);
    for n in 0..20u32 {
        let n = 1_000_000 + n;
        let reply = client.request(n.to_be_bytes().to_vec(), S).await.unwrap();
        assert_eq!(id(&reply), Some(n));
    }

    // Heartbeats are still watched: a quiet second brings some, answered, and no disconnect.
    drain(&mut events);
    tokio::time::sleep(S).await;
    let quiet = drain(&mut events);
    assert!(
        !quiet
            .iter()
            .any(|e| matches!(e, Event::Disconnected { .. } | Event::PeerDead { .. })),
        "{quiet:?}"
    );

    // The host goes away: noticed at once, and `connected_to` says so.
    peer.kill();
    let lost = tokio::time::timeout(5 * S, async {
        loop {
            match events.recv().await {
                Ok(Event::Disconnected { .. }) => return,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("events ended: {e}"),
            }
        }
    })
    .await;
    assert!(lost.is_ok(), "the lost host is noticed");
    assert!(eventually(S, || client.connected_to().is_none()).await);
    let reconnecting = tokio::time::timeout(2 * S, async {
        loop {
            if let Ok(Event::Reconnecting { attempt, .. }) = events.recv().await {
                return attempt;
            }
        }
    })
    .await
    .expect("reconnect attempts go on");
    assert!(reconnecting >= 1);
    client.close().await;
}

/// The same on the server's side: a client that never reads while the server pushes to it. Every
/// push ends by its deadline with a typed outcome, the connection is closed at the write
/// timeout, and the server serves others meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_does_not_wedge_the_server_or_its_pushers() {
    let server = Server::builder(be2())
        .write_timeout(500 * MS)
        .answer_heartbeats(AnswerHeartbeats::empty_frames())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let handle = server.handle();
    let serving =
        tokio::spawn(server.serve(|_c: Connection, m: Bytes| async move { Reply::Send(m) }));
    // Connects, says one thing, and never reads again.
    let mut deaf = tokio::net::TcpStream::connect(addr).await.unwrap();
    deaf.write_all(b"\x00\x02hi").await.unwrap();
    let conn = loop {
        if let Some(c) = handle.connections().into_iter().next() {
            break c;
        }
        tokio::time::sleep(MS).await;
    };
    let body = Bytes::from(vec![7u8; 60_000]);
    let started = tokio::time::Instant::now();
    let pushes = (0..200).map(|_| {
        let conn = conn.clone();
        let body = body.clone();
        tokio::spawn(async move { conn.push(body, 2 * S).await })
    });
    let mut outcomes = Vec::new();
    for push in pushes.collect::<Vec<_>>() {
        outcomes.push(push.await.unwrap());
    }
    let took = started.elapsed();
    assert!(took < 3 * S, "every push ended by its deadline ({took:?})");
    let written = outcomes.iter().filter(|o| o.is_ok()).count();
    let failed: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert!(written < 200 && !failed.is_empty(), "the socket filled up");
    for e in &failed {
        assert!(
            matches!(
                e,
                Error::TimedOut { written: false, .. }
                    | Error::NotSent { .. }
                    | Error::ConnectionLost { written: false, .. }
            ),
            "{e}"
        );
    }
    assert!(
        eventually(2 * S, || conn.is_closed()).await,
        "closed at the write timeout"
    );
    assert!(eventually(S, || handle.stats().errors >= 1).await);

    // Meanwhile and after, another client is served.
    let mut other = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (r, w) = other.split();
    let mut reader = msgframe_tokio::MessageReader::new(r, be2());
    let mut writer = msgframe_tokio::MessageWriter::new(w, be2());
    writer.write_message(b"still here").await.unwrap();
    let echoed = tokio::time::timeout(S, reader.read_message())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&echoed[..], b"still here");
    handle.shutdown();
    serving.await.unwrap().unwrap();
}

/// A deliberate close reports `Shutdown` and nothing else: no `Disconnected`, no `Reconnecting`.
#[tokio::test]
async fn close_yields_shutdown_only() {
    let peer = Peer::echo().await;
    for _ in 0..20 {
        let client = LongClient::builder([peer.host()], be2()).start().unwrap();
        let mut events = client.events();
        client.wait_connected(5 * S).await.unwrap();
        client.request(&b"x"[..], S).await.unwrap();
        client.close().await;
        let after: Vec<Event> = drain(&mut events)
            .into_iter()
            .filter(|e| !matches!(e, Event::Connected { .. }))
            .collect();
        assert!(matches!(&after[..], [Event::Shutdown]), "{after:?}");
    }
}
