//! Certificates, keys and CA stores from PEM text and files.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;

use crate::error::ConfigError;
use crate::Error;

pub(super) fn read_pem_file(path: &Path, what: &'static str) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| {
        Error::Config(ConfigError::File {
            what,
            path: path.to_owned(),
            source,
        })
    })
}

fn pem_error(
    what: &str,
    problem: &'static str,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
) -> Error {
    Error::Config(ConfigError::Pem {
        what: what.to_owned(),
        problem,
        source,
    })
}

pub(super) fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| pem_error(what, "not PEM certificates", Some(Box::new(e))))?;
    if certs.is_empty() {
        return Err(pem_error(what, "no CERTIFICATE in the PEM", None));
    }
    Ok(certs)
}

pub(super) fn private_key(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, Error> {
    PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| pem_error(what, "no private key in the PEM", Some(Box::new(e))))
}

pub(super) fn roots(pem: &[u8], what: &str) -> Result<RootCertStore, Error> {
    let mut store = RootCertStore::empty();
    for cert in certificates(pem, what)? {
        store
            .add(cert)
            .map_err(|e| pem_error(what, "not a usable CA certificate", Some(Box::new(e))))?;
    }
    Ok(store)
}

/// rustls refused a configuration: `what` names it.
pub(super) fn rustls_config(what: &'static str) -> impl FnOnce(rustls::Error) -> Error {
    move |e| {
        Error::Config(ConfigError::Tls {
            what,
            source: Box::new(e),
        })
    }
}
