//! The rules of a connection, read off the pure sessions: no socket, no clock, time passed in.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use msgframe_conn::session::{
    Caller, ClientEvent, ClientRules, ClientSession, Completed, ServerEvent, ServerRules,
    ServerSession, TransmitKind,
};
use msgframe_conn::{
    AnswerHeartbeats, Disconnect, Error, Heartbeat, HeartbeatTiming, NotSent, Overflow, Reply,
};

const MS: Duration = Duration::from_millis(1);
const S: Duration = Duration::from_secs(1);

/// A caller: its number, and whether it gave up.
#[derive(Debug, Clone)]
struct Call(u32, Rc<Cell<bool>>);

impl Call {
    fn new(n: u32) -> Self {
        Call(n, Rc::new(Cell::new(false)))
    }
}

impl Caller for Call {
    fn gave_up(&self) -> bool {
        self.1.get()
    }
}

/// Requests `Q` + id, replies `A` + id, anything else unkeyed.
fn key(m: &[u8]) -> Option<u32> {
    match m {
        [b'Q' | b'A', id @ ..] if id.len() == 4 => Some(u32::from_be_bytes(id.try_into().ok()?)),
        _ => None,
    }
}

fn q(id: u32) -> Bytes {
    let mut b = vec![b'Q'];
    b.extend_from_slice(&id.to_be_bytes());
    b.into()
}

fn a(id: u32) -> Bytes {
    let mut b = vec![b'A'];
    b.extend_from_slice(&id.to_be_bytes());
    b.into()
}

fn timing() -> HeartbeatTiming {
    HeartbeatTiming {
        idle: 30 * S,
        reply_timeout: 5 * S,
        max_missed: 3,
    }
}

fn client(rules: ClientRules<u32>, t0: Instant) -> ClientSession<u32, Call> {
    ClientSession::new(Arc::new(rules), t0)
}

fn events<T>(s: &mut ClientSession<u32, T>) -> Vec<ClientEvent<T>>
where
    T: Caller,
{
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// Writes whatever the session wants written, at once; returns the bodies.
fn write_all(s: &mut ClientSession<u32, Call>, now: Instant) -> Vec<(Bytes, TransmitKind)> {
    let mut out = Vec::new();
    while let Some(t) = s.poll_transmit(now) {
        out.push((t.body, t.kind));
        s.write_done(now, Ok(()));
    }
    out
}

fn outcome_of(events: &[ClientEvent<Call>], n: u32) -> Option<&Result<Completed, Error>> {
    events.iter().find_map(|e| match e {
        ClientEvent::Done { caller, outcome } if caller.0 == n => Some(outcome),
        _ => None,
    })
}

#[test]
fn a_reply_completes_its_request_and_is_never_delivered() {
    let t0 = Instant::now();
    let mut s = client(ClientRules::new(key), t0);
    s.request(t0, 7, q(7), t0 + S, Call::new(1));
    assert_eq!(write_all(&mut s, t0).len(), 1);
    s.handle_message(t0 + MS, a(7));
    let ev = events(&mut s);
    assert!(matches!(
        outcome_of(&ev, 1),
        Some(Ok(Completed::Reply(r))) if r == &a(7)
    ));
    assert!(!ev.iter().any(|e| matches!(e, ClientEvent::Deliver(_))));
    assert_eq!(s.in_flight(), 0);
}

#[test]
fn replies_in_any_order_find_their_requests() {
    let t0 = Instant::now();
    let mut s = client(ClientRules::new(key), t0);
    for id in 0..10 {
        s.request(t0, id, q(id), t0 + S, Call::new(id));
        write_all(&mut s, t0);
    }
    for id in (0..10).rev() {
        s.handle_message(t0 + MS, a(id));
    }
    let ev = events(&mut s);
    for id in 0..10 {
        assert!(matches!(outcome_of(&ev, id), Some(Ok(Completed::Reply(r))) if r == &a(id)));
    }
}

#[test]
fn a_request_without_reply_times_out_written_and_its_late_reply_goes_to_the_application() {
    let t0 = Instant::now();
    let mut s = client(ClientRules::new(key), t0);
    s.request(t0, 1, q(1), t0 + 20 * MS, Call::new(1));
    write_all(&mut s, t0);
    assert_eq!(s.poll_timeout(), Some(t0 + 20 * MS));
    s.handle_timeout(t0 + 20 * MS);
    let ev = events(&mut s);
    assert!(matches!(
        outcome_of(&ev, 1),
        Some(Err(Error::TimedOut { written: true, elapsed })) if *elapsed == 20 * MS
    ));
    s.handle_message(t0 + 60 * MS, a(1));
    assert!(matches!(&events(&mut s)[..], [ClientEvent::Deliver(m)] if m == &a(1)));
}

#[test]
fn a_message_not_taken_before_its_deadline_is_not_sent() {
    let t0 = Instant::now();
    let mut s = client(ClientRules::new(key), t0);
    s.send(t0 + S, Bytes::from_static(b"late"), t0 + S, Call::new(1));
    assert!(matches!(
        outcome_of(&events(&mut s), 1),
        Some(Err(Error::NotSent {
            reason: NotSent::Deadline { .. }
        }))
    ));
    assert_eq!(s.poll_transmit(t0 + S), None);
}

#[test]
fn a_send_whose_writing_outlasts_its_deadline_times_out_unwritten_and_the_writer_finishes_it() {
    let t0 = Instant::now();
    let mut s = client(ClientRules::new(key), t0);
    s.send(t0, Bytes::from_static(b"big"), t0 + 10 * MS, Call::new(1));
    assert!(s.poll_transmit(t0).is_some());
    assert_eq!(s.poll_timeout(), Some(t0 + 10 * MS));
    s.handle_timeout(t0 + 10 * MS);
    assert!(matches!(
        outcome_of(&events(&mut s), 1),
        Some(Err(Error::TimedOut { written: false, .. }))
    ));
    // Nothing else is taken until the rest is out: the stream stays framed.
    assert!(!s.wants_message());
    s.write_done(t0 + 50 * MS, Ok(()));
    assert!(s.wants_message());
    assert!(events(&mut s).is_empty(), "one outcome per call");
}

#[test]
fn a_duplicate_key_is_refused_unless_its_holder_gave_up() {
    let t0 = Instant::now();
    let mut s = client(ClientRules::new(key), t0);
    let first = Call::new(1);
    s.request(t0, 5, q(5), t0 + S, first.clone());
    write_all(&mut s, t0);
    s.request(t0, 5, q(5), t0 + S, Call::new(2));
    assert!(matches!(
        outcome_of(&events(&mut s), 2),
        Some(Err(Error::DuplicateKey { .. }))
    ));
    first.1.set(true);
    s.request(t0, 5, q(5), t0 + S, Call::new(3));
    write_all(&mut s, t0);
    s.handle_message(t0 + MS, a(5));
    assert!(matches!(
        outcome_of(&events(&mut s), 3),
        Some(Ok(Completed::Reply(_)))
    ));
}

#[test]
fn a_reply_to_a_caller_that_gave_up_goes_to_the_application() {
    let t0 = Instant::now();
    let mut s = client(ClientRules::new(key), t0);
    let call = Call::new(1);
    s.request(t0, 9, q(9), t0 + S, call.clone());
    write_all(&mut s, t0);
    call.1.set(true);
    s.handle_message(t0 + MS, a(9));
    assert!(matches!(&events(&mut s)[..], [ClientEvent::Deliver(m)] if m == &a(9)));
}

#[test]
fn heartbeats_go_out_when_idle_before_queued_messages_and_a_silent_peer_is_dead_within_the_bound() {
    let t0 = Instant::now();
    let rules = ClientRules::new(key).heartbeat(Heartbeat::empty_frame(timing()));
    let mut s = client(rules, t0);
    assert_eq!(s.poll_timeout(), Some(t0 + 30 * S));
    s.handle_timeout(t0 + 30 * S);
    s.send(
        t0 + 30 * S,
        Bytes::from_static(b"m"),
        t0 + 40 * S,
        Call::new(1),
    );
    let written = write_all(&mut s, t0 + 30 * S);
    assert_eq!(written[0].1, TransmitKind::Heartbeat, "{written:?}");
    assert_eq!(written[1].0, Bytes::from_static(b"m"));
    let mut missed = Vec::new();
    let dead_at = loop {
        let now = s.poll_timeout().expect("a timer while open");
        s.handle_timeout(now);
        write_all(&mut s, now);
        for e in events(&mut s) {
            match e {
                ClientEvent::HeartbeatMissed { missed: n } => missed.push(n),
                ClientEvent::Closed(cause) => {
                    assert!(matches!(*cause, Disconnect::PeerDead { missed: 3 }));
                }
                _ => {}
            }
        }
        if s.is_closed() {
            break now;
        }
    };
    assert_eq!(missed, [1, 2]);
    assert_eq!(dead_at - t0, timing().dead_after());
}

#[test]
fn traffic_from_the_peer_postpones_heartbeats() {
    let t0 = Instant::now();
    let rules = ClientRules::new(key).heartbeat(Heartbeat::empty_frame(timing()));
    let mut s = client(rules, t0);
    for i in 1..=10 {
        let now = t0 + i * 20 * S;
        s.handle_message(now, Bytes::from_static(b"unsolicited"));
        s.handle_timeout(now);
        assert!(write_all(&mut s, now).is_empty(), "no heartbeat at {i}");
    }
}

#[test]
fn the_peers_heartbeat_is_answered_and_not_delivered_and_two_answering_ends_do_not_ping_pong() {
    let t0 = Instant::now();
    let rules = ClientRules::new(key)
        .heartbeat(Heartbeat::empty_frame(timing()))
        .answer_heartbeats(AnswerHeartbeats::empty_frames());
    let mut s = client(rules, t0);
    s.handle_message(t0 + S, Bytes::new());
    assert_eq!(
        write_all(&mut s, t0 + S),
        [(Bytes::new(), TransmitKind::Answer)]
    );
    // The peer answers our answer with its own: not answered again within the idle time.
    s.handle_message(t0 + 2 * S, Bytes::new());
    assert!(write_all(&mut s, t0 + 2 * S).is_empty());
    // Our heartbeat's reply is not answered either.
    s.handle_timeout(t0 + 32 * S);
    assert_eq!(write_all(&mut s, t0 + 32 * S)[0].1, TransmitKind::Heartbeat);
    s.handle_message(t0 + 33 * S, Bytes::new());
    assert!(write_all(&mut s, t0 + 33 * S).is_empty());
    assert!(events(&mut s).is_empty(), "nothing for the application");
}

/// The wedge, in memory: requests time out at 20 ms, the host answers at 60 ms, the application
/// never calls `recv`. Late replies fill its queue; prompt replies must still complete their
/// requests and the heartbeat must still be watched.
#[test]
fn a_full_incoming_queue_never_stops_replies_timers_or_failure_detection() {
    let t0 = Instant::now();
    let rules = ClientRules::new(key).heartbeat(Heartbeat::empty_frame(timing()));
    let mut s = client(rules, t0);
    let capacity = 1024;
    let mut queue = 0usize;
    let mut dropped = 0;
    let mut now = t0;
    for id in 0..3000u32 {
        s.request(now, id, q(id), now + 20 * MS, Call::new(id));
        write_all(&mut s, now);
        now += 20 * MS;
        s.handle_timeout(now);
        // The late reply of the previous request.
        if id > 0 {
            s.handle_message(now, a(id - 1));
        }
        for e in events(&mut s) {
            match e {
                ClientEvent::Deliver(m) if queue < capacity => {
                    let _ = m;
                    queue += 1;
                }
                ClientEvent::Deliver(m) => s.delivery_refused(now, m),
                ClientEvent::IncomingDropped { dropped: n } => dropped = n,
                _ => {}
            }
        }
    }
    for e in events(&mut s) {
        if let ClientEvent::IncomingDropped { dropped: n } = e {
            dropped = n;
        }
    }
    assert_eq!(queue, capacity);
    assert_eq!(dropped, 3000 - 1 - capacity as u64);
    // A prompt reply still completes its request.
    s.request(now, 90_000, q(90_000), now + 20 * MS, Call::new(90_000));
    write_all(&mut s, now);
    s.handle_message(now + MS, a(90_000));
    assert!(matches!(
        outcome_of(&events(&mut s), 90_000),
        Some(Ok(Completed::Reply(_)))
    ));
    // And a peer that goes silent is still declared dead in time.
    let silent_from = now + MS;
    while !s.is_closed() {
        now = s.poll_timeout().unwrap();
        s.handle_timeout(now);
        write_all(&mut s, now);
        events(&mut s);
    }
    assert_eq!(now - silent_from, timing().dead_after());
}

#[test]
fn overflow_close_drops_the_message_counted_and_ends_the_connection() {
    let t0 = Instant::now();
    let mut s = client(ClientRules::new(key).overflow(Overflow::Close), t0);
    s.handle_message(t0, Bytes::from_static(b"push"));
    let Some(ClientEvent::Deliver(m)) = s.poll_event() else {
        panic!("a delivery")
    };
    s.delivery_refused(t0, m);
    let ev = events(&mut s);
    assert!(matches!(ev[0], ClientEvent::IncomingDropped { dropped: 1 }));
    assert!(
        matches!(&ev[1], ClientEvent::Closed(c) if matches!(**c, Disconnect::IncomingOverflow))
    );
}

#[test]
fn backpressure_holds_messages_in_order_pauses_reading_and_resumes() {
    let t0 = Instant::now();
    let mut s = client(ClientRules::new(key).overflow(Overflow::Backpressure), t0);
    s.handle_message(t0, Bytes::from_static(b"1"));
    s.handle_message(t0, Bytes::from_static(b"2"));
    let Some(ClientEvent::Deliver(first)) = s.poll_event() else {
        panic!("a delivery")
    };
    s.delivery_refused(t0, first);
    assert!(matches!(&events(&mut s)[..], [ClientEvent::ReadingPaused]));
    assert!(!s.wants_read());
    assert!(s.is_holding());
    assert_eq!(s.take_held(t0 + S).as_deref(), Some(&b"1"[..]));
    assert_eq!(s.take_held(t0 + S).as_deref(), Some(&b"2"[..]));
    assert!(matches!(&events(&mut s)[..], [ClientEvent::ReadingResumed]));
    assert!(s.wants_read());
}

#[test]
fn close_lets_the_message_being_written_finish_and_fails_waiting_requests_as_a_shutdown() {
    let t0 = Instant::now();
    let mut s = client(ClientRules::new(key), t0);
    s.request(t0, 1, q(1), t0 + S, Call::new(1));
    write_all(&mut s, t0);
    s.send(t0, Bytes::from_static(b"m"), t0 + S, Call::new(2));
    assert!(s.poll_transmit(t0).is_some());
    s.close(t0);
    assert!(!s.wants_read() && !s.wants_message());
    s.write_done(t0 + MS, Ok(()));
    let ev = events(&mut s);
    assert!(matches!(outcome_of(&ev, 2), Some(Ok(Completed::Sent))));
    assert!(matches!(
        outcome_of(&ev, 1),
        Some(Err(Error::ConnectionLost { written: true, cause })) if cause.is_shutdown()
    ));
    assert!(matches!(ev.last(), Some(ClientEvent::Closed(c)) if c.is_shutdown()));
}

#[test]
fn a_lost_connection_ends_every_call_with_whether_it_was_written() {
    let t0 = Instant::now();
    let mut s = client(ClientRules::new(key), t0);
    s.request(t0, 1, q(1), t0 + S, Call::new(1));
    write_all(&mut s, t0);
    s.request(t0, 2, q(2), t0 + S, Call::new(2));
    assert!(s.poll_transmit(t0).is_some());
    s.handle_read_error(t0 + MS, msgframe_io::Error::Closed);
    let ev = events(&mut s);
    assert!(matches!(
        outcome_of(&ev, 1),
        Some(Err(Error::ConnectionLost { written: true, .. }))
    ));
    assert!(matches!(
        outcome_of(&ev, 2),
        Some(Err(Error::ConnectionLost { written: false, .. }))
    ));
    assert!(
        matches!(ev.last(), Some(ClientEvent::Closed(c)) if matches!(**c, Disconnect::PeerClosed))
    );
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn a_message_too_long_to_frame_fails_its_call_and_the_connection_goes_on() {
    let t0 = Instant::now();
    let mut s = client(ClientRules::new(key), t0);
    s.send(t0, Bytes::from_static(b"huge"), t0 + S, Call::new(1));
    assert!(s.poll_transmit(t0).is_some());
    let too_long = msgframe_codec::CodecError::MessageTooLong {
        length: 70_000,
        max: 65_535,
    };
    s.write_done(t0, Err(msgframe_io::Error::TooLong(too_long)));
    assert!(matches!(
        outcome_of(&events(&mut s), 1),
        Some(Err(Error::Frame(_)))
    ));
    assert!(!s.is_closed());
}

// ---- the server ----

fn server(rules: ServerRules, t0: Instant) -> ServerSession<Call> {
    ServerSession::new(Arc::new(rules), t0)
}

fn server_events(s: &mut ServerSession<Call>) -> Vec<ServerEvent<Call>> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

#[test]
fn the_handler_sees_one_message_at_a_time_and_its_reply_is_written_before_the_next_read() {
    let t0 = Instant::now();
    let mut s = server(ServerRules::default(), t0);
    assert!(s.wants_read());
    s.handle_message(t0, q(1), true);
    assert!(matches!(&server_events(&mut s)[..], [ServerEvent::Handle(m)] if m == &q(1)));
    assert!(!s.wants_read(), "nothing is read while the handler runs");
    s.handler_done(t0 + MS, Reply::Send(a(1)));
    assert!(!s.wants_read(), "nor while its reply waits to be written");
    assert_eq!(s.poll_transmit(t0 + MS).map(|t| t.body), Some(a(1)));
    s.write_done(t0 + 2 * MS, Ok(()));
    assert!(s.wants_read());
}

#[test]
fn heartbeats_are_answered_without_the_handler() {
    let t0 = Instant::now();
    let mut s = server(
        ServerRules::default().answer_heartbeats(AnswerHeartbeats::empty_frames()),
        t0,
    );
    s.handle_message(t0, Bytes::new(), false);
    assert!(server_events(&mut s).is_empty());
    let t = s.poll_transmit(t0).expect("an answer");
    assert_eq!((t.body, t.kind), (Bytes::new(), TransmitKind::Answer));
}

#[test]
fn an_idle_connection_gives_its_buffers_back_then_is_reaped() {
    let t0 = Instant::now();
    let mut s = server(
        ServerRules::default()
            .idle_timeout(Some(60 * S))
            .release_buffers_after(S),
        t0,
    );
    assert_eq!(s.poll_timeout(), Some(t0 + S));
    s.handle_timeout(t0 + S);
    assert!(matches!(
        &server_events(&mut s)[..],
        [ServerEvent::ReleaseBuffers]
    ));
    assert!(s.is_released());
    assert_eq!(s.poll_timeout(), Some(t0 + 60 * S));
    s.handle_timeout(t0 + 60 * S);
    assert!(matches!(
        &server_events(&mut s)[..],
        [ServerEvent::Closed(c)] if matches!(**c, Disconnect::Reaped(msgframe_conn::policy::Reaped::Idle))
    ));
}

#[test]
fn a_connection_is_quiet_only_after_the_quiet_time_with_nothing_under_way() {
    let t0 = Instant::now();
    let rules = ServerRules::default()
        .idle_timeout(Some(60 * S))
        .release_buffers_after(S);
    let mut s = server(rules.clone(), t0);
    assert_eq!(s.quiet(), None, "not before the quiet time");
    s.handle_timeout(t0 + S);
    server_events(&mut s);
    assert_eq!(s.quiet(), Some(t0), "quiet since it opened");
    // A push taken, a message begun or a handler running: not quiet.
    s.push(t0 + 2 * S, Bytes::from_static(b"push"), Call::new(1));
    assert_eq!(s.quiet(), None);
    let mut s = server(rules.clone(), t0);
    s.handle_timeout(t0 + S);
    s.bytes_arrived(t0 + 2 * S);
    assert_eq!(s.quiet(), None);
    let mut s = server(rules, t0);
    s.handle_message(t0, q(1), false);
    server_events(&mut s);
    s.handle_timeout(t0 + 2 * S);
    assert_eq!(s.quiet(), None);
}

#[test]
fn a_resumed_session_keeps_the_idle_deadline_and_is_not_quiet_before_another_quiet_time() {
    let t0 = Instant::now();
    let rules = Arc::new(
        ServerRules::default()
            .idle_timeout(Some(60 * S))
            .release_buffers_after(S),
    );
    let woken = t0 + 10 * S;
    // Set aside for less than the quiet time: a busy connection.
    let set_aside_at = woken - S / 2;
    let mut s: ServerSession<Call> =
        ServerSession::resumed(Arc::clone(&rules), woken, t0, set_aside_at);
    assert_eq!(s.quiet(), None, "what woke it is seen to first");
    assert_eq!(s.poll_timeout(), Some(woken + S));
    s.handle_timeout(woken + S);
    server_events(&mut s);
    assert_eq!(s.quiet(), Some(t0), "last active when it was set aside");
    assert_eq!(
        s.poll_timeout(),
        Some(t0 + 60 * S),
        "the same idle deadline"
    );
    s.handle_timeout(t0 + 60 * S);
    assert!(matches!(
        &server_events(&mut s)[..],
        [ServerEvent::Closed(c)] if matches!(**c, Disconnect::Reaped(msgframe_conn::policy::Reaped::Idle))
    ));
}

/// One request, its reply written: the exchange of a session told to be quiet after it.
fn exchange(s: &mut ServerSession<Call>, at: Instant, n: u32) {
    s.handle_message(at, q(n), false);
    assert!(matches!(&server_events(s)[..], [ServerEvent::Handle(_)]));
    s.handler_done(at, Reply::Send(a(n)));
    let transmit = s.poll_transmit(at).expect("the reply");
    assert_eq!(transmit.body, a(n));
    s.write_done(at, Ok(()));
}

#[test]
fn a_connection_quiet_after_an_exchange_is_quiet_once_its_reply_is_written_and_only_once() {
    let t0 = Instant::now();
    let rules = ServerRules::default()
        .idle_timeout(Some(60 * S))
        .release_buffers_after(S);
    let mut s = server(rules, t0);
    s.quiet_after_exchange();
    assert_eq!(s.quiet(), None, "not before its first exchange");
    exchange(&mut s, t0 + MS, 1);
    assert!(matches!(
        &server_events(&mut s)[..],
        [ServerEvent::ReleaseBuffers]
    ));
    assert!(s.is_released());
    assert_eq!(s.quiet(), Some(t0 + MS), "quiet from the written reply on");
    assert_eq!(
        s.poll_timeout(),
        Some(t0 + MS + 60 * S),
        "the idle deadline only"
    );
    // Once only: the next exchange waits for the quiet time again.
    exchange(&mut s, t0 + 2 * MS, 2);
    assert!(server_events(&mut s).is_empty());
    assert_eq!(s.quiet(), None);
    s.handle_timeout(t0 + 2 * MS + S);
    server_events(&mut s);
    assert_eq!(s.quiet(), Some(t0 + 2 * MS));
}

#[test]
fn a_connection_quiet_after_an_exchange_is_not_quiet_while_the_next_message_is_under_way() {
    let t0 = Instant::now();
    let rules = ServerRules::default().release_buffers_after(S);
    // The next message was buffered behind the first: it is handled before anything is quiet.
    let mut s = server(rules.clone(), t0);
    s.quiet_after_exchange();
    exchange(&mut s, t0, 1);
    s.handle_message(t0, q(2), false);
    let events = server_events(&mut s);
    assert!(matches!(
        &events[..],
        [ServerEvent::ReleaseBuffers, ServerEvent::Handle(_)]
    ));
    assert_eq!(s.quiet(), None, "a handler runs");
    s.handler_done(t0, Reply::Nothing);
    assert_eq!(s.quiet(), None, "the quiet time again");
    // Bytes of the next message arrived before the reply was out: not quiet.
    let mut s = server(rules.clone(), t0);
    s.quiet_after_exchange();
    s.handle_message(t0, q(1), true);
    server_events(&mut s);
    s.handler_done(t0, Reply::Send(a(1)));
    s.poll_transmit(t0).expect("the reply");
    s.write_done(t0, Ok(()));
    assert!(server_events(&mut s).is_empty());
    assert_eq!(s.quiet(), None, "a message is begun");
    // A message handled with nothing to reply is an exchange too.
    let mut s = server(rules, t0);
    s.quiet_after_exchange();
    s.handle_message(t0, q(1), false);
    server_events(&mut s);
    s.handler_done(t0 + MS, Reply::Nothing);
    assert!(matches!(
        &server_events(&mut s)[..],
        [ServerEvent::ReleaseBuffers]
    ));
    assert_eq!(s.quiet(), Some(t0 + MS));
}

#[test]
fn a_connection_resumed_after_a_long_wait_aside_is_quiet_after_its_exchange_and_a_busy_one_is_not()
{
    let t0 = Instant::now();
    let rules = Arc::new(
        ServerRules::default()
            .idle_timeout(Some(60 * S))
            .release_buffers_after(S),
    );
    let woken = t0 + 10 * S;
    // Aside for the quiet time or longer: sparse traffic.
    let mut sparse: ServerSession<Call> =
        ServerSession::resumed(Arc::clone(&rules), woken, t0, woken - S);
    exchange(&mut sparse, woken, 1);
    assert!(matches!(
        &server_events(&mut sparse)[..],
        [ServerEvent::ReleaseBuffers]
    ));
    assert_eq!(sparse.quiet(), Some(woken));
    // Back within the quiet time: busy, so it keeps its task for another quiet while.
    let mut busy: ServerSession<Call> =
        ServerSession::resumed(Arc::clone(&rules), woken, t0, woken - S / 2);
    exchange(&mut busy, woken, 1);
    assert!(server_events(&mut busy).is_empty());
    assert_eq!(busy.quiet(), None);
    busy.handle_timeout(woken + S);
    server_events(&mut busy);
    assert_eq!(busy.quiet(), Some(woken));
}

#[test]
fn a_trickled_message_is_reaped_at_the_message_deadline() {
    let t0 = Instant::now();
    let mut s = server(
        ServerRules::default()
            .idle_timeout(Some(60 * S))
            .message_timeout(Some(5 * S))
            .release_buffers_after(S),
        t0,
    );
    for i in 0..5 {
        s.bytes_arrived(t0 + 10 * S + i * S);
    }
    // Reaped 5 s after the first byte, however steadily bytes come.
    assert_eq!(s.poll_timeout(), Some(t0 + 15 * S));
    s.handle_timeout(t0 + 15 * S);
    assert!(s.is_closed());
}

#[test]
fn a_slow_handler_is_not_reaped_and_pushes_go_out_while_it_runs() {
    let t0 = Instant::now();
    let mut s = server(
        ServerRules::default()
            .idle_timeout(Some(S))
            .release_buffers_after(S),
        t0,
    );
    s.handle_message(t0, q(1), false);
    server_events(&mut s);
    assert_eq!(s.poll_timeout(), None, "no reaping while the handler runs");
    s.push(t0 + 10 * S, Bytes::from_static(b"push"), Call::new(7));
    assert_eq!(
        s.poll_transmit(t0 + 10 * S).map(|t| t.body),
        Some(Bytes::from_static(b"push"))
    );
    s.write_done(t0 + 10 * S, Ok(()));
    assert!(matches!(
        &server_events(&mut s)[..],
        [ServerEvent::Done { caller, outcome: Ok(()) }] if caller.0 == 7
    ));
    s.handler_done(t0 + 20 * S, Reply::Nothing);
    assert_eq!(s.poll_timeout(), Some(t0 + 21 * S));
}

#[test]
fn a_client_that_does_not_read_is_closed_at_the_write_timeout_and_the_pusher_told() {
    let t0 = Instant::now();
    let mut s = server(ServerRules::default().write_timeout(S), t0);
    s.push(t0, Bytes::from_static(b"push"), Call::new(1));
    assert!(s.poll_transmit(t0).is_some());
    s.push(t0, Bytes::from_static(b"next"), Call::new(2));
    assert_eq!(s.poll_timeout(), Some(t0 + S));
    s.handle_timeout(t0 + S);
    let ev = server_events(&mut s);
    assert!(matches!(
        &ev[0],
        ServerEvent::Done { caller, outcome: Err(Error::TimedOut { written: false, .. }) } if caller.0 == 1
    ));
    assert!(matches!(
        &ev[1],
        ServerEvent::Done { caller, outcome: Err(Error::NotSent { reason: NotSent::Closed }) } if caller.0 == 2
    ));
    assert!(
        matches!(&ev[2], ServerEvent::Closed(c) if matches!(**c, Disconnect::WriteTimedOut(_)))
    );
}

#[test]
fn shutdown_lets_the_handler_finish_and_its_reply_go_out() {
    let t0 = Instant::now();
    let mut s = server(ServerRules::default(), t0);
    s.handle_message(t0, q(1), false);
    server_events(&mut s);
    s.close(t0 + MS);
    assert!(!s.is_closed());
    s.handler_done(t0 + 2 * MS, Reply::Send(a(1)));
    assert_eq!(s.poll_transmit(t0 + 2 * MS).map(|t| t.body), Some(a(1)));
    s.write_done(t0 + 3 * MS, Ok(()));
    assert!(matches!(&server_events(&mut s)[..], [ServerEvent::Closed(c)] if c.is_shutdown()));
}

#[test]
fn send_and_close_closes_after_the_reply_is_written() {
    let t0 = Instant::now();
    let mut s = server(ServerRules::default(), t0);
    s.handle_message(t0, q(1), false);
    server_events(&mut s);
    s.handler_done(t0, Reply::SendAndClose(a(1)));
    assert!(s.poll_transmit(t0).is_some());
    assert!(!s.is_closed());
    s.write_done(t0, Ok(()));
    assert!(
        matches!(&server_events(&mut s)[..], [ServerEvent::Closed(c)] if matches!(**c, Disconnect::Handler))
    );
}

#[test]
fn abort_ends_every_call_at_once_with_its_exact_outcome() {
    let t0 = Instant::now();
    let mut s = client(ClientRules::new(key), t0);
    s.request(t0, 1, q(1), t0 + S, Call::new(1));
    write_all(&mut s, t0);
    s.send(t0, Bytes::from_static(b"m"), t0 + S, Call::new(2));
    assert!(s.poll_transmit(t0).is_some());
    s.abort(t0 + MS, Disconnect::GroupBroken);
    let ev = events(&mut s);
    assert!(matches!(
        outcome_of(&ev, 1),
        Some(Err(Error::ConnectionLost { written: true, cause })) if matches!(**cause, Disconnect::GroupBroken)
    ));
    assert!(matches!(
        outcome_of(&ev, 2),
        Some(Err(Error::ConnectionLost { written: false, .. }))
    ));
    assert!(s.is_closed());
}
