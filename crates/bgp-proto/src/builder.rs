//! Packs routes into as few UPDATE messages as the session allows.
//!
//! Routes that share an attribute set (everything but the next hop and the
//! NLRI) and a next hop travel together; each group is cut into messages
//! that fill the negotiated maximum size. With 4096-byte messages and
//! minimal eBGP attributes (ORIGIN, a one-AS AS_PATH, NEXT_HOP) that is 810
//! IPv4 /32s per UPDATE, or 237 IPv6 /128s in one MP_REACH_NLRI.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use ipnet::IpNet;

use crate::attribute::{MpNlri, MpReach, MpUnreach, NextHop, PathAttribute};
use crate::message::{EncodeError, Message};
use crate::nlri::Nlri;
use crate::types::{Family, SessionParams, HEADER_LEN};
use crate::update::Update;

/// The attributes a group of routes shares. `attributes` must not contain
/// NEXT_HOP, MP_REACH_NLRI or MP_UNREACH_NLRI: the builder adds whichever
/// the family needs from `next_hop`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AttrSet {
    pub attributes: Vec<PathAttribute>,
    pub next_hop: NextHop,
}

/// Collects announcements and withdrawals, then encodes them.
#[derive(Clone, Debug)]
pub struct UpdateBuilder {
    params: SessionParams,
    announce: BTreeMap<Arc<AttrSet>, Vec<Nlri>>,
    withdraw: Vec<Nlri>,
}

/// Why a route could not be packed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("prefix {prefix} cannot use next hop {next_hop}")]
    NextHopFamily { prefix: IpNet, next_hop: String },
    #[error("attributes alone ({len} bytes) leave no room for a prefix in a {max}-byte UPDATE")]
    AttributesTooLarge { len: usize, max: usize },
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

fn family_of(prefix: &IpNet) -> Family {
    match prefix {
        IpNet::V4(_) => Family::IPV4_UNICAST,
        IpNet::V6(_) => Family::IPV6_UNICAST,
    }
}

impl UpdateBuilder {
    pub fn new(params: SessionParams) -> Self {
        UpdateBuilder {
            params,
            announce: BTreeMap::new(),
            withdraw: Vec::new(),
        }
    }

    pub fn announce(&mut self, attrs: Arc<AttrSet>, prefix: Nlri) {
        self.announce.entry(attrs).or_default().push(prefix);
    }

    pub fn announce_all(&mut self, attrs: Arc<AttrSet>, prefixes: impl IntoIterator<Item = Nlri>) {
        self.announce.entry(attrs).or_default().extend(prefixes);
    }

    pub fn withdraw(&mut self, prefix: Nlri) {
        self.withdraw.push(prefix);
    }

    pub fn is_empty(&self) -> bool {
        self.announce.is_empty() && self.withdraw.is_empty()
    }

    /// Encodes everything: withdrawals first (so a prefix that moves between
    /// attribute sets is never briefly withdrawn after its new announcement),
    /// then one run of UPDATEs per attribute set and family.
    pub fn build(mut self) -> Result<Vec<Bytes>, BuildError> {
        let mut out = Vec::new();
        self.withdraw.sort_unstable();
        self.withdraw.dedup();
        let (v4, other): (Vec<Nlri>, Vec<Nlri>) = self
            .withdraw
            .iter()
            .partition(|n| family_of(&n.prefix) == Family::IPV4_UNICAST);
        self.pack_withdrawals(Family::IPV4_UNICAST, &v4, &mut out)?;
        self.pack_withdrawals(Family::IPV6_UNICAST, &other, &mut out)?;

        let groups = std::mem::take(&mut self.announce);
        for (attrs, mut prefixes) in groups {
            prefixes.sort_unstable();
            prefixes.dedup();
            let (v4, v6): (Vec<Nlri>, Vec<Nlri>) = prefixes
                .iter()
                .partition(|n| family_of(&n.prefix) == Family::IPV4_UNICAST);
            self.pack_announcements(&attrs, Family::IPV4_UNICAST, &v4, &mut out)?;
            self.pack_announcements(&attrs, Family::IPV6_UNICAST, &v6, &mut out)?;
        }
        Ok(out)
    }

    /// How many of `prefixes` (from the front) fit in `budget` bytes.
    fn take_fitting(&self, family: Family, prefixes: &[Nlri], budget: usize) -> usize {
        let id = self.params.sends_path_id(family);
        let mut used = 0;
        for (n, p) in prefixes.iter().enumerate() {
            used += p.encoded_len(id);
            if used > budget {
                return n;
            }
        }
        prefixes.len()
    }

    fn emit(&self, update: Update, out: &mut Vec<Bytes>) -> Result<(), BuildError> {
        let msg = Message::Update(update);
        let mut buf = BytesMut::with_capacity(self.params.max_message_len());
        msg.encode(&self.params, &mut buf)?;
        out.push(buf.freeze());
        Ok(())
    }

    fn pack_withdrawals(
        &self,
        family: Family,
        prefixes: &[Nlri],
        out: &mut Vec<Bytes>,
    ) -> Result<(), BuildError> {
        let max = self.params.max_message_len();
        // Header, the two length fields, and for MP_UNREACH_NLRI its
        // attribute header (extended length assumed) plus AFI/SAFI.
        let fixed = HEADER_LEN
            + 4
            + if family == Family::IPV4_UNICAST {
                0
            } else {
                4 + 3
            };
        let mut rest = prefixes;
        while !rest.is_empty() {
            let n = self.take_fitting(family, rest, max - fixed).max(1);
            let (chunk, tail) = rest.split_at(n);
            rest = tail;
            let update = if family == Family::IPV4_UNICAST {
                Update {
                    withdrawn: chunk.to_vec(),
                    ..Update::default()
                }
            } else {
                Update {
                    attributes: vec![PathAttribute::MpUnreach(MpUnreach {
                        family,
                        nlri: MpNlri::Prefixes(chunk.to_vec()),
                    })],
                    ..Update::default()
                }
            };
            self.emit(update, out)?;
        }
        Ok(())
    }

    fn pack_announcements(
        &self,
        attrs: &AttrSet,
        family: Family,
        prefixes: &[Nlri],
        out: &mut Vec<Bytes>,
    ) -> Result<(), BuildError> {
        let Some(first) = prefixes.first() else {
            return Ok(());
        };
        let max = self.params.max_message_len();
        let attrs_len: usize = attrs
            .attributes
            .iter()
            .map(|a| a.encoded_len(&self.params))
            .sum();
        // IPv4 with an IPv4 next hop uses the plain NLRI field and NEXT_HOP;
        // everything else goes in MP_REACH_NLRI (RFC 4760, RFC 8950).
        let plain_v4 = family == Family::IPV4_UNICAST && matches!(attrs.next_hop, NextHop::V4(_));
        match (&attrs.next_hop, family) {
            (NextHop::V4(_), f) if f == Family::IPV6_UNICAST => {
                return Err(BuildError::NextHopFamily {
                    prefix: first.prefix,
                    next_hop: attrs.next_hop.to_string(),
                })
            }
            (NextHop::Other(_), _) => {
                return Err(BuildError::NextHopFamily {
                    prefix: first.prefix,
                    next_hop: attrs.next_hop.to_string(),
                })
            }
            _ => {}
        }
        let fixed = HEADER_LEN
            + 4
            + attrs_len
            + if plain_v4 {
                3 + 4
            } else {
                4 + 5 + attrs.next_hop.encoded_len()
            };
        if fixed >= max {
            return Err(BuildError::AttributesTooLarge { len: fixed, max });
        }
        let mut rest = prefixes;
        while !rest.is_empty() {
            let n = self.take_fitting(family, rest, max - fixed);
            if n == 0 {
                return Err(BuildError::AttributesTooLarge { len: fixed, max });
            }
            let (chunk, tail) = rest.split_at(n);
            rest = tail;
            let mut attributes = attrs.attributes.clone();
            let update = if plain_v4 {
                if let NextHop::V4(a) = attrs.next_hop {
                    attributes.push(PathAttribute::NextHop(a));
                }
                sort_attributes(&mut attributes);
                Update {
                    attributes,
                    nlri: chunk.to_vec(),
                    ..Update::default()
                }
            } else {
                attributes.push(PathAttribute::MpReach(MpReach {
                    family,
                    next_hop: attrs.next_hop.clone(),
                    nlri: MpNlri::Prefixes(chunk.to_vec()),
                }));
                sort_attributes(&mut attributes);
                Update {
                    attributes,
                    ..Update::default()
                }
            };
            self.emit(update, out)?;
        }
        Ok(())
    }
}

/// True if `prefix` with `attrs` fits in one UPDATE of the session's size
/// (the same arithmetic `UpdateBuilder` packs with). A route that does not
/// fit (say, a thousand communities) can never be sent and must be left out
/// rather than block the rest.
pub fn fits(params: &SessionParams, attrs: &AttrSet, prefix: &Nlri) -> bool {
    let family = family_of(&prefix.prefix);
    fixed_len(params, attrs, family) + prefix.encoded_len(params.sends_path_id(family))
        <= params.max_message_len()
}

/// The bytes of an UPDATE announcing one `family` prefix with `attrs`,
/// without the prefix itself.
pub fn fixed_len(params: &SessionParams, attrs: &AttrSet, family: Family) -> usize {
    let plain_v4 = family == Family::IPV4_UNICAST && matches!(attrs.next_hop, NextHop::V4(_));
    let attrs_len: usize = attrs.attributes.iter().map(|a| a.encoded_len(params)).sum();
    HEADER_LEN
        + 4
        + attrs_len
        + if plain_v4 {
            3 + 4
        } else {
            4 + 5 + attrs.next_hop.encoded_len()
        }
}

/// RFC 4271 §5: attributes are sent in ascending type-code order (a SHOULD
/// that some receivers' fast paths rely on).
fn sort_attributes(attrs: &mut [PathAttribute]) {
    attrs.sort_by_key(PathAttribute::type_code);
}
