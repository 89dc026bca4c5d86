//! The server's side: its certificate, the clients it requires, handshakes async and blocking,
//! and who a client is by its certificate.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

use super::failure::{complete_handshake, handshake_error, timed_out};
use super::pem::{certificates, private_key, read_pem_file, roots, rustls_config};
use super::provider;
use super::verify::{subject, NamingClientVerifier};
use crate::error::{ConfigError, TlsError};
use crate::Error;

/// A blocking TLS server stream (see [`BlockingClientStream`](super::BlockingClientStream)).
pub type BlockingServerStream = rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream>;

/// How a server secures its connections.
#[derive(Debug, Clone)]
pub struct ServerTls {
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
    client_roots: Option<RootCertStore>,
    handshake_timeout: Duration,
}

impl ServerTls {
    /// The server's certificate chain and key, from PEM text.
    ///
    /// # Errors
    /// [`Error::Config`] when they cannot be parsed.
    pub fn new_pem(chain: &[u8], key: &[u8]) -> Result<Self, Error> {
        Ok(ServerTls {
            chain: certificates(chain, "the server certificate")?,
            key: Arc::new(private_key(key, "the server key")?),
            client_roots: None,
            handshake_timeout: Duration::from_secs(10),
        })
    }

    /// The server's certificate chain and key, from PEM files.
    ///
    /// # Errors
    /// [`Error::Config`] when a file cannot be read or parsed.
    pub fn new_pem_files(chain: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self, Error> {
        let chain = read_pem_file(chain.as_ref(), "the certificate file")?;
        let key = read_pem_file(key.as_ref(), "the key file")?;
        ServerTls::new_pem(&chain, &key)
    }

    /// Requires every client to present a certificate signed by one of these CAs (PEM text).
    ///
    /// # Errors
    /// [`Error::Config`] when it holds no usable certificate.
    pub fn require_client_certificates_pem(mut self, ca: &[u8], what: &str) -> Result<Self, Error> {
        self.client_roots = Some(roots(ca, what)?);
        Ok(self)
    }

    /// Requires every client to present a certificate signed by one of the CAs of this file.
    ///
    /// # Errors
    /// [`Error::Config`] when it cannot be read or holds no usable certificate.
    pub fn require_client_certificates_pem_file(self, ca: impl AsRef<Path>) -> Result<Self, Error> {
        let path = ca.as_ref();
        let pem = read_pem_file(path, "the client CA file")?;
        self.require_client_certificates_pem(&pem, &path.display().to_string())
    }

    /// How long a client may take to finish the handshake after connecting (default 10 s); one
    /// that does not is closed and counted.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The configuration, ready for a server.
    ///
    /// # Errors
    /// [`Error::Config`] when the key does not suit the certificate.
    pub fn build(self) -> Result<TlsAcceptor, Error> {
        let provider = provider();
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(rustls_config("protocol versions"))?;
        let builder = match self.client_roots {
            Some(roots) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| {
                            Error::Config(ConfigError::Tls {
                                what: "the client CA",
                                source: Box::new(e),
                            })
                        })?;
                builder.with_client_cert_verifier(Arc::new(NamingClientVerifier(verifier)))
            }
            None => builder.with_no_client_auth(),
        };
        let config = builder
            .with_single_cert(self.chain, self.key.clone_key())
            .map_err(rustls_config("the server certificate and key"))?;
        let config = Arc::new(config);
        Ok(TlsAcceptor {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::clone(&config)),
            config,
            handshake_timeout: self.handshake_timeout,
        })
    }
}

/// A server's TLS configuration, built by [`ServerTls`]; cheap to clone.
#[derive(Clone)]
pub struct TlsAcceptor {
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
    config: Arc<rustls::ServerConfig>,
    pub(crate) handshake_timeout: Duration,
}

impl TlsAcceptor {
    /// The rustls configuration, for uses this crate does not cover.
    pub fn config(&self) -> &Arc<rustls::ServerConfig> {
        &self.config
    }

    /// Completes a TLS handshake on an accepted connection, within the handshake timeout: for
    /// servers this crate does not run (a proxy).
    ///
    /// # Errors
    /// [`Error::Tls`] for a failed or unfinished handshake.
    pub async fn accept(
        &self,
        stream: tokio::net::TcpStream,
    ) -> Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>, Error> {
        let peer = stream
            .peer_addr()
            .map_or_else(|_| "client".to_owned(), |a| a.to_string());
        match tokio::time::timeout(self.handshake_timeout, self.acceptor.accept(stream)).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(handshake_error(&peer, e)),
            Err(_) => Err(timed_out(&peer, Some(self.handshake_timeout))),
        }
    }

    /// Completes a TLS handshake on an accepted socket, blocking, within the handshake timeout:
    /// for `msgframe_io`'s blocking readers and writers. The socket's timeouts are left set to
    /// the handshake timeout.
    ///
    /// # Errors
    /// [`Error::Tls`] for a failed or unfinished handshake.
    pub fn accept_blocking(
        &self,
        mut sock: std::net::TcpStream,
    ) -> Result<BlockingServerStream, Error> {
        let peer = sock
            .peer_addr()
            .map_or_else(|_| "client".to_owned(), |a| a.to_string());
        sock.set_read_timeout(Some(self.handshake_timeout))?;
        sock.set_write_timeout(Some(self.handshake_timeout))?;
        let mut conn =
            rustls::ServerConnection::new(Arc::clone(&self.config)).map_err(|e| Error::Tls {
                peer: Some(peer.clone()),
                failure: TlsError::Protocol(Box::new(e)),
            })?;
        complete_handshake(&mut conn, &mut sock, &peer)?;
        Ok(rustls::StreamOwned::new(conn, sock))
    }
}

impl fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

/// Who the client is, by its certificate (mutual TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The certificate's subject, as `CN=..., O=...`.
    pub subject: String,
    /// The certificate, DER.
    pub certificate: CertificateDer<'static>,
}

impl PeerIdentity {
    pub(crate) fn of(
        stream: &tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    ) -> Option<Self> {
        let cert = stream
            .get_ref()
            .1
            .peer_certificates()?
            .first()?
            .clone()
            .into_owned();
        Some(PeerIdentity {
            subject: subject(&cert),
            certificate: cert,
        })
    }
}
