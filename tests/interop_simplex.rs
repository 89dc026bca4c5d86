//! A two-link (simplex) pair against a host written with Python's standard library only
//! (tests/interop/python/simplex_host.py): requests out on one socket, replies back on the other in
//! another order, matched by key.

#[path = "interop/harness.rs"]
mod harness;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use harness::Peer;
use msgframe::conn::LongClient;

const S: Duration = Duration::from_secs(1);

fn key(m: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(m.get(..4)?.try_into().ok()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pair_against_a_python_simplex_host() {
    let python = harness::runs("python3", &["--version"]);
    if !harness::available("python3", python, "apt-get install python3") {
        return;
    }
    let mut command = Command::new("python3");
    command
        .arg("-u")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/python/simplex_host.py"));
    let mut peer = Peer::start_server("simplex_host.py", command);
    let out = peer.addr.expect("its outbound port");
    let back = peer
        .next_line_matching(harness::START_LIMIT, |l| l.starts_with("LISTEN back "))
        .expect("its inbound port");
    let back = format!(
        "127.0.0.1:{}",
        back.trim_start_matches("LISTEN back ").trim()
    );
    let client = LongClient::builder([out.to_string()], "be:2".parse().unwrap())
        .match_replies(key)
        .max_in_flight(500)
        .simplex_dial([back])
        .start()
        .unwrap();
    client.wait_connected(10 * S).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..500u32 {
        let sender = client.sender();
        tasks.spawn(async move {
            let mut body = n.to_be_bytes().to_vec();
            body.extend_from_slice(b" 0200");
            let reply = sender.request(body, 20 * S).await.unwrap();
            assert_eq!(key(&reply), Some(n));
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let mut client = client;
    let greeting = tokio::time::timeout(S, client.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&greeting[4..], b"hello");
    client.close().await;
    let ok = peer
        .next_line_matching(10 * S, |l| l.starts_with("OK "))
        .expect("the host's summary");
    assert_eq!(ok, "OK answered 500");
}
