//! One call of a pool or link group: the link it goes to, and where it goes when that link drops
//! before taking it. Generic over the link, so the same code runs on [`LongClient`]s and, in the
//! tests below, on simulated links under a paused clock.

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use tokio::sync::watch;
use tokio::time::Instant;

use super::long::LongClient;
use crate::error::NotSent;
use crate::message::Key;
use crate::policy::group::GroupRule;
use crate::policy::spread::{pick, LinkView, Spread};
use crate::Error;

/// What a call needs of a link.
pub(crate) trait CallLink {
    /// Whether the link is connected now.
    fn is_up(&self) -> bool;

    /// Completes once the link is down.
    fn down(&self) -> impl Future<Output = ()> + Send + 'static;

    /// Sends a request and waits for its reply by `deadline`; given up untaken
    /// ([`NotSent::Closed`]) when `leave` completes before the link took it.
    fn request_until(
        &self,
        body: Bytes,
        deadline: Instant,
        leave: impl Future<Output = ()> + Send,
    ) -> impl Future<Output = Result<Bytes, Error>> + Send;
}

impl<K: Key> CallLink for LongClient<K> {
    fn is_up(&self) -> bool {
        self.connected_to().is_some()
    }

    fn down(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut state = self.state();
        async move {
            let _ = state.wait_for(|s| s.connected.is_none()).await;
        }
    }

    fn request_until(
        &self,
        body: Bytes,
        deadline: Instant,
        leave: impl Future<Output = ()> + Send,
    ) -> impl Future<Output = Result<Bytes, Error>> + Send {
        self.sender_ref().request_until(body, deadline, leave)
    }
}

/// A link of a pool, with its counters.
pub(crate) struct Member<L> {
    pub(crate) link: L,
    pub(crate) in_flight: AtomicUsize,
    pub(crate) requests: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) moved: AtomicU64,
}

impl<L> Member<L> {
    pub(crate) fn new(link: L) -> Self {
        Member {
            link,
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            moved: AtomicU64::new(0),
        }
    }
}

/// How a pool's calls choose their links.
pub(crate) struct Calls {
    pub(crate) spread: Spread,
    pub(crate) turn: AtomicUsize,
    pub(crate) rule: GroupRule,
    /// Whether every link is up (what an all-or-nothing group waits for).
    pub(crate) complete: watch::Receiver<bool>,
}

impl Calls {
    /// Sends `body` on one of `members` by the spread and waits for its reply, all by
    /// `deadline`. A link that drops before taking it hands it to another not tried yet; one
    /// that took it ends it there with its exact outcome, so nothing is written twice. Under
    /// [`GroupRule::AllOrNothing`] nothing is written while the group is incomplete, and a
    /// request the group's break catches untaken waits for the group again.
    pub(crate) async fn request<L: CallLink>(
        &self,
        members: &[Member<L>],
        body: Bytes,
        deadline: Instant,
    ) -> Result<Bytes, Error> {
        let mut tried = vec![false; members.len()];
        let mut last = None;
        let out_of_time = |last: Option<Error>| {
            last.unwrap_or(Error::not_sent(NotSent::Deadline { last_failure: None }))
        };
        loop {
            if self.rule == GroupRule::AllOrNothing {
                // Nothing is written while the group is incomplete.
                let mut complete = self.complete.clone();
                let waited = tokio::time::timeout_at(deadline, complete.wait_for(|c| *c))
                    .await
                    .map(|complete| complete.is_ok());
                match waited {
                    Err(_) => return Err(out_of_time(last)),
                    // The group's watcher ended: every link has shut down.
                    Ok(false) => return Err(Error::Shutdown),
                    Ok(true) if complete.has_changed().is_err() => return Err(Error::Shutdown),
                    Ok(true) => {}
                }
                tried.iter_mut().for_each(|t| *t = false);
            }
            let views: Vec<LinkView> = members
                .iter()
                .zip(&tried)
                .map(|(m, &tried)| LinkView {
                    up: m.link.is_up(),
                    in_flight: m.in_flight.load(Ordering::Relaxed),
                    tried,
                })
                .collect();
            let turn = self.turn.fetch_add(1, Ordering::Relaxed);
            let Some(i) = pick(self.spread, turn, &views) else {
                return Err(out_of_time(last));
            };
            tried[i] = true;
            let member = &members[i];
            // Given up untaken when this link drops (while it is up; a link that is down
            // already is waited on), or when the group breaks.
            let down = member.link.down();
            let was_up = views[i].up;
            let mut complete = self.complete.clone();
            let whole_group = self.rule == GroupRule::AllOrNothing;
            let leave = async move {
                if !was_up {
                    std::future::pending::<()>().await;
                }
                tokio::select! {
                    () = down => {}
                    _ = complete.wait_for(|c| !*c), if whole_group => {}
                }
            };
            member.in_flight.fetch_add(1, Ordering::Relaxed);
            let result = member
                .link
                .request_until(body.clone(), deadline, leave)
                .await;
            member.in_flight.fetch_sub(1, Ordering::Relaxed);
            match result {
                Err(Error::NotSent {
                    reason: NotSent::Closed,
                }) if Instant::now() < deadline => {
                    member.moved.fetch_add(1, Ordering::Relaxed);
                    last = Some(Error::not_sent(NotSent::Closed));
                }
                result => {
                    member.requests.fetch_add(1, Ordering::Relaxed);
                    if result.is_err() {
                        member.failed.fetch_add(1, Ordering::Relaxed);
                    }
                    return result;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Pools and groups on simulated links under a paused clock: links go down and come back at
    //! random, take requests after random delays, answer, lose them or stay silent. Whatever
    //! happens, every call ends by its deadline, nothing is written twice, an answered call was
    //! written once and a call not sent was written nowhere, and an all-or-nothing group writes
    //! nothing while incomplete.

    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;
    use crate::error::Disconnect;

    /// What a simulated link does with one request it is given.
    #[derive(Debug, Clone, Copy)]
    struct Plan {
        /// When it takes (writes) the request, after it is given.
        take_after_ms: u64,
        /// How the call ends once written: answered after so long, lost with the link, or
        /// never answered (timed out at the deadline).
        end: End,
    }

    #[derive(Debug, Clone, Copy)]
    enum End {
        Answer { after_ms: u64 },
        Lost { after_ms: u64 },
        Silent,
    }

    /// What the links saw, for the checks.
    #[derive(Default)]
    struct World {
        /// How many times each call's body was written, on any link.
        written: HashMap<u32, usize>,
        /// Calls handed back untaken before their deadline (moved to another link).
        handed_back: u64,
        /// Writes made while an all-or-nothing group was incomplete.
        written_incomplete: usize,
    }

    struct SimLink {
        up: watch::Receiver<bool>,
        complete: watch::Receiver<bool>,
        all_or_nothing: bool,
        plans: Mutex<std::collections::VecDeque<Plan>>,
        world: Arc<Mutex<World>>,
    }

    fn id_of(body: &[u8]) -> u32 {
        u32::from_be_bytes(body[..4].try_into().unwrap())
    }

    impl CallLink for SimLink {
        fn is_up(&self) -> bool {
            *self.up.borrow()
        }

        fn down(&self) -> impl Future<Output = ()> + Send + 'static {
            let mut up = self.up.clone();
            async move {
                let _ = up.wait_for(|u| !*u).await;
            }
        }

        fn request_until(
            &self,
            body: Bytes,
            deadline: Instant,
            leave: impl Future<Output = ()> + Send,
        ) -> impl Future<Output = Result<Bytes, Error>> + Send {
            let plan = self.plans.lock().unwrap().pop_front().unwrap_or(Plan {
                take_after_ms: 1,
                end: End::Answer { after_ms: 1 },
            });
            let mut up = self.up.clone();
            let complete = self.complete.clone();
            let all_or_nothing = self.all_or_nothing;
            let world = Arc::clone(&self.world);
            async move {
                tokio::pin!(leave);
                let not_sent = || Error::not_sent(NotSent::Deadline { last_failure: None });
                // A link that is down keeps the request queued until it is up again.
                tokio::select! {
                    biased;
                    () = &mut leave => {
                        if Instant::now() < deadline {
                            world.lock().unwrap().handed_back += 1;
                        }
                        return Err(Error::not_sent(NotSent::Closed));
                    }
                    waited = tokio::time::timeout_at(deadline, up.wait_for(|u| *u)) => {
                        if waited.is_err() {
                            return Err(not_sent());
                        }
                    }
                }
                let take_at = Instant::now() + Duration::from_millis(plan.take_after_ms);
                tokio::select! {
                    biased;
                    () = &mut leave => {
                        // Moved to another link unless its time is up.
                        if Instant::now() < deadline {
                            world.lock().unwrap().handed_back += 1;
                        }
                        return Err(Error::not_sent(NotSent::Closed));
                    }
                    () = tokio::time::sleep_until(take_at.min(deadline)) => {}
                }
                if take_at > deadline || !*up.borrow() {
                    // Not taken by the deadline, or the link dropped in the same instant.
                    return Err(not_sent());
                }
                {
                    let mut w = world.lock().unwrap();
                    *w.written.entry(id_of(&body)).or_default() += 1;
                    if all_or_nothing && !*complete.borrow() {
                        w.written_incomplete += 1;
                    }
                }
                let lost = || Error::lost(true, &Arc::new(Disconnect::PeerClosed));
                let timed_out = || Error::TimedOut {
                    written: true,
                    elapsed: Duration::ZERO,
                };
                let (ends_at, answered) = match plan.end {
                    End::Answer { after_ms } => {
                        (Instant::now() + Duration::from_millis(after_ms), true)
                    }
                    End::Lost { after_ms } => {
                        (Instant::now() + Duration::from_millis(after_ms), false)
                    }
                    End::Silent => (deadline, false),
                };
                tokio::select! {
                    biased;
                    _ = up.wait_for(|u| !*u) => Err(lost()),
                    () = tokio::time::sleep_until(ends_at.min(deadline)) => {
                        if ends_at > deadline || matches!(plan.end, End::Silent) {
                            Err(timed_out())
                        } else if answered {
                            Ok(body)
                        } else {
                            Err(lost())
                        }
                    }
                }
            }
        }
    }

    fn plan() -> impl Strategy<Value = Plan> {
        (
            0u64..30,
            prop_oneof![
                6 => (0u64..40).prop_map(|after_ms| End::Answer { after_ms }),
                1 => (0u64..40).prop_map(|after_ms| End::Lost { after_ms }),
                1 => Just(End::Silent),
            ],
        )
            .prop_map(|(take_after_ms, end)| Plan { take_after_ms, end })
    }

    #[derive(Debug, Clone)]
    struct Scenario {
        links: usize,
        all_or_nothing: bool,
        fewest: bool,
        /// Per link, what it does with each request given to it, in order.
        plans: Vec<Vec<Plan>>,
        /// (at ms, link): the link goes down, or comes back up.
        flips: Vec<(u64, usize)>,
        /// (starts at ms, timeout ms) per call.
        calls: Vec<(u64, u64)>,
    }

    fn scenario() -> impl Strategy<Value = Scenario> {
        (1usize..5, any::<bool>(), any::<bool>()).prop_flat_map(
            |(links, all_or_nothing, fewest)| {
                (
                    proptest::collection::vec(proptest::collection::vec(plan(), 0..40), links),
                    proptest::collection::vec((0u64..400, 0..links), 0..16),
                    proptest::collection::vec((0u64..300, 1u64..200), 1..60),
                )
                    .prop_map(move |(plans, flips, calls)| Scenario {
                        links,
                        all_or_nothing,
                        fewest,
                        plans,
                        flips,
                        calls,
                    })
            },
        )
    }

    fn run(s: Scenario) -> Result<(), TestCaseError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async move {
            let world = Arc::new(Mutex::new(World::default()));
            let ups: Vec<watch::Sender<bool>> =
                (0..s.links).map(|_| watch::channel(true).0).collect();
            let (complete_tx, complete) = watch::channel(true);
            let rule = if s.all_or_nothing {
                GroupRule::AllOrNothing
            } else {
                GroupRule::Independent
            };
            let members: Vec<Member<SimLink>> = ups
                .iter()
                .zip(&s.plans)
                .map(|(up, plans)| {
                    Member::new(SimLink {
                        up: up.subscribe(),
                        complete: complete.clone(),
                        all_or_nothing: s.all_or_nothing,
                        plans: Mutex::new(plans.iter().copied().collect()),
                        world: Arc::clone(&world),
                    })
                })
                .collect();
            let calls = Arc::new((
                Calls {
                    spread: if s.fewest {
                        Spread::FewestInFlight
                    } else {
                        Spread::RoundRobin
                    },
                    turn: AtomicUsize::new(0),
                    rule,
                    complete,
                },
                members,
            ));
            let start = Instant::now();
            // Links going down and up; in an all-or-nothing group a break takes every link down
            // (the group closes them), and the group is complete when every link is up.
            let mut flips = s.flips.clone();
            flips.sort_unstable();
            // The links' and the group's watchers live as long as the pool, as in a real one.
            let (ups, complete_tx) = (Arc::new(ups), Arc::new(complete_tx));
            let (keep_ups, keep_complete) = (Arc::clone(&ups), Arc::clone(&complete_tx));
            let flipper = tokio::spawn(async move {
                for (at, link) in flips {
                    tokio::time::sleep_until(start + Duration::from_millis(at)).await;
                    let goes_down = *ups[link].borrow();
                    if goes_down && s.all_or_nothing {
                        complete_tx.send_replace(false);
                        ups.iter().for_each(|u| {
                            u.send_replace(false);
                        });
                    } else {
                        ups[link].send_replace(!goes_down);
                    }
                    complete_tx.send_replace(ups.iter().all(|u| *u.borrow()));
                }
                // Everything comes back for the calls still waiting.
                ups.iter().for_each(|u| {
                    u.send_replace(true);
                });
                complete_tx.send_replace(true);
            });
            let mut tasks = tokio::task::JoinSet::new();
            let mut latest = start;
            for (id, &(at, timeout_ms)) in s.calls.iter().enumerate() {
                let id = u32::try_from(id).unwrap();
                let calls = Arc::clone(&calls);
                let deadline = start + Duration::from_millis(at + timeout_ms);
                latest = latest.max(deadline);
                tasks.spawn(async move {
                    tokio::time::sleep_until(start + Duration::from_millis(at)).await;
                    let mut body = id.to_be_bytes().to_vec();
                    body.extend_from_slice(b" request");
                    let result = calls.0.request(&calls.1, Bytes::from(body), deadline).await;
                    (id, result, Instant::now(), deadline)
                });
            }
            let mut ended = Vec::new();
            let all = async {
                while let Some(done) = tasks.join_next().await {
                    ended.push(done.unwrap());
                }
            };
            // No call hangs: every one ends by the last deadline.
            let finished = tokio::time::timeout_at(latest + Duration::from_millis(1), all).await;
            prop_assert!(finished.is_ok(), "a call still runs after every deadline");
            flipper.abort();
            drop((keep_ups, keep_complete));

            let w = world.lock().unwrap();
            prop_assert_eq!(ended.len(), s.calls.len(), "every call ends once");
            for (id, result, at, deadline) in &ended {
                prop_assert!(at <= deadline, "call {} ended after its deadline", id);
                let written = w.written.get(id).copied().unwrap_or(0);
                prop_assert!(written <= 1, "call {} written {} times", id, written);
                match result {
                    Ok(reply) => {
                        prop_assert_eq!(id_of(reply), *id, "a reply goes to its own call");
                        prop_assert_eq!(written, 1);
                    }
                    Err(e) if e.is_not_sent() => {
                        prop_assert_eq!(written, 0, "call {} not sent but written: {}", id, e);
                    }
                    Err(e) => prop_assert_eq!(written, 1, "call {} ended with {} unwritten", id, e),
                }
            }
            prop_assert_eq!(
                w.written_incomplete,
                0,
                "written while the group was incomplete"
            );
            let (_, members) = &*calls;
            let moved: u64 = members
                .iter()
                .map(|m| m.moved.load(Ordering::Relaxed))
                .sum();
            prop_assert_eq!(
                moved,
                w.handed_back,
                "every call handed back is counted as moved"
            );
            let ended_on_links: u64 = members
                .iter()
                .map(|m| m.requests.load(Ordering::Relaxed))
                .sum();
            prop_assert!(ended_on_links <= s.calls.len() as u64);
            prop_assert!(members
                .iter()
                .all(|m| m.in_flight.load(Ordering::Relaxed) == 0));
            Ok(())
        })
    }

    #[test]
    fn a_call_on_a_group_whose_links_all_shut_down_ends_at_once() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            for last_seen_complete in [false, true] {
                // The links' and the group's watchers are gone, as after `close()`.
                let (complete_tx, complete) = watch::channel(last_seen_complete);
                let (up_tx, up) = watch::channel(true);
                drop((complete_tx, up_tx));
                let link = SimLink {
                    up,
                    complete: complete.clone(),
                    all_or_nothing: true,
                    plans: Mutex::new(std::collections::VecDeque::new()),
                    world: Arc::default(),
                };
                let calls = Calls {
                    spread: Spread::RoundRobin,
                    turn: AtomicUsize::new(0),
                    rule: GroupRule::AllOrNothing,
                    complete,
                };
                let started = Instant::now();
                let deadline = started + Duration::from_secs(60);
                let result = calls
                    .request(
                        &[Member::new(link)],
                        Bytes::from_static(b"\0\0\0\0x"),
                        deadline,
                    )
                    .await;
                assert!(matches!(result, Err(Error::Shutdown)), "{result:?}");
                assert_eq!(
                    started.elapsed(),
                    Duration::ZERO,
                    "not a wait until the deadline"
                );
            }
        });
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn pool_and_group_calls_end_once_and_are_never_written_twice(s in scenario()) {
            run(s)?;
        }
    }
}
