//! The accept loop: admission first (a refused connection costs one lock and a close), then a
//! task per admitted connection; at shutdown, stop accepting and drain.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::connection::{self, Connection, Handler, PushQueue};
use super::park::{Lot, Parking, Revived};
use super::stats::Counters;
use super::{ServerConfig, ServerShared};
use crate::error::Disconnect;
use crate::policy::admission::Refusal;
use crate::policy::idle::Reaped;
use crate::task::signalled;
use crate::Error;

/// How long to wait after an accept error (out of file descriptors) before accepting again.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// How long a refused connection may take to receive the rejection message.
const REJECT_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

pub(crate) async fn serve<H: Handler>(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    shared: Arc<ServerShared>,
    handler: Arc<H>,
) -> Result<(), Error> {
    let mut shutdown = shared.shutdown.subscribe();
    let mut tasks = JoinSet::new();
    // Quiet plain-TCP connections wait in a lot, off the runtime, and come back through `revived`.
    let (back, mut revived) = tokio::sync::mpsc::unbounded_channel();
    let parking = if config.set_aside && config.tls.is_none() && config.simplex.is_none() {
        let eof_closes = connection::eof_closes(&config.framing);
        match Parking::start(back, eof_closes, Arc::clone(&shared.counters)) {
            Ok(parking) => Some(parking),
            Err(e) => {
                tracing::warn!(error = %e, "quiet connections stay on the runtime");
                None
            }
        }
    } else {
        None
    };
    let lot = parking.as_ref().map(|p| Arc::clone(p.lot()));
    if let Some(super::ReturnSource::Accept(links)) = &config.simplex {
        let links = Arc::clone(links);
        let shutdown = shared.shutdown.subscribe();
        tokio::spawn(links.accept(config.tls.clone(), shutdown));
    }
    let mut next_id = 0u64;
    tracing::info!(addr = %shared.local_addr, "serving");
    loop {
        tokio::select! {
            biased;
            () = signalled(&mut shutdown) => break,
            Some(ended) = tasks.join_next(), if !tasks.is_empty() => joined(ended),
            Some(back) = revived.recv() => {
                resume(back, &config, &shared, &handler, lot.as_ref(), &mut tasks);
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if let Err(refusal) = admit(&shared, peer) {
                        handler.refused(peer, &refusal);
                        refuse(stream, peer, refusal, &config, &shared);
                        continue;
                    }
                    next_id += 1;
                    start(stream, peer, next_id, &config, &shared, &handler, lot.as_ref(), &mut tasks);
                }
                Err(e) => {
                    tracing::error!(error = %e, "accept failed; pausing");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                }
            },
        }
    }
    drop(listener);
    tracing::info!(open = tasks.len(), "shutting down: no longer accepting");
    let open: Vec<Connection> = shared
        .connections
        .lock()
        .map(|c| c.values().cloned().collect())
        .unwrap_or_default();
    for connection in open {
        connection.shut_down();
    }
    // Connections set aside come back to close (their close request takes them back).
    let outside = || lot.as_ref().map_or(0, |lot| lot.outside());
    let drained = tokio::time::timeout(config.grace, async {
        while !tasks.is_empty() || outside() > 0 {
            tokio::select! {
                Some(ended) = tasks.join_next(), if !tasks.is_empty() => joined(ended),
                Some(back) = revived.recv() => {
                    resume(back, &config, &shared, &handler, lot.as_ref(), &mut tasks);
                }
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = tasks.len() + outside(),
            "shutdown grace over: closing the remaining connections"
        );
        tasks.shutdown().await;
    }
    // Stops the lot's thread; connections still set aside close with it.
    drop(parking);
    Ok(())
}

/// A connection's task ended.
fn joined(ended: Result<(), tokio::task::JoinError>) {
    if let Err(e) = ended {
        if e.is_panic() {
            tracing::error!("a connection's handler panicked; that connection is closed");
        }
    }
}

/// Gives a connection taken back from the lot a new task, which continues it; or ends it, when
/// its socket ended while it was aside.
fn resume<H: Handler>(
    back: Revived,
    config: &Arc<ServerConfig>,
    shared: &Arc<ServerShared>,
    handler: &Arc<H>,
    lot: Option<&Arc<Lot>>,
    tasks: &mut JoinSet<()>,
) {
    let Some(lot) = lot else { return };
    lot.taken_back();
    let parked = match back {
        Revived::Woken(parked) => parked,
        Revived::Ended(parked, error) => {
            let end = connection::end_aside(*parked, error, &**handler, config);
            count_end(&end, &shared.counters);
            return;
        }
    };
    let span =
        tracing::info_span!("connection", id = parked.pushes.id(), peer = %parked.pushes.peer());
    let task = connection::resume(
        parked,
        Arc::clone(handler),
        Arc::clone(config),
        Arc::clone(&shared.counters),
        Arc::clone(lot),
    );
    let counters = Arc::clone(&shared.counters);
    tasks.spawn(
        async move {
            if let Some(end) = task.await {
                count_end(&end, &counters);
            }
        }
        .instrument(span),
    );
}

/// Counts the connection in, or says why not.
pub(crate) fn admit(shared: &ServerShared, peer: SocketAddr) -> Result<(), Refusal> {
    match shared.admission.lock() {
        Ok(mut admission) => admission.admit(peer.ip()),
        // A poisoned lock cannot happen (no code panics while holding it); refuse rather than
        // serve uncounted.
        Err(_) => Err(Refusal::TotalCap { cap: 0 }),
    }
}

/// Counts and logs a refusal.
pub(crate) fn count_refusal(peer: SocketAddr, refusal: &Refusal, shared: &ServerShared) {
    let counter = match refusal {
        Refusal::Denied | Refusal::NotAllowed => &shared.counters.refused_address,
        Refusal::TotalCap { .. } => &shared.counters.refused_total_cap,
        Refusal::PerClientCap { .. } => &shared.counters.refused_per_client,
    };
    counter.add(1);
    tracing::warn!(%peer, %refusal, "connection refused");
}

fn refuse(
    stream: TcpStream,
    peer: SocketAddr,
    refusal: Refusal,
    config: &Arc<ServerConfig>,
    shared: &ServerShared,
) {
    count_refusal(peer, &refusal, shared);
    match &config.reject_message {
        None => {
            // A reset: no TIME_WAIT left on the server by a flood.
            let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
            drop(stream);
        }
        Some(message) => {
            let message = message.clone();
            let framing = config.framing.clone();
            tokio::spawn(async move {
                let mut writer = msgframe_tokio::MessageWriter::new(stream, framing);
                let _ = tokio::time::timeout(REJECT_WRITE_TIMEOUT, async {
                    writer.write_message(&message).await?;
                    writer.shutdown().await
                })
                .await;
            });
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn start<H: Handler>(
    stream: TcpStream,
    peer: SocketAddr,
    id: u64,
    config: &Arc<ServerConfig>,
    shared: &Arc<ServerShared>,
    handler: &Arc<H>,
    lot: Option<&Arc<Lot>>,
    tasks: &mut JoinSet<()>,
) {
    let (connection, pushes, admitted) = register(id, peer, config, shared);
    let span = tracing::info_span!("connection", id, %peer);
    let config = Arc::clone(config);
    let shared = Arc::clone(shared);
    let handler = Arc::clone(handler);
    let lot = lot.cloned();
    let task = async move {
        // Removes the connection from the counts however the task ends (aborted included),
        // unless it is set aside: then it goes with the connection.
        tracing::debug!("accepted");
        // On Linux the listener's options are inherited: no system call here.
        let own_options = if config.options_inherited {
            Ok(())
        } else {
            crate::socket::configure(&stream, config.keepalive.as_ref())
        };
        let configured = own_options.and_then(|()| {
            config
                .socket_options
                .as_ref()
                .map_or(Ok(()), |f| f(&stream))
        });
        if let Err(e) = configured {
            tracing::warn!(error = %e, "socket options refused; closing");
            shared.counters.errors.add(1);
            return;
        }
        let counters = Arc::clone(&shared.counters);
        let end = match &config.tls {
            None => {
                connection::run(
                    stream,
                    connection,
                    pushes,
                    handler,
                    config.clone(),
                    Arc::clone(&counters),
                    admitted,
                    lot,
                )
                .await
            }
            #[cfg(not(feature = "tls"))]
            Some(never) => match *never {},
            // Boxed, handshake and all: a plain connection's task must not carry the room TLS
            // state needs.
            #[cfg(feature = "tls")]
            Some(tls) => {
                let tls = tls.clone();
                let run = async {
                    let stream = secure(&tls, stream, peer, &connection, &counters).await?;
                    Some(
                        connection::run(
                            stream,
                            connection,
                            pushes,
                            handler,
                            config.clone(),
                            Arc::clone(&counters),
                            admitted,
                            None,
                        )
                        .await,
                    )
                };
                match Box::pin(run).await {
                    Some(end) => end,
                    None => return,
                }
            }
        };
        if let Some(end) = end {
            count_end(&end, &counters);
        }
    };
    tasks.spawn(task.instrument(span));
}

/// Counts and logs how a connection ended.
pub(crate) fn count_end(end: &Disconnect, counters: &Counters) {
    match end {
        Disconnect::Reaped(Reaped::Idle) => counters.reaped_idle.add(1),
        Disconnect::Reaped(Reaped::MessageTooSlow) => counters.reaped_slow.add(1),
        Disconnect::PeerClosed
        | Disconnect::Handler
        | Disconnect::Shutdown
        | Disconnect::Closed => {}
        other => counters.ended_by_error(error_kind(other)),
    }
    match end {
        Disconnect::PeerClosed
        | Disconnect::Handler
        | Disconnect::Shutdown
        | Disconnect::Closed => {
            tracing::debug!(reason = %end, "closed");
        }
        _ => tracing::info!(reason = %end, "closed"),
    }
}

/// A short name for what ended a connection in error, for the metrics' `kind` label.
pub(crate) fn error_kind(end: &Disconnect) -> &'static str {
    match end {
        Disconnect::Read(msgframe_io::Error::Malformed(_)) => "malformed",
        Disconnect::Read(msgframe_io::Error::TooLong(_)) => "too_long",
        Disconnect::Read(msgframe_io::Error::UnexpectedEof { .. }) => "unexpected_eof",
        Disconnect::Read(_) => "read",
        Disconnect::Write(_) => "write",
        Disconnect::WriteTimedOut(_) => "write_timeout",
        Disconnect::NoReturnLink => "no_return_link",
        _ => "other",
    }
}

/// The TLS handshake, under its own deadline, after admission: a client that opens TLS and never
/// finishes it is closed and counted. The client's certificate becomes the connection's identity.
#[cfg(feature = "tls")]
async fn secure(
    tls: &crate::tls::TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    connection: &Connection,
    counters: &Counters,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    match tokio::time::timeout(tls.handshake_timeout, tls.acceptor.accept(stream)).await {
        Ok(Ok(stream)) => {
            if let Some(identity) = crate::tls::PeerIdentity::of(&stream) {
                tracing::debug!(subject = %identity.subject, "client certificate");
                connection.set_identity(identity);
            }
            Some(stream)
        }
        Ok(Err(e)) => {
            counters.tls_handshake_failed.add(1);
            let e = crate::tls::handshake_error(&peer.to_string(), e);
            tracing::info!(error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            counters.tls_handshake_timeout.add(1);
            tracing::info!(timeout = ?tls.handshake_timeout, "TLS handshake not finished in time");
            None
        }
    }
}

/// Counts an admitted connection in and registers it: its handle, its task's end of the push
/// queue, and its place in the counts (given back when dropped).
pub(crate) fn register(
    id: u64,
    peer: SocketAddr,
    config: &ServerConfig,
    shared: &Arc<ServerShared>,
) -> (Connection, PushQueue, Admitted) {
    let counters = &shared.counters;
    counters.accepted.add(1);
    counters.open.add(1);
    let (connection, pushes) = Connection::new(id, peer, config.push_queue);
    if let Ok(mut connections) = shared.connections.lock() {
        connections.insert(id, connection.clone());
    }
    let admitted = Admitted {
        shared: Arc::clone(shared),
        peer,
        id,
    };
    (connection, pushes, admitted)
}

/// An admitted connection's place in the counts, given back when its task ends.
pub(crate) struct Admitted {
    shared: Arc<ServerShared>,
    peer: SocketAddr,
    id: u64,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Ok(mut admission) = self.shared.admission.lock() {
            admission.release(self.peer.ip());
        }
        if let Ok(mut connections) = self.shared.connections.lock() {
            connections.remove(&self.id);
        }
        self.shared.counters.open.sub(1);
    }
}
