//! The key helpers on the layouts of SMPP and CMPP PDUs framed `be:4,counts-header` (the 4-byte
//! length stripped on delivery): replies sent back in reverse order find their requests by
//! sequence number.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use msgframe_conn::{keys, Connection, LongClient, Reply, Server};

const TIMEOUT: Duration = Duration::from_secs(10);
/// Requests held before the gateway answers them (three calls are made at once).
const REQUESTS: u32 = 3;

/// An SMPP PDU without its `command_length` (the framing writes it): command_id,
/// command_status, sequence_number, body.
fn smpp(command_id: u32, sequence: u32, body: &[u8]) -> Bytes {
    let mut pdu = Vec::new();
    pdu.extend_from_slice(&command_id.to_be_bytes());
    pdu.extend_from_slice(&0u32.to_be_bytes());
    pdu.extend_from_slice(&sequence.to_be_bytes());
    pdu.extend_from_slice(body);
    pdu.into()
}

/// A CMPP PDU without its `Total_Length`: Command_Id, Sequence_Id, body.
fn cmpp(command_id: u32, sequence: u32, body: &[u8]) -> Bytes {
    let mut pdu = Vec::new();
    pdu.extend_from_slice(&command_id.to_be_bytes());
    pdu.extend_from_slice(&sequence.to_be_bytes());
    pdu.extend_from_slice(body);
    pdu.into()
}

/// A gateway that holds `REQUESTS` requests, then answers them last first (the response's
/// command id is the request's with the top bit set; the rest is kept).
async fn reversing_gateway() -> String {
    let server = Server::builder("be:4,counts-header".parse().unwrap())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr().to_string();
    let held: Arc<Mutex<Vec<Bytes>>> = Arc::default();
    tokio::spawn(server.serve(move |connection: Connection, request: Bytes| {
        let held = Arc::clone(&held);
        async move {
            let batch = {
                let mut held = held.lock().unwrap();
                held.push(request);
                if held.len() < REQUESTS as usize {
                    return Reply::Nothing;
                }
                std::mem::take(&mut *held)
            };
            for request in batch.into_iter().rev() {
                let mut response = request.to_vec();
                response[0] |= 0x80;
                connection.push(response, TIMEOUT).await.unwrap();
            }
            Reply::Nothing
        }
    }));
    addr
}

#[tokio::test]
async fn smpp_responses_in_reverse_order_find_their_requests_by_sequence_number() {
    let gateway = reversing_gateway().await;
    let client = LongClient::builder([gateway], "be:4,counts-header".parse().unwrap())
        .match_replies(keys::uint_be_at(8, 4))
        .start()
        .unwrap();
    let call = |sequence: u32| {
        let body = format!("message {sequence}");
        client.request(smpp(0x0000_0004, sequence, body.as_bytes()), TIMEOUT)
    };
    let (first, second, third) = tokio::join!(call(1), call(2), call(3));
    for (sequence, reply) in (1..=REQUESTS).zip([first, second, third]) {
        let body = format!("message {sequence}");
        assert_eq!(reply.unwrap(), smpp(0x8000_0004, sequence, body.as_bytes()));
    }
    client.close().await;
}

#[tokio::test]
async fn cmpp_responses_in_reverse_order_find_their_requests_by_sequence_id() {
    let gateway = reversing_gateway().await;
    let client = LongClient::builder([gateway], "be:4,counts-header".parse().unwrap())
        .match_replies(keys::uint_be_at(4, 4))
        .start()
        .unwrap();
    let call =
        |sequence: u32| client.request(cmpp(0x0000_0004, 1000 + sequence, b"submit"), TIMEOUT);
    let (first, second, third) = tokio::join!(call(1), call(2), call(3));
    for (sequence, reply) in (1..=REQUESTS).zip([first, second, third]) {
        assert_eq!(
            reply.unwrap(),
            cmpp(0x8000_0004, 1000 + sequence, b"submit")
        );
    }
    client.close().await;
}
