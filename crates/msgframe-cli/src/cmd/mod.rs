//! One module per command.

pub mod bench;
pub mod demo;
pub mod proxy;
pub mod replay;
pub mod send;
pub mod serve;
pub mod sniff;
pub mod split;
