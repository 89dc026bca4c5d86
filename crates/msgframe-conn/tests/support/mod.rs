//! Test peers on loopback: a scripted server whose connections a test handles itself.

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use msgframe_codec::Framing;
use msgframe_tokio::{MessageReader, MessageWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The framing every test uses unless it says otherwise.
pub fn be2() -> Framing {
    "be:2".parse().unwrap()
}

/// One accepted connection, as message reader and writer.
pub struct Conn {
    pub reader: MessageReader<OwnedReadHalf, Framing>,
    pub writer: MessageWriter<OwnedWriteHalf, Framing>,
    pub peer: SocketAddr,
}

impl Conn {
    pub async fn read(&mut self) -> Option<Bytes> {
        self.reader.read_message().await.ok()
    }

    pub async fn write(&mut self, body: &[u8]) {
        self.writer.write_message(body).await.expect("peer write");
    }
}

/// A server that hands every accepted connection to `handle` in a task of its own.
pub struct Peer {
    pub addr: SocketAddr,
    pub accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
    connections: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
}

impl Peer {
    pub async fn start<F, Fut>(handle: F) -> Peer
    where
        F: Fn(Conn) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Peer::start_on("127.0.0.1:0", handle).await
    }

    pub async fn start_on<F, Fut>(addr: &str, handle: F) -> Peer
    where
        F: Fn(Conn) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind(addr).await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        let handle = Arc::new(handle);
        let connections = Arc::new(std::sync::Mutex::new(Vec::new()));
        let tasks = Arc::clone(&connections);
        let task = tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let (r, w) = stream.into_split();
                let conn = Conn {
                    reader: MessageReader::new(r, be2()),
                    writer: MessageWriter::new(w, be2()),
                    peer,
                };
                let task = tokio::spawn(handle(conn));
                tasks.lock().unwrap().push(task);
            }
        });
        Peer {
            addr,
            accepted,
            task,
            connections,
        }
    }

    /// An echo server: every message comes back as it was.
    pub async fn echo() -> Peer {
        Peer::echo_on("127.0.0.1:0").await
    }

    /// An echo server on `addr`.
    pub async fn echo_on(addr: &str) -> Peer {
        Peer::start_on(addr, |mut conn| async move {
            while let Some(m) = conn.read().await {
                conn.write(&m).await;
            }
        })
        .await
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Stops accepting; connections already accepted run on.
    pub fn stop_accepting(&self) {
        self.task.abort();
    }

    /// Stops accepting and closes every connection.
    pub fn kill(&self) {
        self.task.abort();
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An address on which nothing listens (bound, then closed).
pub async fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr.to_string()
}

/// Waits for `cond` for up to `limit`, checking every 5 ms.
pub async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = tokio::time::Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cond()
}
