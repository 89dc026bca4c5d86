//! The rule of a link group: when it is complete, and which links to close when one breaks.
//! Pure: the group's task feeds it the links' events and does what it says.

/// What a link group does when one of its links breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum GroupRule {
    /// Each link on its own: the others go on (a pool). The default.
    #[default]
    Independent,
    /// When any link breaks, every link is closed and the group rebuilt together; requests in
    /// flight on any link fail at once with their exact outcome; nothing is written while the
    /// group is incomplete (the rule card-switch specifications describe).
    AllOrNothing,
}

/// What a group must do after a link's event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupActions {
    /// The group became complete (every link up).
    pub complete: bool,
    /// The group broke: this link broke on its own.
    pub broken: Option<usize>,
    /// Links to close now (the rule's doing).
    pub close: Vec<usize>,
}

/// Which links of a group are up, and what the rule makes of each change.
///
/// ```
/// use msgframe_conn::policy::{GroupRule, GroupState};
///
/// let mut g = GroupState::new(3, GroupRule::AllOrNothing);
/// g.connected(0);
/// g.connected(1);
/// assert!(g.connected(2).complete);
/// let broke = g.disconnected(1, false);
/// assert_eq!(broke.broken, Some(1));
/// assert_eq!(broke.close, [0, 2]); // the others are closed by the rule
/// assert!(!g.is_complete());
/// ```
#[derive(Debug, Clone)]
pub struct GroupState {
    rule: GroupRule,
    up: Vec<bool>,
}

impl GroupState {
    /// A group of `links` links, none up yet.
    pub fn new(links: usize, rule: GroupRule) -> Self {
        GroupState {
            rule,
            up: vec![false; links],
        }
    }

    /// Whether every link is up.
    pub fn is_complete(&self) -> bool {
        !self.up.is_empty() && self.up.iter().all(|u| *u)
    }

    /// Whether link `link` is up.
    pub fn is_up(&self, link: usize) -> bool {
        self.up.get(link).copied().unwrap_or(false)
    }

    /// Link `link` connected.
    pub fn connected(&mut self, link: usize) -> GroupActions {
        let was = self.is_complete();
        if let Some(up) = self.up.get_mut(link) {
            *up = true;
        }
        GroupActions {
            complete: !was && self.is_complete(),
            ..GroupActions::default()
        }
    }

    /// Link `link` went down: `by_rule` when the group closed it itself.
    pub fn disconnected(&mut self, link: usize, by_rule: bool) -> GroupActions {
        if let Some(up) = self.up.get_mut(link) {
            *up = false;
        }
        if by_rule {
            return GroupActions::default();
        }
        let close = match self.rule {
            GroupRule::AllOrNothing => (0..self.up.len()).filter(|&j| self.up[j]).collect(),
            GroupRule::Independent => Vec::new(),
        };
        GroupActions {
            complete: false,
            broken: Some(link),
            close,
        }
    }
}
