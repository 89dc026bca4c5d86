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

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme,
};

use crate::Error;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_error(message: impl Into<String>) -> Error {
    Error::Tls(message.into())
}

fn read_pem_file(path: &Path, what: &str) -> Result<Vec<u8>, Error> {
    std::fs::read(path)
        .map_err(|e| Error::Config(format!("reading {what} {}: {e}", path.display())))
}

fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| Error::Config(format!("{what}: not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(Error::Config(format!("{what}: no CERTIFICATE in the PEM")));
    }
    Ok(certs)
}

fn private_key(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, Error> {
    PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| Error::Config(format!("{what}: no private key in the PEM ({e})")))
}

fn roots(pem: &[u8], what: &str) -> Result<RootCertStore, Error> {
    let mut store = RootCertStore::empty();
    for cert in certificates(pem, what)? {
        store
            .add(cert)
            .map_err(|e| Error::Config(format!("{what}: not a usable CA certificate: {e}")))?;
    }
    Ok(store)
}

/// The subject of a DER certificate, as `CN=..., O=...`, or a placeholder when it cannot be read.
pub fn subject(cert: &CertificateDer<'_>) -> String {
    match x509_parser::parse_x509_certificate(cert.as_ref()) {
        Ok((_, parsed)) => {
            let subject = parsed.subject().to_string();
            if subject.is_empty() {
                "(empty subject)".into()
            } else {
                subject
            }
        }
        Err(_) => "(unreadable certificate)".into(),
    }
}

/// A certificate refused during a handshake, by subject, with the reason in words.
#[derive(Debug)]
pub(crate) struct Refused {
    whose: &'static str,
    subject: String,
    reason: CertificateError,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = match &self.reason {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "has expired".to_owned()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "is not valid yet".to_owned()
            }
            CertificateError::UnknownIssuer => {
                "is not signed by a trusted CA (check the CA file)".to_owned()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "is not valid for the server name asked for (see the server name option)".to_owned()
            }
            CertificateError::Revoked => "is revoked".to_owned(),
            CertificateError::BadSignature => "has a bad signature".to_owned(),
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                "is not for this purpose (extended key usage)".to_owned()
            }
            other => format!("is refused: {other:?}"),
        };
        write!(
            f,
            "the {} certificate `{}` {reason}",
            self.whose, self.subject
        )
    }
}

impl std::error::Error for Refused {}

fn refused(whose: &'static str, cert: &CertificateDer<'_>, err: rustls::Error) -> rustls::Error {
    match err {
        rustls::Error::InvalidCertificate(reason) => {
            let described = Refused {
                whose,
                subject: subject(cert),
                reason: reason.clone(),
            };
            tracing::warn!(%described, "certificate refused");
            // The same alert goes to the peer; the text is for us.
            rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(
                Arc::new(described),
            )))
        }
        other => other,
    }
}

/// Checks the server's certificate like rustls does, naming it when it is refused.
#[derive(Debug)]
struct NamingServerVerifier(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for NamingServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            .map_err(|e| refused("server's", end_entity, e))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Accepts any server certificate: for tests against hosts with throwaway certificates only.
#[derive(Debug)]
struct AcceptAnyServer(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        tracing::warn!(subject = %subject(end_entity), "server certificate NOT verified (insecure)");
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Checks client certificates like rustls does, naming them when they are refused.
#[derive(Debug)]
struct NamingClientVerifier(Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for NamingClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.0.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.0.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.0
            .verify_client_cert(end_entity, intermediates, now)
            .map_err(|e| refused("client", end_entity, e))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

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
            return Err(Error::Config(format!(
                "no platform root certificates found ({} errors)",
                found.errors.len()
            )));
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
            .map_err(|e| Error::Config(format!("TLS: {e}")))?;
        let builder = if self.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyServer(Arc::clone(&provider))))
        } else {
            let roots = self.roots.ok_or_else(|| {
                Error::Config("TLS: no CA to trust: give a CA file or the platform roots".into())
            })?;
            let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| Error::Config(format!("TLS: {e}")))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NamingServerVerifier(verifier)))
        };
        let config = match self.identity {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key.clone_key())
                .map_err(|e| Error::Config(format!("TLS: the client certificate and key: {e}")))?,
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

/// A blocking TLS client stream: read and write it with `msgframe_io`'s `BlockingReader` and
/// `BlockingWriter` (a writer can borrow the stream the reader owns: `reader.get_mut()`).
pub type BlockingClientStream = rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>;
/// A blocking TLS server stream (see [`BlockingClientStream`]).
pub type BlockingServerStream = rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream>;

/// Runs a blocking handshake to its end, within the socket timeouts already set.
fn complete_handshake<C, S>(
    conn: &mut C,
    sock: &mut std::net::TcpStream,
    peer: &str,
) -> Result<(), Error>
where
    C: std::ops::DerefMut<Target = rustls::ConnectionCommon<S>>,
    S: rustls::SideData,
{
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(sock) {
            return Err(match e.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                    tls_error(format!("{peer}: TLS handshake not finished in time"))
                }
                _ => handshake_error(peer, &e),
            });
        }
    }
    Ok(())
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
        let server_name = ServerName::try_from(name.clone())
            .map_err(|_| tls_error(format!("`{name}` is not a valid TLS server name")))?;
        let mut conn = rustls::ClientConnection::new(Arc::clone(&self.config), server_name)
            .map_err(|e| tls_error(format!("{host}: {e}")))?;
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
        let server_name = ServerName::try_from(name.clone())
            .map_err(|_| tls_error(format!("`{name}` is not a valid TLS server name")))?;
        match tokio::time::timeout(timeout, self.connector.connect(server_name, stream)).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(handshake_error(host, &e)),
            Err(_) => Err(tls_error(format!(
                "TLS handshake with {host} not finished within {timeout:?}"
            ))),
        }
    }
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

/// A handshake failure in words: refused certificates by subject, alerts by meaning.
pub(crate) fn handshake_error(peer: &str, err: &std::io::Error) -> Error {
    let described = describe(err).unwrap_or_else(|| format!("TLS handshake: {err}"));
    tls_error(format!("{peer}: {described}"))
}

/// The meaning of a TLS failure carried by an I/O error, if it is one.
pub(crate) fn describe(err: &std::io::Error) -> Option<String> {
    let tls = err.get_ref()?.downcast_ref::<rustls::Error>()?;
    Some(match tls {
        rustls::Error::InvalidCertificate(CertificateError::Other(other)) => {
            match other.0.downcast_ref::<Refused>() {
                Some(refused) => refused.to_string(),
                None => format!("certificate refused: {other}"),
            }
        }
        rustls::Error::InvalidCertificate(reason) => format!("certificate refused: {reason:?}"),
        rustls::Error::NoCertificatesPresented => {
            "the client presented no certificate, and one is required".to_owned()
        }
        rustls::Error::AlertReceived(alert) => match alert {
            rustls::AlertDescription::CertificateRequired => {
                "the server requires a client certificate; none was given".to_owned()
            }
            rustls::AlertDescription::UnknownCA | rustls::AlertDescription::BadCertificate => {
                "the peer refused our certificate (not signed by a CA it trusts?)".to_owned()
            }
            rustls::AlertDescription::CertificateExpired => {
                "the peer refused our certificate: expired".to_owned()
            }
            other => format!("the peer aborted the handshake: {other:?}"),
        },
        other => format!("TLS: {other}"),
    })
}

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
            .map_err(|e| Error::Config(format!("TLS: {e}")))?;
        let builder = match self.client_roots {
            Some(roots) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| Error::Config(format!("TLS: client CA: {e}")))?;
                builder.with_client_cert_verifier(Arc::new(NamingClientVerifier(verifier)))
            }
            None => builder.with_no_client_auth(),
        };
        let config = builder
            .with_single_cert(self.chain, self.key.clone_key())
            .map_err(|e| Error::Config(format!("TLS: the server certificate and key: {e}")))?;
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
            Ok(Err(e)) => Err(handshake_error(&peer, &e)),
            Err(_) => Err(tls_error(format!(
                "{peer}: TLS handshake not finished within {:?}",
                self.handshake_timeout
            ))),
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
        let mut conn = rustls::ServerConnection::new(Arc::clone(&self.config))
            .map_err(|e| tls_error(format!("{peer}: {e}")))?;
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
