//! IP families and the mapping between `IpAddr` and plain `u128` numbers.
//!
//! The allocator works on integers: an IPv4 address is its 32-bit value,
//! an IPv6 address its 128-bit value. The two families live in separate
//! number spaces, so a value is always paired with its [`Family`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IP address family.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Family {
    /// IPv4.
    #[serde(rename = "IPv4")]
    V4,
    /// IPv6.
    #[serde(rename = "IPv6")]
    V6,
}

impl Family {
    /// Both families, IPv4 first.
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];

    /// The family of an address.
    pub fn of(ip: &IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// The other family.
    pub fn other(self) -> Family {
        match self {
            Family::V4 => Family::V6,
            Family::V6 => Family::V4,
        }
    }

    /// Index into per-family arrays (`[v4, v6]`).
    pub(crate) fn index(self) -> usize {
        match self {
            Family::V4 => 0,
            Family::V6 => 1,
        }
    }

    /// Parses Kubernetes' `spec.ipFamilies` spelling (`IPv4`, `IPv6`).
    pub fn parse_k8s(s: &str) -> Option<Family> {
        match s.trim() {
            "IPv4" => Some(Family::V4),
            "IPv6" => Some(Family::V6),
            _ => None,
        }
    }

    /// MetalLB's spelling in messages (`ipv4`, `ipv6`).
    pub fn metallb_name(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

/// The numeric value of an address, within its family's space.
pub(crate) fn to_u128(ip: &IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(*v4)),
        IpAddr::V6(v6) => u128::from(*v6),
    }
}

/// The address with the given numeric value. Returns `None` for an IPv4
/// value that does not fit in 32 bits.
pub(crate) fn from_u128(family: Family, value: u128) -> Option<IpAddr> {
    match family {
        Family::V4 => u32::try_from(value)
            .ok()
            .map(|v| IpAddr::V4(Ipv4Addr::from(v))),
        Family::V6 => Some(IpAddr::V6(Ipv6Addr::from(value))),
    }
}

/// True for IPv4 addresses ending in .0 or .255, which `avoidBuggyIPs` never
/// hands out (MetalLB's `ipConfusesBuggyFirmwares`).
pub fn is_buggy_ip(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let last = v4.octets()[3];
            last == 0 || last == 255
        }
        IpAddr::V6(_) => false,
    }
}

/// Formats a list of addresses the way Go's `%q` formats a slice of IPs:
/// `["10.0.0.1" "fd00::1"]`. MetalLB's messages use this form.
pub fn go_quote_list<T: fmt::Display>(items: &[T]) -> String {
    let mut out = String::from("[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push('"');
        out.push_str(&item.to_string());
        out.push('"');
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip_through_u128() {
        for s in [
            "0.0.0.0",
            "10.1.2.3",
            "255.255.255.255",
            "::",
            "fd00::1",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ] {
            let ip: IpAddr = s.parse().unwrap();
            assert_eq!(from_u128(Family::of(&ip), to_u128(&ip)), Some(ip));
        }
        assert_eq!(from_u128(Family::V4, 1 << 32), None);
    }

    #[test]
    fn only_ipv4_dot_zero_and_dot_255_are_buggy() {
        assert!(is_buggy_ip(&"10.0.1.0".parse().unwrap()));
        assert!(is_buggy_ip(&"10.0.1.255".parse().unwrap()));
        assert!(!is_buggy_ip(&"10.0.1.1".parse().unwrap()));
        assert!(!is_buggy_ip(&"fd00::ff".parse().unwrap()));
        assert!(!is_buggy_ip(&"fd00::".parse().unwrap()));
    }

    #[test]
    fn lists_are_quoted_like_go() {
        let ips: Vec<IpAddr> = vec!["10.0.0.1".parse().unwrap(), "fd00::1".parse().unwrap()];
        assert_eq!(go_quote_list(&ips), r#"["10.0.0.1" "fd00::1"]"#);
    }
}
