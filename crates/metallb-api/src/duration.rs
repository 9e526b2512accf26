//! Go `time.ParseDuration` for the `metav1.Duration` fields of BGPPeer
//! (`holdTime`, `keepaliveTime`, `connectTime`).

use std::time::Duration;

/// Parses a Go duration string such as `"90s"`, `"1m30s"`, `"500ms"`,
/// `"1.5h"` or `"0"`. Units: `ns`, `us` (`µs`, `μs`), `ms`, `s`, `m`, `h`.
/// Negative durations are rejected (no BGP timer can be negative).
pub fn parse_go_duration(input: &str) -> Result<Duration, String> {
    let err = || format!("time: invalid duration {input:?}");
    let mut s = input;
    if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    } else if let Some(rest) = s.strip_prefix('-') {
        if rest == "0" {
            return Ok(Duration::ZERO);
        }
        return Err(format!(
            "time: invalid duration {input:?}: must not be negative"
        ));
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(err());
    }
    let mut total: u128 = 0;
    while !s.is_empty() {
        // Integer part.
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, rest) = s.split_at(int_len);
        s = rest;
        // Fraction.
        let mut frac_part = "";
        if let Some(rest) = s.strip_prefix('.') {
            let frac_len = rest.bytes().take_while(u8::is_ascii_digit).count();
            let (f, r) = rest.split_at(frac_len);
            frac_part = f;
            s = r;
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(err());
        }
        // Unit.
        let unit_len = s
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(s.len(), |(i, _)| i);
        let (unit, rest) = s.split_at(unit_len);
        s = rest;
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3_600 * 1_000_000_000,
            "" => return Err(format!("time: missing unit in duration {input:?}")),
            _ => return Err(format!("time: unknown unit {unit:?} in duration {input:?}")),
        };
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| err())?
        };
        let mut value = int.checked_mul(scale).ok_or_else(err)?;
        // Fraction digits beyond nanosecond precision are truncated, as in Go.
        let mut unit_scale = scale;
        for d in frac_part.bytes() {
            unit_scale /= 10;
            if unit_scale == 0 {
                break;
            }
            value += u128::from(d - b'0') * unit_scale;
        }
        total = total.checked_add(value).ok_or_else(err)?;
    }
    // Go's Duration is an int64 of nanoseconds.
    if total > i64::MAX as u128 {
        return Err(err());
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| err())?;
    let nanos = u32::try_from(total % 1_000_000_000).map_err(|_| err())?;
    Ok(Duration::new(secs, nanos))
}

/// Formats a duration the way Go's `Duration.String` does (`1m30s`, `500ms`).
pub fn format_go_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0s".into();
    }
    let nanos = d.as_nanos();
    if nanos < 1_000_000_000 {
        let (v, unit) = if nanos < 1_000 {
            return format!("{nanos}ns");
        } else if nanos < 1_000_000 {
            (nanos as f64 / 1e3, "µs")
        } else {
            (nanos as f64 / 1e6, "ms")
        };
        return format!("{v}{unit}");
    }
    let mut out = String::new();
    let total_secs = d.as_secs();
    let (h, m) = (total_secs / 3600, (total_secs % 3600) / 60);
    let s = total_secs % 60;
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    let sub = d.subsec_nanos();
    if sub == 0 {
        out.push_str(&format!("{s}s"));
    } else {
        let frac = format!("{sub:09}");
        out.push_str(&format!("{s}.{}s", frac.trim_end_matches('0')));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Duration {
        parse_go_duration(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn simple_go_durations_parse() {
        assert_eq!(ok("90s"), Duration::from_secs(90));
        assert_eq!(ok("1m30s"), Duration::from_secs(90));
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("1h"), Duration::from_secs(3600));
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("0s"), Duration::ZERO);
        assert_eq!(ok("+3s"), Duration::from_secs(3));
    }

    #[test]
    fn fractional_and_mixed_units_parse() {
        assert_eq!(ok("1.5h"), Duration::from_secs(5400));
        assert_eq!(ok("2.5s"), Duration::from_millis(2500));
        assert_eq!(ok(".5s"), Duration::from_millis(500));
        assert_eq!(ok("1h2m3s4ms5us6ns"), Duration::new(3723, 4_005_006));
        assert_eq!(ok("10µs"), Duration::from_micros(10));
        assert_eq!(ok("1.0000000009s"), Duration::from_secs(1));
    }

    #[test]
    fn malformed_durations_are_rejected() {
        for bad in [
            "",
            "90",
            "s",
            "1x",
            "1.s.",
            "-5s",
            "1m-3s",
            "..s",
            "9999999999h",
        ] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            parse_go_duration("90").unwrap_err(),
            "time: missing unit in duration \"90\""
        );
    }

    #[test]
    fn durations_format_like_go() {
        assert_eq!(format_go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_go_duration(Duration::from_millis(2500)), "2.5s");
        assert_eq!(format_go_duration(Duration::ZERO), "0s");
        assert_eq!(format_go_duration(Duration::from_secs(3600)), "1h0m0s");
    }
}
