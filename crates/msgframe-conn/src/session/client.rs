//! Every rule of one client connection, as pure state: heartbeats due and missed, the peer's
//! heartbeats answered, replies matched to waiting requests, deadlines, messages the application
//! does not take, and how the connection ends.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Caller, Transmit, TransmitKind};
use crate::error::{Disconnect, NotSent};
use crate::heartbeat::{AnswerHeartbeats, Heartbeat};
use crate::message::{Key, KeyFn};
use crate::policy::heartbeat::{HeartbeatAction, HeartbeatState, HeartbeatTiming};
use crate::Error;

/// Heartbeats and answers that may wait to be written; more are not queued (a heartbeat then
/// counts as sent and unanswered, which is what it is on a link that does not drain).
const CONTROL_QUEUE: usize = 8;

/// What a client does with a message for the application when the application's queue is full
/// (it is not calling `recv`).
///
/// Whatever the choice, a full queue never stops the connection's timers, its failure detection,
/// replies to waiting requests or reconnects: the connection keeps being read (except under
/// [`Backpressure`](Overflow::Backpressure)), so a client that only makes requests and never
/// reads its incoming messages keeps working when late replies pile up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Overflow {
    /// Drop the message, count it ([`Event::IncomingDropped`](crate::Event::IncomingDropped))
    /// and log a warning. The default: late replies to requests that timed out are what usually
    /// fill the queue of an application that does not read it.
    #[default]
    Drop,
    /// Drop the message (counted) and close the connection; the client reconnects.
    Close,
    /// Stop reading until the application takes a message; nothing is dropped. Replies to
    /// waiting requests then wait too (behind the unread bytes), and the peer's silence is not
    /// held against it while reading is paused (its answers may be among the unread bytes).
    Backpressure,
}

/// The rules a [`ClientSession`] applies: how replies are matched, heartbeats sent and answered,
/// and what happens to messages the application does not take.
pub struct ClientRules<K> {
    pub(crate) heartbeat: Option<Heartbeat>,
    pub(crate) answer: Option<AnswerHeartbeats>,
    pub(crate) key: KeyFn<K>,
    pub(crate) max_in_flight: usize,
    pub(crate) overflow: Overflow,
    pub(crate) close_grace: Duration,
}

impl<K> fmt::Debug for ClientRules<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientRules")
            .field("heartbeat", &self.heartbeat)
            .field("answer", &self.answer)
            .field("max_in_flight", &self.max_in_flight)
            .field("overflow", &self.overflow)
            .field("close_grace", &self.close_grace)
            .finish_non_exhaustive()
    }
}

impl<K> Clone for ClientRules<K> {
    fn clone(&self) -> Self {
        ClientRules {
            heartbeat: self.heartbeat.clone(),
            answer: self.answer.clone(),
            key: Arc::clone(&self.key),
            max_in_flight: self.max_in_flight,
            overflow: self.overflow,
            close_grace: self.close_grace,
        }
    }
}

impl<K: Key> ClientRules<K> {
    /// Rules matching replies by the key `key` extracts from every message (a message without a
    /// key, or whose key no request waits for, goes to the application). Synchronous
    /// request/response is the key `()` for every message, with one request in flight.
    pub fn new(key: impl Fn(&[u8]) -> Option<K> + Send + Sync + 'static) -> Self {
        ClientRules {
            heartbeat: None,
            answer: None,
            key: Arc::new(key),
            max_in_flight: 256,
            overflow: Overflow::default(),
            close_grace: Duration::from_secs(5),
        }
    }

    /// Sends heartbeats when the link is quiet and declares a silent peer dead.
    pub fn heartbeat(mut self, heartbeat: Heartbeat) -> Self {
        self.heartbeat = Some(heartbeat);
        self
    }

    /// Answers the peer's heartbeats.
    pub fn answer_heartbeats(mut self, answer: AnswerHeartbeats) -> Self {
        self.answer = Some(answer);
        self
    }

    /// How many requests may wait for replies at once (at least 1).
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = max.max(1);
        self
    }

    /// What happens to messages the application does not take.
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// How long a closing session lets the message being written finish (default 5 s).
    pub fn close_grace(mut self, grace: Duration) -> Self {
        self.close_grace = grace;
        self
    }

    /// The key of `message`, if it has one.
    pub fn key_of(&self, message: &[u8]) -> Option<K> {
        (self.key)(message)
    }

    /// The heartbeat timing, when heartbeats are sent.
    pub fn heartbeat_timing(&self) -> Option<HeartbeatTiming> {
        self.heartbeat.as_ref().map(|h| h.timing)
    }
}

/// How a call ended well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completed {
    /// The message was written whole.
    Sent,
    /// The request's reply.
    Reply(Bytes),
}

/// Something a [`ClientSession`] wants its driver to do or know, in order.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientEvent<T> {
    /// A call ended: its outcome goes to `caller`. Every call ends exactly once.
    Done {
        /// The caller given with the message.
        caller: T,
        /// Written, answered, or why not.
        outcome: Result<Completed, Error>,
    },
    /// A message for the application: unsolicited, a late reply, or a reply whose caller gave
    /// up. If the application's queue is full, hand it back with
    /// [`ClientSession::delivery_refused`].
    Deliver(Bytes),
    /// A heartbeat got no answer in time; another goes out at once.
    HeartbeatMissed {
        /// Heartbeats missed in a row.
        missed: u32,
    },
    /// The peer missed too many heartbeats (the session closes).
    PeerDead {
        /// Heartbeats missed in a row.
        missed: u32,
    },
    /// A message for the application was dropped because its queue was full.
    IncomingDropped {
        /// Messages dropped so far on this session.
        dropped: u64,
    },
    /// Reading paused: the application's queue is full ([`Overflow::Backpressure`]).
    ReadingPaused,
    /// Reading resumed: the application took a held message.
    ReadingResumed,
    /// The connection is over: stop reading and writing, close the socket. The last event.
    Closed(Arc<Disconnect>),
}

/// A request waiting for its reply.
struct Waiting<T> {
    caller: T,
    seq: u64,
    /// Written whole (so a timeout or a lost connection reports `written: true`).
    written: bool,
    submitted: Instant,
    deadline: Instant,
}

/// A message taken from the caller and not yet handed to the writer.
struct Submitted<K, T> {
    body: Bytes,
    deadline: Instant,
    submitted: Instant,
    seq: u64,
    /// For a request, its key (the caller waits in `waiting`); for a send, its caller.
    target: Target<K, T>,
}

enum Target<K, T> {
    Send(T),
    Request(K),
}

/// What the writer is writing now.
enum Writing<K, T> {
    Control,
    Message {
        seq: u64,
        deadline: Instant,
        submitted: Instant,
        /// `None` once the caller was answered (timed out while writing).
        target: Option<Target<K, T>>,
    },
}

/// A request's deadline, ordered soonest first.
struct Deadline<K> {
    at: Instant,
    seq: u64,
    key: K,
}

impl<K> PartialEq for Deadline<K> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<K> Eq for Deadline<K> {}
impl<K> PartialOrd for Deadline<K> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<K> Ord for Deadline<K> {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: the heap's top is the soonest.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

enum State {
    Open,
    /// Closing on purpose: the message being written may finish until `until`.
    Closing {
        until: Instant,
        cause: Arc<Disconnect>,
    },
    Closed,
}

/// One client connection's rules, with time passed in and no I/O: the driver feeds it what
/// happens (a message read, a write finished, the timer, a caller's message) and does what it
/// says (write this, deliver that, wake me at, close).
///
/// ```text
///   callers ── send / request ──▶ ┌───────────────┐ ── poll_transmit ──▶ writer
///   reader ─ handle_message ────▶ │ ClientSession │ ◀── write_done ──────
///   timer ── handle_timeout ────▶ │               │ ── poll_timeout ───▶ timer
///                                 └───────────────┘ ── poll_event ─────▶ callers, application
/// ```
///
/// - Heartbeats go out when the peer has been quiet for the idle time, before any queued
///   message; a peer silent for [`HeartbeatTiming::dead_after`] is dead.
/// - The peer's heartbeats are answered and never delivered; an answer that would itself look
///   like a heartbeat is sent at most once per idle time and never to our own heartbeat's reply,
///   so two answering ends cannot bounce one forever.
/// - A reply goes to the request waiting for its key; anything else goes to the application. A
///   reply someone waits for is never delivered as unmatched.
/// - Every call ends exactly once: sent, answered, not sent, timed out (written or not), or lost
///   with its connection (written or not).
/// - When the application does not take its messages, [`Overflow`] decides; timers, failure
///   detection and replies to waiting requests go on.
///
/// `K` is the request key; `T` stands for a caller (in the client, the channel its outcome goes
/// to): it is handed back in [`ClientEvent::Done`].
pub struct ClientSession<K, T> {
    rules: Arc<ClientRules<K>>,
    heartbeat: HeartbeatState,
    waiting: HashMap<K, Waiting<T>>,
    deadlines: BinaryHeap<Deadline<K>>,
    control: VecDeque<(Bytes, TransmitKind)>,
    next: Option<Submitted<K, T>>,
    writing: Option<Writing<K, T>>,
    events: VecDeque<ClientEvent<T>>,
    /// Messages for the application held while its queue is full ([`Overflow::Backpressure`]).
    held: VecDeque<Bytes>,
    dropped: u64,
    state: State,
    seq: u64,
}

impl<K: Key, T> fmt::Debug for ClientSession<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSession")
            .field("in_flight", &self.waiting.len())
            .field("held", &self.held.len())
            .field("dropped", &self.dropped)
            .field("writing", &self.writing.is_some())
            .field("closed", &matches!(self.state, State::Closed))
            .finish_non_exhaustive()
    }
}

impl<K: Key, T: Caller> ClientSession<K, T> {
    /// The session of a connection opened at `now`.
    pub fn new(rules: Arc<ClientRules<K>>, now: Instant) -> Self {
        let timing = rules.heartbeat_timing().unwrap_or_default();
        ClientSession {
            rules,
            heartbeat: HeartbeatState::new(timing, now),
            waiting: HashMap::new(),
            deadlines: BinaryHeap::new(),
            control: VecDeque::new(),
            next: None,
            writing: None,
            events: VecDeque::new(),
            held: VecDeque::new(),
            dropped: 0,
            state: State::Open,
            seq: 0,
        }
    }

    // ---- callers ----

    /// Whether the session takes a caller's message now: open, and nothing written or waiting
    /// to be. (Messages wait in the caller's queue until then, where they can still be given up.)
    pub fn wants_message(&self) -> bool {
        matches!(self.state, State::Open)
            && self.writing.is_none()
            && self.next.is_none()
            && self.control.is_empty()
    }

    /// A message to write by `deadline`; its outcome goes to `caller`.
    pub fn send(&mut self, now: Instant, body: Bytes, deadline: Instant, caller: T) {
        if let Some(refused) = self.refuse(now, deadline) {
            return self.done(caller, Err(refused));
        }
        self.seq += 1;
        self.next = Some(Submitted {
            body,
            deadline,
            submitted: now,
            seq: self.seq,
            target: Target::Send(caller),
        });
    }

    /// A request with `key` to write and have answered by `deadline`; its reply or failure goes
    /// to `caller`.
    pub fn request(&mut self, now: Instant, key: K, body: Bytes, deadline: Instant, caller: T) {
        if let Some(refused) = self.refuse(now, deadline) {
            return self.done(caller, Err(refused));
        }
        if let Some(w) = self.waiting.get(&key) {
            if !w.caller.gave_up() {
                let key = format!("{key:?}");
                return self.done(caller, Err(Error::DuplicateKey { key }));
            }
        }
        if self.waiting.len() >= self.rules.max_in_flight {
            self.waiting.retain(|_, w| !w.caller.gave_up());
            if self.waiting.len() >= self.rules.max_in_flight {
                return self.done(caller, Err(Error::not_sent(NotSent::SlotsBusy)));
            }
        }
        self.seq += 1;
        let seq = self.seq;
        self.waiting.insert(
            key.clone(),
            Waiting {
                caller,
                seq,
                written: false,
                submitted: now,
                deadline,
            },
        );
        self.deadlines.push(Deadline {
            at: deadline,
            seq,
            key: key.clone(),
        });
        self.compact_deadlines();
        self.next = Some(Submitted {
            body,
            deadline,
            submitted: now,
            seq,
            target: Target::Request(key),
        });
    }

    fn refuse(&self, now: Instant, deadline: Instant) -> Option<Error> {
        if !matches!(self.state, State::Open) {
            return Some(Error::not_sent(NotSent::Closed));
        }
        (now >= deadline).then(|| Error::not_sent(NotSent::Deadline { last_failure: None }))
    }

    /// Ends the connection at once for `cause` (another link of its group broke, say): every call
    /// still open ends with its exact outcome, as when the connection is lost.
    pub fn abort(&mut self, _now: Instant, cause: Disconnect) {
        if !matches!(self.state, State::Closed) {
            self.finish(Arc::new(cause));
        }
    }

    /// Closes on purpose (the program shuts down): nothing more is read or taken, the message
    /// being written may finish within the close grace, waiting requests fail with
    /// [`Disconnect::Shutdown`].
    pub fn close(&mut self, now: Instant) {
        if !matches!(self.state, State::Open) {
            return;
        }
        let cause = Arc::new(Disconnect::Shutdown);
        if self.writing.is_some() {
            self.control.clear();
            self.state = State::Closing {
                until: now.checked_add(self.rules.close_grace).unwrap_or(now),
                cause,
            };
        } else {
            self.finish(cause);
        }
    }

    // ---- the connection ----

    /// Whether to read from the connection now.
    pub fn wants_read(&self) -> bool {
        matches!(self.state, State::Open) && self.held.is_empty()
    }

    /// A whole message arrived at `now`.
    pub fn handle_message(&mut self, now: Instant, message: Bytes) {
        if matches!(self.state, State::Closed) {
            return;
        }
        let ours_outstanding = self.heartbeat.is_outstanding();
        let is_heartbeat_reply = self
            .rules
            .heartbeat
            .as_ref()
            .is_some_and(|hb| (hb.is_reply)(&message));
        if let Some(answer) = &self.rules.answer {
            if (answer.is_request)(&message) && !(ours_outstanding && is_heartbeat_reply) {
                let reply = (answer.answer)(&message);
                let lookalike = (answer.is_request)(&reply);
                if !lookalike || self.heartbeat.answer_lookalike(now) {
                    self.queue_control(reply, TransmitKind::Answer);
                }
                self.heartbeat.received(now);
                return;
            }
        }
        self.heartbeat.received(now);
        if is_heartbeat_reply {
            return;
        }
        if let Some(key) = (self.rules.key)(&message) {
            if let Some(w) = self.waiting.remove(&key) {
                if !w.caller.gave_up() {
                    return self.done(w.caller, Ok(Completed::Reply(message)));
                }
            }
        }
        self.deliver(message);
    }

    /// Reading failed (the peer closed, a malformed frame, a reset): the connection is over.
    pub fn handle_read_error(&mut self, _now: Instant, error: msgframe_io::Error) {
        match &self.state {
            State::Closed => {}
            // A deliberate close stays one, however the connection ends meanwhile.
            State::Closing { cause, .. } => {
                let cause = Arc::clone(cause);
                self.finish(cause);
            }
            State::Open => self.finish(Arc::new(Disconnect::read(error))),
        }
    }

    /// The next message to write, if the writer is free: heartbeats and answers first, then the
    /// caller's message. Report its end with [`write_done`](Self::write_done).
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if self.writing.is_some() || !matches!(self.state, State::Open) {
            return None;
        }
        if let Some((body, kind)) = self.control.pop_front() {
            self.writing = Some(Writing::Control);
            return Some(Transmit { body, kind });
        }
        let next = self.next.take()?;
        if now >= next.deadline {
            self.not_taken(next.target, next.seq);
            return None;
        }
        self.writing = Some(Writing::Message {
            seq: next.seq,
            deadline: next.deadline,
            submitted: next.submitted,
            target: Some(next.target),
        });
        Some(Transmit {
            body: next.body,
            kind: TransmitKind::Message,
        })
    }

    /// The message from [`poll_transmit`](Self::poll_transmit) was written whole (`Ok`), could
    /// not be framed (a message too long: the caller's, the connection goes on), or the
    /// connection failed.
    pub fn write_done(&mut self, _now: Instant, result: Result<(), msgframe_io::Error>) {
        let Some(writing) = self.writing.take() else {
            return;
        };
        let target = match writing {
            Writing::Control => None,
            Writing::Message { seq, target, .. } => target.map(|t| (t, seq)),
        };
        match result {
            Ok(()) => match target {
                Some((Target::Send(caller), _)) => self.done(caller, Ok(Completed::Sent)),
                Some((Target::Request(key), seq)) => {
                    if let Some(w) = self.waiting.get_mut(&key).filter(|w| w.seq == seq) {
                        w.written = true;
                    }
                }
                None => {}
            },
            Err(e @ (msgframe_io::Error::TooLong(_) | msgframe_io::Error::Message(_))) => {
                match target {
                    Some((Target::Send(caller), _)) => self.done(caller, Err(Error::Frame(e))),
                    Some((Target::Request(key), seq)) => {
                        if let Some(w) = self.take_waiting(&key, seq) {
                            self.done(w.caller, Err(Error::Frame(e)));
                        }
                    }
                    // A heartbeat or answer the framing cannot carry: a configuration mistake,
                    // noticed when the peer is declared dead.
                    None => {}
                }
            }
            Err(e) => {
                let cause = Arc::new(Disconnect::Write(e));
                if let Some((target, seq)) = target {
                    self.lost_unwritten(target, seq, &cause);
                }
                // A deliberate close stays one, however the connection ends meanwhile.
                let cause = match &self.state {
                    State::Closing { cause, .. } => Arc::clone(cause),
                    _ => cause,
                };
                return self.finish(cause);
            }
        }
        if let State::Closing { cause, .. } = &self.state {
            let cause = Arc::clone(cause);
            self.finish(cause);
        }
    }

    /// The time given by [`poll_timeout`](Self::poll_timeout) has come (or any later time).
    pub fn handle_timeout(&mut self, now: Instant) {
        match &self.state {
            State::Closed => return,
            State::Closing { until, cause } => {
                if now >= *until {
                    let cause = Arc::clone(cause);
                    return self.finish(cause);
                }
            }
            State::Open => {}
        }
        // Deadlines hold while closing too.
        self.expire_requests(now);
        if let Some(Writing::Message {
            deadline,
            submitted,
            target: target @ Some(Target::Send(_)),
            ..
        }) = &mut self.writing
        {
            if now >= *deadline {
                let elapsed = now.saturating_duration_since(*submitted);
                if let Some(Target::Send(caller)) = target.take() {
                    // Its rest still goes out before anything else: the stream stays framed.
                    self.done(
                        caller,
                        Err(Error::TimedOut {
                            written: false,
                            elapsed,
                        }),
                    );
                }
            }
        }
        if self.next.as_ref().is_some_and(|n| now >= n.deadline) {
            if let Some(next) = self.next.take() {
                self.not_taken(next.target, next.seq);
            }
        }
        if self.rules.heartbeat.is_some() && matches!(self.state, State::Open) {
            if !self.held.is_empty() {
                // Reading is paused: the peer's answers may be among the unread bytes.
                self.heartbeat.received(now);
                return;
            }
            self.poll_heartbeat(now);
        }
    }

    fn poll_heartbeat(&mut self, now: Instant) {
        let Some(heartbeat) = self.rules.heartbeat.clone() else {
            return;
        };
        loop {
            match self.heartbeat.poll(now) {
                HeartbeatAction::Wait { .. } => return,
                HeartbeatAction::Send { missed } => {
                    if missed > 0 {
                        self.events
                            .push_back(ClientEvent::HeartbeatMissed { missed });
                    }
                    self.queue_control((heartbeat.make)(), TransmitKind::Heartbeat);
                    self.heartbeat.sent(now);
                }
                HeartbeatAction::Dead { missed } => {
                    self.events.push_back(ClientEvent::PeerDead { missed });
                    return self.finish(Arc::new(Disconnect::PeerDead { missed }));
                }
            }
        }
    }

    fn expire_requests(&mut self, now: Instant) {
        while self.deadlines.peek().is_some_and(|d| d.at <= now) {
            let Some(d) = self.deadlines.pop() else {
                break;
            };
            let Some(w) = self.take_waiting(&d.key, d.seq) else {
                continue;
            };
            let elapsed = now.saturating_duration_since(w.submitted);
            if w.written {
                self.done(
                    w.caller,
                    Err(Error::TimedOut {
                        written: true,
                        elapsed,
                    }),
                );
                continue;
            }
            // Not written whole: being written now (its rest still goes out), or not taken yet.
            let is_next = self.next.as_ref().is_some_and(|n| n.seq == d.seq);
            if is_next {
                self.next = None;
                self.done(
                    w.caller,
                    Err(Error::not_sent(NotSent::Deadline { last_failure: None })),
                );
            } else {
                if let Some(Writing::Message {
                    seq,
                    target: t @ Some(_),
                    ..
                }) = &mut self.writing
                {
                    if *seq == d.seq {
                        *t = None;
                    }
                }
                self.done(
                    w.caller,
                    Err(Error::TimedOut {
                        written: false,
                        elapsed,
                    }),
                );
            }
        }
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next; `None` when closed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut wake: Option<Instant> = None;
        let mut at = |t: Instant| wake = Some(wake.map_or(t, |w| w.min(t)));
        match &self.state {
            State::Closed => return None,
            State::Closing { until, .. } => at(*until),
            State::Open => {}
        }
        if let Some(d) = self.deadlines.peek() {
            at(d.at);
        }
        if let Some(Writing::Message {
            deadline,
            target: Some(Target::Send(_)),
            ..
        }) = &self.writing
        {
            at(*deadline);
        }
        if let Some(next) = &self.next {
            at(next.deadline);
        }
        if self.rules.heartbeat.is_some()
            && self.held.is_empty()
            && matches!(self.state, State::Open)
        {
            at(self.heartbeat.next_deadline());
        }
        wake
    }

    /// The next thing for the driver to do or know.
    pub fn poll_event(&mut self) -> Option<ClientEvent<T>> {
        self.events.pop_front()
    }

    // ---- the application ----

    /// The application's queue was full for this [`ClientEvent::Deliver`]ed message: the
    /// [`Overflow`] rule decides.
    pub fn delivery_refused(&mut self, now: Instant, message: Bytes) {
        if self.rules.overflow == Overflow::Backpressure && !matches!(self.state, State::Closed) {
            let paused = self.held.is_empty();
            self.held.push_back(message);
            // Later messages already on their way to the application wait behind this one.
            let events = std::mem::take(&mut self.events);
            for event in events {
                match event {
                    ClientEvent::Deliver(m) => self.held.push_back(m),
                    other => self.events.push_back(other),
                }
            }
            if paused {
                self.events.push_back(ClientEvent::ReadingPaused);
            }
            return;
        }
        self.dropped += 1;
        self.events.push_back(ClientEvent::IncomingDropped {
            dropped: self.dropped,
        });
        if self.rules.overflow == Overflow::Close && matches!(self.state, State::Open) {
            let _ = now;
            self.finish(Arc::new(Disconnect::IncomingOverflow));
        }
    }

    /// Whether messages are held for the application ([`Overflow::Backpressure`]): when its
    /// queue has room, hand it [`take_held`](Self::take_held).
    pub fn is_holding(&self) -> bool {
        !self.held.is_empty()
    }

    /// The oldest held message, for the application's queue that now has room.
    pub fn take_held(&mut self, now: Instant) -> Option<Bytes> {
        let message = self.held.pop_front()?;
        if self.held.is_empty() && !matches!(self.state, State::Closed) {
            self.heartbeat.received(now);
            self.events.push_back(ClientEvent::ReadingResumed);
        }
        Some(message)
    }

    // ---- state ----

    /// Whether the connection is over (after [`ClientEvent::Closed`]).
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Requests waiting for replies.
    pub fn in_flight(&self) -> usize {
        self.waiting.len()
    }

    /// Messages held for the application.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Heartbeats and answers waiting to be written.
    pub fn control_queued(&self) -> usize {
        self.control.len()
    }

    // ---- inside ----

    fn done(&mut self, caller: T, outcome: Result<Completed, Error>) {
        self.events.push_back(ClientEvent::Done { caller, outcome });
    }

    fn deliver(&mut self, message: Bytes) {
        if self.held.is_empty() {
            self.events.push_back(ClientEvent::Deliver(message));
        } else {
            self.held.push_back(message);
        }
    }

    fn queue_control(&mut self, body: Bytes, kind: TransmitKind) {
        if matches!(self.state, State::Open) && self.control.len() < CONTROL_QUEUE {
            self.control.push_back((body, kind));
        }
    }

    fn take_waiting(&mut self, key: &K, seq: u64) -> Option<Waiting<T>> {
        if self.waiting.get(key).is_some_and(|w| w.seq == seq) {
            self.waiting.remove(key)
        } else {
            None
        }
    }

    /// A message that was never handed to the writer.
    fn not_taken(&mut self, target: Target<K, T>, seq: u64) {
        let refused = || Error::not_sent(NotSent::Deadline { last_failure: None });
        match target {
            Target::Send(caller) => self.done(caller, Err(refused())),
            Target::Request(key) => {
                if let Some(w) = self.take_waiting(&key, seq) {
                    self.done(w.caller, Err(refused()));
                }
            }
        }
    }

    /// A message being written when the connection was lost.
    fn lost_unwritten(&mut self, target: Target<K, T>, seq: u64, cause: &Arc<Disconnect>) {
        match target {
            Target::Send(caller) => self.done(caller, Err(Error::lost(false, cause))),
            Target::Request(key) => {
                if let Some(w) = self.take_waiting(&key, seq) {
                    self.done(w.caller, Err(Error::lost(false, cause)));
                }
            }
        }
    }

    /// Keeps the deadline heap within a bound of the requests actually waiting: entries of
    /// requests answered early are dropped once they outnumber the live ones.
    fn compact_deadlines(&mut self) {
        if self.deadlines.len() > 2 * self.waiting.len() + 64 {
            let waiting = &self.waiting;
            self.deadlines = waiting
                .iter()
                .map(|(key, w)| Deadline {
                    at: w.deadline,
                    seq: w.seq,
                    key: key.clone(),
                })
                .collect();
        }
    }

    /// The connection is over: every call still open ends, held messages go to the
    /// application, and [`ClientEvent::Closed`] is the last event.
    fn finish(&mut self, cause: Arc<Disconnect>) {
        if let Some(Writing::Message {
            seq,
            target: Some(target),
            ..
        }) = self.writing.take()
        {
            self.lost_unwritten(target, seq, &cause);
        }
        if let Some(next) = self.next.take() {
            let refused = Error::not_sent(NotSent::Closed);
            match next.target {
                Target::Send(caller) => self.done(caller, Err(refused)),
                Target::Request(key) => {
                    if let Some(w) = self.take_waiting(&key, next.seq) {
                        self.done(w.caller, Err(refused));
                    }
                }
            }
        }
        let mut waiting: Vec<_> = self.waiting.drain().map(|(_, w)| w).collect();
        waiting.sort_by_key(|w| w.seq);
        for w in waiting {
            let written = w.written;
            self.done(w.caller, Err(Error::lost(written, &cause)));
        }
        self.deadlines.clear();
        self.control.clear();
        while let Some(message) = self.held.pop_front() {
            self.events.push_back(ClientEvent::Deliver(message));
        }
        self.state = State::Closed;
        self.events.push_back(ClientEvent::Closed(cause));
    }
}
