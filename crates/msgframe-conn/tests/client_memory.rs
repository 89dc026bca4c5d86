//! What an idle long client costs, counted by the allocator: heap bytes held per connected
//! `LongClient` after one exchange, its peer's end included. An idle client over plain TCP holds
//! no read block (it waits for its socket to be readable before it takes one from the pool) and
//! no broadcast slots for events nobody asked for.

use std::alloc::System;
use std::time::Duration;

use msgframe_conn::LongClient;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Clients per measurement.
const N: usize = 200;

/// Starts `N` clients to `host`, makes one request on each and returns them once idle.
async fn idle_clients(host: &str) -> Vec<LongClient> {
    let mut clients = Vec::with_capacity(N);
    for _ in 0..N {
        let client = LongClient::builder([host], "be:2".parse().unwrap())
            .start()
            .unwrap();
        let reply = client
            .request(&b"ping"[..], Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(reply, &b"ping"[..]);
        clients.push(client);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    clients
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn an_idle_long_client_holds_no_read_block_and_no_event_slots() {
    // An echo peer: a task per connection with a stack buffer.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                while let Ok(n @ 1..) = stream.read(&mut buf).await {
                    if stream.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    // Warm up the runtime's and the pool's structures first.
    let warm = idle_clients(&host).await;
    let region = Region::new(GLOBAL);
    let clients = idle_clients(&host).await;
    let change = region.change();
    let held = (change.bytes_allocated as isize - change.bytes_deallocated as isize) / N as isize;
    println!("heap per idle long client: {held} B (its peer's end included)");
    // About 12 KB measured: the client's task (about 4 KB), its queues (tokio's channels
    // allocate 32 slots up front), its configuration and both sockets. A read block kept while
    // idle would add 8 KiB, the event slots 2.5 KiB.
    assert!(held < 15 * 1024, "{held} bytes per idle long client");
    drop((clients, warm));
}
