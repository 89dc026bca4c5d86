//! `connect` and `connect_addrs`: every address in turn, each attempt within its time and all
//! before the deadline, failing with an error that names the host, the last address tried and its
//! error. Against a listener whose backlog is full (connection attempts hang), the async functions
//! and the blocking ones of msgframe-io alike.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use msgframe_tokio::{connect, connect_addrs};
use tokio::net::{TcpListener, TcpSocket};
use tokio::time::Instant;

const SECS_5: Duration = Duration::from_secs(5);
const SECS_2: Duration = Duration::from_secs(2);
const MS: Duration = Duration::from_millis(1);

/// A loopback port nothing listens on.
async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// A listener that never accepts, its backlog filled: connection attempts to it hang (the kernel
/// drops their SYNs). Keep it (and its fillers) alive while it is used.
struct Blackhole {
    addr: SocketAddr,
    _listener: tokio::net::TcpListener,
    _fillers: Vec<std::net::TcpStream>,
}

fn blackhole() -> Blackhole {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..16 {
        match std::net::TcpStream::connect_timeout(&addr, 100 * MS) {
            Ok(stream) => fillers.push(stream),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                return Blackhole {
                    addr,
                    _listener: listener,
                    _fillers: fillers,
                }
            }
            Err(e) => panic!("filling the backlog: {e}"),
        }
    }
    panic!("the backlog never filled");
}

#[tokio::test]
async fn connects_with_nodelay() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stream = connect(&addr.to_string(), SECS_5, Some(Instant::now() + SECS_5))
        .await
        .unwrap();
    assert_eq!(stream.peer_addr().unwrap(), addr);
    assert!(stream.nodelay().unwrap());
}

#[tokio::test]
async fn a_refused_port_names_the_address_once() {
    let addr = closed_port().await;
    let host = addr.to_string();
    let err = connect(&host, SECS_5, None).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    assert_eq!((err.host.as_str(), err.addr), (host.as_str(), Some(addr)));
    assert_eq!(
        err.to_string(),
        format!("connecting to {host}: {}", err.source)
    );
}

#[tokio::test]
async fn a_refused_name_names_the_host_and_the_address_tried() {
    let port = closed_port().await.port();
    let host = format!("localhost:{port}");
    let err = connect(&host, SECS_5, None).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    let addr = err.addr.expect("an address was tried");
    assert!(addr.ip().is_loopback() && addr.port() == port, "{addr}");
    assert_eq!(
        err.to_string(),
        format!("connecting to {host} ({addr}): {}", err.source)
    );
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_named() {
    let deadline = Instant::now() + SECS_5;
    let err = connect("nonexistent.invalid:1", SECS_5, Some(deadline))
        .await
        .unwrap_err();
    assert_eq!(err.host, "nonexistent.invalid:1");
    assert!(err.addr.is_none());
    let text = err.to_string();
    assert!(
        text.starts_with("connecting to nonexistent.invalid:1: "),
        "{text}"
    );
}

#[tokio::test]
async fn every_address_in_turn_until_one_accepts() {
    // Listening on 127.0.0.1 only: ::1 refuses (or is unavailable), the second address accepts.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let addrs: [SocketAddr; 2] = [
        format!("[::1]:{port}").parse().unwrap(),
        format!("127.0.0.1:{port}").parse().unwrap(),
    ];
    let stream = connect_addrs(&addrs, SECS_5, Some(Instant::now() + SECS_5))
        .await
        .unwrap();
    assert_eq!(stream.peer_addr().unwrap(), addrs[1]);

    // The same through a name, where the machine resolves localhost to ::1 first.
    let resolved: Vec<_> = ("localhost", port).to_socket_addrs().unwrap().collect();
    if resolved.len() > 1 && resolved[0].is_ipv6() {
        let stream = connect(&format!("localhost:{port}"), SECS_5, None)
            .await
            .unwrap();
        assert!(stream.peer_addr().unwrap().is_ipv4());
    }
}

#[tokio::test]
async fn no_address_at_all_is_not_found() {
    let err = connect_addrs(&[], SECS_5, None).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert!(
        err.to_string().contains("the host resolved to no address"),
        "{err}"
    );
}

#[tokio::test]
async fn a_hanging_address_gets_its_per_attempt_time_then_the_next_is_tried() {
    let hole = blackhole();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let good = listener.local_addr().unwrap();
    let start = Instant::now();
    let stream = connect_addrs(&[hole.addr, good], 200 * MS, Some(start + SECS_5))
        .await
        .unwrap();
    assert_eq!(stream.peer_addr().unwrap(), good);
    let took = start.elapsed();
    assert!(took >= 200 * MS && took < SECS_2, "{took:?}");
}

#[tokio::test]
async fn the_deadline_bounds_every_attempt() {
    let hole = blackhole();
    let start = Instant::now();
    let err = connect_addrs(&[hole.addr, hole.addr], SECS_5, Some(start + 300 * MS))
        .await
        .unwrap_err();
    let took = start.elapsed();
    assert!(took >= 300 * MS && took < SECS_2, "{took:?}");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert_eq!(err.addr, Some(hole.addr));

    // By name, the same.
    let start = Instant::now();
    let host = hole.addr.to_string();
    let err = connect(&host, SECS_5, Some(start + 300 * MS))
        .await
        .unwrap_err();
    assert!(start.elapsed() < SECS_2, "{:?}", start.elapsed());
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert_eq!(err.host, host);
}

#[test]
fn blocking_a_hanging_address_gets_its_per_attempt_time_then_the_next_is_tried() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let hole = blackhole();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let good = listener.local_addr().unwrap();
    let start = std::time::Instant::now();
    let stream =
        msgframe_io::connect_addrs(&[hole.addr, good], 200 * MS, Some(start + SECS_5)).unwrap();
    assert_eq!(stream.peer_addr().unwrap(), good);
    assert!(stream.nodelay().unwrap());
    let took = start.elapsed();
    assert!(took >= 200 * MS && took < SECS_2, "{took:?}");
}

#[test]
fn blocking_the_deadline_bounds_every_attempt() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let hole = blackhole();
    let start = std::time::Instant::now();
    let err = msgframe_io::connect_addrs(&[hole.addr, hole.addr], SECS_5, Some(start + 300 * MS))
        .unwrap_err();
    let took = start.elapsed();
    assert!(took >= 300 * MS && took < SECS_2, "{took:?}");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert_eq!(err.addr, Some(hole.addr));

    let start = std::time::Instant::now();
    let host = hole.addr.to_string();
    let err = msgframe_io::connect(&host, SECS_5, Some(start + 300 * MS)).unwrap_err();
    assert!(start.elapsed() < SECS_2, "{:?}", start.elapsed());
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert_eq!(err.host, host);
}
