//! The options of a long client, and the configuration its task runs with.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use msgframe_codec::Framing;

use super::config::{Config, Inbound, Simplex};
use super::connect::Security;
use super::driver::Driver;
use super::event_hub::EventHub;
use super::hook::{BoxFuture, Session};
use super::lifeline::Lifeline;
use super::long::LongClient;
use super::receiver::LongReceiver;
use super::sender::LongSender;
use super::state::LinkState;
use crate::error::ConfigError;
use crate::heartbeat::{AnswerHeartbeats, Heartbeat};
use crate::message::Key;
use crate::policy::backoff::{Backoff, HostOrder};
use crate::policy::group::GroupRule;
use crate::session::{ClientRules, Overflow};
use crate::socket::Keepalive;
use crate::Error;
use crate::OutboundReads;
use tokio::sync::{mpsc, watch};

/// Options of a [`LongClient`]; [`start`](LongClientBuilder::start) it inside a tokio runtime or
/// [`start_blocking`](LongClientBuilder::start_blocking) from plain threads.
///
/// `K` is the request-matching key: `()` until [`match_replies`](Self::match_replies) sets a key
/// function. Without one, [`LongClient::request`] is synchronous request/response: one request at
/// a time, and the next message the peer sends (heartbeats aside) is its reply.
#[derive(Clone)]
pub struct LongClientBuilder<K = ()> {
    config: Config<()>,
    rules: ClientRules<K>,
    max_in_flight: usize,
    queue: usize,
    incoming: usize,
    events: usize,
    timeout: Duration,
    /// The client's name in its metrics; its first host when not given.
    name: Option<String>,
    /// Its place in a pool or group (0 for a client of its own), for its metrics.
    link: usize,
}

impl<K> fmt::Debug for LongClientBuilder<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LongClientBuilder")
            .field("hosts", &self.config.hosts)
            .field("framing", &self.config.framing)
            .field("keepalive", &self.config.keepalive)
            .field("rules", &self.rules)
            .field("backoff", &self.config.backoff)
            .field("max_in_flight", &self.max_in_flight)
            .finish_non_exhaustive()
    }
}

impl LongClientBuilder<()> {
    pub(crate) fn new(hosts: Vec<String>, framing: Framing) -> Self {
        LongClientBuilder {
            config: Config {
                hosts,
                framing,
                keepalive: Some(Keepalive::default()),
                backoff: Backoff::default(),
                order: HostOrder::PrimaryFirst,
                stable_after: Duration::from_secs(10),
                connect_timeout: Duration::from_secs(5),
                on_connect: None,
                security: Security::Plain,
                reconnect: true,
                simplex: None,
                inbound_tls: None,
                rules: Arc::new(ClientRules::new(|_| Some(()))),
                metrics: Arc::default(),
            },
            rules: ClientRules::new(|_| Some(())),
            max_in_flight: 1,
            queue: 64,
            incoming: 1024,
            events: 32,
            timeout: Duration::from_secs(30),
            name: None,
            link: 0,
        }
    }
}

impl<K: Key> LongClientBuilder<K> {
    /// Matches replies to requests by key, so that many requests share the connection and replies
    /// may come in any order. `key` extracts the key from each outgoing request and each incoming
    /// message (a CMPP sequence id; an ISO 8583 MTI class with STAN and terminal id); a message
    /// without a key, or whose key no request waits for, goes to the incoming channel. Up to
    /// [`max_in_flight`](Self::max_in_flight) requests (256 unless set) wait at once.
    pub fn match_replies<K2: Key>(
        self,
        key: impl Fn(&[u8]) -> Option<K2> + Send + Sync + 'static,
    ) -> LongClientBuilder<K2> {
        let r = self.rules;
        let mut rules = ClientRules::new(key).overflow(r.overflow);
        rules.heartbeat = r.heartbeat;
        rules.answer = r.answer;
        LongClientBuilder {
            config: self.config,
            rules,
            max_in_flight: if self.max_in_flight == 1 {
                256
            } else {
                self.max_in_flight
            },
            queue: self.queue,
            incoming: self.incoming,
            events: self.events,
            timeout: self.timeout,
            name: self.name,
            link: self.link,
        }
    }

    /// The client's name in its metrics (feature `metrics`): the `client` label of every
    /// `msgframe_client_*` metric, by default its first host. The links of a pool or group share
    /// it, told apart by the `link` label.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// TCP keepalive on the connection (on by default: [`Keepalive::default`]); `None` turns it off.
    pub fn keepalive(mut self, keepalive: Option<Keepalive>) -> Self {
        self.config.keepalive = keepalive;
        self
    }

    /// Secures every connection with TLS (feature `tls`): each connect, reconnects included,
    /// performs a new handshake.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::tls::TlsConnector) -> Self {
        self.config.security = Security::Tls(tls);
        self
    }

    /// Sends application heartbeats when the link is quiet and drops a peer that stops answering.
    pub fn heartbeat(mut self, heartbeat: Heartbeat) -> Self {
        self.rules.heartbeat = Some(heartbeat);
        self
    }

    /// Answers the peer's heartbeats.
    pub fn answer_heartbeats(mut self, answer: AnswerHeartbeats) -> Self {
        self.rules.answer = Some(answer);
        self
    }

    /// Whether the client connects again when its connection ends or a round of attempts fails
    /// (default `true`). Without, the client shuts down then: [`LongClient::recv`] returns `None`
    /// once the messages received are taken, and the events end with `Disconnected` (or
    /// `ConnectFailed`) and `Shutdown`. For a connection that must not outlive one peer's, as a
    /// proxy's upstream.
    pub fn reconnect(mut self, reconnect: bool) -> Self {
        self.config.reconnect = reconnect;
        self
    }

    /// Two links (asynchronous simplex), as card-switch links often run: the hosts given to the
    /// builder are dialled for the **outbound** link, which only carries what this side sends;
    /// replies and the peer's own messages arrive on the **inbound** link, dialled to one of
    /// `inbound_hosts` once the outbound link is up. Requests go out on one and their replies are
    /// matched on the other, by key as ever. The pair is one connection to the rest of the client:
    /// connected when both links are, lost when either is (requests in flight then fail with
    /// their exact outcome), re-established together with the same backoff and events. With
    /// `tls` (feature `tls`) both links are secured.
    pub fn simplex_dial<H: Into<String>>(
        mut self,
        inbound_hosts: impl IntoIterator<Item = H>,
    ) -> Self {
        self.config.simplex = Some(Simplex {
            inbound: Inbound::Dial(inbound_hosts.into_iter().map(Into::into).collect()),
            outbound_reads: OutboundReads::default(),
            inbound_logon: None,
        });
        self
    }

    /// Two links (see [`simplex_dial`](Self::simplex_dial)) where the peer dials the inbound
    /// link: this side listens on `addr` and takes a connection from the address of the
    /// outbound link's peer (others are closed) within the connect timeout. The inbound link is
    /// plain TCP unless [`simplex_inbound_tls`](Self::simplex_inbound_tls) secures it.
    ///
    /// # Errors
    /// The address cannot be bound.
    pub fn simplex_listen(self, addr: impl std::net::ToSocketAddrs) -> Result<Self, Error> {
        self.simplex_listen_on(std::net::TcpListener::bind(addr)?)
    }

    /// As [`simplex_listen`](Self::simplex_listen), on a listener already bound: one handed
    /// over by a service manager, or bound first so that its port can be given to the peer
    /// before the client is built (no other program can take the port in between).
    ///
    /// # Errors
    /// The listener cannot be made non-blocking.
    pub fn simplex_listen_on(mut self, listener: std::net::TcpListener) -> Result<Self, Error> {
        listener.set_nonblocking(true)?;
        self.config.simplex = Some(Simplex {
            inbound: Inbound::Listen(Arc::new(listener), None),
            outbound_reads: OutboundReads::default(),
            inbound_logon: None,
        });
        Ok(self)
    }

    /// As [`simplex_listen`](Self::simplex_listen), the inbound link recognised by its first
    /// message instead of its address: a connection is taken when `recognise` accepts the first
    /// message that comes on it within the connect timeout (a logon naming the link, say); that
    /// message then goes where any other goes (a waiting request, or `recv`). Others are closed.
    /// Connections are read side by side (at most 16 at once; one more is closed on arrival), so
    /// a stranger that connects and stays silent does not hold up the real link.
    ///
    /// # Errors
    /// The address cannot be bound.
    pub fn simplex_listen_recognising(
        self,
        addr: impl std::net::ToSocketAddrs,
        recognise: impl Fn(&[u8]) -> bool + Send + Sync + 'static,
    ) -> Result<Self, Error> {
        let mut this = self.simplex_listen(addr)?;
        if let Some(Simplex {
            inbound: Inbound::Listen(_, r),
            ..
        }) = &mut this.config.simplex
        {
            *r = Some(Arc::new(recognise));
        }
        Ok(this)
    }

    /// Secures a pair's listened inbound link (see [`simplex_listen`](Self::simplex_listen)) with
    /// TLS as a server (feature `tls`): this side's certificate, and the peer's when the
    /// acceptor requires client certificates. The handshake counts in the connect timeout and
    /// runs side by side with other candidates', so a stranger that stalls it holds up no one.
    /// The outbound link (and a dialled inbound link) are secured by [`tls`](Self::tls).
    #[cfg(feature = "tls")]
    pub fn simplex_inbound_tls(mut self, tls: crate::tls::TlsAcceptor) -> Self {
        self.config.inbound_tls = Some(tls);
        self
    }

    /// A message written first on a pair's dialled inbound link, the only one ever written there:
    /// a logon by which a host pairs the two links (see
    /// [`ServerBuilder::simplex_return_keyed`](crate::ServerBuilder::simplex_return_keyed)). The
    /// outbound link's own logon is the [`on_connect`](Self::on_connect) hook's to send.
    pub fn simplex_inbound_logon(mut self, logon: impl crate::IntoMessage) -> Self {
        if let Some(simplex) = &mut self.config.simplex {
            simplex.inbound_logon = Some(logon.into_message());
        }
        self
    }

    /// What bytes arriving on a simplex pair's outbound link mean (default
    /// [`OutboundReads::Error`]).
    pub fn outbound_reads(mut self, reads: OutboundReads) -> Self {
        if let Some(simplex) = &mut self.config.simplex {
            simplex.outbound_reads = reads;
        }
        self
    }

    /// The local address a simplex pair listens on for its inbound link, when it listens.
    pub fn simplex_listening_on(&self) -> Option<std::net::SocketAddr> {
        match &self.config.simplex.as_ref()?.inbound {
            Inbound::Listen(listener, _) => listener.local_addr().ok(),
            Inbound::Dial(_) => None,
        }
    }

    /// Delays between reconnect rounds (default: from 1 s, doubling, up to 60 s, 20% jitter).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.config.backoff = backoff;
        self
    }

    /// Which host each round of connection attempts starts with (default: the primary, the
    /// first host given).
    pub fn host_order(mut self, order: HostOrder) -> Self {
        self.config.order = order;
        self
    }

    /// How long a connection must last for the backoff to start over (default 10 s): a host that
    /// accepts and at once drops connections is retried ever more slowly.
    pub fn stable_after(mut self, lasted: Duration) -> Self {
        self.config.stable_after = lasted;
        self
    }

    /// The longest wait for each connection attempt (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// Runs `hook` on every new connection before it is used (a logon or sign-on exchange). If it
    /// fails, the connection is dropped and the client tries again after the backoff.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// # fn demo(builder: msgframe_conn::LongClientBuilder) {
    /// let builder = builder.on_connect(|session| {
    ///     Box::pin(async move {
    ///         let reply = session.request(b"0800 sign-on", Duration::from_secs(5)).await?;
    ///         if !reply.starts_with(b"0810") {
    ///             return Err(msgframe_conn::Error::Config("sign-on refused".into()));
    ///         }
    ///         Ok(())
    ///     })
    /// });
    /// # }
    /// ```
    pub fn on_connect<F>(mut self, hook: F) -> Self
    where
        F: for<'a> Fn(&'a mut Session) -> BoxFuture<'a, Result<(), Error>> + Send + Sync + 'static,
    {
        self.config.on_connect = Some(Arc::new(hook));
        self
    }

    /// How many requests may wait for replies at once (1 without request matching; 256 with it).
    /// A request beyond it waits for a slot within its own timeout.
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = max.max(1);
        self
    }

    /// How many messages may wait to be written (default 64). A send beyond it waits for room
    /// within its own timeout.
    pub fn queue(mut self, messages: usize) -> Self {
        self.queue = messages.max(1);
        self
    }

    /// How many [`events`](LongClient::events) a receiver may fall behind before it loses the
    /// oldest (it is told how many); default 32. Every client holds room for that many from the
    /// start (about 90 bytes each), so a program with thousands of clients keeps it small.
    pub fn events(mut self, capacity: usize) -> Self {
        self.events = capacity.max(1);
        self
    }

    /// How many received messages may wait for [`LongClient::recv`] (default 1024). What
    /// happens when it is full is [`incoming_overflow`](Self::incoming_overflow)'s choice.
    pub fn incoming(mut self, messages: usize) -> Self {
        self.incoming = messages.max(1);
        self
    }

    /// What happens to a received message when [`incoming`](Self::incoming) messages already wait
    /// for [`LongClient::recv`] (default [`Overflow::Drop`]: dropped, counted in
    /// [`Event::IncomingDropped`](crate::Event::IncomingDropped), logged). Whatever the choice,
    /// timers, failure detection, replies to waiting requests and reconnects go on: an
    /// application that only makes requests and never calls `recv` keeps a working client.
    pub fn incoming_overflow(mut self, overflow: Overflow) -> Self {
        self.rules.overflow = overflow;
        self
    }

    /// The time limit of [`LongClient::send`] and of requests made without one (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn validate(&self) -> Result<(), Error> {
        if self.config.hosts.is_empty() {
            return Err(Error::Config(ConfigError::NoHost));
        }
        let listens = matches!(
            &self.config.simplex,
            Some(Simplex {
                inbound: Inbound::Listen(..),
                ..
            })
        );
        if self.config.inbound_tls.is_some() && !listens {
            return Err(Error::Config(ConfigError::Other(
                "simplex_inbound_tls secures a listened inbound link: it needs simplex_listen or \
                 simplex_listen_recognising (a dialled inbound link is secured by tls)"
                    .into(),
            )));
        }
        Ok(())
    }

    /// Starts the client's task on the current tokio runtime; it connects at once and keeps the
    /// connection up until [`LongClient::close`] or until every handle is dropped.
    ///
    /// # Errors
    /// [`Error::Config`] for no host, or when called outside a tokio runtime.
    pub fn start(self) -> Result<LongClient<K>, Error> {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Config(ConfigError::NoRuntime("LongClientBuilder::start")))?;
        self.start_on(&handle)
    }

    /// Starts a pool of `links` connections with these options (each its own client: its own
    /// connection, heartbeats, reconnects and events), requests spread by `spread`; see
    /// [`LongPool`](crate::LongPool).
    ///
    /// # Errors
    /// As [`start`](Self::start); [`Error::Config`] for a pool of no connection.
    pub fn start_pool(
        self,
        links: usize,
        spread: crate::policy::Spread,
    ) -> Result<super::pool::LongPool<K>, Error> {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Config(ConfigError::NoRuntime("LongClientBuilder::start_pool")))?;
        self.pool_on(links, spread, GroupRule::Independent, &handle)
    }

    /// Starts a group of `links` connections treated as one, by `rule`: under
    /// [`GroupRule::AllOrNothing`], when any link breaks every link is closed and the group rebuilt
    /// together, requests in flight fail at once, and nothing is written while the group is
    /// incomplete. Requests spread over the links by `spread`; see [`LongPool`](crate::LongPool).
    ///
    /// # Errors
    /// As [`start_pool`](Self::start_pool).
    pub fn start_group(
        self,
        links: usize,
        rule: GroupRule,
        spread: crate::policy::Spread,
    ) -> Result<super::pool::LongPool<K>, Error> {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Config(ConfigError::NoRuntime("LongClientBuilder::start_group")))?;
        self.pool_on(links, spread, rule, &handle)
    }

    /// [`start_pool`](Self::start_pool) on a runtime this crate owns, for synchronous programs.
    ///
    /// # Errors
    /// As `start_pool`.
    pub fn start_pool_blocking(
        self,
        links: usize,
        spread: crate::policy::Spread,
    ) -> Result<super::pool::BlockingLongPool<K>, Error> {
        let handle = crate::blocking::handle()?;
        let pool = self.pool_on(links, spread, GroupRule::Independent, &handle)?;
        Ok(super::pool::BlockingLongPool::new(pool, handle))
    }

    /// [`start_group`](Self::start_group) on a runtime this crate owns, for synchronous programs.
    ///
    /// # Errors
    /// As `start_group`.
    pub fn start_group_blocking(
        self,
        links: usize,
        rule: GroupRule,
        spread: crate::policy::Spread,
    ) -> Result<super::pool::BlockingLongPool<K>, Error> {
        let handle = crate::blocking::handle()?;
        let pool = self.pool_on(links, spread, rule, &handle)?;
        Ok(super::pool::BlockingLongPool::new(pool, handle))
    }

    fn pool_on(
        self,
        links: usize,
        spread: crate::policy::Spread,
        rule: GroupRule,
        runtime: &tokio::runtime::Handle,
    ) -> Result<super::pool::LongPool<K>, Error> {
        if links == 0 {
            return Err(Error::Config(ConfigError::Other(
                "a pool needs at least one connection".into(),
            )));
        }
        let timeout = self.timeout;
        let clients = (0..links)
            .map(|link| {
                let mut member = self.clone();
                member.link = link;
                member.start_on(runtime)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(super::pool::LongPool::new(
            clients, spread, timeout, rule, runtime,
        ))
    }

    /// Starts the client on a runtime this crate owns, for synchronous programs.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_blocking(self) -> Result<crate::client::BlockingLongClient<K>, Error> {
        let handle = crate::blocking::handle()?;
        Ok(crate::client::BlockingLongClient::new(
            self.start_on(&handle)?,
            handle,
        ))
    }

    fn start_on(self, runtime: &tokio::runtime::Handle) -> Result<LongClient<K>, Error> {
        self.validate()?;
        let c = self.config;
        let name = self
            .name
            .unwrap_or_else(|| c.hosts.first().cloned().unwrap_or_default());
        let config = Config {
            hosts: c.hosts,
            framing: c.framing,
            keepalive: c.keepalive,
            backoff: c.backoff,
            order: c.order,
            stable_after: c.stable_after,
            connect_timeout: c.connect_timeout,
            on_connect: c.on_connect,
            security: c.security,
            reconnect: c.reconnect,
            simplex: c.simplex,
            inbound_tls: c.inbound_tls,
            rules: Arc::new(self.rules.max_in_flight(self.max_in_flight)),
            metrics: Arc::new(super::metrics::ClientMetrics::new(&name, self.link)),
        };
        Self::spawn(
            config,
            Capacities {
                queue: self.queue,
                incoming: self.incoming,
                events: self.events,
                max_in_flight: self.max_in_flight,
                timeout: self.timeout,
            },
            runtime,
        )
    }
}

/// The sizes and default timeout a client starts with.
pub(crate) struct Capacities {
    pub(crate) queue: usize,
    pub(crate) incoming: usize,
    pub(crate) events: usize,
    pub(crate) max_in_flight: usize,
    pub(crate) timeout: Duration,
}

impl<K: Key> LongClientBuilder<K> {
    /// Starts the client's task on `runtime` with its handles.
    fn spawn(
        config: Config<K>,
        sizes: Capacities,
        runtime: &tokio::runtime::Handle,
    ) -> Result<LongClient<K>, Error> {
        let (queue_tx, queue_rx) = mpsc::channel(sizes.queue);
        let (incoming_tx, incoming_rx) = mpsc::channel(sizes.incoming);
        let events = Arc::new(EventHub::new(sizes.events));
        let (state_tx, state_rx) = watch::channel(LinkState::default());
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (reset_tx, reset) = watch::channel(0u64);
        let config = Arc::new(config);
        let driver = Driver {
            config: Arc::clone(&config),
            queue: queue_rx,
            incoming: incoming_tx,
            events: Arc::clone(&events),
            state: state_tx,
            shutdown: shutdown_rx,
            reset,
        };
        let driver = runtime.spawn(driver.run());
        let lifeline = Arc::new(Lifeline::new(shutdown_tx, driver));
        let sender = LongSender::new(
            queue_tx,
            Arc::clone(&config.rules),
            sizes.max_in_flight,
            sizes.timeout,
            state_rx.clone(),
            Arc::clone(&lifeline),
            Arc::clone(&config.metrics),
        );
        let receiver = LongReceiver::new(incoming_rx, Arc::clone(&lifeline));
        Ok(LongClient::new(
            sender, receiver, events, state_rx, lifeline, reset_tx,
        ))
    }
}

impl LongClient<()> {
    /// Options for a client of `hosts` (`name:port`; the first is the primary, the others
    /// alternates) speaking `framing`.
    pub fn builder<H: Into<String>>(
        hosts: impl IntoIterator<Item = H>,
        framing: Framing,
    ) -> LongClientBuilder<()> {
        LongClientBuilder::new(hosts.into_iter().map(Into::into).collect(), framing)
    }
}
