//! The heartbeat messages a long client sends and recognises, and how it answers the peer's.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use crate::policy::heartbeat::HeartbeatTiming;

type Make = Arc<dyn Fn() -> Bytes + Send + Sync>;
type Predicate = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;
type Answer = Arc<dyn Fn(&[u8]) -> Bytes + Send + Sync>;

/// Application heartbeats a long client sends when the link has been quiet, in the two forms real
/// links use, with [`HeartbeatTiming`] saying when.
///
/// - [`Heartbeat::empty_frame`]: a zero-length frame (jPOS keep-alive, many ISO 8583 hosts); the
///   framing must deliver empty frames (`empty=deliver`, the default), not skip them. On a framing
///   whose length counts a trailer (BASE24-TCP, `be:2,trailer=03,counts-trailer`) it is the bare
///   `00 00` such peers send and answer (`empty-form=bare`, the default there).
/// - [`Heartbeat::message`]: a message of the protocol plus a predicate recognising the peer's
///   reply: CMPP ACTIVE_TEST / ACTIVE_TEST_RESP, ISO 8583 0800 network echo / 0810, SMPP
///   enquire_link / enquire_link_resp.
///
/// Any message from the peer counts as a sign of life; replies recognised by the predicate are
/// consumed by the client and never delivered to the application.
///
/// ```
/// use msgframe_conn::{Heartbeat, HeartbeatTiming};
///
/// // ISO 8583 network management echo: 0800 out, 0810 back.
/// let echo = Heartbeat::message(
///     HeartbeatTiming::default(),
///     || bytes::Bytes::from_static(b"0800\x82\x20\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00301"),
///     |reply| reply.starts_with(b"0810"),
/// );
/// ```
#[derive(Clone)]
pub struct Heartbeat {
    pub(crate) timing: HeartbeatTiming,
    pub(crate) make: Make,
    pub(crate) is_reply: Predicate,
}

impl Heartbeat {
    /// Zero-length frames, answered by zero-length frames.
    pub fn empty_frame(timing: HeartbeatTiming) -> Self {
        Heartbeat {
            timing,
            make: Arc::new(Bytes::new),
            is_reply: Arc::new(<[u8]>::is_empty),
        }
    }

    /// `make()` for each heartbeat (it may number them, as CMPP sequence ids do); `is_reply`
    /// recognises the peer's answer.
    pub fn message(
        timing: HeartbeatTiming,
        make: impl Fn() -> Bytes + Send + Sync + 'static,
        is_reply: impl Fn(&[u8]) -> bool + Send + Sync + 'static,
    ) -> Self {
        Heartbeat {
            timing,
            make: Arc::new(make),
            is_reply: Arc::new(is_reply),
        }
    }

    /// The timing.
    pub fn timing(&self) -> HeartbeatTiming {
        self.timing
    }
}

impl fmt::Debug for Heartbeat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Heartbeat")
            .field("timing", &self.timing)
            .finish_non_exhaustive()
    }
}

/// How the client answers the **peer's** heartbeats: `is_request` recognises one, `answer` builds
/// the reply (it may copy a sequence id from the request). Answers are consumed by the client,
/// never delivered to the application.
///
/// When an answer would itself be taken for a heartbeat (zero-length frames both ways), two ends
/// that both answer could bounce one frame back and forth forever; such an answer is therefore
/// sent only when it does not reply to our own outstanding heartbeat, and at most once per idle
/// period (see [`HeartbeatState::answer_lookalike`](crate::policy::HeartbeatState::answer_lookalike)).
#[derive(Clone)]
pub struct AnswerHeartbeats {
    pub(crate) is_request: Predicate,
    pub(crate) answer: Answer,
}

impl AnswerHeartbeats {
    /// Answer zero-length frames with zero-length frames (on BASE24-TCP, `00 00` with `00 00`).
    pub fn empty_frames() -> Self {
        AnswerHeartbeats {
            is_request: Arc::new(<[u8]>::is_empty),
            answer: Arc::new(|_| Bytes::new()),
        }
    }

    /// Answer messages `is_request` recognises with `answer(request)`.
    pub fn new(
        is_request: impl Fn(&[u8]) -> bool + Send + Sync + 'static,
        answer: impl Fn(&[u8]) -> Bytes + Send + Sync + 'static,
    ) -> Self {
        AnswerHeartbeats {
            is_request: Arc::new(is_request),
            answer: Arc::new(answer),
        }
    }
}

impl fmt::Debug for AnswerHeartbeats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnswerHeartbeats").finish_non_exhaustive()
    }
}
