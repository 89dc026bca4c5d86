//! A minimal SMPP 3.4 SMSC for the interop tests: enough to bind, take submit_sm, answer and send
//! enquire_link, deliver one deliver_sm, and unbind. Framing is msgframe's (`be:4,counts-header`:
//! the 4-byte command_length counts itself); this module sees a PDU from command_id on.

#![allow(dead_code)]

pub const GENERIC_NACK: u32 = 0x8000_0000;
pub const BIND_TRANSMITTER: u32 = 0x0000_0002;
pub const SUBMIT_SM: u32 = 0x0000_0004;
pub const DELIVER_SM: u32 = 0x0000_0005;
pub const UNBIND: u32 = 0x0000_0006;
pub const BIND_TRANSCEIVER: u32 = 0x0000_0009;
pub const ENQUIRE_LINK: u32 = 0x0000_0015;
pub const RESPONSE: u32 = 0x8000_0000;

/// ESME_RINVCMDID: invalid command id.
pub const STATUS_INVALID_COMMAND: u32 = 0x0000_0003;

/// The SMSC's system_id in bind responses.
pub const SYSTEM_ID: &str = "MSGFRAME-SMSC";

/// A PDU without its command_length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu {
    pub command_id: u32,
    pub status: u32,
    pub sequence: u32,
    pub body: Vec<u8>,
}

impl Pdu {
    pub fn new(command_id: u32, sequence: u32, body: Vec<u8>) -> Self {
        Pdu {
            command_id,
            status: 0,
            sequence,
            body,
        }
    }

    /// Parses a frame from command_id on (msgframe stripped command_length).
    pub fn parse(frame: &[u8]) -> Result<Pdu, String> {
        if frame.len() < 12 {
            return Err(format!(
                "a {}-byte PDU is shorter than its header",
                frame.len()
            ));
        }
        let word = |i: usize| u32::from_be_bytes(frame[i..i + 4].try_into().unwrap());
        Ok(Pdu {
            command_id: word(0),
            status: word(4),
            sequence: word(8),
            body: frame[12..].to_vec(),
        })
    }

    /// The PDU from command_id on (msgframe writes command_length).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + self.body.len());
        out.extend_from_slice(&self.command_id.to_be_bytes());
        out.extend_from_slice(&self.status.to_be_bytes());
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.body);
        out
    }
}

/// Reads a PDU body field by field.
struct Fields<'a> {
    body: &'a [u8],
    at: usize,
}

impl Fields<'_> {
    fn cstring(&mut self, what: &str) -> Result<String, String> {
        let rest = &self.body[self.at.min(self.body.len())..];
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| format!("{what}: no NUL terminator"))?;
        self.at += end + 1;
        String::from_utf8(rest[..end].to_vec()).map_err(|_| format!("{what} is not UTF-8"))
    }

    fn byte(&mut self, what: &str) -> Result<u8, String> {
        let b = *self
            .body
            .get(self.at)
            .ok_or_else(|| format!("{what}: the body ended"))?;
        self.at += 1;
        Ok(b)
    }

    fn bytes(&mut self, n: usize, what: &str) -> Result<Vec<u8>, String> {
        let b = self
            .body
            .get(self.at..self.at + n)
            .ok_or_else(|| format!("{what}: {n} bytes wanted, the body ended"))?
            .to_vec();
        self.at += n;
        Ok(b)
    }
}

/// The short_message of a submit_sm body (SMPP 3.4, 4.4.1).
pub fn submit_sm_short_message(body: &[u8]) -> Result<Vec<u8>, String> {
    let mut f = Fields { body, at: 0 };
    f.cstring("service_type")?;
    f.byte("source_addr_ton")?;
    f.byte("source_addr_npi")?;
    f.cstring("source_addr")?;
    f.byte("dest_addr_ton")?;
    f.byte("dest_addr_npi")?;
    f.cstring("destination_addr")?;
    f.byte("esm_class")?;
    f.byte("protocol_id")?;
    f.byte("priority_flag")?;
    f.cstring("schedule_delivery_time")?;
    f.cstring("validity_period")?;
    f.byte("registered_delivery")?;
    f.byte("replace_if_present_flag")?;
    f.byte("data_coding")?;
    f.byte("sm_default_msg_id")?;
    let len = f.byte("sm_length")?;
    f.bytes(usize::from(len), "short_message")
}

fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// A deliver_sm body carrying `text` from 15550002 to 15550001.
pub fn deliver_sm_body(text: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(cstr("")); // service_type
    b.extend([1, 1]); // source ton, npi
    b.extend(cstr("15550002"));
    b.extend([1, 1]); // dest ton, npi
    b.extend(cstr("15550001"));
    b.extend([0, 0, 0]); // esm_class, protocol_id, priority_flag
    b.extend(cstr("")); // schedule_delivery_time
    b.extend(cstr("")); // validity_period
    b.extend([0, 0, 0, 0]); // registered_delivery, replace_if_present, data_coding, sm_default_msg_id
    b.push(u8::try_from(text.len()).unwrap());
    b.extend_from_slice(text);
    b
}

/// The text the SMSC delivers to the client.
pub const DELIVERED: &[u8] = b"hello from msgframe";

/// What the SMSC saw and did, for the test to check.
#[derive(Debug, Default)]
pub struct Smsc {
    /// One line per PDU received, e.g. `bind_transceiver msgframe-test/secret seq=1`.
    pub log: Vec<String>,
    /// The short messages of the submit_sm PDUs, in order.
    pub short_messages: Vec<Vec<u8>>,
    /// Sequence numbers of the SMSC's own requests still waiting for a response, with the
    /// response's command id.
    pub awaiting: Vec<(u32, u32)>,
    /// Whether the client unbound.
    pub unbound: bool,
    next_sequence: u32,
}

impl Smsc {
    pub fn new() -> Self {
        Smsc {
            next_sequence: 0x7000_0000,
            ..Smsc::default()
        }
    }

    fn request(&mut self, command_id: u32, body: Vec<u8>) -> Pdu {
        self.next_sequence += 1;
        self.awaiting
            .push((command_id | RESPONSE, self.next_sequence));
        Pdu::new(command_id, self.next_sequence, body)
    }

    /// Handles one PDU and returns what to send back, in order.
    pub fn handle(&mut self, pdu: &Pdu) -> Vec<Pdu> {
        let reply = |body: Vec<u8>| Pdu::new(pdu.command_id | RESPONSE, pdu.sequence, body);
        let seq = pdu.sequence;
        match pdu.command_id {
            BIND_TRANSCEIVER | BIND_TRANSMITTER => {
                let mut f = Fields {
                    body: &pdu.body,
                    at: 0,
                };
                let (system_id, password) = match (f.cstring("system_id"), f.cstring("password")) {
                    (Ok(s), Ok(p)) => (s, p),
                    (s, p) => {
                        self.log.push(format!("bad bind: {s:?} {p:?}"));
                        return vec![Pdu {
                            status: 0x0000_000D, // ESME_RBINDFAIL
                            ..reply(Vec::new())
                        }];
                    }
                };
                let name = if pdu.command_id == BIND_TRANSCEIVER {
                    "bind_transceiver"
                } else {
                    "bind_transmitter"
                };
                self.log
                    .push(format!("{name} {system_id}/{password} seq={seq}"));
                let mut body = cstr(SYSTEM_ID);
                body.extend([0x02, 0x10, 0x00, 0x01, 0x34]); // sc_interface_version 3.4
                vec![reply(body)]
            }
            SUBMIT_SM => match submit_sm_short_message(&pdu.body) {
                Ok(text) => {
                    self.short_messages.push(text.clone());
                    let id = format!("msgframe-{}", self.short_messages.len());
                    self.log
                        .push(format!("submit_sm {} bytes seq={seq}", text.len()));
                    vec![reply(cstr(&id))]
                }
                Err(e) => {
                    self.log.push(format!("bad submit_sm: {e}"));
                    vec![Pdu {
                        status: 0x0000_0001, // ESME_RINVMSGLEN
                        ..reply(cstr(""))
                    }]
                }
            },
            ENQUIRE_LINK => {
                self.log.push(format!("enquire_link seq={seq}"));
                let mut out = vec![reply(Vec::new())];
                if !self.log.iter().any(|l| l.starts_with("sent deliver_sm")) {
                    self.log.push("sent deliver_sm and enquire_link".into());
                    out.push(self.request(DELIVER_SM, deliver_sm_body(DELIVERED)));
                    out.push(self.request(ENQUIRE_LINK, Vec::new()));
                }
                out
            }
            UNBIND => {
                self.log.push(format!("unbind seq={seq}"));
                self.unbound = true;
                vec![reply(Vec::new())]
            }
            id if id & RESPONSE != 0 => {
                let name = match id & !RESPONSE {
                    DELIVER_SM => "deliver_sm_resp",
                    ENQUIRE_LINK => "enquire_link_resp",
                    _ => "unexpected response",
                };
                match self.awaiting.iter().position(|&(c, s)| c == id && s == seq) {
                    Some(i) => {
                        self.awaiting.remove(i);
                        self.log
                            .push(format!("{name} status={} (awaited)", pdu.status));
                    }
                    None => self
                        .log
                        .push(format!("{name} {id:#010x} seq={seq} not awaited")),
                }
                Vec::new()
            }
            id => {
                self.log.push(format!("unknown command {id:#010x}"));
                vec![Pdu {
                    status: STATUS_INVALID_COMMAND,
                    ..Pdu::new(GENERIC_NACK, seq, Vec::new())
                }]
            }
        }
    }
}
