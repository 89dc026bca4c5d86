//! What a replay sends: each captured conversation's requests, in order, with what the capture
//! says of their timing, and the replies the old host gave.

use std::time::Duration;

use bytes::Bytes;
use msgframe_capture::{Capture, Flow};
use msgframe_codec::{Framing, StreamFrames};

/// A captured message: its body and the time of the packet that completed it.
#[derive(Debug, Clone)]
pub struct Captured {
    pub body: Bytes,
    /// Since 1970, as the capture says.
    pub time: Duration,
    /// The capture's packet that completed it.
    pub packet: u64,
}

/// A request to send.
#[derive(Debug, Clone)]
pub struct Request {
    pub message: Captured,
    /// How many of the conversation's replies the capture holds before this request was whole:
    /// a replay waits for as many new replies before sending it (the captured interleaving;
    /// one request at a time stays one at a time).
    pub replies_before: usize,
}

/// One captured conversation to play.
#[derive(Debug, Clone)]
pub struct Script {
    /// Its index in the capture (as `split --list` numbers it).
    pub index: usize,
    /// `client -> server`, or the file of a raw stream.
    pub label: String,
    pub requests: Vec<Request>,
    /// The old host's replies.
    pub replies: Vec<Captured>,
    /// What stopped a direction short of its end: a gap in the capture, a frame cut short, bytes
    /// the framing cannot read. Said before the replay, never silent.
    pub warnings: Vec<String>,
}

/// Which conversations to take.
#[derive(Debug, Clone, Copy)]
pub enum Which {
    /// Every conversation whose client sent something.
    All,
    /// Those with this port on either side.
    Port(u16),
    /// The one at this index.
    Index(usize),
}

/// The indexes of `capture`'s conversations `which` chooses.
///
/// # Errors
/// None chosen.
pub fn chosen(capture: &Capture, which: Which) -> Result<Vec<usize>, String> {
    let chosen: Vec<usize> = match which {
        Which::Index(i) if i < capture.conversations.len() => vec![i],
        Which::Index(i) => {
            return Err(format!(
                "no TCP conversation {i}: the capture has {}",
                capture.conversations.len()
            ))
        }
        Which::Port(port) => (0..capture.conversations.len())
            .filter(|&i| {
                let c = &capture.conversations[i];
                c.client.port() == port || c.server.port() == port
            })
            .collect(),
        Which::All => (0..capture.conversations.len())
            .filter(|&i| !capture.conversations[i].to_server.data.is_empty())
            .collect(),
    };
    if chosen.is_empty() {
        return Err(match which {
            Which::Port(port) => format!("no TCP conversation on port {port}"),
            _ => format!(
                "no TCP conversation with data from its client ({} conversations, {} other packets)",
                capture.conversations.len(),
                capture.skipped
            ),
        });
    }
    Ok(chosen)
}

/// The scripts of `capture`'s conversations chosen by `which`, requests cut by `framing` and
/// replies by `reply_framing`.
///
/// # Errors
/// No conversation chosen, or a client's bytes that the framing cannot read (a wrong framing:
/// replaying them would send garbage).
pub fn scripts(
    capture: &Capture,
    which: Which,
    framing: &Framing,
    reply_framing: &Framing,
) -> Result<Vec<Script>, String> {
    chosen(capture, which)?
        .into_iter()
        .map(|index| {
            let c = &capture.conversations[index];
            let mut warnings = Vec::new();
            let arrow = format!("#{index} {} -> {}", c.client, c.server);
            let requests = messages(&c.to_server, framing, &arrow, &mut warnings)?;
            let back = format!("#{index} {} -> {}", c.server, c.client);
            let replies = match messages(&c.to_client, reply_framing, &back, &mut warnings) {
                Ok(replies) => replies,
                Err(why) => {
                    warnings.push(why);
                    Vec::new()
                }
            };
            let requests = requests
                .into_iter()
                .map(|message| Request {
                    replies_before: replies.partition_point(|r| r.packet < message.packet),
                    message,
                })
                .collect();
            Ok(Script {
                index,
                label: format!("{} -> {}", c.client, c.server),
                requests,
                replies,
                warnings,
            })
        })
        .collect()
}

/// The script of a simplex pair (two links, as `send --simplex-in` and `serve --simplex-return`
/// make them: the client dials both): the requests its client sent on the conversation(s)
/// `which` chooses (exactly one), the replies the host sent on the conversation on `reply_port`
/// (exactly one), each request after the replies captured before it, across the two links.
///
/// # Errors
/// Not exactly one conversation on either side, or bytes the framings cannot read.
pub fn simplex(
    capture: &Capture,
    which: Which,
    reply_port: u16,
    framing: &Framing,
    reply_framing: &Framing,
) -> Result<Script, String> {
    let one = |chosen: Vec<usize>, what: &str| {
        match chosen[..] {
        [index] => Ok(index),
        _ => Err(format!(
            "a simplex replay takes one conversation for the {what}, not {} (choose with --stream N)",
            chosen.len()
        )),
    }
    };
    let index = one(chosen(capture, which)?, "requests")?;
    let reply_index = one(
        chosen(capture, Which::Port(reply_port))?,
        "replies (--reply-port)",
    )?;
    if reply_index == index {
        return Err(format!(
            "the requests and the replies (--reply-port {reply_port}) are the same conversation: a simplex pair is two"
        ));
    }
    let (c, r) = (
        &capture.conversations[index],
        &capture.conversations[reply_index],
    );
    let mut warnings = Vec::new();
    let arrow = format!("#{index} {} -> {}", c.client, c.server);
    let requests = messages(&c.to_server, framing, &arrow, &mut warnings)?;
    let back = format!("#{reply_index} {} -> {}", r.server, r.client);
    let replies = match messages(&r.to_client, reply_framing, &back, &mut warnings) {
        Ok(replies) => replies,
        Err(why) => {
            warnings.push(why);
            Vec::new()
        }
    };
    Ok(Script {
        index,
        label: format!(
            "{} -> {}, replies {} -> {}",
            c.client, c.server, r.server, r.client
        ),
        requests: requests
            .into_iter()
            .map(|message| Request {
                replies_before: replies.partition_point(|r| r.packet < message.packet),
                message,
            })
            .collect(),
        replies,
        warnings,
    })
}

/// The script of a raw stream of requests (`label` names it) and one of the old host's replies:
/// no capture times, so requests go one at a time, each after the reply before it.
///
/// # Errors
/// Bytes of either stream that the framing cannot read.
pub fn raw(
    label: &str,
    requests: &[u8],
    replies: &[u8],
    framing: &Framing,
    reply_framing: &Framing,
) -> Result<Script, String> {
    let mut warnings = Vec::new();
    let flow = |data: &[u8]| Flow {
        data: data.to_vec(),
        ..Flow::default()
    };
    let requests = messages(&flow(requests), framing, label, &mut warnings)?;
    let replies = messages(&flow(replies), reply_framing, "--replies", &mut warnings)?;
    Ok(Script {
        index: 0,
        label: label.to_owned(),
        requests: requests
            .into_iter()
            .enumerate()
            .map(|(i, message)| Request {
                message,
                replies_before: i,
            })
            .collect(),
        replies,
        warnings,
    })
}

/// The whole frames of one direction, up to the first gap; what stops them short is a warning,
/// and bytes that are no frame at all an error.
fn messages(
    flow: &Flow,
    framing: &Framing,
    label: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<Captured>, String> {
    let end = match flow.gaps.first() {
        Some(gap) => {
            warnings.push(format!(
                "{label}: the capture misses {} bytes at offset {}: messages from there on are not replayed",
                gap.missing, gap.offset
            ));
            gap.offset
        }
        None => flow.data.len(),
    };
    let data = &flow.data[..end];
    let mut out = Vec::new();
    for item in StreamFrames::new(framing.clone(), data) {
        match item {
            Ok(frame) => {
                let at = flow.captured_by(frame.end()).unwrap_or_default();
                out.push(Captured {
                    body: Bytes::copy_from_slice(frame.frame),
                    time: at.time,
                    packet: at.packet,
                });
            }
            Err(e) if e.is_truncated() => {
                if end == flow.data.len() {
                    warnings.push(format!(
                        "{label}: the bytes end inside a message ({} bytes from offset {}): not replayed",
                        data.len() - e.offset,
                        e.offset
                    ));
                }
            }
            Err(e) => {
                return Err(format!(
                    "{label}: not a valid frame at offset {} under --framing {}: {} (is the framing right? `msgframe sniff` guesses it; --port or --stream choose the conversations to replay)",
                    e.offset, framing, e.error
                ))
            }
        }
    }
    Ok(out)
}

/// Whether the capture shows one exchange per connection: every conversation has at most one
/// request.
pub fn one_exchange_each(scripts: &[Script]) -> bool {
    scripts.iter().all(|s| s.requests.len() <= 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use msgframe_capture::synth::{Conversation, Format};

    fn capture(build: impl FnOnce(&mut Conversation)) -> Capture {
        let mut c = Conversation::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 9000));
        build(&mut c);
        msgframe_capture::parse_capture(&c.write(Format::Pcap)).unwrap()
    }

    fn framing(spec: &str) -> Framing {
        spec.parse().unwrap()
    }

    #[test]
    fn requests_wait_for_the_replies_captured_before_them() {
        let cap = capture(|c| {
            c.client_sends(b"0002q1")
                .server_sends(b"0002r1")
                .client_sends(b"0002q2")
                .client_sends(b"0002q3")
                .server_sends(b"0002r2")
                .server_sends(b"0002r3");
        });
        let s = scripts(&cap, Which::All, &framing("ascii:4"), &framing("ascii:4")).unwrap();
        let before: Vec<usize> = s[0].requests.iter().map(|r| r.replies_before).collect();
        assert_eq!(before, [0, 1, 1]);
        let bodies: Vec<&[u8]> = s[0].replies.iter().map(|r| &r.body[..]).collect();
        assert_eq!(bodies, [b"r1", b"r2", b"r3"]);
        assert!(s[0].warnings.is_empty());
    }

    #[test]
    fn a_simplex_pair_takes_its_replies_from_the_other_link() {
        use msgframe_capture::synth::interleaved;
        // Requests on the link to port 9000; the replies on the link to 9001, each sent after
        // its request (the links' packets alternate, a millisecond apart).
        let mut requests = Conversation::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 9000));
        let mut replies = Conversation::new(([10, 0, 0, 1], 40001), ([10, 0, 0, 2], 9001));
        for n in 1..=3 {
            requests.client_sends(format!("0002q{n}").as_bytes());
            replies.server_sends(format!("0002r{n}").as_bytes());
        }
        let cap = msgframe_capture::parse_capture(&interleaved(&[requests, replies], Format::Pcap))
            .unwrap();
        let f = framing("ascii:4");
        let s = simplex(&cap, Which::Port(9000), 9001, &f, &f).unwrap();
        let before: Vec<usize> = s.requests.iter().map(|r| r.replies_before).collect();
        assert_eq!(before, [0, 1, 2]);
        let bodies: Vec<&[u8]> = s.replies.iter().map(|r| &r.body[..]).collect();
        assert_eq!(bodies, [b"r1", b"r2", b"r3"]);
        // Without --port: the conversation whose client sent something.
        let all = simplex(&cap, Which::All, 9001, &f, &f).unwrap();
        assert_eq!(all.requests.len(), 3);
        // One conversation each, and two of them.
        assert!(simplex(&cap, Which::Port(9000), 9000, &f, &f)
            .unwrap_err()
            .contains("the same conversation"));
        assert!(simplex(&cap, Which::Port(40000), 9001, &f, &f).is_ok());
        let mut first = Conversation::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 9000));
        let mut second = Conversation::new(([10, 0, 0, 1], 40002), ([10, 0, 0, 2], 9000));
        let mut back = Conversation::new(([10, 0, 0, 1], 40001), ([10, 0, 0, 2], 9001));
        first.client_sends(b"0002q1");
        second.client_sends(b"0002q2");
        back.server_sends(b"0002r1");
        let two = interleaved(&[first, second, back], Format::Pcap);
        let two = msgframe_capture::parse_capture(&two).unwrap();
        assert_eq!(
            simplex(&two, Which::Port(9000), 9001, &f, &f).unwrap_err(),
            "a simplex replay takes one conversation for the requests, not 2 (choose with --stream N)"
        );
        assert!(simplex(&cap, Which::Port(9000), 9002, &f, &f)
            .unwrap_err()
            .contains("no TCP conversation on port 9002"));
    }

    #[test]
    fn a_wrong_framing_is_refused_and_a_cut_message_is_said() {
        let cap = capture(|c| {
            c.client_sends(b"0002q1").client_sends(b"00");
        });
        let s = scripts(&cap, Which::All, &framing("ascii:4"), &framing("ascii:4")).unwrap();
        assert_eq!(s[0].requests.len(), 1);
        assert!(s[0].warnings[0].contains("end inside a message (2 bytes from offset 6)"));
        let err = scripts(
            &cap,
            Which::All,
            &framing("delim:03,max=4"),
            &framing("lines"),
        )
        .unwrap_err();
        assert!(err.contains("not a valid frame at offset 0"), "{err}");
    }

    #[test]
    fn a_raw_stream_goes_one_request_at_a_time() {
        let f = framing("ascii:4");
        let s = raw("requests.bin", b"0002q10002q2", b"0002r10002r2", &f, &f).unwrap();
        let before: Vec<usize> = s.requests.iter().map(|r| r.replies_before).collect();
        assert_eq!(before, [0, 1]);
        assert_eq!(s.replies.len(), 2);
        assert!(raw("r", b"00x1q", b"", &f, &f)
            .unwrap_err()
            .contains("r: not a valid frame"));
    }

    #[test]
    fn conversations_are_chosen_by_index_or_port() {
        let cap = capture(|c| {
            c.client_sends(b"0002q1");
        });
        let f = framing("ascii:4");
        assert_eq!(scripts(&cap, Which::Port(9000), &f, &f).unwrap().len(), 1);
        assert!(scripts(&cap, Which::Port(1), &f, &f)
            .unwrap_err()
            .contains("port 1"));
        assert!(scripts(&cap, Which::Index(3), &f, &f).is_err());
    }
}
