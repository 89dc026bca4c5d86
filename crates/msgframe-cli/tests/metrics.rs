//! `--metrics ADDR`: after real traffic over loopback, a scrape of `GET /metrics` shows the
//! server's counts and its handler's latency in the Prometheus text format; a proxy adds its
//! upstream client's connections.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::Running;

/// Writes `body` framed `be:2` and reads the reply's body.
fn exchange(stream: &mut TcpStream, body: &[u8]) -> Vec<u8> {
    let mut framed = (body.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(body);
    stream.write_all(&framed).unwrap();
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).unwrap();
    let mut reply = vec![0u8; u16::from_be_bytes(head) as usize];
    stream.read_exact(&mut reply).unwrap();
    reply
}

/// The metrics address a `msgframe` printed (`metrics on http://ADDR/metrics`).
fn metrics_addr(running: &mut Running) -> String {
    let line = running.lines_until("metrics on").pop().unwrap();
    let url = line.split_whitespace().nth(2).unwrap();
    url.trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_owned()
}

/// `GET path` on `addr`: the status line and the body.
fn get(addr: &str, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

/// The value of the sample of `metric` whose labels include every one of `labels`.
fn sample(scrape: &str, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape.lines().find_map(|line| {
        let rest = line.strip_prefix(metric)?;
        let (labels_part, value) = match rest.strip_prefix('{') {
            Some(rest) => rest.split_once("} ")?,
            None => ("", rest.strip_prefix(' ')?),
        };
        let all = labels
            .iter()
            .all(|(k, v)| labels_part.split(',').any(|l| l == format!("{k}=\"{v}\"")));
        all.then(|| value.trim().parse().ok())?
    })
}

#[test]
fn a_scrape_after_traffic_shows_the_servers_counts_and_handler_latency() {
    let mut serve = Running::start(&[
        "serve",
        "-l",
        "127.0.0.1:0",
        "-f",
        "be:2",
        "--echo",
        "-q",
        "--metrics",
        "127.0.0.1:0",
    ]);
    let metrics = metrics_addr(&mut serve);
    let server = serve.addr.clone();
    let mut client = TcpStream::connect(&server).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    for body in [&b"one"[..], b"two", b"three"] {
        assert_eq!(exchange(&mut client, body), body);
    }
    // A second connection, closed by the peer. Scraped once the server has accepted it and
    // counted its last reply written (the client may read a reply before the server counts it).
    drop(TcpStream::connect(&server).unwrap());
    let labels = [("server", server.as_str())];
    let mut scrape = String::new();
    for _ in 0..200 {
        let (status, body) = get(&metrics, "/metrics");
        assert_eq!(status, "HTTP/1.1 200 OK");
        scrape = body;
        if sample(
            &scrape,
            "msgframe_server_connections_accepted_total",
            &labels,
        ) == Some(2.0)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let of = |metric: &str, more: &[(&str, &str)]| {
        let all: Vec<_> = labels.iter().chain(more).copied().collect();
        sample(&scrape, metric, &all)
            .unwrap_or_else(|| panic!("no {metric} {more:?} in:\n{scrape}"))
    };
    assert_eq!(
        of("msgframe_server_messages_total", &[("direction", "in")]),
        3.0
    );
    assert_eq!(
        of("msgframe_server_messages_total", &[("direction", "out")]),
        3.0
    );
    assert_eq!(
        of("msgframe_server_bytes_total", &[("direction", "in")]),
        11.0
    );
    assert_eq!(
        of("msgframe_server_bytes_total", &[("direction", "out")]),
        11.0
    );
    assert_eq!(of("msgframe_server_handler_seconds_count", &[]), 3.0);
    assert!(of("msgframe_server_handler_seconds_sum", &[]) >= 0.0);
    // The second connection may still be closing: accepted is 2, open 1 or 2.
    assert_eq!(of("msgframe_server_connections_accepted_total", &[]), 2.0);
    assert!((1.0..=2.0).contains(&of("msgframe_server_connections_open", &[])));
    assert!(
        scrape.contains("# TYPE msgframe_server_messages_total counter"),
        "{scrape}"
    );

    assert_eq!(get(&metrics, "/other").0, "HTTP/1.1 404 Not Found");
    serve.stop();
}

#[test]
fn a_proxys_scrape_shows_its_upstream_clients_connections() {
    let host = Running::start(&["serve", "-l", "127.0.0.1:0", "-f", "be:2", "--echo", "-q"]);
    let mut proxy = Running::start(&[
        "proxy",
        "-l",
        "127.0.0.1:0",
        "--to",
        &host.addr,
        "-f",
        "be:2",
        "-q",
        "--metrics",
        "127.0.0.1:0",
    ]);
    let metrics = metrics_addr(&mut proxy);
    let mut client = TcpStream::connect(&proxy.addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    for body in [&b"a"[..], b"bb"] {
        assert_eq!(exchange(&mut client, body), body);
    }
    let (_, scrape) = get(&metrics, "/metrics");
    let proxy_server = [("server", proxy.addr.as_str())];
    assert_eq!(
        sample(
            &scrape,
            "msgframe_server_messages_total",
            &[proxy_server[0], ("direction", "in")]
        ),
        Some(2.0),
        "{scrape}"
    );
    let upstream = [("client", host.addr.as_str())];
    assert_eq!(
        sample(&scrape, "msgframe_client_connects_total", &upstream),
        Some(1.0),
        "{scrape}"
    );
    assert_eq!(
        sample(&scrape, "msgframe_client_connected", &upstream),
        Some(1.0),
        "{scrape}"
    );
    proxy.stop();
}
