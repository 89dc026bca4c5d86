//! A server for framed-message clients that protects itself: admission caps before any
//! per-connection work, idle reaping with per-message deadlines, a malformed frame closing only
//! its connection, graceful shutdown, counters and one `tracing` span per connection.

mod accept;
mod blocking;
mod connection;
mod park;
mod reply;
mod return_link;
mod stats;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use msgframe_codec::Framing;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::watch;

pub use blocking::BlockingServer;
pub use connection::{Connection, Handler};
pub use reply::Reply;
pub use stats::Stats;

use crate::heartbeat::AnswerHeartbeats;
use crate::message::IntoMessage;
use crate::policy::admission::{Admission, AdmissionPolicy, IpNet};
use crate::session::ServerRules;
use crate::socket::Keepalive;
use crate::Error;
use return_link::{Pairing, ReturnLinks, ReturnSource};
use stats::Counters;

/// How every connection of a server runs.
pub(crate) struct ServerConfig {
    pub(crate) framing: Framing,
    /// The same framing, shared by every connection's writer.
    pub(crate) encoder: Arc<Framing>,
    /// The rules of every connection's session.
    pub(crate) rules: Arc<ServerRules>,
    pub(crate) keepalive: Option<Keepalive>,
    pub(crate) reject_message: Option<Bytes>,
    pub(crate) push_queue: usize,
    pub(crate) grace: Duration,
    pub(crate) socket_options: Option<SocketOptions>,
    /// Whether accepted sockets inherit `TCP_NODELAY` and keepalive from the listener.
    pub(crate) options_inherited: bool,
    /// TLS on every connection, when set.
    pub(crate) tls: Option<ServerTlsConfig>,
    /// Simplex pairs: where the return links come from, when set.
    pub(crate) simplex: Option<ReturnSource>,
    /// Whether quiet plain-TCP connections are set aside from the runtime (see
    /// [`ServerBuilder::set_aside_quiet`]).
    pub(crate) set_aside: bool,
    /// The server's name in its metrics; its address when not given.
    pub(crate) name: Option<String>,
}

#[cfg(feature = "tls")]
pub(crate) type ServerTlsConfig = crate::tls::TlsAcceptor;
/// Without the `tls` feature there is nothing to configure.
#[cfg(not(feature = "tls"))]
pub(crate) type ServerTlsConfig = std::convert::Infallible;

/// A user function run on every accepted socket.
pub(crate) type SocketOptions =
    Arc<dyn Fn(&tokio::net::TcpStream) -> std::io::Result<()> + Send + Sync>;

/// Options of a [`Server`], from [`Server::builder`].
pub struct ServerBuilder {
    config: ServerConfig,
    policy: AdmissionPolicy,
}

impl fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("framing", &self.config.framing)
            .field("rules", &self.config.rules)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl ServerBuilder {
    /// Closes a connection with no complete message read or written for `idle` (default 5
    /// minutes); `None` never does.
    pub fn idle_timeout(mut self, idle: Option<Duration>) -> Self {
        Arc::make_mut(&mut self.config.rules).idle = idle;
        self
    }

    /// Closes a connection whose message is not whole `timeout` after its first byte (default
    /// 30 s): a client trickling a message (slow loris) does not count as active.
    pub fn message_timeout(mut self, timeout: Option<Duration>) -> Self {
        Arc::make_mut(&mut self.config.rules).message = timeout;
        self
    }

    /// The longest a reply or push may take to write before the connection is closed (default
    /// 30 s): a client that does not read cannot hold a handler forever.
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        Arc::make_mut(&mut self.config.rules).write_timeout = timeout;
        self
    }

    /// How long a connection must be quiet (no message, nothing written) before it gives its read
    /// and write buffers back (default 100 ms); a plain-TCP connection is then also set aside from
    /// the runtime (see [`set_aside_quiet`](Self::set_aside_quiet)). A plain-TCP connection whose
    /// traffic is sparse — new, or back after at least this long aside — is set aside as soon as
    /// its exchange is done; one back sooner is busy, and keeps its task for this quiet time.
    pub fn quiet_after(mut self, quiet: Duration) -> Self {
        Arc::make_mut(&mut self.config.rules).release_after = quiet;
        self
    }

    /// Whether quiet plain-TCP connections are set aside from the runtime (default `true`): a
    /// connection quiet for [`quiet_after`](Self::quiet_after) ends its task, and waits with the
    /// server's other quiet connections on one thread that watches their sockets, holding a few
    /// hundred bytes instead of a task's kilobyte or more; it gets a new task as soon as its
    /// socket is readable, a push or a close comes, or its idle time is up. Connections over
    /// TLS and simplex pairs are never set aside.
    pub fn set_aside_quiet(mut self, set_aside: bool) -> Self {
        self.config.set_aside = set_aside;
        self
    }

    /// The server's name in its metrics (feature `metrics`): the `server` label of every
    /// `msgframe_server_*` metric, by default the address it listens on.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = Some(name.into());
        self
    }

    /// The most connections open at once; the next one is refused at once.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.policy.max_connections = Some(max);
        self
    }

    /// The most connections open at once from one client address; the next one from that address
    /// is refused at once, others are still served.
    pub fn max_per_client(mut self, max: usize) -> Self {
        self.policy.max_per_client = Some(max);
        self
    }

    /// Serves only addresses in these networks.
    pub fn allow(mut self, networks: impl IntoIterator<Item = IpNet>) -> Self {
        self.policy.allow.extend(networks);
        self
    }

    /// Never serves addresses in these networks (deny wins over allow).
    pub fn deny(mut self, networks: impl IntoIterator<Item = IpNet>) -> Self {
        self.policy.deny.extend(networks);
        self
    }

    /// Sends this message (framed) to a refused connection before closing it; without one a
    /// refused connection is reset at once, which costs the server least.
    pub fn reject_message(mut self, message: impl IntoMessage) -> Self {
        self.config.reject_message = Some(message.into_message());
        self
    }

    /// TCP keepalive on accepted connections (default [`Keepalive::default`]); `None` turns it off.
    pub fn keepalive(mut self, keepalive: Option<Keepalive>) -> Self {
        self.config.keepalive = keepalive;
        self
    }

    /// Answers the clients' heartbeats without calling the handler (they still count as
    /// activity).
    pub fn answer_heartbeats(mut self, answer: AnswerHeartbeats) -> Self {
        Arc::make_mut(&mut self.config.rules).answer = Some(answer);
        self
    }

    /// Runs `f` on every accepted socket after msgframe's own options (`TCP_NODELAY`, keepalive),
    /// to set others (buffer sizes, `IP_TOS`) or read them back. An error closes that connection.
    ///
    /// ```
    /// # fn demo(builder: msgframe_conn::ServerBuilder) -> msgframe_conn::ServerBuilder {
    /// builder.socket_options(|stream| {
    ///     socket2::SockRef::from(stream).set_recv_buffer_size(256 * 1024)
    /// })
    /// # }
    /// ```
    pub fn socket_options(
        mut self,
        f: impl Fn(&tokio::net::TcpStream) -> std::io::Result<()> + Send + Sync + 'static,
    ) -> Self {
        self.config.socket_options = Some(Arc::new(f));
        self
    }

    /// Secures every connection with TLS (feature `tls`), optionally requiring client
    /// certificates; the caps apply before the handshake, and a handshake not finished within the
    /// acceptor's deadline closes the connection (counted in [`Stats`]).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::tls::TlsAcceptor) -> Self {
        self.config.tls = Some(tls);
        self
    }

    /// Serves two-link (simplex) peers: each connection accepted by the server carries a peer's
    /// requests (its outbound link), and the peer dials `addr` for the way back (its inbound link),
    /// from the same address, within `within`; replies and pushes go there. A connection whose
    /// return link does not come in time is closed, and so is a return link no connection takes
    /// within `within`; at most 1,024 return links are held at once (one more is closed on
    /// arrival). With [`tls`](Self::tls), return links are secured as every other connection
    /// (the handshake counts in `within`).
    ///
    /// # Errors
    /// The address cannot be bound.
    pub fn simplex_return(
        mut self,
        addr: impl std::net::ToSocketAddrs,
        within: Duration,
    ) -> Result<Self, Error> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        self.config.simplex = Some(ReturnSource::Accept(Arc::new(ReturnLinks::new(
            listener, within, None,
        ))));
        Ok(self)
    }

    /// As [`simplex_return`](Self::simplex_return), the two links of a pair matched by a key
    /// from each link's first message (a logon naming the terminal, say) instead of the peer's
    /// address: `key` finds it. The request link's first message is then handled as any other;
    /// the return link's is consumed by the pairing. A link whose first message has no key, or
    /// whose partner does not come within `within`, is closed.
    ///
    /// # Errors
    /// The address cannot be bound.
    pub fn simplex_return_keyed(
        mut self,
        addr: impl std::net::ToSocketAddrs,
        within: Duration,
        key: impl Fn(&[u8]) -> Option<Vec<u8>> + Send + Sync + 'static,
    ) -> Result<Self, Error> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let pairing = Pairing {
            key: Arc::new(key),
            framing: self.config.framing.clone(),
        };
        self.config.simplex = Some(ReturnSource::Accept(Arc::new(ReturnLinks::new(
            listener,
            within,
            Some(pairing),
        ))));
        Ok(self)
    }

    /// Serves two-link (simplex) peers that listen for the way back: for each connection
    /// accepted (a peer's requests), the server dials the peer's address at `port` within
    /// `within` and sends replies and pushes there. A connection whose return link cannot be
    /// made in time is closed. The return links are plain TCP; see
    /// [`simplex_dial_back_tls`](Self::simplex_dial_back_tls).
    pub fn simplex_dial_back(mut self, port: u16, within: Duration) -> Self {
        self.config.simplex = Some(ReturnSource::Dial {
            port,
            within,
            tls: None,
        });
        self
    }

    /// As [`simplex_dial_back`](Self::simplex_dial_back), each return link secured with TLS as
    /// a client (feature `tls`); the handshake counts in `within`. The peer's certificate is
    /// checked against its IP address unless `tls` names the server to expect.
    #[cfg(feature = "tls")]
    pub fn simplex_dial_back_tls(
        mut self,
        port: u16,
        within: Duration,
        tls: crate::tls::TlsConnector,
    ) -> Self {
        self.config.simplex = Some(ReturnSource::Dial {
            port,
            within,
            tls: Some(tls),
        });
        self
    }

    /// The address return links are accepted on, for a server of simplex pairs.
    pub fn simplex_return_addr(&self) -> Option<SocketAddr> {
        self.config.simplex.as_ref()?.listening_on()
    }

    /// How long shutdown lets handlers in progress finish before closing their connections
    /// (default 30 s).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.config.grace = grace;
        self
    }

    /// Binds the listening socket for synchronous programs: see [`BlockingServer`].
    ///
    /// # Errors
    /// The address cannot be bound or resolved; [`Error::Config`] inside an async runtime.
    pub fn bind_blocking(
        self,
        addr: impl std::net::ToSocketAddrs,
    ) -> Result<BlockingServer, Error> {
        let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
        if self.config.tls.is_some()
            || self.config.socket_options.is_some()
            || self.config.simplex.is_some()
        {
            // TLS, socket options and simplex pairs run on the crate's runtime: connections there, the handler
            // on blocking threads.
            let runtime = crate::blocking::handle()?;
            let server = crate::blocking::block_on(self.bind(addrs.as_slice()))??;
            return Ok(BlockingServer::on_runtime(server, runtime));
        }
        let listener = std::net::TcpListener::bind(addrs.as_slice())?;
        let local_addr = listener.local_addr()?;
        let inherited =
            crate::socket::configure_listener(&listener, self.config.keepalive.as_ref())?;
        let (config, shared) = self.ready(local_addr, inherited);
        Ok(BlockingServer::on_threads(listener, config, shared))
    }

    /// Binds the listening socket.
    ///
    /// # Errors
    /// The address cannot be bound.
    pub async fn bind(self, addr: impl ToSocketAddrs) -> Result<Server, Error> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let inherited =
            crate::socket::configure_listener(&listener, self.config.keepalive.as_ref())?;
        let (config, shared) = self.ready(local_addr, inherited);
        Ok(Server {
            listener,
            config,
            shared,
        })
    }

    /// The configuration and the shared state of a server bound at `local_addr`.
    fn ready(
        self,
        local_addr: SocketAddr,
        inherited: bool,
    ) -> (Arc<ServerConfig>, Arc<ServerShared>) {
        let (shutdown, _) = watch::channel(false);
        let config = Arc::new(ServerConfig {
            options_inherited: inherited,
            ..self.config
        });
        let shared = Arc::new(ServerShared {
            local_addr,
            counters: Arc::new(Counters::new(
                &config
                    .name
                    .clone()
                    .unwrap_or_else(|| local_addr.to_string()),
            )),
            admission: Mutex::new(Admission::new(self.policy)),
            connections: Mutex::new(HashMap::new()),
            shutdown,
            wake_acceptor: std::sync::OnceLock::new(),
        });
        (config, shared)
    }
}

/// What the server and its handles share.
pub(crate) struct ServerShared {
    local_addr: SocketAddr,
    counters: Arc<Counters>,
    admission: Mutex<Admission>,
    connections: Mutex<HashMap<u64, Connection>>,
    shutdown: watch::Sender<bool>,
    /// Wakes a blocking server's accept loop for a shutdown.
    wake_acceptor: std::sync::OnceLock<Arc<mio::Waker>>,
}

/// A bound server, ready to [`serve`](Server::serve).
///
/// ```no_run
/// use std::time::Duration;
/// use msgframe_conn::{Reply, Server};
///
/// # async fn demo() -> Result<(), msgframe_conn::Error> {
/// let server = Server::builder("bcd:2,max=4096".parse().unwrap())
///     .idle_timeout(Some(Duration::from_secs(120)))
///     .max_per_client(4)
///     .max_connections(10_000)
///     .bind("0.0.0.0:9000")
///     .await?;
/// let handle = server.handle();
/// tokio::spawn(async move {
///     // ... until the program decides to stop (a signal, a command):
///     tokio::time::sleep(Duration::from_secs(8 * 3600)).await;
///     handle.shutdown();
/// });
/// server
///     .serve(|_conn, request: bytes::Bytes| async move { Reply::Send(request) })
///     .await
/// # }
/// ```
///
/// The framing's own maximum (`max=` in a spec) is the largest frame a connection accepts; a
/// malformed or oversized frame closes that connection only.
pub struct Server {
    listener: TcpListener,
    config: Arc<ServerConfig>,
    shared: Arc<ServerShared>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.shared.local_addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Options for a server speaking `framing`.
    pub fn builder(framing: Framing) -> ServerBuilder {
        ServerBuilder {
            config: ServerConfig {
                encoder: Arc::new(framing.clone()),
                framing,
                rules: Arc::new(ServerRules::default()),
                keepalive: Some(Keepalive::default()),
                reject_message: None,
                push_queue: 64,
                grace: Duration::from_secs(30),
                socket_options: None,
                options_inherited: false,
                tls: None,
                simplex: None,
                set_aside: true,
                name: None,
            },
            policy: AdmissionPolicy::default(),
        }
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// A handle to read counters, reach connections and shut the server down from elsewhere.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Accepts connections and runs `handler` for every message until
    /// [`ServerHandle::shutdown`]: then it stops accepting, lets handlers in progress finish
    /// within the shutdown grace, closes every connection, and returns.
    ///
    /// # Errors
    /// None today (accept errors such as running out of file descriptors are logged and retried);
    /// the `Result` leaves room for fatal listener errors.
    pub async fn serve<H: Handler>(self, handler: H) -> Result<(), Error> {
        accept::serve(self.listener, self.config, self.shared, Arc::new(handler)).await
    }
}

/// A handle to a running [`Server`]; clones refer to the same server.
#[derive(Clone)]
pub struct ServerHandle {
    shared: Arc<ServerShared>,
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local_addr", &self.shared.local_addr)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The counters now.
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// The connections open now (to push messages to them).
    pub fn connections(&self) -> Vec<Connection> {
        self.shared
            .connections
            .lock()
            .map(|c| c.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The open connection with this id.
    pub fn connection(&self, id: u64) -> Option<Connection> {
        self.shared
            .connections
            .lock()
            .ok()
            .and_then(|c| c.get(&id).cloned())
    }

    /// Starts a graceful shutdown (see [`Server::serve`]).
    pub fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
        if let Some(waker) = self.shared.wake_acceptor.get() {
            let _ = waker.wake();
        }
    }
}
