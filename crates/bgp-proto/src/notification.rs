//! NOTIFICATION messages (RFC 4271 §4.5) with typed error codes and
//! subcodes, including RFC 4486 Cease subcodes, RFC 6608 FSM subcodes,
//! RFC 7313 ROUTE-REFRESH errors, RFC 9687 send hold timer and the RFC 9003
//! shutdown communication.
//!
//! Every decode failure in this crate is a [`Notification`]: a value that is
//! ready to be encoded and sent to the peer, plus the name of the field that
//! was at fault so the log line says what went wrong.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::types::hex_preview;

macro_rules! subcodes {
    (
        $(#[$meta:meta])*
        $name:ident { $( $variant:ident = $value:literal => $text:literal ),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $variant, )*
            /// A subcode this implementation has no name for.
            Unknown(u8),
        }

        impl $name {
            pub fn from_u8(v: u8) -> Self {
                match v {
                    $( $value => $name::$variant, )*
                    other => $name::Unknown(other),
                }
            }

            pub fn to_u8(self) -> u8 {
                match self {
                    $( $name::$variant => $value, )*
                    $name::Unknown(v) => v,
                }
            }

            pub fn description(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )*
                    $name::Unknown(_) => "unknown subcode",
                }
            }
        }
    };
}

subcodes! {
    /// Message Header Error subcodes (RFC 4271 §4.5).
    HeaderSubcode {
        Unspecific = 0 => "unspecific",
        ConnectionNotSynchronized = 1 => "connection not synchronized",
        BadMessageLength = 2 => "bad message length",
        BadMessageType = 3 => "bad message type",
    }
}

subcodes! {
    /// OPEN Message Error subcodes (RFC 4271 §4.5, RFC 5492, RFC 9234).
    OpenSubcode {
        Unspecific = 0 => "unspecific",
        UnsupportedVersion = 1 => "unsupported version number",
        BadPeerAs = 2 => "bad peer AS",
        BadBgpIdentifier = 3 => "bad BGP identifier",
        UnsupportedOptionalParameter = 4 => "unsupported optional parameter",
        UnacceptableHoldTime = 6 => "unacceptable hold time",
        UnsupportedCapability = 7 => "unsupported capability",
        RoleMismatch = 11 => "role mismatch",
    }
}

subcodes! {
    /// UPDATE Message Error subcodes (RFC 4271 §4.5).
    UpdateSubcode {
        Unspecific = 0 => "unspecific",
        MalformedAttributeList = 1 => "malformed attribute list",
        UnrecognizedWellKnownAttribute = 2 => "unrecognized well-known attribute",
        MissingWellKnownAttribute = 3 => "missing well-known attribute",
        AttributeFlagsError = 4 => "attribute flags error",
        AttributeLengthError = 5 => "attribute length error",
        InvalidOriginAttribute = 6 => "invalid ORIGIN attribute",
        InvalidNextHopAttribute = 8 => "invalid NEXT_HOP attribute",
        OptionalAttributeError = 9 => "optional attribute error",
        InvalidNetworkField = 10 => "invalid network field",
        MalformedAsPath = 11 => "malformed AS_PATH",
    }
}

subcodes! {
    /// Finite State Machine Error subcodes (RFC 6608 §3).
    FsmSubcode {
        Unspecified = 0 => "unspecified",
        UnexpectedInOpenSent = 1 => "unexpected message in OpenSent state",
        UnexpectedInOpenConfirm = 2 => "unexpected message in OpenConfirm state",
        UnexpectedInEstablished = 3 => "unexpected message in Established state",
    }
}

subcodes! {
    /// Cease subcodes (RFC 4486 §4, RFC 8538 §5, RFC 9384).
    CeaseSubcode {
        Unspecific = 0 => "unspecific",
        MaximumPrefixesReached = 1 => "maximum number of prefixes reached",
        AdministrativeShutdown = 2 => "administrative shutdown",
        PeerDeconfigured = 3 => "peer de-configured",
        AdministrativeReset = 4 => "administrative reset",
        ConnectionRejected = 5 => "connection rejected",
        OtherConfigurationChange = 6 => "other configuration change",
        ConnectionCollisionResolution = 7 => "connection collision resolution",
        OutOfResources = 8 => "out of resources",
        HardReset = 9 => "hard reset",
        BfdDown = 10 => "BFD down",
    }
}

subcodes! {
    /// ROUTE-REFRESH Message Error subcodes (RFC 7313 §5).
    RouteRefreshSubcode {
        Reserved = 0 => "reserved",
        InvalidMessageLength = 1 => "invalid message length",
    }
}

/// The error code and subcode of a NOTIFICATION, typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 1: Message Header Error.
    MessageHeader(HeaderSubcode),
    /// 2: OPEN Message Error.
    Open(OpenSubcode),
    /// 3: UPDATE Message Error.
    Update(UpdateSubcode),
    /// 4: Hold Timer Expired (subcode carried for round-trip; 0 on send).
    HoldTimerExpired(u8),
    /// 5: Finite State Machine Error (RFC 6608).
    Fsm(FsmSubcode),
    /// 6: Cease (RFC 4486).
    Cease(CeaseSubcode),
    /// 7: ROUTE-REFRESH Message Error (RFC 7313).
    RouteRefresh(RouteRefreshSubcode),
    /// 8: Send Hold Timer Expired (RFC 9687).
    SendHoldTimerExpired(u8),
    /// Any other code.
    Unknown { code: u8, subcode: u8 },
}

impl ErrorCode {
    pub fn from_pair(code: u8, subcode: u8) -> Self {
        match code {
            1 => ErrorCode::MessageHeader(HeaderSubcode::from_u8(subcode)),
            2 => ErrorCode::Open(OpenSubcode::from_u8(subcode)),
            3 => ErrorCode::Update(UpdateSubcode::from_u8(subcode)),
            4 => ErrorCode::HoldTimerExpired(subcode),
            5 => ErrorCode::Fsm(FsmSubcode::from_u8(subcode)),
            6 => ErrorCode::Cease(CeaseSubcode::from_u8(subcode)),
            7 => ErrorCode::RouteRefresh(RouteRefreshSubcode::from_u8(subcode)),
            8 => ErrorCode::SendHoldTimerExpired(subcode),
            code => ErrorCode::Unknown { code, subcode },
        }
    }

    pub fn code(self) -> u8 {
        match self {
            ErrorCode::MessageHeader(_) => 1,
            ErrorCode::Open(_) => 2,
            ErrorCode::Update(_) => 3,
            ErrorCode::HoldTimerExpired(_) => 4,
            ErrorCode::Fsm(_) => 5,
            ErrorCode::Cease(_) => 6,
            ErrorCode::RouteRefresh(_) => 7,
            ErrorCode::SendHoldTimerExpired(_) => 8,
            ErrorCode::Unknown { code, .. } => code,
        }
    }

    pub fn subcode(self) -> u8 {
        match self {
            ErrorCode::MessageHeader(s) => s.to_u8(),
            ErrorCode::Open(s) => s.to_u8(),
            ErrorCode::Update(s) => s.to_u8(),
            ErrorCode::HoldTimerExpired(s) | ErrorCode::SendHoldTimerExpired(s) => s,
            ErrorCode::Fsm(s) => s.to_u8(),
            ErrorCode::Cease(s) => s.to_u8(),
            ErrorCode::RouteRefresh(s) => s.to_u8(),
            ErrorCode::Unknown { subcode, .. } => subcode,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (code, sub) = match *self {
            ErrorCode::MessageHeader(s) => ("message header error", s.description()),
            ErrorCode::Open(s) => ("OPEN message error", s.description()),
            ErrorCode::Update(s) => ("UPDATE message error", s.description()),
            ErrorCode::HoldTimerExpired(_) => ("hold timer expired", ""),
            ErrorCode::Fsm(s) => ("finite state machine error", s.description()),
            ErrorCode::Cease(s) => ("cease", s.description()),
            ErrorCode::RouteRefresh(s) => ("ROUTE-REFRESH message error", s.description()),
            ErrorCode::SendHoldTimerExpired(_) => ("send hold timer expired", ""),
            ErrorCode::Unknown { .. } => ("unknown error code", ""),
        };
        write!(f, "{code}")?;
        if !sub.is_empty() {
            write!(f, " / {sub}")?;
        }
        write!(f, " ({}/{})", self.code(), self.subcode())
    }
}

//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Error code    | Error subcode |   Data (variable)             |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// A NOTIFICATION: to send (every decode error is one) or received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub code: ErrorCode,
    pub data: Bytes,
    /// What was being decoded when the error was found (empty for a
    /// NOTIFICATION received from a peer). Only for logs; not on the wire.
    pub field: &'static str,
}

impl Notification {
    pub fn new(code: ErrorCode, data: impl Into<Bytes>) -> Self {
        Notification {
            code,
            data: data.into(),
            field: "",
        }
    }

    /// Same NOTIFICATION, naming the field that was at fault.
    pub fn at(mut self, field: &'static str) -> Self {
        self.field = field;
        self
    }

    pub fn header(sub: HeaderSubcode, data: impl Into<Bytes>) -> Self {
        Notification::new(ErrorCode::MessageHeader(sub), data)
    }

    pub fn open(sub: OpenSubcode, data: impl Into<Bytes>) -> Self {
        Notification::new(ErrorCode::Open(sub), data)
    }

    pub fn update(sub: UpdateSubcode, data: impl Into<Bytes>) -> Self {
        Notification::new(ErrorCode::Update(sub), data)
    }

    pub fn fsm(sub: FsmSubcode) -> Self {
        Notification::new(ErrorCode::Fsm(sub), Bytes::new())
    }

    pub fn cease(sub: CeaseSubcode) -> Self {
        Notification::new(ErrorCode::Cease(sub), Bytes::new())
    }

    pub fn hold_timer_expired() -> Self {
        Notification::new(ErrorCode::HoldTimerExpired(0), Bytes::new())
    }

    pub fn send_hold_timer_expired() -> Self {
        Notification::new(ErrorCode::SendHoldTimerExpired(0), Bytes::new())
    }

    /// RFC 9003 §2: Cease / Administrative Shutdown carrying a shutdown
    /// communication (a length octet, then at most 255 octets of UTF-8). A
    /// longer reason is cut at a character boundary.
    pub fn admin_shutdown(reason: &str) -> Self {
        Self::cease_with_reason(CeaseSubcode::AdministrativeShutdown, reason)
    }

    /// RFC 9003 §2: Cease / Administrative Reset with a shutdown communication.
    pub fn admin_reset(reason: &str) -> Self {
        Self::cease_with_reason(CeaseSubcode::AdministrativeReset, reason)
    }

    fn cease_with_reason(sub: CeaseSubcode, reason: &str) -> Self {
        let mut end = reason.len().min(255);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        let text = &reason.as_bytes()[..end];
        let mut data = BytesMut::with_capacity(1 + text.len());
        if !text.is_empty() {
            data.put_u8(text.len() as u8);
            data.put_slice(text);
        }
        Notification::new(ErrorCode::Cease(sub), data.freeze())
    }

    /// RFC 8538 §3: Cease / Hard Reset carrying `inner`. The data is the
    /// encapsulated NOTIFICATION's code, subcode and data:
    //  +--------+--------+--------------------------+
    //  | ErrCode| Subcode| Data (variable)          |
    //  +--------+--------+--------------------------+
    pub fn hard_reset(inner: &Notification) -> Self {
        let mut data = BytesMut::with_capacity(inner.body_len());
        inner.encode_body(&mut data);
        Notification {
            code: ErrorCode::Cease(CeaseSubcode::HardReset),
            data: data.freeze(),
            field: inner.field,
        }
    }

    /// RFC 8538 §3: the NOTIFICATION a Hard Reset encapsulates, if this is
    /// a Hard Reset whose data holds at least a code and a subcode.
    pub fn hard_reset_inner(&self) -> Option<Notification> {
        if self.code != ErrorCode::Cease(CeaseSubcode::HardReset) || self.data.len() < 2 {
            return None;
        }
        Some(Notification::new(
            ErrorCode::from_pair(self.data[0], self.data[1]),
            self.data.slice(2..),
        ))
    }

    /// RFC 9003 §2: the shutdown communication of an Administrative Shutdown
    /// or Reset, if the data holds a well-formed one.
    pub fn shutdown_communication(&self) -> Option<&str> {
        if !matches!(
            self.code,
            ErrorCode::Cease(
                CeaseSubcode::AdministrativeShutdown | CeaseSubcode::AdministrativeReset
            )
        ) {
            return None;
        }
        let (&len, rest) = self.data.split_first()?;
        let text = rest.get(..usize::from(len))?;
        std::str::from_utf8(text).ok()
    }

    /// Encoded size of the NOTIFICATION body (code, subcode, data).
    pub fn body_len(&self) -> usize {
        2 + self.data.len()
    }

    pub(crate) fn encode_body(&self, out: &mut BytesMut) {
        out.put_u8(self.code.code());
        out.put_u8(self.code.subcode());
        out.put_slice(&self.data);
    }

    /// Decodes a NOTIFICATION body. The framer guarantees at least 2 bytes.
    pub(crate) fn decode_body(body: &Bytes) -> Result<Self, Notification> {
        if body.len() < 2 {
            return Err(Notification::header(
                HeaderSubcode::BadMessageLength,
                ((body.len() + crate::types::HEADER_LEN) as u16)
                    .to_be_bytes()
                    .to_vec(),
            )
            .at("NOTIFICATION length"));
        }
        Ok(Notification::new(
            ErrorCode::from_pair(body[0], body[1]),
            body.slice(2..),
        ))
    }
}

impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if !self.field.is_empty() {
            write!(f, " in {}", self.field)?;
        }
        if let Some(inner) = self.hard_reset_inner() {
            write!(f, " of [{inner}]")?;
        } else if let Some(text) = self.shutdown_communication() {
            write!(f, ": \"{}\"", text.escape_debug())?;
        } else if !self.data.is_empty() {
            write!(f, ", data [{}]", hex_preview(&self.data))?;
        }
        Ok(())
    }
}

impl std::error::Error for Notification {}
