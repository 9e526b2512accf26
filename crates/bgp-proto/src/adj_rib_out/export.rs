//! What a route looks like on one session: [`ExportContext`] turns the
//! session-independent attributes of a route into the attribute set the
//! session sends, and [`ExportCache`] keeps one such set per attribute set
//! of the shared table and family, interned by value.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::IpNet;

use super::table::{RouteAttrs, RouteTable};
use crate::attribute::{AsPath, Community, LargeCommunity, NextHop, Origin, PathAttribute};
use crate::builder::AttrSet;
use crate::nlri::Nlri;
use crate::types::{Family, SessionParams};

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
    fn next_hop(&self, v6_prefix: bool) -> Option<NextHop> {
        let v6 = |g: Ipv6Addr| NextHop::V6 {
            global: g,
            link_local: self.link_local_v6,
        };
        match v6_prefix {
            false => {
                if !self.families.contains(&Family::IPV4_UNICAST) {
                    return None;
                }
                match (self.next_hop_v4, self.next_hop_v6) {
                    (Some(a), _) => Some(NextHop::V4(a)),
                    (None, Some(g)) if self.extended_next_hop => Some(v6(g)),
                    _ => None,
                }
            }
            true => {
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
        let mut a = RouteAttrs {
            communities: spec.communities.clone(),
            large_communities: spec.large_communities.clone(),
            local_pref: spec.local_pref,
        };
        a.communities.sort_unstable();
        a.communities.dedup();
        a.large_communities.sort_unstable();
        a.large_communities.dedup();
        self.export(matches!(spec.prefix, IpNet::V6(_)), &a)
    }

    /// The attributes this session sends for a route with `route`'s
    /// (normalized) attributes, for an IPv6 prefix or an IPv4 one.
    pub fn export(&self, v6_prefix: bool, route: &RouteAttrs) -> Option<AttrSet> {
        let next_hop = self.next_hop(v6_prefix)?;
        let mut attrs = Vec::with_capacity(5);
        attrs.push(PathAttribute::Origin(Origin::Igp));
        if self.ebgp {
            attrs.push(PathAttribute::AsPath(AsPath::sequence([self.local_as])));
        } else {
            attrs.push(PathAttribute::AsPath(AsPath::default()));
            attrs.push(PathAttribute::LocalPref(route.local_pref.unwrap_or(100)));
        }
        if !route.communities.is_empty() {
            attrs.push(PathAttribute::Communities(route.communities.clone()));
        }
        // RFC 6793 §4.2.2: toward a 2-octet speaker, a 4-octet AS travels as
        // AS_TRANS in AS_PATH plus the real path in AS4_PATH.
        if self.ebgp && !self.params.four_octet_as && self.local_as > u32::from(u16::MAX) {
            attrs.push(PathAttribute::As4Path(AsPath::sequence([self.local_as])));
        }
        if !route.large_communities.is_empty() {
            attrs.push(PathAttribute::LargeCommunities(
                route.large_communities.clone(),
            ));
        }
        attrs.shrink_to_fit();
        Some(AttrSet {
            attributes: attrs,
            next_hop,
        })
    }
}

/// One exported attribute set and the UPDATE bytes it needs besides the
/// prefix (to tell whether a prefix with it fits in one message).
#[derive(Clone, Debug)]
pub(super) struct Exported {
    pub(super) attrs: Arc<AttrSet>,
    fixed: usize,
}

/// The session's attribute sets for the attribute sets of one table, by
/// table attribute id and family (IPv4, IPv6); `None` where the session
/// cannot carry the family.
#[derive(Debug)]
pub(super) struct ExportCache {
    pub(super) ctx: ExportContext,
    by_id: Vec<[Option<Exported>; 2]>,
    /// Some attribute set needs more than the smallest UPDATE room: the
    /// table must be scanned for prefixes that do not fit.
    may_reject: bool,
}

/// The longest prefix encoding: a /128 with an ADD-PATH identifier.
const MAX_PREFIX_LEN: usize = 4 + 1 + 16;

impl ExportCache {
    /// The sets for `table` on the session `ctx`; sets of `old` (same
    /// session) are reused for equal route attributes, so unchanged routes
    /// keep their allocation and compare by pointer.
    pub(super) fn build(
        ctx: &ExportContext,
        table: &RouteTable,
        old: Option<(&ExportCache, &RouteTable)>,
    ) -> ExportCache {
        let old = old.filter(|(c, _)| c.ctx == *ctx);
        let reuse: HashMap<&RouteAttrs, &[Option<Exported>; 2]> = old
            .map(|(c, t)| {
                t.attr_sets()
                    .iter()
                    .zip(&c.by_id)
                    .map(|(a, e)| (a.as_ref(), e))
                    .collect()
            })
            .unwrap_or_default();
        let mut interned: HashSet<Arc<AttrSet>> = HashSet::new();
        let max = ctx.params.max_message_len();
        let mut may_reject = false;
        // Which families each attribute set is used with: an IPv4-only
        // table needs no IPv6 sets (half the memory with unique sets).
        let mut used = vec![[false; 2]; table.attr_sets().len()];
        for (i, p) in table.prefixes().iter().enumerate() {
            if let Some(u) = table.attr_id_at(i).and_then(|id| used.get_mut(id as usize)) {
                u[usize::from(matches!(p, IpNet::V6(_)))] = true;
            }
        }
        let by_id = table
            .attr_sets()
            .iter()
            .zip(&used)
            .map(|(a, used)| {
                if let Some(e) = reuse.get(a.as_ref()) {
                    if e.iter().zip(used).all(|(e, u)| e.is_some() || !u) {
                        return (*e).clone();
                    }
                }
                let mut one = |v6: bool| {
                    if !used[usize::from(v6)] {
                        return None;
                    }
                    let set = ctx.export(v6, a)?;
                    let family = if v6 {
                        Family::IPV6_UNICAST
                    } else {
                        Family::IPV4_UNICAST
                    };
                    let fixed = crate::builder::fixed_len(&ctx.params, &set, family);
                    let attrs = match interned.get(&set) {
                        Some(s) => s.clone(),
                        None => {
                            let s = Arc::new(set);
                            interned.insert(s.clone());
                            s
                        }
                    };
                    Some(Exported { attrs, fixed })
                };
                [one(false), one(true)]
            })
            .collect::<Vec<_>>();
        for e in by_id.iter().flatten().flatten() {
            may_reject |= e.fixed + MAX_PREFIX_LEN > max;
        }
        ExportCache {
            ctx: ctx.clone(),
            by_id,
            may_reject,
        }
    }

    /// What the session sends for entry `i` of `table` (the table this
    /// cache was built for), or `None`: family not carried, or too big.
    pub(super) fn at<'c>(&'c self, table: &RouteTable, i: usize) -> Option<&'c Arc<AttrSet>> {
        let prefix = table.prefix_at(i)?;
        let id = table.attr_id_at(i)?;
        let v6 = matches!(prefix, IpNet::V6(_));
        let e = self.by_id.get(id as usize)?[usize::from(v6)].as_ref()?;
        let family = if v6 {
            Family::IPV6_UNICAST
        } else {
            Family::IPV4_UNICAST
        };
        let len = Nlri::new(*prefix).encoded_len(self.ctx.params.sends_path_id(family));
        (e.fixed + len <= self.ctx.params.max_message_len()).then_some(&e.attrs)
    }

    /// What the session sends for `prefix` of `table`.
    pub(super) fn of<'c>(&'c self, table: &RouteTable, prefix: &IpNet) -> Option<&'c Arc<AttrSet>> {
        let i = table.prefixes().binary_search(prefix).ok()?;
        self.at(table, i)
    }

    /// Prefixes of `table` whose attributes cannot fit in one UPDATE, with
    /// the reason.
    pub(super) fn rejected(&self, table: &RouteTable) -> Vec<(IpNet, String)> {
        if !self.may_reject {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (i, p) in table.prefixes().iter().enumerate() {
            let Some(id) = table.attr_id_at(i) else {
                continue;
            };
            let v6 = matches!(p, IpNet::V6(_));
            let Some(Some(e)) = self.by_id.get(id as usize).map(|e| &e[usize::from(v6)]) else {
                continue;
            };
            if self.at(table, i).is_none() {
                let len: usize = e
                    .attrs
                    .attributes
                    .iter()
                    .map(|a| a.encoded_len(&self.ctx.params))
                    .sum();
                out.push((
                    *p,
                    format!(
                        "its path attributes ({len} bytes) do not fit in a {}-byte UPDATE",
                        self.ctx.params.max_message_len()
                    ),
                ));
            }
        }
        out
    }

    /// How many prefixes of `table` the session sends.
    pub(super) fn count(&self, table: &RouteTable) -> usize {
        (0..table.len())
            .filter(|i| self.at(table, *i).is_some())
            .count()
    }
}
