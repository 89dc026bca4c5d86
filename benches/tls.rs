//! TLS against plain TCP on loopback, in the same run: what encryption costs msgframe's clients
//! and server.
//!
//! Workloads, each a ratio TLS / plain of the rate (rounds interleaved; the median of the per-round
//! ratios is reported):
//!
//! - `round trips`: one long connection, one 100-byte request at a time (`LongClient::request`).
//! - `throughput`: one long connection, 64 requests of 1 KiB in flight (request matching).
//! - `short connections`: connect (and handshake), one 100-byte exchange, close (`ShortClient`).
//!
//! Client and server run in this process on the machine's cores; TLS 1.3 with the ring provider,
//! an ECDSA P-256 certificate made at start-up. Run with `cargo bench --bench tls --features tls`
//! (about a minute); the table is printed and written to `target/criterion/msgframe-tls.txt`.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use msgframe::conn::tls::{ClientTls, ServerTls, TlsAcceptor, TlsConnector};
use msgframe::conn::{Connection, LongClient, Reply, Server, ShortClient};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tokio::runtime::Runtime;

const ROUNDS: usize = 11;
const ROUND_TRIPS: usize = 3000;
const MATCHED: usize = 10_000;
const WINDOW: usize = 64;
const SHORT: usize = 300;

fn certificates() -> (TlsAcceptor, TlsConnector) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "bench CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "bench host");
    let cert = params.signed_by(&key, &ca).unwrap();
    let acceptor = ServerTls::new_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes())
        .unwrap()
        .build()
        .unwrap();
    let connector = ClientTls::new()
        .ca_pem(ca.pem().as_bytes(), "bench CA")
        .unwrap()
        .server_name("localhost")
        .build()
        .unwrap();
    (acceptor, connector)
}

async fn echo_server(tls: Option<TlsAcceptor>) -> String {
    let mut builder = Server::builder("be:2".parse().unwrap());
    if let Some(tls) = tls {
        builder = builder.tls(tls);
    }
    let server = builder.bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().to_string();
    tokio::spawn(server.serve(|_c: Connection, m: Bytes| async move { Reply::Send(m) }));
    addr
}

fn long_client(addr: &str, tls: Option<&TlsConnector>, matched: bool) -> LongClient<u32> {
    let mut builder = LongClient::builder([addr.to_owned()], "be:2".parse().unwrap())
        .match_replies(move |m: &[u8]| {
            if matched {
                Some(u32::from_be_bytes(m.get(..4)?.try_into().ok()?))
            } else {
                Some(0)
            }
        })
        .max_in_flight(if matched { WINDOW } else { 1 });
    if let Some(tls) = tls {
        builder = builder.tls(tls.clone());
    }
    builder.start().unwrap()
}

async fn round_trips(addr: &str, tls: Option<&TlsConnector>) -> Duration {
    let client = long_client(addr, tls, false);
    client.wait_connected(Duration::from_secs(5)).await.unwrap();
    let body = Bytes::from(vec![7u8; 100]);
    let start = Instant::now();
    for _ in 0..ROUND_TRIPS {
        client
            .request(body.clone(), Duration::from_secs(5))
            .await
            .unwrap();
    }
    let took = start.elapsed();
    client.close().await;
    took
}

async fn throughput(addr: &str, tls: Option<&TlsConnector>) -> Duration {
    let client = long_client(addr, tls, true);
    client.wait_connected(Duration::from_secs(5)).await.unwrap();
    let start = Instant::now();
    let tasks: Vec<_> = (0..WINDOW)
        .map(|t| {
            let sender = client.sender();
            tokio::spawn(async move {
                for i in 0..MATCHED / WINDOW {
                    let mut body = ((i * WINDOW + t) as u32).to_be_bytes().to_vec();
                    body.resize(1024, 7);
                    sender.request(body, Duration::from_secs(10)).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let took = start.elapsed();
    client.close().await;
    took
}

async fn short_connections(addr: &str, tls: Option<&TlsConnector>) -> Duration {
    let mut client = ShortClient::new("be:2".parse().unwrap()).timeout(Duration::from_secs(5));
    if let Some(tls) = tls {
        client = client.tls(tls.clone());
    }
    let start = Instant::now();
    for _ in 0..SHORT {
        client.request(addr, &[7u8; 100]).await.unwrap();
    }
    start.elapsed()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let load_before = support::load_average();
    let rt: Runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (acceptor, connector) = certificates();
    let plain_addr = rt.block_on(echo_server(None));
    let tls_addr = rt.block_on(echo_server(Some(acceptor)));
    let tls = Some(&connector);
    let mut rows = vec![vec![
        "workload".to_owned(),
        "plain /s".to_owned(),
        "TLS /s".to_owned(),
        "TLS / plain".to_owned(),
    ]];
    type Run<'a> = Box<dyn Fn(&str, Option<&TlsConnector>) -> Duration + 'a>;
    let workloads: Vec<(&str, usize, Run)> = vec![
        (
            "round trips: 100 B, one at a time",
            ROUND_TRIPS,
            Box::new(|a, t| rt.block_on(round_trips(a, t))),
        ),
        (
            "throughput: 1 KiB, 64 in flight",
            MATCHED,
            Box::new(|a, t| rt.block_on(throughput(a, t))),
        ),
        (
            "short connections: connect, one exchange, close",
            SHORT,
            Box::new(|a, t| rt.block_on(short_connections(a, t))),
        ),
    ];
    for (name, ops, run) in &workloads {
        run(&plain_addr, None);
        run(&tls_addr, tls);
        let (mut p, mut t, mut r) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let a = run(&plain_addr, None).as_secs_f64();
            let b = run(&tls_addr, tls).as_secs_f64();
            p.push(*ops as f64 / a);
            t.push(*ops as f64 / b);
            r.push(a / b);
        }
        rows.push(vec![
            (*name).to_owned(),
            format!("{:.0}", median(&mut p)),
            format!("{:.0}", median(&mut t)),
            format!("{:.2}", median(&mut r)),
        ]);
    }
    support::report(
        "msgframe over TLS 1.3 (rustls, ring) vs plain TCP, loopback, be:2 (median of 11 interleaved rounds)",
        support::table(&rows),
        load_before,
        "msgframe-tls.txt",
    );
}
