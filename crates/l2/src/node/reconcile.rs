//! The reconcile step, sans-IO: the desired VIPs, the membership view and
//! the local links in; per VIP the election and, where this node wins, the
//! interfaces it should answer on (the announcer's desired set) out.
//!
//! Every node runs this on the same desired set and (once membership has
//! converged) the same view, so they agree on each winner without talking.
//!
//! Link health (issue 10, beyond MetalLB): a node is no candidate for a
//! VIP when it reports carrier loss on every interface the VIP may use.
//! For a VIP with `interfaces: None` those are the names of this node's own
//! eligible interfaces: the nodes of one L2 segment are expected to share
//! interface names (as MetalLB's `interfaces` selector assumes too).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::announcer;
use crate::election::{elect, Election, ElectionInputs};

use super::types::{Desired, VipDesire};

/// One local link as the reconcile step needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalLink {
    pub ifindex: u32,
    pub name: String,
    /// An ARP port is open on it (MetalLB's ARP rule holds).
    pub arp: bool,
    /// An NDP port is open on it (MetalLB's NDP rule holds).
    pub ndp: bool,
}

/// What the membership layer says, for the election.
pub trait View {
    /// Live members, this node included.
    fn alive(&self) -> BTreeSet<String>;
    /// Live members that report `interface` without carrier.
    fn without_carrier_on(&self, interface: &str) -> BTreeSet<String>;
}

impl View for crate::membership::Membership {
    fn alive(&self) -> BTreeSet<String> {
        crate::membership::Membership::alive(self)
    }
    fn without_carrier_on(&self, interface: &str) -> BTreeSet<String> {
        crate::membership::Membership::without_carrier_on(self, interface)
    }
}

/// The outcome for one desired VIP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VipPlan {
    pub ip: IpAddr,
    pub election: Election,
    /// Our interfaces for it (ifindex); empty unless we win.
    pub ifindexes: BTreeSet<u32>,
}

/// The outcome of one reconcile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// In the order of `Desired::vips`, one entry per distinct `ip` (the
    /// first entry of an IP listed twice wins).
    pub vips: Vec<VipPlan>,
    /// The announcer's input: the VIPs we win, with their interfaces.
    pub announce: announcer::Desired,
}

impl Plan {
    /// The winner of `ip` in this plan.
    pub fn winner_of(&self, ip: IpAddr) -> Option<&str> {
        self.vips
            .iter()
            .find(|v| v.ip == ip)
            .and_then(|v| v.election.winner())
    }
}

/// The interfaces a VIP may use here: its named ones that we have, or
/// every eligible one; ARP ports for IPv4, NDP ports for IPv6.
fn interfaces_for<'a>(
    vip: &'a VipDesire,
    links: &'a [LocalLink],
) -> impl Iterator<Item = &'a LocalLink> + 'a {
    links.iter().filter(move |l| {
        let family = if vip.ip.is_ipv4() { l.arp } else { l.ndp };
        family
            && vip
                .interfaces
                .as_ref()
                .is_none_or(|names| names.contains(&l.name))
    })
}

/// The nodes without carrier on every interface name in `names` (none
/// when `names` is empty).
fn down_on_all(view: &dyn View, names: &BTreeSet<String>) -> BTreeSet<String> {
    let mut it = names.iter();
    let Some(first) = it.next() else {
        return BTreeSet::new();
    };
    let mut down = view.without_carrier_on(first);
    for name in it {
        let more = view.without_carrier_on(name);
        down.retain(|n| more.contains(n));
        if down.is_empty() {
            break;
        }
    }
    down
}

/// Elects every desired VIP and lists the interfaces this node (`me`)
/// answers on. Cheap enough to run on every change: one election per VIP,
/// and the carrier sets computed once per distinct interface selection.
pub fn reconcile(me: &str, desired: &Desired, view: &dyn View, links: &[LocalLink]) -> Plan {
    let alive = view.alive();
    let all_names: BTreeSet<String> = links
        .iter()
        .filter(|l| l.arp || l.ndp)
        .map(|l| l.name.clone())
        .collect();
    let mut down_cache: BTreeMap<Option<&BTreeSet<String>>, BTreeSet<String>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    let mut plan = Plan::default();
    for vip in &desired.vips {
        if !seen.insert(vip.ip) {
            continue;
        }
        let down = down_cache
            .entry(vip.interfaces.as_ref())
            .or_insert_with(|| down_on_all(view, vip.interfaces.as_ref().unwrap_or(&all_names)));
        let election = elect(
            vip.election_ip,
            vip.matching_nodes.iter().map(String::as_str),
            ElectionInputs {
                live: Some(&alive),
                ready_endpoints: vip.ready_nodes.as_ref(),
                link_down: Some(down),
                scores: Some(&vip.scores),
            },
        );
        let ifindexes: BTreeSet<u32> = if election.winner() == Some(me) {
            interfaces_for(vip, links).map(|l| l.ifindex).collect()
        } else {
            BTreeSet::new()
        };
        if !ifindexes.is_empty() {
            plan.announce.insert(vip.ip, ifindexes.clone());
        }
        plan.vips.push(VipPlan {
            ip: vip.ip,
            election,
            ifindexes,
        });
    }
    plan
}

/// The VIPs whose winner became `me` between `old` and `new`: the start of
/// a takeover, for the failover histogram. A VIP that `old` did not list
/// (new in the desired set, or the first plan) is no takeover.
pub fn taken_over(me: &str, old: &Plan, new: &Plan) -> Vec<IpAddr> {
    new.vips
        .iter()
        .filter(|v| v.election.winner() == Some(me))
        .filter(|v| {
            old.vips
                .iter()
                .find(|o| o.ip == v.ip)
                .is_some_and(|o| o.election.winner() != Some(me))
        })
        .map(|v| v.ip)
        .collect()
}

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod tests;
