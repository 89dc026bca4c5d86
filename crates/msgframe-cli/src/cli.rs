//! The command line: every command, option and help text.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

/// Parses durations such as `500ms`, `5s`, `2m`, `1h 30m`.
fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration ({e}); examples: 500ms, 5s, 2m"))
}

/// An address to connect to: HOST:PORT (`[::1]:9000` for an IPv6 address).
fn host_port(s: &str) -> Result<String, String> {
    address(s, false)
}

/// An address to listen on: HOST:PORT, or `:PORT` for every interface.
fn listen_address(s: &str) -> Result<String, String> {
    address(s, true)
}

/// Checks that `s` has the shape of HOST:PORT (the host may be empty when `listening`), so that
/// a missing port is a usage error that says how to write one rather than an error of the
/// system's resolver.
fn address(s: &str, listening: bool) -> Result<String, String> {
    let example = |host: &str| {
        if listening {
            format!("{host}:9000 (or :9000 for every interface)")
        } else {
            format!("{host}:9000")
        }
    };
    let no_port =
        |host: &str| format!("'{s}' has no port: write HOST:PORT, e.g. {}", example(host));
    if s.is_empty() {
        return Err(format!(
            "an empty address: write HOST:PORT, e.g. {}",
            example("localhost")
        ));
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "'{s}' has no host: write HOST:PORT, e.g. {}",
            if listening {
                format!(":{s} (every interface) or 127.0.0.1:{s}")
            } else {
                format!("localhost:{s}")
            }
        ));
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return Err(format!(
                "'{s}' has no closing `]`: write [IPv6]:PORT, e.g. [::1]:9000"
            ));
        };
        match after.strip_prefix(':') {
            Some(port) => (inside, port),
            None if after.is_empty() => return Err(no_port(s)),
            None => return Err(format!("'{s}': write [IPv6]:PORT, e.g. [{inside}]:9000")),
        }
    } else if s.parse::<std::net::Ipv6Addr>().is_ok() {
        return Err(format!(
            "'{s}' has no port: write [IPv6]:PORT, e.g. [{s}]:9000"
        ));
    } else {
        match s.rsplit_once(':') {
            Some(split) => split,
            None => return Err(no_port(s)),
        }
    };
    if port.is_empty() {
        return Err(no_port(host));
    }
    if port.parse::<u16>().is_err() {
        return Err(format!("'{s}': `{port}` is not a port (0 to 65535)"));
    }
    if host.is_empty() && !listening {
        return Err(format!(
            "'{s}' has no host: write HOST:PORT, e.g. localhost{s}"
        ));
    }
    Ok(s.to_owned())
}

/// netcat that understands framing: talk to, imitate, bridge and inspect peers that frame their
/// messages (ISO 8583 hosts behind ASCII, BCD or binary length headers, CMPP/SMPP gateways,
/// ETX-terminated and line protocols, short connections).
///
/// A framing is given as a spec: `ascii:4`, `bcd:2`, `be:2`, `be:4,counts-header`,
/// `be:2,before=0300,counts-header` (TPKT), `delim:03`, `lines`, `netstring`, `fixed:N`, `eof`...
/// (the README's "Framing specs" lists them all).
#[derive(Debug, Parser)]
#[command(name = "msgframe", version, about, long_about, after_long_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Documented in `--help`.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the peer or the network failed (refused, reset, timed out, closed early, sent an invalid
     frame); replay: a reply differs, is missing or unexpected
  2  usage: a bad option, framing spec, hex string or file
  3  the data is invalid: a stream stops being valid frames, a capture is damaged or holds no
     such stream, no framing explains a stream";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send messages to a host and show its replies.
    #[command(after_long_help = "\
Examples:
  msgframe send --to 10.1.2.3:9000 --framing ascii:4 --hex '30 38 30 30 ...'
  msgframe send --to host:9000 --framing bcd:2 --file echo-0800.bin --repeat 10
  echo -n 0800 | msgframe send --to host:9000 --framing be:2 --out raw > reply.bin
  msgframe send --to host:9000 --framing eof --short --file request.xml
  msgframe send --to host:9000 -f be:2 -w 2s -q --hex 30383030 --repeat 1000
  msgframe send --to host:9000 -f lines -i          # type a line, see its reply
  msgframe send --to host:9000 -f ascii:4 --lines hex --file requests.hex")]
    Send(SendArgs),

    /// Run a mock host: answer every message (echo, a fixed reply, or a command's output).
    ///
    /// Logs every connection opened, closed (with why: the peer closed it, a malformed frame and
    /// its bytes, idle or too slow, a write timeout) or refused, and every message, each line
    /// starting with the time (RFC 3339, UTC; JSON `ts`). Ctrl-C or SIGTERM stops it gracefully,
    /// and it prints its counters: accepted, refused by reason, frames and bytes each way, closes
    /// by cause.
    #[command(after_long_help = "\
Examples:
  msgframe serve --listen 127.0.0.1:9000 --framing ascii:4 --echo
  msgframe serve --listen 0.0.0.0:9000 --framing bcd:2 --reply-hex '0810...'
  msgframe serve --listen :9000 --framing be:2 --exec './host-logic.sh'
  msgframe serve -l :9000 -f lines --echo -q
  msgframe serve -l :9000 -f be:2 --exec ./host.sh --exec-timeout 2s --allow 10.0.0.0/8
  msgframe serve -l :9000 -f ascii:4 --echo --deny 192.0.2.7 --message-timeout 5s
  # events as JSON lines, the library's own log (-v) in a file:
  msgframe serve -l :9000 -f ascii:4 --echo --json -v 2> library.log")]
    Serve(ServeArgs),

    /// Stand between a client and a host, show every message both ways, and optionally re-frame
    /// between two framings.
    ///
    /// Logs each connection's client side and host side connecting and closing (with why), every
    /// message with the time since the client message it answers (replies taken in order), and
    /// refusals; each line starts with the time (RFC 3339, UTC; JSON `ts`).
    #[command(after_long_help = "\
Examples:
  msgframe proxy --listen 127.0.0.1:9001 --to host:9000 --framing ascii:4
  # a terminal speaking ascii:4 in front of a host speaking be:2:
  msgframe proxy --listen :9001 --to host:9000 --framing ascii:4 --upstream-framing be:2
  msgframe proxy -l :9001 --to host:9000 -f bcd:2 -w 2s -q
  # why connections end, as JSON:
  msgframe proxy -l :9001 --to host:9000 -f be:2 --json | grep '\"event\":\"closed\"'
  # what crosses, for Wireshark (or msgframe split) and as text; Ctrl-C ends it:
  msgframe proxy --listen :9001 --to host:9000 --framing be:2 --pcap relay.pcap --hex-dump relay.txt
  # two conversations per connection, the client's and the host's:
  msgframe split --list relay.pcap
  msgframe split --framing be:2 relay.pcap --stream 0")]
    Proxy(ProxyArgs),

    /// Cut a captured byte stream (a raw file, or a TCP stream of a pcap/pcapng capture) into
    /// frames and print them; or list a capture's TCP conversations.
    ///
    /// Frames from a capture carry the time and number of the packet that completed them; both
    /// directions of a conversation are shown interleaved in the order they were captured. From
    /// stdin (`-`), each frame is shown as soon as it is whole: a capture is read as it is
    /// written (`tcpdump -U -w -`).
    #[command(after_long_help = "\
Examples:
  msgframe split --framing bcd:2 stream.bin
  msgframe split --list failed-test.pcapng
  msgframe split --framing ascii:4 failed-test.pcapng --port 9000
  msgframe split --framing ascii:4 failed-test.pcapng --stream 2 --direction to-server
  cat stream.bin | msgframe split --framing be:2 - --json
  msgframe split -f ascii:4 -q capture.pcap | head
  # a live capture, each frame shown as soon as it is whole:
  tcpdump -i any -U -w - 'tcp port 5000' | msgframe split --framing ascii:4 -")]
    Split(SplitArgs),

    /// Guess the framing of a captured byte stream (raw file, or pcap/pcapng), with a confidence.
    ///
    /// Exit status 4 when no framing is confident (random bytes, too few frames). From stdin
    /// (`-`), the stream is judged as it arrives, and the verdict given as soon as a framing is
    /// confident with `--frames` frames.
    #[command(after_long_help = "\
Examples:
  msgframe sniff stream.bin
  msgframe sniff failed-test.pcap --stream 0 --direction to-client --top 3
  # a live capture: the verdict as soon as 20 frames make it confident
  tcpdump -i any -U -w - 'tcp port 5000' | msgframe sniff -")]
    Sniff(SniffArgs),

    /// Load a host (or an in-process echo host on loopback): requests/s, MB/s, errors and
    /// timeouts, latency percentiles.
    ///
    /// Closed loop by default (each connection sends its next request when the last is
    /// answered); `--rate` runs an open loop, requests on a fixed schedule with latency measured
    /// from the scheduled time. Ends with a summary (`--json`: one JSON object); exit status 1
    /// when any request failed or timed out.
    #[command(after_long_help = "\
Examples:
  msgframe bench --framing be:2 --size 100 --count 100000 --connections 4
  msgframe bench --framing ascii:4 --short --count 2000
  msgframe bench --to 10.1.2.3:9000 --framing ascii:4 --payload-hex '30 38 30 30 ...' --count 5000
  # open loop, 500 requests a second for a minute; replies matched by their STAN (6 digits at
  # offset 28 of this 0800), up to 256 in flight on each connection:
  msgframe bench --to host:9000 --framing bcd:2 --payload-file 0800.bin --key 28:6 \\
      --rate 500/s --duration 1m --connections 2 --timeout 2s
  # closed loop, 16 requests in flight on one connection, a 4-byte big-endian sequence id at 8:
  msgframe bench --to host:7890 --framing be:4,counts-header --payload-file submit.bin \\
      --key 8:4:be --connections 1 --in-flight 16 --duration 30s")]
    Bench(BenchArgs),

    /// Play a capture's requests against a host and compare its replies with the captured
    /// ones: does the new host answer yesterday's traffic the way the old one did?
    ///
    /// Each captured conversation's client messages go to --to (and nowhere else) in captured
    /// order, over one connection per conversation (a short connection per exchange when the
    /// capture shows one exchange per connection; --short for one per request), each request
    /// after the replies the capture had before it. Replies pair with the captured ones in
    /// order, or by --key-at / --key-fields when several were in flight; each pair is compared
    /// byte for byte, except under --ignore and --ignore-field masks. Prints the pairs that are
    /// not equal (with the first differing bytes and their offset), and a summary: pairs equal,
    /// different, missing (no reply in time), unexpected (a reply the capture does not have);
    /// latency percentiles, captured and new. Exit status 0 only when every pair is equal.
    #[command(after_long_help = "\
Examples:
  msgframe replay yesterday.pcapng --to new-host:9000 --framing ascii:4 --dry-run
  msgframe replay yesterday.pcapng --to new-host:9000 --framing ascii:4 --port 9000
  # ISO 8583: time, STAN, RRN and response code may differ; replies matched by STAN + terminal:
  msgframe replay switch.pcap --to 10.1.2.3:9000 -f bcd:2 --ignore-field 7,11,37 \\
      --key-fields 11,41
  # a POS host: 2-byte binary length, 5-byte TPDU, packed-BCD fields (told from the MTI):
  msgframe replay pos.pcap --to 10.1.2.4:5000 -f be:2 --iso8583-header 5 --ignore-field 12,13,37
  # a simplex pair: requests captured on port 9000, replies on 9001; the new host's links likewise:
  msgframe replay pair.pcap --to 10.1.2.3:9000 --simplex-in 10.1.2.3:9001 -f be:2 --port 9000 \
      --reply-port 9001 --key-fields 11,41
  # at the captured pace, over TLS, every pair as JSON:
  msgframe replay day.pcap --to host:9443 -f be:2 --timing captured --tls --ca ca.pem --json
  # a fixed byte range (a 14-digit timestamp at offset 20) may differ:
  msgframe replay cmpp.pcap --to gw:7890 -f be:4,counts-header --key-at 8:4 --ignore 20:14")]
    Replay(ReplayArgs),

    /// A mock host and a client in one process, exchanging messages in several framings, showing
    /// the bytes that cross the wire.
    Demo,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// The host, as HOST:PORT.
    #[arg(long, value_name = "HOST:PORT", value_parser = host_port)]
    pub to: String,
    /// The framing of requests (and replies, unless --reply-framing).
    #[arg(short, long, value_name = "SPEC")]
    pub framing: String,
    /// A different framing for replies (`eof`: the reply ends when the host closes).
    #[arg(long, value_name = "SPEC")]
    pub reply_framing: Option<String>,
    /// The message as hex (spaces, colons and a 0x prefix allowed).
    #[arg(long, value_name = "HEX", conflicts_with = "file")]
    pub hex: Option<String>,
    /// Read the message from this file (raw bytes); without --hex or --file, from stdin.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// One message per line of stdin (or --file), each sent as it is read and its reply shown:
    /// the line's text (`--lines`), or hex (`--lines hex`; lines starting with # skipped). Empty
    /// lines are skipped. On a terminal, interactive (see -i).
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        num_args = 0..=1,
        default_missing_value = "text",
        conflicts_with_all = ["hex", "repeat"]
    )]
    pub lines: Option<LineFormat>,
    /// Interactive: each line typed is sent and its reply shown, until Ctrl-D; a line that cannot
    /// be sent is reported and the next one read. Lines of text unless --lines hex; what --lines
    /// does when stdin is a terminal.
    #[arg(short, long, conflicts_with_all = ["hex", "file", "repeat"])]
    pub interactive: bool,
    /// The longest wait for each reply (and for connecting).
    #[arg(short = 'w', long, value_parser = duration, default_value = "5s", value_name = "DURATION")]
    pub timeout: Duration,
    /// Send the message this many times.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub repeat: u64,
    /// After the replies, keep the connection open and show every message the host sends,
    /// until it closes or Ctrl-C.
    #[arg(long, conflicts_with = "short")]
    pub keep_open: bool,
    /// A new connection for every message (short connections), closed after its reply.
    #[arg(long)]
    pub short: bool,
    /// Two links (simplex): messages go out on the connection to --to, replies come back on a
    /// second connection dialled to this address.
    #[arg(long, value_name = "HOST:PORT", value_parser = host_port, conflicts_with = "short")]
    pub simplex_in: Option<String>,
    #[command(flatten)]
    pub short_args: ShortArgs,
    /// Send only: expect no reply.
    #[arg(long, conflicts_with = "keep_open")]
    pub no_reply: bool,
    /// How replies are written: an annotated hex dump, or the raw bodies (for piping).
    #[arg(long, value_enum, default_value_t = OutputMode::Dump)]
    pub out: OutputMode,
    /// One line per reply (its length and latency, request to reply), without the hex dump.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub tls: ClientTlsArgs,
    #[command(flatten)]
    pub common: Common,
}

/// TLS for a connection this program opens.
#[derive(Debug, Args)]
pub struct ClientTlsArgs {
    /// Speak TLS to the host (trusting --ca, or the system's roots without it).
    #[arg(long)]
    pub tls: bool,
    /// Trust the CA certificates of this PEM file.
    #[arg(long, value_name = "PEM", requires = "tls")]
    pub ca: Option<PathBuf>,
    /// Present this certificate (PEM) to the host: mutual TLS; needs --key.
    #[arg(long, value_name = "PEM", requires_all = ["tls", "key"])]
    pub cert: Option<PathBuf>,
    /// The private key (PEM) of --cert.
    #[arg(long, value_name = "PEM", requires = "cert")]
    pub key: Option<PathBuf>,
    /// The name expected in the host's certificate (default: the host part of --to).
    #[arg(long, value_name = "NAME", requires = "tls")]
    pub server_name: Option<String>,
    /// INSECURE: accept any host certificate without checking it. For test hosts only.
    #[arg(long, requires = "tls")]
    pub insecure: bool,
}

/// TLS for connections this program accepts.
#[derive(Debug, Args)]
pub struct ServerTlsArgs {
    /// Accept TLS connections, with --cert and --key.
    #[arg(long, requires_all = ["cert", "key"])]
    pub tls: bool,
    /// This server's certificate chain (PEM).
    #[arg(long, value_name = "PEM", requires = "tls")]
    pub cert: Option<PathBuf>,
    /// The private key (PEM) of --cert.
    #[arg(long, value_name = "PEM", requires = "tls")]
    pub key: Option<PathBuf>,
    /// Require client certificates signed by the CAs of this PEM file (mutual TLS).
    #[arg(long, value_name = "PEM", requires = "tls")]
    pub ca: Option<PathBuf>,
    /// How long a client may take to finish the TLS handshake.
    #[arg(long, value_parser = duration, default_value = "10s", value_name = "DURATION")]
    pub handshake_timeout: Duration,
}

/// How `send --lines` reads a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LineFormat {
    /// The line is the message (without its line ending).
    Text,
    /// The line is the message in hex (spaces, colons and 0x prefixes allowed).
    Hex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputMode {
    /// Offset, hex and ASCII, with the latency (request to reply).
    Dump,
    /// The reply bodies, nothing else.
    Raw,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on (`:9000` means all interfaces, port 9000; port 0 picks one).
    #[arg(short, long, value_name = "ADDR", value_parser = listen_address)]
    pub listen: String,
    /// The framing of messages both ways.
    #[arg(short, long, value_name = "SPEC")]
    pub framing: String,
    #[command(flatten)]
    pub reply: ReplyArgs,
    /// Kill an --exec command still running after this long, and close its connection
    /// (default 30s).
    #[arg(long, value_parser = duration, value_name = "DURATION")]
    pub exec_timeout: Option<Duration>,
    /// Two links (simplex): each client's requests arrive on --listen and its return link, dialled
    /// from the same address to this one, carries the replies.
    #[arg(long, value_name = "ADDR", value_parser = listen_address)]
    pub simplex_return: Option<String>,
    /// Answer zero-length keep-alives with zero-length keep-alives, as BASE24-TCP hosts do (on
    /// `be:2,trailer=03,counts-trailer` the bare `00 00`), without the reply rule.
    #[arg(long)]
    pub answer_keepalives: bool,
    #[command(flatten)]
    pub limits: ServerLimitArgs,
    /// Close a connection whose reply is not written within this long (a client that does not
    /// read).
    #[arg(long, value_parser = duration, default_value = "30s", value_name = "DURATION")]
    pub write_timeout: Duration,
    /// Do not dump each message, only log one line per message.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub tls: ServerTlsArgs,
    #[command(flatten)]
    pub common: Common,
}

/// What a listening side protects itself with (`serve` and `proxy`).
#[derive(Debug, Args)]
pub struct ServerLimitArgs {
    /// Close a connection with no complete message for this long.
    #[arg(long, value_parser = duration, default_value = "5m", value_name = "DURATION")]
    pub idle_timeout: Duration,
    /// Close a connection whose message is not whole this long after its first byte.
    #[arg(long, value_parser = duration, default_value = "30s", value_name = "DURATION")]
    pub message_timeout: Duration,
    /// The most connections at once from one client address.
    #[arg(long, value_name = "N")]
    pub max_per_client: Option<usize>,
    /// The most connections at once.
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Serve only clients in this network (repeatable): 10.0.0.0/8, 2001:db8::/32, or one
    /// address (10.1.2.3). Others are refused as they connect.
    #[arg(long, value_name = "NET")]
    pub allow: Vec<msgframe_conn::IpNet>,
    /// Never serve clients in this network (repeatable, as --allow; wins over --allow).
    #[arg(long, value_name = "NET")]
    pub deny: Vec<msgframe_conn::IpNet>,
    /// Serve the server's (and a proxy's upstream clients') metrics over HTTP on this address,
    /// in the Prometheus text format: `GET /metrics` (port 0 picks one; the address is printed).
    #[arg(long, value_name = "ADDR", value_parser = listen_address)]
    pub metrics: Option<String>,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ReplyArgs {
    /// Answer every message with itself.
    #[arg(long)]
    pub echo: bool,
    /// Answer every message with this message (hex).
    #[arg(long, value_name = "HEX")]
    pub reply_hex: Option<String>,
    /// Answer every message with the contents of this file.
    #[arg(long, value_name = "PATH")]
    pub reply_file: Option<PathBuf>,
    /// Run this shell command for every message: the body on its stdin, the reply from its stdout
    /// (nothing on stdout: no reply); the client's address in MSGFRAME_PEER_ADDR and
    /// MSGFRAME_PEER_PORT. A command that fails or overruns --exec-timeout closes the connection.
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,
}

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// The address clients connect to.
    #[arg(short, long, value_name = "ADDR", value_parser = listen_address)]
    pub listen: String,
    /// The host to forward to, as HOST:PORT.
    #[arg(long, value_name = "HOST:PORT", value_parser = host_port)]
    pub to: String,
    /// The framing clients speak.
    #[arg(short, long, value_name = "SPEC")]
    pub framing: String,
    /// The framing the host speaks, when it differs: messages are re-framed both ways.
    #[arg(long, value_name = "SPEC")]
    pub upstream_framing: Option<String>,
    /// The longest wait to connect to the host.
    #[arg(short = 'w', long, value_parser = duration, default_value = "5s", value_name = "DURATION")]
    pub connect_timeout: Duration,
    /// The longest a message may take to be written to either side.
    #[arg(long, value_parser = duration, default_value = "30s", value_name = "DURATION")]
    pub write_timeout: Duration,
    #[command(flatten)]
    pub limits: ServerLimitArgs,
    /// Do not dump each message, only log one line per message.
    #[arg(short, long)]
    pub quiet: bool,
    /// Write what crosses both sides of the proxy to this pcap file, as it happens: each
    /// connection as two TCP conversations, client to proxy (each message as framed for the
    /// client) and proxy to host (from the upstream connection's local address, each message as
    /// framed for the host), each with a handshake, a segment per message and FINs, with real
    /// times. Wireshark opens it and `msgframe split` reads it back (with TLS, the messages are
    /// in the clear).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Write a hex dump of every message that crosses to this file, as it happens: its time,
    /// connection and direction (framed for the client), and connections opening and closing.
    #[arg(long, value_name = "FILE")]
    pub hex_dump: Option<PathBuf>,
    /// TLS towards the clients: terminate it here (--tls --cert --key [--ca]).
    #[command(flatten)]
    pub tls: ServerTlsArgs,
    #[command(flatten)]
    pub upstream_tls: UpstreamTlsArgs,
    #[command(flatten)]
    pub common: Common,
}

/// TLS towards the host a proxy forwards to.
#[derive(Debug, Args)]
pub struct UpstreamTlsArgs {
    /// Speak TLS to the host (trusting --upstream-ca, or the system's roots without it).
    #[arg(long)]
    pub upstream_tls: bool,
    /// Trust the CA certificates of this PEM file for the host.
    #[arg(long, value_name = "PEM", requires = "upstream_tls")]
    pub upstream_ca: Option<PathBuf>,
    /// Present this certificate (PEM) to the host; needs --upstream-key.
    #[arg(long, value_name = "PEM", requires_all = ["upstream_tls", "upstream_key"])]
    pub upstream_cert: Option<PathBuf>,
    /// The private key (PEM) of --upstream-cert.
    #[arg(long, value_name = "PEM", requires = "upstream_cert")]
    pub upstream_key: Option<PathBuf>,
    /// The name expected in the host's certificate (default: the host part of --to).
    #[arg(long, value_name = "NAME", requires = "upstream_tls")]
    pub server_name: Option<String>,
    /// INSECURE: accept any host certificate without checking it. For test hosts only.
    #[arg(long, requires = "upstream_tls")]
    pub insecure: bool,
}

#[derive(Debug, Args)]
pub struct SplitArgs {
    /// The framing to cut the stream with.
    #[arg(short, long, value_name = "SPEC", required_unless_present = "list")]
    pub framing: Option<String>,
    #[command(flatten)]
    pub input: CaptureInput,
    /// Print one line per frame, without the hex dump.
    #[arg(short = 'q', long, visible_alias = "quiet")]
    pub brief: bool,
    /// List the capture's TCP conversations (endpoints, packets and bytes each way, first and
    /// last packet's time) instead of splitting one (then split one with --stream N).
    #[arg(long, conflicts_with_all = ["framing", "brief", "port", "stream", "direction"])]
    pub list: bool,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Args)]
pub struct SniffArgs {
    #[command(flatten)]
    pub input: CaptureInput,
    /// How many answers to show.
    #[arg(long, default_value_t = 5, value_name = "K")]
    pub top: usize,
    /// (stdin, `-`) Decide as soon as a framing is confident with this many frames: the stream
    /// is judged as it arrives, and the command ends with its verdict.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub frames: usize,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The capture (.pcap or .pcapng) whose conversations to replay; or a raw stream of the
    /// client's messages, with --replies.
    #[arg(value_name = "CAPTURE")]
    pub capture: PathBuf,
    /// With a raw stream for CAPTURE: the old host's replies, a raw stream too (requests then
    /// go one at a time, each after the reply before it).
    #[arg(long, value_name = "FILE")]
    pub replies: Option<PathBuf>,
    /// The host to replay against: the only address this command connects to.
    #[arg(long, value_name = "HOST:PORT", value_parser = host_port)]
    pub to: String,
    /// The framing of the client's messages (and of the replies, without --reply-framing).
    /// Without it, the framing is sniffed from the capture, and the sniff's confidence shown.
    #[arg(short, long, value_name = "SPEC")]
    pub framing: Option<String>,
    /// The framing of the host's replies, when it differs.
    #[arg(long, value_name = "SPEC")]
    pub reply_framing: Option<String>,
    /// Only the conversations with this port on either side (default: every conversation whose
    /// client sent something).
    #[arg(long, value_name = "PORT", conflicts_with = "stream")]
    pub port: Option<u16>,
    /// Only the Nth conversation (from 0, as `split --list` numbers them).
    #[arg(long, value_name = "N")]
    pub stream: Option<usize>,
    /// A simplex pair (two links, the client dialling both): the captured replies are those the
    /// host sent on the conversation on this port (the requests: --port or --stream); needs
    /// --simplex-in.
    #[arg(long, value_name = "PORT", requires = "simplex_in")]
    pub reply_port: Option<u16>,
    /// A simplex pair: the replies come back on a second link, dialled to this address (before
    /// the requests' link to --to), as `send --simplex-in` does.
    #[arg(long, value_name = "HOST:PORT", value_parser = host_port, requires = "reply_port")]
    pub simplex_in: Option<String>,
    /// A new connection for every request (default: one per captured conversation, which is one
    /// per exchange when the capture's connections were).
    #[arg(long)]
    pub short: bool,
    /// When requests go: `fast` (as soon as the replies captured before them are in) or
    /// `captured` (at their captured times, conversations side by side).
    #[arg(long, value_enum, default_value_t = Timing::Fast, conflicts_with = "rate")]
    pub timing: Timing,
    /// At most this many requests a second, all conversations together (e.g. 200/s).
    #[arg(long, value_parser = rate, value_name = "N/s")]
    pub rate: Option<Rate>,
    /// How many conversations are replayed at once, each on its own connection (default: one
    /// after another; `--timing captured` plays them side by side as captured).
    #[arg(long, value_name = "N", default_value = "1")]
    pub concurrency: std::num::NonZeroUsize,
    /// Pair replies by the bytes at OFFSET:LEN of each body (a sequence number, a STAN), for
    /// traffic with several requests in flight; default: in order.
    #[arg(long, value_parser = span, value_name = "OFFSET:LEN", conflicts_with = "key_fields")]
    pub key_at: Option<(usize, usize)>,
    /// Pair replies by these ISO 8583 fields' values (e.g. 11,41: STAN and terminal id), the
    /// bitmap walked.
    #[arg(long, value_name = "FIELDS", value_parser = iso_fields)]
    pub key_fields: Option<FieldList>,
    /// Bytes that may differ: LEN bytes at OFFSET of each reply body (repeatable).
    #[arg(long, value_name = "OFFSET:LEN", value_parser = span)]
    pub ignore: Vec<(usize, usize)>,
    /// ISO 8583 fields that may differ (e.g. 7,11,37,39), found by walking each reply's bitmap
    /// (ISO 8583:1987 fields; ASCII with a hex or binary bitmap, or packed BCD).
    #[arg(long, value_name = "FIELDS", value_parser = iso_fields)]
    pub ignore_field: Option<FieldList>,
    /// Bytes before the ISO 8583 MTI in each body (a TPDU, a host header), for --key-fields
    /// and --ignore-field.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub iso8583_header: usize,
    /// How the ISO 8583 MTI, lengths and numeric fields are encoded, for --key-fields and
    /// --ignore-field: told from each message's MTI (4 ASCII digits, or 2 bytes of packed BCD),
    /// or given.
    #[arg(long, value_enum, default_value_t = Iso8583Encoding::Auto, value_name = "ENCODING")]
    pub iso8583_encoding: Iso8583Encoding,
    /// The longest wait to connect, to write, and for each reply (a reply not in by then is
    /// missing).
    #[arg(short = 'w', long, value_parser = duration, default_value = "5s", value_name = "DURATION")]
    pub timeout: Duration,
    /// How long a connection stays open after its last expected reply, for replies the
    /// capture does not have (default: 100ms for a conversation of several requests, none for
    /// one of a single exchange, so that short connections replay back to back).
    #[arg(long, value_parser = duration, value_name = "DURATION")]
    pub settle: Option<Duration>,
    /// List what would be sent, and where, without connecting.
    #[arg(long)]
    pub dry_run: bool,
    /// Print every pair, equal ones too (JSON prints every pair anyway).
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub tls: ClientTlsArgs,
    #[command(flatten)]
    pub common: Common,
}

/// How ISO 8583 messages are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Iso8583Encoding {
    /// Told from each message's MTI.
    Auto,
    /// ASCII digits (MTI "0200", lengths "06"); a hex or binary bitmap.
    Ascii,
    /// Packed BCD (MTI 02 00, numeric fields two digits a byte, lengths in BCD); a binary bitmap.
    Bcd,
}

/// When a replay sends its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Timing {
    /// As fast as the host answers (each request after the replies captured before it).
    Fast,
    /// At the captured times.
    Captured,
}

/// Parses `OFFSET:LEN`.
fn span(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("`{s}` is not OFFSET:LEN; example: 20:14");
    let (offset, len) = s.split_once(':').ok_or_else(bad)?;
    match (offset.trim().parse(), len.trim().parse()) {
        (Ok(offset), Ok(len)) if len > 0 => Ok((offset, len)),
        _ => Err(bad()),
    }
}

/// ISO 8583 field numbers, as `7,11,37,39` gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldList(pub Vec<u8>);

fn iso_fields(s: &str) -> Result<FieldList, String> {
    crate::iso8583::field_list(s).map(FieldList)
}

/// Where a stream comes from: a raw file, stdin, or a TCP stream of a capture.
#[derive(Debug, Args)]
pub struct CaptureInput {
    /// A raw byte stream, or a .pcap/.pcapng capture (recognised by its content); `-` for stdin.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// (captures) Every TCP conversation with this port on either side (a host of short
    /// connections): `split` shows their frames in capture order, each labelled with its
    /// endpoints; `sniff` judges each direction of them joined end to end.
    #[arg(long, value_name = "PORT", conflicts_with = "stream")]
    pub port: Option<u16>,
    /// (captures) The Nth TCP conversation (from 0, in order of first packet).
    #[arg(long, value_name = "N")]
    pub stream: Option<usize>,
    /// (captures) Which direction(s) to read.
    #[arg(long, value_enum, default_value_t = Direction::Both)]
    pub direction: Direction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Direction {
    /// What the client (the side that connected) sent.
    ToServer,
    /// What the server sent.
    ToClient,
    /// Both: `split` interleaves their frames in the order they were captured, `sniff` judges
    /// each on its own.
    Both,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Load this host instead of the in-process echo host on loopback.
    #[arg(long, value_name = "HOST:PORT", value_parser = host_port)]
    pub to: Option<String>,
    /// The framing of messages both ways.
    #[arg(short, long, value_name = "SPEC", default_value = "be:2")]
    pub framing: String,
    /// A request body of this many `x` bytes (100 unless --payload, --payload-hex or
    /// --payload-file gives the body).
    #[arg(long, value_name = "BYTES", conflicts_with_all = ["payload", "payload_hex", "payload_file"])]
    pub size: Option<usize>,
    /// The request body, as text.
    #[arg(long, value_name = "TEXT", conflicts_with_all = ["payload_hex", "payload_file"])]
    pub payload: Option<String>,
    /// The request body, as hex.
    #[arg(long, value_name = "HEX", conflicts_with = "payload_file")]
    pub payload_hex: Option<String>,
    /// The request body, from this file (raw bytes).
    #[arg(long, value_name = "PATH")]
    pub payload_file: Option<PathBuf>,
    /// How many requests in all (100000 unless --duration; with both, whichever ends first).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Issue requests for this long (those in flight then get their --timeout to finish).
    #[arg(long, value_parser = duration, value_name = "DURATION")]
    pub duration: Option<Duration>,
    /// Open loop: issue requests on a fixed schedule at this rate (`200/s`, `1.5k/s`, `30/m`),
    /// whatever the host does, and measure each latency from its scheduled time, so waiting for
    /// a slow host counts. Without it, closed loop: each of --connections × --in-flight issues
    /// its next request as soon as the last is answered.
    #[arg(long, value_parser = rate, value_name = "N/s")]
    pub rate: Option<Rate>,
    /// How many client connections share the requests (short: how many at once).
    #[arg(long, default_value_t = 4, value_name = "K")]
    pub connections: usize,
    /// Requests waiting for replies on each connection at once: closed loop, how many are kept
    /// going; open loop, the most (more wait their turn, and that wait counts). Above 1 needs
    /// --key. Default 1; 256 in open loop with --key.
    #[arg(long, value_name = "N", conflicts_with = "short")]
    pub in_flight: Option<usize>,
    /// Match replies to requests by the LEN bytes at OFFSET of each message body (as ISO 8583's
    /// STAN), so that several may be in flight on a connection: every request gets a counter
    /// there, from 1, as decimal digits (`digits`, the default) or a big- or little-endian
    /// number (`be`, `le`). With --short, each reply's key is checked. Without --key, a long
    /// connection carries one request at a time and the next message is its reply.
    #[arg(long, value_parser = key_spec, value_name = "OFFSET:LEN[:FORMAT]")]
    pub key: Option<KeySpec>,
    /// The longest wait for each reply (and for connecting); a request without a reply by then
    /// counts as timed out.
    #[arg(long, value_parser = duration, default_value = "5s", value_name = "DURATION")]
    pub timeout: Duration,
    /// A new connection for every exchange.
    #[arg(long)]
    pub short: bool,
    #[command(flatten)]
    pub short_args: ShortArgs,
    #[command(flatten)]
    pub common: Common,
}

/// A request rate, per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate(pub f64);

/// Parses rates such as `200/s`, `200`, `1.5k/s`, `30/m`.
fn rate(s: &str) -> Result<Rate, String> {
    let bad = || format!("`{s}` is not a rate; examples: 200/s, 1.5k/s, 30/m");
    let (n, per) = match s.split_once('/') {
        Some((n, "s")) => (n, 1.0),
        Some((n, "m")) => (n, 60.0),
        Some(_) => return Err(bad()),
        None => (s, 1.0),
    };
    let (n, scale) = match n.strip_suffix(['k', 'K']) {
        Some(n) => (n, 1e3),
        None => (n, 1.0),
    };
    let n: f64 = n.trim().parse().map_err(|_| bad())?;
    let per_second = n * scale / per;
    if !(per_second.is_finite() && per_second > 0.0) {
        return Err(format!("`{s}`: the rate must be above zero"));
    }
    Ok(Rate(per_second))
}

/// Where the request key sits in a message, and how the bench writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    pub offset: usize,
    pub len: usize,
    pub format: KeyFormat,
}

/// How a request's counter is written into its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// ASCII decimal digits, zero-padded.
    Digits,
    /// A big-endian number.
    BigEndian,
    /// A little-endian number.
    LittleEndian,
}

/// Parses `OFFSET:LEN[:FORMAT]`.
fn key_spec(s: &str) -> Result<KeySpec, String> {
    let bad = || format!("`{s}` is not OFFSET:LEN[:digits|be|le]; examples: 4:6, 8:4:be");
    let mut parts = s.split(':');
    let offset = parts.next().and_then(|p| p.trim().parse().ok());
    let len = parts.next().and_then(|p| p.trim().parse().ok());
    let format = match parts.next() {
        None | Some("digits") => KeyFormat::Digits,
        Some("be") => KeyFormat::BigEndian,
        Some("le") => KeyFormat::LittleEndian,
        Some(_) => return Err(bad()),
    };
    match (offset, len, parts.next()) {
        (Some(offset), Some(len), None) if len > 0 => Ok(KeySpec {
            offset,
            len,
            format,
        }),
        _ => Err(bad()),
    }
}

/// How short connections are made and closed (`send --short`, `bench --short`).
#[derive(Debug, Args)]
pub struct ShortArgs {
    /// How a short connection is closed: graceful (a FIN; TIME_WAIT stays here), abortive (a
    /// reset once the reply is whole; no TIME_WAIT), host-first (wait for the host to close;
    /// TIME_WAIT stays on the host; bench's own host then closes after each reply).
    #[arg(
        long,
        value_name = "POLICY",
        default_value = "graceful",
        requires = "short"
    )]
    pub close: msgframe_conn::ClosePolicy,
    /// Connect short connections from these local addresses in turn (repeatable): each has its
    /// own range of ephemeral ports.
    #[arg(long = "local-address", value_name = "IP", requires = "short")]
    pub local_addresses: Vec<std::net::IpAddr>,
}

#[derive(Debug, Args)]
pub struct Common {
    /// One JSON object per line (per frame, event or result) instead of text, each event with
    /// its time (`ts`) where it happens live; an error that ends the command is an `error` event
    /// on stdout too (with `message` and `code`), besides its line on stderr.
    #[arg(long, global = true)]
    pub json: bool,
    /// The library's own log on stderr, with timestamps: -v its info events (a server listening
    /// and stopping, connections refused or ended by an error or a deadline, a client's connects
    /// and reconnects), -vv debug too (every connection accepted and closed), -vvv trace.
    /// RUST_LOG, when set, overrides it (e.g. RUST_LOG=msgframe_conn=debug).
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
}

impl Command {
    /// The options every command but `demo` shares.
    pub fn common(&self) -> Option<&Common> {
        match self {
            Command::Send(args) => Some(&args.common),
            Command::Serve(args) => Some(&args.common),
            Command::Proxy(args) => Some(&args.common),
            Command::Split(args) => Some(&args.common),
            Command::Sniff(args) => Some(&args.common),
            Command::Bench(args) => Some(&args.common),
            Command::Replay(args) => Some(&args.common),
            Command::Demo => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn an_address_needs_a_port() {
        for ok in [
            "localhost:9000",
            "10.1.2.3:0",
            "[::1]:9000",
            "host.example:65535",
        ] {
            assert_eq!(host_port(ok).as_deref(), Ok(ok));
        }
        assert_eq!(
            host_port("localhost").unwrap_err(),
            "'localhost' has no port: write HOST:PORT, e.g. localhost:9000"
        );
        assert_eq!(
            host_port("localhost:").unwrap_err(),
            "'localhost:' has no port: write HOST:PORT, e.g. localhost:9000"
        );
        assert_eq!(
            host_port("::1").unwrap_err(),
            "'::1' has no port: write [IPv6]:PORT, e.g. [::1]:9000"
        );
        assert!(host_port("[::1]").unwrap_err().contains("has no port"));
        assert!(host_port("9000").unwrap_err().contains("localhost:9000"));
        assert!(host_port(":9000").unwrap_err().contains("has no host"));
        assert!(host_port("host:http")
            .unwrap_err()
            .contains("`http` is not a port"));
        assert!(host_port("host:70000").unwrap_err().contains("not a port"));
    }

    #[test]
    fn a_listening_address_may_leave_out_the_host() {
        for ok in [":9000", "0.0.0.0:0", "[::]:9000", "localhost:9000"] {
            assert_eq!(listen_address(ok).as_deref(), Ok(ok));
        }
        assert!(listen_address("9000")
            .unwrap_err()
            .contains(":9000 (every interface)"));
        assert!(listen_address("localhost")
            .unwrap_err()
            .contains("has no port: write HOST:PORT, e.g. localhost:9000 (or :9000"));
    }
}
