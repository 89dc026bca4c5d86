//! The long client against scripted peers on loopback: request/response, heartbeats, dead peers,
//! reconnect and failover, the after-connect hook, keepalive, the duplex split, blocking use.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use msgframe_conn::{
    AnswerHeartbeats, Backoff, Disconnect, Error, Event, Heartbeat, HeartbeatTiming, Keepalive,
    LongClient,
};
use support::{be2, closed_port, Peer};
use tokio::sync::broadcast;

const S: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

/// The next event that `pick` accepts, within `limit`.
async fn next_event<T>(
    events: &mut broadcast::Receiver<Event>,
    limit: Duration,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> T {
    tokio::time::timeout(limit, async {
        loop {
            match events.recv().await {
                Ok(event) => {
                    if let Some(t) = pick(&event) {
                        return t;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("events ended: {e}"),
            }
        }
    })
    .await
    .expect("the event within the limit")
}

#[tokio::test]
async fn a_request_gets_its_reply_on_a_long_connection() {
    let peer = Peer::echo().await;
    let client = LongClient::builder([peer.host()], be2()).start().unwrap();
    for i in 0..20u8 {
        let reply = client.request(vec![i; 3], S).await.unwrap();
        assert_eq!(&reply[..], &[i; 3]);
    }
    assert_eq!(peer.accepted(), 1, "one connection for every request");
    client.close().await;
}

#[tokio::test]
async fn a_request_without_reply_times_out_and_the_late_reply_is_received() {
    let peer = Peer::start(|mut conn| async move {
        while let Some(m) = conn.read().await {
            tokio::time::sleep(Duration::from_millis(300)).await;
            conn.write(&m).await;
        }
    })
    .await;
    let mut client = LongClient::builder([peer.host()], be2()).start().unwrap();
    let err = client.request(&b"slow"[..], 100 * MS).await.unwrap_err();
    assert!(
        matches!(err, Error::TimedOut { written: true, .. }),
        "{err}"
    );
    assert!(!err.is_not_sent());
    let late = tokio::time::timeout(S, client.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&late[..], b"slow");
    client.close().await;
}

#[tokio::test(start_paused = true)]
async fn heartbeats_flow_when_idle_and_stop_when_traffic_flows() {
    let heartbeats = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&heartbeats);
    let peer = Peer::start(move |mut conn| {
        let seen = Arc::clone(&seen);
        async move {
            while let Some(m) = conn.read().await {
                if m.is_empty() {
                    seen.fetch_add(1, Ordering::SeqCst);
                }
                conn.write(&m).await;
            }
        }
    })
    .await;
    let timing = HeartbeatTiming {
        idle: 30 * S,
        reply_timeout: 5 * S,
        max_missed: 3,
    };
    let client = LongClient::builder([peer.host()], be2())
        .heartbeat(Heartbeat::empty_frame(timing))
        .start()
        .unwrap();
    client.wait_connected(S).await.unwrap();

    // Quiet for 100 s: a heartbeat every 30 s.
    tokio::time::sleep(100 * S).await;
    assert_eq!(heartbeats.load(Ordering::SeqCst), 3);

    // Traffic every 10 s for 100 s: none.
    for _ in 0..10 {
        client.request(&b"work"[..], S).await.unwrap();
        tokio::time::sleep(10 * S).await;
    }
    assert_eq!(heartbeats.load(Ordering::SeqCst), 3);
    client.close().await;
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_stops_answering_is_declared_dead_within_the_bound() {
    // Reads everything, answers nothing.
    let peer = Peer::start(|mut conn| async move { while conn.read().await.is_some() {} }).await;
    let timing = HeartbeatTiming {
        idle: 30 * S,
        reply_timeout: 5 * S,
        max_missed: 3,
    };
    let client = LongClient::builder([peer.host()], be2())
        .heartbeat(Heartbeat::empty_frame(timing))
        .backoff(Backoff::new(60 * S, 60 * S))
        .start()
        .unwrap();
    let mut events = client.events();
    client.wait_connected(S).await.unwrap();
    let start = tokio::time::Instant::now();
    let mut missed = Vec::new();
    let dead = next_event(&mut events, 100 * S, |e| match e {
        Event::HeartbeatMissed { missed: n } => {
            missed.push(*n);
            None
        }
        Event::PeerDead { missed } => Some(*missed),
        _ => None,
    })
    .await;
    let took = start.elapsed();
    assert_eq!(dead, 3);
    assert_eq!(missed, [1, 2]);
    assert!(took <= timing.dead_after() + S, "{took:?}");
    assert!(took >= timing.dead_after() - S, "{took:?}");
    let reason = next_event(&mut events, S, |e| match e {
        Event::Disconnected { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert!(
        matches!(*reason, Disconnect::PeerDead { missed: 3 }),
        "{reason}"
    );
    client.close().await;
}

#[tokio::test(start_paused = true)]
async fn two_ends_that_answer_lookalike_heartbeats_do_not_bounce_them_forever() {
    // A peer as naive as can be: it answers every empty frame with an empty frame, and sends its
    // own every 30 s.
    let frames_in = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&frames_in);
    let peer = Peer::start(move |conn| {
        let counter = Arc::clone(&counter);
        async move {
            let support::Conn {
                mut reader,
                mut writer,
                ..
            } = conn;
            let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1024);
            let own = tx.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(30 * S).await;
                    if own.send(()).await.is_err() {
                        break;
                    }
                }
            });
            tokio::spawn(async move {
                while let Ok(m) = reader.read_message().await {
                    if m.is_empty() {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let _ = tx.send(()).await;
                    }
                }
            });
            while rx.recv().await.is_some() {
                if writer.write_message(b"").await.is_err() {
                    break;
                }
            }
        }
    })
    .await;
    let timing = HeartbeatTiming {
        idle: 30 * S,
        reply_timeout: 5 * S,
        max_missed: 3,
    };
    let client = LongClient::builder([peer.host()], be2())
        .heartbeat(Heartbeat::empty_frame(timing))
        .answer_heartbeats(AnswerHeartbeats::empty_frames())
        .start()
        .unwrap();
    client.wait_connected(S).await.unwrap();
    tokio::time::sleep(300 * S).await;
    // Ten idle periods: at most one heartbeat and one answer from the client per period.
    let n = frames_in.load(Ordering::SeqCst);
    assert!(n <= 20, "{n} empty frames from the client in 300 s");
    assert!(n >= 5, "{n}: heartbeats still flow");
    assert!(client.connected_to().is_some(), "the link stayed up");
    client.close().await;
}

#[tokio::test]
async fn the_client_reconnects_after_the_server_restarts_and_runs_the_hook_each_time() {
    let peer = Peer::echo().await;
    let host = peer.host();
    let hooks = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&hooks);
    let client = LongClient::builder([host.clone()], be2())
        .backoff(Backoff::new(20 * MS, 100 * MS))
        .on_connect(move |session| {
            let count = Arc::clone(&count);
            Box::pin(async move {
                let reply = session.request(b"logon", S).await?;
                assert_eq!(&reply[..], b"logon");
                count.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
        })
        .start()
        .unwrap();
    let mut events = client.events();
    client.wait_connected(S).await.unwrap();
    assert_eq!(hooks.load(Ordering::SeqCst), 1);

    // The server goes away, connections and all.
    drop(peer);
    let reason = next_event(&mut events, 5 * S, |e| match e {
        Event::Disconnected { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert!(
        matches!(*reason, Disconnect::PeerClosed | Disconnect::Read(_)),
        "{reason}"
    );
    let err = client
        .request(&b"meanwhile"[..], 50 * MS)
        .await
        .unwrap_err();
    assert!(err.is_not_sent(), "{err}");

    // It comes back on the same port.
    let _peer = Peer::echo_on(&host).await;
    next_event(&mut events, 5 * S, |e| match e {
        Event::Connected { .. } => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(
        hooks.load(Ordering::SeqCst),
        2,
        "the hook ran on every connect"
    );
    assert_eq!(
        &client.request(&b"again"[..], S).await.unwrap()[..],
        b"again"
    );
    client.close().await;
}

#[tokio::test]
async fn failover_to_the_alternate_when_the_primary_refuses() {
    let primary = closed_port().await;
    let alternate = Peer::echo().await;
    let client = LongClient::builder([primary.clone(), alternate.host()], be2())
        .start()
        .unwrap();
    let mut events = client.events();
    let failed = next_event(&mut events, 5 * S, |e| match e {
        Event::ConnectFailed { host, error } => Some((host.clone(), error.clone())),
        _ => None,
    })
    .await;
    assert_eq!(failed.0, primary);
    assert!(
        matches!(&*failed.1, Error::Connect { source, .. } if source.kind() == std::io::ErrorKind::ConnectionRefused),
        "{}",
        failed.1
    );
    let connected = next_event(&mut events, 5 * S, |e| match e {
        Event::Connected { host, .. } => Some(host.clone()),
        _ => None,
    })
    .await;
    assert_eq!(connected, alternate.host());
    assert_eq!(&client.request(&b"hi"[..], S).await.unwrap()[..], b"hi");
    client.close().await;
}

#[tokio::test]
async fn reconnect_delays_grow_and_are_capped() {
    let client = LongClient::builder([closed_port().await], be2())
        .backoff(Backoff::new(10 * MS, 80 * MS).jitter(0.0))
        .start()
        .unwrap();
    let mut events = client.events();
    let mut delays = Vec::new();
    while delays.len() < 6 {
        let (attempt, delay) = next_event(&mut events, 5 * S, |e| match e {
            Event::Reconnecting { attempt, delay } => Some((*attempt, *delay)),
            _ => None,
        })
        .await;
        assert_eq!(attempt as usize, delays.len() + 1);
        delays.push(delay.as_millis());
    }
    assert_eq!(delays, [10, 20, 40, 80, 80, 80]);
    client.close().await;
}

#[tokio::test]
async fn keepalive_options_are_set_on_the_connection() {
    let peer = Peer::echo().await;
    let wanted = Keepalive {
        idle: 7 * S,
        interval: 3 * S,
        retries: 4,
        user_timeout: Some(19 * S),
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = std::sync::Mutex::new(Some(tx));
    let client = LongClient::builder([peer.host()], be2())
        .keepalive(Some(wanted))
        .on_connect(move |session| {
            let read = session.keepalive();
            if let Some(tx) = tx.lock().unwrap().take() {
                let _ = tx.send(read.map_err(|e| e.to_string()));
            }
            Box::pin(async { Ok(()) })
        })
        .start()
        .unwrap();
    let read = rx.await.unwrap().unwrap();
    assert_eq!(read, wanted);
    client.close().await;
}

#[tokio::test]
async fn sender_and_receiver_work_from_different_tasks() {
    // The peer pushes a message of its own after every request it gets, besides the reply.
    let peer = Peer::start(|mut conn| async move {
        while let Some(m) = conn.read().await {
            conn.write(&m).await;
            let mut push = b"push:".to_vec();
            push.extend_from_slice(&m);
            conn.write(&push).await;
        }
    })
    .await;
    let client = LongClient::builder([peer.host()], be2())
        .match_replies(|m: &[u8]| (!m.starts_with(b"push:")).then(|| m.to_vec()))
        .start()
        .unwrap();
    let (sender, mut receiver) = client.split();
    let reading = tokio::spawn(async move {
        let mut pushes = Vec::new();
        while pushes.len() < 10 {
            pushes.push(receiver.recv().await.expect("a push"));
        }
        pushes
    });
    for i in 0..10u8 {
        let reply = sender.request(vec![b'0' + i], S).await.unwrap();
        assert_eq!(&reply[..], &[b'0' + i]);
    }
    let pushes = reading.await.unwrap();
    assert_eq!(pushes.len(), 10);
    assert!(pushes.iter().all(|p| p.starts_with(b"push:")));
    sender.close().await;
}

#[test]
fn the_blocking_client_serves_plain_threads() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let peer = runtime.block_on(Peer::echo());
    let client = LongClient::builder([peer.host()], be2())
        .start_blocking()
        .unwrap();
    client.wait_connected(5 * S).unwrap();
    let (sender, _receiver) = client.split();
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for i in 0..10u8 {
                    // One request at a time across threads (no matching): each gets its own.
                    let reply = sender.request(vec![t, i], 5 * S).unwrap();
                    assert_eq!(&reply[..], &[t, i]);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    sender.close();
    drop(runtime);
}

#[tokio::test]
async fn a_blocking_call_inside_a_runtime_is_refused_not_a_panic() {
    let peer = Peer::echo().await;
    let client = LongClient::builder([peer.host()], be2())
        .start_blocking()
        .unwrap();
    let err = client.send(Bytes::from_static(b"x")).unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
}

#[tokio::test]
async fn a_send_without_connection_is_not_sent_by_its_deadline() {
    let client = LongClient::builder([closed_port().await], be2())
        .backoff(Backoff::new(10 * MS, 10 * MS))
        .start()
        .unwrap();
    let err = client
        .send_timeout(&b"lost?"[..], 100 * MS)
        .await
        .unwrap_err();
    assert!(err.is_not_sent(), "{err}");
    client.close().await;
}

#[tokio::test]
async fn local_addr_is_the_address_the_peer_sees_while_connected() {
    // The peer writes back the address it accepted the connection from.
    let peer = Peer::start(|mut conn| async move {
        let seen = conn.peer.to_string();
        conn.write(seen.as_bytes()).await;
        while conn.read().await.is_some() {}
    })
    .await;
    let mut client = LongClient::builder([peer.host()], be2())
        .reconnect(false)
        .start()
        .unwrap();
    assert_eq!(client.local_addr(), None, "nothing before a connection");
    client.wait_connected(5 * S).await.unwrap();
    let local = client.local_addr().expect("the connection's local address");
    let seen = tokio::time::timeout(5 * S, client.recv()).await.unwrap();
    assert_eq!(seen.as_deref(), Some(local.to_string().as_bytes()));
    assert_ne!(local.port(), peer.addr.port());
    client.close().await;
    assert_eq!(client.local_addr(), None, "none once closed");
}

#[tokio::test]
async fn without_reconnect_the_client_shuts_down_when_its_connection_ends() {
    let peer = Peer::start(|mut conn| async move {
        conn.write(b"bye").await;
    })
    .await;
    let mut client = LongClient::builder([peer.host()], be2())
        .reconnect(false)
        .start()
        .unwrap();
    let mut events = client.events();
    let first = tokio::time::timeout(5 * S, client.recv()).await.unwrap();
    assert_eq!(first.as_deref(), Some(&b"bye"[..]));
    assert_eq!(
        tokio::time::timeout(5 * S, client.recv()).await.unwrap(),
        None
    );
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push(e);
    }
    assert!(
        matches!(
            &seen[..],
            [
                Event::Connected { .. },
                Event::Disconnected { .. },
                Event::Shutdown
            ]
        ),
        "{seen:?}"
    );
    assert!(client.last_failure().is_some());
    assert!(matches!(
        client.send(&b"late"[..]).await,
        Err(Error::Shutdown)
    ));
}

/// A BASE24-TCP peer: `be:2,trailer=03,counts-trailer` messages, a bare `00 00` keep-alive
/// answered with `00 00`, and a link dropped at `00 01 03` ("receive length 0 seems strange").
#[tokio::test(start_paused = true)]
async fn zero_frame_heartbeats_keep_a_base24_link_alive() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let keepalives = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&keepalives);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                loop {
                    let mut len = [0u8; 2];
                    if stream.read_exact(&mut len).await.is_err() {
                        return;
                    }
                    let len = usize::from(u16::from_be_bytes(len));
                    if len == 0 {
                        seen.fetch_add(1, Ordering::SeqCst);
                        let _ = stream.write_all(b"\x00\x00").await;
                        continue;
                    }
                    if len == 1 {
                        // A framed empty message: refused, the link dropped.
                        return;
                    }
                    let mut rest = vec![0u8; len];
                    if stream.read_exact(&mut rest).await.is_err() {
                        return;
                    }
                    let mut reply = (len as u16).to_be_bytes().to_vec();
                    reply.extend_from_slice(&rest);
                    let _ = stream.write_all(&reply).await;
                }
            });
        }
    });
    let timing = HeartbeatTiming {
        idle: 30 * S,
        reply_timeout: 5 * S,
        max_missed: 2,
    };
    let client = LongClient::builder(
        [addr.to_string()],
        "be:2,trailer=03,counts-trailer".parse().unwrap(),
    )
    .heartbeat(Heartbeat::empty_frame(timing))
    .start()
    .unwrap();
    let mut events = client.events();
    client.wait_connected(S).await.unwrap();
    // Ten idle intervals: a heartbeat each, answered; never a disconnect.
    tokio::time::sleep(10 * 30 * S + S).await;
    assert_eq!(keepalives.load(Ordering::SeqCst), 10);
    let reply = client.request(&b"0800"[..], S).await.unwrap();
    assert_eq!(&reply[..], b"0800");
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push(e);
    }
    assert!(
        !seen.iter().any(|e| matches!(
            e,
            Event::Disconnected { .. } | Event::HeartbeatMissed { .. }
        )),
        "{seen:?}"
    );
    client.close().await;
}
