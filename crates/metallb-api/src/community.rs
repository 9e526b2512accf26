//! BGP community values: `AA:NN` (RFC 1997) and `large:A:B:C` (RFC 8092).

use std::fmt;

/// A parsed community value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Community {
    /// `AA:NN`, 16 bits each.
    Standard(u16, u16),
    /// `large:A:B:C`, 32 bits each.
    Large(u32, u32, u32),
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Community::Standard(a, b) => write!(f, "{a}:{b}"),
            Community::Large(a, b, c) => write!(f, "large:{a}:{b}:{c}"),
        }
    }
}

/// Parses `AA:NN` or `large:A:B:C`. The error is MetalLB-like text.
pub fn parse_community(value: &str) -> Result<Community, String> {
    if let Some(rest) = value.strip_prefix("large:") {
        let parts: Vec<&str> = rest.split(':').collect();
        let [a, b, c] = parts.as_slice() else {
            return Err(format!(
                "invalid large community value {value:?}: expected the form large:A:B:C"
            ));
        };
        let num = |s: &str, which: &str| {
            s.parse::<u32>().map_err(|_| {
                format!("invalid {which} section of large community value {value:?}: {s:?} is not a 32-bit number")
            })
        };
        return Ok(Community::Large(
            num(a, "first")?,
            num(b, "second")?,
            num(c, "third")?,
        ));
    }
    let Some((a, b)) = value.split_once(':') else {
        return Err(format!(
            "invalid community value {value:?}: expected the form AA:NN or large:A:B:C"
        ));
    };
    let num = |s: &str, which: &str| {
        s.parse::<u16>().map_err(|_| {
            format!("invalid {which} section of community value {value:?}: {s:?} is not a 16-bit number")
        })
    };
    Ok(Community::Standard(num(a, "first")?, num(b, "second")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_and_large_communities_parse() {
        assert_eq!(
            parse_community("65000:100"),
            Ok(Community::Standard(65000, 100))
        );
        assert_eq!(
            parse_community("large:4200000000:1:2"),
            Ok(Community::Large(4_200_000_000, 1, 2))
        );
        assert_eq!(Community::Large(1, 2, 3).to_string(), "large:1:2:3");
    }

    #[test]
    fn out_of_range_or_malformed_communities_are_rejected() {
        for bad in [
            "65536:1",
            "1:65536",
            "1",
            "a:b",
            "large:1:2",
            "large:1:2:4294967296",
            "1:2:3",
        ] {
            assert!(parse_community(bad).is_err(), "{bad} accepted");
        }
    }
}
