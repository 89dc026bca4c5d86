//! A small mio echo server using the non-blocking reader and writer.
//!
//! ```text
//! cargo run -p msgframe-io --example mio_echo                 # serve, and check it with a client
//! cargo run -p msgframe-io --example mio_echo -- serve 127.0.0.1:7000 be:2
//! ```
//!
//! Each connection gets a `NonBlockingReader` and a `NonBlockingWriter` over the same socket. On a
//! readable event the server reads messages until `WouldBlock` and echoes each one; replies the
//! socket cannot take yet stay in the writer, and the connection then waits for writability too.
//!
//! Fairness: each read call stops after its read budget. When it returns `Yielded` (a peer
//! flooding keepalives, or sending a huge message), the connection goes on a ready list and is
//! served again on the next turn of the loop, after the other connections, without waiting for
//! an event (mio is edge-triggered: the event will not come again).

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use msgframe_codec::Framing;
use msgframe_io::{
    BlockingReader, BlockingWriter, Error, MessageRead, MessageWrite, NonBlockingReader,
    NonBlockingWriter,
};

const LISTENER: Token = Token(0);

/// One socket shared by a connection's reader and writer.
struct Shared(Rc<TcpStream>);

impl Read for Shared {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.0).read(buf)
    }
}

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        (&*self.0).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self.0).flush()
    }
}

struct Connection {
    stream: Rc<TcpStream>,
    reader: NonBlockingReader<Shared, Framing>,
    writer: NonBlockingWriter<Shared, Framing>,
}

/// What a connection needs after being served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Wait for the next readiness event.
    Wait,
    /// Serve it again soon without waiting for an event: its read budget ran out.
    Again,
    /// The connection is finished.
    Close,
}

impl Connection {
    /// Echoes every whole message available, up to the reader's budget.
    fn serve(&mut self) -> Result<Next, Error> {
        if self.writer.has_pending() {
            match self.writer.flush() {
                Ok(()) | Err(Error::WouldBlock) => {}
                Err(e) => return Err(e),
            }
        }
        // Offer nothing new while earlier replies are stuck: that is the back-pressure.
        while !self.writer.has_pending() {
            match self.reader.read_message() {
                Ok(message) => self.writer.write_message(&message)?,
                Err(Error::WouldBlock) => break,
                Err(Error::Yielded { .. }) => return Ok(Next::Again),
                Err(e) if e.is_closed() => return Ok(Next::Close),
                Err(e) => return Err(e),
            }
        }
        Ok(Next::Wait)
    }
}

/// Serves until `stop` says so.
fn serve(
    listener: TcpListener,
    framing: Framing,
    mut stop: impl FnMut() -> bool,
) -> io::Result<()> {
    let mut listener = listener;
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut connections: HashMap<Token, Connection> = HashMap::new();
    let mut next = 1;
    let mut events = Events::with_capacity(128);
    // Connections whose read budget ran out: served again next turn, without an event.
    let mut again: Vec<Token> = Vec::new();
    while !stop() {
        let timeout = if again.is_empty() {
            Duration::from_millis(50)
        } else {
            Duration::ZERO
        };
        poll.poll(&mut events, Some(timeout))?;
        let mut ready: Vec<Token> = std::mem::take(&mut again);
        for event in &events {
            if event.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            let token = Token(next);
                            next += 1;
                            poll.registry().register(
                                &mut stream,
                                token,
                                Interest::READABLE | Interest::WRITABLE,
                            )?;
                            let stream = Rc::new(stream);
                            connections.insert(
                                token,
                                Connection {
                                    reader: NonBlockingReader::new(
                                        Shared(stream.clone()),
                                        framing.clone(),
                                    ),
                                    writer: NonBlockingWriter::new(
                                        Shared(stream.clone()),
                                        framing.clone(),
                                    ),
                                    stream,
                                },
                            );
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
                continue;
            }
            if !ready.contains(&event.token()) {
                ready.push(event.token());
            }
        }
        for token in ready {
            let done = match connections.get_mut(&token).map(Connection::serve) {
                Some(Ok(Next::Wait)) | None => false,
                Some(Ok(Next::Again)) => {
                    again.push(token);
                    false
                }
                Some(Ok(Next::Close)) => true,
                Some(Err(e)) => {
                    eprintln!("connection {}: {e}", token.0);
                    true
                }
            };
            if done {
                if let Some(conn) = connections.remove(&token) {
                    drop(conn.reader);
                    drop(conn.writer);
                    if let Ok(mut stream) = Rc::try_unwrap(conn.stream) {
                        poll.registry().deregister(&mut stream)?;
                    }
                }
            }
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        let addr: SocketAddr = args.get(1).map_or("127.0.0.1:7000", |s| s).parse()?;
        let framing: Framing = args.get(2).map_or("be:2", |s| s).parse()?;
        println!("echoing {framing} messages on {addr}");
        return Ok(serve(TcpListener::bind(addr)?, framing, || false)?);
    }

    // Self-check: serve on a free loopback port while a blocking client talks to it, and another
    // client floods the server with empty keepalive frames (skipped by `empty=skip`) as fast as it
    // can: the read budget keeps the flood from starving the echo client.
    let framing: Framing = "be:2,empty=skip".parse()?;
    let listener = TcpListener::bind("127.0.0.1:0".parse()?)?;
    let addr = listener.local_addr()?;
    let flooding = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flood_on = flooding.clone();
    let flooder = std::thread::spawn(move || -> u64 {
        let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
            return 0;
        };
        let keepalives = [0u8; 64 * 1024];
        let mut sent = 0u64;
        let start = Instant::now();
        while flood_on.load(std::sync::atomic::Ordering::Relaxed)
            && start.elapsed() < Duration::from_secs(30)
        {
            // Ends when the server stops and closes the connection.
            if stream.write_all(&keepalives).is_err() {
                break;
            }
            sent += keepalives.len() as u64;
        }
        sent
    });
    let client_framing = framing.clone();
    let client = std::thread::spawn(move || -> Result<usize, Error> {
        let stream = std::net::TcpStream::connect(addr)?;
        let timeout = Duration::from_secs(10);
        let mut writer =
            BlockingWriter::new(stream.try_clone()?, client_framing.clone()).with_timeout(timeout);
        let mut reader = BlockingReader::new(stream, client_framing).with_timeout(timeout);
        let mut echoed = 0;
        for i in 0..1000u32 {
            let message = format!("message {i}").repeat(1 + (i as usize % 50));
            writer.write_message(message.as_bytes())?;
            let reply = reader.read_message()?;
            assert_eq!(reply, message.as_bytes());
            echoed += 1;
        }
        Ok(echoed)
    });
    let start = Instant::now();
    serve(listener, framing, || {
        client.is_finished() || start.elapsed() > Duration::from_secs(30)
    })?;
    let elapsed = start.elapsed();
    flooding.store(false, std::sync::atomic::Ordering::Relaxed);
    let echoed = client.join().expect("client thread")?;
    // The flooder stops at its next write (the server may already have closed it).
    let flood = flooder.join().expect("flooder thread");
    println!(
        "mio echo server on {addr}: {echoed} messages echoed in {elapsed:?}, beside a flood of {} MB of keepalives",
        flood / 1_000_000
    );
    Ok(())
}
