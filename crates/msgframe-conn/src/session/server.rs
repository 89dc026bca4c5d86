//! Every rule of one server connection, as pure state: the handler called one message at a time,
//! heartbeats answered without it, replies and pushes written one at a time within the write
//! time limit, idle and slow connections reaped, buffers given back when quiet.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Caller, Transmit, TransmitKind};
use crate::error::{Disconnect, NotSent};
use crate::heartbeat::AnswerHeartbeats;
use crate::policy::idle::IdleClock;
use crate::server::Reply;
use crate::Error;

/// The rules a [`ServerSession`] applies.
#[derive(Debug, Clone)]
pub struct ServerRules {
    pub(crate) idle: Option<Duration>,
    pub(crate) message: Option<Duration>,
    pub(crate) write_timeout: Duration,
    pub(crate) answer: Option<AnswerHeartbeats>,
    pub(crate) release_after: Duration,
}

impl Default for ServerRules {
    /// 5 minutes idle, 30 s for a message to be whole, 30 s to write one, no heartbeat answers,
    /// buffers given back (and a plain-TCP connection set aside) after 100 ms of quiet.
    fn default() -> Self {
        ServerRules {
            idle: Some(Duration::from_secs(300)),
            message: Some(Duration::from_secs(30)),
            write_timeout: Duration::from_secs(30),
            answer: None,
            release_after: Duration::from_millis(100),
        }
    }
}

impl ServerRules {
    /// Closes a connection with no whole message read or written for `idle`; `None` never does.
    pub fn idle_timeout(mut self, idle: Option<Duration>) -> Self {
        self.idle = idle;
        self
    }

    /// Closes a connection whose message is not whole `timeout` after its first byte.
    pub fn message_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.message = timeout;
        self
    }

    /// The longest a reply or push may take to write before the connection is closed.
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Answers the clients' heartbeats without calling the handler.
    pub fn answer_heartbeats(mut self, answer: AnswerHeartbeats) -> Self {
        self.answer = Some(answer);
        self
    }

    /// How long a connection must be quiet before it gives its buffers back.
    pub fn release_buffers_after(mut self, quiet: Duration) -> Self {
        self.release_after = quiet;
        self
    }
}

/// Something a [`ServerSession`] wants its driver to do or know, in order.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerEvent<T> {
    /// Call the handler with this message, then report its reply with
    /// [`ServerSession::handler_done`]. One at a time: nothing is read meanwhile.
    Handle(Bytes),
    /// A push ended: its outcome goes to `caller`.
    Done {
        /// The caller given with the push.
        caller: T,
        /// Written whole, or why not.
        outcome: Result<(), Error>,
    },
    /// The connection has been quiet: give the read and write buffers back.
    ReleaseBuffers,
    /// The connection is over: close the socket. The last event.
    Closed(Arc<Disconnect>),
}

enum State {
    Open,
    /// Closing: the handler in progress finishes and its reply is written first.
    Closing(Arc<Disconnect>),
    Closed,
}

struct Writing<T> {
    deadline: Instant,
    caller: Option<T>,
    /// Close once written (the handler said so).
    then_close: bool,
}

/// One server connection's rules, with time passed in and no I/O (see [`ClientSession`] for the
/// shape: feed it what happens, do what it says).
///
/// - A message the heartbeat rule recognises is answered without the handler; any other goes to
///   the handler, one at a time, and its reply is written before the next message is read.
/// - Pushes are written between replies, also while the handler runs; one write at a time, each
///   within the write time limit, else the connection closes (a client that does not read).
/// - Between messages, a connection with no whole message for the idle time is reaped; a message
///   not whole within the message time after its first byte is reaped too (slow loris). A
///   handler that takes its time is the server's, not the client's: no reaping while it runs.
/// - After a quiet while, the driver is told to give its buffers back.
///
/// [`ClientSession`]: super::ClientSession
pub struct ServerSession<T> {
    rules: Arc<ServerRules>,
    clock: IdleClock,
    handling: bool,
    control: VecDeque<Bytes>,
    reply: Option<(Bytes, bool)>,
    push: Option<(Bytes, T)>,
    writing: Option<Writing<T>>,
    events: VecDeque<ServerEvent<T>>,
    released: bool,
    quiet_since: Instant,
    /// Quiet as soon as the next exchange is done, without a quiet while first.
    quick: bool,
    state: State,
}

impl<T> fmt::Debug for ServerSession<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerSession")
            .field("handling", &self.handling)
            .field("writing", &self.writing.is_some())
            .field("released", &self.released)
            .finish_non_exhaustive()
    }
}

impl<T: Caller> ServerSession<T> {
    /// The session of a connection accepted at `now`.
    pub fn new(rules: Arc<ServerRules>, now: Instant) -> Self {
        ServerSession {
            clock: IdleClock::new(rules.idle, rules.message, now),
            rules,
            handling: false,
            control: VecDeque::new(),
            reply: None,
            push: None,
            writing: None,
            events: VecDeque::new(),
            released: false,
            quiet_since: now,
            quick: false,
            state: State::Open,
        }
    }

    /// A session for a connection that was quiet since `last_activity` and was put aside at
    /// `set_aside_at`: the same rules and idle deadline as the session it continues. It is not
    /// [`quiet`](Self::quiet) again before what woke the connection is seen to. If it waited
    /// aside at least the quiet time, its traffic is sparse: it is quiet again as soon as that
    /// exchange is done (see [`quiet_after_exchange`](Self::quiet_after_exchange)); else it is
    /// busy, and waits another quiet while, so that it is not put aside between every two
    /// messages.
    pub fn resumed(
        rules: Arc<ServerRules>,
        now: Instant,
        last_activity: Instant,
        set_aside_at: Instant,
    ) -> Self {
        let quick = now.saturating_duration_since(set_aside_at) >= rules.release_after;
        let mut session = ServerSession::new(rules, now);
        session.clock.activity(last_activity);
        session.quick = quick;
        session
    }

    /// The connection is quiet as soon as its next exchange is done (a reply or push written, or
    /// a message handled with nothing to reply) with nothing else under way, not only after the
    /// quiet time: for a driver that puts quiet connections aside and whose transport holds no
    /// bytes of its own (plain TCP, not TLS, whose layer may hold decrypted bytes the socket no
    /// longer shows). A fresh connection then holds its buffers and task only for its first
    /// exchange. Once only: a session [`resumed`](Self::resumed) soon after decides again.
    pub fn quiet_after_exchange(&mut self) {
        self.quick = true;
    }

    /// When the connection has been quiet long enough to give its buffers back and nothing is
    /// under way (no handler running, nothing to write, no push taken, no message begun), the
    /// time of its last activity: the driver may then put the connection aside until the socket
    /// is readable, a push or a close comes, or the idle deadline passes, and continue it with
    /// [`resumed`](Self::resumed).
    pub fn quiet(&self) -> Option<Instant> {
        let idle = matches!(self.state, State::Open)
            && self.released
            && self.wants_read()
            && self.push.is_none()
            && self.events.is_empty()
            && !self.clock.in_message();
        idle.then(|| self.clock.last_activity())
    }

    /// Whether to read now: open, no handler running, nothing to write.
    pub fn wants_read(&self) -> bool {
        matches!(self.state, State::Open)
            && !self.handling
            && self.writing.is_none()
            && self.control.is_empty()
            && self.reply.is_none()
    }

    /// Whether the session takes a push now.
    pub fn wants_push(&self) -> bool {
        matches!(self.state, State::Open) && self.push.is_none()
    }

    /// Whether the driver gave its buffers back (it then waits for readability before reading).
    pub fn is_released(&self) -> bool {
        self.released
    }

    /// A whole message arrived at `now`; `partial` says whether bytes of a further message are
    /// already buffered.
    pub fn handle_message(&mut self, now: Instant, message: Bytes, partial: bool) {
        if matches!(self.state, State::Closed) {
            return;
        }
        self.clock.message_done(now, partial);
        self.active(now);
        if let Some(answer) = &self.rules.answer {
            if (answer.is_request)(&message) {
                let reply = (answer.answer)(&message);
                self.control.push_back(reply);
                return;
            }
        }
        self.handling = true;
        self.events.push_back(ServerEvent::Handle(message));
    }

    /// Bytes arrived at `now` without completing a message: its deadline starts.
    pub fn bytes_arrived(&mut self, now: Instant) {
        self.clock.bytes_arrived(now);
        self.active(now);
    }

    /// The socket became readable after the buffers were given back.
    pub fn readable(&mut self, now: Instant) {
        self.active(now);
    }

    /// Reading failed, or the client closed.
    pub fn handle_read_error(&mut self, _now: Instant, error: msgframe_io::Error) {
        if !matches!(self.state, State::Closed) {
            self.finish(Arc::new(Disconnect::read(error)));
        }
    }

    /// The handler's reply to the message of the last [`ServerEvent::Handle`].
    pub fn handler_done(&mut self, now: Instant, reply: Reply) {
        self.handling = false;
        // The connection is idle from when the server is done with it, not from the message.
        self.clock.activity(now);
        self.active(now);
        match reply {
            Reply::Send(body) => self.reply = Some((body, false)),
            Reply::SendAndClose(body) => self.reply = Some((body, true)),
            Reply::Nothing => {}
            Reply::Close => return self.finish(Arc::new(Disconnect::Handler)),
        }
        if self.reply.is_none() {
            self.finish_closing();
            self.exchange_done();
        }
    }

    /// A message to push to the client; its outcome goes to `caller`.
    pub fn push(&mut self, _now: Instant, body: Bytes, caller: T) {
        if !matches!(self.state, State::Open) {
            self.done(caller, Err(Error::not_sent(NotSent::Closed)));
            return;
        }
        if let Some((_, earlier)) = self.push.replace((body, caller)) {
            // Only with `wants_push` false: the earlier one was never taken.
            self.done(earlier, Err(Error::not_sent(NotSent::PushQueueFull)));
        }
    }

    /// The next message to write: heartbeat answers, then the handler's reply, then a push.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if self.writing.is_some() || matches!(self.state, State::Closed) {
            return None;
        }
        let deadline = now
            .checked_add(self.rules.write_timeout)
            .unwrap_or_else(|| crate::policy::heartbeat::far_future(now));
        let open = matches!(self.state, State::Open);
        let (body, kind, caller, then_close) =
            if let Some(body) = self.control.pop_front().filter(|_| open) {
                (body, TransmitKind::Answer, None, false)
            } else if let Some((body, then_close)) = self.reply.take() {
                (body, TransmitKind::Message, None, then_close)
            } else if let Some((body, caller)) = self.push.take().filter(|_| open) {
                (body, TransmitKind::Message, Some(caller), false)
            } else {
                return None;
            };
        self.writing = Some(Writing {
            deadline,
            caller,
            then_close,
        });
        Some(Transmit { body, kind })
    }

    /// The message from [`poll_transmit`](Self::poll_transmit) was written whole, could not be
    /// framed, or the connection failed.
    pub fn write_done(&mut self, now: Instant, result: Result<(), msgframe_io::Error>) {
        let Some(writing) = self.writing.take() else {
            return;
        };
        self.active(now);
        match result {
            Ok(()) => {
                self.clock.activity(now);
                if let Some(caller) = writing.caller {
                    self.done(caller, Ok(()));
                }
                if writing.then_close {
                    return self.finish(Arc::new(Disconnect::Handler));
                }
            }
            Err(e @ (msgframe_io::Error::TooLong(_) | msgframe_io::Error::Message(_)))
                if writing.caller.is_some() =>
            {
                // A push that cannot be framed is its caller's mistake; the connection goes on.
                if let Some(caller) = writing.caller {
                    self.done(caller, Err(Error::Frame(e)));
                }
            }
            Err(e) => {
                let cause = Arc::new(Disconnect::Write(e));
                if let Some(caller) = writing.caller {
                    self.done(caller, Err(Error::lost(false, &cause)));
                }
                return self.finish(cause);
            }
        }
        if !self.handling && self.reply.is_none() {
            self.finish_closing();
            self.exchange_done();
        }
    }

    /// The time given by [`poll_timeout`](Self::poll_timeout) has come (or any later time).
    pub fn handle_timeout(&mut self, now: Instant) {
        if matches!(self.state, State::Closed) {
            return;
        }
        if let Some(writing) = &mut self.writing {
            if now >= writing.deadline {
                let cause = Arc::new(Disconnect::WriteTimedOut(self.rules.write_timeout));
                if let Some(caller) = writing.caller.take() {
                    let elapsed = self.rules.write_timeout;
                    self.done(
                        caller,
                        Err(Error::TimedOut {
                            written: false,
                            elapsed,
                        }),
                    );
                }
                return self.finish(cause);
            }
            return;
        }
        if self.handling || !matches!(self.state, State::Open) {
            return;
        }
        if now >= self.clock.deadline() {
            return self.finish(Arc::new(Disconnect::Reaped(self.clock.reason())));
        }
        if !self.released && now >= self.release_at() {
            self.released = true;
            self.control = VecDeque::new();
            self.events.push_back(ServerEvent::ReleaseBuffers);
        }
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next; `None` when nothing is timed
    /// (closed, or a handler running).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if matches!(self.state, State::Closed) {
            return None;
        }
        if let Some(writing) = &self.writing {
            return Some(writing.deadline);
        }
        if self.handling || !matches!(self.state, State::Open) {
            return None;
        }
        let reap = self.clock.deadline();
        Some(if self.released {
            reap
        } else {
            reap.min(self.release_at())
        })
    }

    /// Shuts down: the handler in progress finishes and its reply is written, then the
    /// connection closes ([`Disconnect::Shutdown`]); nothing more is read or pushed.
    pub fn close(&mut self, now: Instant) {
        self.close_with(now, Arc::new(Disconnect::Shutdown));
    }

    /// Closes as [`close`](Self::close) does, for `cause`.
    pub fn close_with(&mut self, _now: Instant, cause: Arc<Disconnect>) {
        if !matches!(self.state, State::Open) {
            return;
        }
        if let Some((_, caller)) = self.push.take() {
            self.done(caller, Err(Error::not_sent(NotSent::Closed)));
        }
        self.control.clear();
        if self.handling || self.writing.is_some() || self.reply.is_some() {
            self.state = State::Closing(cause);
        } else {
            self.finish(cause);
        }
    }

    /// The next thing for the driver to do or know.
    pub fn poll_event(&mut self) -> Option<ServerEvent<T>> {
        let event = self.events.pop_front();
        if self.released && self.events.is_empty() {
            // A quiet connection holds no queue either.
            self.events = VecDeque::new();
        }
        event
    }

    /// Whether the connection is over.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    fn release_at(&self) -> Instant {
        self.quiet_since
            .checked_add(self.rules.release_after)
            .unwrap_or_else(|| crate::policy::heartbeat::far_future(self.quiet_since))
    }

    /// An exchange is done: with [`quiet_after_exchange`](Self::quiet_after_exchange) and
    /// nothing else under way, the connection is quiet now.
    fn exchange_done(&mut self) {
        let idle = matches!(self.state, State::Open)
            && !self.handling
            && self.writing.is_none()
            && self.reply.is_none()
            && self.control.is_empty()
            && self.push.is_none()
            && !self.clock.in_message();
        if self.quick && idle && !self.released {
            self.quick = false;
            self.released = true;
            self.control = VecDeque::new();
            self.events.push_back(ServerEvent::ReleaseBuffers);
        }
    }

    fn active(&mut self, now: Instant) {
        self.quiet_since = now;
        self.released = false;
    }

    /// A closing session whose last reply is out ends.
    fn finish_closing(&mut self) {
        if let State::Closing(cause) = &self.state {
            let cause = Arc::clone(cause);
            self.finish(cause);
        }
    }

    fn done(&mut self, caller: T, outcome: Result<(), Error>) {
        self.events.push_back(ServerEvent::Done { caller, outcome });
    }

    fn finish(&mut self, cause: Arc<Disconnect>) {
        if let Some(Writing {
            caller: Some(caller),
            ..
        }) = self.writing.take()
        {
            self.done(caller, Err(Error::lost(false, &cause)));
        }
        if let Some((_, caller)) = self.push.take() {
            self.done(caller, Err(Error::not_sent(NotSent::Closed)));
        }
        self.control.clear();
        self.reply = None;
        self.state = State::Closed;
        self.events.push_back(ServerEvent::Closed(cause));
    }
}
