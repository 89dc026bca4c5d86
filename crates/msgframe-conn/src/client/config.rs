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
    /// The rules of every connection's session.
    pub(crate) rules: Arc<ClientRules<K>>,
}
