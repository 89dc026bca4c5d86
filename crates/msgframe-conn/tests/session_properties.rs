//! A client session and a server session talking through a simulated link, on simulated time:
//! random arrival times and link delays, replies reordered across requests (pushed later in any
//! order), write stalls, an application that stops reading, callers that give up, duplicate keys,
//! connection loss and a frozen server at any point, deliberate closes; and two links (a simplex
//! pair), where a reply comes back on the other link and may be read before the client's task
//! learns its request was written. Whatever happens:
//!
//! - every call ends exactly once (a caller that gave up: at most once), by its deadline, with
//!   the right outcome (its own reply; timed out, lost or not sent with the right `written`);
//! - a reply someone waits for is never delivered as unmatched;
//! - no message is lost or duplicated between the link and the application (each is a reply to
//!   one call, or delivered; what the application cannot take is counted);
//! - heartbeats go out only after the idle time, two answering ends do not ping-pong, and a
//!   silent peer is dead within `idle + max_missed × reply_timeout`;
//! - every queue stays within its bound;
//! - a deliberate close ends the session as a shutdown.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use msgframe_conn::session::{
    Caller, ClientEvent, ClientRules, ClientSession, Completed, ServerEvent, ServerRules,
    ServerSession, TransmitKind,
};
use msgframe_conn::{
    AnswerHeartbeats, Disconnect, Error, Heartbeat, HeartbeatTiming, NotSent, Overflow, Reply,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const TIMING: HeartbeatTiming = HeartbeatTiming {
    idle: Duration::from_millis(1000),
    reply_timeout: Duration::from_millis(300),
    max_missed: 3,
};

#[derive(Debug, Clone)]
struct Call(u32, Rc<Cell<bool>>);

impl Caller for Call {
    fn gave_up(&self) -> bool {
        self.1.get()
    }
}

/// `[kind][key: 4][call: 4]`: requests `Q`, replies `A`, sends `S`, pushes `P`.
fn message(kind: u8, key: u32, call: u32) -> Bytes {
    let mut b = vec![kind];
    b.extend_from_slice(&key.to_be_bytes());
    b.extend_from_slice(&call.to_be_bytes());
    b.into()
}

fn key(m: &[u8]) -> Option<u32> {
    match m {
        [b'Q' | b'A', k0, k1, k2, k3, ..] => Some(u32::from_be_bytes([*k0, *k1, *k2, *k3])),
        _ => None,
    }
}

fn call_of(m: &[u8]) -> u32 {
    u32::from_be_bytes([m[5], m[6], m[7], m[8]])
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Request { timeout_ms: u64, reuse: bool },
    Send { timeout_ms: u64 },
    GiveUp,
    ServerPush,
    AppRead(u8),
    AppStop,
    AppResume,
    Lose,
    Freeze,
    Close,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (10u64..3000, prop::bool::weighted(0.1))
            .prop_map(|(timeout_ms, reuse)| Action::Request { timeout_ms, reuse }),
        2 => (10u64..3000).prop_map(|timeout_ms| Action::Send { timeout_ms }),
        1 => Just(Action::GiveUp),
        3 => Just(Action::ServerPush),
        3 => (1u8..5).prop_map(Action::AppRead),
        1 => Just(Action::AppStop),
        1 => Just(Action::AppResume),
        1 => Just(Action::Lose),
        1 => Just(Action::Freeze),
        1 => Just(Action::Close),
    ]
}

#[derive(Debug, Clone)]
struct Scenario {
    overflow: Overflow,
    app_capacity: usize,
    max_in_flight: usize,
    heartbeat: bool,
    /// Two links (simplex): a reply comes back on the other link and may be read before the
    /// client's task learns that its request was written.
    two_links: bool,
    seed: u64,
    actions: Vec<(u64, Action)>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop_oneof![
            Just(Overflow::Drop),
            Just(Overflow::Close),
            Just(Overflow::Backpressure)
        ],
        1usize..6,
        1usize..8,
        any::<bool>(),
        any::<bool>(),
        any::<u64>(),
        prop::collection::vec((0u64..400, action()), 1..60),
    )
        .prop_map(
            |(overflow, app_capacity, max_in_flight, heartbeat, two_links, seed, actions)| {
                Scenario {
                    overflow,
                    app_capacity,
                    max_in_flight,
                    heartbeat,
                    two_links,
                    seed,
                    actions,
                }
            },
        )
}

/// A small deterministic generator for the link's and the server's whims.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[derive(Debug)]
enum Kind {
    Send,
    Request { key: u32, reused: bool },
}

#[derive(Debug)]
struct CallState {
    kind: Kind,
    deadline: Instant,
    gave_up: Rc<Cell<bool>>,
    started: bool,
    /// Its bytes are on the wire.
    on_wire: bool,
    /// The client's task knows it was written whole.
    written: bool,
    ended: u32,
}

struct Sim {
    s: Scenario,
    now: Instant,
    rng: Rng,
    client: ClientSession<u32, Call>,
    server: ServerSession<Call>,
    server_rules: Arc<ServerRules>,
    /// Messages on the wire, with their arrival times (in order: TCP).
    c2s: VecDeque<(Instant, Bytes)>,
    s2c: VecDeque<(Instant, Bytes)>,
    client_write: Option<(Instant, Bytes, TransmitKind)>,
    /// Two links: when the client's task learns that the bytes it wrote (already on the wire)
    /// are written.
    client_written_at: Option<(Instant, Bytes)>,
    server_write: Option<(Instant, Bytes)>,
    handler: Option<(Instant, Reply)>,
    /// Replies the server will push later, in any order.
    deferred: Vec<Bytes>,
    /// Calls waiting for the client's task to take them (its queue).
    queued: VecDeque<(u32, Bytes)>,
    app: VecDeque<Bytes>,
    app_reading: bool,
    calls: HashMap<u32, CallState>,
    pushes: HashMap<u32, u32>,
    next_call: u32,
    next_key: u32,
    next_push: u32,
    // What happened.
    handled: Vec<Bytes>,
    replied: Vec<Bytes>,
    delivered: Vec<Bytes>,
    refused: u64,
    dropped_reported: u64,
    client_empties: u64,
    client_last_rx: Instant,
    started: Instant,
    client_closed: Option<Arc<Disconnect>>,
    close_requested: bool,
    lost: bool,
    frozen: bool,
}

impl Sim {
    fn new(s: Scenario) -> Self {
        let now = Instant::now();
        let mut rules = ClientRules::new(key)
            .max_in_flight(s.max_in_flight)
            .overflow(s.overflow)
            .close_grace(Duration::from_secs(1))
            .answer_heartbeats(AnswerHeartbeats::empty_frames());
        if s.heartbeat {
            rules = rules.heartbeat(Heartbeat::empty_frame(TIMING));
        }
        let server_rules = Arc::new(
            ServerRules::default()
                .idle_timeout(None)
                .answer_heartbeats(AnswerHeartbeats::empty_frames()),
        );
        Sim {
            rng: Rng(s.seed | 1),
            client: ClientSession::new(Arc::new(rules), now),
            server: {
                let mut server = ServerSession::new(Arc::clone(&server_rules), now);
                if s.seed & 2 == 0 {
                    server.quiet_after_exchange();
                }
                server
            },
            server_rules,
            s,
            now,
            c2s: VecDeque::new(),
            s2c: VecDeque::new(),
            client_write: None,
            client_written_at: None,
            server_write: None,
            handler: None,
            deferred: Vec::new(),
            queued: VecDeque::new(),
            app: VecDeque::new(),
            app_reading: true,
            calls: HashMap::new(),
            pushes: HashMap::new(),
            next_call: 0,
            next_key: 0,
            next_push: 0,
            handled: Vec::new(),
            replied: Vec::new(),
            delivered: Vec::new(),
            refused: 0,
            dropped_reported: 0,
            client_empties: 0,
            client_last_rx: now,
            started: now,
            client_closed: None,
            close_requested: false,
            lost: false,
            frozen: false,
        }
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::Request { timeout_ms, reuse } => {
                let mut open: Vec<u32> = self
                    .calls
                    .iter()
                    .filter(|(_, c)| {
                        matches!(c.kind, Kind::Request { .. }) && c.ended == 0 && !c.gave_up.get()
                    })
                    .map(|(n, _)| *n)
                    .collect();
                open.sort_unstable();
                let (key, reused) = match (reuse, open.first()) {
                    (true, Some(n)) => match self.calls[n].kind {
                        Kind::Request { key, .. } => (key, true),
                        Kind::Send => unreachable!(),
                    },
                    _ => {
                        self.next_key += 1;
                        (self.next_key, false)
                    }
                };
                let n = self.new_call(Kind::Request { key, reused }, timeout_ms);
                self.queued.push_back((n, message(b'Q', key, n)));
            }
            Action::Send { timeout_ms } => {
                let n = self.new_call(Kind::Send, timeout_ms);
                self.queued.push_back((n, message(b'S', 0, n)));
            }
            Action::GiveUp => {
                let mut open: Vec<u32> = self
                    .calls
                    .iter()
                    .filter(|(_, c)| c.ended == 0)
                    .map(|(n, _)| *n)
                    .collect();
                open.sort_unstable();
                if !open.is_empty() {
                    let n = open[self.rng.below(open.len() as u64) as usize];
                    self.calls[&n].gave_up.set(true);
                }
            }
            Action::ServerPush => {
                if !self.frozen && self.server.wants_push() {
                    let body = if !self.deferred.is_empty() && self.rng.below(2) == 0 {
                        let i = self.rng.below(self.deferred.len() as u64) as usize;
                        self.deferred.swap_remove(i)
                    } else {
                        self.next_push += 1;
                        message(b'P', 0, self.next_push)
                    };
                    self.next_push += 1;
                    self.pushes.insert(self.next_push, 0);
                    let caller = Call(self.next_push, Rc::new(Cell::new(false)));
                    self.server.push(self.now, body, caller);
                }
            }
            Action::AppRead(n) => {
                for _ in 0..n {
                    self.app.pop_front();
                }
            }
            Action::AppStop => self.app_reading = false,
            Action::AppResume => self.app_reading = true,
            Action::Lose => {
                if !self.lost {
                    self.lost = true;
                    self.c2s.clear();
                    self.s2c.clear();
                    let reset =
                        || msgframe_io::Error::Io(std::io::ErrorKind::ConnectionReset.into());
                    self.client.handle_read_error(self.now, reset());
                    self.server.handle_read_error(self.now, reset());
                }
            }
            Action::Freeze => self.frozen = true,
            Action::Close => {
                if self.client_closed.is_none() {
                    self.close_requested = true;
                    self.client.close(self.now);
                }
            }
        }
    }

    fn new_call(&mut self, kind: Kind, timeout_ms: u64) -> u32 {
        self.next_call += 1;
        self.calls.insert(
            self.next_call,
            CallState {
                kind,
                deadline: self.now + ms(timeout_ms),
                gave_up: Rc::new(Cell::new(false)),
                started: false,
                on_wire: false,
                written: false,
                ended: 0,
            },
        );
        self.next_call
    }

    /// Does everything due at `now`, until nothing changes.
    fn settle(&mut self) {
        for _ in 0..10_000 {
            if !self.step() {
                self.check_bounds();
                self.maybe_set_aside();
                return;
            }
        }
        panic!("no progress: a livelock at {:?}", self.now - self.started);
    }

    fn step(&mut self) -> bool {
        let now = self.now;
        // The callers: one that gives up leaves the queue; one whose deadline passes before the
        // client's task took its message gives it up, not sent.
        let expired: Vec<u32> = self
            .queued
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| now >= self.calls[n].deadline || self.calls[n].gave_up.get())
            .collect();
        if !expired.is_empty() {
            self.queued.retain(|(n, _)| !expired.contains(n));
            for n in expired {
                if !self.calls[&n].gave_up.get() {
                    self.end(
                        n,
                        &Err(Error::NotSent {
                            reason: NotSent::Deadline { last_failure: None },
                        }),
                    );
                }
            }
            return true;
        }
        // The client's task pulls its queue when the session takes a message.
        if self.client.wants_message() {
            if let Some((n, body)) = self.queued.pop_front() {
                let call = &self.calls[&n];
                let caller = Call(n, Rc::clone(&call.gave_up));
                let deadline = call.deadline;
                match call.kind {
                    Kind::Request { key, .. } => {
                        self.client.request(now, key, body, deadline, caller);
                    }
                    Kind::Send => self.client.send(now, body, deadline, caller),
                }
                return true;
            }
        }
        if let Some(event) = self.client.poll_event() {
            self.client_event(event);
            return true;
        }
        if self.client.is_holding() && self.app.len() < self.s.app_capacity {
            if let Some(m) = self.client.take_held(now) {
                self.delivered.push(m.clone());
                self.app.push_back(m);
                return true;
            }
        }
        if self.app_reading && self.app.len() == self.s.app_capacity && self.rng.below(4) == 0 {
            self.app.pop_front();
            return true;
        }
        if self.client_write.is_none() && self.client_written_at.is_none() {
            if let Some(t) = self.client.poll_transmit(now) {
                if t.body.is_empty() {
                    self.client_empties += 1;
                }
                if !t.body.is_empty() {
                    if let Some(c) = self.calls.get_mut(&call_of(&t.body)) {
                        c.started = true;
                    }
                }
                let stall = match self.rng.below(20) {
                    0 => 200 + self.rng.below(2800),
                    1..=5 => 1 + self.rng.below(50),
                    _ => 0,
                };
                self.client_write = Some((now + ms(stall), t.body, t.kind));
                return true;
            }
        }
        if let Some((at, _, _)) = &self.client_write {
            if *at <= now {
                let Some((_, body, _)) = self.client_write.take() else {
                    unreachable!()
                };
                if !self.lost && !self.client.is_closed() {
                    let two_links = self.s.two_links;
                    if !body.is_empty() {
                        if let Some(c) = self.calls.get_mut(&call_of(&body)) {
                            c.on_wire = true;
                            c.written = !two_links;
                        }
                    }
                    let at = self.arrival(true);
                    self.c2s.push_back((at, body.clone()));
                    if two_links {
                        let lag = match self.rng.below(4) {
                            0 => 50 + self.rng.below(200),
                            _ => self.rng.below(30),
                        };
                        self.client_written_at = Some((now + ms(lag), body));
                    } else {
                        self.client.write_done(now, Ok(()));
                    }
                }
                return true;
            }
        }
        if self.client.wants_read() && self.s2c.front().is_some_and(|(at, _)| *at <= now) {
            let Some((_, m)) = self.s2c.pop_front() else {
                unreachable!()
            };
            self.client_last_rx = now;
            if !m.is_empty() {
                self.handled.push(m.clone());
            }
            self.client.handle_message(now, m);
            return true;
        }
        // After the reads due now: a reply on the other link may come first.
        if self
            .client_written_at
            .as_ref()
            .is_some_and(|(at, _)| *at <= now)
        {
            let Some((_, body)) = self.client_written_at.take() else {
                unreachable!()
            };
            if !self.lost && !self.client.is_closed() {
                if !body.is_empty() {
                    if let Some(c) = self.calls.get_mut(&call_of(&body)) {
                        c.written = true;
                    }
                }
                self.client.write_done(now, Ok(()));
            }
            return true;
        }
        if self.client.poll_timeout().is_some_and(|t| t <= now) {
            let before = self.client.control_queued();
            self.client.handle_timeout(now);
            let heartbeat_queued = self.client.control_queued() > before;
            if heartbeat_queued && self.s.overflow != Overflow::Backpressure {
                assert!(
                    now - self.client_last_rx >= TIMING.idle,
                    "a heartbeat only after the idle time"
                );
            }
            return true;
        }
        !self.frozen && self.server_step()
    }

    fn server_step(&mut self) -> bool {
        let now = self.now;
        if let Some(event) = self.server.poll_event() {
            match event {
                ServerEvent::Handle(m) => {
                    assert!(self.handler.is_none(), "one handler call at a time");
                    let reply = if m.first() == Some(&b'Q') {
                        let mut answer = m.to_vec();
                        answer[0] = b'A';
                        let answer = Bytes::from(answer);
                        match self.rng.below(20) {
                            0..=9 => (now + ms(self.rng.below(200)), Reply::Send(answer)),
                            10..=14 => {
                                self.deferred.push(answer);
                                (now, Reply::Nothing)
                            }
                            15..=17 => (now, Reply::Nothing),
                            _ => (now + ms(self.rng.below(2000)), Reply::Send(answer)),
                        }
                    } else {
                        (now, Reply::Nothing)
                    };
                    self.handler = Some(reply);
                }
                ServerEvent::Done { caller, outcome } => {
                    let ended = self.pushes.get_mut(&caller.0).expect("a push of ours");
                    *ended += 1;
                    assert_eq!(*ended, 1, "a push ends once: {outcome:?}");
                }
                _ => {}
            }
            return true;
        }
        if let Some((at, _)) = &self.handler {
            if *at <= now {
                let Some((_, reply)) = self.handler.take() else {
                    unreachable!()
                };
                self.server.handler_done(now, reply);
                return true;
            }
        }
        if self.server_write.is_none() {
            if let Some(t) = self.server.poll_transmit(now) {
                self.server_write = Some((now + ms(self.rng.below(5)), t.body));
                return true;
            }
        }
        if let Some((at, _)) = &self.server_write {
            if *at <= now {
                let Some((_, body)) = self.server_write.take() else {
                    unreachable!()
                };
                if !self.lost && !self.server.is_closed() {
                    let at = self.arrival(false);
                    self.s2c.push_back((at, body));
                    self.server.write_done(now, Ok(()));
                }
                return true;
            }
        }
        if self.server.wants_read() && self.c2s.front().is_some_and(|(at, _)| *at <= now) {
            let Some((_, m)) = self.c2s.pop_front() else {
                unreachable!()
            };
            self.server.handle_message(now, m, false);
            return true;
        }
        if self.server.poll_timeout().is_some_and(|t| t <= now) {
            self.server.handle_timeout(now);
            return true;
        }
        false
    }

    /// When a message written now arrives: a random delay, never before the one before it.
    fn arrival(&mut self, to_server: bool) -> Instant {
        let at = self.now + ms(self.rng.below(30));
        let last = if to_server {
            self.c2s.back()
        } else {
            self.s2c.back()
        };
        last.map_or(at, |(l, _)| at.max(*l))
    }

    fn client_event(&mut self, event: ClientEvent<Call>) {
        match event {
            ClientEvent::Done { caller, outcome } => {
                self.end(caller.0, &outcome);
                if caller.gave_up() {
                    // The driver cannot hand it over: a reply goes to the application.
                    if let Ok(Completed::Reply(m)) = outcome {
                        self.deliver(m);
                    }
                } else if let Ok(Completed::Reply(m)) = outcome {
                    self.replied.push(m);
                }
            }
            ClientEvent::Deliver(m) => self.deliver(m),
            ClientEvent::IncomingDropped { dropped } => {
                assert!(dropped <= self.refused, "only refused messages are dropped");
                self.dropped_reported = dropped;
            }
            ClientEvent::HeartbeatMissed { .. }
            | ClientEvent::ReadingPaused
            | ClientEvent::ReadingResumed => {}
            ClientEvent::PeerDead { .. } => {
                assert!(self.s.heartbeat && !self.close_requested);
            }
            ClientEvent::Closed(cause) => {
                assert!(self.client_closed.is_none(), "closed once");
                if self.close_requested {
                    assert!(
                        cause.is_shutdown(),
                        "a deliberate close is a shutdown: {cause}"
                    );
                }
                self.client_closed = Some(cause);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    fn deliver(&mut self, m: Bytes) {
        if m.first() == Some(&b'A') {
            let call = &self.calls[&call_of(&m)];
            assert!(
                call.ended > 0 || call.gave_up.get(),
                "a reply someone waits for is never delivered as unmatched"
            );
        }
        if self.app.len() < self.s.app_capacity {
            self.delivered.push(m.clone());
            self.app.push_back(m);
        } else {
            self.refused += 1;
            self.client.delivery_refused(self.now, m);
        }
    }

    fn end(&mut self, n: u32, outcome: &Result<Completed, Error>) {
        let now = self.now;
        let call = self.calls.get_mut(&n).expect("a call of ours");
        call.ended += 1;
        assert_eq!(call.ended, 1, "call {n} ends once: {outcome:?}");
        assert!(
            now <= call.deadline,
            "call {n} ended at {:?} after its deadline {:?}: {outcome:?}",
            now - self.started,
            call.deadline - self.started
        );
        match (outcome, &call.kind) {
            (Ok(Completed::Sent), Kind::Send) => assert!(call.written),
            (Ok(Completed::Reply(m)), Kind::Request { key: k, reused }) => {
                assert_eq!(key(m), Some(*k), "its own key");
                if !reused {
                    // A reused key may be answered by the late reply of the request that had it
                    // before: the protocol's keys must not repeat within a timeout.
                    assert_eq!(call_of(m), n, "its own reply");
                }
                assert!(call.on_wire);
            }
            (Err(Error::TimedOut { written, .. }), _) => {
                assert_eq!(*written, call.written, "call {n}");
                assert!(call.started);
                assert_eq!(now, call.deadline);
            }
            (Err(Error::ConnectionLost { written, .. }), _) => {
                assert_eq!(*written, call.written, "call {n}");
                assert!(call.started);
            }
            (Err(e @ Error::NotSent { .. }), _) => assert!(!call.started, "call {n}: {e}"),
            (Err(Error::DuplicateKey { .. }), Kind::Request { reused, .. }) => {
                assert!(*reused && !call.started);
            }
            (other, kind) => panic!("call {n} ({kind:?}) ended with {other:?}"),
        }
    }

    /// A quiet server session may be set aside and resumed (as the server does off the runtime):
    /// a new session continues it, told how long it waited aside (sometimes less than the quiet
    /// time, sometimes more).
    fn maybe_set_aside(&mut self) {
        let Some(last_activity) = self.server.quiet() else {
            return;
        };
        if self.rng.below(2) == 0 {
            return;
        }
        let aside = Duration::from_millis(self.rng.below(250));
        let set_aside_at = self.now.checked_sub(aside).unwrap_or(self.now);
        self.server = ServerSession::resumed(
            Arc::clone(&self.server_rules),
            self.now,
            last_activity,
            set_aside_at,
        );
    }

    fn check_bounds(&self) {
        if let Some(last_activity) = self.server.quiet() {
            // A connection may be set aside only with nothing under way.
            assert!(last_activity <= self.now);
            assert!(self.server.wants_read() && self.server.wants_push());
            assert!(self
                .server
                .poll_timeout()
                .is_some_and(|at| at > last_activity));
        }
        assert!(self.client.in_flight() <= self.s.max_in_flight);
        assert!(self.client.control_queued() <= 8);
        assert!(self.client.held() <= 2, "held {}", self.client.held());
        assert!(self.app.len() <= self.s.app_capacity);
        if self.s.heartbeat
            && self.s.overflow != Overflow::Backpressure
            && !self.close_requested
            && self.client_closed.is_none()
        {
            assert!(
                self.now - self.client_last_rx <= TIMING.dead_after(),
                "a silent peer is dead within the bound"
            );
        }
        let elapsed = (self.now - self.started).as_millis() as u64;
        let periods = elapsed / TIMING.idle.as_millis() as u64 + 1;
        assert!(
            self.client_empties <= 2 * periods * (u64::from(TIMING.max_missed) + 1),
            "no ping-pong: {} empty frames in {elapsed} ms",
            self.client_empties
        );
    }

    /// The next time anything is due, after `now`.
    fn next_due(&self) -> Option<Instant> {
        let mut times = vec![
            self.client.poll_timeout(),
            self.client_write.as_ref().map(|w| w.0),
            self.client_written_at.as_ref().map(|w| w.0),
            self.s2c.front().map(|m| m.0),
        ];
        times.extend(
            self.queued
                .iter()
                .map(|(n, _)| Some(self.calls[n].deadline)),
        );
        if !self.frozen {
            times.extend([
                self.server.poll_timeout(),
                self.server_write.as_ref().map(|w| w.0),
                self.handler.as_ref().map(|h| h.0),
                self.c2s.front().map(|m| m.0),
            ]);
        }
        times.into_iter().flatten().filter(|t| *t > self.now).min()
    }

    /// Runs until `until`, event by event.
    fn run_until(&mut self, until: Instant) {
        self.settle();
        while let Some(t) = self.next_due().filter(|t| *t <= until) {
            self.now = t;
            self.settle();
        }
        self.now = until;
        self.settle();
    }
}

fn run(s: Scenario) {
    let mut sim = Sim::new(s.clone());
    for (gap, action) in &s.actions {
        let at = sim.now + ms(*gap);
        sim.run_until(at);
        sim.act(*action);
        sim.settle();
    }
    // Everything the script started plays out, then a deliberate close.
    let end = sim.now + Duration::from_secs(4);
    sim.run_until(end);
    if sim.client_closed.is_none() {
        sim.close_requested = true;
        sim.client.close(sim.now);
    }
    let end = sim.now + Duration::from_secs(4);
    sim.run_until(end);
    assert!(sim.client.is_closed(), "closed within the grace");
    // Calls still queued are given up by their callers at their deadlines.
    let last = sim.queued.iter().map(|(n, _)| sim.calls[n].deadline).max();
    if let Some(last) = last {
        sim.run_until(last);
    }
    for (n, call) in &sim.calls {
        if !call.gave_up.get() {
            assert_eq!(call.ended, 1, "call {n} ended: {call:?}");
        }
    }
    // Every message the client handled is exactly one call's reply or one delivery, or was
    // refused by the application's full queue (and counted).
    let mut handled = sim.handled.clone();
    handled.sort();
    let mut seen: Vec<Bytes> = sim.replied.clone();
    seen.extend(sim.delivered.iter().cloned());
    seen.sort();
    seen.dedup();
    assert_eq!(
        seen.len(),
        sim.replied.len() + sim.delivered.len(),
        "no message duplicated"
    );
    // What was not replied or delivered was refused by the full queue.
    let unaccounted = handled.len() - seen.len();
    assert!(
        unaccounted as u64 <= sim.refused,
        "no message lost: {unaccounted} unaccounted, {} refused",
        sim.refused
    );
    if sim.s.overflow != Overflow::Backpressure {
        assert_eq!(sim.dropped_reported, sim.refused, "every drop counted");
    }
}

proptest! {
    #![proptest_config(Config {
        cases: 2000,
        rng_seed: RngSeed::Fixed(0x6d73_6766_7261_6d65),
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn a_client_and_a_server_session_keep_every_rule(s in scenario()) {
        run(s);
    }
}
