//! Adj-RIB-Out: what one session should announce, what it has announced,
//! and the UPDATEs that turn the second into the first.
//!
//! Routes are described independently of any session ([`RouteSpec`]) and
//! collected into a [`RouteTable`], built once per change and shared by
//! every peer carrying the same routes. The session's [`ExportContext`]
//! (AS numbers, next hops, families) turns each of the table's few distinct
//! attribute sets into the set the session sends, cached per session.
//!
//! Per session there is no copy of the table: the peer is known to hold
//! the table as exported, except for the prefixes in `pending` (where it
//! holds what the map says: the state before changes it has not been sent
//! yet) and, while the initial table goes out, everything after the
//! initial pass's cursor (where it holds nothing). At 100k routes an idle
//! session costs a few hundred bytes, not two maps of 100k entries.
//!
//! UPDATEs are built lazily. A change only records what the peer holds
//! for the prefixes that changed (and a route refresh or a new session
//! marks work pending); the driver pulls a bounded batch with
//! [`AdjRibOut::next_updates`] whenever its socket has room. A peer that
//! stops reading therefore costs at most one entry per prefix desired or
//! advertised, never a queue of stale UPDATEs: many changes to one prefix
//! collapse into its last state, and a prefix added then removed before it
//! was sent costs nothing.

mod budget;
mod export;
mod table;

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use ipnet::IpNet;

use crate::builder::{AttrSet, BuildError, UpdateBuilder};
use crate::message::Message;
use crate::nlri::Nlri;
use crate::route_refresh::{RefreshSubtype, RouteRefresh};
use crate::types::{Family, SessionParams};
use crate::update::Update;

use export::ExportCache;
pub use export::{ExportContext, RouteSpec};
pub use table::{RouteAttrs, RouteTable};

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

/// How much of the table the peer holds.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Sent {
    /// All of it (as exported), except the prefixes in `pending`.
    All,
    /// Nothing after `after` (nothing at all for `None`). While `active`
    /// the initial pass sends the rest; a session that is down is not.
    Upto { after: Option<IpNet>, active: bool },
}

fn same(a: Option<&Arc<AttrSet>>, b: Option<&Arc<AttrSet>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
        _ => false,
    }
}

/// The routes of one session (see the module docs for what is stored).
#[derive(Debug)]
pub struct AdjRibOut {
    table: Arc<RouteTable>,
    cache: Option<ExportCache>,
    /// Exactly the prefixes (within the sent part) where the peer's copy
    /// differs from the table, with what the peer holds.
    pending: BTreeMap<IpNet, Option<Arc<AttrSet>>>,
    sent: Sent,
    /// Prefixes the peer holds.
    advertised: usize,
    /// Prefixes of the table the session sends.
    desired: usize,
    /// Families owed an End-of-RIB once the initial table is out.
    end_of_rib: Vec<Family>,
    refresh: Vec<RefreshPass>,
}

impl Default for AdjRibOut {
    fn default() -> Self {
        AdjRibOut {
            table: RouteTable::empty(),
            cache: None,
            pending: BTreeMap::new(),
            // A new Adj-RIB-Out owes the peer the whole table (without
            // End-of-RIB until `start`).
            sent: Sent::Upto {
                after: None,
                active: true,
            },
            advertised: 0,
            desired: 0,
            end_of_rib: Vec::new(),
            refresh: Vec::new(),
        }
    }
}

impl AdjRibOut {
    pub fn new() -> Self {
        AdjRibOut::default()
    }

    /// Builds a table of `routes` (from the current one) and sets it; see
    /// [`set_table`](Self::set_table). For one peer; peers sharing routes
    /// should share one table.
    pub fn set_routes<'a>(
        &mut self,
        ctx: &ExportContext,
        routes: impl IntoIterator<Item = &'a RouteSpec>,
    ) -> Vec<(IpNet, String)> {
        let table = Arc::new(RouteTable::build(routes, Some(&self.table)));
        self.set_table(ctx, table)
    }

    /// Makes `table`, as exported by `ctx`, the desired routes and records
    /// what the peer holds for every prefix that changed. Routes of a
    /// family the session cannot carry are left out silently; routes whose
    /// attributes cannot fit in one UPDATE are left out and returned with
    /// the reason, so the caller can report them.
    pub fn set_table(
        &mut self,
        ctx: &ExportContext,
        table: Arc<RouteTable>,
    ) -> Vec<(IpNet, String)> {
        let same_ctx = self.cache.as_ref().is_some_and(|c| c.ctx == *ctx);
        let cache = ExportCache::build(ctx, &table, self.cache.as_ref().map(|c| (c, &*self.table)));
        let old_table = std::mem::replace(&mut self.table, table);
        let old_cache = self.cache.replace(cache);
        let (new_table, new_cache) = (&self.table, self.cache.as_ref());
        let rejected = new_cache.map(|c| c.rejected(new_table)).unwrap_or_default();
        let Some(new_cache) = new_cache else {
            return rejected;
        };
        let want_old = |p: &IpNet| {
            old_cache
                .as_ref()
                .and_then(|c| c.of(&old_table, p))
                .cloned()
        };
        let nothing_sent =
            self.pending.is_empty() && matches!(self.sent, Sent::Upto { after: None, .. });
        if nothing_sent {
            // The peer holds nothing: there is nothing to compare.
            self.desired = new_cache.count(new_table);
        } else if let Some(changed) = new_table
            .changed_since(old_table.generation())
            .filter(|_| same_ctx)
        {
            // The table was built from the one the peer is on: only the
            // prefixes it lists can differ.
            for p in changed {
                let old = want_old(p);
                let new = new_cache.of(new_table, p).cloned();
                self.desired = (self.desired + usize::from(new.is_some()))
                    .saturating_sub(usize::from(old.is_some()));
                note(&mut self.pending, &self.sent, *p, old, new);
            }
        } else {
            let mut changes = Vec::new();
            table::merge_walk(&old_table, new_table, |p, i, j| {
                let old = i.and_then(|i| old_cache.as_ref().and_then(|c| c.at(&old_table, i)));
                let new = j.and_then(|j| new_cache.at(new_table, j));
                if !same(old, new) {
                    changes.push((p, old.cloned(), new.cloned()));
                }
                true
            });
            if self.pending.is_empty() {
                // Sorted and unique: one bulk build instead of a search
                // per prefix (a withdrawal of everything, say).
                let sent = &self.sent;
                self.pending = changes
                    .into_iter()
                    .filter(|(p, _, _)| !unsent_at(sent, p))
                    .map(|(p, old, _)| (p, old))
                    .collect();
            } else {
                for (p, old, new) in changes {
                    note(&mut self.pending, &self.sent, p, old, new);
                }
            }
            self.desired = new_cache.count(new_table);
        }
        rejected
    }

    /// The shared table the session exports from.
    pub fn table(&self) -> &Arc<RouteTable> {
        &self.table
    }

    pub fn desired_len(&self) -> usize {
        self.desired
    }

    pub fn advertised_len(&self) -> usize {
        self.advertised
    }

    /// Prefixes marked for sending (an upper bound on the UPDATE work
    /// left; never more than one entry per prefix desired or advertised).
    pub fn dirty_len(&self) -> usize {
        self.pending.len() + self.unsent()
    }

    /// Table entries the initial pass has still to go through.
    fn unsent(&self) -> usize {
        match &self.sent {
            Sent::Upto {
                after,
                active: true,
            } => self.table.len() - self.table.position_after(after.as_ref()),
            _ => 0,
        }
    }

    /// True while [`next_updates`](Self::next_updates) has something to
    /// give: changed prefixes, an End-of-RIB or a route refresh.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
            || self.unsent() > 0
            || !self.end_of_rib.is_empty()
            || !self.refresh.is_empty()
    }

    /// True until every End-of-RIB after the initial table has been given
    /// out, i.e. while the initial table is still being sent.
    pub fn owes_end_of_rib(&self) -> bool {
        !self.end_of_rib.is_empty()
    }

    /// The session went down: the peer no longer has anything from us, and
    /// nothing is owed to it.
    pub fn reset(&mut self) {
        self.pending.clear();
        self.sent = Sent::Upto {
            after: None,
            active: false,
        };
        self.advertised = 0;
        self.end_of_rib.clear();
        self.refresh.clear();
    }

    /// A session came up: the whole table is owed, then End-of-RIB for
    /// each negotiated family (RFC 4724 §2).
    pub fn start(&mut self, families: &[Family]) {
        self.reset();
        self.sent = Sent::Upto {
            after: None,
            active: true,
        };
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
    /// desired table: withdrawals and announcements of changed prefixes
    /// and of the initial table (grouped by attribute set, each UPDATE
    /// filled as far as the batch allows), End-of-RIB once the initial
    /// table is out, then route refresh passes. Empty when nothing is
    /// pending or the budget is 0.
    pub fn next_updates(
        &mut self,
        params: &SessionParams,
        max_messages: usize,
    ) -> Result<Vec<Bytes>, BuildError> {
        let mut out = self.dirty_batch(params, max_messages)?;
        let synced = |r: &Self| r.pending.is_empty() && r.unsent() == 0;
        // RFC 4724 §2: End-of-RIB follows the initial table, one per
        // negotiated family, once every prefix owed has been sent.
        while synced(self) && out.len() < max_messages {
            let Some(f) = self.end_of_rib.first().copied() else {
                break;
            };
            out.push(Message::Update(Update::end_of_rib(f)).to_bytes(params)?);
            self.end_of_rib.remove(0);
        }
        while synced(self) && !self.refresh.is_empty() && out.len() < max_messages {
            let room = max_messages - out.len();
            let before = out.len();
            self.refresh_batch(params, room, &mut out)?;
            if out.len() == before {
                break;
            }
        }
        Ok(out)
    }

    /// Changed prefixes first, then the initial pass, in one budget.
    fn dirty_batch(
        &mut self,
        params: &SessionParams,
        max: usize,
    ) -> Result<Vec<Bytes>, BuildError> {
        let mut budget = budget::Budget::new(params, max);
        let mut b = UpdateBuilder::new(params.clone());
        let mut taken = Vec::new();
        let mut full = false;
        let cache = self.cache.as_ref();
        for (p, have) in &self.pending {
            let want = cache.and_then(|c| c.of(&self.table, p));
            match (want, have) {
                (w, h) if same(w, h.as_ref()) => {}
                (None, Some(_)) => {
                    if !budget.take(p, None) {
                        full = true;
                        break;
                    }
                    b.withdraw(Nlri::new(*p));
                }
                (Some(w), _) => {
                    if !budget.take(p, Some(w)) {
                        full = true;
                        break;
                    }
                    b.announce(w.clone(), Nlri::new(*p));
                }
                (None, None) => {}
            }
            taken.push((want.is_some(), have.is_some()));
        }
        // The initial pass, from where it stopped.
        let mut cursor = None;
        if let (
            false,
            Sent::Upto {
                after,
                active: true,
            },
            Some(cache),
        ) = (full, &self.sent, cache)
        {
            let mut i = self.table.position_after(after.as_ref());
            let mut last = *after;
            while let Some(p) = self.table.prefix_at(i) {
                if let Some(w) = cache.at(&self.table, i) {
                    if !budget.take(p, Some(w)) {
                        break;
                    }
                    b.announce(w.clone(), Nlri::new(*p));
                    self.advertised += 1;
                }
                last = Some(*p);
                i += 1;
            }
            cursor = Some((last, i >= self.table.len()));
        }
        let out = if b.is_empty() { Vec::new() } else { b.build()? };
        // What was taken is the start of `pending`, in order.
        match self.pending.keys().nth(taken.len()).copied() {
            Some(first_left) => self.pending = self.pending.split_off(&first_left),
            None => self.pending.clear(),
        }
        for (want, have) in taken {
            self.advertised =
                (self.advertised + usize::from(want)).saturating_sub(usize::from(have));
        }
        match cursor {
            Some((_, true)) => self.sent = Sent::All,
            Some((after, false)) => {
                self.sent = Sent::Upto {
                    after,
                    active: true,
                }
            }
            None => {}
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
        let mut i = match after {
            Some(p) => self.table.position_after(Some(&p)),
            None if family == Family::IPV6_UNICAST => self
                .table
                .position_from(&IpNet::V6(ipnet::Ipv6Net::default())),
            None => 0,
        };
        let mut b = UpdateBuilder::new(params.clone());
        let mut last = after;
        let mut finished = true;
        if let Some(cache) = self.cache.as_ref() {
            while let Some(p) = self.table.prefix_at(i) {
                if budget::family_of(p) != family {
                    break;
                }
                if let Some(a) = cache.at(&self.table, i) {
                    if !budget.take(p, Some(a)) {
                        finished = false;
                        break;
                    }
                    b.announce(a.clone(), Nlri::new(*p));
                }
                last = Some(*p);
                i += 1;
            }
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
        // The peer held the table already (a pass runs only when nothing
        // else is owed), so re-sending changes nothing we track.
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

/// True if the peer holds nothing for `p` because the initial pass has
/// not reached it.
fn unsent_at(sent: &Sent, p: &IpNet) -> bool {
    match sent {
        Sent::Upto { after, .. } => after.is_none_or(|a| *p > a),
        Sent::All => false,
    }
}

/// Records a change of `p` from `old` to `new` (as the session exports
/// them): keeps in `pending` what the peer holds while it differs.
fn note(
    pending: &mut BTreeMap<IpNet, Option<Arc<AttrSet>>>,
    sent: &Sent,
    p: IpNet,
    old: Option<Arc<AttrSet>>,
    new: Option<Arc<AttrSet>>,
) {
    if unsent_at(sent, &p) {
        // Not sent yet: the initial pass sends what the table holds then.
        return;
    }
    match pending.entry(p) {
        Entry::Occupied(e) => {
            if same(e.get().as_ref(), new.as_ref()) {
                e.remove();
            }
        }
        Entry::Vacant(e) => {
            if !same(old.as_ref(), new.as_ref()) {
                e.insert(old);
            }
        }
    }
}
