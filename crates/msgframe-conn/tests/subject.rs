//! How a certificate is named in errors and in a peer's identity: its subject as
//! `CN=..., O=...`, or a placeholder in parentheses saying why it cannot be shown.

use msgframe_conn::tls::subject;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use rustls::pki_types::CertificateDer;

/// A self-signed certificate whose subject has `attributes`, in that order.
fn certificate(attributes: &[(DnType, &str)]) -> Vec<u8> {
    let mut params = CertificateParams::new(vec!["host.test".to_owned()]).unwrap();
    params.distinguished_name = DistinguishedName::new();
    for (attribute_type, value) in attributes {
        params
            .distinguished_name
            .push(attribute_type.clone(), *value);
    }
    let key = KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().der().to_vec()
}

fn subject_of(der: &[u8]) -> String {
    subject(&CertificateDer::from(der))
}

#[test]
fn a_certificate_is_named_by_its_attributes_in_order() {
    let der = certificate(&[
        (DnType::CommonName, "terminal-0042"),
        (DnType::OrganizationName, "Acquirer Ltd"),
        (DnType::OrganizationalUnitName, "Terminals"),
        (DnType::CountryName, "GB"),
    ]);
    assert_eq!(
        subject_of(&der),
        "CN=terminal-0042, O=Acquirer Ltd, OU=Terminals, C=GB"
    );
}

#[test]
fn non_ascii_names_are_shown_as_they_are() {
    let der = certificate(&[
        (DnType::CommonName, "Kasse Zürich 東京"),
        (DnType::OrganizationName, "Société Générale"),
    ]);
    assert_eq!(subject_of(&der), "CN=Kasse Zürich 東京, O=Société Générale");
}

#[test]
fn an_empty_subject_is_shown_as_such() {
    assert_eq!(subject_of(&certificate(&[])), "(empty subject)");
}

#[test]
fn what_is_not_a_certificate_is_unreadable() {
    let der = certificate(&[(DnType::CommonName, "terminal-0042")]);
    assert_eq!(subject_of(b"not a certificate"), "(unreadable certificate)");
    assert_eq!(
        subject_of(&der[..der.len() - 1]),
        "(unreadable certificate)"
    );
    assert_eq!(subject_of(&[]), "(unreadable certificate)");
}

#[test]
fn a_name_that_is_not_valid_text_is_shown_as_such() {
    let mut der = certificate(&[(DnType::CommonName, "terminal-0042")]);
    let at = der
        .windows(b"terminal".len())
        .rposition(|window| window == b"terminal")
        .unwrap();
    der[at] = 0xff;
    assert_eq!(subject_of(&der), "(subject not readable as text)");
}

#[test]
fn a_subject_of_more_than_16_kib_is_not_shown() {
    let huge = "x".repeat(20 * 1024);
    let der = certificate(&[(DnType::CommonName, &huge)]);
    assert_eq!(subject_of(&der), "(subject too long to show)");
}
