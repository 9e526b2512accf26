//! The BFD Control packet (RFC 5880 §4.1) and the reception checks of
//! RFC 5880 §6.8.6 that need nothing but the packet itself.
//!
//! Authentication (§4.2-4.4, §6.7) is not implemented: a packet with the A
//! bit set is rejected, as §6.8.6 requires of a session without
//! authentication configured.

use std::fmt;

/// Session state as carried in the two `Sta` bits (RFC 5880 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    AdminDown = 0,
    Down = 1,
    Init = 2,
    Up = 3,
}

impl State {
    fn from_bits(b: u8) -> State {
        match b & 3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }

    /// Lower-case name, as `/status` and logs print it.
    pub fn name(self) -> &'static str {
        match self {
            State::AdminDown => "admin-down",
            State::Down => "down",
            State::Init => "init",
            State::Up => "up",
        }
    }
}

/// Diagnostic code (RFC 5880 §4.1, `Diag`): why the sender's session last
/// left Up (or 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Diag {
    None,
    ControlDetectionTimeExpired,
    EchoFunctionFailed,
    NeighborSignaledSessionDown,
    ForwardingPlaneReset,
    PathDown,
    ConcatenatedPathDown,
    AdministrativelyDown,
    ReverseConcatenatedPathDown,
    /// 9-31: reserved; kept so that a peer's value is reported as sent.
    Reserved(u8),
}

impl Diag {
    pub fn code(self) -> u8 {
        match self {
            Diag::None => 0,
            Diag::ControlDetectionTimeExpired => 1,
            Diag::EchoFunctionFailed => 2,
            Diag::NeighborSignaledSessionDown => 3,
            Diag::ForwardingPlaneReset => 4,
            Diag::PathDown => 5,
            Diag::ConcatenatedPathDown => 6,
            Diag::AdministrativelyDown => 7,
            Diag::ReverseConcatenatedPathDown => 8,
            Diag::Reserved(c) => c & 0x1f,
        }
    }

    pub fn from_code(c: u8) -> Diag {
        match c & 0x1f {
            0 => Diag::None,
            1 => Diag::ControlDetectionTimeExpired,
            2 => Diag::EchoFunctionFailed,
            3 => Diag::NeighborSignaledSessionDown,
            4 => Diag::ForwardingPlaneReset,
            5 => Diag::PathDown,
            6 => Diag::ConcatenatedPathDown,
            7 => Diag::AdministrativelyDown,
            8 => Diag::ReverseConcatenatedPathDown,
            c => Diag::Reserved(c),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Diag::None => "none",
            Diag::ControlDetectionTimeExpired => "control-detection-time-expired",
            Diag::EchoFunctionFailed => "echo-function-failed",
            Diag::NeighborSignaledSessionDown => "neighbor-signaled-session-down",
            Diag::ForwardingPlaneReset => "forwarding-plane-reset",
            Diag::PathDown => "path-down",
            Diag::ConcatenatedPathDown => "concatenated-path-down",
            Diag::AdministrativelyDown => "administratively-down",
            Diag::ReverseConcatenatedPathDown => "reverse-concatenated-path-down",
            Diag::Reserved(_) => "reserved",
        }
    }
}

/// The mandatory section of a BFD Control packet (RFC 5880 §4.1), 24
/// octets, all integers big-endian, intervals in microseconds:
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                       My Discriminator                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                      Your Discriminator                       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    Desired Min TX Interval                    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                   Required Min RX Interval                    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                 Required Min Echo RX Interval                 |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   (optional authentication section, A bit: never accepted)    |
/// ```
/// Vers = 1. P = Poll, F = Final, C = Control Plane Independent, A =
/// Authentication Present, D = Demand, M = Multipoint (must be 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlPacket {
    pub diag: Diag,
    pub state: State,
    pub poll: bool,
    pub final_: bool,
    pub cpi: bool,
    pub demand: bool,
    pub detect_mult: u8,
    pub my_discriminator: u32,
    pub your_discriminator: u32,
    /// Microseconds.
    pub desired_min_tx: u32,
    /// Microseconds.
    pub required_min_rx: u32,
    /// Microseconds; 0 = the sender does not take echo packets.
    pub required_min_echo_rx: u32,
}

/// Length of the mandatory section.
pub const PACKET_LEN: usize = 24;
/// Length of the smallest packet with an authentication section.
const PACKET_LEN_AUTH: usize = 26;
const VERSION: u8 = 1;

/// Why a received datagram is not a usable Control packet. Every variant
/// names the field that failed ([`DecodeError::field`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The datagram is shorter than the 24-octet mandatory section.
    Truncated {
        len: usize,
    },
    Version {
        version: u8,
    },
    /// The Length field is below the minimum or beyond the datagram.
    Length {
        length: u8,
        datagram: usize,
    },
    DetectMult,
    Multipoint,
    MyDiscriminator,
    /// Your Discriminator is 0 but the sender is past Down.
    YourDiscriminator {
        state: State,
    },
    /// The A bit: authentication is not configured (nor implemented).
    Authentication,
}

impl DecodeError {
    /// The packet field the check is about, as `bfd.<field>`.
    pub fn field(&self) -> &'static str {
        match self {
            DecodeError::Truncated { .. } => "bfd.packet",
            DecodeError::Version { .. } => "bfd.version",
            DecodeError::Length { .. } => "bfd.length",
            DecodeError::DetectMult => "bfd.detect_mult",
            DecodeError::Multipoint => "bfd.multipoint",
            DecodeError::MyDiscriminator => "bfd.my_discriminator",
            DecodeError::YourDiscriminator { .. } => "bfd.your_discriminator",
            DecodeError::Authentication => "bfd.authentication",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = self.field();
        match self {
            DecodeError::Truncated { len } => {
                write!(f, "{field}: {len} octets, a control packet has at least 24")
            }
            DecodeError::Version { version } => write!(f, "{field}: {version}, expected 1"),
            DecodeError::Length { length, datagram } => write!(
                f,
                "{field}: {length} (datagram {datagram} octets; minimum 24, 26 with authentication)"
            ),
            DecodeError::DetectMult => write!(f, "{field}: 0"),
            DecodeError::Multipoint => write!(f, "{field}: M bit set"),
            DecodeError::MyDiscriminator => write!(f, "{field}: 0"),
            DecodeError::YourDiscriminator { state } => {
                write!(f, "{field}: 0 while the sender is {}", state.name())
            }
            DecodeError::Authentication => {
                write!(f, "{field}: A bit set, no authentication configured")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl ControlPacket {
    /// Decodes one UDP payload, applying the packet-only discard rules of
    /// RFC 5880 §6.8.6 in the RFC's order.
    pub fn decode(buf: &[u8]) -> Result<ControlPacket, DecodeError> {
        if buf.len() < PACKET_LEN {
            return Err(DecodeError::Truncated { len: buf.len() });
        }
        // §6.8.6: a version other than 1 is discarded.
        let version = buf[0] >> 5;
        if version != VERSION {
            return Err(DecodeError::Version { version });
        }
        let flags = buf[1];
        let auth = flags & 0x04 != 0;
        let length = buf[3];
        // §6.8.6: Length below 24 (26 with the A bit) or beyond what
        // the datagram holds is discarded.
        let min = if auth { PACKET_LEN_AUTH } else { PACKET_LEN };
        if usize::from(length) < min || usize::from(length) > buf.len() {
            return Err(DecodeError::Length {
                length,
                datagram: buf.len(),
            });
        }
        let p = ControlPacket {
            diag: Diag::from_code(buf[0]),
            state: State::from_bits(flags >> 6),
            poll: flags & 0x20 != 0,
            final_: flags & 0x10 != 0,
            cpi: flags & 0x08 != 0,
            demand: flags & 0x02 != 0,
            detect_mult: buf[2],
            my_discriminator: be32(buf, 4),
            your_discriminator: be32(buf, 8),
            desired_min_tx: be32(buf, 12),
            required_min_rx: be32(buf, 16),
            required_min_echo_rx: be32(buf, 20),
        };
        // §6.8.6: a zero Detect Mult is discarded.
        if p.detect_mult == 0 {
            return Err(DecodeError::DetectMult);
        }
        // §6.8.6: the Multipoint bit is reserved for RFC 8562 and must be 0.
        if flags & 0x01 != 0 {
            return Err(DecodeError::Multipoint);
        }
        // §6.8.6: My Discriminator must be nonzero.
        if p.my_discriminator == 0 {
            return Err(DecodeError::MyDiscriminator);
        }
        // §6.8.6: Your Discriminator may only be zero from a sender in
        // Down or AdminDown (it has not heard us yet).
        if p.your_discriminator == 0 && !matches!(p.state, State::Down | State::AdminDown) {
            return Err(DecodeError::YourDiscriminator { state: p.state });
        }
        // §6.8.6: the A bit without authentication configured is
        // discarded (we never configure it).
        if auth {
            return Err(DecodeError::Authentication);
        }
        Ok(p)
    }

    /// The 24-octet wire form (no authentication section, M = 0).
    pub fn encode(&self) -> [u8; PACKET_LEN] {
        let mut b = [0u8; PACKET_LEN];
        b[0] = (VERSION << 5) | self.diag.code();
        b[1] = ((self.state as u8) << 6)
            | (u8::from(self.poll) << 5)
            | (u8::from(self.final_) << 4)
            | (u8::from(self.cpi) << 3)
            | (u8::from(self.demand) << 1);
        b[2] = self.detect_mult;
        b[3] = PACKET_LEN as u8;
        b[4..8].copy_from_slice(&self.my_discriminator.to_be_bytes());
        b[8..12].copy_from_slice(&self.your_discriminator.to_be_bytes());
        b[12..16].copy_from_slice(&self.desired_min_tx.to_be_bytes());
        b[16..20].copy_from_slice(&self.required_min_rx.to_be_bytes());
        b[20..24].copy_from_slice(&self.required_min_echo_rx.to_be_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ControlPacket {
        ControlPacket {
            diag: Diag::None,
            state: State::Up,
            poll: false,
            final_: true,
            cpi: false,
            demand: false,
            detect_mult: 3,
            my_discriminator: 7,
            your_discriminator: 9,
            desired_min_tx: 300_000,
            required_min_rx: 300_000,
            required_min_echo_rx: 50_000,
        }
    }

    fn err(b: &[u8]) -> &'static str {
        ControlPacket::decode(b).unwrap_err().field()
    }

    #[test]
    fn encoded_packet_decodes_to_itself() {
        let p = sample();
        assert_eq!(ControlPacket::decode(&p.encode()), Ok(p));
    }

    #[test]
    fn short_datagram_is_rejected_as_truncated() {
        assert_eq!(err(&sample().encode()[..23]), "bfd.packet");
    }

    #[test]
    fn version_zero_is_rejected() {
        let mut b = sample().encode();
        b[0] &= 0x1f;
        assert_eq!(err(&b), "bfd.version");
    }

    #[test]
    fn length_below_24_or_beyond_datagram_is_rejected() {
        let mut b = sample().encode();
        b[3] = 23;
        assert_eq!(err(&b), "bfd.length");
        b[3] = 25;
        assert_eq!(err(&b), "bfd.length");
    }

    #[test]
    fn trailing_octets_beyond_length_are_ignored() {
        let mut v = sample().encode().to_vec();
        v.extend_from_slice(&[0xff; 4]);
        assert_eq!(ControlPacket::decode(&v), Ok(sample()));
    }

    #[test]
    fn zero_detect_mult_is_rejected() {
        let mut b = sample().encode();
        b[2] = 0;
        assert_eq!(err(&b), "bfd.detect_mult");
    }

    #[test]
    fn multipoint_bit_is_rejected() {
        let mut b = sample().encode();
        b[1] |= 1;
        assert_eq!(err(&b), "bfd.multipoint");
    }

    #[test]
    fn zero_my_discriminator_is_rejected() {
        let mut p = sample();
        p.my_discriminator = 0;
        assert_eq!(err(&p.encode()), "bfd.my_discriminator");
    }

    #[test]
    fn zero_your_discriminator_is_rejected_past_down_only() {
        let mut p = sample();
        p.your_discriminator = 0;
        assert_eq!(err(&p.encode()), "bfd.your_discriminator");
        p.state = State::Init;
        assert_eq!(err(&p.encode()), "bfd.your_discriminator");
        p.state = State::Down;
        assert!(ControlPacket::decode(&p.encode()).is_ok());
        p.state = State::AdminDown;
        assert!(ControlPacket::decode(&p.encode()).is_ok());
    }

    #[test]
    fn authentication_bit_is_rejected_without_auth() {
        let mut v = sample().encode().to_vec();
        v[1] |= 0x04;
        v[3] = 24;
        assert_eq!(err(&v), "bfd.length", "A bit needs 26 octets");
        v.extend_from_slice(&[1, 2]);
        v[3] = 26;
        assert_eq!(err(&v), "bfd.authentication");
    }

    #[test]
    fn error_text_names_the_field() {
        let mut b = sample().encode();
        b[2] = 0;
        let e = ControlPacket::decode(&b).unwrap_err();
        assert!(e.to_string().starts_with("bfd.detect_mult"), "{e}");
    }
}
