//! TLS under every framing: certificates made at test time (rcgen), loopback only. Round trips in
//! every framing through the short and long clients and the server; mutual TLS accepted and
//! refused; certificate problems named by subject; the handshake deadline; both dialled links of
//! a two-link pair secured; reconnects handshake again.

use std::time::Duration;

mod certs;

use bytes::Bytes;
use certs::{Ca, Identity, FRAMINGS};
use msgframe_conn::tls::{ClientTls, ServerTls, TlsAcceptor, TlsConnector};
use msgframe_conn::{Connection, Error, LongClient, Reply, Server, ServerHandle, ShortClient};
use tokio::io::AsyncWriteExt;

const S: Duration = Duration::from_secs(1);

fn server_tls(ca: &Ca, require_clients_of: Option<&Ca>) -> TlsAcceptor {
    let id = ca.issue("host.test", &["localhost", "127.0.0.1"], false);
    let mut tls = ServerTls::new_pem(id.cert.as_bytes(), id.key.as_bytes()).unwrap();
    if let Some(client_ca) = require_clients_of {
        tls = tls
            .require_client_certificates_pem(client_ca.pem().as_bytes(), "client CA")
            .unwrap();
    }
    tls.handshake_timeout(2 * S).build().unwrap()
}

fn client_tls(ca: &Ca, identity: Option<&Identity>) -> TlsConnector {
    let mut tls = ClientTls::new()
        .ca_pem(ca.pem().as_bytes(), "test CA")
        .unwrap();
    if let Some(id) = identity {
        tls = tls
            .client_cert_pem(id.cert.as_bytes(), id.key.as_bytes())
            .unwrap();
    }
    tls.server_name("localhost").build().unwrap()
}

/// Serves `spec` over TLS with an echo that also names the client's certificate.
async fn serve(spec: &str, tls: TlsAcceptor) -> (String, ServerHandle) {
    let server = Server::builder(spec.parse().unwrap())
        .tls(tls)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr().to_string();
    let handle = server.handle();
    tokio::spawn(server.serve(|conn: Connection, m: Bytes| async move {
        if &m[..] == b"who am i" {
            let who = conn
                .peer_identity()
                .map_or("nobody".to_owned(), |id| id.subject.clone());
            return Reply::Send(who.into());
        }
        Reply::Send(m)
    }));
    (addr, handle)
}

#[tokio::test]
async fn every_framing_round_trips_over_tls_on_a_long_connection() {
    let ca = Ca::new("Test Root");
    for spec in FRAMINGS {
        let (addr, _handle) = serve(spec, server_tls(&ca, None)).await;
        let client = LongClient::builder([addr], spec.parse().unwrap())
            .tls(client_tls(&ca, None))
            .start()
            .unwrap();
        for i in 0..5u8 {
            let body = format!("0800 message {i} over TLS");
            let reply = client.request(body.clone(), 5 * S).await.unwrap();
            assert_eq!(&reply[..], body.as_bytes(), "{spec}");
        }
        client.close().await;
    }
}

#[tokio::test]
async fn short_connections_over_tls_including_until_end_of_stream() {
    let ca = Ca::new("Test Root");
    for spec in ["ascii:4", "eof"] {
        let (addr, _handle) = serve(spec, server_tls(&ca, None)).await;
        let client = ShortClient::new(spec.parse().unwrap())
            .tls(client_tls(&ca, None))
            .timeout(5 * S);
        let reply = client.request(&addr, b"0200 one shot").await.unwrap();
        assert_eq!(&reply[..], b"0200 one shot", "{spec}");
    }
}

#[tokio::test]
async fn mutual_tls_accepts_the_right_client_certificate_and_names_it() {
    let ca = Ca::new("Test Root");
    let clients = Ca::new("Terminal CA");
    let terminal = clients.issue("terminal-0042", &[], false);
    let (addr, handle) = serve("be:2", server_tls(&ca, Some(&clients))).await;
    let client = LongClient::builder([addr], "be:2".parse().unwrap())
        .tls(client_tls(&ca, Some(&terminal)))
        .start()
        .unwrap();
    let who = client.request(&b"who am i"[..], 5 * S).await.unwrap();
    assert_eq!(&who[..], b"CN=terminal-0042");
    client.close().await;
    assert_eq!(handle.stats().tls_handshake_failed, 0);
}

#[tokio::test]
async fn mutual_tls_refuses_a_client_without_a_certificate() {
    let ca = Ca::new("Test Root");
    let clients = Ca::new("Terminal CA");
    let (addr, handle) = serve("be:2", server_tls(&ca, Some(&clients))).await;
    let err = ShortClient::new("be:2".parse().unwrap())
        .tls(client_tls(&ca, None))
        .timeout(5 * S)
        .request(&addr, b"hi")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("requires a client certificate") || text.contains("closed"),
        "{text}"
    );
    wait_for(|| handle.stats().tls_handshake_failed == 1).await;
}

#[tokio::test]
async fn mutual_tls_refuses_a_certificate_from_another_ca() {
    let ca = Ca::new("Test Root");
    let clients = Ca::new("Terminal CA");
    let stranger = Ca::new("Other CA").issue("intruder", &[], false);
    let (addr, handle) = serve("be:2", server_tls(&ca, Some(&clients))).await;
    let err = ShortClient::new("be:2".parse().unwrap())
        .tls(client_tls(&ca, Some(&stranger)))
        .timeout(5 * S)
        .request(&addr, b"hi")
        .await
        .unwrap_err();
    assert!(!matches!(err, Error::TimedOut { .. }), "{err}");
    wait_for(|| handle.stats().tls_handshake_failed == 1).await;
}

#[tokio::test]
async fn an_untrusted_server_certificate_is_named_by_subject() {
    let ours = Ca::new("Test Root");
    let theirs = Ca::new("Unknown Root");
    let (addr, _handle) = serve("be:2", server_tls(&theirs, None)).await;
    let err = ShortClient::new("be:2".parse().unwrap())
        .tls(client_tls(&ours, None))
        .request(&addr, b"hi")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            &err,
            Error::Tls {
                failure: msgframe_conn::TlsError::CertificateRefused {
                    problem: msgframe_conn::CertificateProblem::UnknownIssuer,
                    ..
                },
                ..
            }
        ),
        "{text}"
    );
    assert!(text.contains("CN=host.test"), "{text}");
    assert!(text.contains("not signed by a trusted CA"), "{text}");
}

#[tokio::test]
async fn an_expired_server_certificate_is_named_by_subject() {
    let ca = Ca::new("Test Root");
    let old = ca.issue("old-host.test", &["localhost"], true);
    let tls = ServerTls::new_pem(old.cert.as_bytes(), old.key.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    let (addr, _handle) = serve("be:2", tls).await;
    let err = ShortClient::new("be:2".parse().unwrap())
        .tls(client_tls(&ca, None))
        .request(&addr, b"hi")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("CN=old-host.test") && text.contains("expired"),
        "{text}"
    );
}

#[tokio::test]
async fn a_name_mismatch_is_named_by_subject() {
    let ca = Ca::new("Test Root");
    let (addr, _handle) = serve("be:2", server_tls(&ca, None)).await;
    let tls = ClientTls::new()
        .ca_pem(ca.pem().as_bytes(), "test CA")
        .unwrap()
        .server_name("bank.example")
        .build()
        .unwrap();
    let err = ShortClient::new("be:2".parse().unwrap())
        .tls(tls)
        .request(&addr, b"hi")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("CN=host.test") && text.contains("not valid for the server name"),
        "{text}"
    );
}

#[tokio::test]
async fn a_client_that_never_finishes_the_handshake_is_closed_at_the_deadline() {
    let ca = Ca::new("Test Root");
    let (addr, handle) = serve("be:2", server_tls(&ca, None)).await;
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    // A TLS record header and nothing more.
    stream
        .write_all(&[0x16, 0x03, 0x01, 0x00, 0x80])
        .await
        .unwrap();
    let start = tokio::time::Instant::now();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(10 * S, tokio::io::AsyncReadExt::read(&mut stream, &mut buf))
        .await
        .expect("closed by the server");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    let took = start.elapsed();
    assert!(
        took >= 2 * S - 100 * Duration::from_millis(1) && took < 5 * S,
        "{took:?}"
    );
    assert_eq!(handle.stats().tls_handshake_timeout, 1);
    assert_eq!(handle.stats().open, 0);
}

#[tokio::test]
async fn a_reconnect_performs_a_new_handshake() {
    let ca = Ca::new("Test Root");
    let (addr, handle) = serve("ascii:4", server_tls(&ca, None)).await;
    let client = LongClient::builder([addr.clone()], "ascii:4".parse().unwrap())
        .tls(client_tls(&ca, None))
        .backoff(msgframe_conn::Backoff::new(
            Duration::from_millis(20),
            Duration::from_millis(50),
        ))
        .start()
        .unwrap();
    assert_eq!(
        &client.request(&b"first"[..], 5 * S).await.unwrap()[..],
        b"first"
    );
    // Drop the connection from the server's side: shut the server down, serve again.
    handle.shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let server = Server::builder("ascii:4".parse().unwrap())
        .tls(server_tls(&ca, None))
        .bind(addr.as_str())
        .await
        .unwrap();
    let second = server.handle();
    tokio::spawn(server.serve(|_c: Connection, m: Bytes| async move { Reply::Send(m) }));
    let mut reply = None;
    for _ in 0..100 {
        if let Ok(r) = client.request(&b"second"[..], S).await {
            reply = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(&reply.expect("reconnected")[..], b"second");
    assert_eq!(second.stats().accepted, 1);
    client.close().await;
}

async fn wait_for(mut cond: impl FnMut() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(cond(), "condition not met in 2 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_client_without_the_required_certificate_is_told_why() {
    let ca = Ca::new("Test Root");
    let clients = Ca::new("Terminal CA");
    let (addr, _handle) = serve("be:2", server_tls(&ca, Some(&clients))).await;
    for _ in 0..5 {
        let client = LongClient::builder([addr.clone()], "be:2".parse().unwrap())
            .tls(client_tls(&ca, None))
            .backoff(msgframe_conn::Backoff::new(60 * S, 60 * S))
            .start()
            .unwrap();
        let err = client.request(&b"hi"[..], 3 * S).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("requires a client certificate"), "{text}");
        client.close().await;
    }
}

#[tokio::test]
async fn both_dialled_links_of_a_pair_are_secured() {
    use msgframe_tokio::{MessageReader, MessageWriter};
    let ca = Ca::new("Test Root");
    let acceptor = server_tls(&ca, None);
    let requests = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let replies = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (requests_addr, replies_addr) = (
        requests.local_addr().unwrap(),
        replies.local_addr().unwrap(),
    );
    let spec: msgframe_codec::Framing = "be:2".parse().unwrap();
    let host_spec = spec.clone();
    tokio::spawn(async move {
        // Each link's handshake fails unless the client speaks TLS on it.
        let (out, _) = requests.accept().await.unwrap();
        let out = acceptor.accept(out).await.unwrap();
        let (back, _) = replies.accept().await.unwrap();
        let back = acceptor.accept(back).await.unwrap();
        let mut reader = MessageReader::new(out, host_spec.clone());
        let mut writer = MessageWriter::new(back, host_spec);
        while let Ok(m) = reader.read_message().await {
            if writer.write_message(&m).await.is_err() {
                return;
            }
        }
    });
    let client = LongClient::builder([requests_addr.to_string()], spec)
        .tls(client_tls(&ca, None))
        .match_replies(|m: &[u8]| Some(m.get(..4)?.to_vec()))
        .simplex_dial([replies_addr.to_string()])
        .start()
        .unwrap();
    client.wait_connected(5 * S).await.unwrap();
    for n in 0..20u32 {
        let mut body = n.to_be_bytes().to_vec();
        body.extend_from_slice(b" over a secured pair");
        let reply = client.request(body.clone(), 5 * S).await.unwrap();
        assert_eq!(&reply[..], &body[..]);
    }
    client.close().await;
}

/// A server of pairs over TLS that echoes every request on the pair's return link.
async fn pair_server(
    builder: msgframe_conn::ServerBuilder,
) -> (String, Option<std::net::SocketAddr>, ServerHandle) {
    let return_addr = builder.simplex_return_addr();
    let server = builder.bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().to_string();
    let handle = server.handle();
    tokio::spawn(server.serve(|_c: Connection, m: Bytes| async move { Reply::Send(m) }));
    (addr, return_addr, handle)
}

/// Twenty requests over `client`'s pair, each answered by its own echo.
async fn twenty_match(client: &LongClient<Vec<u8>>) {
    client.wait_connected(5 * S).await.unwrap();
    for n in 0..20u32 {
        let mut body = n.to_be_bytes().to_vec();
        body.extend_from_slice(b" over a secured pair");
        let reply = client.request(body.clone(), 5 * S).await.unwrap();
        assert_eq!(&reply[..], &body[..]);
    }
}

fn by_first_four(m: &[u8]) -> Option<Vec<u8>> {
    Some(m.get(..4)?.to_vec())
}

#[tokio::test]
async fn a_server_of_pairs_secures_the_return_links_it_accepts() {
    let ca = Ca::new("Test Root");
    let builder = Server::builder("be:2".parse().unwrap())
        .tls(server_tls(&ca, None))
        .simplex_return("127.0.0.1:0", 5 * S)
        .unwrap();
    let (addr, return_addr, handle) = pair_server(builder).await;
    let return_addr = return_addr.unwrap();

    // A return link that does not speak TLS is closed at once, not held for the 5 s it may wait.
    let mut plain = tokio::net::TcpStream::connect(return_addr).await.unwrap();
    plain.write_all(b"\x00\x05hello").await.unwrap();
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(3 * S, async {
        loop {
            match tokio::io::AsyncReadExt::read(&mut plain, &mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a plain return link is closed");

    let client = LongClient::builder([addr], "be:2".parse().unwrap())
        .tls(client_tls(&ca, None))
        .match_replies(by_first_four)
        .simplex_dial([return_addr.to_string()])
        .start()
        .unwrap();
    twenty_match(&client).await;
    client.close().await;
    handle.shutdown();
}

#[tokio::test]
async fn a_listened_inbound_link_and_a_dialled_return_link_are_secured() {
    let ca = Ca::new("Test Root");
    // The client's listener for its inbound link is bound first, so the server knows the port
    // to dial.
    let listen = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // Held until the client takes it: no other program can take the port in between.
    let port = listen.local_addr().unwrap().port();
    let builder = Server::builder("be:2".parse().unwrap())
        .tls(server_tls(&ca, None))
        .simplex_dial_back_tls(port, 5 * S, client_tls(&ca, None));
    let (addr, _, handle) = pair_server(builder).await;
    let client = LongClient::builder([addr], "be:2".parse().unwrap())
        .tls(client_tls(&ca, None))
        .match_replies(by_first_four)
        .simplex_listen_on(listen)
        .unwrap()
        .simplex_inbound_tls(server_tls(&ca, None))
        .start()
        .unwrap();
    twenty_match(&client).await;
    client.close().await;
    handle.shutdown();
}

#[tokio::test]
async fn a_listened_inbound_link_that_fails_its_handshake_is_not_taken() {
    let ca = Ca::new("Test Root");
    let other = Ca::new("Another Root");
    let listen = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // Held until the client takes it: no other program can take the port in between.
    let port = listen.local_addr().unwrap().port();
    // The server trusts another CA: it refuses the client's certificate, so no return link.
    let builder = Server::builder("be:2".parse().unwrap())
        .tls(server_tls(&ca, None))
        .simplex_dial_back_tls(port, 5 * S, client_tls(&other, None));
    let (addr, _, handle) = pair_server(builder).await;
    let client = LongClient::builder([addr], "be:2".parse().unwrap())
        .tls(client_tls(&ca, None))
        .connect_timeout(S)
        .match_replies(by_first_four)
        .simplex_listen_on(listen)
        .unwrap()
        .simplex_inbound_tls(server_tls(&ca, None))
        .start()
        .unwrap();
    assert!(
        client.wait_connected(3 * S).await.is_err(),
        "no pair without a secured inbound link"
    );
    client.close().await;
    handle.shutdown();
}

#[test]
fn inbound_tls_without_a_listened_inbound_link_is_a_configuration_error() {
    let ca = Ca::new("Test Root");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _guard = runtime.enter();
    let err = LongClient::builder(["127.0.0.1:1"], "be:2".parse().unwrap())
        .simplex_dial(["127.0.0.1:2"])
        .simplex_inbound_tls(server_tls(&ca, None))
        .start()
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    assert!(err.to_string().contains("simplex_listen"), "{err}");
}
