//! IPAddressPool rules.

use super::*;

// -------------------------------------------------------------------- pools

/// Summarizes an inclusive range into CIDRs (`ipaddr.Summarize`).
pub(super) fn summarize(first: u128, last: u128, v6: bool) -> Vec<IpNet> {
    let bits: u32 = if v6 { 128 } else { 32 };
    let mut out = Vec::new();
    let mut cur = first;
    loop {
        // Largest block aligned at `cur` that does not pass `last`.
        let mut size_bits = if cur == 0 {
            bits
        } else {
            cur.trailing_zeros().min(bits)
        };
        while size_bits > 0 {
            let span = if size_bits >= 128 {
                u128::MAX
            } else {
                (1u128 << size_bits) - 1
            };
            if cur.checked_add(span).is_some_and(|end| end <= last) {
                break;
            }
            size_bits -= 1;
        }
        let prefix = u8::try_from(bits - size_bits).unwrap_or(0);
        let net = if v6 {
            Ipv6Net::new(cur.into(), prefix).map(IpNet::V6).ok()
        } else {
            u32::try_from(cur)
                .ok()
                .and_then(|c| Ipv4Net::new(Ipv4Addr::from(c), prefix).ok())
                .map(IpNet::V4)
        };
        if let Some(n) = net {
            out.push(n);
        }
        let span = if size_bits >= 128 {
            u128::MAX
        } else {
            (1u128 << size_bits) - 1
        };
        match cur.checked_add(span) {
            Some(end) if end < last => cur = end + 1,
            _ => break,
        }
    }
    out
}

pub(super) fn ip_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// CIDRs of one `spec.addresses` entry (only called on validated pools).
pub(super) fn entry_cidrs(raw: &str) -> Vec<IpNet> {
    let text = raw.trim();
    if let Some((a, b)) = text.split_once('-') {
        let (Ok(a), Ok(b)) = (a.trim().parse::<IpAddr>(), b.trim().parse::<IpAddr>()) else {
            return Vec::new();
        };
        return summarize(ip_u128(a), ip_u128(b), a.is_ipv6());
    }
    text.parse::<IpNet>()
        .map(|n| vec![n.trunc()])
        .unwrap_or_default()
}

pub(super) fn pool_error(
    cx: &mut Ctx,
    p: &Loaded<crate::types::IpAddressPoolSpec>,
    e: &allocator::ConfigError,
) {
    let text = e.to_string();
    let prefix = format!("IPAddressPool {:?}: ", p.name);
    let rest = text.strip_prefix(&prefix).unwrap_or(&text);
    let (field, msg) = match rest.split_once(": ") {
        Some((f, m)) if f.starts_with("spec") || f.starts_with("metadata") => (f, m),
        _ => ("", rest),
    };
    cx.err(POOL, p, field.to_string(), msg.to_string());
}

pub(super) fn pools(cx: &mut Ctx, objects: &Objects) -> BTreeMap<String, PoolConfig> {
    let mut good: Vec<(&Loaded<_>, IpAddressPool)> = Vec::new();
    for p in &objects.ip_address_pools {
        let pool = IpAddressPool::new(p.name.clone(), (&p.spec).into());
        match validate_pools(std::slice::from_ref(&pool)) {
            Ok(_) => good.push((p, pool)),
            Err(e) => pool_error(cx, p, &e),
        }
    }
    // Overlaps, pairwise so that every overlapping pair is reported.
    let mut bad = BTreeSet::new();
    for i in 0..good.len() {
        for j in 0..i {
            let pair = [good[j].1.clone(), good[i].1.clone()];
            if let Err(e) = validate_pools(&pair) {
                pool_error(cx, good[i].0, &e);
                bad.insert(i);
            }
        }
    }
    good.into_iter()
        .enumerate()
        .filter(|(i, _)| !bad.contains(i))
        .map(|(_, (l, pool))| {
            let cidrs = pool
                .spec
                .addresses
                .iter()
                .map(|a| (a.clone(), entry_cidrs(a)))
                .collect();
            (
                l.name.clone(),
                PoolConfig {
                    pool,
                    labels: l.labels.clone(),
                    cidrs,
                },
            )
        })
        .collect()
}
