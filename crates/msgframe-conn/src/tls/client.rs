//! The client's side: whom it trusts, who it is, whom it expects; handshakes async and blocking.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::RootCertStore;

use super::failure::{complete_handshake, handshake_error, timed_out};
use super::pem::{certificates, private_key, read_pem_file, roots, rustls_config};
use super::provider;
use super::verify::{AcceptAnyServer, NamingServerVerifier};
use crate::error::{ConfigError, TlsError};
use crate::Error;

/// A blocking TLS client stream: read and write it with `msgframe_io`'s `BlockingReader` and
/// `BlockingWriter` (a writer can borrow the stream the reader owns: `reader.get_mut()`).
pub type BlockingClientStream = rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>;
/// How a client secures its connections: whom it trusts, who it is, whom it expects.
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    roots: Option<RootCertStore>,
    identity: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
    server_name: Option<String>,
    insecure: bool,
}

impl ClientTls {
    /// Trusts nothing yet: add CA certificates, or the platform's roots.
    pub fn new() -> Self {
        ClientTls::default()
    }

    /// Trusts the CA certificates of a PEM file.
    ///
    /// # Errors
    /// [`Error::Config`] when the file cannot be read or holds no usable certificate.
    pub fn ca_pem_file(self, path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let pem = read_pem_file(path, "the CA file")?;
        self.ca_pem(&pem, &path.display().to_string())
    }

    /// Trusts the CA certificates of PEM text; `what` names it in errors.
    ///
    /// # Errors
    /// [`Error::Config`] when it holds no usable certificate.
    pub fn ca_pem(mut self, pem: &[u8], what: &str) -> Result<Self, Error> {
        let mut store = self.roots.take().unwrap_or_else(RootCertStore::empty);
        store.roots.extend(roots(pem, what)?.roots);
        self.roots = Some(store);
        Ok(self)
    }

    /// Trusts the operating system's root certificates too.
    ///
    /// # Errors
    /// [`Error::Config`] when the platform's store cannot be read at all.
    pub fn platform_roots(mut self) -> Result<Self, Error> {
        let found = rustls_native_certs::load_native_certs();
        if found.certs.is_empty() {
            return Err(Error::Config(ConfigError::NoPlatformRoots {
                errors: found.errors.len(),
            }));
        }
        let mut store = self.roots.take().unwrap_or_else(RootCertStore::empty);
        let _ = store.add_parsable_certificates(found.certs);
        self.roots = Some(store);
        Ok(self)
    }

    /// Presents this certificate chain and key (mutual TLS), from PEM files.
    ///
    /// # Errors
    /// [`Error::Config`] when a file cannot be read or parsed.
    pub fn client_cert_pem_files(
        self,
        chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, Error> {
        let chain_pem = read_pem_file(chain.as_ref(), "the certificate file")?;
        let key_pem = read_pem_file(key.as_ref(), "the key file")?;
        self.client_cert_pem(&chain_pem, &key_pem)
    }

    /// Presents this certificate chain and key (mutual TLS), from PEM text.
    ///
    /// # Errors
    /// [`Error::Config`] when they cannot be parsed.
    pub fn client_cert_pem(mut self, chain: &[u8], key: &[u8]) -> Result<Self, Error> {
        let chain = certificates(chain, "the client certificate")?;
        let key = private_key(key, "the client key")?;
        self.identity = Some((chain, Arc::new(key)));
        Ok(self)
    }

    /// The name to expect in the server's certificate (default: the host part of the address
    /// connected to).
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Accepts any server certificate, unverified. **Insecure**: anyone in the path can read and
    /// change the traffic. For tests against hosts with throwaway certificates only.
    pub fn dangerous_accept_any_server_certificate(mut self) -> Self {
        self.insecure = true;
        self
    }

    /// The configuration, ready for clients.
    ///
    /// # Errors
    /// [`Error::Config`] when no CA is trusted (and verification is on), or the key does not
    /// suit the certificate.
    pub fn build(self) -> Result<TlsConnector, Error> {
        let provider = provider();
        let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(rustls_config("protocol versions"))?;
        let builder = if self.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyServer(Arc::clone(&provider))))
        } else {
            let roots = self.roots.ok_or(Error::Config(ConfigError::NoTrustedCa))?;
            let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| {
                    Error::Config(ConfigError::Tls {
                        what: "the CA store",
                        source: Box::new(e),
                    })
                })?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NamingServerVerifier(verifier)))
        };
        let config = match self.identity {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key.clone_key())
                .map_err(rustls_config("the client certificate and key"))?,
            None => builder.with_no_client_auth(),
        };
        let config = Arc::new(config);
        Ok(TlsConnector {
            connector: tokio_rustls::TlsConnector::from(Arc::clone(&config)),
            config,
            server_name: self.server_name,
        })
    }
}

/// A client's TLS configuration, built by [`ClientTls`]; cheap to clone.
#[derive(Clone)]
pub struct TlsConnector {
    connector: tokio_rustls::TlsConnector,
    config: Arc<rustls::ClientConfig>,
    server_name: Option<String>,
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl TlsConnector {
    /// The rustls configuration, for uses this crate does not cover.
    pub fn config(&self) -> &Arc<rustls::ClientConfig> {
        &self.config
    }

    /// Connects to `host` (`name:port`, every address it resolves to in turn, as
    /// [`msgframe_io::connect`] does) and completes a TLS handshake, blocking, within `timeout` for
    /// each step: for `msgframe_io`'s blocking readers and writers.
    ///
    /// A request framed until end-of-stream (`eof`) ends with TLS's close_notify rather than a
    /// TCP half-close: `stream.conn.send_close_notify()` then `stream.flush()`.
    ///
    /// # Errors
    /// [`Error::Connect`] when no address accepted (naming the host and the last address tried),
    /// [`Error::Tls`] for a failed handshake.
    pub fn connect_blocking(
        &self,
        host: &str,
        timeout: Duration,
    ) -> Result<BlockingClientStream, Error> {
        let mut sock = msgframe_io::connect(host, timeout, None)?;
        sock.set_read_timeout(Some(timeout))?;
        sock.set_write_timeout(Some(timeout))?;
        let name = self
            .server_name
            .clone()
            .unwrap_or_else(|| host_part(host).to_owned());
        let server_name = server_name(host, name)?;
        let mut conn = rustls::ClientConnection::new(Arc::clone(&self.config), server_name)
            .map_err(|e| Error::Tls {
                peer: Some(host.to_owned()),
                failure: TlsError::Protocol(Box::new(e)),
            })?;
        complete_handshake(&mut conn, &mut sock, host)?;
        Ok(rustls::StreamOwned::new(conn, sock))
    }

    /// Performs the handshake on `stream` (connected to `host`, `name:port`), within `timeout`.
    ///
    /// # Errors
    /// [`Error::Tls`] naming what was wrong (a refused certificate by subject, a missing client
    /// certificate, a name that is not a valid server name), or a timeout.
    pub async fn connect(
        &self,
        host: &str,
        stream: tokio::net::TcpStream,
        timeout: Duration,
    ) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, Error> {
        let name = match &self.server_name {
            Some(name) => name.clone(),
            None => host_part(host).to_owned(),
        };
        let server_name = server_name(host, name)?;
        match tokio::time::timeout(timeout, self.connector.connect(server_name, stream)).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(handshake_error(host, e)),
            Err(_) => Err(timed_out(host, Some(timeout))),
        }
    }
}

/// The server name to check the certificate of `host` against.
fn server_name(host: &str, name: String) -> Result<ServerName<'static>, Error> {
    ServerName::try_from(name.clone()).map_err(|_| Error::Tls {
        peer: Some(host.to_owned()),
        failure: TlsError::InvalidServerName { name },
    })
}

/// `name` of `name:port`, `[v6]:port` or a bare name.
fn host_part(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.contains(':') => {
            name
        }
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_part_of_an_address() {
        assert_eq!(host_part("bank.example:9000"), "bank.example");
        assert_eq!(host_part("10.0.0.1:443"), "10.0.0.1");
        assert_eq!(host_part("[::1]:9000"), "::1");
        assert_eq!(host_part("localhost"), "localhost");
    }
}
