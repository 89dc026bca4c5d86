//! Two-link (asynchronous simplex) connections on loopback: requests out on one link, replies in
//! on the other, matched by key; the inbound link dialled or accepted.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use msgframe_conn::{Disconnect, Event, LongClient};
use msgframe_tokio::{MessageReader, MessageWriter};
use support::be2;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;

const S: Duration = Duration::from_secs(1);

fn key(m: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(m.get(..4)?.try_into().ok()?))
}

/// The host's side of a pair: reads requests on `requests`, answers them on `replies` in batches
/// whose order is reversed, after an unsolicited greeting.
async fn host_pair(requests: TcpStream, replies: TcpStream) {
    let mut reader = MessageReader::new(requests, be2());
    let mut writer = MessageWriter::new(replies, be2());
    writer
        .write_message(b"\xff\xff\xff\xffhello")
        .await
        .unwrap();
    let mut batch = Vec::new();
    loop {
        let next = tokio::time::timeout(Duration::from_millis(5), reader.read_message()).await;
        match next {
            Ok(Ok(m)) => {
                batch.push(m);
                if batch.len() < 50 {
                    continue;
                }
            }
            Ok(Err(_)) => return,
            Err(_) => {}
        }
        // Replies in another order than the requests came.
        while let Some(m) = batch.pop() {
            if writer.write_message(&m).await.is_err() {
                return;
            }
        }
    }
}

/// Sends requests `0..count` (each its own key) at once; each must get its own reply within
/// `deadline`.
async fn all_requests_match(client: &LongClient<u32>, count: u32, deadline: Duration) {
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..count {
        let sender = client.sender();
        tasks.spawn(async move {
            let reply = sender
                .request(n.to_be_bytes().to_vec(), deadline)
                .await
                .unwrap();
            assert_eq!(key(&reply), Some(n));
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

/// A host that accepts the outbound link on one port and the inbound link on another.
async fn dialled_host() -> (SocketAddr, SocketAddr) {
    let requests = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let replies = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addrs = (
        requests.local_addr().unwrap(),
        replies.local_addr().unwrap(),
    );
    tokio::spawn(async move {
        loop {
            let Ok((out, _)) = requests.accept().await else {
                return;
            };
            let Ok((back, _)) = replies.accept().await else {
                return;
            };
            tokio::spawn(host_pair(out, back));
        }
    });
    addrs
}

async fn next_event<T>(
    events: &mut broadcast::Receiver<Event>,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> T {
    tokio::time::timeout(5 * S, async {
        loop {
            match events.recv().await {
                Ok(e) => {
                    if let Some(t) = pick(&e) {
                        return t;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
    .expect("the event in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_requests_over_a_pair_with_shuffled_replies_all_match() {
    let (requests, replies) = dialled_host().await;
    let mut client = LongClient::builder([requests.to_string()], be2())
        .match_replies(key)
        .max_in_flight(1_000)
        .simplex_dial([replies.to_string()])
        .start()
        .unwrap();
    client.wait_connected(5 * S).await.unwrap();
    all_requests_match(&client, 1_000, 10 * S).await;
    // The host's own message, matching no request, came in on the inbound link.
    let greeting = tokio::time::timeout(S, client.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&greeting[4..], b"hello");
    client.close().await;
}

#[tokio::test]
async fn the_peer_may_dial_the_inbound_link() {
    // The host accepts our outbound link, then dials our listener for the way back.
    let requests = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let requests_addr = requests.local_addr().unwrap();
    let builder = LongClient::builder([requests_addr.to_string()], be2())
        .match_replies(key)
        .simplex_listen("127.0.0.1:0")
        .unwrap();
    let listening = builder.simplex_listening_on().unwrap();
    tokio::spawn(async move {
        let (out, _) = requests.accept().await.unwrap();
        let back = TcpStream::connect(listening).await.unwrap();
        host_pair(out, back).await;
    });
    let client = builder.start().unwrap();
    client.wait_connected(5 * S).await.unwrap();
    for n in 0..20u32 {
        let reply = client
            .request(n.to_be_bytes().to_vec(), 5 * S)
            .await
            .unwrap();
        assert_eq!(key(&reply), Some(n));
    }
    client.close().await;
}

#[tokio::test]
async fn bytes_on_the_outbound_link_break_the_pair_and_it_is_rebuilt() {
    let requests = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let replies = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (r, b) = (
        requests.local_addr().unwrap(),
        replies.local_addr().unwrap(),
    );
    tokio::spawn(async move {
        let mut first = true;
        loop {
            let Ok((mut out, _)) = requests.accept().await else {
                return;
            };
            let Ok((back, _)) = replies.accept().await else {
                return;
            };
            if first {
                first = false;
                // The host wrongly answers on the outbound link.
                tokio::io::AsyncWriteExt::write_all(&mut out, b"\x00\x02no")
                    .await
                    .unwrap();
                tokio::time::sleep(S).await;
                continue;
            }
            tokio::spawn(host_pair(out, back));
        }
    });
    let client = LongClient::builder([r.to_string()], be2())
        .match_replies(key)
        .simplex_dial([b.to_string()])
        .backoff(msgframe_conn::Backoff::new(
            Duration::from_millis(50),
            Duration::from_millis(50),
        ))
        .start()
        .unwrap();
    let mut events = client.events();
    let reason = next_event(&mut events, |e| match e {
        Event::Disconnected { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert!(matches!(*reason, Disconnect::Read(_)), "{reason}");
    assert!(reason.to_string().contains("outbound"), "{reason}");
    next_event(&mut events, |e| {
        matches!(e, Event::Connected { .. }).then_some(())
    })
    .await;
    let reply = client
        .request(7u32.to_be_bytes().to_vec(), 5 * S)
        .await
        .unwrap();
    assert_eq!(key(&reply), Some(7));
    let _: Bytes = reply;
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_plays_the_host_of_a_pair() {
    use msgframe_conn::{Connection, Reply, Server};
    let server = Server::builder(be2())
        .simplex_return("127.0.0.1:0", 5 * S)
        .unwrap();
    let back = server.simplex_return_addr().unwrap();
    let server = server.bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let handle = server.handle();
    tokio::spawn(server.serve(|_c: Connection, m: Bytes| async move { Reply::Send(m) }));
    let mut client = LongClient::builder([addr.to_string()], be2())
        .match_replies(key)
        .simplex_dial([back.to_string()])
        .start()
        .unwrap();
    client.wait_connected(5 * S).await.unwrap();
    all_requests_match(&client, 200, 5 * S).await;
    // A push goes on the pair's return link too.
    let conn = handle.connections().pop().unwrap();
    conn.push(&b"\xff\xff\xff\xffpushed"[..], S).await.unwrap();
    let pushed = tokio::time::timeout(S, client.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&pushed[4..], b"pushed");
    client.close().await;
    handle.shutdown();
}

#[tokio::test]
async fn the_server_may_dial_the_return_link_of_a_listening_peer() {
    use msgframe_conn::{Connection, Reply, Server};
    // The client's listener for its inbound link is bound first, so the server knows the port
    // to dial.
    let listen = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // Held until the client takes it: no other program can take the port in between.
    let port = listen.local_addr().unwrap().port();
    let server = Server::builder(be2())
        .simplex_dial_back(port, 5 * S)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let handle = server.handle();
    tokio::spawn(server.serve(|_c: Connection, m: Bytes| async move { Reply::Send(m) }));
    let client = LongClient::builder([addr.to_string()], be2())
        .match_replies(key)
        .simplex_listen_on(listen)
        .unwrap()
        .start()
        .unwrap();
    client.wait_connected(5 * S).await.unwrap();
    for n in 0..50u32 {
        let reply = client
            .request(n.to_be_bytes().to_vec(), 5 * S)
            .await
            .unwrap();
        assert_eq!(key(&reply), Some(n));
    }
    client.close().await;
    handle.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_inbound_link_is_replaced_alone() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let requests = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let replies = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (r, b) = (
        requests.local_addr().unwrap(),
        replies.local_addr().unwrap(),
    );
    let outbound_links = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&outbound_links);
    tokio::spawn(async move {
        // One outbound link for the whole test; its inbound link is cut after the first request.
        let Ok((out, _)) = requests.accept().await else {
            return;
        };
        counted.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            while let Ok((extra, _)) = requests.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                drop(extra);
            }
        });
        let mut reader = MessageReader::new(out, be2());
        let mut cut = false;
        loop {
            let Ok((back, _)) = replies.accept().await else {
                return;
            };
            let mut writer = MessageWriter::new(back, be2());
            loop {
                let Ok(m) = reader.read_message().await else {
                    return;
                };
                if writer.write_message(&m).await.is_err() {
                    break;
                }
                if !cut {
                    // The host drops its sending link once.
                    cut = true;
                    break;
                }
            }
        }
    });
    let client = LongClient::builder([r.to_string()], be2())
        .match_replies(key)
        .simplex_dial([b.to_string()])
        .backoff(
            msgframe_conn::Backoff::new(Duration::from_millis(50), Duration::from_millis(50))
                .jitter(0.0),
        )
        .start()
        .unwrap();
    let mut events = client.events();
    client.wait_connected(5 * S).await.unwrap();
    assert_eq!(
        key(&client
            .request(1u32.to_be_bytes().to_vec(), 5 * S)
            .await
            .unwrap()),
        Some(1)
    );
    let host = next_event(&mut events, |e| match e {
        Event::Disconnected { host, .. } => Some(host.clone()),
        _ => None,
    })
    .await;
    assert!(host.ends_with("(inbound link)"), "{host}");
    next_event(&mut events, |e| {
        matches!(e, Event::Connected { .. }).then_some(())
    })
    .await;
    for n in 2..10u32 {
        let reply = client
            .request(n.to_be_bytes().to_vec(), 5 * S)
            .await
            .unwrap();
        assert_eq!(key(&reply), Some(n));
    }
    assert_eq!(
        outbound_links.load(Ordering::SeqCst),
        1,
        "the outbound link was kept"
    );
    client.close().await;
}

#[tokio::test]
async fn the_inbound_link_may_be_recognised_by_its_first_message() {
    let requests = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let requests_addr = requests.local_addr().unwrap();
    let builder = LongClient::builder([requests_addr.to_string()], be2())
        .match_replies(key)
        .simplex_listen_recognising("127.0.0.1:0", |first| first.starts_with(b"LOGON"))
        .unwrap();
    let listening = builder.simplex_listening_on().unwrap();
    tokio::spawn(async move {
        let (out, _) = requests.accept().await.unwrap();
        // A stranger first (not recognised: closed), then the real return link with its logon.
        let stranger = TcpStream::connect(listening).await.unwrap();
        let mut stranger = MessageWriter::new(stranger, be2());
        stranger.write_message(b"JUNK").await.unwrap();
        let back = TcpStream::connect(listening).await.unwrap();
        let mut logon = MessageWriter::new(back, be2());
        logon.write_message(b"LOGON link-2").await.unwrap();
        host_pair(out, logon.into_inner()).await;
        drop(stranger);
    });
    let mut client = builder.start().unwrap();
    client.wait_connected(5 * S).await.unwrap();
    for n in 0..20u32 {
        let reply = client
            .request(n.to_be_bytes().to_vec(), 5 * S)
            .await
            .unwrap();
        assert_eq!(key(&reply), Some(n));
    }
    // The logon itself was not consumed by the recognition: it comes out like any message.
    let logon = tokio::time::timeout(S, client.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&logon[..], b"LOGON link-2");
    client.close().await;
}

#[tokio::test]
async fn a_silent_stranger_does_not_hold_up_the_recognised_inbound_link() {
    let requests = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let requests_addr = requests.local_addr().unwrap();
    let builder = LongClient::builder([requests_addr.to_string()], be2())
        .match_replies(key)
        .connect_timeout(60 * S)
        .simplex_listen_recognising("127.0.0.1:0", |first| first.starts_with(b"LOGON"))
        .unwrap();
    let listening = builder.simplex_listening_on().unwrap();
    let (stranger_closed, closed) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (out, _) = requests.accept().await.unwrap();
        // Three strangers connect first and never write; the real return link comes after them.
        let mut strangers = Vec::new();
        for _ in 0..3 {
            strangers.push(TcpStream::connect(listening).await.unwrap());
        }
        let back = TcpStream::connect(listening).await.unwrap();
        let mut logon = MessageWriter::new(back, be2());
        logon.write_message(b"LOGON link-2").await.unwrap();
        tokio::spawn(host_pair(out, logon.into_inner()));
        // Once the real link is taken, the strangers are closed by the client.
        for stranger in &mut strangers {
            let mut byte = [0u8; 1];
            let read = tokio::time::timeout(10 * S, stranger.read(&mut byte)).await;
            assert!(matches!(read, Ok(Ok(0))), "{read:?}");
        }
        let _ = stranger_closed.send(());
    });
    let client = builder.start().unwrap();
    // Far sooner than the connect timeout a stranger could otherwise hold it up for.
    client.wait_connected(10 * S).await.unwrap();
    for n in 0..10u32 {
        let reply = client
            .request(n.to_be_bytes().to_vec(), 5 * S)
            .await
            .unwrap();
        assert_eq!(key(&reply), Some(n));
    }
    tokio::time::timeout(10 * S, closed).await.unwrap().unwrap();
    client.close().await;
}

#[tokio::test]
async fn a_return_link_no_request_link_takes_is_closed_after_the_time_allowed() {
    use msgframe_conn::{Connection, Reply, Server};
    let within = Duration::from_millis(200);
    let server = Server::builder(be2())
        .simplex_return("127.0.0.1:0", within)
        .unwrap();
    let back = server.simplex_return_addr().unwrap();
    let server = server.bind("127.0.0.1:0").await.unwrap();
    tokio::spawn(server.serve(|_c: Connection, m: Bytes| async move { Reply::Send(m) }));
    // Return links with no request link behind them: the server does not hold them for ever.
    let mut orphans = Vec::new();
    for _ in 0..5 {
        orphans.push(TcpStream::connect(back).await.unwrap());
    }
    for orphan in &mut orphans {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(10 * S, orphan.read(&mut byte)).await;
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_pairs_links_by_a_key_from_their_first_messages() {
    use msgframe_conn::{Connection, Reply, Server};
    // Both links of a terminal start with `LOGON <terminal>`; the key is the terminal.
    let server = Server::builder(be2())
        .simplex_return_keyed("127.0.0.1:0", 5 * S, |m| {
            m.strip_prefix(b"LOGON ").map(<[u8]>::to_vec)
        })
        .unwrap();
    let back = server.simplex_return_addr().unwrap();
    let server = server.bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.serve(|_c: Connection, m: Bytes| async move {
        // The logon is handled like any message: acknowledged.
        Reply::Send(m)
    }));
    // Two terminals from one address, their return links dialled in the other order.
    let mut outs = Vec::new();
    for t in ["T1", "T2"] {
        let mut out = MessageWriter::new(TcpStream::connect(addr).await.unwrap(), be2());
        out.write_message(format!("LOGON {t}").as_bytes())
            .await
            .unwrap();
        outs.push(out);
    }
    let mut backs = Vec::new();
    for t in ["T2", "T1"] {
        let mut link = MessageWriter::new(TcpStream::connect(back).await.unwrap(), be2());
        link.write_message(format!("LOGON {t}").as_bytes())
            .await
            .unwrap();
        backs.push((t, MessageReader::new(link.into_inner(), be2())));
    }
    for (i, out) in outs.iter_mut().enumerate() {
        out.write_message(format!("request of T{}", i + 1).as_bytes())
            .await
            .unwrap();
    }
    for (t, reader) in &mut backs {
        // Each terminal's logon acknowledgement, then its own reply, on its own return link.
        let logon = reader.read_message_timeout(5 * S).await.unwrap();
        assert_eq!(logon, format!("LOGON {t}").as_bytes());
        let reply = reader.read_message_timeout(5 * S).await.unwrap();
        assert_eq!(reply, format!("request of {t}").as_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_client_pair_logs_on_to_a_server_pairing_by_key() {
    use msgframe_conn::{Connection, Reply, Server};
    let server = Server::builder(be2())
        .simplex_return_keyed("127.0.0.1:0", 5 * S, |m| {
            m.strip_prefix(b"LOGON ").map(<[u8]>::to_vec)
        })
        .unwrap();
    let back = server.simplex_return_addr().unwrap();
    let server = server.bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.serve(|_c: Connection, m: Bytes| async move { Reply::Send(m) }));
    let client = LongClient::builder([addr.to_string()], be2())
        .match_replies(key)
        .simplex_dial([back.to_string()])
        .simplex_inbound_logon(&b"LOGON T7"[..])
        // The outbound link's logon, acknowledged on the inbound link.
        .on_connect(|session| {
            Box::pin(async move {
                let ack = session.request(b"LOGON T7", 5 * S).await?;
                assert_eq!(&ack[..], b"LOGON T7");
                Ok(())
            })
        })
        .start()
        .unwrap();
    client.wait_connected(5 * S).await.unwrap();
    for n in 0..20u32 {
        let reply = client
            .request(n.to_be_bytes().to_vec(), 5 * S)
            .await
            .unwrap();
        assert_eq!(key(&reply), Some(n));
    }
    client.close().await;
}
