//! OPEN message (RFC 4271 §4.2) with RFC 5492 capabilities and the RFC 9072
//! extended optional parameters length.

use std::net::Ipv4Addr;

use bytes::{BufMut, Bytes, BytesMut};

use crate::capability::Capability;
use crate::notification::{Notification, OpenSubcode};
use crate::parse::{be_u16, be_u32, be_u8, bytes, OrNotify};
use crate::types::{SessionParams, AS_TRANS, BGP_VERSION};

/// Optional parameter type carrying capabilities (RFC 5492 §4).
pub const PARAM_CAPABILITIES: u8 = 2;
/// RFC 9072 §2: this value in the first parameter's type octet, after an
/// Opt Parm Len of 255, marks the extended format.
const PARAM_EXTENDED_MARKER: u8 = 255;

/// One optional parameter of an OPEN.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OptionalParameter {
    /// Type 2: one or more capabilities. Kept grouped as the peer sent them
    /// (BIRD puts all in one parameter, GoBGP one per parameter).
    Capabilities(Vec<Capability>),
    /// Any other type, kept raw. [`Open::validate`] rejects it.
    Unknown { kind: u8, value: Bytes },
}

impl OptionalParameter {
    fn value_len(&self) -> usize {
        match self {
            OptionalParameter::Capabilities(caps) => caps.iter().map(|c| 2 + c.value_len()).sum(),
            OptionalParameter::Unknown { value, .. } => value.len(),
        }
    }

    fn kind(&self) -> u8 {
        match self {
            OptionalParameter::Capabilities(_) => PARAM_CAPABILITIES,
            OptionalParameter::Unknown { kind, .. } => *kind,
        }
    }
}

//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+
//  |    Version    |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |     My Autonomous System      |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |           Hold Time           |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                         BGP Identifier                        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  | Opt Parm Len  |  (255 and a first type of 255: RFC 9072 form,
//  +-+-+-+-+-+-+-+-+   followed by a 2-octet length, 2-octet param lengths)
//  |             Optional Parameters (variable)                    |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Open {
    pub version: u8,
    /// Two octets on the wire: AS_TRANS when the real AS needs four.
    pub my_as: u16,
    pub hold_time: u16,
    pub bgp_id: Ipv4Addr,
    pub params: Vec<OptionalParameter>,
}

impl Open {
    /// An OPEN for `asn` that carries `caps` in one capabilities parameter.
    /// My Autonomous System is AS_TRANS when `asn` needs four octets
    /// (RFC 6793 §3); the caller includes [`Capability::FourOctetAs`].
    pub fn new(asn: u32, hold_time: u16, bgp_id: Ipv4Addr, caps: Vec<Capability>) -> Self {
        let my_as = u16::try_from(asn).unwrap_or(AS_TRANS);
        let params = if caps.is_empty() {
            Vec::new()
        } else {
            vec![OptionalParameter::Capabilities(caps)]
        };
        Open {
            version: BGP_VERSION,
            my_as,
            hold_time,
            bgp_id,
            params,
        }
    }

    /// Every capability, across all capabilities parameters, in order.
    pub fn capabilities(&self) -> impl Iterator<Item = &Capability> {
        self.params.iter().flat_map(|p| match p {
            OptionalParameter::Capabilities(c) => c.as_slice(),
            OptionalParameter::Unknown { .. } => &[],
        })
    }

    /// The 4-octet AS the peer advertised (RFC 6793), if any.
    pub fn four_octet_as(&self) -> Option<u32> {
        self.capabilities().find_map(|c| match c {
            Capability::FourOctetAs(asn) => Some(*asn),
            _ => None,
        })
    }

    /// The speaker's AS number: from the 4-octet AS capability when present,
    /// else the My Autonomous System field.
    pub fn asn(&self) -> u32 {
        self.four_octet_as().unwrap_or(u32::from(self.my_as))
    }

    /// RFC 4271 §6.2 checks that need no configuration: version, hold time,
    /// BGP identifier (RFC 6286 §2.1: any non-zero value), known optional
    /// parameters. The peer-AS check belongs to the session, which knows
    /// what AS it expects.
    pub fn validate(&self) -> Result<(), Notification> {
        if self.version != BGP_VERSION {
            // RFC 4271 §6.2: the data is the largest version we support.
            return Err(Notification::open(
                OpenSubcode::UnsupportedVersion,
                u16::from(BGP_VERSION).to_be_bytes().to_vec(),
            )
            .at("OPEN version"));
        }
        // RFC 4271 §6.2: a hold time of one or two seconds is refused.
        if self.hold_time == 1 || self.hold_time == 2 {
            return Err(
                Notification::open(OpenSubcode::UnacceptableHoldTime, Bytes::new())
                    .at("OPEN hold time"),
            );
        }
        // RFC 6286 §2.1: the identifier is any non-zero 4-octet value.
        if self.bgp_id.is_unspecified() {
            return Err(
                Notification::open(OpenSubcode::BadBgpIdentifier, Bytes::new())
                    .at("OPEN BGP identifier"),
            );
        }
        // RFC 4271 §6.2: an optional parameter we do not recognise.
        if self
            .params
            .iter()
            .any(|p| matches!(p, OptionalParameter::Unknown { .. }))
        {
            return Err(Notification::open(
                OpenSubcode::UnsupportedOptionalParameter,
                Bytes::new(),
            )
            .at("OPEN optional parameters"));
        }
        Ok(())
    }

    /// RFC 4271 §6.2: the peer's AS (4-octet capability, else My
    /// Autonomous System) must be the one configured -> Bad Peer AS.
    /// `None` accepts any AS (dynamic peers check the class themselves).
    pub fn check_peer_as(&self, expected: Option<u32>) -> Result<(), Notification> {
        match expected {
            Some(asn) if asn != self.asn() => {
                Err(Notification::open(OpenSubcode::BadPeerAs, Bytes::new()).at("OPEN my AS"))
            }
            _ => Ok(()),
        }
    }

    /// True if the OPEN carries a capability with this code.
    pub fn has_capability(&self, code: u8) -> bool {
        self.capabilities().any(|c| c.code() == code)
    }

    fn add_path_modes(&self) -> Vec<crate::capability::AddPathFamily> {
        self.capabilities()
            .filter_map(|c| match c {
                Capability::AddPath(v) => Some(v.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    fn uses_extended_params(&self) -> bool {
        let short: usize = self.params.iter().map(|p| 2 + p.value_len()).sum();
        short > 255 || self.params.iter().any(|p| p.value_len() > 255)
    }

    /// Length of the OPEN body (everything after the header).
    pub fn body_len(&self) -> usize {
        if self.uses_extended_params() {
            10 + 3 + self.params.iter().map(|p| 3 + p.value_len()).sum::<usize>()
        } else {
            10 + self.params.iter().map(|p| 2 + p.value_len()).sum::<usize>()
        }
    }

    pub(crate) fn encode_body(&self, out: &mut BytesMut) {
        out.put_u8(self.version);
        out.put_u16(self.my_as);
        out.put_u16(self.hold_time);
        out.put_u32(u32::from(self.bgp_id));
        let extended = self.uses_extended_params();
        if extended {
            // RFC 9072 §2: Opt Parm Len 255, type 255, then a 2-octet length.
            let total: usize = self.params.iter().map(|p| 3 + p.value_len()).sum();
            out.put_u8(255);
            out.put_u8(PARAM_EXTENDED_MARKER);
            out.put_u16(total as u16);
        } else {
            out.put_u8(self.params.iter().map(|p| 2 + p.value_len()).sum::<usize>() as u8);
        }
        for p in &self.params {
            out.put_u8(p.kind());
            if extended {
                out.put_u16(p.value_len() as u16);
            } else {
                out.put_u8(p.value_len() as u8);
            }
            match p {
                OptionalParameter::Capabilities(caps) => caps.iter().for_each(|c| c.encode(out)),
                OptionalParameter::Unknown { value, .. } => out.put_slice(value),
            }
        }
    }

    /// Decodes an OPEN body. Errors are OPEN Message Errors naming the field.
    pub(crate) fn decode_body(body: &[u8]) -> Result<Self, Notification> {
        let bad = |field| Notification::open(OpenSubcode::Unspecific, Bytes::new()).at(field);
        let (i, version) = be_u8(body).or_notify(|| bad("OPEN version"))?;
        let (i, my_as) = be_u16(i).or_notify(|| bad("OPEN my AS"))?;
        let (i, hold_time) = be_u16(i).or_notify(|| bad("OPEN hold time"))?;
        let (i, bgp_id) = be_u32(i).or_notify(|| bad("OPEN BGP identifier"))?;
        let (i, opt_len) = be_u8(i).or_notify(|| bad("OPEN optional parameters length"))?;

        // RFC 9072 §2: Opt Parm Len 255 followed by a type octet of 255
        // announces the extended encoding with 2-octet lengths.
        let extended = opt_len == 255 && i.first() == Some(&PARAM_EXTENDED_MARKER);
        let (rest, mut params_bytes) = if extended {
            let (i, _marker) = be_u8(i).or_notify(|| bad("OPEN extended parameters marker"))?;
            let (i, len) = be_u16(i).or_notify(|| bad("OPEN extended parameters length"))?;
            bytes(usize::from(len))(i).or_notify(|| bad("OPEN extended parameters length"))?
        } else {
            bytes(usize::from(opt_len))(i).or_notify(|| bad("OPEN optional parameters length"))?
        };
        if !rest.is_empty() {
            return Err(bad("OPEN trailing bytes after optional parameters"));
        }

        let mut params = Vec::new();
        while !params_bytes.is_empty() {
            let (i, kind) = be_u8(params_bytes).or_notify(|| bad("OPEN parameter type"))?;
            let (i, value) = if extended {
                let (i, len) = be_u16(i).or_notify(|| bad("OPEN parameter length"))?;
                bytes(usize::from(len))(i).or_notify(|| bad("OPEN parameter length"))?
            } else {
                let (i, len) = be_u8(i).or_notify(|| bad("OPEN parameter length"))?;
                bytes(usize::from(len))(i).or_notify(|| bad("OPEN parameter length"))?
            };
            params_bytes = i;
            if kind == PARAM_CAPABILITIES {
                let mut caps = Vec::new();
                let mut v = value;
                while !v.is_empty() {
                    let (r, cap) = Capability::decode(v)?;
                    caps.push(cap);
                    v = r;
                }
                params.push(OptionalParameter::Capabilities(caps));
            } else {
                params.push(OptionalParameter::Unknown {
                    kind,
                    value: Bytes::copy_from_slice(value),
                });
            }
        }
        Ok(Open {
            version,
            my_as,
            hold_time,
            bgp_id: Ipv4Addr::from(bgp_id),
            params,
        })
    }
}

/// What two OPENs agree on, seen from the side that sent `local`:
/// 4-octet AS and extended messages need both sides (RFC 6793 §3, RFC 8654
/// §3); ADD-PATH is per family and direction (RFC 7911 §4).
pub fn negotiate(local: &Open, remote: &Open, ebgp: bool) -> SessionParams {
    use crate::capability::{CAP_EXTENDED_MESSAGE, CAP_FOUR_OCTET_AS};
    let both = |code| local.has_capability(code) && remote.has_capability(code);
    let (ours, theirs) = (local.add_path_modes(), remote.add_path_modes());
    let mut receive = Vec::new();
    let mut send = Vec::new();
    for o in &ours {
        for t in theirs.iter().filter(|t| t.family == o.family) {
            if o.receive && t.send && !receive.contains(&o.family) {
                receive.push(o.family);
            }
            if o.send && t.receive && !send.contains(&o.family) {
                send.push(o.family);
            }
        }
    }
    SessionParams {
        four_octet_as: both(CAP_FOUR_OCTET_AS),
        extended_message: both(CAP_EXTENDED_MESSAGE),
        add_path_receive: receive,
        add_path_send: send,
        ebgp,
    }
}
