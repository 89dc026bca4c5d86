//! Comparing a captured reply with the new host's: byte for byte, except where masks say a field
//! may differ (a time, a STAN, a reference number).

use std::ops::Range;

use crate::iso8583;

/// What may differ between a captured reply and a new one.
#[derive(Debug, Clone, Default)]
pub struct Masks {
    /// Byte ranges, as `(offset, length)` in the message body.
    pub spans: Vec<(usize, usize)>,
    /// ISO 8583 fields, found by walking each message's bitmap.
    pub fields: Vec<u8>,
    /// Where the ISO 8583 part starts and how it is encoded.
    pub iso: iso8583::Layout,
}

/// Where two replies first differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The offset of the first differing byte in the captured reply (its length when it is the
    /// shorter one and the other goes on).
    pub captured_offset: usize,
    /// The same point in the new reply.
    pub new_offset: usize,
    /// Up to [`SHOWN`] compared bytes of each from there.
    pub captured: Vec<u8>,
    pub new: Vec<u8>,
    /// The ISO 8583 part the difference falls in (`MTI`, `bitmap`, `field 39`), when fields are
    /// masked and the new reply could be walked.
    pub part: Option<String>,
}

/// How many bytes of each side a difference shows.
pub const SHOWN: usize = 8;

/// Compares two replies under `masks`: `None` when they are equal, else where they first differ;
/// and, for each side, why field masks could not be applied (not ISO 8583 as laid out), when
/// they could not.
pub fn compare(captured: &[u8], new: &[u8], masks: &Masks) -> (Option<Difference>, Vec<String>) {
    let mut notes = Vec::new();
    let (kept_captured, _) = kept(captured, masks, "captured", &mut notes);
    let (kept_new, walked) = kept(new, masks, "new", &mut notes);
    let a: Vec<usize> = kept_captured.into_iter().flatten().collect();
    let b: Vec<usize> = kept_new.into_iter().flatten().collect();
    let first = a
        .iter()
        .zip(&b)
        .position(|(&i, &j)| captured[i] != new[j])
        .or_else(|| (a.len() != b.len()).then(|| a.len().min(b.len())));
    let difference = first.map(|k| {
        let captured_offset = a.get(k).copied().unwrap_or(captured.len());
        let new_offset = b.get(k).copied().unwrap_or(new.len());
        let shown = |side: &[usize], bytes: &[u8]| -> Vec<u8> {
            side.iter().skip(k).take(SHOWN).map(|&i| bytes[i]).collect()
        };
        let part = walked.as_ref().map(|f| part_at(f, new_offset));
        Difference {
            captured_offset,
            new_offset,
            captured: shown(&a, captured),
            new: shown(&b, new),
            part,
        }
    });
    (difference, notes)
}

/// The ranges of `message` compared under `masks` (in order, not overlapping), and its fields
/// when they were walked.
fn kept(
    message: &[u8],
    masks: &Masks,
    side: &str,
    notes: &mut Vec<String>,
) -> (Vec<Range<usize>>, Option<iso8583::Fields>) {
    let mut masked: Vec<Range<usize>> = masks
        .spans
        .iter()
        .map(|&(offset, len)| {
            offset.min(message.len())..offset.saturating_add(len).min(message.len())
        })
        .collect();
    let mut walked = None;
    if !masks.fields.is_empty() {
        match iso8583::walk(message, masks.iso) {
            Ok(fields) => {
                masked.extend(masks.fields.iter().filter_map(|&n| fields.field(n)));
                walked = Some(fields);
            }
            Err(why) => notes.push(format!(
                "field masks not applied to the {side} reply (not ISO 8583 as laid out: {why})"
            )),
        }
    }
    masked.retain(|r| !r.is_empty());
    masked.sort_by_key(|r| r.start);
    let mut kept = Vec::new();
    let mut cursor = 0;
    for r in masked {
        if r.start > cursor {
            kept.push(cursor..r.start);
        }
        cursor = cursor.max(r.end);
    }
    if cursor < message.len() {
        kept.push(cursor..message.len());
    }
    (kept, walked)
}

/// The ISO 8583 part holding `offset`.
fn part_at(fields: &iso8583::Fields, offset: usize) -> String {
    if fields.mti.contains(&offset) {
        return "MTI".to_owned();
    }
    if fields.bitmap.contains(&offset) {
        return "bitmap".to_owned();
    }
    match fields.fields.iter().find(|(_, r)| r.contains(&offset)) {
        Some((n, _)) => format!("field {n}"),
        None if offset < fields.mti.start => "header".to_owned(),
        None => "after the last field".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(spans: &[(usize, usize)]) -> Masks {
        Masks {
            spans: spans.to_vec(),
            ..Masks::default()
        }
    }

    #[test]
    fn equal_replies_have_no_difference() {
        assert_eq!(compare(b"0210abc", b"0210abc", &Masks::default()).0, None);
    }

    #[test]
    fn the_first_differing_byte_is_named_with_what_follows() {
        let d = compare(b"0210xxABCDEFGHIJ", b"0210xyABCDEFGHIJ", &Masks::default())
            .0
            .unwrap();
        assert_eq!((d.captured_offset, d.new_offset), (5, 5));
        assert_eq!(d.captured, b"xABCDEFG");
        assert_eq!(d.new, b"yABCDEFG");
        assert_eq!(d.part, None);
    }

    #[test]
    fn a_reply_that_stops_short_differs_where_it_ends() {
        let d = compare(b"0210abc", b"0210a", &Masks::default()).0.unwrap();
        assert_eq!((d.captured_offset, d.new_offset), (5, 5));
        assert_eq!(
            (d.captured.as_slice(), d.new.as_slice()),
            (&b"bc"[..], &b""[..])
        );
    }

    #[test]
    fn masked_spans_are_not_compared() {
        let m = spans(&[(4, 2), (9, 100)]);
        assert_eq!(compare(b"0210abcdeXXX", b"0210zzcdeYY", &m).0, None);
        // Outside the masks, a difference is still one.
        let d = compare(b"0210abcdeXXX", b"0210zzcDe", &m).0.unwrap();
        assert_eq!(d.captured_offset, 7);
    }

    /// A 0210 with fields 7, 11, 39 and 41, hex bitmap.
    fn reply(time: &[u8; 10], stan: &[u8; 6], code: &[u8; 2]) -> Vec<u8> {
        let mut m = b"02100220000002800000".to_vec();
        m.extend(time);
        m.extend(stan);
        m.extend(code);
        m.extend(b"TERM0042");
        m
    }

    #[test]
    fn masked_iso_8583_fields_may_differ_and_others_are_named() {
        let masks = Masks {
            fields: vec![7, 11],
            ..Masks::default()
        };
        let captured = reply(b"1205083000", b"000001", b"00");
        let new = reply(b"1206090000", b"000777", b"00");
        assert_eq!(compare(&captured, &new, &masks), (None, vec![]));
        let declined = reply(b"1206090000", b"000777", b"05");
        let d = compare(&captured, &declined, &masks).0.unwrap();
        assert_eq!(d.part.as_deref(), Some("field 39"));
        assert_eq!((d.captured_offset, d.new_offset), (37, 37));
        assert_eq!(d.captured, b"0TERM004");
        assert_eq!(d.new, b"5TERM004");
    }

    #[test]
    fn a_reply_that_is_not_iso_8583_is_compared_whole_and_said_so() {
        let masks = Masks {
            fields: vec![7],
            ..Masks::default()
        };
        let (d, notes) = compare(b"garbage", b"garbage", &masks);
        assert_eq!(d, None);
        assert_eq!(notes.len(), 2);
        assert!(notes[0].starts_with("field masks not applied to the captured reply"));
    }
}
