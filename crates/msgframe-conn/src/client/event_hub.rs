//! Where a long client's events go: kept in a small queue until someone first asks for them, then
//! broadcast. A broadcast channel allocates all its slots up front (about 2.5 KiB for 32 events);
//! most clients never ask, and an idle one has seen one or two events.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::broadcast;

use super::event::Event;

/// A client's events, shared by its task (which emits them) and its handles (which ask for them).
pub(crate) struct EventHub {
    state: Mutex<State>,
    /// How many events a receiver may fall behind before it loses the oldest.
    capacity: usize,
}

enum State {
    /// Nobody asked yet, and no more than the capacity came: kept.
    Kept(VecDeque<Event>),
    /// Broadcast; `first` receives every event since the client started, until it is asked for.
    Live {
        sender: broadcast::Sender<Event>,
        first: Option<broadcast::Receiver<Event>>,
    },
}

impl EventHub {
    pub(crate) fn new(capacity: usize) -> Self {
        EventHub {
            state: Mutex::new(State::Kept(VecDeque::new())),
            capacity: capacity.max(1),
        }
    }

    /// Emits `event`: kept, or broadcast. One more than the capacity, kept, starts the broadcast
    /// with the first receiver behind by all of them, so that it loses the oldest and is told
    /// how many, exactly as if it had been there from the start.
    pub(crate) fn emit(&self, event: Event) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        match &mut *state {
            State::Kept(kept) if kept.len() < self.capacity => kept.push_back(event),
            State::Kept(_) => {
                let first_receiver = self.go_live(&mut state);
                if let State::Live { first, .. } = &mut *state {
                    *first = Some(first_receiver);
                }
                Self::send(&state, event);
            }
            State::Live { .. } => Self::send(&state, event),
        }
    }

    /// A receiver of events: the first one asked for receives every event since the client
    /// started (or is told how many it lost), later ones those from then on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        let mut state = match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let State::Live { first, sender } = &mut *state {
            return first.take().unwrap_or_else(|| sender.subscribe());
        }
        // The first receiver, made now, is this caller's.
        self.go_live(&mut state)
    }

    /// Starts the broadcast with every event kept so far sent into it; returns the receiver
    /// made with the channel, which has them all (or is told how many it lost).
    fn go_live(&self, state: &mut State) -> broadcast::Receiver<Event> {
        let (sender, first) = broadcast::channel(self.capacity);
        let before = std::mem::replace(
            state,
            State::Live {
                sender,
                first: None,
            },
        );
        if let State::Kept(kept) = before {
            for event in kept {
                Self::send(state, event);
            }
        }
        first
    }

    fn send(state: &State, event: Event) {
        if let State::Live { sender, .. } = state {
            // No receiver left is fine: events are optional.
            let _ = sender.send(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::broadcast::error::TryRecvError;

    fn missed(n: u32) -> Event {
        Event::HeartbeatMissed { missed: n }
    }

    fn number(event: Event) -> u32 {
        match event {
            Event::HeartbeatMissed { missed } => missed,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_first_receiver_gets_every_event_kept_before_it_was_asked_for() {
        let hub = EventHub::new(4);
        hub.emit(missed(1));
        hub.emit(missed(2));
        let mut first = hub.subscribe();
        let mut later = hub.subscribe();
        hub.emit(missed(3));
        assert_eq!(number(first.try_recv().unwrap()), 1);
        assert_eq!(number(first.try_recv().unwrap()), 2);
        assert_eq!(number(first.try_recv().unwrap()), 3);
        assert_eq!(number(later.try_recv().unwrap()), 3);
        assert!(matches!(later.try_recv(), Err(TryRecvError::Empty)));
    }

    #[test]
    fn more_events_than_the_capacity_before_anyone_asks_lose_the_oldest_and_say_how_many() {
        let hub = EventHub::new(4);
        for n in 1..=10 {
            hub.emit(missed(n));
        }
        let mut first = hub.subscribe();
        assert!(matches!(first.try_recv(), Err(TryRecvError::Lagged(6))));
        let rest: Vec<u32> = std::iter::from_fn(|| first.try_recv().ok())
            .map(number)
            .collect();
        assert_eq!(rest, [7, 8, 9, 10]);
    }
}
