//! UPDATE message (RFC 4271 §4.3) with RFC 7606 revised error handling.

use bytes::{BufMut, Bytes, BytesMut};

use crate::attribute::{
    decode_attribute, read_raw_attribute, AsPath, AttributeError, ErrorAction, MpNlri, MpReach,
    MpUnreach, NextHop, Origin, PathAttribute, ATTR_AS_PATH, ATTR_MP_REACH_NLRI,
    ATTR_MP_UNREACH_NLRI, ATTR_NEXT_HOP, ATTR_ORIGIN,
};
use crate::attribute::{Community, LargeCommunity};
use crate::nlri::{decode_prefixes, Nlri};
use crate::notification::{Notification, UpdateSubcode};
use crate::parse::{be_u16, u16_len_data, OrNotify};
use crate::types::{Family, SessionParams};

//  +-----------------------------------------------------+
//  |   Withdrawn Routes Length (2 octets)                |
//  +-----------------------------------------------------+
//  |   Withdrawn Routes (variable)                       |
//  +-----------------------------------------------------+
//  |   Total Path Attribute Length (2 octets)            |
//  +-----------------------------------------------------+
//  |   Path Attributes (variable)                        |
//  +-----------------------------------------------------+
//  |   Network Layer Reachability Information (variable) |
//  +-----------------------------------------------------+
/// An UPDATE. IPv4 unicast may use the plain Withdrawn Routes and NLRI
/// fields; every other family travels in MP_REACH_NLRI / MP_UNREACH_NLRI.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Update {
    pub withdrawn: Vec<Nlri>,
    pub attributes: Vec<PathAttribute>,
    pub nlri: Vec<Nlri>,
    /// Problems RFC 7606 lets us survive, found while decoding. Always empty
    /// for an UPDATE we build; never encoded.
    pub errors: Vec<AttributeError>,
}

/// Bitmap of attribute type codes seen so far.
#[derive(Default)]
struct Seen([u64; 4]);

impl Seen {
    fn insert(&mut self, t: u8) -> bool {
        let (w, b) = (usize::from(t / 64), t % 64);
        let fresh = self.0[w] & (1 << b) == 0;
        self.0[w] |= 1 << b;
        fresh
    }

    fn contains(&self, t: u8) -> bool {
        self.0[usize::from(t / 64)] & (1 << (t % 64)) != 0
    }
}

impl Update {
    /// End-of-RIB marker (RFC 4724 §2): an empty UPDATE for IPv4 unicast, an
    /// UPDATE with an empty MP_UNREACH_NLRI for any other family.
    pub fn end_of_rib(family: Family) -> Self {
        if family == Family::IPV4_UNICAST {
            return Update::default();
        }
        Update {
            attributes: vec![PathAttribute::MpUnreach(MpUnreach {
                family,
                nlri: MpNlri::Prefixes(Vec::new()),
            })],
            ..Update::default()
        }
    }

    /// The family this UPDATE marks the end of the initial table for, if it
    /// is an End-of-RIB marker (RFC 4724 §2).
    pub fn end_of_rib_family(&self) -> Option<Family> {
        if !self.withdrawn.is_empty() || !self.nlri.is_empty() {
            return None;
        }
        match self.attributes.as_slice() {
            [] => Some(Family::IPV4_UNICAST),
            [PathAttribute::MpUnreach(m)] if m.nlri.is_empty() => Some(m.family),
            _ => None,
        }
    }

    /// The strongest RFC 7606 action among the errors found (§3.h), if any.
    pub fn error_action(&self) -> Option<ErrorAction> {
        self.errors.iter().map(|e| e.action).max()
    }

    pub fn attribute(&self, type_code: u8) -> Option<&PathAttribute> {
        self.attributes.iter().find(|a| a.type_code() == type_code)
    }

    pub fn origin(&self) -> Option<Origin> {
        self.attributes.iter().find_map(|a| match a {
            PathAttribute::Origin(o) => Some(*o),
            _ => None,
        })
    }

    pub fn as_path(&self) -> Option<&AsPath> {
        self.attributes.iter().find_map(|a| match a {
            PathAttribute::AsPath(p) => Some(p),
            _ => None,
        })
    }

    pub fn local_pref(&self) -> Option<u32> {
        self.attributes.iter().find_map(|a| match a {
            PathAttribute::LocalPref(v) => Some(*v),
            _ => None,
        })
    }

    pub fn med(&self) -> Option<u32> {
        self.attributes.iter().find_map(|a| match a {
            PathAttribute::Med(v) => Some(*v),
            _ => None,
        })
    }

    pub fn communities(&self) -> &[Community] {
        self.attributes
            .iter()
            .find_map(|a| match a {
                PathAttribute::Communities(c) => Some(c.as_slice()),
                _ => None,
            })
            .unwrap_or(&[])
    }

    pub fn large_communities(&self) -> &[LargeCommunity] {
        self.attributes
            .iter()
            .find_map(|a| match a {
                PathAttribute::LargeCommunities(c) => Some(c.as_slice()),
                _ => None,
            })
            .unwrap_or(&[])
    }

    pub fn mp_reach(&self) -> Option<&MpReach> {
        self.attributes.iter().find_map(|a| match a {
            PathAttribute::MpReach(m) => Some(m),
            _ => None,
        })
    }

    pub fn mp_unreach(&self) -> Option<&MpUnreach> {
        self.attributes.iter().find_map(|a| match a {
            PathAttribute::MpUnreach(m) => Some(m),
            _ => None,
        })
    }

    /// The next hop for the plain NLRI field (NEXT_HOP attribute).
    pub fn next_hop(&self) -> Option<NextHop> {
        self.attributes.iter().find_map(|a| match a {
            PathAttribute::NextHop(a) => Some(NextHop::V4(*a)),
            _ => None,
        })
    }

    /// Every announced prefix: the NLRI field, then MP_REACH_NLRI.
    pub fn announced(&self) -> impl Iterator<Item = &Nlri> {
        self.nlri
            .iter()
            .chain(self.mp_reach().into_iter().flat_map(|m| m.nlri.prefixes()))
    }

    /// Every withdrawn prefix: the Withdrawn Routes field, then
    /// MP_UNREACH_NLRI.
    pub fn withdrawn_all(&self) -> impl Iterator<Item = &Nlri> {
        self.withdrawn.iter().chain(
            self.mp_unreach()
                .into_iter()
                .flat_map(|m| m.nlri.prefixes()),
        )
    }

    /// Length of the UPDATE body.
    pub fn body_len(&self, params: &SessionParams) -> usize {
        let id = params.sends_path_id(Family::IPV4_UNICAST);
        4 + self
            .withdrawn
            .iter()
            .map(|n| n.encoded_len(id))
            .sum::<usize>()
            + self.attributes_len(params)
            + self.nlri.iter().map(|n| n.encoded_len(id)).sum::<usize>()
    }

    fn attributes_len(&self, params: &SessionParams) -> usize {
        self.attributes.iter().map(|a| a.encoded_len(params)).sum()
    }

    pub(crate) fn encode_body(&self, params: &SessionParams, out: &mut BytesMut) {
        let id = params.sends_path_id(Family::IPV4_UNICAST);
        // Both length fields are patched in once their contents are written.
        let patch = |out: &mut BytesMut, at: usize| {
            let len = (out.len() - at - 2) as u16;
            out[at..at + 2].copy_from_slice(&len.to_be_bytes());
        };
        let at = out.len();
        out.put_u16(0);
        crate::nlri::encode_all(&self.withdrawn, id, out);
        patch(out, at);
        let at = out.len();
        out.put_u16(0);
        self.attributes.iter().for_each(|a| a.encode(params, out));
        patch(out, at);
        crate::nlri::encode_all(&self.nlri, id, out);
    }

    /// Decodes an UPDATE body (`body` is the message without its header).
    ///
    /// `Err` is a session reset: the NOTIFICATION to send. Everything milder
    /// is recorded in [`Update::errors`] and summarised by
    /// [`Update::error_action`].
    pub fn decode_body(body: &Bytes, params: &SessionParams) -> Result<Update, Notification> {
        let malformed_list = |field| {
            Notification::update(UpdateSubcode::MalformedAttributeList, Bytes::new()).at(field)
        };
        // RFC 7606 §3.b: lengths that overrun the message still reset the
        // session (Malformed Attribute List, no data).
        let (i, withdrawn_raw) =
            u16_len_data(body).or_notify(|| malformed_list("UPDATE withdrawn routes length"))?;
        let (i, attr_len) =
            be_u16(i).or_notify(|| malformed_list("UPDATE total path attribute length"))?;
        let Some((attrs_raw, nlri_raw)) = i.split_at_checked(usize::from(attr_len)) else {
            return Err(malformed_list("UPDATE total path attribute length"));
        };

        // RFC 7606 §3.i and §5.3: the Withdrawn Routes field is checked like
        // the NLRI field; if it does not parse, no prefix in it can be
        // trusted -> session reset.
        let v4_id = params.receives_path_id(Family::IPV4_UNICAST);
        let withdrawn =
            decode_prefixes(withdrawn_raw, Family::IPV4_UNICAST, v4_id).map_err(|_| {
                Notification::update(UpdateSubcode::InvalidNetworkField, Bytes::new())
                    .at("UPDATE withdrawn routes")
            })?;
        // RFC 4271 §6.3, RFC 7606 §5.3: a syntactically bad NLRI field ->
        // session reset with Invalid Network Field.
        let nlri = decode_prefixes(nlri_raw, Family::IPV4_UNICAST, v4_id).map_err(|_| {
            Notification::update(UpdateSubcode::InvalidNetworkField, Bytes::new()).at("UPDATE NLRI")
        })?;

        let mut attributes = Vec::with_capacity(8);
        let mut errors = Vec::new();
        let mut seen = Seen::default();
        let mut rest = attrs_raw;
        let mut truncated = false;
        while !rest.is_empty() {
            let Some((r, raw)) = read_raw_attribute(rest) else {
                // RFC 7606 §4: an attribute header or value that runs past
                // the Total Path Attribute Length -> treat-as-withdraw; the
                // total length still tells us where the NLRI starts.
                errors.push(AttributeError {
                    type_code: rest.get(1).copied().unwrap_or(0),
                    action: ErrorAction::TreatAsWithdraw,
                    notification: Notification::update(
                        UpdateSubcode::MalformedAttributeList,
                        Bytes::new(),
                    )
                    .at("UPDATE path attribute length"),
                });
                truncated = true;
                break;
            };
            rest = r;
            if !seen.insert(raw.type_code) {
                if matches!(raw.type_code, ATTR_MP_REACH_NLRI | ATTR_MP_UNREACH_NLRI) {
                    // RFC 7606 §3.g: a repeated MP_REACH/MP_UNREACH -> reset.
                    return Err(malformed_list(
                        "UPDATE repeated MP_REACH_NLRI/MP_UNREACH_NLRI",
                    ));
                }
                // RFC 7606 §3.g: any other repeat -> keep the first, discard
                // the rest.
                errors.push(AttributeError {
                    type_code: raw.type_code,
                    action: ErrorAction::AttributeDiscard,
                    notification: malformed_list("UPDATE repeated path attribute"),
                });
                continue;
            }
            match decode_attribute(&raw, body, params) {
                Ok(a) => attributes.push(a),
                Err(e) if e.action == ErrorAction::SessionReset => return Err(e.notification),
                Err(e) => errors.push(e),
            }
        }

        let has_mp_nlri = attributes
            .iter()
            .any(|a| matches!(a, PathAttribute::MpReach(m) if !m.nlri.is_empty()));
        // After an overrun the missing attributes may simply be unreadable;
        // the routes are already treated as withdrawn.
        if !truncated && (!nlri.is_empty() || has_mp_nlri) {
            // RFC 7606 §3.d: a missing well-known mandatory attribute ->
            // treat-as-withdraw. NEXT_HOP is needed only for the plain NLRI
            // field (RFC 4760 §3). An attribute that was present but
            // malformed already has its own error.
            let mut required = vec![ATTR_ORIGIN, ATTR_AS_PATH];
            if !nlri.is_empty() {
                required.push(ATTR_NEXT_HOP);
            }
            for t in required {
                if !seen.contains(t) {
                    errors.push(AttributeError {
                        type_code: t,
                        action: ErrorAction::TreatAsWithdraw,
                        notification: Notification::update(
                            UpdateSubcode::MissingWellKnownAttribute,
                            vec![t],
                        )
                        .at("UPDATE mandatory attributes"),
                    });
                }
            }
        }
        Ok(Update {
            withdrawn,
            attributes,
            nlri,
            errors,
        })
    }
}
