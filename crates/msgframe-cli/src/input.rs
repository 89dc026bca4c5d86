//! Reading what the user gives: framing specs, hex strings, files, captures.

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;

use msgframe_capture::{detect_format, FileFormat, Select};
use msgframe_codec::header::hex::{self, HexError};
use msgframe_codec::Framing;

use crate::cli::{CaptureInput, Direction};
use crate::error::{Failure, Result};
use crate::out::errln;

/// A framing spec; a bad one is a usage error that points at the bad part.
pub fn framing(spec: &str) -> Result<Framing> {
    spec.parse::<msgframe_codec::FramingSpec>()
        .map_err(|e| Failure::usage(format!("{e}\n  {}", e.pointer().replace('\n', "\n  "))))?
        .build()
        .map_err(|e| Failure::usage(format!("framing `{spec}`: {e}")))
}

/// Refuses, before any connection, a message the framing cannot carry (`what` names it).
pub fn frameable(framing: &Framing, spec: &str, body: &[u8], what: &str) -> Result<()> {
    let mut probe = bytes::BytesMut::new();
    msgframe_codec::Encoder::encode(framing, body, &mut probe)
        .map(drop)
        .map_err(|e| Failure::usage(format!("{what} cannot be framed as {spec}: {e}")))
}

/// Bytes from hex: pairs of hex digits, with spaces, colons, dashes, underscores and `0x`
/// prefixes allowed between them.
pub fn hex(text: &str) -> Result<Vec<u8>> {
    hex::parse_separated(text).map_err(|e| {
        Failure::usage(match e {
            HexError::InvalidDigit { offset, found } => format!(
                "`{found}` at character {offset} is not a hex digit (hex example: '30 38 30 30' or 30383030)"
            ),
            other => other.to_string(),
        })
    })
}

/// The contents of `path`, or of stdin for `-`.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .read_to_end(&mut data)
            .map_err(|e| Failure::usage(format!("reading stdin: {e}")))?;
    } else {
        data = std::fs::read(path)
            .map_err(|e| Failure::usage(format!("reading {}: {e}", path.display())))?;
    }
    Ok(data)
}

/// Whether `path` names stdin to be read as it arrives: `-`, unless stdin is a regular file
/// (`< file`), which is read whole as a file is.
pub fn is_live(path: &Path) -> bool {
    path.as_os_str() == "-" && !stdin_is_a_file()
}

/// Whether stdin is a regular file.
#[cfg(unix)]
fn stdin_is_a_file() -> bool {
    use std::os::fd::AsFd;
    std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .ok()
        .map(std::fs::File::from)
        .and_then(|file| file.metadata().ok())
        .is_some_and(|meta| meta.is_file())
}

/// Whether stdin is a regular file.
#[cfg(windows)]
fn stdin_is_a_file() -> bool {
    use std::os::windows::io::AsHandle;
    std::io::stdin()
        .as_handle()
        .try_clone_to_owned()
        .ok()
        .map(std::fs::File::from)
        .and_then(|file| file.metadata().ok())
        .is_some_and(|meta| meta.is_file())
}

/// Whether stdin is a regular file.
#[cfg(not(any(unix, windows)))]
fn stdin_is_a_file() -> bool {
    false
}

/// One byte stream to split or sniff, and where it came from.
pub struct Stream {
    pub label: String,
    pub data: Vec<u8>,
    /// Stretches missing from a capture: (offset in `data`, bytes missing).
    pub gaps: Vec<(usize, u64)>,
    /// For a direction of a captured conversation: which, and when its bytes were captured.
    pub captured: Option<CapturedFlow>,
}

/// One direction of a captured TCP conversation.
pub struct CapturedFlow {
    pub way: Way,
    /// The capture's packets that completed the stream up to each point.
    pub flow: msgframe_capture::Flow,
}

/// One direction of a captured TCP conversation, as the output names it.
#[derive(Debug, Clone)]
pub struct Way {
    /// `to-server` or `to-client`.
    pub direction: &'static str,
    /// `sender -> receiver`.
    pub arrow: String,
    /// `capture #index sender -> receiver`.
    pub label: String,
    /// Whether it is what the client sent.
    pub to_server: bool,
}

/// The directions `direction` asks for of conversation `index` of capture `name`, between
/// `client` and `server`: what the client sent first.
pub fn ways(
    name: &str,
    index: usize,
    client: SocketAddr,
    server: SocketAddr,
    direction: Direction,
) -> Vec<Way> {
    let way = |to_server: bool, from: SocketAddr, to: SocketAddr| {
        let arrow = format!("{from} -> {to}");
        Way {
            direction: if to_server { "to-server" } else { "to-client" },
            label: format!("{name} #{index} {arrow}"),
            arrow,
            to_server,
        }
    };
    let mut out = Vec::new();
    if direction != Direction::ToClient {
        out.push(way(true, client, server));
    }
    if direction != Direction::ToServer {
        out.push(way(false, server, client));
    }
    out
}

/// The streams of the directions `direction` asks for of conversation `index` of capture
/// `name`.
pub fn conversation_streams(
    name: &str,
    index: usize,
    c: msgframe_capture::Conversation,
    direction: Direction,
) -> Vec<Stream> {
    let (mut to_server, mut to_client) = (Some(c.to_server), Some(c.to_client));
    ways(name, index, c.client, c.server, direction)
        .into_iter()
        .filter_map(|way| {
            let mut flow = if way.to_server {
                to_server.take()?
            } else {
                to_client.take()?
            };
            Some(Stream {
                label: way.label.clone(),
                gaps: flow.gaps.iter().map(|g| (g.offset, g.missing)).collect(),
                // The bytes stay here; the flow keeps when they were captured.
                data: std::mem::take(&mut flow.data),
                captured: Some(CapturedFlow { way, flow }),
            })
        })
        .collect()
}

impl Stream {
    /// Where `data` starts in the stream: the bytes a live reading let go of once cut.
    pub fn released(&self) -> usize {
        self.captured.as_ref().map_or(0, |c| c.flow.released)
    }

    /// The stream's length, released bytes included.
    pub fn len(&self) -> usize {
        self.released() + self.data.len()
    }

    /// The packet that completed the stream's first `end` bytes, for a captured stream.
    pub fn packet_at(&self, end: usize) -> Option<msgframe_capture::Captured> {
        self.captured.as_ref()?.flow.captured_by(end)
    }
}

/// The usage error for `--port` or `--stream` given with raw bytes, `name`.
pub fn not_a_capture(name: &str) -> Failure {
    Failure::usage(format!(
        "{name} is not a pcap or pcapng capture: --port and --stream apply to captures"
    ))
}

/// The conversations `input` names, each as the streams of the directions asked for: every TCP
/// conversation of a capture with `--port P` on either side (in order of first packet), the one
/// `--stream N` names, or the first; a raw file is one stream.
pub fn conversations(input: &CaptureInput) -> Result<Vec<Vec<Stream>>> {
    let data = read_file(&input.file)?;
    let name = input.file.display().to_string();
    if detect_format(&data) == FileFormat::Raw {
        if input.port.is_some() || input.stream.is_some() {
            return Err(not_a_capture(&name));
        }
        return Ok(vec![vec![Stream {
            label: name,
            data,
            gaps: Vec::new(),
            captured: None,
        }]]);
    }
    let capture = capture(&name, &data)?;
    drop(data);
    let which = Select::new(input.stream, input.port);
    let (index, _) = capture
        .select(which)
        .map_err(|e| Failure::data(format!("{name}: {e}")))?;
    let count = capture.conversations.len();
    if which == Select::First && count > 1 {
        errln!(
            "{name}: {count} TCP conversations; reading the first (choose with --stream N or --port P; list them with split --list)"
        );
    }
    let every_on = match which {
        Select::Port(port) => Some(port),
        _ => None,
    };
    Ok(capture
        .conversations
        .into_iter()
        .enumerate()
        .filter(|(i, c)| every_on.map_or(*i == index, |port| c.has_port(port)))
        .map(|(i, c)| conversation_streams(&name, i, c, input.direction))
        .collect())
}

/// The TCP conversations of a capture in `data`; a capture cut short is read up to the cut, with a
/// warning on stderr.
pub fn capture(name: &str, data: &[u8]) -> Result<msgframe_capture::Capture> {
    read(name, msgframe_capture::parse_capture(data))
}

/// A capture `name` as read, or why it cannot be; a capture cut short is read up to the cut,
/// with a warning on stderr.
pub fn read(
    name: &str,
    capture: std::result::Result<msgframe_capture::Capture, msgframe_capture::CaptureError>,
) -> Result<msgframe_capture::Capture> {
    let capture = capture.map_err(|e| Failure::data(format!("{name}: {e}")))?;
    if let Some(cut) = &capture.truncated {
        errln!("msgframe: warning: {name}: {cut}; read up to that record");
    }
    Ok(capture)
}

/// The TLS configuration of a client, from its options; `None` without `--tls`.
pub fn client_tls(
    tls: bool,
    ca: Option<&Path>,
    identity: Option<(&Path, &Path)>,
    server_name: Option<&str>,
    insecure: bool,
) -> Result<Option<msgframe_conn::tls::TlsConnector>> {
    use msgframe_conn::tls::ClientTls;
    if !tls {
        return Ok(None);
    }
    let mut config = ClientTls::new();
    config = match ca {
        Some(ca) => config.ca_pem_file(ca)?,
        None if insecure => config,
        None => config.platform_roots()?,
    };
    if let Some((cert, key)) = identity {
        config = config.client_cert_pem_files(cert, key)?;
    }
    if let Some(name) = server_name {
        config = config.server_name(name);
    }
    if insecure {
        errln!("msgframe: WARNING: --insecure: the host's certificate is not checked");
        config = config.dangerous_accept_any_server_certificate();
    }
    Ok(Some(config.build()?))
}

/// The TLS configuration of a client, from `send`'s and `replay`'s options; `None` without
/// `--tls`.
pub fn client_tls_of(
    args: &crate::cli::ClientTlsArgs,
) -> Result<Option<msgframe_conn::tls::TlsConnector>> {
    client_tls(
        args.tls,
        args.ca.as_deref(),
        args.cert.as_deref().zip(args.key.as_deref()),
        args.server_name.as_deref(),
        args.insecure,
    )
}

/// The TLS configuration of a server, from its options; `None` without `--tls`.
pub fn server_tls(
    args: &crate::cli::ServerTlsArgs,
) -> Result<Option<msgframe_conn::tls::TlsAcceptor>> {
    use msgframe_conn::tls::ServerTls;
    if !args.tls {
        return Ok(None);
    }
    let (Some(cert), Some(key)) = (&args.cert, &args.key) else {
        return Err(Failure::usage("--tls needs --cert and --key"));
    };
    let mut config = ServerTls::new_pem_files(cert, key)?;
    if let Some(ca) = &args.ca {
        config = config.require_client_certificates_pem_file(ca)?;
    }
    Ok(Some(
        config.handshake_timeout(args.handshake_timeout).build()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_allows_separators_and_prefixes() {
        assert_eq!(hex("30 38:30-30_0x31").unwrap(), b"08001");
        assert!(hex("3").is_err());
        assert!(hex("zz").unwrap_err().message.contains("`z`"));
        assert_eq!(hex("").unwrap(), b"");
    }

    #[test]
    fn hex_errors_say_what_is_wrong() {
        assert_eq!(
            hex("30 3g").unwrap_err().message,
            "`g` at character 4 is not a hex digit (hex example: '30 38 30 30' or 30383030)"
        );
        assert_eq!(
            hex("30 3").unwrap_err().message,
            "3 hex digits: an odd number (each byte is two digits)"
        );
    }
}
