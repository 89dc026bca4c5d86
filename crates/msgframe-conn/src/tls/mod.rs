//! TLS under every framing (feature `tls`): rustls with the ring provider, through tokio-rustls.
//! The framing sits on the TLS stream exactly as it sits on TCP.
//!
//! ```no_run
//! use msgframe_conn::tls::{ClientTls, ServerTls};
//!
//! # fn demo() -> Result<(), msgframe_conn::Error> {
//! // A client with a certificate of its own (mutual TLS), trusting a private CA.
//! let client = ClientTls::new()
//!     .ca_pem_file("acquirer-ca.pem")?
//!     .client_cert_pem_files("terminal.pem", "terminal.key")?
//!     .build()?;
//! // A server that requires client certificates from that CA.
//! let server = ServerTls::new_pem_files("host.pem", "host.key")?
//!     .require_client_certificates_pem_file("acquirer-ca.pem")?
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! Certificate problems are reported by name: an expired or untrusted certificate, a name
//! mismatch, a missing or refused client certificate each get their own message naming the
//! certificate's subject.

mod client;
mod der;
mod failure;
mod pem;
mod server;
mod verify;

use std::sync::Arc;

pub use client::{BlockingClientStream, ClientTls, TlsConnector};
pub use server::{BlockingServerStream, PeerIdentity, ServerTls, TlsAcceptor};
pub use verify::subject;

pub(crate) use failure::{failure, handshake_error};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
