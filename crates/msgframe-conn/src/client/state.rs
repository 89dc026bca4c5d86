//! The connection as a long client's handles see it.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::Error;

/// The connection as the handles see it.
#[derive(Debug, Clone, Default)]
pub(crate) struct LinkState {
    /// The host connected to now.
    pub(crate) connected: Option<String>,
    /// The local address of the connection up now (a simplex pair's outbound link), when known.
    pub(crate) local: Option<SocketAddr>,
    /// Connections made so far.
    pub(crate) connections: u64,
    /// Why the last connection attempt failed or the last connection ended.
    pub(crate) last_failure: Option<Arc<Error>>,
}
