//! The configuration a long client's task runs with.

use std::sync::Arc;
use std::time::Duration;

use msgframe_codec::Framing;

use super::connect::Security;
use super::hook::Hook;
use crate::policy::backoff::{Backoff, HostOrder};
use crate::session::ClientRules;
use crate::socket::Keepalive;

/// The configuration a client's task runs with.
#[derive(Clone)]
pub(crate) struct Config<K> {
    pub(crate) hosts: Vec<String>,
    pub(crate) framing: Framing,
    pub(crate) keepalive: Option<Keepalive>,
    pub(crate) backoff: Backoff,
    pub(crate) order: HostOrder,
    pub(crate) stable_after: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) on_connect: Option<Hook>,
    pub(crate) security: Security,
    /// Whether to connect again when a connection ends or a round of attempts fails.
    pub(crate) reconnect: bool,
    /// Two links (simplex): where the inbound link comes from, and what bytes on the outbound
    /// link mean. `None`: one connection both ways.
    pub(crate) simplex: Option<Simplex>,
    /// TLS, as a server, on a simplex pair's listened inbound link.
    pub(crate) inbound_tls: Option<crate::server::ServerTlsConfig>,
    /// The rules of every connection's session.
    pub(crate) rules: Arc<ClientRules<K>>,
    /// The client's metrics (feature `metrics`).
    pub(crate) metrics: Arc<super::metrics::ClientMetrics>,
}

/// Where a simplex pair's inbound link (the one replies arrive on) comes from.
#[derive(Clone)]
pub(crate) enum Inbound {
    /// We dial one of these hosts, in turn, after the outbound link is up.
    Dial(Vec<String>),
    /// The peer dials this listener; a connection is taken when it comes from the outbound
    /// peer's address, or, with a recogniser, when its first message passes it.
    Listen(Arc<std::net::TcpListener>, Option<Recognise>),
}

/// Recognises a simplex pair's inbound link by its first message.
pub(crate) type Recognise = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

impl std::fmt::Debug for Inbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Inbound::Dial(hosts) => f.debug_tuple("Dial").field(hosts).finish(),
            Inbound::Listen(listener, recognise) => f
                .debug_struct("Listen")
                .field("addr", &listener.local_addr().ok())
                .field("recognised_by_message", &recognise.is_some())
                .finish(),
        }
    }
}

/// A simplex pair's settings.
#[derive(Debug, Clone)]
pub(crate) struct Simplex {
    pub(crate) inbound: Inbound,
    /// What bytes arriving on the outbound (send-only) link mean.
    pub(crate) outbound_reads: crate::OutboundReads,
    /// A message written first on a dialled inbound link (a logon naming it).
    pub(crate) inbound_logon: Option<bytes::Bytes>,
}
