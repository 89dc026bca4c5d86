//! Link groups on loopback: under all-or-nothing, one broken link closes every link, requests in
//! flight fail once and at once, nothing is written while the group is incomplete, and the group
//! is rebuilt together; independent links go on.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use msgframe_conn::policy::Spread;
use msgframe_conn::{Backoff, Disconnect, Error, Event, GroupEvent, GroupRule, LongClient};
use support::{be2, Peer};
use tokio::sync::broadcast;

const MS: Duration = Duration::from_millis(1);
const S: Duration = Duration::from_secs(1);

fn key(m: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(m.get(..4)?.try_into().ok()?))
}

/// A host answering each message after `delay` (concurrently), counting the messages it gets;
/// its first connection can be cut.
async fn host(delay: Duration) -> (Peer, Arc<tokio::sync::Notify>, Arc<AtomicUsize>) {
    let kill = Arc::new(tokio::sync::Notify::new());
    let received = Arc::new(AtomicUsize::new(0));
    let first = Arc::new(AtomicBool::new(true));
    let (k, r) = (Arc::clone(&kill), Arc::clone(&received));
    let peer = Peer::start(move |conn| {
        let (kill, received) = (Arc::clone(&k), Arc::clone(&r));
        let is_first = first.swap(false, Ordering::SeqCst);
        async move {
            let support::Conn {
                mut reader, writer, ..
            } = conn;
            let writer = Arc::new(tokio::sync::Mutex::new(writer));
            // Replies on their way die with the connection.
            let mut replies = tokio::task::JoinSet::new();
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
                    m = reader.read_message() => {
                        let Ok(m) = m else { return };
                        received.fetch_add(1, Ordering::SeqCst);
                        let writer = Arc::clone(&writer);
                        replies.spawn(async move {
                            tokio::time::sleep(delay).await;
                            let _ = writer.lock().await.write_message(&m).await;
                        });
                    }
                    () = &mut killed => {
                        replies.abort_all();
                        while replies.join_next().await.is_some() {}
                        return;
                    }
                }
            }
        }
    })
    .await;
    (peer, kill, received)
}

/// The next group event `pick` takes, within 5 s.
async fn group_event<T>(
    events: &mut broadcast::Receiver<GroupEvent>,
    mut pick: impl FnMut(GroupEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(5 * S, async {
        loop {
            if let Some(t) = pick(events.recv().await.expect("events")) {
                return t;
            }
        }
    })
    .await
    .expect("the group event in time")
}

fn broken(e: GroupEvent) -> Option<usize> {
    match e {
        GroupEvent::Broken { link, .. } => Some(link),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_or_nothing_closes_every_link_and_writes_nothing_until_rebuilt() {
    let (peer, kill, received) = host(300 * MS).await;
    let group = Arc::new(
        LongClient::builder([peer.host()], be2())
            .match_replies(key)
            .backoff(Backoff::new(300 * MS, 300 * MS).jitter(0.0))
            .start_group(3, GroupRule::AllOrNothing, Spread::RoundRobin)
            .unwrap(),
    );
    let mut events = group.group_events();
    let mut link_events: Vec<_> = group.clients().map(LongClient::events).collect();
    group.wait_connected(5 * S).await.unwrap();
    while !group.is_complete() {
        tokio::time::sleep(5 * MS).await;
    }
    // 30 requests in flight over the three links, then the first link is cut.
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..30u32 {
        let group = Arc::clone(&group);
        tasks.spawn(async move { group.request(n.to_be_bytes().to_vec(), 10 * S).await });
    }
    while received.load(Ordering::SeqCst) < 30 {
        tokio::time::sleep(5 * MS).await;
    }
    kill.notify_one();
    // Every request in flight fails once and at once (none waits for the rebuild).
    let started = tokio::time::Instant::now();
    while let Some(done) = tasks.join_next().await {
        let err = done.unwrap().unwrap_err();
        assert!(
            matches!(err, Error::ConnectionLost { written: true, .. }),
            "{err}"
        );
    }
    // At once: well before their 10 s deadlines (and with no reply ever coming).
    assert!(started.elapsed() < 2 * S, "{:?}", started.elapsed());
    let cut = group_event(&mut events, broken).await;
    // Every link was closed: the cut one by its peer, the others by the rule.
    for (i, link) in link_events.iter_mut().enumerate() {
        let reason = loop {
            match link.recv().await.unwrap() {
                Event::Disconnected { reason, .. } => break reason,
                _ => continue,
            }
        };
        assert_eq!(
            matches!(*reason, Disconnect::GroupBroken),
            i != cut,
            "link {i}: {reason}"
        );
    }
    // Requests made now wait: nothing reaches the host while the group is incomplete.
    let before = received.load(Ordering::SeqCst);
    let waiting = {
        let group = Arc::clone(&group);
        tokio::spawn(async move { group.request(99u32.to_be_bytes().to_vec(), 10 * S).await })
    };
    while !group.is_complete() {
        assert_eq!(
            received.load(Ordering::SeqCst),
            before,
            "written while incomplete"
        );
        tokio::time::sleep(2 * MS).await;
    }
    group_event(&mut events, |e| {
        matches!(e, GroupEvent::Complete).then_some(())
    })
    .await;
    let reply = waiting.await.unwrap().unwrap();
    assert_eq!(key(&reply), Some(99));
    group.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_links_go_on_when_one_breaks() {
    let (peer, kill, _) = host(10 * MS).await;
    let group = LongClient::builder([peer.host()], be2())
        .match_replies(key)
        .backoff(Backoff::new(5 * S, 5 * S))
        .start_group(3, GroupRule::Independent, Spread::RoundRobin)
        .unwrap();
    let mut events = group.group_events();
    group.wait_connected(5 * S).await.unwrap();
    while !group.is_complete() {
        tokio::time::sleep(5 * MS).await;
    }
    kill.notify_one();
    let cut = group_event(&mut events, broken).await;
    // The other two serve every request meanwhile.
    for n in 0..20u32 {
        let reply = group
            .request(n.to_be_bytes().to_vec(), 2 * S)
            .await
            .unwrap();
        assert_eq!(key(&reply), Some(n));
    }
    let links = group.links();
    for (i, link) in links.iter().enumerate() {
        assert_eq!(link.connected_to.is_none(), i == cut, "{links:?}");
    }
    group.close().await;
}

mod group_rules {
    use msgframe_conn::policy::{GroupRule, GroupState};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_group_rule_keeps_its_promises(
            n in 1usize..6,
            all_or_nothing in any::<bool>(),
            events in proptest::collection::vec((0usize..6, any::<bool>()), 0..60),
        ) {
            let rule = if all_or_nothing { GroupRule::AllOrNothing } else { GroupRule::Independent };
            let mut g = GroupState::new(n, rule);
            let mut up = vec![false; n];
            for (link, connects) in events {
                let link = link % n;
                let was_complete = up.iter().all(|u| *u);
                if connects {
                    up[link] = true;
                    let a = g.connected(link);
                    // Complete once, when the last link comes up.
                    prop_assert_eq!(a.complete, !was_complete && up.iter().all(|u| *u));
                    prop_assert!(a.close.is_empty() && a.broken.is_none());
                } else {
                    up[link] = false;
                    let a = g.disconnected(link, false);
                    prop_assert_eq!(a.broken, Some(link));
                    prop_assert!(!a.complete);
                    let others: Vec<usize> = (0..n).filter(|&j| up[j]).collect();
                    if all_or_nothing {
                        // Every other link up is closed, and only those.
                        prop_assert_eq!(&a.close, &others);
                        for j in a.close {
                            up[j] = false;
                            let by_rule = g.disconnected(j, true);
                            prop_assert!(by_rule.close.is_empty() && by_rule.broken.is_none());
                        }
                        prop_assert!(up.iter().all(|u| !*u), "nothing stays up after a break");
                    } else {
                        prop_assert!(a.close.is_empty());
                    }
                }
                prop_assert_eq!(g.is_complete(), up.iter().all(|u| *u));
            }
        }
    }
}
