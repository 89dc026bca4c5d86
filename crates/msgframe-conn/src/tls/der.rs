//! The subject of an X.509 certificate as text, read by a small DER walk:
//!
//! ```text
//! Certificate ::= SEQUENCE { tbsCertificate TBSCertificate, ... }
//! TBSCertificate ::= SEQUENCE {
//!     version [0] EXPLICIT Version OPTIONAL, serialNumber INTEGER,
//!     signature AlgorithmIdentifier, issuer Name, validity Validity, subject Name, ... }
//! Name ::= SEQUENCE OF RelativeDistinguishedName
//! RelativeDistinguishedName ::= SET SIZE (1..MAX) OF AttributeTypeAndValue
//! AttributeTypeAndValue ::= SEQUENCE { type OBJECT IDENTIFIER, value ANY }
//! ```
//!
//! Nothing past the subject is read, and bytes after the certificate are ignored. Every length
//! is checked against the bytes actually present before it is used; nothing is allocated from a
//! length the input claims, the walk does not recurse, and no input makes it panic.
//!
//! The text is `TYPE=value` per attribute, attributes of one RDN joined by ` + `, RDNs joined by
//! `, ` in the order they are encoded, with no escaping: `CN=terminal-0042, O=Acquirer`.
//! Well-known attribute types are abbreviated (`CN`, `C`, `L`, `ST`, `O`, `OU`, `DC`, `Email`),
//! other known ones go by their short name (`serialNumber`, `givenName`, ...), and unknown ones
//! by their dotted form in `OID(...)`. Text values are shown as text; any other value as the
//! upper-case hex of its contents.

use std::fmt::Write as _;

/// Why a certificate's subject could not be shown as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubjectError {
    /// The certificate, up to and including its subject, is not well-formed DER of the expected
    /// shape.
    Malformed,
    /// The subject's encoding is longer than [`MAX_SUBJECT_LEN`].
    TooLong,
    /// A value of a text type is not valid in its encoding (UTF-8, UTF-16 or UTF-32).
    NotText,
}

/// The longest subject encoding shown, in bytes. Real subjects take a few hundred; the text of a
/// subject is at most four times the length of its encoding.
pub(crate) const MAX_SUBJECT_LEN: usize = 16 * 1024;

/// The most length bytes accepted after a long-form length's first byte.
const MAX_LENGTH_BYTES: usize = 4;

/// The most bytes accepted after a tag's first byte in the high-tag-number form.
const MAX_TAG_NUMBER_BYTES: usize = 4;

/// The subject of the DER certificate `certificate`, as text (empty for an empty subject).
pub(crate) fn certificate_subject(certificate: &[u8]) -> Result<String, SubjectError> {
    let subject = subject_contents(certificate)?;
    if subject.len() > MAX_SUBJECT_LEN {
        return Err(SubjectError::TooLong);
    }
    name_text(subject)
}

/// The input is not well-formed DER of the expected shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Malformed;

impl From<Malformed> for SubjectError {
    fn from(Malformed: Malformed) -> SubjectError {
        SubjectError::Malformed
    }
}

/// The class of a tag: universal, application, context-specific or private.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Universal,
    Application,
    ContextSpecific,
    Private,
}

/// A DER identifier: class, primitive or constructed, and tag number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tag {
    class: Class,
    constructed: bool,
    number: u32,
}

impl Tag {
    const fn universal(number: u32, constructed: bool) -> Tag {
        Tag {
            class: Class::Universal,
            constructed,
            number,
        }
    }
}

const INTEGER: Tag = Tag::universal(2, false);
const OBJECT_IDENTIFIER: Tag = Tag::universal(6, false);
const SEQUENCE: Tag = Tag::universal(16, true);
const SET: Tag = Tag::universal(17, true);
/// `[0] EXPLICIT`: the version of a TBSCertificate.
const VERSION: Tag = Tag {
    class: Class::ContextSpecific,
    constructed: true,
    number: 0,
};

const OBJECT_DESCRIPTOR: u32 = 7;
const UTF8_STRING: u32 = 12;
const NUMERIC_STRING: u32 = 18;
const PRINTABLE_STRING: u32 = 19;
const TELETEX_STRING: u32 = 20;
const VIDEOTEX_STRING: u32 = 21;
const IA5_STRING: u32 = 22;
const GRAPHIC_STRING: u32 = 25;
const VISIBLE_STRING: u32 = 26;
const GENERAL_STRING: u32 = 27;
const UNIVERSAL_STRING: u32 = 28;
const BMP_STRING: u32 = 30;

/// One element: its tag and its contents.
#[derive(Debug, Clone, Copy)]
struct Element<'a> {
    tag: Tag,
    contents: &'a [u8],
}

/// Reads elements one after another from a slice.
#[derive(Debug, Clone, Copy)]
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { rest: bytes }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn byte(&mut self) -> Result<u8, Malformed> {
        let (&first, rest) = self.rest.split_first().ok_or(Malformed)?;
        self.rest = rest;
        Ok(first)
    }

    fn tag(&mut self) -> Result<Tag, Malformed> {
        let first = self.byte()?;
        let class = match first >> 6 {
            0 => Class::Universal,
            1 => Class::Application,
            2 => Class::ContextSpecific,
            _ => Class::Private,
        };
        let constructed = first & 0x20 != 0;
        let mut number = u32::from(first & 0x1f);
        if number == 0x1f {
            number = 0;
            let mut count = 0;
            loop {
                let byte = self.byte()?;
                count += 1;
                // A leading 0x80 would pad the number: not DER.
                if count > MAX_TAG_NUMBER_BYTES || (count == 1 && byte == 0x80) {
                    return Err(Malformed);
                }
                number = (number << 7) | u32::from(byte & 0x7f);
                if byte & 0x80 == 0 {
                    break;
                }
            }
            // Numbers below 31 have the one-byte form in DER.
            if number < 0x1f {
                return Err(Malformed);
            }
        }
        Ok(Tag {
            class,
            constructed,
            number,
        })
    }

    fn length(&mut self) -> Result<usize, Malformed> {
        let first = self.byte()?;
        if first < 0x80 {
            return Ok(usize::from(first));
        }
        // 0x80 is BER's indefinite length, which DER does not allow.
        let count = usize::from(first & 0x7f);
        if count == 0 || count > MAX_LENGTH_BYTES {
            return Err(Malformed);
        }
        let mut length: u32 = 0;
        for index in 0..count {
            let byte = self.byte()?;
            // DER lengths take the fewest bytes: no leading zero byte.
            if index == 0 && byte == 0 {
                return Err(Malformed);
            }
            length = (length << 8) | u32::from(byte);
        }
        // Below 128 the short form is the only DER form.
        if length < 0x80 {
            return Err(Malformed);
        }
        usize::try_from(length).map_err(|_| Malformed)
    }

    /// The next element, its length checked against the bytes that follow its header.
    fn element(&mut self) -> Result<Element<'a>, Malformed> {
        let tag = self.tag()?;
        let length = self.length()?;
        if length > self.rest.len() {
            return Err(Malformed);
        }
        let (contents, rest) = self.rest.split_at(length);
        self.rest = rest;
        Ok(Element { tag, contents })
    }

    /// The contents of the next element, which must have the tag `tag`.
    fn contents_of(&mut self, tag: Tag) -> Result<&'a [u8], Malformed> {
        let element = self.element()?;
        if element.tag == tag {
            Ok(element.contents)
        } else {
            Err(Malformed)
        }
    }
}

/// The contents of the subject `Name` of a certificate: the encoded RDNs.
fn subject_contents(certificate: &[u8]) -> Result<&[u8], Malformed> {
    let certificate = Reader::new(certificate).contents_of(SEQUENCE)?;
    let to_be_signed = Reader::new(certificate).contents_of(SEQUENCE)?;
    let mut fields = Reader::new(to_be_signed);
    let mut serial_number = fields.element()?;
    if serial_number.tag == VERSION {
        serial_number = fields.element()?;
    }
    if serial_number.tag != INTEGER {
        return Err(Malformed);
    }
    let _signature_algorithm = fields.contents_of(SEQUENCE)?;
    let _issuer = fields.contents_of(SEQUENCE)?;
    let _validity = fields.contents_of(SEQUENCE)?;
    fields.contents_of(SEQUENCE)
}

/// The text of a `Name`'s contents.
fn name_text(name: &[u8]) -> Result<String, SubjectError> {
    let mut text = String::new();
    let mut rdns = Reader::new(name);
    let mut first_rdn = true;
    while !rdns.is_empty() {
        let rdn = rdns.contents_of(SET)?;
        if rdn.is_empty() {
            return Err(SubjectError::Malformed);
        }
        if !first_rdn {
            text.push_str(", ");
        }
        first_rdn = false;
        let mut attributes = Reader::new(rdn);
        let mut first_in_rdn = true;
        while !attributes.is_empty() {
            let attribute = attributes.contents_of(SEQUENCE)?;
            let mut fields = Reader::new(attribute);
            let attribute_type = fields.contents_of(OBJECT_IDENTIFIER)?;
            let value = fields.element()?;
            if !fields.is_empty() {
                return Err(SubjectError::Malformed);
            }
            if !first_in_rdn {
                text.push_str(" + ");
            }
            first_in_rdn = false;
            push_attribute_type(&mut text, attribute_type)?;
            text.push('=');
            push_value(&mut text, value)?;
        }
    }
    Ok(text)
}

/// Attribute types by dotted OID: the usual abbreviations first, then the short names of other
/// attribute types.
const ATTRIBUTE_TYPES: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("1.2.840.113549.1.9.1", "Email"),
    ("2.5.4", "x509"),
    ("2.5.4.0", "objectClass"),
    ("2.5.4.1", "aliasedEntryName"),
    ("2.5.4.2", "knowledgeInformation"),
    ("2.5.4.4", "surname"),
    ("2.5.4.5", "serialNumber"),
    ("2.5.4.9", "streetAddress"),
    ("2.5.4.12", "title"),
    ("2.5.4.13", "description"),
    ("2.5.4.14", "searchGuide"),
    ("2.5.4.15", "businessCategory"),
    ("2.5.4.16", "postalAddress"),
    ("2.5.4.17", "postalCode"),
    ("2.5.4.41", "name"),
    ("2.5.4.42", "givenName"),
    ("2.5.4.43", "initials"),
    ("2.5.4.44", "generationQualifier"),
    ("2.5.4.45", "uniqueIdentifier"),
    ("2.5.4.46", "dnQualifier"),
    ("0.9.2342.19200300.100.1.1", "uid"),
    ("1.2.840.113549.1.9.2", "unstructuredName"),
    ("1.2.840.113549.1.9.3", "contentType"),
    ("1.2.840.113549.1.9.4", "id-messageDigest"),
    ("1.2.840.113549.1.9.5", "signing-time"),
    ("1.2.840.113549.1.9.7", "challengePassword"),
    ("1.2.840.113549.1.9.14", "extensionRequest"),
    ("1.2.840.113549.1.9.15", "smimeCapabilities"),
    ("1.2.840.113549.1.9.20", "friendlyName"),
    ("1.3.6.1.4.1.311.60.2.1.1", "msJurisdictionLocality"),
    ("1.3.6.1.4.1.311.60.2.1.2", "msJurisdictionStateOrProvince"),
    ("1.3.6.1.4.1.311.60.2.1.3", "msJurisdictionCountry"),
];

/// Pushes an attribute type's name: its abbreviation or short name, else `OID(dotted form)`.
fn push_attribute_type(text: &mut String, oid: &[u8]) -> Result<(), Malformed> {
    let dotted = oid_dotted(oid)?;
    match ATTRIBUTE_TYPES.iter().find(|(known, _)| *known == dotted) {
        Some((_, name)) => text.push_str(name),
        None => {
            text.push_str("OID(");
            text.push_str(&dotted);
            text.push(')');
        }
    }
    Ok(())
}

/// The most bytes of an OID arc shown in dotted form: nine bytes hold 63 bits.
const MAX_ARC_BYTES: usize = 9;

/// The dotted form of an OID's contents (`2.5.4.3`). An arc of more than [`MAX_ARC_BYTES`]
/// makes the whole OID shown as its contents in lower-case hex, bytes separated by spaces.
fn oid_dotted(oid: &[u8]) -> Result<String, Malformed> {
    // Each arc ends at a byte without the continuation bit; the last byte must end one.
    match oid.last() {
        Some(last) if last & 0x80 == 0 => {}
        _ => return Err(Malformed),
    }
    let mut arcs = Vec::new();
    let mut arc: u64 = 0;
    let mut arc_bytes = 0;
    let mut too_long = false;
    for &byte in oid {
        // A leading 0x80 would pad the arc: not DER.
        if arc_bytes == 0 && byte == 0x80 {
            return Err(Malformed);
        }
        arc_bytes += 1;
        if arc_bytes > MAX_ARC_BYTES {
            too_long = true;
        } else {
            arc = (arc << 7) | u64::from(byte & 0x7f);
        }
        if byte & 0x80 == 0 {
            arcs.push(arc);
            arc = 0;
            arc_bytes = 0;
        }
    }
    let mut dotted = String::new();
    if too_long {
        for (index, byte) in oid.iter().enumerate() {
            if index > 0 {
                dotted.push(' ');
            }
            let _ = write!(dotted, "{byte:02x}");
        }
        return Ok(dotted);
    }
    let Some((&combined, rest)) = arcs.split_first() else {
        return Err(Malformed);
    };
    // The first arc encodes the first two: 40 * first + second, the first being 0, 1 or 2.
    let (first, second) = match combined {
        combined @ 0..=39 => (0, combined),
        combined @ 40..=79 => (1, combined - 40),
        combined => (2, combined - 80),
    };
    let _ = write!(dotted, "{first}.{second}");
    for arc in rest {
        let _ = write!(dotted, ".{arc}");
    }
    Ok(dotted)
}

/// Pushes an attribute value: text for the text types, upper-case hex of the contents for any
/// other value.
fn push_value(text: &mut String, value: Element<'_>) -> Result<(), SubjectError> {
    let Tag {
        class: Class::Universal,
        constructed: false,
        number,
    } = value.tag
    else {
        push_hex(text, value.contents);
        return Ok(());
    };
    match number {
        UTF8_STRING | PRINTABLE_STRING | IA5_STRING | TELETEX_STRING | NUMERIC_STRING
        | VISIBLE_STRING | GENERAL_STRING | GRAPHIC_STRING | VIDEOTEX_STRING
        | OBJECT_DESCRIPTOR => {
            let value = std::str::from_utf8(value.contents).map_err(|_| SubjectError::NotText)?;
            text.push_str(value);
        }
        BMP_STRING => {
            let (units, odd) = value.contents.as_chunks::<2>();
            if !odd.is_empty() {
                return Err(SubjectError::NotText);
            }
            for c in char::decode_utf16(units.iter().map(|&unit| u16::from_be_bytes(unit))) {
                text.push(c.map_err(|_| SubjectError::NotText)?);
            }
        }
        UNIVERSAL_STRING => {
            let (units, odd) = value.contents.as_chunks::<4>();
            if !odd.is_empty() {
                return Err(SubjectError::NotText);
            }
            for &unit in units {
                text.push(char::from_u32(u32::from_be_bytes(unit)).ok_or(SubjectError::NotText)?);
            }
        }
        _ => push_hex(text, value.contents),
    }
    Ok(())
}

fn push_hex(text: &mut String, bytes: &[u8]) {
    for byte in bytes {
        let _ = write!(text, "{byte:02X}");
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rcgen::string::{BmpString, Ia5String, PrintableString, TeletexString, UniversalString};
    use rcgen::{CertificateParams, DistinguishedName, DnType, DnValue, KeyPair};

    use super::*;

    /// A self-signed certificate whose subject has `attributes`, in that order, made by rcgen.
    fn rcgen_certificate(attributes: Vec<(DnType, DnValue)>) -> Vec<u8> {
        let mut params = CertificateParams::new(vec!["host.test".to_owned()]).unwrap();
        params.distinguished_name = DistinguishedName::new();
        for (attribute_type, value) in attributes {
            params.distinguished_name.push(attribute_type, value);
        }
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    fn der_length(length: usize) -> Vec<u8> {
        if length < 0x80 {
            return vec![length as u8];
        }
        let bytes: Vec<u8> = length
            .to_be_bytes()
            .into_iter()
            .skip_while(|&byte| byte == 0)
            .collect();
        let mut encoded = vec![0x80 | bytes.len() as u8];
        encoded.extend(bytes);
        encoded
    }

    /// An element with a one-byte identifier and a DER length.
    fn element(identifier: u8, contents: &[u8]) -> Vec<u8> {
        let mut encoded = vec![identifier];
        encoded.extend(der_length(contents.len()));
        encoded.extend_from_slice(contents);
        encoded
    }

    fn sequence(parts: &[Vec<u8>]) -> Vec<u8> {
        element(0x30, &parts.concat())
    }

    fn set(parts: &[Vec<u8>]) -> Vec<u8> {
        element(0x31, &parts.concat())
    }

    fn oid_contents(arcs: &[u128]) -> Vec<u8> {
        let mut subidentifiers = vec![arcs[0] * 40 + arcs[1]];
        subidentifiers.extend_from_slice(&arcs[2..]);
        let mut encoded = Vec::new();
        for subidentifier in subidentifiers {
            let mut groups = vec![(subidentifier & 0x7f) as u8];
            let mut rest = subidentifier >> 7;
            while rest > 0 {
                groups.push(0x80 | (rest & 0x7f) as u8);
                rest >>= 7;
            }
            encoded.extend(groups.into_iter().rev());
        }
        encoded
    }

    fn oid(arcs: &[u128]) -> Vec<u8> {
        element(0x06, &oid_contents(arcs))
    }

    const COMMON_NAME: &[u128] = &[2, 5, 4, 3];
    const ORGANIZATION: &[u128] = &[2, 5, 4, 10];

    fn attribute(attribute_type: &[u128], value: Vec<u8>) -> Vec<u8> {
        sequence(&[oid(attribute_type), value])
    }

    fn utf8(text: &str) -> Vec<u8> {
        element(0x0c, text.as_bytes())
    }

    /// A `Name` of one single-attribute RDN per attribute.
    fn name(attributes: &[Vec<u8>]) -> Vec<u8> {
        let rdns: Vec<Vec<u8>> = attributes
            .iter()
            .map(|attribute| set(std::slice::from_ref(attribute)))
            .collect();
        sequence(&rdns)
    }

    /// The fields of a TBSCertificate around `subject` (an encoded `Name`): version 3, serial
    /// number 1, an ECDSA P-256 key (not a valid point), no extensions.
    fn to_be_signed_fields(subject: &[u8]) -> Vec<Vec<u8>> {
        let mut point = vec![0x00, 0x04];
        point.extend([0x11; 64]);
        vec![
            element(0xa0, &element(0x02, &[0x02])),
            element(0x02, &[0x01]),
            sequence(&[oid(ECDSA_WITH_SHA256)]),
            name(&[attribute(COMMON_NAME, utf8("issuer"))]),
            sequence(&[
                element(0x17, b"250101000000Z"),
                element(0x17, b"350101000000Z"),
            ]),
            subject.to_vec(),
            sequence(&[
                sequence(&[
                    oid(&[1, 2, 840, 10045, 2, 1]),
                    oid(&[1, 2, 840, 10045, 3, 1, 7]),
                ]),
                element(0x03, &point),
            ]),
        ]
    }

    const ECDSA_WITH_SHA256: &[u128] = &[1, 2, 840, 10045, 4, 3, 2];

    /// A certificate of these TBSCertificate fields, with a signature that is not valid.
    fn certificate_of_fields(fields: &[Vec<u8>]) -> Vec<u8> {
        sequence(&[
            sequence(fields),
            sequence(&[oid(ECDSA_WITH_SHA256)]),
            element(0x03, &[0x00, 0x30, 0x00]),
        ])
    }

    fn certificate_with_subject(subject: &[u8]) -> Vec<u8> {
        certificate_of_fields(&to_be_signed_fields(subject))
    }

    fn subject_of_name(subject: &[u8]) -> Result<String, SubjectError> {
        certificate_subject(&certificate_with_subject(subject))
    }

    /// Where the subject element of `certificate` ends.
    fn subject_end(certificate: &[u8]) -> usize {
        let subject = subject_contents(certificate).unwrap();
        subject.as_ptr() as usize + subject.len() - certificate.as_ptr() as usize
    }

    #[test]
    fn a_common_name_reads_as_cn() {
        let certificate = rcgen_certificate(vec![(DnType::CommonName, "terminal-0042".into())]);
        assert_eq!(
            certificate_subject(&certificate).unwrap(),
            "CN=terminal-0042"
        );
    }

    #[test]
    fn attributes_read_in_their_encoded_order_joined_by_commas() {
        let certificate = rcgen_certificate(vec![
            (DnType::CommonName, "terminal-0042".into()),
            (DnType::OrganizationName, "Acquirer Ltd".into()),
            (DnType::OrganizationalUnitName, "Terminals".into()),
            (DnType::CountryName, "GB".into()),
            (DnType::StateOrProvinceName, "Kent".into()),
            (DnType::LocalityName, "Dover".into()),
        ]);
        assert_eq!(
            certificate_subject(&certificate).unwrap(),
            "CN=terminal-0042, O=Acquirer Ltd, OU=Terminals, C=GB, ST=Kent, L=Dover"
        );
    }

    #[test]
    fn non_ascii_utf8_reads_as_itself() {
        let certificate = rcgen_certificate(vec![
            (DnType::CommonName, "Kasse Zürich №7 東京 🏧".into()),
            (DnType::OrganizationName, "Société Générale".into()),
        ]);
        assert_eq!(
            certificate_subject(&certificate).unwrap(),
            "CN=Kasse Zürich №7 東京 🏧, O=Société Générale"
        );
    }

    #[test]
    fn every_text_type_reads_as_text() {
        let certificate = rcgen_certificate(vec![
            (
                DnType::CommonName,
                DnValue::PrintableString(PrintableString::try_from("host 1").unwrap()),
            ),
            (
                DnType::OrganizationName,
                DnValue::Ia5String(Ia5String::try_from("mail@acquirer.test").unwrap()),
            ),
            (
                DnType::OrganizationalUnitName,
                DnValue::TeletexString(TeletexString::try_from("Teletex").unwrap()),
            ),
            (
                DnType::LocalityName,
                DnValue::BmpString(BmpString::try_from("Zürich €").unwrap()),
            ),
            (
                DnType::StateOrProvinceName,
                DnValue::UniversalString(UniversalString::try_from("Αθήνα 🏧").unwrap()),
            ),
        ]);
        assert_eq!(
            certificate_subject(&certificate).unwrap(),
            "CN=host 1, O=mail@acquirer.test, OU=Teletex, L=Zürich €, ST=Αθήνα 🏧"
        );
    }

    #[test]
    fn other_known_types_read_by_short_name_and_unknown_ones_by_dotted_oid() {
        let certificate = rcgen_certificate(vec![
            (DnType::CustomDnType(vec![2, 5, 4, 5]), "0042".into()),
            (
                DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 25]),
                "test".into(),
            ),
            (
                DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
                "ops@acquirer.test".into(),
            ),
            (
                DnType::CustomDnType(vec![1, 3, 6, 1, 4, 1, 55555, 7]),
                "x".into(),
            ),
        ]);
        assert_eq!(
            certificate_subject(&certificate).unwrap(),
            "serialNumber=0042, DC=test, Email=ops@acquirer.test, OID(1.3.6.1.4.1.55555.7)=x"
        );
    }

    #[test]
    fn an_empty_subject_reads_as_empty_text() {
        let certificate = rcgen_certificate(Vec::new());
        assert_eq!(certificate_subject(&certificate).unwrap(), "");
    }

    #[test]
    fn attributes_of_one_rdn_are_joined_by_plus() {
        let subject = sequence(&[
            set(&[
                attribute(COMMON_NAME, utf8("a")),
                attribute(ORGANIZATION, utf8("b")),
            ]),
            set(&[attribute(ORGANIZATION, utf8("c"))]),
        ]);
        assert_eq!(subject_of_name(&subject).unwrap(), "CN=a + O=b, O=c");
    }

    #[test]
    fn a_value_of_another_type_reads_as_upper_case_hex_of_its_contents() {
        let octets = element(0x04, &[0xde, 0xad, 0x01]);
        let context_specific = element(0x8c, b"ab");
        let high_tag_number = [0x1f, 0x81, 0x00, 0x01, 0xfe].to_vec();
        let subject = name(&[
            attribute(COMMON_NAME, octets),
            attribute(COMMON_NAME, context_specific),
            attribute(COMMON_NAME, high_tag_number),
        ]);
        assert_eq!(
            subject_of_name(&subject).unwrap(),
            "CN=DEAD01, CN=6162, CN=FE"
        );
    }

    #[test]
    fn special_characters_are_not_escaped() {
        let subject = name(&[attribute(COMMON_NAME, utf8("a, O=b + c"))]);
        assert_eq!(subject_of_name(&subject).unwrap(), "CN=a, O=b + c");
    }

    #[test]
    fn oid_arcs_of_up_to_63_bits_read_in_dotted_form() {
        let largest = (1u128 << 63) - 1;
        let subject = name(&[
            attribute(&[2, 999, 1], utf8("a")),
            attribute(&[1, 2, largest], utf8("b")),
        ]);
        assert_eq!(
            subject_of_name(&subject).unwrap(),
            format!("OID(2.999.1)=a, OID(1.2.{largest})=b")
        );
    }

    #[test]
    fn an_oid_with_an_arc_of_64_bits_or_more_reads_in_hex() {
        let subject = name(&[attribute(&[1, 2, 1 << 63], utf8("a"))]);
        let hex = "2a 81 80 80 80 80 80 80 80 80 00";
        assert_eq!(subject_of_name(&subject).unwrap(), format!("OID({hex})=a"));
    }

    #[test]
    fn a_version_1_certificate_without_the_version_field_is_read() {
        let mut fields = to_be_signed_fields(&name(&[attribute(COMMON_NAME, utf8("v1"))]));
        fields.remove(0);
        assert_eq!(
            certificate_subject(&certificate_of_fields(&fields)).unwrap(),
            "CN=v1"
        );
    }

    #[test]
    fn long_form_lengths_are_read() {
        let long_name = "n".repeat(300);
        let subject = name(&[attribute(COMMON_NAME, utf8(&long_name))]);
        assert_eq!(
            subject_of_name(&subject).unwrap(),
            format!("CN={long_name}")
        );
    }

    #[test]
    fn bytes_after_the_certificate_are_ignored() {
        let mut certificate = rcgen_certificate(vec![(DnType::CommonName, "a".into())]);
        certificate.extend_from_slice(b"trailing");
        assert_eq!(certificate_subject(&certificate).unwrap(), "CN=a");
    }

    #[test]
    fn lengths_must_be_definite_minimal_and_of_at_most_four_bytes() {
        let refused: &[&[u8]] = &[
            &[0x30, 0x80, 0x00, 0x00],
            &[0x30, 0x81, 0x05, 0, 0, 0, 0, 0],
            &[0x30, 0x82, 0x00, 0x85],
            &[0x30, 0x85, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00],
            &[0x30, 0xff],
        ];
        for certificate in refused {
            assert_eq!(
                certificate_subject(certificate),
                Err(SubjectError::Malformed),
                "{certificate:02x?}"
            );
        }
    }

    #[test]
    fn a_length_claiming_more_than_the_input_holds_is_refused() {
        assert_eq!(
            certificate_subject(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x30, 0x00]),
            Err(SubjectError::Malformed)
        );
        assert_eq!(
            certificate_subject(&[0x30, 0x03, 0x30, 0x00]),
            Err(SubjectError::Malformed)
        );
        assert_eq!(certificate_subject(&[]), Err(SubjectError::Malformed));
    }

    #[test]
    fn high_tag_numbers_must_be_minimal() {
        let padded = [0x1f, 0x80, 0x21, 0x01, 0x00].to_vec();
        let below_31 = [0x1f, 0x05, 0x01, 0x00].to_vec();
        let too_long = [0x1f, 0x81, 0x81, 0x81, 0x81, 0x01, 0x01, 0x00].to_vec();
        for value in [padded, below_31, too_long] {
            let subject = name(&[attribute(COMMON_NAME, value.clone())]);
            assert_eq!(
                subject_of_name(&subject),
                Err(SubjectError::Malformed),
                "{value:02x?}"
            );
        }
    }

    #[test]
    fn the_fields_before_the_subject_must_have_their_types() {
        let subject = name(&[attribute(COMMON_NAME, utf8("a"))]);
        let octet_string = element(0x04, &[0x01]);
        for (index, field) in [
            "serial number",
            "signature",
            "issuer",
            "validity",
            "subject",
        ]
        .into_iter()
        .enumerate()
        {
            let mut fields = to_be_signed_fields(&subject);
            fields[index + 1] = octet_string.clone();
            assert_eq!(
                certificate_subject(&certificate_of_fields(&fields)),
                Err(SubjectError::Malformed),
                "{field}"
            );
        }
        let mut missing_subject = to_be_signed_fields(&subject);
        missing_subject.truncate(5);
        assert_eq!(
            certificate_subject(&certificate_of_fields(&missing_subject)),
            Err(SubjectError::Malformed)
        );
    }

    #[test]
    fn a_malformed_name_is_refused() {
        let empty_rdn = sequence(&[set(&[])]);
        let extra_element = name(&[sequence(&[oid(COMMON_NAME), utf8("a"), utf8("b")])]);
        let no_value = name(&[sequence(&[oid(COMMON_NAME)])]);
        let type_not_an_oid = name(&[sequence(&[utf8("CN"), utf8("a")])]);
        let empty_oid = name(&[sequence(&[element(0x06, &[]), utf8("a")])]);
        let unfinished_oid = name(&[sequence(&[element(0x06, &[0x55, 0x84]), utf8("a")])]);
        let padded_oid = name(&[sequence(&[element(0x06, &[0x55, 0x80, 0x04]), utf8("a")])]);
        let rdn_not_a_set = sequence(&[sequence(&[attribute(COMMON_NAME, utf8("a"))])]);
        for subject in [
            empty_rdn,
            extra_element,
            no_value,
            type_not_an_oid,
            empty_oid,
            unfinished_oid,
            padded_oid,
            rdn_not_a_set,
        ] {
            assert_eq!(
                subject_of_name(&subject),
                Err(SubjectError::Malformed),
                "{subject:02x?}"
            );
        }
    }

    #[test]
    fn a_text_value_that_does_not_decode_is_not_text() {
        let values = [
            element(0x0c, &[0x61, 0xff]),
            element(0x13, &[0xc3]),
            element(0x1e, &[0x00, 0x61, 0x00]),
            element(0x1e, &[0xd8, 0x00]),
            element(0x1c, &[0x00, 0x00, 0x00, 0x61, 0x00]),
            element(0x1c, &[0x00, 0x11, 0x00, 0x00]),
            element(0x1c, &[0x00, 0x00, 0xd8, 0x00]),
        ];
        for value in values {
            let subject = name(&[attribute(COMMON_NAME, value.clone())]);
            assert_eq!(
                subject_of_name(&subject),
                Err(SubjectError::NotText),
                "{value:02x?}"
            );
        }
    }

    #[test]
    fn a_subject_longer_than_the_limit_is_too_long() {
        // A set, a sequence and a UTF8String header of four bytes each, and `06 03 55 04 03`.
        let name_of_length = |length: usize| {
            let value = "x".repeat(length - 17);
            let subject = name(&[attribute(COMMON_NAME, utf8(&value))]);
            assert_eq!(
                Reader::new(&subject).contents_of(SEQUENCE).unwrap().len(),
                length
            );
            (subject, value)
        };
        let (longest, value) = name_of_length(MAX_SUBJECT_LEN);
        assert_eq!(subject_of_name(&longest).unwrap(), format!("CN={value}"));
        let (too_long, _) = name_of_length(MAX_SUBJECT_LEN + 1);
        assert_eq!(subject_of_name(&too_long), Err(SubjectError::TooLong));
    }

    /// One rcgen certificate for the tests that take it apart.
    fn terminal_certificate() -> &'static [u8] {
        static CERTIFICATE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        CERTIFICATE.get_or_init(|| {
            rcgen_certificate(vec![
                (DnType::CommonName, "terminal-0042".into()),
                (DnType::OrganizationName, "Acquirer".into()),
            ])
        })
    }

    #[test]
    fn every_strict_prefix_of_a_certificate_is_malformed() {
        let certificate = terminal_certificate();
        for length in 0..certificate.len() {
            assert_eq!(
                certificate_subject(&certificate[..length]),
                Err(SubjectError::Malformed),
                "prefix of {length} bytes"
            );
        }
    }

    /// Encoded names of arbitrary elements: any OID contents, any identifier, any contents.
    fn arbitrary_names() -> impl Strategy<Value = Vec<u8>> {
        let attribute = (
            proptest::collection::vec(any::<u8>(), 0..12),
            any::<u8>(),
            proptest::collection::vec(any::<u8>(), 0..24),
        )
            .prop_map(|(oid, identifier, contents)| {
                sequence(&[element(0x06, &oid), element(identifier, &contents)])
            });
        let rdn =
            proptest::collection::vec(attribute, 0..4).prop_map(|attributes| set(&attributes));
        proptest::collection::vec(rdn, 0..5).prop_map(|rdns| sequence(&rdns))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn a_flipped_bit_never_panics_and_one_after_the_subject_changes_nothing(
            bit in any::<prop::sample::Index>(),
        ) {
            let certificate = terminal_certificate();
            let bit = bit.index(8 * certificate.len());
            let mut flipped = certificate.to_vec();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let read = certificate_subject(&flipped);
            if bit / 8 >= subject_end(certificate) {
                prop_assert_eq!(read, certificate_subject(certificate));
            }
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = certificate_subject(&bytes);
            let _ = subject_of_name(&bytes);
            let _ = subject_of_name(&element(0x30, &bytes));
        }

        #[test]
        fn a_name_of_arbitrary_elements_never_panics_and_reads_at_most_four_bytes_of_text_a_byte(
            subject in arbitrary_names(),
        ) {
            if let Ok(text) = subject_of_name(&subject) {
                prop_assert!(text.len() <= 4 * subject.len(), "{} for {}", text, subject.len());
            }
        }

        #[test]
        fn a_truncated_or_flipped_name_of_arbitrary_elements_never_panics(
            subject in arbitrary_names(),
            cut in any::<prop::sample::Index>(),
            bit in any::<prop::sample::Index>(),
        ) {
            let _ = subject_of_name(&subject[..cut.index(subject.len() + 1)]);
            let mut flipped = subject.clone();
            let bit = bit.index(8 * flipped.len());
            flipped[bit / 8] ^= 1 << (bit % 8);
            let _ = subject_of_name(&flipped);
        }
    }
}
