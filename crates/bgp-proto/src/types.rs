//! Small wire-level vocabulary shared by every message: address families,
//! AS numbers and the negotiated parameters that change how bytes decode.

use std::fmt;

/// AS_TRANS (RFC 6793 §2): stands in for a 4-octet AS number wherever only two
/// octets fit (the OPEN's My Autonomous System field, 2-octet AS_PATHs).
pub const AS_TRANS: u16 = 23456;

/// BGP version we speak (RFC 4271 §4.2).
pub const BGP_VERSION: u8 = 4;

/// Largest message before RFC 8654 extended messages are negotiated.
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Largest message after RFC 8654 extended messages are negotiated.
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;
/// Length of the fixed message header (marker, length, type).
pub const HEADER_LEN: usize = 19;

/// Address Family Identifier (IANA "Address Family Numbers").
pub type Afi = u16;
/// Subsequent Address Family Identifier (IANA "SAFI Values").
pub type Safi = u8;

pub const AFI_IPV4: Afi = 1;
pub const AFI_IPV6: Afi = 2;
pub const SAFI_UNICAST: Safi = 1;
pub const SAFI_MULTICAST: Safi = 2;

/// An (AFI, SAFI) pair. Unknown pairs are carried as numbers, never rejected
/// at the codec level: capability negotiation decides what is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Family {
    pub afi: Afi,
    pub safi: Safi,
}

impl Family {
    pub const IPV4_UNICAST: Family = Family {
        afi: AFI_IPV4,
        safi: SAFI_UNICAST,
    };
    pub const IPV6_UNICAST: Family = Family {
        afi: AFI_IPV6,
        safi: SAFI_UNICAST,
    };
    pub const IPV4_MULTICAST: Family = Family {
        afi: AFI_IPV4,
        safi: SAFI_MULTICAST,
    };
    pub const IPV6_MULTICAST: Family = Family {
        afi: AFI_IPV6,
        safi: SAFI_MULTICAST,
    };

    pub const fn new(afi: Afi, safi: Safi) -> Self {
        Family { afi, safi }
    }

    /// True for the families whose NLRI are plain IP prefixes (RFC 4760 §5).
    pub fn is_ip_prefix_family(self) -> bool {
        matches!(self.afi, AFI_IPV4 | AFI_IPV6)
            && matches!(self.safi, SAFI_UNICAST | SAFI_MULTICAST)
    }

    /// Maximum prefix length for the family's address size.
    pub fn max_prefix_len(self) -> u8 {
        if self.afi == AFI_IPV6 {
            128
        } else {
            32
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let afi = match self.afi {
            AFI_IPV4 => "ipv4".to_string(),
            AFI_IPV6 => "ipv6".to_string(),
            other => format!("afi{other}"),
        };
        let safi = match self.safi {
            SAFI_UNICAST => "unicast".to_string(),
            SAFI_MULTICAST => "multicast".to_string(),
            other => format!("safi{other}"),
        };
        write!(f, "{afi}-{safi}")
    }
}

/// What the two ends agreed on in their OPENs, as far as it changes how
/// messages are laid out on the wire. The session engine builds one of these
/// once the OPENs are exchanged and hands it to the framer and decoders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionParams {
    /// RFC 6793: both sides advertised the 4-octet AS capability, so AS_PATH
    /// and AGGREGATOR carry 4-octet AS numbers.
    pub four_octet_as: bool,
    /// RFC 8654: both sides advertised extended messages (65535 bytes).
    pub extended_message: bool,
    /// RFC 7911: families in which the peer sends us path identifiers.
    pub add_path_receive: Vec<Family>,
    /// RFC 7911: families in which we send path identifiers.
    pub add_path_send: Vec<Family>,
    /// The peer is in another AS. Some RFC 7606 rules depend on it
    /// (LOCAL_PREF is discarded, confederation segments are an error).
    pub ebgp: bool,
}

impl Default for SessionParams {
    /// What applies before the OPEN exchange: 2-octet AS, 4096-byte messages,
    /// no ADD-PATH.
    fn default() -> Self {
        SessionParams {
            four_octet_as: false,
            extended_message: false,
            add_path_receive: Vec::new(),
            add_path_send: Vec::new(),
            ebgp: false,
        }
    }
}

impl SessionParams {
    /// Parameters of a modern session: 4-octet AS, 4096-byte messages.
    pub fn four_octet() -> Self {
        SessionParams {
            four_octet_as: true,
            ..SessionParams::default()
        }
    }

    /// Largest UPDATE/NOTIFICATION/ROUTE-REFRESH we accept or send.
    pub fn max_message_len(&self) -> usize {
        if self.extended_message {
            MAX_EXTENDED_MESSAGE_LEN
        } else {
            MAX_MESSAGE_LEN
        }
    }

    pub fn receives_path_id(&self, family: Family) -> bool {
        self.add_path_receive.contains(&family)
    }

    pub fn sends_path_id(&self, family: Family) -> bool {
        self.add_path_send.contains(&family)
    }

    /// The parameters as seen from the other end of the session: what we
    /// send, they receive. Used to check an encoding with a decoder.
    pub fn mirrored(&self) -> Self {
        SessionParams {
            add_path_receive: self.add_path_send.clone(),
            add_path_send: self.add_path_receive.clone(),
            ..self.clone()
        }
    }
}

/// Hex dump helper used by Display impls of errors (short and bounded).
pub(crate) fn hex_preview(data: &[u8]) -> String {
    const MAX: usize = 32;
    let mut s = String::new();
    for (i, b) in data.iter().take(MAX).enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&format!("{b:02x}"));
    }
    if data.len() > MAX {
        s.push_str(&format!(" … ({} bytes)", data.len()));
    }
    s
}
