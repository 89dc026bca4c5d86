//! What an idle connection costs the server, counted by the allocator: heap bytes held per
//! connection once connections have gone idle, against a bare tokio server (a task per
//! connection holding its socket and nothing else), which msgframe's server goes below by
//! setting quiet connections aside.

use std::alloc::System;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use msgframe_conn::{Connection, Reply, Server};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Connections per measurement: enough to make per-connection figures stable, few enough for
/// the file-descriptor limit (two per connection in one process).
const N: usize = 400;

/// Opens `N` connections to `addr`, exchanges one be:2 message on each, waits until the server
/// has gone idle, and returns the heap bytes held across it all per connection (both ends: the
/// client sockets are the same in every measurement).
async fn held_per_connection(addr: SocketAddr) -> (f64, Vec<TcpStream>) {
    let region = Region::new(GLOBAL);
    let mut clients = Vec::with_capacity(N);
    for _ in 0..N {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"\x00\x05hello").await.unwrap();
        let mut reply = [0u8; 7];
        stream.read_exact(&mut reply).await.unwrap();
        assert_eq!(&reply, b"\x00\x05hello");
        clients.push(stream);
    }
    // Long enough for idle connections to give their buffers back (1 s without events); on a
    // loaded machine some take longer, so the smallest of a few samples counts.
    let mut least = isize::MAX;
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(750)).await;
        let c = region.change();
        // A `realloc` is already counted in `bytes_allocated` or `bytes_deallocated` by its difference.
        let held = c.bytes_allocated as isize - c.bytes_deallocated as isize;
        least = least.min(held);
    }
    (least as f64 / N as f64, clients)
}

/// The floor: a task per connection that echoes with a stack buffer and keeps nothing else.
async fn bare_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn an_idle_connection_costs_less_than_a_bare_tokio_task() {
    let bare = bare_server().await;
    // Warm up the runtime's own structures (first connections allocate slabs).
    let (_, warm) = held_per_connection(bare).await;
    drop(warm);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (floor, bare_clients) = held_per_connection(bare).await;
    drop(bare_clients);

    // Quiet connections are set aside after 100 ms (the default), within the measurement's wait.
    let server = Server::builder("be:2".parse().unwrap())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let handle = server.handle();
    tokio::spawn(server.serve(|_c: Connection, m: Bytes| async move { Reply::Send(m) }));
    let (ours, clients) = held_per_connection(addr).await;
    assert_eq!(handle.stats().open, N as u64);
    assert_eq!(handle.stats().set_aside, N as u64);
    println!(
        "heap per idle connection: bare tokio {floor:.0} B, msgframe server {ours:.0} B \
         (both ends counted)"
    );
    // A connection set aside holds its handle, its place in the lot and the counts: about 370 B
    // with the client's socket, where a bare task holds about 800 B. A task kept per connection
    // would add a kilobyte or more, a read block not given back 8 KiB.
    assert!(
        ours < floor,
        "{ours:.0} bytes per idle connection, a bare tokio task {floor:.0}"
    );
    drop(clients);
}
