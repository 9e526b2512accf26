//! Adj-RIB-Out: what one session should announce, what it has announced,
//! and the UPDATEs that turn the second into the first.
//!
//! Routes are described independently of any session ([`RouteSpec`]); the
//! session's [`ExportContext`] (AS numbers, next hops, families) turns each
//! into an attribute set. Attribute sets are interned, so thousands of VIPs
//! with the same communities share one allocation.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};
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

/// The routes of one session.
#[derive(Clone, Debug, Default)]
pub struct AdjRibOut {
    desired: BTreeMap<IpNet, Arc<AttrSet>>,
    advertised: BTreeMap<IpNet, Arc<AttrSet>>,
}

impl AdjRibOut {
    pub fn new() -> Self {
        AdjRibOut::default()
    }

    /// Replaces the desired routes with `routes` as exported by `ctx`.
    /// Routes of a family the session cannot carry are left out silently;
    /// routes whose attributes cannot fit in one UPDATE are left out and
    /// returned with the reason, so the caller can report them. A prefix
    /// given twice keeps the union of its communities.
    pub fn set_routes<'a>(
        &mut self,
        ctx: &ExportContext,
        routes: impl IntoIterator<Item = &'a RouteSpec>,
    ) -> Vec<(IpNet, String)> {
        let mut merged: BTreeMap<IpNet, RouteSpec> = BTreeMap::new();
        for r in routes {
            merged
                .entry(r.prefix.trunc())
                .and_modify(|m| {
                    m.communities.extend_from_slice(&r.communities);
                    m.large_communities.extend_from_slice(&r.large_communities);
                    m.local_pref = m.local_pref.max(r.local_pref);
                })
                .or_insert_with(|| r.clone());
        }
        let mut interned: HashMap<AttrSet, Arc<AttrSet>> = HashMap::new();
        // Reuse the Arcs already held so unchanged routes compare by pointer.
        for a in self.desired.values() {
            interned.entry((**a).clone()).or_insert_with(|| a.clone());
        }
        let mut rejected = Vec::new();
        self.desired = merged
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
                let arc = interned
                    .entry(attrs.clone())
                    .or_insert_with(|| Arc::new(attrs))
                    .clone();
                Some((p, arc))
            })
            .collect();
        rejected
    }

    pub fn desired_len(&self) -> usize {
        self.desired.len()
    }

    pub fn advertised_len(&self) -> usize {
        self.advertised.len()
    }

    /// The session went down: the peer no longer has anything from us.
    pub fn reset(&mut self) {
        self.advertised.clear();
    }

    /// UPDATEs that bring the peer from what it has to what it should have:
    /// withdrawals for routes gone, announcements for routes new or changed.
    pub fn diff(&mut self, params: &SessionParams) -> Result<Vec<Bytes>, BuildError> {
        let mut b = UpdateBuilder::new(params.clone());
        let gone: Vec<IpNet> = self
            .advertised
            .keys()
            .filter(|p| !self.desired.contains_key(p))
            .copied()
            .collect();
        let mut changed: Vec<(IpNet, Arc<AttrSet>)> = Vec::new();
        for (p, a) in &self.desired {
            match self.advertised.get(p) {
                Some(old) if Arc::ptr_eq(old, a) || old == a => {}
                _ => changed.push((*p, a.clone())),
            }
        }
        if gone.is_empty() && changed.is_empty() {
            return Ok(Vec::new());
        }
        for p in &gone {
            b.withdraw(Nlri::new(*p));
        }
        for (p, a) in &changed {
            b.announce(a.clone(), Nlri::new(*p));
        }
        let out = b.build()?;
        for p in gone {
            self.advertised.remove(&p);
        }
        self.advertised.extend(changed);
        Ok(out)
    }

    /// Everything in one family again (route refresh), wrapped in BoRR/EoRR
    /// when the peer supports enhanced route refresh (RFC 7313 §4), else
    /// followed by nothing.
    pub fn refresh(
        &mut self,
        family: Family,
        enhanced: bool,
        params: &SessionParams,
    ) -> Result<Vec<Bytes>, BuildError> {
        let in_family = |p: &IpNet| match p {
            IpNet::V4(_) => family == Family::IPV4_UNICAST,
            IpNet::V6(_) => family == Family::IPV6_UNICAST,
        };
        let mut b = UpdateBuilder::new(params.clone());
        for (p, a) in self.desired.iter().filter(|(p, _)| in_family(p)) {
            b.announce(a.clone(), Nlri::new(*p));
        }
        // Routes withdrawn but not yet sent are handled by the next diff.
        let mut out = Vec::new();
        let rr = |subtype| Message::RouteRefresh(RouteRefresh { family, subtype }).to_bytes(params);
        if enhanced {
            out.push(rr(RefreshSubtype::BeginningOfRefresh)?);
        }
        out.extend(b.build()?);
        if enhanced {
            out.push(rr(RefreshSubtype::EndOfRefresh)?);
        }
        for (p, a) in self.desired.iter().filter(|(p, _)| in_family(p)) {
            self.advertised.insert(*p, a.clone());
        }
        Ok(out)
    }

    /// The initial table after the session comes up, then End-of-RIB for
    /// each negotiated family (RFC 4724 §2).
    pub fn initial(
        &mut self,
        families: &[Family],
        params: &SessionParams,
    ) -> Result<Vec<Bytes>, BuildError> {
        self.advertised.clear();
        let mut out = self.diff(params)?;
        for f in families {
            out.push(Message::Update(Update::end_of_rib(*f)).to_bytes(params)?);
        }
        Ok(out)
    }
}
