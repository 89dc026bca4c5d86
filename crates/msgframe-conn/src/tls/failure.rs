//! What a failed handshake means: rustls's error, carried by an I/O error, as a [`TlsError`].

use rustls::CertificateError;

use super::verify::{problem, Refused};
use crate::error::TlsError;
use crate::Error;

/// A handshake with `peer` failed with `err`.
pub(crate) fn handshake_error(peer: &str, err: std::io::Error) -> Error {
    let failure = failure(&err).unwrap_or_else(|| TlsError::Protocol(Box::new(err)));
    Error::Tls {
        peer: Some(peer.to_owned()),
        failure,
    }
}

/// The meaning of a TLS failure carried by an I/O error, if it is one.
pub(crate) fn failure(err: &std::io::Error) -> Option<TlsError> {
    let tls = err.get_ref()?.downcast_ref::<rustls::Error>()?;
    Some(match tls {
        rustls::Error::InvalidCertificate(CertificateError::Other(other)) => {
            match other.0.downcast_ref::<Refused>() {
                Some(refused) => refused.failure(),
                None => TlsError::Protocol(Box::new(tls.clone())),
            }
        }
        rustls::Error::InvalidCertificate(reason) => TlsError::CertificateRefused {
            whose: "peer's",
            subject: "(not named)".to_owned(),
            problem: problem(reason),
        },
        rustls::Error::NoCertificatesPresented => TlsError::NoClientCertificate,
        rustls::Error::AlertReceived(alert) => match alert {
            rustls::AlertDescription::CertificateRequired => TlsError::ClientCertificateRequired,
            rustls::AlertDescription::UnknownCA | rustls::AlertDescription::BadCertificate => {
                TlsError::OurCertificateRefused { expired: false }
            }
            rustls::AlertDescription::CertificateExpired => {
                TlsError::OurCertificateRefused { expired: true }
            }
            other => TlsError::Alert {
                alert: format!("{other:?}"),
            },
        },
        other => TlsError::Protocol(Box::new(other.clone())),
    })
}

/// A handshake that did not finish in time.
pub(super) fn timed_out(peer: &str, timeout: Option<std::time::Duration>) -> Error {
    Error::Tls {
        peer: Some(peer.to_owned()),
        failure: TlsError::HandshakeTimeout { timeout },
    }
}

/// Runs a blocking handshake to its end, within the socket timeouts already set.
pub(super) fn complete_handshake<C, S>(
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
                    timed_out(peer, None)
                }
                _ => handshake_error(peer, e),
            });
        }
    }
    Ok(())
}
