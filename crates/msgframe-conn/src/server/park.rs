//! Quiet connections set aside from the runtime.
//!
//! A task per connection costs about a kilobyte however idle the connection is (the task, its
//! future, the runtime's registration of the socket). A plain-TCP connection that has been quiet
//! long enough to give its buffers back therefore leaves the runtime: its task ends, and what is
//! left of it — the socket, its [`Connection`] handle and push queue, its place in the counts,
//! the stream offset and when it was last active — waits in the server's [`Lot`]. One task
//! watches every such socket through a `mio` poll of its own (whose descriptor the runtime
//! watches). When bytes arrive, a push or a close request comes, or the idle deadline passes, the
//! connection is sent back to the accept loop, which gives it a new task that continues where the
//! last one stopped ([`ServerSession::resumed`](crate::session::ServerSession::resumed)). When its
//! peer closes (or the socket fails) it is sent back ended, and the accept loop ends it without a
//! task.
//!
//! Locks: a connection's push queue first, then the lot (parking and waking both take them in
//! that order), so a push can never miss a connection being set aside.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Registry, Token};
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::Notify;

use super::accept::Admitted;
use super::connection::PushQueue;
use super::stats::Counters;

/// Readiness events taken per poll.
const EVENTS: usize = 1024;

/// A connection coming back from the lot.
pub(crate) enum Revived {
    /// Something to do: a new task continues it.
    Woken(Box<Parked>),
    /// Its socket ended while it was aside (the end of the stream, or an error): it ends without
    /// a task.
    Ended(Box<Parked>, msgframe_io::Error),
}

/// A connection set aside: everything its next task needs to continue it.
pub(crate) struct Parked {
    pub(crate) stream: mio::net::TcpStream,
    /// The connection's push queue (and, through it, its handle).
    pub(crate) pushes: PushQueue,
    pub(crate) admitted: Admitted,
    /// Bytes of the stream consumed so far (the decoder's offset: errors keep naming it).
    pub(crate) offset: u64,
    /// When the connection was last active: its idle deadline follows from it.
    pub(crate) last_activity: Instant,
    /// When it was set aside: whether it comes back soon says whether it is busy.
    pub(crate) set_aside_at: Instant,
    /// When to take it back to close it if nothing else happens.
    pub(crate) deadline: Instant,
}

/// Where quiet connections wait, shared by the watching task, the connections (to be woken) and
/// the accept loop (which takes them back).
pub(crate) struct Lot {
    state: Mutex<State>,
    registry: Registry,
    /// Tells the watching task of a sooner deadline, or to stop.
    changed: Notify,
    /// Where connections taken back go: the accept loop.
    back: UnboundedSender<Revived>,
    /// Whether the end of the stream between messages ends a connection without a message (not
    /// so when messages are framed until the end of the stream).
    eof_closes: bool,
    /// Connections set aside and not yet taken back by the accept loop.
    outside: AtomicUsize,
    /// The server's counters (connections set aside now).
    counters: Arc<Counters>,
}

struct State {
    /// Boxed: a table of small entries, however many connections wait.
    parked: HashMap<u64, Box<Parked>>,
    /// Idle deadlines, soonest first: `(deadline, connection id)`.
    deadlines: BTreeSet<(Instant, u64)>,
    /// The deadline the watching task sleeps until (it is told of a sooner one).
    sleeping_until: Option<Instant>,
    stopping: bool,
}

/// The lot and its watching task, stopped when dropped: connections still set aside close then.
pub(crate) struct Parking {
    lot: Arc<Lot>,
}

impl Parking {
    /// A lot and its watching task (on the current runtime); connections taken back are sent to
    /// `back`. With `eof_closes`, a connection whose peer closed is sent back ended, without a
    /// task to read the end of its stream.
    pub(crate) fn start(
        back: UnboundedSender<Revived>,
        eof_closes: bool,
        counters: Arc<Counters>,
    ) -> io::Result<Parking> {
        let poll = Poll::new()?;
        let lot = Arc::new(Lot {
            state: Mutex::new(State {
                parked: HashMap::new(),
                deadlines: BTreeSet::new(),
                sleeping_until: None,
                stopping: false,
            }),
            registry: poll.registry().try_clone()?,
            changed: Notify::new(),
            back,
            eof_closes,
            outside: AtomicUsize::new(0),
            counters,
        });
        // Deprecated in recent tokio for descriptors that may close while registered; this one
        // is owned by the `AsyncFd` itself, and the unsafe replacement is not open to this crate.
        #[allow(deprecated)]
        let poll = AsyncFd::with_interest(poll, tokio::io::Interest::READABLE)?;
        tokio::spawn(Arc::clone(&lot).watch(poll));
        Ok(Parking { lot })
    }

    pub(crate) fn lot(&self) -> &Arc<Lot> {
        &self.lot
    }
}

impl Drop for Parking {
    fn drop(&mut self) {
        let parked = match self.lot.state.lock() {
            Ok(mut state) => {
                state.stopping = true;
                state.deadlines.clear();
                std::mem::take(&mut state.parked)
            }
            Err(_) => HashMap::new(),
        };
        // Closed outside the lock (their handles refer to the lot).
        let closed = parked.len() as u64;
        drop(parked);
        self.lot.counters.set_aside.sub(closed);
        self.lot.changed.notify_one();
    }
}

impl Lot {
    /// Sets `parked` aside until its socket is readable, it is woken or its deadline passes. The
    /// caller holds the connection's push queue (see the module's note on locks). A socket that
    /// cannot be watched is given back, to be served by a task.
    pub(crate) fn park(&self, mut parked: Parked) -> Result<(), Box<Parked>> {
        let Ok(mut state) = self.state.lock() else {
            return Err(Box::new(parked));
        };
        if state.stopping {
            return Err(Box::new(parked));
        }
        let id = parked.pushes.id();
        let token = Token(id as usize);
        if self
            .registry
            .register(&mut parked.stream, token, Interest::READABLE)
            .is_err()
        {
            return Err(Box::new(parked));
        }
        let deadline = parked.deadline;
        state.deadlines.insert((deadline, id));
        state.parked.insert(id, Box::new(parked));
        self.outside.fetch_add(1, Ordering::AcqRel);
        self.counters.set_aside.add(1);
        let sooner = state.sleeping_until.is_none_or(|until| deadline < until);
        drop(state);
        if sooner {
            self.changed.notify_one();
        }
        Ok(())
    }

    /// Takes connection `id` back to the accept loop, if it is set aside.
    pub(crate) fn wake(&self, id: u64) {
        let parked = match self.state.lock() {
            Ok(mut state) => Self::take(&mut state, id),
            Err(_) => None,
        };
        if let Some(parked) = parked {
            self.send_back(Revived::Woken(parked));
        }
    }

    /// Connection `id`'s socket is readable: bytes came (it is taken back to be served), its
    /// peer closed or it failed (it is taken back ended: thousands of clients closing at once
    /// must not cost a task and a read block each), or nothing after all (it stays). The socket
    /// is looked at under the lot's lock, so that a push cannot miss it meanwhile.
    fn readable(&self, id: u64) {
        let revived = {
            let Ok(mut state) = self.state.lock() else {
                return;
            };
            let Some(parked) = state.parked.get(&id) else {
                return;
            };
            let ended = match parked.stream.peek(&mut [0; 1]) {
                Ok(0) if self.eof_closes => Some(msgframe_io::Error::Closed),
                Ok(_) => None,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => None,
                Err(e) => Some(msgframe_io::Error::from(e)),
            };
            let Some(parked) = Self::take(&mut state, id) else {
                return;
            };
            match ended {
                Some(error) => Revived::Ended(parked, error),
                None => Revived::Woken(parked),
            }
        };
        self.send_back(revived);
    }

    /// How many connections are set aside or on their way back.
    pub(crate) fn outside(&self) -> usize {
        self.outside.load(Ordering::Acquire)
    }

    /// The accept loop took one back.
    pub(crate) fn taken_back(&self) {
        self.outside.fetch_sub(1, Ordering::AcqRel);
    }

    fn take(state: &mut State, id: u64) -> Option<Box<Parked>> {
        let parked = state.parked.remove(&id)?;
        state.deadlines.remove(&(parked.deadline, id));
        Some(parked)
    }

    fn send_back(&self, mut revived: Revived) {
        self.counters.set_aside.sub(1);
        let (Revived::Woken(parked) | Revived::Ended(parked, _)) = &mut revived;
        let _ = self.registry.deregister(&mut parked.stream);
        if let Err(lost) = self.back.send(revived) {
            // The accept loop is gone: the connection closes (its counts go with it).
            self.outside.fetch_sub(1, Ordering::AcqRel);
            drop(lost);
        }
    }

    /// The watching task: waits for readable sockets, sooner deadlines and deadlines until
    /// stopped.
    async fn watch(self: Arc<Self>, mut poll: AsyncFd<Poll>) {
        let mut events = Events::with_capacity(EVENTS);
        loop {
            let soonest = {
                let Ok(mut state) = self.state.lock() else {
                    return;
                };
                if state.stopping {
                    return;
                }
                let soonest = state.deadlines.first().map(|(at, _)| *at);
                state.sleeping_until = soonest;
                soonest
            };
            let far = crate::policy::heartbeat::far_future(crate::task::now());
            let until = tokio::time::Instant::from_std(soonest.unwrap_or(far));
            tokio::select! {
                ready = poll.readable_mut() => match ready {
                    Ok(mut ready) => {
                        // Everything the poll has now; its descriptor is readable again when
                        // more comes.
                        loop {
                            match ready.get_inner_mut().poll(&mut events, Some(Duration::ZERO)) {
                                Ok(()) => {}
                                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                                Err(e) => {
                                    tracing::error!(error = %e, "the lot of quiet connections failed");
                                    break;
                                }
                            }
                            if events.is_empty() {
                                ready.clear_ready();
                                break;
                            }
                            for event in &events {
                                self.readable(event.token().0 as u64);
                            }
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "the lot of quiet connections failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                () = tokio::time::sleep_until(until), if soonest.is_some() => {}
                () = self.changed.notified() => {}
            }
            self.expire(crate::task::now());
        }
    }

    /// Takes back every connection whose deadline has passed.
    fn expire(&self, now: Instant) {
        loop {
            let parked = {
                let Ok(mut state) = self.state.lock() else {
                    return;
                };
                match state.deadlines.first() {
                    Some(&(at, id)) if at <= now => {
                        state.deadlines.pop_first();
                        state.parked.remove(&id)
                    }
                    _ => return,
                }
            };
            if let Some(parked) = parked {
                self.send_back(Revived::Woken(parked));
            }
        }
    }
}
