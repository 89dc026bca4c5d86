//! `connect` and `connect_addrs`, blocking: every address in turn, within the per-attempt time and
//! the deadline, failing with an error that names the host, the last address tried and its error.
//! (A connect that hangs needs a listener with a full backlog, which std cannot make: the tests of
//! per-attempt times and deadlines against one are in msgframe-tokio's `tests/connect.rs`, for
//! both this function and the async one.)

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::time::{Duration, Instant};

use msgframe_io::{connect, connect_addrs, ConnectError};

const SECS_5: Duration = Duration::from_secs(5);

/// A loopback port nothing listens on.
fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[test]
fn connects_with_nodelay() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stream = connect(&addr.to_string(), SECS_5, Some(Instant::now() + SECS_5)).unwrap();
    assert_eq!(stream.peer_addr().unwrap(), addr);
    assert!(stream.nodelay().unwrap());
}

#[test]
fn a_refused_port_names_the_address_once() {
    let addr = closed_port();
    let host = addr.to_string();
    let err = connect(&host, SECS_5, None).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    assert_eq!(err.host, host);
    assert_eq!(err.addr, Some(addr));
    // The address is the host as given: not repeated.
    assert_eq!(err.target(), host);
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("connecting to {host}: ")),
        "{text}"
    );
}

#[test]
fn a_refused_name_names_the_host_and_the_address_tried() {
    let port = closed_port().port();
    let host = format!("localhost:{port}");
    let err = connect(&host, SECS_5, None).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    let addr = err.addr.expect("an address was tried");
    assert!(addr.ip().is_loopback() && addr.port() == port, "{addr}");
    assert_eq!(
        err.to_string(),
        format!("connecting to {host} ({addr}): {}", err.source)
    );
}

#[test]
fn a_name_that_does_not_resolve_is_named() {
    let err = connect("nonexistent.invalid:1", SECS_5, None).unwrap_err();
    assert_eq!(err.host, "nonexistent.invalid:1");
    assert!(err.addr.is_none());
    let text = err.to_string();
    assert!(
        text.starts_with("connecting to nonexistent.invalid:1: "),
        "{text}"
    );
}

#[test]
fn every_address_in_turn_until_one_accepts() {
    // Listening on 127.0.0.1 only: ::1 refuses (or is unavailable), the second address accepts.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let addrs: [SocketAddr; 2] = [
        format!("[::1]:{port}").parse().unwrap(),
        format!("127.0.0.1:{port}").parse().unwrap(),
    ];
    let stream = connect_addrs(&addrs, SECS_5, Some(Instant::now() + SECS_5)).unwrap();
    assert_eq!(stream.peer_addr().unwrap(), addrs[1]);
    assert!(stream.nodelay().unwrap());

    // The same through a name, where the machine resolves localhost to ::1 first.
    let resolved: Vec<_> = ("localhost", port).to_socket_addrs().unwrap().collect();
    if resolved.len() > 1 && resolved[0].is_ipv6() {
        let stream = connect(&format!("localhost:{port}"), SECS_5, None).unwrap();
        assert!(stream.peer_addr().unwrap().is_ipv4());
    }
}

#[test]
fn when_every_address_refuses_the_last_one_is_named() {
    let port = closed_port().port();
    let addrs: [SocketAddr; 2] = [
        format!("[::1]:{port}").parse().unwrap(),
        format!("127.0.0.1:{port}").parse().unwrap(),
    ];
    let err = connect_addrs(&addrs, SECS_5, None).unwrap_err();
    assert_eq!(err.addr, Some(addrs[1]));
    assert_eq!(err.host, addrs[1].to_string());
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
}

#[test]
fn no_address_at_all_is_not_found() {
    let err = connect_addrs(&[], SECS_5, None).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert!(err.addr.is_none());
    assert!(
        err.to_string().contains("the host resolved to no address"),
        "{err}"
    );
}

#[test]
fn a_deadline_already_passed_tries_nothing() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let start = Instant::now();
    let err = connect(&addr.to_string(), SECS_5, Some(start)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert_eq!(err.addr, Some(addr));
    assert!(start.elapsed() < Duration::from_secs(1));
    let accepted = listener.accept().map(|_| ());
    assert_eq!(
        accepted.unwrap_err().kind(),
        io::ErrorKind::WouldBlock,
        "nothing connected"
    );
}

#[test]
fn the_error_converts_keeping_its_kind_and_text() {
    let err = connect(&closed_port().to_string(), SECS_5, None).unwrap_err();
    let text = err.to_string();
    let io: io::Error = err.into();
    assert_eq!(io.kind(), io::ErrorKind::ConnectionRefused);
    assert_eq!(io.to_string(), text);
    assert!(io.get_ref().unwrap().is::<ConnectError>());

    let err = connect(&closed_port().to_string(), SECS_5, None).unwrap_err();
    let text = err.to_string();
    let ours = msgframe_io::Error::from(err);
    assert!(
        matches!(&ours, msgframe_io::Error::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused)
    );
    assert_eq!(ours.to_string(), format!("I/O error: {text}"));
}
