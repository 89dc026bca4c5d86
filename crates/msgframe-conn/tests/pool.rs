//! A pool of long connections on loopback: requests spread evenly, a dead connection fails only
//! its own requests, a request its connection had not taken goes to another.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use msgframe_conn::policy::Spread;
use msgframe_conn::{Backoff, Connection, Error, LongClient, Reply, Server};
use support::{be2, Peer};

const MS: Duration = Duration::from_millis(1);
const S: Duration = Duration::from_secs(1);

fn key(m: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(m.get(..4)?.try_into().ok()?))
}

/// An echo server that counts the messages of each connection.
async fn counting_server() -> (String, Arc<Mutex<HashMap<u64, usize>>>) {
    let counts = Arc::new(Mutex::new(HashMap::new()));
    let seen = Arc::clone(&counts);
    let server = Server::builder(be2()).bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().to_string();
    tokio::spawn(server.serve(move |conn: Connection, m: Bytes| {
        let seen = Arc::clone(&seen);
        async move {
            *seen.lock().unwrap().entry(conn.id()).or_insert(0) += 1;
            Reply::Send(m)
        }
    }));
    (addr, counts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_requests_spread_within_ten_percent_of_even() {
    for spread in [Spread::RoundRobin, Spread::FewestInFlight] {
        let (addr, counts) = counting_server().await;
        let pool = Arc::new(
            LongClient::builder([addr], be2())
                .match_replies(key)
                .start_pool(4, spread)
                .unwrap(),
        );
        assert_eq!(pool.wait_connected(5 * S).await.unwrap(), 4);
        let mut tasks = tokio::task::JoinSet::new();
        for worker in 0..64u32 {
            let pool = Arc::clone(&pool);
            tasks.spawn(async move {
                for i in 0..10_000u32 / 64 + 1 {
                    let n = worker * 1_000 + i;
                    if n % 1_000 >= 10_000 / 64 + u32::from(worker < 10_000 % 64) {
                        break;
                    }
                    let reply = pool
                        .request(n.to_be_bytes().to_vec(), 10 * S)
                        .await
                        .unwrap();
                    assert_eq!(key(&reply), Some(n));
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        let counts: Vec<usize> = counts.lock().unwrap().values().copied().collect();
        assert_eq!(counts.len(), 4, "{spread:?}: {counts:?}");
        assert_eq!(counts.iter().sum::<usize>(), 10_000);
        for &c in &counts {
            assert!((2_250..=2_750).contains(&c), "{spread:?}: {counts:?}");
        }
        let links = pool.links();
        assert_eq!(links.iter().map(|l| l.requests).sum::<u64>(), 10_000);
        assert!(links.iter().all(|l| l.failed == 0 && l.in_flight == 0));
        pool.close().await;
    }
}

/// A peer that answers each request after `delay`, one at a time per connection, and can drop
/// its first connection.
async fn slow_peer(delay: Duration) -> (Peer, Arc<tokio::sync::Notify>, Arc<tokio::sync::Notify>) {
    let kill = Arc::new(tokio::sync::Notify::new());
    let got = Arc::new(tokio::sync::Notify::new());
    let first = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (k, g) = (Arc::clone(&kill), Arc::clone(&got));
    let peer = Peer::start(move |mut conn| {
        let (kill, got) = (Arc::clone(&k), Arc::clone(&g));
        let is_first = first.swap(false, std::sync::atomic::Ordering::SeqCst);
        async move {
            let killed = async {
                if is_first {
                    kill.notified().await
                } else {
                    std::future::pending().await
                }
            };
            tokio::pin!(killed);
            loop {
                tokio::select! {
                    m = conn.read() => {
                        let Some(m) = m else { return };
                        if is_first {
                            // The first connection has a request written to it.
                            got.notify_one();
                        }
                        tokio::select! {
                            () = tokio::time::sleep(delay) => conn.write(&m).await,
                            () = &mut killed => return,
                        }
                    }
                    () = &mut killed => return,
                }
            }
        }
    })
    .await;
    (peer, kill, got)
}

#[tokio::test]
async fn a_dead_connection_fails_only_its_own_and_what_it_had_not_taken_moves() {
    // One request at a time per connection (no key function): requests beyond wait for a slot.
    let (peer, kill, got) = slow_peer(300 * MS).await;
    let pool = Arc::new(
        LongClient::builder([peer.host()], be2())
            .backoff(Backoff::new(10 * S, 10 * S))
            .start_pool(2, Spread::RoundRobin)
            .unwrap(),
    );
    pool.wait_connected(5 * S).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..4u8 {
        let pool = Arc::clone(&pool);
        tasks.push(tokio::spawn(
            async move { pool.request(vec![i], 5 * S).await },
        ));
        tokio::time::sleep(5 * MS).await;
    }
    // The first connection dies with one request written and one waiting for its slot.
    got.notified().await;
    tokio::time::sleep(20 * MS).await;
    kill.notify_one();
    let mut lost = 0;
    let mut answered = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(reply) => {
                assert_eq!(reply.len(), 1);
                answered += 1;
            }
            Err(Error::ConnectionLost { written: true, .. }) => lost += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((lost, answered), (1, 3));
    let moved: u64 = pool.links().iter().map(|l| l.moved).sum();
    assert_eq!(moved, 1, "{:?}", pool.links());
    pool.close().await;
}

#[test]
fn a_blocking_pool_serves_plain_threads() {
    let server = Server::builder(be2()).bind_blocking("127.0.0.1:0").unwrap();
    let addr = server.local_addr().to_string();
    let handle = server.handle();
    let serving = std::thread::spawn(move || server.serve(|_c, m| Reply::Send(m)));
    let pool = LongClient::builder([addr], be2())
        .start_pool_blocking(3, Spread::RoundRobin)
        .unwrap();
    assert_eq!(pool.wait_connected(5 * S).unwrap(), 3);
    for i in 0..30u8 {
        assert_eq!(&pool.request(vec![i], 5 * S).unwrap()[..], &[i]);
    }
    let links = pool.links();
    assert!(links.iter().all(|l| l.requests == 10), "{links:?}");
    pool.close();
    handle.shutdown();
    serving.join().unwrap().unwrap();
}

mod spread_rules {
    use msgframe_conn::policy::{pick, LinkView, Spread};
    use proptest::prelude::*;

    fn view() -> impl Strategy<Value = LinkView> {
        (any::<bool>(), 0usize..8, any::<bool>()).prop_map(|(up, in_flight, tried)| LinkView {
            up,
            in_flight,
            tried,
        })
    }

    proptest! {
        #[test]
        fn a_pick_is_never_a_tried_link_and_prefers_a_connected_one(
            links in proptest::collection::vec(view(), 0..8),
            turn in any::<usize>(),
            fewest in any::<bool>(),
        ) {
            let spread = if fewest { Spread::FewestInFlight } else { Spread::RoundRobin };
            let ready: Vec<usize> = (0..links.len()).filter(|&i| links[i].up && !links[i].tried).collect();
            match pick(spread, turn, &links) {
                Some(i) => {
                    prop_assert!(!links[i].tried);
                    if !ready.is_empty() {
                        prop_assert!(ready.contains(&i));
                        if fewest {
                            let least = ready.iter().map(|&r| links[r].in_flight).min();
                            prop_assert_eq!(Some(links[i].in_flight), least);
                        }
                    } else {
                        // Waiting on a down link only when none is up.
                        prop_assert!(links.iter().all(|l| !l.up));
                    }
                }
                None => {
                    prop_assert!(ready.is_empty());
                    prop_assert!(links.iter().any(|l| l.up) || links.iter().all(|l| l.tried));
                }
            }
        }

        #[test]
        fn round_robin_over_untouched_links_is_even(n in 1usize..8, start in 0usize..1000) {
            let links = vec![LinkView { up: true, in_flight: 0, tried: false }; n];
            let mut counts = vec![0usize; n];
            for turn in start..start + 10 * n {
                counts[pick(Spread::RoundRobin, turn, &links).unwrap()] += 1;
            }
            prop_assert!(counts.iter().all(|&c| c == 10));
        }
    }
}
