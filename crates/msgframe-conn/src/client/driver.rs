//! The task behind a long client: connect (failover, backoff), run the after-connect hook, then
//! read and dispatch messages, send heartbeats, and write queued messages until the connection
//! ends; then fail what was in flight and start over.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use msgframe_tokio::{MessageReader, MessageWriter};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::connect::{open, BoxRead, BoxWrite, Link};
use super::event::Event;
use super::long::{Config, Key, Session};
use super::outgoing::{Outgoing, Waiter};
use crate::policy::backoff::{Jitter, Reconnect};
use crate::policy::heartbeat::{HeartbeatAction, HeartbeatState};
use crate::policy::matcher::Matcher;
use crate::Error;

/// How long the writer may take to write a heartbeat or an answer before it gives up on it (the
/// missing answer then counts against the peer).
const CONTROL_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a shutting-down client waits for the message being written.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// The connection as the handles see it.
#[derive(Debug, Clone, Default)]
pub(crate) struct LinkState {
    /// The host connected to now.
    pub(crate) connected: Option<String>,
    /// Connections made so far.
    pub(crate) connections: u64,
    /// Why the last connection attempt failed or the last connection ended.
    pub(crate) last_failure: Option<String>,
}

/// What the client's handles and its task share.
pub(crate) struct Shared<K> {
    pub(crate) config: Arc<Config<K>>,
    pub(crate) queue: Arc<tokio::sync::Mutex<mpsc::Receiver<Outgoing<K>>>>,
    pub(crate) matcher: Arc<Mutex<Matcher<K, Waiter>>>,
    pub(crate) incoming: mpsc::Sender<Bytes>,
    pub(crate) events: broadcast::Sender<Event>,
    pub(crate) state: watch::Sender<LinkState>,
    pub(crate) shutdown: watch::Receiver<bool>,
}

pub(crate) struct Driver<K> {
    shared: Shared<K>,
    reconnect: Reconnect,
    jitter: Jitter,
}

/// Why a connection ended.
enum End {
    Shutdown,
    Failed(String),
}

impl<K: Key> Driver<K> {
    pub(crate) fn new(shared: Shared<K>) -> Self {
        let c = &shared.config;
        let reconnect = Reconnect::new(c.backoff, c.order, c.hosts.len(), c.stable_after);
        Driver {
            shared,
            reconnect,
            jitter: Jitter::new(),
        }
    }

    fn emit(&self, event: Event) {
        match &event {
            Event::Connected { host, addr } => tracing::info!(%host, %addr, "connected"),
            Event::ConnectFailed { host, error } => {
                tracing::warn!(%host, %error, "connection attempt failed")
            }
            Event::Disconnected { host, reason } => {
                tracing::warn!(%host, %reason, "disconnected")
            }
            Event::Reconnecting { attempt, delay } => {
                tracing::info!(attempt, ?delay, "reconnecting")
            }
            Event::HeartbeatMissed { missed } => tracing::warn!(missed, "heartbeat missed"),
            Event::PeerDead { missed } => tracing::warn!(missed, "peer declared dead"),
            Event::Shutdown => tracing::info!("client shut down"),
        }
        if let Event::ConnectFailed { error: reason, .. } | Event::Disconnected { reason, .. } =
            &event
        {
            self.shared
                .state
                .send_modify(|s| s.last_failure = Some(reason.clone()));
        }
        // No receiver is fine: events are optional.
        let _ = self.shared.events.send(event);
    }

    fn shutting_down(&self) -> bool {
        *self.shared.shutdown.borrow()
    }

    /// Waits `delay`, or less if the client shuts down; returns whether it is shutting down.
    async fn pause(&mut self, delay: Duration) -> bool {
        let mut shutdown = self.shared.shutdown.clone();
        tokio::select! {
            () = tokio::time::sleep(delay) => self.shutting_down(),
            () = signalled(&mut shutdown) => true,
        }
    }

    pub(crate) async fn run(mut self) {
        while !self.shutting_down() {
            let Some((index, link)) = self.connect_round().await else {
                if self.shutting_down() {
                    break;
                }
                let (attempt, delay) = self.reconnect.round_failed(self.jitter.sample());
                self.emit(Event::Reconnecting { attempt, delay });
                if self.pause(delay).await {
                    break;
                }
                continue;
            };
            self.reconnect.connected(index);
            let host = self.shared.config.hosts[index].clone();
            let started = Instant::now();
            match self.session(&host, link).await {
                End::Shutdown => break,
                End::Failed(reason) => {
                    self.emit(Event::Disconnected { host, reason });
                }
            }
            let (attempt, delay) = self
                .reconnect
                .disconnected(started.elapsed(), self.jitter.sample());
            self.emit(Event::Reconnecting { attempt, delay });
            if self.pause(delay).await {
                break;
            }
        }
        self.shared.state.send_modify(|s| s.connected = None);
        // Queued messages were not sent: their callers learn it when the queue goes.
        self.emit(Event::Shutdown);
    }

    /// One round of connection attempts, every host once in order.
    async fn connect_round(&mut self) -> Option<(usize, Link)> {
        let config = Arc::clone(&self.shared.config);
        let order: Vec<usize> = self.reconnect.round().collect();
        for index in order {
            let host = &config.hosts[index];
            let deadline = Instant::now() + config.connect_timeout;
            let mut shutdown = self.shared.shutdown.clone();
            let result = tokio::select! {
                result = open(host, config.connect_timeout, deadline, config.keepalive.as_ref(), &config.security) => result,
                () = signalled(&mut shutdown) => return None,
            };
            match result {
                Ok(stream) => return Some((index, stream)),
                Err(e) => self.emit(Event::ConnectFailed {
                    host: host.clone(),
                    error: e.to_string(),
                }),
            }
        }
        None
    }

    /// Runs one connection until it ends.
    async fn session(&mut self, host: &str, link: Link) -> End {
        let config = Arc::clone(&self.shared.config);
        let addr = link.peer;
        let mut session = Session {
            host: host.to_owned(),
            addr,
            reader: MessageReader::new(link.read, config.framing.clone()),
            writer: MessageWriter::new(link.write, config.framing.clone()),
            keepalive: link.keepalive,
        };
        if let Some(hook) = &config.on_connect {
            let mut shutdown = self.shared.shutdown.clone();
            let result = tokio::select! {
                result = hook(&mut session) => result,
                () = signalled(&mut shutdown) => return End::Shutdown,
            };
            if let Err(e) = result {
                let error = format!("after-connect hook failed: {e}");
                self.emit(Event::ConnectFailed {
                    host: host.to_owned(),
                    error: error.clone(),
                });
                return End::Failed(error);
            }
        }
        let Session { reader, writer, .. } = session;
        self.shared.state.send_modify(|s| {
            s.connected = Some(host.to_owned());
            s.connections += 1;
        });
        self.emit(Event::Connected {
            host: host.to_owned(),
            addr,
        });

        let (control_tx, control_rx) = mpsc::channel(8);
        let writer_task = tokio::spawn(write_loop(
            writer,
            control_rx,
            Arc::clone(&self.shared.queue),
            Arc::clone(&self.shared.matcher),
            self.shared.shutdown.clone(),
        ));
        let end = self.read_loop(reader, &control_tx, writer_task).await;
        self.shared.state.send_modify(|s| s.connected = None);
        // Every request still waiting went out on this connection: it gets no reply now.
        let reason = match &end {
            End::Shutdown => "the client shut down".to_owned(),
            End::Failed(reason) => reason.clone(),
        };
        let waiting: Vec<_> = match self.shared.matcher.lock() {
            Ok(mut m) => m.drain().map(|(_, w)| w).collect(),
            Err(_) => Vec::new(),
        };
        for waiter in waiting {
            let _ = waiter.tx.send(Err(Error::ConnectionLost {
                written: true,
                reason: reason.clone(),
            }));
        }
        end
    }

    async fn read_loop(
        &mut self,
        mut reader: MessageReader<BoxRead, msgframe_codec::Framing>,
        control: &mpsc::Sender<Bytes>,
        mut writer_task: JoinHandle<Result<(), Error>>,
    ) -> End {
        let config = Arc::clone(&self.shared.config);
        let timing = config
            .heartbeat
            .as_ref()
            .map(|h| h.timing)
            .unwrap_or_default();
        let mut heartbeat = HeartbeatState::new(timing, now());
        let mut shutdown = self.shared.shutdown.clone();
        let end = loop {
            let mut wake = None;
            if let Some(hb) = &config.heartbeat {
                match heartbeat.poll(now()) {
                    HeartbeatAction::Wait { until } => wake = Some(Instant::from_std(until)),
                    HeartbeatAction::Send { missed } => {
                        if missed > 0 {
                            self.emit(Event::HeartbeatMissed { missed });
                        }
                        // A full control queue means the writer is stuck: the heartbeat then
                        // counts as sent and unanswered, which is what it is.
                        let _ = control.try_send((hb.make)());
                        heartbeat.sent(now());
                        continue;
                    }
                    HeartbeatAction::Dead { missed } => {
                        self.emit(Event::PeerDead { missed });
                        break End::Failed(Error::PeerDead { missed }.to_string());
                    }
                }
            }
            tokio::select! {
                biased;
                () = signalled(&mut shutdown) => break End::Shutdown,
                result = &mut writer_task => {
                    break End::Failed(match result {
                        Ok(Ok(())) => "the writer stopped".to_owned(),
                        Ok(Err(e)) => format!("writing failed: {e}"),
                        Err(e) => format!("the writer task failed: {e}"),
                    });
                }
                message = reader.read_message() => match message {
                    Ok(message) => {
                        if let Some(end) = self.dispatch(message, &mut heartbeat, control).await {
                            break end;
                        }
                    }
                    Err(e) => break End::Failed(Error::from(e).to_string()),
                },
                () = sleep_until(wake) => {}
            }
        };
        if !writer_task.is_finished() {
            if matches!(end, End::Shutdown) {
                // Let the message being written finish; queued ones are failed when the queue
                // goes.
                let _ = tokio::time::timeout(CLOSE_GRACE, &mut writer_task).await;
            }
            writer_task.abort();
        }
        end
    }

    /// Sorts one received message: a heartbeat reply, a peer heartbeat to answer, a reply to a
    /// waiting request, or an incoming message for the application.
    async fn dispatch(
        &mut self,
        message: Bytes,
        heartbeat: &mut HeartbeatState,
        control: &mpsc::Sender<Bytes>,
    ) -> Option<End> {
        let config = Arc::clone(&self.shared.config);
        let at = now();
        let ours_outstanding = heartbeat.is_outstanding();
        let is_heartbeat_reply = config
            .heartbeat
            .as_ref()
            .is_some_and(|hb| (hb.is_reply)(&message));
        if let Some(answer) = &config.answer {
            if (answer.is_request)(&message) && !(ours_outstanding && is_heartbeat_reply) {
                let reply = (answer.answer)(&message);
                let lookalike = (answer.is_request)(&reply);
                if !lookalike || heartbeat.answer_lookalike(at) {
                    let _ = control.try_send(reply);
                }
                heartbeat.received(at);
                return None;
            }
        }
        heartbeat.received(at);
        if is_heartbeat_reply {
            return None;
        }
        if let Some(key) = (config.key)(&message) {
            let waiter = self
                .shared
                .matcher
                .lock()
                .ok()
                .and_then(|mut m| m.complete(&key));
            if let Some(waiter) = waiter {
                match waiter.tx.send(Ok(message)) {
                    Ok(()) => return None,
                    // Its caller went away just now: the reply is unmatched after all.
                    Err(Ok(message)) => return self.deliver(message).await,
                    Err(Err(_)) => return None,
                }
            }
        }
        self.deliver(message).await
    }

    /// Hands a message to the application, waiting while its channel is full.
    async fn deliver(&mut self, message: Bytes) -> Option<End> {
        let message = match self.shared.incoming.try_send(message) {
            Ok(()) => return None,
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::debug!("message received with no receiver to take it; dropped");
                return None;
            }
            Err(mpsc::error::TrySendError::Full(message)) => {
                tracing::warn!(
                    "incoming messages are not being taken (LongClient::recv): reading paused \
                     until the application takes one"
                );
                message
            }
        };
        let mut shutdown = self.shared.shutdown.clone();
        tokio::select! {
            sent = self.shared.incoming.send(message) => {
                if sent.is_err() {
                    tracing::debug!("message received with no receiver to take it; dropped");
                }
                None
            }
            () = signalled(&mut shutdown) => Some(End::Shutdown),
        }
    }
}

/// Returns once `shutdown` is set (or its sender is gone).
pub(crate) async fn signalled(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

async fn sleep_until(wake: Option<Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Writes heartbeats and answers (first) and queued messages, one at a time, until the
/// connection fails or the session ends.
async fn write_loop<K: Key>(
    mut writer: MessageWriter<BoxWrite, msgframe_codec::Framing>,
    mut control: mpsc::Receiver<Bytes>,
    queue: Arc<tokio::sync::Mutex<mpsc::Receiver<Outgoing<K>>>>,
    matcher: Arc<Mutex<Matcher<K, Waiter>>>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    let mut queue = queue.lock().await;
    let mut queue_open = true;
    loop {
        tokio::select! {
            biased;
            () = signalled(&mut shutdown) => {
                // Queued messages stay unsent: their callers learn it when the queue goes.
                writer.flush().await?;
                return Ok(());
            }
            message = control.recv() => match message {
                Some(message) => match writer.write_message_timeout(&message, CONTROL_WRITE_TIMEOUT).await {
                    Ok(()) => {}
                    Err(e) if e.is_retryable() => {}
                    Err(e) => return Err(e.into()),
                },
                // The session is over.
                None => return Ok(()),
            },
            outgoing = queue.recv(), if queue_open => match outgoing {
                Some(outgoing) => write_one(&mut writer, outgoing, &matcher).await?,
                None => queue_open = false,
            },
        }
    }
}

/// Writes one queued message, if its caller has not given it up, and reports the outcome.
async fn write_one<K: Key>(
    writer: &mut MessageWriter<BoxWrite, msgframe_codec::Framing>,
    outgoing: Outgoing<K>,
    matcher: &Mutex<Matcher<K, Waiter>>,
) -> Result<(), Error> {
    let Outgoing {
        body,
        deadline,
        ticket,
        reply,
        done,
    } = outgoing;
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() && ticket.cancel() {
        let _ = done.send(Err(Error::not_sent(
            "no connection took the message before the deadline",
        )));
        return Ok(());
    }
    if !ticket.take() {
        // Its caller gave up; it reports that itself.
        return Ok(());
    }
    let key = match reply {
        Some((key, waiter)) => {
            let inserted = match matcher.lock() {
                Ok(mut m) => m.insert(key.clone(), waiter).map_err(|e| e.0),
                Err(_) => Err(key.clone()),
            };
            if let Err(key) = inserted {
                let _ = done.send(Err(Error::DuplicateKey {
                    key: format!("{key:?}"),
                }));
                return Ok(());
            }
            Some(key)
        }
        None => None,
    };
    let unregister = |matcher: &Mutex<Matcher<K, Waiter>>| {
        if let (Some(key), Ok(mut m)) = (&key, matcher.lock()) {
            m.cancel(key);
        }
    };
    match writer.write_message_timeout(&body, remaining).await {
        Ok(()) => {
            let _ = done.send(Ok(()));
            Ok(())
        }
        Err(msgframe_io::Error::TimedOut { .. }) => {
            unregister(matcher);
            let _ = done.send(Err(Error::TimedOut {
                written: false,
                elapsed: remaining,
            }));
            Ok(())
        }
        Err(e) if e.is_not_sent() => {
            unregister(matcher);
            let _ = done.send(Err(Error::not_sent(e.to_string())));
            Ok(())
        }
        Err(e @ (msgframe_io::Error::TooLong(_) | msgframe_io::Error::Message(_))) => {
            unregister(matcher);
            let _ = done.send(Err(Error::Frame(e)));
            Ok(())
        }
        Err(e) => {
            unregister(matcher);
            let reason = crate::error::reason(&e);
            let _ = done.send(Err(Error::ConnectionLost {
                written: false,
                reason: reason.clone(),
            }));
            Err(Error::Frame(e))
        }
    }
}
