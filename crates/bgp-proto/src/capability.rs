//! OPEN capabilities (RFC 5492) and the ones oxlb understands.

use bytes::{BufMut, Bytes, BytesMut};

use crate::notification::{Notification, OpenSubcode};
use crate::parse::{be_u16, be_u32, be_u8, bytes, u8_len_data, OrNotify, Res};
use crate::types::{Afi, Family, Safi};

pub const CAP_MULTIPROTOCOL: u8 = 1;
pub const CAP_ROUTE_REFRESH: u8 = 2;
pub const CAP_EXTENDED_NEXT_HOP: u8 = 5;
pub const CAP_EXTENDED_MESSAGE: u8 = 6;
pub const CAP_GRACEFUL_RESTART: u8 = 64;
pub const CAP_FOUR_OCTET_AS: u8 = 65;
pub const CAP_ADD_PATH: u8 = 69;
pub const CAP_ENHANCED_ROUTE_REFRESH: u8 = 70;
pub const CAP_FQDN: u8 = 73;

/// One (NLRI family, next-hop AFI) entry of the extended next hop capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExtendedNextHop {
    pub nlri_afi: Afi,
    /// Two octets on the wire here, unlike elsewhere (RFC 8950 §4).
    pub nlri_safi: u16,
    pub next_hop_afi: Afi,
}

/// Per-family entry of the graceful restart capability (RFC 4724 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GracefulRestartFamily {
    pub family: Family,
    /// Forwarding state preserved (the F bit).
    pub forwarding_preserved: bool,
    /// The remaining 7 flag bits, kept for round-trips.
    pub other_flags: u8,
}

/// Graceful restart capability (RFC 4724 §3, RFC 8538 N bit).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GracefulRestart {
    /// Restart State (R) bit.
    pub restarting: bool,
    /// Graceful notification (N) bit, RFC 8538.
    pub notification: bool,
    /// The two remaining flag bits, kept for round-trips.
    pub other_flags: u8,
    /// Restart time in seconds (12 bits).
    pub restart_time: u16,
    pub families: Vec<GracefulRestartFamily>,
}

/// Send/receive mode of an ADD-PATH family (RFC 7911 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddPathFamily {
    pub family: Family,
    pub receive: bool,
    pub send: bool,
}

/// A capability advertised in an OPEN.
//  +------------------------------+
//  | Capability Code (1 octet)    |
//  +------------------------------+
//  | Capability Length (1 octet)  |
//  +------------------------------+
//  | Capability Value (variable)  |
//  +------------------------------+
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Capability {
    /// RFC 4760 §8: AFI (2), reserved (1), SAFI (1).
    Multiprotocol(Family),
    /// RFC 2918.
    RouteRefresh,
    /// RFC 7313.
    EnhancedRouteRefresh,
    /// RFC 8950 §4: a list of (NLRI AFI, NLRI SAFI, next hop AFI).
    ExtendedNextHop(Vec<ExtendedNextHop>),
    /// RFC 8654.
    ExtendedMessage,
    /// RFC 4724.
    GracefulRestart(GracefulRestart),
    /// RFC 6793: our real AS number.
    FourOctetAs(u32),
    /// RFC 7911.
    AddPath(Vec<AddPathFamily>),
    /// draft-walton-bgp-hostname-capability, as sent by FRR: host name and
    /// domain name, each a length octet and text.
    Fqdn { hostname: String, domain: String },
    /// Anything else, kept as raw bytes.
    Unknown { code: u8, value: Bytes },
}

impl Capability {
    pub fn code(&self) -> u8 {
        match self {
            Capability::Multiprotocol(_) => CAP_MULTIPROTOCOL,
            Capability::RouteRefresh => CAP_ROUTE_REFRESH,
            Capability::EnhancedRouteRefresh => CAP_ENHANCED_ROUTE_REFRESH,
            Capability::ExtendedNextHop(_) => CAP_EXTENDED_NEXT_HOP,
            Capability::ExtendedMessage => CAP_EXTENDED_MESSAGE,
            Capability::GracefulRestart(_) => CAP_GRACEFUL_RESTART,
            Capability::FourOctetAs(_) => CAP_FOUR_OCTET_AS,
            Capability::AddPath(_) => CAP_ADD_PATH,
            Capability::Fqdn { .. } => CAP_FQDN,
            Capability::Unknown { code, .. } => *code,
        }
    }

    /// Length of the capability value.
    pub fn value_len(&self) -> usize {
        match self {
            Capability::Multiprotocol(_) => 4,
            Capability::RouteRefresh
            | Capability::EnhancedRouteRefresh
            | Capability::ExtendedMessage => 0,
            Capability::ExtendedNextHop(v) => 6 * v.len(),
            Capability::GracefulRestart(gr) => 2 + 4 * gr.families.len(),
            Capability::FourOctetAs(_) => 4,
            Capability::AddPath(v) => 4 * v.len(),
            Capability::Fqdn { hostname, domain } => 2 + hostname.len() + domain.len(),
            Capability::Unknown { value, .. } => value.len(),
        }
    }

    /// Encodes code, length and value. The caller has checked that the value
    /// fits in 255 bytes ([`Capability::value_len`]).
    pub(crate) fn encode(&self, out: &mut BytesMut) {
        out.put_u8(self.code());
        out.put_u8(self.value_len() as u8);
        match self {
            Capability::Multiprotocol(f) => {
                out.put_u16(f.afi);
                out.put_u8(0);
                out.put_u8(f.safi);
            }
            Capability::RouteRefresh
            | Capability::EnhancedRouteRefresh
            | Capability::ExtendedMessage => {}
            Capability::ExtendedNextHop(v) => {
                for e in v {
                    out.put_u16(e.nlri_afi);
                    out.put_u16(e.nlri_safi);
                    out.put_u16(e.next_hop_afi);
                }
            }
            Capability::GracefulRestart(gr) => {
                let mut flags = gr.other_flags & 0x3;
                if gr.restarting {
                    flags |= 0x8;
                }
                if gr.notification {
                    flags |= 0x4;
                }
                out.put_u16((u16::from(flags) << 12) | (gr.restart_time & 0x0fff));
                for f in &gr.families {
                    out.put_u16(f.family.afi);
                    out.put_u8(f.family.safi);
                    let mut fl = f.other_flags & 0x7f;
                    if f.forwarding_preserved {
                        fl |= 0x80;
                    }
                    out.put_u8(fl);
                }
            }
            Capability::FourOctetAs(asn) => out.put_u32(*asn),
            Capability::AddPath(v) => {
                for e in v {
                    out.put_u16(e.family.afi);
                    out.put_u8(e.family.safi);
                    out.put_u8(u8::from(e.receive) | (u8::from(e.send) << 1));
                }
            }
            Capability::Fqdn { hostname, domain } => {
                out.put_u8(hostname.len() as u8);
                out.put_slice(hostname.as_bytes());
                out.put_u8(domain.len() as u8);
                out.put_slice(domain.as_bytes());
            }
            Capability::Unknown { value, .. } => out.put_slice(value),
        }
    }

    /// Decodes one capability (code, length, value) from the front of `i`.
    pub(crate) fn decode(i: &[u8]) -> Result<(&[u8], Capability), Notification> {
        let bad = || Notification::open(OpenSubcode::Unspecific, Bytes::new());
        let (i, code) = be_u8(i).or_notify(|| bad().at("capability code"))?;
        let (i, value) = u8_len_data(i).or_notify(|| bad().at("capability length"))?;
        let cap = match decode_value(code, value) {
            Ok(([], cap)) => cap,
            // A capability we know but whose value does not parse is kept
            // raw: the session decides whether it needs it. Rejecting the
            // OPEN over, say, a malformed FQDN would break interop for
            // nothing.
            _ => Capability::Unknown {
                code,
                value: Bytes::copy_from_slice(value),
            },
        };
        Ok((i, cap))
    }
}

fn family_afi_u8safi(i: &[u8]) -> Res<'_, Family> {
    let (i, afi) = be_u16(i)?;
    let (i, safi) = be_u8(i)?;
    Ok((i, Family::new(afi, safi as Safi)))
}

fn decode_value(code: u8, v: &[u8]) -> Res<'_, Capability> {
    match code {
        CAP_MULTIPROTOCOL => {
            let (i, afi) = be_u16(v)?;
            let (i, _reserved) = be_u8(i)?;
            let (i, safi) = be_u8(i)?;
            Ok((i, Capability::Multiprotocol(Family::new(afi, safi))))
        }
        CAP_ROUTE_REFRESH | CAP_ENHANCED_ROUTE_REFRESH | CAP_EXTENDED_MESSAGE if !v.is_empty() => {
            Err(nom::Err::Error(()))
        }
        CAP_ROUTE_REFRESH => Ok((v, Capability::RouteRefresh)),
        CAP_ENHANCED_ROUTE_REFRESH => Ok((v, Capability::EnhancedRouteRefresh)),
        CAP_EXTENDED_MESSAGE => Ok((v, Capability::ExtendedMessage)),
        CAP_EXTENDED_NEXT_HOP => {
            let mut i = v;
            let mut out = Vec::with_capacity(v.len() / 6);
            while !i.is_empty() {
                let (r, nlri_afi) = be_u16(i)?;
                let (r, nlri_safi) = be_u16(r)?;
                let (r, next_hop_afi) = be_u16(r)?;
                out.push(ExtendedNextHop {
                    nlri_afi,
                    nlri_safi,
                    next_hop_afi,
                });
                i = r;
            }
            Ok((i, Capability::ExtendedNextHop(out)))
        }
        CAP_GRACEFUL_RESTART => {
            let (mut i, word) = be_u16(v)?;
            let flags = (word >> 12) as u8;
            let mut families = Vec::with_capacity(i.len() / 4);
            while !i.is_empty() {
                let (r, family) = family_afi_u8safi(i)?;
                let (r, fl) = be_u8(r)?;
                families.push(GracefulRestartFamily {
                    family,
                    forwarding_preserved: fl & 0x80 != 0,
                    other_flags: fl & 0x7f,
                });
                i = r;
            }
            Ok((
                i,
                Capability::GracefulRestart(GracefulRestart {
                    restarting: flags & 0x8 != 0,
                    notification: flags & 0x4 != 0,
                    other_flags: flags & 0x3,
                    restart_time: word & 0x0fff,
                    families,
                }),
            ))
        }
        CAP_FOUR_OCTET_AS => {
            let (i, asn) = be_u32(v)?;
            Ok((i, Capability::FourOctetAs(asn)))
        }
        CAP_ADD_PATH => {
            let mut i = v;
            let mut out = Vec::with_capacity(v.len() / 4);
            while !i.is_empty() {
                let (r, family) = family_afi_u8safi(i)?;
                let (r, mode) = be_u8(r)?;
                // RFC 7911 §4: only values 1-3 are defined.
                if mode == 0 || mode > 3 {
                    return Err(nom::Err::Error(()));
                }
                out.push(AddPathFamily {
                    family,
                    receive: mode & 1 != 0,
                    send: mode & 2 != 0,
                });
                i = r;
            }
            Ok((i, Capability::AddPath(out)))
        }
        CAP_FQDN => {
            let (i, host) = u8_len_data(v)?;
            let (i, domain) = u8_len_data(i)?;
            let hostname = std::str::from_utf8(host).map_err(|_| nom::Err::Error(()))?;
            let domain = std::str::from_utf8(domain).map_err(|_| nom::Err::Error(()))?;
            Ok((
                i,
                Capability::Fqdn {
                    hostname: hostname.to_owned(),
                    domain: domain.to_owned(),
                },
            ))
        }
        _ => {
            let (i, value) = bytes(v.len())(v)?;
            Ok((
                i,
                Capability::Unknown {
                    code,
                    value: Bytes::copy_from_slice(value),
                },
            ))
        }
    }
}
