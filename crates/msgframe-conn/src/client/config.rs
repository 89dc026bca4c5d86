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
    /// The rules of every connection's session.
    pub(crate) rules: Arc<ClientRules<K>>,
}

/// Where a simplex pair's inbound link (the one replies arrive on) comes from.
#[derive(Debug, Clone)]
pub(crate) enum Inbound {
    /// We dial one of these hosts, in turn, after the outbound link is up.
    Dial(Vec<String>),
    /// The peer dials this listener; a connection from the outbound peer's address is taken.
    Listen(Arc<std::net::TcpListener>),
}

/// A simplex pair's settings.
#[derive(Debug, Clone)]
pub(crate) struct Simplex {
    pub(crate) inbound: Inbound,
    /// What bytes arriving on the outbound (send-only) link mean.
    pub(crate) outbound_reads: crate::OutboundReads,
}
