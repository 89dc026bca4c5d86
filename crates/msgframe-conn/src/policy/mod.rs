//! The machines the sessions and tasks are built on, as pure state with time passed in:
//! reconnect backoff over a list of hosts, heartbeat timing, request matching, admission caps,
//! idle clocks, the spread of a pool's requests. Testable without sockets or clocks; usable on their own by drivers of your own.
//! Their configuration values ([`Backoff`], [`HeartbeatTiming`], [`IpNet`], [`GroupRule`]) are
//! also at the crate root.

pub(crate) mod admission;
pub(crate) mod backoff;
pub(crate) mod group;
pub(crate) mod heartbeat;
pub(crate) mod idle;
pub(crate) mod matcher;
pub(crate) mod spread;

pub use admission::{Admission, AdmissionPolicy, IpNet, IpNetParseError, Refusal};
pub use backoff::{Backoff, HostOrder, Reconnect};
pub use group::{GroupActions, GroupRule, GroupState};
pub use heartbeat::{HeartbeatAction, HeartbeatState, HeartbeatTiming};
pub use idle::{IdleClock, Reaped};
pub use matcher::{DuplicateKey, Matcher};
pub use spread::{pick, LinkView, Spread};
