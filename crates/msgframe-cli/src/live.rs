//! stdin read as it arrives (`tcpdump -U -w - … | msgframe split -f SPEC -`): raw bytes handed on
//! as they come, or a capture read a record at a time, one of its TCP conversations followed (or
//! with `--port P` every one on that port, each let go of once it has ended).

use std::collections::HashSet;
use std::io::Read;
use std::net::SocketAddr;

use msgframe_capture::{detect_format, CaptureReader, FileFormat, Reassembler, Select};

use crate::cli::{CaptureInput, Direction};
use crate::error::{Failure, Result};
use crate::input::{self, Stream, Way};
use crate::out::errln;

/// How much is read from stdin at a time, at most: a read returns what is there.
const READ_SIZE: usize = 64 * 1024;

/// stdin, read as it arrives.
pub struct Live {
    /// What the output calls it: `-`.
    name: String,
    stdin: std::io::StdinLock<'static>,
    buf: Vec<u8>,
    /// Bytes read while telling the format, not handed on yet (raw bytes).
    first: usize,
    /// The capture being read, until its end; `None` for raw bytes.
    reader: Option<CaptureReader>,
    which: Select,
    direction: Direction,
    /// The conversations followed, each once it has appeared and its sides are known: one, or
    /// with `--port P` every one on that port.
    followed: Vec<Followed>,
    /// The indexes of the conversations followed, and of those taken since (see
    /// [`Live::take`]).
    following: HashSet<usize>,
    /// With `--port P`: the conversations before this index are followed or not on the port.
    considered: usize,
    /// Whether stderr was told which conversation is followed.
    announced: bool,
}

/// A conversation followed.
struct Followed {
    index: usize,
    client: SocketAddr,
    server: SocketAddr,
    /// The directions asked for.
    ways: Vec<Way>,
}

/// A conversation followed, as it is now.
pub struct FollowedNow<'a> {
    /// Its index in the capture.
    pub index: usize,
    /// The directions asked for, each with the bytes it holds so far.
    pub ways: Vec<(&'a Way, &'a Reassembler)>,
    /// Whether it has ended (a FIN each way, or a reset) with no segment held past a hole: all
    /// its bytes are in.
    pub done: bool,
}

/// What reading stdin further gave.
pub enum Step<'a> {
    /// Raw bytes.
    Bytes(&'a [u8]),
    /// More of the capture was read: the conversation followed may have grown.
    Capture,
    /// The input ended.
    End,
}

impl Live {
    /// Starts reading stdin: its first four bytes say whether it is a capture.
    ///
    /// # Errors
    /// A usage error for `--port` or `--stream` with raw bytes, or when stdin cannot be read; a
    /// data error for a capture damaged from its start.
    pub fn open(input: &CaptureInput) -> Result<Live> {
        end_on_interrupt();
        let mut live = Live {
            name: input.file.display().to_string(),
            stdin: std::io::stdin().lock(),
            buf: vec![0; READ_SIZE],
            first: 0,
            reader: None,
            which: Select::new(input.stream, input.port),
            direction: input.direction,
            followed: Vec::new(),
            following: HashSet::new(),
            considered: 0,
            announced: false,
        };
        while live.first < 4 {
            let n = live.read(live.first)?;
            if n == 0 {
                break;
            }
            live.first += n;
        }
        let first = &live.buf[..live.first];
        if detect_format(first) == FileFormat::Raw {
            if input.port.is_some() || input.stream.is_some() {
                return Err(input::not_a_capture(&live.name));
            }
            return Ok(live);
        }
        let mut reader = CaptureReader::new();
        if let Some(port) = live.every_on_port() {
            // The conversations on other ports are never shown: their bytes need not be kept.
            reader.keep_port(port);
        }
        reader.push(first).map_err(|e| live.damaged(e))?;
        live.first = 0;
        live.reader = Some(reader);
        Ok(live)
    }

    /// What the output calls the input.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// With `--port P` (and no `--stream N`): P, every conversation on which is followed.
    pub fn every_on_port(&self) -> Option<u16> {
        match self.which {
            Select::Port(port) => Some(port),
            _ => None,
        }
    }

    /// Whether stdin holds a capture (else raw bytes).
    pub fn is_capture(&self) -> bool {
        self.reader.is_some()
    }

    /// Reads what stdin has next (waiting for it).
    ///
    /// # Errors
    /// When stdin cannot be read, or the capture is damaged.
    pub fn step(&mut self) -> Result<Step<'_>> {
        if self.first > 0 {
            let first = std::mem::take(&mut self.first);
            return Ok(Step::Bytes(&self.buf[..first]));
        }
        let n = self.read(0)?;
        if n == 0 {
            return Ok(Step::End);
        }
        let Some(reader) = &mut self.reader else {
            return Ok(Step::Bytes(&self.buf[..n]));
        };
        if let Err(e) = reader.push(&self.buf[..n]) {
            return Err(self.damaged(e));
        }
        self.follow();
        Ok(Step::Capture)
    }

    /// Packets read so far.
    pub fn packets(&self) -> u64 {
        self.reader.as_ref().map_or(0, CaptureReader::packets)
    }

    /// The conversations followed (each once it has appeared and its sides are known, until
    /// [taken](Self::take)) that have had a packet since packet `since` (see
    /// [`packets`](Self::packets)), in the order they were first followed.
    pub fn followed(&self, since: u64) -> Vec<FollowedNow<'_>> {
        let Some(reader) = self.reader.as_ref() else {
            return Vec::new();
        };
        self.followed
            .iter()
            .filter_map(|followed| {
                let c = reader
                    .conversation(followed.index)
                    .filter(|c| c.last.packet > since)?;
                let ways = followed
                    .ways
                    .iter()
                    .map(|way| {
                        let flow = if way.to_server {
                            c.to_server
                        } else {
                            c.to_client
                        };
                        (way, flow)
                    })
                    .collect();
                Some(FollowedNow {
                    index: followed.index,
                    ways,
                    done: c.ended && c.to_server.held() == 0 && c.to_client.held() == 0,
                })
            })
            .collect()
    }

    /// Conversation `index`, followed, as read so far (holes left are gaps), the directions
    /// asked for: it is no longer followed, and its bytes are let go of. For a conversation
    /// [done](FollowedNow::done).
    pub fn take(&mut self, index: usize) -> Vec<Stream> {
        let Some(c) = self.reader.as_mut().and_then(|r| r.take(index)) else {
            return Vec::new();
        };
        self.followed.retain(|f| f.index != index);
        input::conversation_streams(&self.name, index, c, self.direction)
    }

    /// Lets go of the bytes before `upto` of a direction (`to_server`: the client's) of
    /// conversation `index`, once they were cut into frames and shown.
    pub fn release(&mut self, index: usize, to_server: bool, upto: usize) {
        if let Some(reader) = &mut self.reader {
            reader.release(index, to_server, upto);
        }
    }

    /// Says on stderr, once, which conversation is followed (when it is known). Called after
    /// the command has written about it on stdout: a reader gone before that hears nothing.
    pub fn announce(&mut self) {
        let Some(f) = self.followed.first() else {
            return;
        };
        if std::mem::replace(&mut self.announced, true) {
            return;
        }
        if let Some(port) = self.every_on_port() {
            errln!(
                "{}: following every TCP conversation on port {port}, as the capture arrives",
                self.name
            );
            return;
        }
        errln!(
            "{}: following TCP conversation #{}, {} -> {}, as the capture arrives (choose another with --stream N or --port P)",
            self.name,
            f.index,
            f.client,
            f.server
        );
    }

    /// At the end of the input, the directions asked for of the conversation(s) followed, whole
    /// (a capture cut short is read up to the cut, with a warning on stderr), each with its
    /// index. Nothing for raw bytes.
    ///
    /// # Errors
    /// A data error when no conversation is the one asked for, or the capture ends inside its
    /// first header.
    pub fn finish(&mut self) -> Result<Vec<(usize, Vec<Stream>)>> {
        let Some(reader) = self.reader.take() else {
            return Ok(Vec::new());
        };
        let name = &self.name;
        let whole = input::read(name, reader.finish())?;
        let (index, _) = whole
            .select(self.which)
            .map_err(|e| Failure::data(format!("{name}: {e}")))?;
        let port = self.every_on_port();
        let mut out = Vec::new();
        for (i, c) in whole.conversations.into_iter().enumerate() {
            let chosen = port.map_or(i == index, |port| c.has_port(port));
            // Taken already: shown, and let go of.
            let taken = self.following.contains(&i) && !self.followed.iter().any(|f| f.index == i);
            if !chosen || taken {
                continue;
            }
            if self.following.insert(i) {
                self.followed.push(Followed {
                    index: i,
                    client: c.client,
                    server: c.server,
                    ways: input::ways(name, i, c.client, c.server, self.direction),
                });
            }
            out.push((i, input::conversation_streams(name, i, c, self.direction)));
        }
        Ok(out)
    }

    /// Reads into `buf` from `at`: how many bytes, 0 at the end.
    fn read(&mut self, at: usize) -> Result<usize> {
        loop {
            match self.stdin.read(&mut self.buf[at..]) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Failure::usage(format!("reading stdin: {e}"))),
            }
        }
    }

    fn damaged(&self, e: msgframe_capture::CaptureError) -> Failure {
        Failure::data(format!("{}: {e}", self.name))
    }

    /// Chooses the conversation(s) to follow, each once it has appeared and its sides are known
    /// (its first SYN or bytes either way: until then, a SYN may show the sides the other way
    /// round): one, or with `--port P` every one on that port as it comes.
    fn follow(&mut self) {
        let every_on = self.every_on_port();
        let Some(reader) = &mut self.reader else {
            return;
        };
        let known = |c: &msgframe_capture::ConversationSoFar<'_>| {
            !(c.to_server.is_empty() && c.to_client.is_empty())
        };
        let Some(port) = every_on else {
            if !self.followed.is_empty() {
                return;
            }
            let Some(index) = reader.select(self.which) else {
                return;
            };
            let Some(c) = reader.conversation(index).filter(known) else {
                return;
            };
            self.following.insert(index);
            self.followed.push(Followed {
                index,
                client: c.client,
                server: c.server,
                ways: input::ways(&self.name, index, c.client, c.server, self.direction),
            });
            // The others are never shown: their bytes need not be kept.
            reader.keep_only(index);
            return;
        };
        // Every conversation on the port: those whose sides became known since the last call.
        let mut settled = true;
        for (index, c) in reader.conversations().enumerate().skip(self.considered) {
            let decided = !c.has_port(port) || self.following.contains(&index);
            if !decided && known(&c) {
                self.following.insert(index);
                self.followed.push(Followed {
                    index,
                    client: c.client,
                    server: c.server,
                    ways: input::ways(&self.name, index, c.client, c.server, self.direction),
                });
            } else if !decided {
                settled = false;
            }
            if settled {
                self.considered = index + 1;
            }
        }
    }
}

/// Ctrl-C while stdin is read: the writer before the pipe (`tcpdump`, `cat`) is interrupted too,
/// and its end closes stdin, so the command goes on to its own end with what it has read (the
/// last frames, each direction's summary, a verdict) instead of dying without them. A second
/// Ctrl-C ends it at once (exit status 130), for a writer that does not stop.
fn end_on_interrupt() {
    if tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        // Registered now, not when the task first runs: an interrupt from here on is caught.
        if let Ok(mut interrupt) = signal(SignalKind::interrupt()) {
            tokio::spawn(async move {
                if interrupt.recv().await.is_some() {
                    interrupted();
                    if interrupt.recv().await.is_some() {
                        std::process::exit(130);
                    }
                }
            });
        }
    }
    #[cfg(not(unix))]
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            interrupted();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
}

/// Says that the command ends with what stdin has given.
fn interrupted() {
    errln!(
        "msgframe: interrupted: ending with what stdin has given once it closes (Ctrl-C again to stop at once)"
    );
}
