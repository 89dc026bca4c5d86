//! The decisions behind connections, as pure state with time passed in: testable without sockets
//! or clocks. The tasks of the clients and the server drive them.

pub(crate) mod admission;
pub(crate) mod backoff;
pub(crate) mod heartbeat;
pub(crate) mod idle;
pub(crate) mod matcher;
