//! Link state as the kernel reports it over rtnetlink, the table that turns
//! the message stream into change events, and MetalLB's interface rule.
//!
//! Everything here is pure: it takes decoded netlink messages
//! (`netlink-packet-route` types) and returns values, so the rules are
//! tested without a socket. `netlink.rs` feeds it from the kernel.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;

/// One IPv6 link-local address of a link (fe80::/10), with its DAD state.
/// An NDP responder sends from a link-local address; one that is tentative
/// (DAD still running) or dadfailed cannot be used as a source
/// (MetalLB #1809).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkLocal {
    pub addr: Ipv6Addr,
    /// `IFA_F_TENTATIVE`: duplicate address detection has not finished.
    pub tentative: bool,
    /// `IFA_F_DADFAILED`: another node on the link holds this address.
    pub dad_failed: bool,
}

impl LinkLocal {
    /// Usable as the source of an NA: DAD done and passed.
    pub fn usable(&self) -> bool {
        !self.tentative && !self.dad_failed
    }
}

/// What the driver knows of one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkState {
    pub ifindex: u32,
    pub name: String,
    /// The link-layer address when it is a 6-byte (Ethernet) one.
    pub mac: Option<[u8; 6]>,
    /// `IFF_UP`: administratively up.
    pub up: bool,
    /// `IFF_LOWER_UP`: the driver reports carrier (the L1 signal).
    pub lower_up: bool,
    /// `IFF_BROADCAST`: the link can carry broadcast frames (ARP needs it).
    pub broadcast: bool,
    /// `IFF_NOARP`: the link does no address resolution.
    pub noarp: bool,
    /// `IFF_LOOPBACK`.
    pub loopback: bool,
    /// `IFLA_MASTER`: the ifindex of the bond/bridge this link is enslaved
    /// to, if any.
    pub master: Option<u32>,
    /// IPv6 link-local addresses, sorted by address.
    pub link_local: Vec<LinkLocal>,
}

/// Why MetalLB would not put a responder on an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ineligible {
    /// `IFF_UP` is clear.
    Down,
    /// `IFF_BROADCAST` is clear (ARP only).
    NoBroadcast,
    /// The link has a master (bond or bridge port): answer on the master.
    Enslaved { master: u32 },
    /// `IFF_NOARP` is set.
    NoArp,
    /// No link-local address that finished DAD (NDP only).
    NoUsableLinkLocal,
    /// No 6-byte link-layer address to put in replies.
    NoMac,
}

impl fmt::Display for Ineligible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ineligible::Down => f.write_str("flags: IFF_UP is clear (link is down)"),
            Ineligible::NoBroadcast => f.write_str("flags: IFF_BROADCAST is clear"),
            Ineligible::Enslaved { master } => {
                write!(f, "IFLA_MASTER: enslaved to ifindex {master}")
            }
            Ineligible::NoArp => f.write_str("flags: IFF_NOARP is set"),
            Ineligible::NoUsableLinkLocal => {
                f.write_str("addresses: no IPv6 link-local address that passed DAD")
            }
            Ineligible::NoMac => f.write_str("IFLA_ADDRESS: no 6-byte link-layer address"),
        }
    }
}

impl LinkState {
    /// MetalLB's rule for an ARP responder (`internal/layer2`, rescanned
    /// there every 10 s, here on each netlink event): the link is up, can
    /// broadcast, is not enslaved and is not NOARP; and it has a MAC to
    /// answer with. Carrier is not part of MetalLB's rule: see [`healthy`].
    ///
    /// [`healthy`]: LinkState::healthy
    pub fn arp_eligible(&self) -> Result<(), Ineligible> {
        self.common_eligible()?;
        if !self.broadcast {
            return Err(Ineligible::NoBroadcast);
        }
        Ok(())
    }

    /// MetalLB's rule for an NDP responder: up, not enslaved, not NOARP,
    /// with a link-local address to send from (here: one that passed DAD).
    pub fn ndp_eligible(&self) -> Result<(), Ineligible> {
        self.common_eligible()?;
        if !self.link_local.iter().any(LinkLocal::usable) {
            return Err(Ineligible::NoUsableLinkLocal);
        }
        Ok(())
    }

    fn common_eligible(&self) -> Result<(), Ineligible> {
        if !self.up {
            return Err(Ineligible::Down);
        }
        if let Some(master) = self.master {
            return Err(Ineligible::Enslaved { master });
        }
        if self.noarp {
            return Err(Ineligible::NoArp);
        }
        if self.mac.is_none() {
            return Err(Ineligible::NoMac);
        }
        Ok(())
    }

    /// Link health, beyond MetalLB: administratively up and with carrier.
    /// A node whose announcing interface is not healthy leaves the
    /// candidate set for it.
    pub fn healthy(&self) -> bool {
        self.up && self.lower_up
    }

    /// The first link-local address that passed DAD.
    pub fn usable_link_local(&self) -> Option<Ipv6Addr> {
        self.link_local.iter().find(|l| l.usable()).map(|l| l.addr)
    }

    /// The link's own fields from an RTM_NEWLINK message (addresses are
    /// kept by [`LinkTable`]). `None` when the message names no interface.
    pub fn from_message(msg: &LinkMessage) -> Option<LinkState> {
        let flags = msg.header.flags;
        let mut state = LinkState {
            ifindex: msg.header.index,
            name: String::new(),
            mac: None,
            up: flags.contains(LinkFlags::Up),
            lower_up: flags.contains(LinkFlags::LowerUp),
            broadcast: flags.contains(LinkFlags::Broadcast),
            noarp: flags.contains(LinkFlags::Noarp),
            loopback: flags.contains(LinkFlags::Loopback),
            master: None,
            link_local: Vec::new(),
        };
        for attr in &msg.attributes {
            match attr {
                LinkAttribute::IfName(name) => state.name = name.clone(),
                LinkAttribute::Address(bytes) => {
                    state.mac = <[u8; 6]>::try_from(bytes.as_slice()).ok();
                }
                LinkAttribute::Controller(master) if *master != 0 => {
                    state.master = Some(*master);
                }
                _ => {}
            }
        }
        if state.ifindex == 0 || state.name.is_empty() {
            return None;
        }
        Some(state)
    }
}

/// Whether an address message is about an IPv6 link-local address, and if
/// so which, with its flags. `IFA_FLAGS` (32 bits) wins over the 8-bit
/// header flags when present, as in iproute2.
pub fn link_local_from_message(msg: &AddressMessage) -> Option<LinkLocal> {
    let mut addr = None;
    let mut flags = AddressFlags::from_bits_retain(u32::from(msg.header.flags.bits()));
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Address(IpAddr::V6(a)) => addr = Some(*a),
            AddressAttribute::Flags(f) => flags = *f,
            _ => {}
        }
    }
    let addr = addr?;
    // RFC 4291 §2.5.6: link-local unicast is fe80::/10.
    if addr.segments()[0] & 0xffc0 != 0xfe80 {
        return None;
    }
    Some(LinkLocal {
        addr,
        tentative: flags.contains(AddressFlags::Tentative),
        dad_failed: flags.contains(AddressFlags::Dadfailed),
    })
}

/// A change the driver reports to the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// A link appeared (`previous` is `None`) or one of the fields of
    /// [`LinkState`] changed. Netlink repeats RTM_NEWLINK for changes this
    /// type does not carry (statistics, MTU...); those produce no event.
    Updated {
        previous: Option<LinkState>,
        current: LinkState,
    },
    /// The link is gone (RTM_DELLINK).
    Removed(LinkState),
}

impl LinkEvent {
    /// The state after the event (the last one for a removed link).
    pub fn state(&self) -> &LinkState {
        match self {
            LinkEvent::Updated { current, .. } => current,
            LinkEvent::Removed(last) => last,
        }
    }

    /// True when the link was healthy before and is not now (carrier or
    /// admin state lost, or the link removed).
    pub fn health_lost(&self) -> bool {
        match self {
            LinkEvent::Updated {
                previous: Some(p),
                current,
            } => p.healthy() && !current.healthy(),
            LinkEvent::Updated { previous: None, .. } => false,
            LinkEvent::Removed(last) => last.healthy(),
        }
    }
}

/// The links and their link-local addresses, kept from the dump and the
/// event stream. Addresses are kept apart from links so an address message
/// that arrives before its link's is not lost.
#[derive(Debug, Default)]
pub struct LinkTable {
    links: BTreeMap<u32, LinkState>,
    link_local: BTreeMap<u32, BTreeMap<Ipv6Addr, LinkLocal>>,
}

impl LinkTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// The current state of every link, by ifindex.
    pub fn links(&self) -> impl Iterator<Item = &LinkState> {
        self.links.values()
    }

    pub fn get(&self, ifindex: u32) -> Option<&LinkState> {
        self.links.get(&ifindex)
    }

    pub fn by_name(&self, name: &str) -> Option<&LinkState> {
        self.links.values().find(|l| l.name == name)
    }

    /// Apply one rtnetlink message; returns the event it causes, if any.
    /// Messages of other kinds are ignored.
    pub fn apply(&mut self, msg: &RouteNetlinkMessage) -> Option<LinkEvent> {
        match msg {
            RouteNetlinkMessage::NewLink(m) => {
                let mut current = LinkState::from_message(m)?;
                current.link_local = self.addresses_of(current.ifindex);
                self.replace(current)
            }
            RouteNetlinkMessage::DelLink(m) => {
                self.link_local.remove(&m.header.index);
                self.links.remove(&m.header.index).map(LinkEvent::Removed)
            }
            RouteNetlinkMessage::NewAddress(m) => {
                let ll = link_local_from_message(m)?;
                let index = m.header.index;
                self.link_local
                    .entry(index)
                    .or_default()
                    .insert(ll.addr, ll);
                self.refresh_addresses(index)
            }
            RouteNetlinkMessage::DelAddress(m) => {
                let ll = link_local_from_message(m)?;
                let index = m.header.index;
                if let Some(set) = self.link_local.get_mut(&index) {
                    set.remove(&ll.addr);
                }
                self.refresh_addresses(index)
            }
            _ => None,
        }
    }

    /// The events that turn `self` into `fresh` (after lost messages,
    /// `fresh` is a new dump): changed and new links, then removed ones.
    pub fn diff(&self, fresh: &LinkTable) -> Vec<LinkEvent> {
        let mut events = Vec::new();
        for current in fresh.links.values() {
            let previous = self.links.get(&current.ifindex);
            if previous != Some(current) {
                events.push(LinkEvent::Updated {
                    previous: previous.cloned(),
                    current: current.clone(),
                });
            }
        }
        for (ifindex, last) in &self.links {
            if !fresh.links.contains_key(ifindex) {
                events.push(LinkEvent::Removed(last.clone()));
            }
        }
        events
    }

    fn addresses_of(&self, ifindex: u32) -> Vec<LinkLocal> {
        self.link_local
            .get(&ifindex)
            .map(|set| set.values().copied().collect())
            .unwrap_or_default()
    }

    fn refresh_addresses(&mut self, ifindex: u32) -> Option<LinkEvent> {
        let mut current = self.links.get(&ifindex)?.clone();
        current.link_local = self.addresses_of(ifindex);
        self.replace(current)
    }

    fn replace(&mut self, current: LinkState) -> Option<LinkEvent> {
        let previous = self.links.insert(current.ifindex, current.clone());
        if previous.as_ref() == Some(&current) {
            return None;
        }
        Some(LinkEvent::Updated { previous, current })
    }
}

#[cfg(test)]
#[path = "link_tests.rs"]
mod tests;
