//! Connections end to end on loopback: a protected server, a long client with heartbeats and
//! request matching riding out a server restart, and a short client.
//!
//! Run with `cargo run --example connections --features conn`. It prints what happens, in order,
//! and finishes in about a second.
//!
//! The messages are ISO 8583-like: a 4-character MTI, a 6-digit STAN, then anything. The host
//! answers 0200 with 0210 and 0800 with 0810, keeping the STAN; requests are matched to replies by
//! STAN, so they may be answered in any order.

use std::time::Duration;

use bytes::Bytes;
use msgframe::conn::{
    Backoff, Connection, Event, Heartbeat, HeartbeatTiming, LongClient, Reply, Server,
    ServerHandle, ShortClient,
};

/// The host's handler: the reply MTI is the request's plus 10, the rest unchanged.
async fn host(_conn: Connection, request: Bytes) -> Reply {
    let mut reply = request.to_vec();
    if reply.len() >= 4 && (reply.starts_with(b"02") || reply.starts_with(b"08")) {
        reply[2] = b'1';
    }
    Reply::Send(reply.into())
}

/// The key requests and replies share: the STAN.
fn stan(message: &[u8]) -> Option<[u8; 6]> {
    message.get(4..10)?.try_into().ok()
}

async fn start_host(
    addr: &str,
) -> Result<(ServerHandle, tokio::task::JoinHandle<()>), Box<dyn std::error::Error>> {
    let server = Server::builder("bcd:2,max=4096".parse()?)
        .idle_timeout(Some(Duration::from_secs(120)))
        .message_timeout(Some(Duration::from_secs(10)))
        .max_per_client(4)
        .max_connections(100)
        .shutdown_grace(Duration::from_millis(200))
        .bind(addr)
        .await?;
    let handle = server.handle();
    let task = tokio::spawn(async move {
        server.serve(host).await.expect("serve");
    });
    Ok((handle, task))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (handle, task) = start_host("127.0.0.1:0").await?;
    let addr = handle.local_addr().to_string();
    println!("host listening on {addr} (bcd:2 length headers)");

    // A long client: 0800 echo heartbeats after 30 s of silence, replies matched by STAN.
    let echo = || Bytes::from_static(b"0800000001echo");
    let client = LongClient::builder([addr.clone()], "bcd:2".parse()?)
        .heartbeat(Heartbeat::message(
            HeartbeatTiming::default(),
            echo,
            |m: &[u8]| m.starts_with(b"0810"),
        ))
        .match_replies(stan)
        .backoff(Backoff::new(
            Duration::from_millis(20),
            Duration::from_millis(200),
        ))
        .on_connect(|session| {
            Box::pin(async move {
                let reply = session
                    .request(b"0800999999sign-on", Duration::from_secs(2))
                    .await?;
                println!("  sign-on answered: {}", String::from_utf8_lossy(&reply));
                Ok(())
            })
        })
        .start()?;
    let mut events = client.events();
    client.wait_connected(Duration::from_secs(2)).await?;

    // Twenty authorisations at once on one connection.
    let sender = client.sender();
    let calls: Vec<_> = (1..=20u32)
        .map(|n| {
            let sender = sender.clone();
            tokio::spawn(async move {
                let request = format!("0200{n:06}amount={}", n * 100);
                sender.request(request, Duration::from_secs(2)).await
            })
        })
        .collect();
    let mut answered = 0;
    for call in calls {
        let reply = call.await??;
        assert!(reply.starts_with(b"0210"));
        answered += 1;
    }
    println!("20 concurrent requests, {answered} replies matched by STAN");

    // The host restarts on the same port; the client reconnects by itself.
    handle.shutdown();
    task.await?;
    let (handle, task) = start_host(&addr).await?;
    loop {
        let event = tokio::time::timeout(Duration::from_secs(5), events.recv()).await??;
        println!("  event: {event:?}");
        if matches!(event, Event::Connected { .. }) && handle.stats().accepted > 0 {
            break;
        }
    }
    let reply = client
        .request("0200000021after-restart", Duration::from_secs(2))
        .await?;
    println!("after the restart: {}", String::from_utf8_lossy(&reply));
    client.close().await;

    // A short connection: connect, one exchange, close.
    let reply = ShortClient::new("bcd:2".parse()?)
        .timeout(Duration::from_secs(2))
        .request(&addr, b"0200000022one-shot")
        .await?;
    println!("short connection: {}", String::from_utf8_lossy(&reply));

    tokio::time::sleep(Duration::from_millis(50)).await;
    println!("host counters: {:?}", handle.stats());
    handle.shutdown();
    task.await?;
    Ok(())
}
