//! Whole messages: the common header (RFC 4271 §4.1) and the five types.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::notification::{HeaderSubcode, Notification};
use crate::open::Open;
use crate::route_refresh::RouteRefresh;
use crate::types::{SessionParams, HEADER_LEN, MAX_MESSAGE_LEN};
use crate::update::Update;

/// The 16-octet all-ones marker that starts every message.
pub const MARKER: [u8; 16] = [0xff; 16];

/// Message type codes (RFC 4271 §4.1, RFC 2918 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    Open = 1,
    Update = 2,
    Notification = 3,
    Keepalive = 4,
    RouteRefresh = 5,
}

impl MessageType {
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => MessageType::Open,
            2 => MessageType::Update,
            3 => MessageType::Notification,
            4 => MessageType::Keepalive,
            5 => MessageType::RouteRefresh,
            _ => return None,
        })
    }

    /// Smallest valid total length for the type (RFC 4271 §4, RFC 2918 §3).
    pub fn min_len(self) -> usize {
        match self {
            MessageType::Open => 29,
            MessageType::Update => 23,
            MessageType::Notification => 21,
            MessageType::Keepalive => 19,
            MessageType::RouteRefresh => 23,
        }
    }

    /// Largest valid total length. RFC 8654 §3: OPEN and KEEPALIVE stay
    /// within 4096 octets even after extended messages are negotiated.
    pub fn max_len(self, params: &SessionParams) -> usize {
        match self {
            MessageType::Open => MAX_MESSAGE_LEN,
            MessageType::Keepalive => HEADER_LEN,
            _ => params.max_message_len(),
        }
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MessageType::Open => "OPEN",
            MessageType::Update => "UPDATE",
            MessageType::Notification => "NOTIFICATION",
            MessageType::Keepalive => "KEEPALIVE",
            MessageType::RouteRefresh => "ROUTE-REFRESH",
        })
    }
}

/// A BGP message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Open(Open),
    Update(Update),
    Notification(Notification),
    Keepalive,
    RouteRefresh(RouteRefresh),
}

/// Why a message could not be encoded. These are bugs or limits on our
/// side, never something a peer can cause.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("{kind} of {len} bytes exceeds the {max}-byte limit of this session")]
    MessageTooLong {
        kind: MessageType,
        len: usize,
        max: usize,
    },
    #[error("{field} of {len} bytes does not fit its length field")]
    FieldTooLong { field: &'static str, len: usize },
}

impl Message {
    pub fn kind(&self) -> MessageType {
        match self {
            Message::Open(_) => MessageType::Open,
            Message::Update(_) => MessageType::Update,
            Message::Notification(_) => MessageType::Notification,
            Message::Keepalive => MessageType::Keepalive,
            Message::RouteRefresh(_) => MessageType::RouteRefresh,
        }
    }

    /// Total length on the wire, header included.
    pub fn encoded_len(&self, params: &SessionParams) -> usize {
        HEADER_LEN
            + match self {
                Message::Open(o) => o.body_len(),
                Message::Update(u) => u.body_len(params),
                Message::Notification(n) => n.body_len(),
                Message::Keepalive => 0,
                Message::RouteRefresh(_) => 4,
            }
    }

    fn check_fields(&self) -> Result<(), EncodeError> {
        match self {
            Message::Open(o) => {
                for cap in o.capabilities() {
                    if cap.value_len() > 255 {
                        return Err(EncodeError::FieldTooLong {
                            field: "capability value",
                            len: cap.value_len(),
                        });
                    }
                }
                if let Some(crate::capability::Capability::Fqdn { hostname, domain }) = o
                    .capabilities()
                    .find(|c| matches!(c, crate::capability::Capability::Fqdn { .. }))
                {
                    if hostname.len() > 255 || domain.len() > 255 {
                        return Err(EncodeError::FieldTooLong {
                            field: "FQDN capability name",
                            len: hostname.len().max(domain.len()),
                        });
                    }
                }
            }
            Message::Update(u) => {
                // Each attribute value is bounded by the message size check
                // in `encode`; only the one-octet next hop length needs its
                // own check.
                for a in &u.attributes {
                    if let crate::attribute::PathAttribute::MpReach(m) = a {
                        if m.next_hop.encoded_len() > 255 {
                            return Err(EncodeError::FieldTooLong {
                                field: "MP_REACH_NLRI next hop",
                                len: m.next_hop.encoded_len(),
                            });
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Appends the encoded message to `out`.
    pub fn encode(&self, params: &SessionParams, out: &mut BytesMut) -> Result<(), EncodeError> {
        self.check_fields()?;
        // The length is patched in after the body is written: summing every
        // prefix's size first would walk the NLRI twice.
        let start = out.len();
        out.put_slice(&MARKER);
        out.put_u16(0);
        out.put_u8(self.kind() as u8);
        match self {
            Message::Open(o) => o.encode_body(out),
            Message::Update(u) => u.encode_body(params, out),
            Message::Notification(n) => n.encode_body(out),
            Message::Keepalive => {}
            Message::RouteRefresh(r) => r.encode_body(out),
        }
        let len = out.len() - start;
        let max = self.kind().max_len(params);
        if len > max {
            out.truncate(start);
            return Err(EncodeError::MessageTooLong {
                kind: self.kind(),
                len,
                max,
            });
        }
        out[start + 16..start + 18].copy_from_slice(&(len as u16).to_be_bytes());
        Ok(())
    }

    /// Encodes into a fresh buffer.
    pub fn to_bytes(&self, params: &SessionParams) -> Result<Bytes, EncodeError> {
        let mut out = BytesMut::with_capacity(self.encoded_len(params));
        self.encode(params, &mut out)?;
        Ok(out.freeze())
    }

    /// Decodes one complete message (header included). The framer has
    /// already checked the header with [`check_header`]; this checks it
    /// again so the function is safe on any input.
    pub fn decode(frame: Bytes, params: &SessionParams) -> Result<Message, Notification> {
        let (len, kind) = match check_header(&frame, params)? {
            Some(h) => h,
            None => {
                return Err(
                    Notification::header(HeaderSubcode::BadMessageLength, Bytes::new())
                        .at("message header"),
                )
            }
        };
        if frame.len() != len {
            return Err(Notification::header(
                HeaderSubcode::BadMessageLength,
                (len as u16).to_be_bytes().to_vec(),
            )
            .at("message length"));
        }
        let body = frame.slice(HEADER_LEN..);
        Ok(match kind {
            MessageType::Open => Message::Open(Open::decode_body(&body)?),
            MessageType::Update => Message::Update(Update::decode_body(&body, params)?),
            MessageType::Notification => Message::Notification(Notification::decode_body(&body)?),
            MessageType::Keepalive => Message::Keepalive,
            MessageType::RouteRefresh => {
                Message::RouteRefresh(RouteRefresh::decode_body(&body, &frame)?)
            }
        })
    }
}

/// Checks a message header (RFC 4271 §6.1) as soon as its 19 octets are in.
///
/// Returns `Ok(None)` if fewer than 19 octets are available, else the total
/// length and type, or the NOTIFICATION to send: a bad marker, a length
/// outside 19..=max for the type, or an unknown type.
pub fn check_header(
    buf: &[u8],
    params: &SessionParams,
) -> Result<Option<(usize, MessageType)>, Notification> {
    let Some(header) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    // RFC 4271 §6.1: a marker that is not all ones -> Connection Not
    // Synchronized.
    if header[..16] != MARKER {
        return Err(
            Notification::header(HeaderSubcode::ConnectionNotSynchronized, Bytes::new())
                .at("message marker"),
        );
    }
    let len_bytes = [header[16], header[17]];
    let len = usize::from(u16::from_be_bytes(len_bytes));
    let bad_length = || {
        Notification::header(HeaderSubcode::BadMessageLength, len_bytes.to_vec())
            .at("message length")
    };
    // RFC 4271 §6.1: length below 19 or above the maximum -> Bad Message
    // Length, data = the length field.
    if len < HEADER_LEN || len > params.max_message_len() {
        return Err(bad_length());
    }
    // RFC 4271 §6.1: an unknown type -> Bad Message Type, data = the type.
    let Some(kind) = MessageType::from_u8(header[18]) else {
        return Err(
            Notification::header(HeaderSubcode::BadMessageType, vec![header[18]])
                .at("message type"),
        );
    };
    // RFC 4271 §6.1: a length wrong for the type (too short, or a KEEPALIVE
    // longer than 19, or an OPEN/KEEPALIVE over 4096 per RFC 8654 §3).
    if len < kind.min_len() || len > kind.max_len(params) {
        return Err(bad_length());
    }
    Ok(Some((len, kind)))
}
