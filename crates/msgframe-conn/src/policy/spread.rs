//! Which connection of a pool takes a request. Pure.

/// How a pool spreads requests over its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Spread {
    /// Each connection in turn. The default.
    #[default]
    RoundRobin,
    /// The connection with the fewest requests in flight (the first of them in turn on a tie).
    FewestInFlight,
}

/// A pool's connection as the choice sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkView {
    /// Connected now.
    pub up: bool,
    /// Requests in flight on it.
    pub in_flight: usize,
    /// Already tried for this request (it did not take it).
    pub tried: bool,
}

/// The connection to offer a request to: a connected one not yet tried, by `spread`, starting
/// from `turn` (a counter the pool increments for every choice); when none is connected, one not
/// yet tried in turn, where the request waits for the connection to come back; `None` when every
/// connection was tried.
///
/// ```
/// use msgframe_conn::policy::{pick, LinkView, Spread};
///
/// let up = |in_flight| LinkView { up: true, in_flight, tried: false };
/// let links = [up(3), up(1), LinkView { up: false, in_flight: 0, tried: false }];
/// assert_eq!(pick(Spread::FewestInFlight, 0, &links), Some(1));
/// assert_eq!(pick(Spread::RoundRobin, 2, &links), Some(0)); // the next connected one
/// ```
pub fn pick(spread: Spread, turn: usize, links: &[LinkView]) -> Option<usize> {
    let n = links.len();
    if n == 0 {
        return None;
    }
    let in_turn = (0..n).map(|k| (turn.wrapping_add(k)) % n);
    let ready = in_turn.clone().filter(|&i| links[i].up && !links[i].tried);
    let chosen = match spread {
        Spread::RoundRobin => ready.clone().next(),
        Spread::FewestInFlight => ready.clone().min_by_key(|&i| links[i].in_flight),
    };
    chosen.or_else(|| {
        // Nothing connected to try: wait on one that is not (none is, or all were tried).
        let any_up = links.iter().any(|l| l.up);
        (!any_up)
            .then(|| in_turn.clone().find(|&i| !links[i].tried))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(in_flight: usize) -> LinkView {
        LinkView {
            up: true,
            in_flight,
            tried: false,
        }
    }

    const DOWN: LinkView = LinkView {
        up: false,
        in_flight: 0,
        tried: false,
    };

    #[test]
    fn round_robin_takes_each_connected_link_in_turn() {
        let links = [up(0), DOWN, up(0), up(0)];
        let picks: Vec<_> = (0..8)
            .map(|t| pick(Spread::RoundRobin, t, &links).unwrap())
            .collect();
        assert_eq!(picks, [0, 2, 2, 3, 0, 2, 2, 3]);
    }

    #[test]
    fn fewest_in_flight_takes_the_least_busy_connected_link() {
        let links = [up(5), up(2), DOWN, up(2)];
        assert_eq!(pick(Spread::FewestInFlight, 0, &links), Some(1));
        assert_eq!(pick(Spread::FewestInFlight, 2, &links), Some(3));
    }

    #[test]
    fn a_tried_link_is_not_offered_the_request_again() {
        let mut links = [up(0), up(0)];
        links[0].tried = true;
        assert_eq!(pick(Spread::RoundRobin, 0, &links), Some(1));
        links[1].tried = true;
        assert_eq!(pick(Spread::RoundRobin, 0, &links), None);
    }

    #[test]
    fn with_nothing_connected_the_request_waits_on_a_link_in_turn() {
        let links = [DOWN, DOWN, DOWN];
        assert_eq!(pick(Spread::RoundRobin, 4, &links), Some(1));
        let mut tried = links;
        tried[1].tried = true;
        assert_eq!(pick(Spread::FewestInFlight, 4, &tried), Some(2));
    }

    #[test]
    fn a_connected_link_tried_already_is_no_reason_to_wait_on_a_down_one() {
        let mut links = [up(0), DOWN];
        links[0].tried = true;
        assert_eq!(pick(Spread::RoundRobin, 0, &links), None);
    }
}
