//! A pool of 4 long connections and a two-link (simplex) pair against one connection, same run:
//! 20,000 requests of 100 bytes, 64 in flight, matched by a 4-byte key, to echo servers on
//! loopback; rounds alternate and the median rate of each is reported.
//!
//! Run with `cargo bench --bench pool --features conn`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use msgframe::conn::policy::Spread;
use msgframe::conn::{Connection, LongClient, Reply, Server};

const REQUESTS: u32 = 20_000;
const WINDOW: usize = 64;
const ROUNDS: usize = 5;

fn key(m: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(m.get(..4)?.try_into().ok()?))
}

fn body(n: u32) -> Bytes {
    let mut b = n.to_be_bytes().to_vec();
    b.resize(100, b'x');
    Bytes::from(b)
}

/// Requests per second through `request`, `WINDOW` at a time.
async fn rate<F, Fut>(request: F) -> f64
where
    F: Fn(Bytes) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let request = Arc::new(request);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..REQUESTS {
        if tasks.len() >= WINDOW {
            tasks.join_next().await.expect("a task").expect("no panic");
        }
        let request = Arc::clone(&request);
        tasks.spawn(async move { request(body(n)).await });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("no panic");
    }
    f64::from(REQUESTS) / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    rt.block_on(async {
        let server = Server::builder("be:2".parse().unwrap())
            .bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = server.local_addr().to_string();
        tokio::spawn(server.serve(|_c: Connection, m: Bytes| async move { Reply::Send(m) }));
        let builder = LongClient::builder([addr], "be:2".parse().unwrap()).match_replies(key);
        let one = Arc::new(builder.clone().start().expect("a client"));
        one.wait_connected(Duration::from_secs(5))
            .await
            .expect("up");
        let pool = Arc::new(
            builder
                .start_pool(4, Spread::FewestInFlight)
                .expect("a pool"),
        );
        pool.wait_connected(Duration::from_secs(5))
            .await
            .expect("up");
        let pair_host = Server::builder("be:2".parse().unwrap())
            .simplex_return("127.0.0.1:0", Duration::from_secs(5))
            .expect("a return listener");
        let back = pair_host.simplex_return_addr().expect("its address");
        let pair_host = pair_host.bind("127.0.0.1:0").await.expect("bind");
        let out = pair_host.local_addr().to_string();
        tokio::spawn(pair_host.serve(|_c: Connection, m: Bytes| async move { Reply::Send(m) }));
        let pair = Arc::new(
            LongClient::builder([out], "be:2".parse().unwrap())
                .match_replies(key)
                .simplex_dial([back.to_string()])
                .start()
                .expect("a pair"),
        );
        pair.wait_connected(Duration::from_secs(5))
            .await
            .expect("up");
        let (mut single, mut pooled, mut paired) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let c = Arc::clone(&one);
            single.push(
                rate(move |b| {
                    let c = Arc::clone(&c);
                    async move {
                        c.request(b, Duration::from_secs(10))
                            .await
                            .expect("a reply");
                    }
                })
                .await,
            );
            let c = Arc::clone(&pair);
            paired.push(
                rate(move |b| {
                    let c = Arc::clone(&c);
                    async move {
                        c.request(b, Duration::from_secs(10))
                            .await
                            .expect("a reply");
                    }
                })
                .await,
            );
            let p = Arc::clone(&pool);
            pooled.push(
                rate(move |b| {
                    let p = Arc::clone(&p);
                    async move {
                        p.request(b, Duration::from_secs(10))
                            .await
                            .expect("a reply");
                    }
                })
                .await,
            );
        }
        let (s, p, t) = (median(single), median(pooled), median(paired));
        println!("one connection, 64 in flight: {s:>9.0} requests/s");
        println!(
            "pool of 4, fewest in flight:  {p:>9.0} requests/s  ({:.2}x)",
            p / s
        );
        println!(
            "two-link pair:                {t:>9.0} requests/s  ({:.2}x)",
            t / s
        );
        pair.close().await;
        one.close().await;
        pool.close().await;
    });
}
