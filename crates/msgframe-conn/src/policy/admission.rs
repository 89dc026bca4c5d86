//! May this address open another connection? Caps per client address and in total, allow and
//! deny lists. Pure: the server asks before doing any per-connection work.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An IP network: an address and a prefix length (`10.0.0.0/8`, `2001:db8::/32`); a bare address
/// is a network of one (`/32` or `/128`). IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`) match as
/// the IPv4 address they carry.
///
/// ```
/// use msgframe_conn::IpNet;
///
/// let net: IpNet = "10.20.0.0/16".parse().unwrap();
/// assert!(net.contains("10.20.30.40".parse().unwrap()));
/// assert!(net.contains("::ffff:10.20.1.1".parse().unwrap()));
/// assert!(!net.contains("10.21.0.1".parse().unwrap()));
/// assert!("10.20.0.0/33".parse::<IpNet>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// The network of `addr` with `prefix` leading bits; `None` when the prefix is longer than
    /// the address.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let addr = addr.to_canonical();
        let bits = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        (prefix <= bits).then_some(IpNet { addr, prefix })
    }

    /// Whether `ip` is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Why a text is not an [`IpNet`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an IP address or network (expected forms: 10.0.0.1, 10.0.0.0/8, ::1, 2001:db8::/32)")]
pub struct IpNetParseError(pub String);

impl FromStr for IpNet {
    type Err = IpNetParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || IpNetParseError(s.to_owned());
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| err())?;
        let addr = addr.to_canonical();
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().map_err(|_| err())?,
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        IpNet::new(addr, prefix).ok_or_else(err)
    }
}

/// The limits a server applies to new connections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdmissionPolicy {
    /// The most connections open at once; `None` for no cap.
    pub max_connections: Option<usize>,
    /// The most connections open at once from one client address; `None` for no cap.
    pub max_per_client: Option<usize>,
    /// When not empty, only addresses in these networks are served.
    pub allow: Vec<IpNet>,
    /// Addresses in these networks are never served (deny wins over allow).
    pub deny: Vec<IpNet>,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The address is in a deny list.
    #[error("address denied")]
    Denied,
    /// There is an allow list and the address is not in it.
    #[error("address not in the allow list")]
    NotAllowed,
    /// The server has `cap` connections open.
    #[error("server full: {cap} connections open")]
    TotalCap {
        /// The cap.
        cap: usize,
    },
    /// The client address has `cap` connections open.
    #[error("client has {cap} connections open, the most allowed per client")]
    PerClientCap {
        /// The cap.
        cap: usize,
    },
}

/// The connections open now, by client address, under an [`AdmissionPolicy`].
///
/// ```
/// use msgframe_conn::policy::{Admission, AdmissionPolicy, Refusal};
///
/// let mut admission = Admission::new(AdmissionPolicy {
///     max_per_client: Some(2),
///     ..AdmissionPolicy::default()
/// });
/// let a = "127.0.0.2".parse().unwrap();
/// admission.admit(a).unwrap();
/// admission.admit(a).unwrap();
/// assert_eq!(admission.admit(a), Err(Refusal::PerClientCap { cap: 2 }));
/// admission.admit("127.0.0.3".parse().unwrap()).unwrap(); // another client is still served
/// admission.release(a);
/// admission.admit(a).unwrap();
/// ```
#[derive(Debug, Clone, Default)]
pub struct Admission {
    policy: AdmissionPolicy,
    open: usize,
    per_client: HashMap<IpAddr, usize>,
}

impl Admission {
    /// No connection open yet.
    pub fn new(policy: AdmissionPolicy) -> Self {
        Admission {
            policy,
            open: 0,
            per_client: HashMap::new(),
        }
    }

    /// Counts a new connection from `ip`, or says why it must be refused (nothing is counted
    /// then). Every admitted connection must be [`release`](Self::release)d when it closes.
    ///
    /// # Errors
    /// The [`Refusal`].
    pub fn admit(&mut self, ip: IpAddr) -> Result<(), Refusal> {
        let ip = ip.to_canonical();
        let policy = &self.policy;
        if policy.deny.iter().any(|net| net.contains(ip)) {
            return Err(Refusal::Denied);
        }
        if !policy.allow.is_empty() && !policy.allow.iter().any(|net| net.contains(ip)) {
            return Err(Refusal::NotAllowed);
        }
        if let Some(cap) = policy.max_connections {
            if self.open >= cap {
                return Err(Refusal::TotalCap { cap });
            }
        }
        let count = self.per_client.get(&ip).copied().unwrap_or(0);
        if let Some(cap) = policy.max_per_client {
            if count >= cap {
                return Err(Refusal::PerClientCap { cap });
            }
        }
        self.per_client.insert(ip, count + 1);
        self.open += 1;
        Ok(())
    }

    /// An admitted connection from `ip` closed.
    pub fn release(&mut self, ip: IpAddr) {
        let ip = ip.to_canonical();
        if let Some(count) = self.per_client.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                self.per_client.remove(&ip);
            }
            self.open -= 1;
        }
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open
    }

    /// Connections open now from `ip`.
    pub fn open_from(&self, ip: IpAddr) -> usize {
        self.per_client
            .get(&ip.to_canonical())
            .copied()
            .unwrap_or(0)
    }

    /// The policy.
    pub fn policy(&self) -> &AdmissionPolicy {
        &self.policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_parse_and_match() {
        let net: IpNet = "192.168.1.0/24".parse().unwrap();
        assert!(net.contains(ip("192.168.1.255")));
        assert!(!net.contains(ip("192.168.2.0")));
        assert!(!net.contains(ip("::1")));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        let one: IpNet = "::1".parse().unwrap();
        assert!(one.contains(ip("::1")) && !one.contains(ip("::2")));
        let v6: IpNet = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert_eq!(v6.to_string(), "2001:db8::/32");
        for bad in ["", "10.0.0.0/", "10.0.0/8", "::1/129", "x", "10.0.0.0/-1"] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn deny_wins_over_allow() {
        let mut a = Admission::new(AdmissionPolicy {
            allow: vec!["127.0.0.0/8".parse().unwrap()],
            deny: vec!["127.0.0.9".parse().unwrap()],
            ..AdmissionPolicy::default()
        });
        assert_eq!(a.admit(ip("127.0.0.1")), Ok(()));
        assert_eq!(a.admit(ip("127.0.0.9")), Err(Refusal::Denied));
        assert_eq!(a.admit(ip("10.0.0.1")), Err(Refusal::NotAllowed));
        assert_eq!(a.open(), 1);
    }

    #[test]
    fn the_global_cap_counts_every_client() {
        let mut a = Admission::new(AdmissionPolicy {
            max_connections: Some(2),
            ..AdmissionPolicy::default()
        });
        a.admit(ip("127.0.0.2")).unwrap();
        a.admit(ip("127.0.0.3")).unwrap();
        assert_eq!(a.admit(ip("127.0.0.4")), Err(Refusal::TotalCap { cap: 2 }));
        a.release(ip("127.0.0.2"));
        assert_eq!(a.admit(ip("127.0.0.4")), Ok(()));
    }

    #[test]
    fn mapped_addresses_count_as_their_ipv4_client() {
        let mut a = Admission::new(AdmissionPolicy {
            max_per_client: Some(1),
            ..AdmissionPolicy::default()
        });
        a.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(
            a.admit(ip("::ffff:10.0.0.1")),
            Err(Refusal::PerClientCap { cap: 1 })
        );
        assert_eq!(a.open_from(ip("::ffff:10.0.0.1")), 1);
        a.release(ip("::ffff:10.0.0.1"));
        assert_eq!(a.open(), 0);
    }

    #[test]
    fn releasing_an_unknown_address_changes_nothing() {
        let mut a = Admission::new(AdmissionPolicy::default());
        a.admit(ip("10.0.0.1")).unwrap();
        a.release(ip("10.0.0.2"));
        assert_eq!(a.open(), 1);
    }
}
