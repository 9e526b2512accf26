//! Adj-RIB-Out: what one session should announce, what it has announced,
//! and the UPDATEs that turn the second into the first.
//!
//! Routes are described independently of any session ([`RouteSpec`]); the
//! session's [`ExportContext`] (AS numbers, next hops, families) turns each
//! into an attribute set. Attribute sets are interned, so thousands of VIPs
//! with the same communities share one allocation.
//!
//! UPDATEs are built lazily. A change only marks prefixes dirty (and a
//! route refresh or a new session marks work pending); the driver pulls a
//! bounded batch with [`AdjRibOut::next_updates`] whenever its socket has
//! room. A peer that stops reading therefore costs the dirty set (at most
//! one entry per prefix desired or advertised), never a queue of stale
//! UPDATEs: many changes to one prefix collapse into its last state, and a
//! prefix added then removed before it was sent costs nothing.
//!
//! Per-session state is only `advertised`, the dirty set and the pending
//! markers; `desired` is the part a later version can share between peers.

mod budget;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use ipnet::IpNet;

use crate::attribute::{AsPath, Community, LargeCommunity, NextHop, Origin, PathAttribute};
use crate::builder::{AttrSet, BuildError, UpdateBuilder};
use crate::message::Message;
use crate::nlri::Nlri;
use crate::route_refresh::{RefreshSubtype, RouteRefresh};
use crate::types::{Family, SessionParams};
use crate::update::Update;

/// A route to announce, before any session-specific attribute is added.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteSpec {
    pub prefix: IpNet,
    pub communities: Vec<Community>,
    pub large_communities: Vec<LargeCommunity>,
    /// Sent on iBGP sessions only; 100 when unset.
    pub local_pref: Option<u32>,
}

impl RouteSpec {
    pub fn new(prefix: IpNet) -> Self {
        RouteSpec {
            prefix: prefix.trunc(),
            communities: Vec::new(),
            large_communities: Vec::new(),
            local_pref: None,
        }
    }
}

/// The session facts that shape the attributes of every route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportContext {
    pub local_as: u32,
    pub ebgp: bool,
    /// Our IPv4 address on the session, if it has one.
    pub next_hop_v4: Option<Ipv4Addr>,
    /// Our global IPv6 address on the session, if it has one.
    pub next_hop_v6: Option<Ipv6Addr>,
    /// Our link-local address, when the peer is on the same link.
    pub link_local_v6: Option<Ipv6Addr>,
    /// Families negotiated on the session.
    pub families: Vec<Family>,
    /// IPv4 routes may use an IPv6 next hop (RFC 8950 negotiated).
    pub extended_next_hop: bool,
    pub params: SessionParams,
}

impl ExportContext {
    fn next_hop(&self, prefix: &IpNet) -> Option<NextHop> {
        let v6 = |g: Ipv6Addr| NextHop::V6 {
            global: g,
            link_local: self.link_local_v6,
        };
        match prefix {
            IpNet::V4(_) => {
                if !self.families.contains(&Family::IPV4_UNICAST) {
                    return None;
                }
                match (self.next_hop_v4, self.next_hop_v6) {
                    (Some(a), _) => Some(NextHop::V4(a)),
                    (None, Some(g)) if self.extended_next_hop => Some(v6(g)),
                    _ => None,
                }
            }
            IpNet::V6(_) => {
                if !self.families.contains(&Family::IPV6_UNICAST) {
                    return None;
                }
                match (self.next_hop_v6, self.next_hop_v4) {
                    (Some(g), _) => Some(v6(g)),
                    // An IPv6 route over an IPv4-only session: the
                    // IPv4-mapped form of our address (RFC 4291 §2.5.5.2).
                    (None, Some(a)) => Some(NextHop::V6 {
                        global: a.to_ipv6_mapped(),
                        link_local: None,
                    }),
                    _ => None,
                }
            }
        }
    }

    /// The attributes this session sends for `spec`, or `None` if the
    /// session cannot carry its family.
    pub fn attributes(&self, spec: &RouteSpec) -> Option<AttrSet> {
        let next_hop = self.next_hop(&spec.prefix)?;
        let mut attrs = vec![PathAttribute::Origin(Origin::Igp)];
        if self.ebgp {
            attrs.push(PathAttribute::AsPath(AsPath::sequence([self.local_as])));
        } else {
            attrs.push(PathAttribute::AsPath(AsPath::default()));
            attrs.push(PathAttribute::LocalPref(spec.local_pref.unwrap_or(100)));
        }
        if !spec.communities.is_empty() {
            let mut c = spec.communities.clone();
            c.sort_unstable();
            c.dedup();
            attrs.push(PathAttribute::Communities(c));
        }
        // RFC 6793 §4.2.2: toward a 2-octet speaker, a 4-octet AS travels as
        // AS_TRANS in AS_PATH plus the real path in AS4_PATH.
        if self.ebgp && !self.params.four_octet_as && self.local_as > u32::from(u16::MAX) {
            attrs.push(PathAttribute::As4Path(AsPath::sequence([self.local_as])));
        }
        if !spec.large_communities.is_empty() {
            let mut c = spec.large_communities.clone();
            c.sort_unstable();
            c.dedup();
            attrs.push(PathAttribute::LargeCommunities(c));
        }
        Some(AttrSet {
            attributes: attrs,
            next_hop,
        })
    }
}

/// A route refresh being answered for one family (RFC 2918, RFC 7313).
#[derive(Clone, Debug, PartialEq, Eq)]
struct RefreshPass {
    family: Family,
    enhanced: bool,
    /// The last prefix re-sent, once the pass has started (BoRR sent).
    started: Option<Option<IpNet>>,
    /// Another request arrived after this pass started: run it once more.
    again: bool,
}

/// The routes of one session.
#[derive(Clone, Debug, Default)]
pub struct AdjRibOut {
    desired: BTreeMap<IpNet, Arc<AttrSet>>,
    advertised: BTreeMap<IpNet, Arc<AttrSet>>,
    /// Exactly the prefixes whose desired state differs from what the peer
    /// has (between pulls; a pull removes what it sent).
    dirty: BTreeSet<IpNet>,
    /// Families owed an End-of-RIB once the initial table is out.
    end_of_rib: Vec<Family>,
    refresh: Vec<RefreshPass>,
}

impl AdjRibOut {
    pub fn new() -> Self {
        AdjRibOut::default()
    }

    /// Replaces the desired routes with `routes` as exported by `ctx` and
    /// marks every prefix that changed. Routes of a family the session
    /// cannot carry are left out silently; routes whose attributes cannot
    /// fit in one UPDATE are left out and returned with the reason, so the
    /// caller can report them. A prefix given twice keeps the union of its
    /// communities.
    pub fn set_routes<'a>(
        &mut self,
        ctx: &ExportContext,
        routes: impl IntoIterator<Item = &'a RouteSpec>,
    ) -> Vec<(IpNet, String)> {
        // Borrowed unless a prefix comes twice: no copy of the whole list.
        let mut merged: BTreeMap<IpNet, Cow<'a, RouteSpec>> = BTreeMap::new();
        for r in routes {
            merged
                .entry(r.prefix.trunc())
                .and_modify(|m| {
                    let m = m.to_mut();
                    m.communities.extend_from_slice(&r.communities);
                    m.large_communities.extend_from_slice(&r.large_communities);
                    m.local_pref = m.local_pref.max(r.local_pref);
                })
                .or_insert(Cow::Borrowed(r));
        }
        // Interned sets, looked up by value through the Arc; reusing the
        // Arcs already held makes unchanged routes compare by pointer.
        let mut interned: HashSet<Arc<AttrSet>> = self.desired.values().cloned().collect();
        let mut rejected = Vec::new();
        let desired: BTreeMap<IpNet, Arc<AttrSet>> = merged
            .into_iter()
            .filter_map(|(p, spec)| {
                let attrs = ctx.attributes(&spec)?;
                if !crate::builder::fits(&ctx.params, &attrs, &Nlri::new(p)) {
                    let len: usize = attrs
                        .attributes
                        .iter()
                        .map(|a| a.encoded_len(&ctx.params))
                        .sum();
                    rejected.push((
                        p,
                        format!(
                            "its path attributes ({len} bytes) do not fit in a {}-byte UPDATE",
                            ctx.params.max_message_len()
                        ),
                    ));
                    return None;
                }
                let arc = match interned.get(&attrs) {
                    Some(a) => a.clone(),
                    None => {
                        let a = Arc::new(attrs);
                        interned.insert(a.clone());
                        a
                    }
                };
                Some((p, arc))
            })
            .collect();
        drop(interned);
        // Keep `dirty` exactly the prefixes where the peer's copy differs,
        // so churn between two pulls never grows it beyond one entry per
        // prefix desired or advertised.
        let mut touched: Vec<IpNet> = Vec::new();
        for (p, a) in &desired {
            match self.desired.get(p) {
                Some(old) if Arc::ptr_eq(old, a) => {}
                _ => touched.push(*p),
            }
        }
        touched.extend(self.desired.keys().filter(|p| !desired.contains_key(p)));
        self.desired = desired;
        for p in touched {
            let same = match (self.desired.get(&p), self.advertised.get(&p)) {
                (None, None) => true,
                (Some(w), Some(h)) => Arc::ptr_eq(w, h) || w == h,
                _ => false,
            };
            if same {
                self.dirty.remove(&p);
            } else {
                self.dirty.insert(p);
            }
        }
        rejected
    }

    pub fn desired_len(&self) -> usize {
        self.desired.len()
    }

    pub fn advertised_len(&self) -> usize {
        self.advertised.len()
    }

    /// Prefixes marked for sending (an upper bound on the UPDATE work
    /// left; never more than one entry per prefix desired or advertised).
    pub fn dirty_len(&self) -> usize {
        self.dirty.len()
    }

    /// True while [`next_updates`](Self::next_updates) has something to
    /// give: changed prefixes, an End-of-RIB or a route refresh.
    pub fn has_pending(&self) -> bool {
        !self.dirty.is_empty() || !self.end_of_rib.is_empty() || !self.refresh.is_empty()
    }

    /// True until every End-of-RIB after the initial table has been given
    /// out, i.e. while the initial table is still being sent.
    pub fn owes_end_of_rib(&self) -> bool {
        !self.end_of_rib.is_empty()
    }

    /// The session went down: the peer no longer has anything from us, and
    /// nothing is owed to it.
    pub fn reset(&mut self) {
        self.advertised.clear();
        self.dirty.clear();
        self.end_of_rib.clear();
        self.refresh.clear();
    }

    /// A session came up: the whole table is owed, then End-of-RIB for
    /// each negotiated family (RFC 4724 §2).
    pub fn start(&mut self, families: &[Family]) {
        self.reset();
        self.dirty.extend(self.desired.keys().copied());
        self.end_of_rib = families.to_vec();
    }

    /// The peer asked for `family` again. A request that arrives while a
    /// pass for the family is waiting joins it; one that arrives while a
    /// pass is under way costs one more pass after it, however many come.
    pub fn request_refresh(&mut self, family: Family, enhanced: bool) {
        match self.refresh.iter_mut().find(|r| r.family == family) {
            Some(r) if r.started.is_some() => r.again = true,
            Some(_) => {}
            None => self.refresh.push(RefreshPass {
                family,
                enhanced,
                started: None,
                again: false,
            }),
        }
    }

    /// At most `max_messages` messages that bring the peer closer to the
    /// desired table: withdrawals and announcements of dirty prefixes
    /// (grouped by attribute set, each UPDATE filled as far as the batch
    /// allows), End-of-RIB once the initial table is out, then route
    /// refresh passes. Empty when nothing is pending or the budget is 0.
    pub fn next_updates(
        &mut self,
        params: &SessionParams,
        max_messages: usize,
    ) -> Result<Vec<Bytes>, BuildError> {
        let mut out = self.dirty_batch(params, max_messages)?;
        // RFC 4724 §2: End-of-RIB follows the initial table, one per
        // negotiated family, once every prefix owed has been sent.
        while self.dirty.is_empty() && out.len() < max_messages {
            let Some(f) = self.end_of_rib.first().copied() else {
                break;
            };
            out.push(Message::Update(Update::end_of_rib(f)).to_bytes(params)?);
            self.end_of_rib.remove(0);
        }
        while self.dirty.is_empty() && !self.refresh.is_empty() && out.len() < max_messages {
            let room = max_messages - out.len();
            let before = out.len();
            self.refresh_batch(params, room, &mut out)?;
            if out.len() == before {
                break;
            }
        }
        Ok(out)
    }

    fn dirty_batch(
        &mut self,
        params: &SessionParams,
        max: usize,
    ) -> Result<Vec<Bytes>, BuildError> {
        let mut budget = budget::Budget::new(params, max);
        let mut b = UpdateBuilder::new(params.clone());
        let mut taken = Vec::new();
        for p in &self.dirty {
            let want = self.desired.get(p);
            let have = self.advertised.get(p);
            match (want, have) {
                (None, None) => {}
                (Some(w), Some(h)) if Arc::ptr_eq(w, h) || w == h => {}
                (None, Some(_)) => {
                    if !budget.take(p, None) {
                        break;
                    }
                    b.withdraw(Nlri::new(*p));
                }
                (Some(w), _) => {
                    if !budget.take(p, Some(w)) {
                        break;
                    }
                    b.announce(w.clone(), Nlri::new(*p));
                }
            }
            taken.push(*p);
        }
        let out = if b.is_empty() { Vec::new() } else { b.build()? };
        for p in taken {
            self.dirty.remove(&p);
            match self.desired.get(&p) {
                Some(a) => {
                    self.advertised.insert(p, a.clone());
                }
                None => {
                    self.advertised.remove(&p);
                }
            }
        }
        Ok(out)
    }

    /// Continues the first refresh pass with at most `max` messages.
    fn refresh_batch(
        &mut self,
        params: &SessionParams,
        max: usize,
        out: &mut Vec<Bytes>,
    ) -> Result<(), BuildError> {
        let Some(pass) = self.refresh.first().cloned() else {
            return Ok(());
        };
        let family = pass.family;
        let rr = |subtype| Message::RouteRefresh(RouteRefresh { family, subtype }).to_bytes(params);
        let mut budget = budget::Budget::new(params, max);
        let mut begin = Vec::new();
        let after = match pass.started {
            Some(after) => after,
            None => {
                // RFC 7313 §4: an enhanced refresh starts with BoRR.
                if pass.enhanced {
                    if !budget.take_extra(1) {
                        return Ok(());
                    }
                    begin.push(rr(RefreshSubtype::BeginningOfRefresh)?);
                }
                None
            }
        };
        // Prefixes sort IPv4 before IPv6, so a family is one contiguous run.
        let lower = match after {
            Some(p) => Bound::Excluded(p),
            None if family == Family::IPV6_UNICAST => {
                Bound::Included(IpNet::V6(ipnet::Ipv6Net::default()))
            }
            None => Bound::Unbounded,
        };
        let mut b = UpdateBuilder::new(params.clone());
        let mut last = after;
        let mut finished = true;
        for (p, a) in self.desired.range((lower, Bound::Unbounded)) {
            if budget::family_of(p) != family {
                break;
            }
            if !budget.take(p, Some(a)) {
                finished = false;
                break;
            }
            b.announce(a.clone(), Nlri::new(*p));
            last = Some(*p);
        }
        // RFC 7313 §4: ... and ends with EoRR once every route is re-sent.
        let end = finished && pass.enhanced;
        if end && !budget.take_extra(1) {
            finished = false;
        }
        let updates = if b.is_empty() { Vec::new() } else { b.build()? };
        out.extend(begin);
        out.extend(updates);
        if end && finished {
            out.push(rr(RefreshSubtype::EndOfRefresh)?);
        }
        // Re-sent routes are what the peer has now.
        let resent = (lower, last.map_or(Bound::Unbounded, Bound::Included));
        if last.is_some() {
            for (p, a) in self.desired.range(resent) {
                if budget::family_of(p) == family {
                    self.advertised.insert(*p, a.clone());
                }
            }
        }
        let r = &mut self.refresh[0];
        if finished {
            if r.again {
                r.again = false;
                r.started = None;
            } else {
                self.refresh.remove(0);
            }
        } else {
            r.started = Some(last);
        }
        Ok(())
    }
}
