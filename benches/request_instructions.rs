//! Instructions per request through a `LongClient` and a `Server` (one current-thread runtime,
//! loopback echo, 100-byte be:2 messages), for callgrind: instruction counts repeat from run to
//! run where times on a shared machine do not.
//!
//! ```text
//! cargo bench --bench request_instructions --features conn --no-run
//! B=target/release/deps/request_instructions-*        # the binary just built
//! valgrind --tool=callgrind $B 2000    # and 4000: (Ir(4000) - Ir(2000)) / 2000 per request
//! valgrind --tool=callgrind $B 4000 m  # 64 matched in flight (and 8000 m)
//! ```
//!
//! Arguments: the number of requests (default 1000), and any second argument for matched
//! requests, 64 in flight. Run without valgrind by `cargo bench`, it just runs once.
use msgframe::conn::{Connection, LongClient, Reply, Server};
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let matched = args.get(1).is_some();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let server = Server::builder("be:2".parse().unwrap())
            .bind("127.0.0.1:0")
            .await
            .unwrap();
        let addr = server.local_addr();
        tokio::spawn(server.serve(|_c: Connection, m: bytes::Bytes| async move { Reply::Send(m) }));
        if matched {
            let client = LongClient::builder([addr.to_string()], "be:2".parse().unwrap())
                .match_replies(|m: &[u8]| Some(u32::from_be_bytes(m[..4].try_into().unwrap())))
                .start()
                .unwrap();
            client.wait_connected(Duration::from_secs(5)).await.unwrap();
            let mut set = tokio::task::JoinSet::new();
            for i in 0..n as u32 {
                let s = client.sender();
                let mut body = i.to_be_bytes().to_vec();
                body.resize(100, 7);
                set.spawn(async move { s.request(body, Duration::from_secs(30)).await.unwrap() });
                if set.len() >= 64 {
                    set.join_next().await.unwrap().unwrap();
                }
            }
            while let Some(r) = set.join_next().await {
                r.unwrap();
            }
            client.close().await;
        } else {
            let client = LongClient::builder([addr.to_string()], "be:2".parse().unwrap())
                .start()
                .unwrap();
            client.wait_connected(Duration::from_secs(5)).await.unwrap();
            let body = [7u8; 100];
            for _ in 0..n {
                client
                    .request(&body[..], Duration::from_secs(30))
                    .await
                    .unwrap();
            }
            client.close().await;
        }
    });
}
