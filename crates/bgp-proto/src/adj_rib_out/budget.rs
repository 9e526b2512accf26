//! Counts, before building, how many UPDATEs a batch of routes will take,
//! so that `AdjRibOut::next_updates` never returns more than it was asked.
//!
//! The count simulates the builder's greedy fill per group (withdrawals of
//! one family, or one attribute set and family) with a capacity that is
//! never larger than the builder's, so the builder needs at most as many
//! messages as counted here.

use std::collections::HashMap;
use std::sync::Arc;

use ipnet::IpNet;

use crate::builder::AttrSet;
use crate::nlri::Nlri;
use crate::types::{Family, SessionParams, HEADER_LEN};

/// Which run of UPDATEs a route lands in.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Group {
    Withdraw(Family),
    /// Keyed by the interned attribute set's address (sets are interned
    /// per table, so equal sets share one pointer).
    Announce(usize, Family),
}

struct Fill {
    capacity: usize,
    used: usize,
    messages: usize,
}

pub(super) struct Budget<'p> {
    params: &'p SessionParams,
    max_messages: usize,
    messages: usize,
    groups: HashMap<Group, Fill>,
}

pub(super) fn family_of(prefix: &IpNet) -> Family {
    match prefix {
        IpNet::V4(_) => Family::IPV4_UNICAST,
        IpNet::V6(_) => Family::IPV6_UNICAST,
    }
}

impl<'p> Budget<'p> {
    pub(super) fn new(params: &'p SessionParams, max_messages: usize) -> Self {
        Budget {
            params,
            max_messages,
            messages: 0,
            groups: HashMap::new(),
        }
    }

    /// Room for `n` more messages that are not UPDATEs (BoRR, EoRR, EoR)?
    pub(super) fn take_extra(&mut self, n: usize) -> bool {
        if self.messages + n > self.max_messages {
            return false;
        }
        self.messages += n;
        true
    }

    /// Counts `prefix` (announced with `attrs`, or withdrawn when `None`);
    /// false, and nothing counted, if it would exceed the budget.
    pub(super) fn take(&mut self, prefix: &IpNet, attrs: Option<&Arc<AttrSet>>) -> bool {
        let family = family_of(prefix);
        let len = Nlri::new(*prefix).encoded_len(self.params.sends_path_id(family));
        let max = self.params.max_message_len();
        let (group, fixed) = match attrs {
            // Header, both length fields, and the MP_UNREACH_NLRI header
            // (extended length) with AFI/SAFI even for IPv4: an over-count.
            None => (Group::Withdraw(family), HEADER_LEN + 4 + 4 + 3),
            Some(a) => {
                let attrs_len: usize = a
                    .attributes
                    .iter()
                    .map(|x| x.encoded_len(self.params))
                    .sum();
                // Always counted as MP_REACH_NLRI, which is never smaller
                // than NEXT_HOP plus the plain NLRI field.
                let fixed = HEADER_LEN + 4 + attrs_len + 4 + 5 + a.next_hop.encoded_len();
                (Group::Announce(Arc::as_ptr(a) as usize, family), fixed)
            }
        };
        let fill = self.groups.entry(group).or_insert(Fill {
            capacity: max.saturating_sub(fixed).max(len),
            used: 0,
            messages: 0,
        });
        let opens_message = fill.messages == 0 || fill.used + len > fill.capacity;
        if opens_message {
            if self.messages + 1 > self.max_messages {
                return false;
            }
            self.messages += 1;
            fill.messages += 1;
            fill.used = len;
        } else {
            fill.used += len;
        }
        true
    }
}
