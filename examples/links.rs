//! Two links (simplex), a link group and a pool against msgframe's own server, on loopback:
//! `cargo run --example links --features conn`.

use std::time::Duration;

use bytes::Bytes;
use msgframe::conn::policy::Spread;
use msgframe::conn::{Connection, GroupRule, LongClient, Reply, Server};

const TIMEOUT: Duration = Duration::from_secs(5);

/// Requests and replies carry a 4-byte key first.
fn key(m: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(m.get(..4)?.try_into().ok()?))
}

fn request(n: u32) -> Bytes {
    let mut b = n.to_be_bytes().to_vec();
    b.extend_from_slice(b" 0200 purchase");
    b.into()
}

async fn echo(_conn: Connection, m: Bytes) -> Reply {
    Reply::Send(m)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let framing: msgframe::Framing = "bcd:2".parse()?;

    // A host of simplex pairs: requests arrive on one connection, replies leave on another.
    let host = Server::builder(framing.clone()).simplex_return("127.0.0.1:0", TIMEOUT)?;
    let back = host.simplex_return_addr().ok_or("no return listener")?;
    let host = host.bind("127.0.0.1:0").await?;
    let out = host.local_addr();
    tokio::spawn(host.serve(echo));
    let pair = LongClient::builder([out.to_string()], framing.clone())
        .match_replies(key)
        .simplex_dial([back.to_string()])
        .start()?;
    pair.wait_connected(TIMEOUT).await?;
    for n in 0..3 {
        let reply = pair.request(request(n), TIMEOUT).await?;
        println!(
            "pair:  request {n} out on {out}, reply {:?} back on {back}",
            key(&reply)
        );
    }
    pair.close().await;

    // A duplex host for a group and a pool.
    let host = Server::builder(framing.clone()).bind("127.0.0.1:0").await?;
    let addr = host.local_addr().to_string();
    tokio::spawn(host.serve(echo));
    let group = LongClient::builder([addr.clone()], framing.clone())
        .match_replies(key)
        .start_group(3, GroupRule::AllOrNothing, Spread::RoundRobin)?;
    group.wait_connected(TIMEOUT).await?;
    for n in 10..16 {
        group.request(request(n), TIMEOUT).await?;
    }
    let per_link: Vec<u64> = group.links().iter().map(|l| l.requests).collect();
    println!("group: 6 requests over 3 links, all or nothing: {per_link:?}");
    group.close().await;

    let pool = LongClient::builder([addr], framing)
        .match_replies(key)
        .start_pool(4, Spread::FewestInFlight)?;
    pool.wait_connected(TIMEOUT).await?;
    let mut calls = tokio::task::JoinSet::new();
    let pool = std::sync::Arc::new(pool);
    for n in 100..200 {
        let pool = std::sync::Arc::clone(&pool);
        calls.spawn(async move { pool.request(request(n), TIMEOUT).await });
    }
    while let Some(done) = calls.join_next().await {
        done??;
    }
    let per_link: Vec<u64> = pool.links().iter().map(|l| l.requests).collect();
    println!("pool:  100 requests over 4 links, fewest in flight: {per_link:?}");
    pool.close().await;
    Ok(())
}
