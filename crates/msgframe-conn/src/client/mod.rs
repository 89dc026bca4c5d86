//! Clients: short connections, and long ones kept up by a task driving a
//! [`ClientSession`](crate::session::ClientSession) per connection.

mod blocking;
mod builder;
mod config;
mod connect;
mod driver;
mod event;
mod event_hub;
mod hook;
mod lifeline;
mod long;
mod metrics;
mod pool;
mod pool_call;
mod receiver;
mod sender;
mod short;
mod state;

pub use blocking::{BlockingLongClient, BlockingReceiver, BlockingSender};
pub use builder::LongClientBuilder;
pub use event::{Event, OutboundReads};
pub use hook::{BoxFuture, Session};
pub use long::LongClient;
pub use pool::{BlockingLongPool, GroupEvent, LongPool, PoolLink};
pub use receiver::LongReceiver;
pub use sender::LongSender;
pub use short::{ClosePolicy, ShortClient};
