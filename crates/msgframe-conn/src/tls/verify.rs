//! Certificate checks that name what they refuse: rustls's own verifiers, wrapped so that a
//! refused certificate is reported with its subject and the reason in words.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

use super::der::{certificate_subject, SubjectError};
use crate::error::{CertificateProblem, TlsError};

/// The subject of a DER certificate, as `CN=..., O=...`, or a placeholder in parentheses when
/// it cannot be shown: `(empty subject)`, `(unreadable certificate)`, `(subject too long to
/// show)` or `(subject not readable as text)`.
pub fn subject(cert: &CertificateDer<'_>) -> String {
    match certificate_subject(cert.as_ref()) {
        Ok(subject) if subject.is_empty() => "(empty subject)".into(),
        Ok(subject) => subject,
        Err(SubjectError::Malformed) => "(unreadable certificate)".into(),
        Err(SubjectError::TooLong) => "(subject too long to show)".into(),
        Err(SubjectError::NotText) => "(subject not readable as text)".into(),
    }
}

/// A certificate refused during a handshake: carried inside rustls's error to the place the
/// handshake failed, where it becomes [`TlsError::CertificateRefused`].
#[derive(Debug)]
pub(super) struct Refused {
    pub(super) whose: &'static str,
    pub(super) subject: String,
    pub(super) problem: CertificateProblem,
}

impl Refused {
    pub(super) fn failure(&self) -> TlsError {
        TlsError::CertificateRefused {
            whose: self.whose,
            subject: self.subject.clone(),
            problem: self.problem.clone(),
        }
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.failure().fmt(f)
    }
}

impl std::error::Error for Refused {}

/// What rustls found wrong with a certificate, in our terms.
pub(super) fn problem(reason: &CertificateError) -> CertificateProblem {
    match reason {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            CertificateProblem::Expired
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            CertificateProblem::NotValidYet
        }
        CertificateError::UnknownIssuer => CertificateProblem::UnknownIssuer,
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            CertificateProblem::NameMismatch
        }
        CertificateError::Revoked => CertificateProblem::Revoked,
        CertificateError::BadSignature => CertificateProblem::BadSignature,
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            CertificateProblem::WrongPurpose
        }
        other => CertificateProblem::Other(format!("{other:?}")),
    }
}

fn refused(whose: &'static str, cert: &CertificateDer<'_>, err: rustls::Error) -> rustls::Error {
    match err {
        rustls::Error::InvalidCertificate(reason) => {
            let described = Refused {
                whose,
                subject: subject(cert),
                problem: problem(&reason),
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
pub(super) struct NamingServerVerifier(pub(super) Arc<WebPkiServerVerifier>);

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
pub(super) struct AcceptAnyServer(pub(super) Arc<rustls::crypto::CryptoProvider>);

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
pub(super) struct NamingClientVerifier(pub(super) Arc<dyn ClientCertVerifier>);

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
