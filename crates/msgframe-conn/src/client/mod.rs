//! Clients: short connections, and long ones kept up by a task.

mod blocking;
mod connect;
pub(crate) mod driver;
mod event;
mod heartbeat;
mod long;
mod message;
pub(crate) mod outgoing;
mod short;

pub use blocking::{BlockingLongClient, BlockingReceiver, BlockingSender};
pub use event::Event;
pub use heartbeat::{AnswerHeartbeats, Heartbeat};
pub use long::{BoxFuture, Key, LongClient, LongClientBuilder, LongReceiver, LongSender, Session};
pub use message::IntoMessage;
pub use short::ShortClient;
