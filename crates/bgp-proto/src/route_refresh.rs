//! ROUTE-REFRESH message (RFC 2918 §3) with the RFC 7313 message subtypes.

use bytes::{BufMut, Bytes, BytesMut};

use crate::notification::{ErrorCode, HeaderSubcode, Notification, RouteRefreshSubcode};
use crate::types::{Family, HEADER_LEN};

/// RFC 7313 §3.2: the former Reserved octet is the message subtype.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefreshSubtype {
    /// 0: a plain route refresh request (RFC 2918).
    Request,
    /// 1: Beginning of Route Refresh.
    BeginningOfRefresh,
    /// 2: End of Route Refresh.
    EndOfRefresh,
    /// Any other value; RFC 7313 §5 says to ignore such a message.
    Unknown(u8),
}

impl RefreshSubtype {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => RefreshSubtype::Request,
            1 => RefreshSubtype::BeginningOfRefresh,
            2 => RefreshSubtype::EndOfRefresh,
            v => RefreshSubtype::Unknown(v),
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            RefreshSubtype::Request => 0,
            RefreshSubtype::BeginningOfRefresh => 1,
            RefreshSubtype::EndOfRefresh => 2,
            RefreshSubtype::Unknown(v) => v,
        }
    }
}

//  0       7      15      23      31
//  +-------+-------+-------+-------+
//  |      AFI      | Subtype| SAFI |
//  +-------+-------+-------+-------+
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RouteRefresh {
    pub family: Family,
    pub subtype: RefreshSubtype,
}

impl RouteRefresh {
    pub fn request(family: Family) -> Self {
        RouteRefresh {
            family,
            subtype: RefreshSubtype::Request,
        }
    }

    pub(crate) fn encode_body(&self, out: &mut BytesMut) {
        out.put_u16(self.family.afi);
        out.put_u8(self.subtype.to_u8());
        out.put_u8(self.family.safi);
    }

    /// Decodes the body; `whole` is the complete message for error data.
    pub(crate) fn decode_body(body: &[u8], whole: &Bytes) -> Result<Self, Notification> {
        let (afi, subtype, safi) = match body {
            [a, b, s, f, ..] => (
                u16::from_be_bytes([*a, *b]),
                RefreshSubtype::from_u8(*s),
                *f,
            ),
            _ => {
                return Err(Notification::header(
                    HeaderSubcode::BadMessageLength,
                    ((body.len() + HEADER_LEN) as u16).to_be_bytes().to_vec(),
                )
                .at("ROUTE-REFRESH length"))
            }
        };
        if body.len() != 4 {
            // RFC 7313 §5: a BoRR/EoRR whose body is not 4 octets -> error
            // 7/1 carrying the whole message.
            if matches!(
                subtype,
                RefreshSubtype::BeginningOfRefresh | RefreshSubtype::EndOfRefresh
            ) {
                return Err(Notification::new(
                    ErrorCode::RouteRefresh(RouteRefreshSubcode::InvalidMessageLength),
                    whole.clone(),
                )
                .at("ROUTE-REFRESH length"));
            }
            // RFC 2918 §3 defines only 4 octets without ORF (RFC 5291,
            // which we never negotiate) -> Bad Message Length.
            return Err(Notification::header(
                HeaderSubcode::BadMessageLength,
                ((body.len() + HEADER_LEN) as u16).to_be_bytes().to_vec(),
            )
            .at("ROUTE-REFRESH length"));
        }
        Ok(RouteRefresh {
            family: Family::new(afi, safi),
            subtype,
        })
    }
}
