//! The server for plain threads: an accept loop on the calling thread, and each connection's
//! [`ServerSession`] driven on a thread of its own that owns the socket and calls the handler
//! itself (no hop to another thread per message), waiting on the socket, its pushes and its one
//! timer with `mio`.

use std::fmt;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use mio::{Events, Interest, Poll, Token, Waker};
use msgframe_codec::Encoder;
use msgframe_io::{MessageRead, NonBlockingReader};

use super::accept::{admit, count_refusal, register};
use super::connection::{Connection, PushQueue};
use super::stats::Counters;
use super::{Reply, Server, ServerConfig, ServerHandle, ServerShared};
use crate::error::{ConfigError, Disconnect};
use crate::session::{ServerEvent, ServerSession};
use crate::task::Reply as Outcome;
use crate::Error;

const LISTENER: Token = Token(0);
const SOCKET: Token = Token(0);
const WAKE: Token = Token(1);

/// How often a shutting-down server looks whether its connections have ended.
const DRAIN_CHECK: Duration = Duration::from_millis(10);

/// A [`Server`] for plain threads, from [`ServerBuilder::bind_blocking`](crate::ServerBuilder::bind_blocking):
/// [`serve`](BlockingServer::serve) blocks the calling thread until [`ServerHandle::shutdown`]
/// (from any thread).
///
/// Each connection runs on a thread of its own, which owns the socket and calls the handler
/// itself, one message at a time: no hop to another thread per message. The caps, allow and deny
/// lists, idle reaping, per-message deadlines, write timeouts, heartbeat answers, pushes
/// ([`Connection::push_blocking`]) and graceful shutdown are those of the async server; cap the
/// threads with [`max_connections`](crate::ServerBuilder::max_connections). With TLS or
/// [`socket_options`](crate::ServerBuilder::socket_options), connections run on the crate's
/// runtime instead and the handler on its blocking threads.
///
/// ```no_run
/// use msgframe_conn::{Reply, Server};
///
/// let server = Server::builder("ascii:4".parse().unwrap()).bind_blocking("0.0.0.0:9000")?;
/// server.serve(|_conn, request| Reply::Send(request))?;
/// # Ok::<(), msgframe_conn::Error>(())
/// ```
pub struct BlockingServer {
    how: How,
}

enum How {
    Threads {
        listener: TcpListener,
        config: Arc<ServerConfig>,
        shared: Arc<ServerShared>,
    },
    Runtime {
        server: Server,
        runtime: tokio::runtime::Handle,
    },
}

impl fmt::Debug for BlockingServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingServer")
            .field("local_addr", &self.local_addr())
            .finish_non_exhaustive()
    }
}

impl BlockingServer {
    pub(crate) fn on_threads(
        listener: TcpListener,
        config: Arc<ServerConfig>,
        shared: Arc<ServerShared>,
    ) -> Self {
        BlockingServer {
            how: How::Threads {
                listener,
                config,
                shared,
            },
        }
    }

    pub(crate) fn on_runtime(server: Server, runtime: tokio::runtime::Handle) -> Self {
        BlockingServer {
            how: How::Runtime { server, runtime },
        }
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        match &self.how {
            How::Threads { shared, .. } => shared.local_addr,
            How::Runtime { server, .. } => server.local_addr(),
        }
    }

    /// A handle to read counters, reach connections and shut the server down from elsewhere.
    pub fn handle(&self) -> ServerHandle {
        match &self.how {
            How::Threads { shared, .. } => ServerHandle {
                shared: Arc::clone(shared),
            },
            How::Runtime { server, .. } => server.handle(),
        }
    }

    /// Serves until [`ServerHandle::shutdown`]: then it stops accepting, lets handlers in
    /// progress finish within the shutdown grace, closes the connections, and returns. A handler
    /// that panics closes its connection only.
    ///
    /// # Errors
    /// The listener failed to be watched; [`Error::Config`] inside an async runtime.
    pub fn serve(
        self,
        handler: impl Fn(Connection, Bytes) -> Reply + Send + Sync + 'static,
    ) -> Result<(), Error> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::Config(ConfigError::BlockingInRuntime));
        }
        match self.how {
            How::Threads {
                listener,
                config,
                shared,
            } => accept_loop(listener, &config, &shared, Arc::new(handler)),
            How::Runtime { server, runtime } => {
                let handler = Arc::new(handler);
                runtime.block_on(server.serve(move |conn: Connection, message: Bytes| {
                    let handler = Arc::clone(&handler);
                    async move {
                        tokio::task::spawn_blocking(move || handler(conn, message))
                            .await
                            .unwrap_or(Reply::Close)
                    }
                }))
            }
        }
    }
}

fn accept_loop<H>(
    listener: TcpListener,
    config: &Arc<ServerConfig>,
    shared: &Arc<ServerShared>,
    handler: Arc<H>,
) -> Result<(), Error>
where
    H: Fn(Connection, Bytes) -> Reply + Send + Sync + 'static,
{
    listener.set_nonblocking(true)?;
    // Watched through a second handle on the same socket; accepted from the first.
    let mut watched = mio::net::TcpListener::from_std(listener.try_clone()?);
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut watched, LISTENER, Interest::READABLE)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
    let _ = shared.wake_acceptor.set(waker);
    let mut events = Events::with_capacity(64);
    let mut next_id = 0u64;
    tracing::info!(addr = %shared.local_addr, "serving (a thread per connection)");
    while !*shared.shutdown.borrow() {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e.into());
            }
        }
        loop {
            match listener.accept() {
                Ok((stream, peer)) => {
                    if let Err(refusal) = admit(shared, peer) {
                        count_refusal(peer, &refusal, shared);
                        refuse(stream, config);
                        continue;
                    }
                    next_id += 1;
                    start(stream, peer, next_id, config, shared, &handler);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::error!(error = %e, "accept failed; pausing");
                    std::thread::sleep(Duration::from_millis(100));
                    break;
                }
            }
        }
    }
    drop(watched);
    drop(listener);
    drain(shared, config.grace);
    Ok(())
}

/// At shutdown: every connection is asked to close once its handler is done; those still open
/// after `grace` are cut.
fn drain(shared: &ServerShared, grace: Duration) {
    let open = || shared.counters.open.get();
    tracing::info!(open = open(), "shutting down: no longer accepting");
    let connections: Vec<Connection> = shared
        .connections
        .lock()
        .map(|c| c.values().cloned().collect())
        .unwrap_or_default();
    for connection in &connections {
        connection.shut_down();
    }
    let until = Instant::now() + grace;
    while open() > 0 && Instant::now() < until {
        std::thread::sleep(DRAIN_CHECK);
    }
    if open() > 0 {
        tracing::warn!(
            open = open(),
            "shutdown grace over: the remaining connections close when their handlers return"
        );
    }
}

/// A refused connection: reset at once, or sent the rejection message if it takes it at once.
fn refuse(stream: TcpStream, config: &ServerConfig) {
    match &config.reject_message {
        None => {
            let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
        }
        Some(message) => {
            let mut framed = BytesMut::new();
            if config.encoder.encode(message, &mut framed).is_ok() {
                let _ = stream.set_nonblocking(true);
                let _ = (&stream).write(&framed);
            }
        }
    }
}

fn start<H>(
    stream: TcpStream,
    peer: SocketAddr,
    id: u64,
    config: &Arc<ServerConfig>,
    shared: &Arc<ServerShared>,
    handler: &Arc<H>,
) where
    H: Fn(Connection, Bytes) -> Reply + Send + Sync + 'static,
{
    let (connection, pushes, admitted) = register(id, peer, config, shared);
    let config = Arc::clone(config);
    let handler = Arc::clone(handler);
    let counters = Arc::clone(&shared.counters);
    let spawned = std::thread::Builder::new()
        .name(format!("msgframe-conn-{id}"))
        .spawn(move || {
            let _admitted = admitted;
            let span = tracing::info_span!("connection", id, %peer);
            let _entered = span.enter();
            let configured = if config.options_inherited {
                Ok(())
            } else {
                crate::socket::configure(&stream, config.keepalive.as_ref())
            };
            if let Err(e) = configured {
                tracing::warn!(error = %e, "socket options refused; closing");
                counters.errors.add(1);
                return;
            }
            let cause = run(stream, connection, pushes, &*handler, &config, &counters);
            super::accept::count_end(&cause, &counters);
        });
    if let Err(e) = spawned {
        // The thread's closure, admission included, was dropped with the error.
        tracing::error!(error = %e, "no thread for a connection; closed");
    }
}

/// Runs one connection on this thread until it ends; returns why.
fn run<H>(
    stream: TcpStream,
    connection: Connection,
    pushes: PushQueue,
    handler: &H,
    config: &ServerConfig,
    counters: &Counters,
) -> Arc<Disconnect>
where
    H: Fn(Connection, Bytes) -> Reply,
{
    let polite = stream.try_clone().ok();
    let cause = drive(stream, &connection, &pushes, handler, config, counters)
        .unwrap_or_else(|e| Arc::new(Disconnect::Read(msgframe_io::Error::Io(e))));
    pushes.ended(&cause);
    drop(pushes);
    if let Some(stream) = polite {
        if !matches!(
            *cause,
            Disconnect::Read(_) | Disconnect::Write(_) | Disconnect::WriteTimedOut(_)
        ) {
            let _ = stream.shutdown(std::net::Shutdown::Write);
        }
    }
    cause
}

/// The connection's loop: do what the session says, wait (socket, wake-up, timer), tell the
/// session.
fn drive<H>(
    stream: TcpStream,
    connection: &Connection,
    pushes: &PushQueue,
    handler: &H,
    config: &ServerConfig,
    counters: &Counters,
) -> io::Result<Arc<Disconnect>>
where
    H: Fn(Connection, Bytes) -> Reply,
{
    stream.set_nonblocking(true)?;
    let mut stream = mio::net::TcpStream::from_std(stream);
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut stream, SOCKET, Interest::READABLE)?;
    connection.set_waker(Arc::new(Waker::new(poll.registry(), WAKE)?));
    let mut reader = NonBlockingReader::new(stream, config.framing.clone());
    let mut session: ServerSession<Outcome<()>> =
        ServerSession::new(Arc::clone(&config.rules), Instant::now());
    let mut events = Events::with_capacity(4);
    let mut out = BytesMut::new();
    let mut writing: Option<usize> = None;
    let mut writable_wanted = false;
    let mut readable = true;
    let mut closing = false;
    loop {
        let now = Instant::now();
        if session.wants_read() && readable {
            match reader.read_message() {
                Ok(message) => {
                    counters.frames_in.add(1);
                    counters.bytes_in.add(message.len() as u64);
                    let partial = !reader.is_between_messages();
                    session.handle_message(now, message, partial);
                }
                Err(msgframe_io::Error::WouldBlock) => {
                    readable = false;
                    if !reader.is_between_messages() {
                        session.bytes_arrived(now);
                    }
                }
                Err(msgframe_io::Error::Yielded { .. }) => session.bytes_arrived(now),
                Err(e) => session.handle_read_error(now, e),
            }
        }
        while let Some(event) = session.poll_event() {
            match event {
                ServerEvent::Handle(message) => {
                    let called = Instant::now();
                    let call = AssertUnwindSafe(|| handler(connection.clone(), message));
                    let reply = catch_unwind(call).unwrap_or_else(|_| {
                        tracing::error!("the handler panicked; its connection is closed");
                        Reply::Close
                    });
                    let answered = Instant::now();
                    counters.handler_done(answered.saturating_duration_since(called));
                    session.handler_done(answered, reply);
                }
                ServerEvent::Done { caller, outcome } => {
                    let _ = caller.send(outcome);
                }
                ServerEvent::ReleaseBuffers => {
                    reader.release_idle_buffer();
                    out = BytesMut::new();
                }
                ServerEvent::Closed(cause) => return Ok(cause),
            }
        }
        let now = Instant::now();
        if writing.is_none() {
            if let Some(transmit) = session.poll_transmit(now) {
                match config.encoder.encode(&transmit.body, &mut out) {
                    Ok(()) => writing = Some(transmit.body.len()),
                    Err(e) => session.write_done(now, Err(msgframe_io::Error::from_encode(e))),
                }
                continue;
            }
        }
        if let Some(len) = writing {
            match write_out(reader.get_mut(), &mut out) {
                Ok(true) => {
                    writing = None;
                    counters.frames_out.add(1);
                    counters.bytes_out.add(len as u64);
                    session.write_done(now, Ok(()));
                    continue;
                }
                Ok(false) => {}
                Err(e) => {
                    writing = None;
                    session.write_done(now, Err(e.into()));
                    continue;
                }
            }
        }
        if writing.is_some() != writable_wanted {
            writable_wanted = writing.is_some();
            let interest = if writable_wanted {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            poll.registry()
                .reregister(reader.get_mut(), SOCKET, interest)?;
        }
        if !closing && session.wants_push() {
            match pushes.try_next() {
                Some(Ok(push)) => {
                    // A pusher that gave up first reports that itself.
                    if push.ticket.take() {
                        session.push(now, push.body, push.done);
                    }
                    continue;
                }
                Some(Err(cause)) => {
                    closing = true;
                    session.close_with(now, cause);
                    continue;
                }
                None => {}
            }
        }
        if session.wants_read() && readable {
            continue;
        }
        let timeout = session
            .poll_timeout()
            .map(|at| at.saturating_duration_since(Instant::now()));
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        for event in &events {
            if event.token() == SOCKET
                && (event.is_readable() || event.is_read_closed() || event.is_error())
            {
                readable = true;
                session.readable(Instant::now());
            }
        }
        let now = Instant::now();
        if session.poll_timeout().is_some_and(|at| at <= now) {
            session.handle_timeout(now);
        }
    }
}

/// Writes what `out` holds; `Ok(false)` when the socket takes no more now.
fn write_out(stream: &mut mio::net::TcpStream, out: &mut BytesMut) -> io::Result<bool> {
    while !out.is_empty() {
        match stream.write(out) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => out.advance(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}
