//! TLS on the blocking path: `msgframe_io`'s `BlockingReader` and `BlockingWriter` over rustls
//! streams, every framing both ways, on plain threads.

mod certs;

use std::net::TcpListener;
use std::time::Duration;

use certs::{Ca, FRAMINGS};
use msgframe_codec::Framing;
use msgframe_conn::tls::{ClientTls, ServerTls};
use msgframe_io::{BlockingReader, BlockingWriter, Deadlines, MessageRead, MessageWrite};

#[test]
fn every_framing_round_trips_over_tls_with_blocking_readers_and_writers() {
    let ca = Ca::new("Test Root");
    let host = ca.issue("host.test", &["localhost"], false);
    let acceptor = ServerTls::new_pem(host.cert.as_bytes(), host.key.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    let connector = ClientTls::new()
        .ca_pem(ca.pem().as_bytes(), "test CA")
        .unwrap()
        .server_name("localhost")
        .build()
        .unwrap();
    for spec in FRAMINGS {
        let framing: Framing = spec.parse().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server_framing = framing.clone();
        let acceptor = acceptor.clone();
        // An echo host on a thread: read a message, write it back, five times.
        let host = std::thread::spawn(move || {
            let (sock, _) = listener.accept().unwrap();
            let stream = acceptor.accept_blocking(sock).unwrap();
            let mut reader = BlockingReader::new(stream, server_framing.clone());
            for _ in 0..5 {
                let m = reader.read_message().unwrap();
                BlockingWriter::new(reader.get_mut(), server_framing.clone())
                    .write_message(&m)
                    .unwrap();
            }
        });
        let stream = connector
            .connect_blocking(&addr, Duration::from_secs(5))
            .unwrap();
        let mut reader = BlockingReader::new(stream, framing.clone());
        for i in 0..5 {
            let body = format!("0200 blocking {i}");
            BlockingWriter::new(reader.get_mut(), framing.clone())
                .write_message(body.as_bytes())
                .unwrap();
            let deadlines = Deadlines {
                first_byte: Some(Duration::from_secs(5)),
                message: Some(Duration::from_secs(5)),
            };
            let reply = reader.read_message_with(deadlines).unwrap();
            assert_eq!(&reply[..], body.as_bytes(), "{spec}");
        }
        host.join().unwrap();
    }
}

#[test]
fn a_blocking_handshake_with_an_untrusted_server_names_its_certificate() {
    let ca = Ca::new("Test Root");
    let other = Ca::new("Other Root");
    let host = other.issue("stranger.test", &["localhost"], false);
    let acceptor = ServerTls::new_pem(host.cert.as_bytes(), host.key.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        let _ = acceptor.accept_blocking(sock);
    });
    let connector = ClientTls::new()
        .ca_pem(ca.pem().as_bytes(), "test CA")
        .unwrap()
        .server_name("localhost")
        .build()
        .unwrap();
    let err = connector
        .connect_blocking(&addr, Duration::from_secs(5))
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("CN=stranger.test") && text.contains("trusted CA"),
        "{text}"
    );
    server.join().unwrap();
}

#[test]
fn a_blocking_connection_refused_names_the_host_and_the_address_tried() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let ca = Ca::new("Test Root");
    let connector = ClientTls::new()
        .ca_pem(ca.pem().as_bytes(), "test CA")
        .unwrap()
        .build()
        .unwrap();
    let host = format!("localhost:{port}");
    let err = connector
        .connect_blocking(&host, Duration::from_secs(5))
        .unwrap_err();
    let msgframe_conn::Error::Connect {
        host: named,
        source,
    } = &err
    else {
        panic!("{err}");
    };
    assert!(
        named.starts_with(&format!("{host} (")) && named.ends_with(&format!(":{port})")),
        "{named}"
    );
    assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused);

    let err = connector
        .connect_blocking("nonexistent.invalid:1", Duration::from_secs(5))
        .unwrap_err();
    assert!(
        matches!(&err, msgframe_conn::Error::Connect { host, .. } if host == "nonexistent.invalid:1"),
        "{err}"
    );
}
