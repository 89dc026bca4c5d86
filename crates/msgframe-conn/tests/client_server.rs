//! msgframe's long client against msgframe's server.

use std::time::Duration;

use bytes::Bytes;
use msgframe_conn::{
    AnswerHeartbeats, Connection, Heartbeat, HeartbeatTiming, LongClient, Reply, Server,
};

const S: Duration = Duration::from_secs(1);

#[tokio::test(start_paused = true)]
async fn two_auto_answering_ends_do_not_loop() {
    let server = Server::builder("be:2".parse().unwrap())
        .answer_heartbeats(AnswerHeartbeats::empty_frames())
        .idle_timeout(Some(600 * S))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let handle = server.handle();
    tokio::spawn(server.serve(|_c: Connection, m: Bytes| async move { Reply::Send(m) }));
    let timing = HeartbeatTiming {
        idle: 30 * S,
        reply_timeout: 5 * S,
        max_missed: 3,
    };
    let client = LongClient::builder([addr.to_string()], "be:2".parse().unwrap())
        .heartbeat(Heartbeat::empty_frame(timing))
        .answer_heartbeats(AnswerHeartbeats::empty_frames())
        .start()
        .unwrap();
    client.wait_connected(S).await.unwrap();
    tokio::time::sleep(315 * S).await;
    let stats = handle.stats();
    // One heartbeat from the client every 30 s (at 30, 60, ... 300 s), one answer from the
    // server to each: nothing bounces.
    assert_eq!(stats.frames_in, 10, "{stats:?}");
    assert_eq!(stats.frames_out, 10, "{stats:?}");
    assert!(client.connected_to().is_some());
    // Real traffic still flows beside them.
    let reply = client.request(&b"0800"[..], S).await.unwrap();
    assert_eq!(&reply[..], b"0800");
    client.close().await;
}

#[tokio::test]
async fn a_client_rides_out_a_server_restart() {
    let bind = |addr: String| async move {
        let server = Server::builder("ascii:4".parse().unwrap())
            .bind(addr)
            .await
            .unwrap();
        let addr = server.local_addr();
        let handle = server.handle();
        let task =
            tokio::spawn(server.serve(|_c: Connection, m: Bytes| async move { Reply::Send(m) }));
        (addr, handle, task)
    };
    let (addr, handle, task) = bind("127.0.0.1:0".into()).await;
    let client = LongClient::builder([addr.to_string()], "ascii:4".parse().unwrap())
        .backoff(msgframe_conn::Backoff::new(
            Duration::from_millis(20),
            Duration::from_millis(100),
        ))
        .start()
        .unwrap();
    assert_eq!(&client.request(&b"one"[..], S).await.unwrap()[..], b"one");
    handle.shutdown();
    task.await.unwrap().unwrap();
    let (_addr, _handle, _task) = bind(addr.to_string()).await;
    let mut reply = None;
    for _ in 0..100 {
        match client.request(&b"two"[..], S).await {
            Ok(r) => {
                reply = Some(r);
                break;
            }
            Err(e) => assert!(
                e.is_not_sent() || matches!(e, msgframe_conn::Error::ConnectionLost { .. }),
                "{e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(&reply.expect("served again")[..], b"two");
    client.close().await;
}
