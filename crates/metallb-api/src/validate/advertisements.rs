//! Community, BGPAdvertisement and L2Advertisement rules.

use super::*;

// --------------------------------------------------------------- communities

pub(super) fn communities(cx: &mut Ctx, objects: &Objects) -> BTreeMap<String, Community> {
    let mut out = BTreeMap::new();
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    for c in &objects.communities {
        for (i, alias) in c.spec.communities.iter().enumerate() {
            let field = format!("spec.communities[{i}]");
            if alias.name.is_empty() {
                cx.err(COMMUNITY, c, format!("{field}.name"), "must not be empty");
                continue;
            }
            let value = match parse_community(&alias.value) {
                Ok(v) => v,
                Err(e) => {
                    cx.err(COMMUNITY, c, format!("{field}.value"), e);
                    continue;
                }
            };
            if let Some(first) = owner.get(&alias.name) {
                cx.err(
                    COMMUNITY,
                    c,
                    format!("{field}.name"),
                    format!(
                        "duplicate definition of community {:?} (already defined in Community {first:?})",
                        alias.name
                    ),
                );
                continue;
            }
            owner.insert(alias.name.clone(), c.name.clone());
            out.insert(alias.name.clone(), value);
        }
    }
    out
}

// --------------------------------------------------------- advertisements

pub(super) fn warn_unknown_pools<T>(
    cx: &mut Ctx,
    kind: &str,
    o: &Loaded<T>,
    names: &[String],
    config: &Config,
) {
    for (i, n) in names.iter().enumerate() {
        if !config.pools.contains_key(n) {
            cx.warn(kind, o, format!("spec.ipAddressPools[{i}]"), format!("IPAddressPool {n:?} does not exist (or is invalid): nothing from it is announced"));
        }
    }
}

pub(super) fn bgp_advertisements(
    cx: &mut Ctx,
    objects: &Objects,
    config: &Config,
) -> BTreeMap<String, BgpAdvertisement> {
    let mut out = BTreeMap::new();
    for (idx, o) in objects.bgp_advertisements.iter().enumerate() {
        let s = &o.spec;
        let before = cx.errors.len();
        let agg = |cx: &mut Ctx, field: &str, v: Option<i64>, max: i64, fam: &str| -> u8 {
            match v {
                None => u8::try_from(max).unwrap_or(0),
                Some(n) if (1..=max).contains(&n) => u8::try_from(n).unwrap_or(0),
                Some(n) => {
                    cx.err(
                        BGPADV,
                        o,
                        format!("spec.{field}"),
                        format!(
                            "invalid aggregation length {n} for {fam}: must be between 1 and {max}"
                        ),
                    );
                    u8::try_from(max).unwrap_or(0)
                }
            }
        };
        let agg4 = agg(cx, "aggregationLength", s.aggregation_length, 32, "IPv4");
        let agg6 = agg(
            cx,
            "aggregationLengthV6",
            s.aggregation_length_v6,
            128,
            "IPv6",
        );
        if !s.service_selectors.is_empty()
            && (s.aggregation_length.is_some_and(|a| a != 32)
                || s.aggregation_length_v6.is_some_and(|a| a != 128))
        {
            cx.err(BGPADV, o, "spec.serviceSelectors", "serviceSelectors can't be used together with a non-default aggregationLength or aggregationLengthV6");
        }
        // Communities.
        let mut communities = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, c) in s.communities.iter().enumerate() {
            let field = format!("spec.communities[{i}]");
            let value = if let Some(v) = config.communities.get(c) {
                Ok(*v)
            } else if c.contains(':') {
                parse_community(c)
                    .map_err(|e| format!("invalid community {c:?} in BGP advertisement: {e}"))
            } else {
                Err(format!("invalid community {c:?} in BGP advertisement: community alias not found (no Community defines it)"))
            };
            match value {
                Ok(v) => {
                    if seen.insert(v) {
                        communities.push(v);
                    } else {
                        cx.err(
                            BGPADV,
                            o,
                            field,
                            format!("duplicate definition of community {c:?}"),
                        );
                    }
                }
                Err(e) => cx.err(BGPADV, o, field, e),
            }
        }
        communities.sort();
        check_duplicate_names(cx, BGPADV, o, "spec.ipAddressPools", &s.ip_address_pools);
        check_duplicate_names(cx, BGPADV, o, "spec.peers", &s.peers);
        check_selector_list(
            cx,
            BGPADV,
            o,
            "spec.ipAddressPoolSelectors",
            &s.ip_address_pool_selectors,
        );
        check_selector_list(cx, BGPADV, o, "spec.nodeSelectors", &s.node_selectors);
        check_selector_list(cx, BGPADV, o, "spec.serviceSelectors", &s.service_selectors);
        warn_unknown_pools(cx, BGPADV, o, &s.ip_address_pools, config);
        for (i, p) in s.peers.iter().enumerate() {
            if !objects.bgp_peers.iter().any(|x| &x.name == p) {
                cx.warn(
                    BGPADV,
                    o,
                    format!("spec.peers[{i}]"),
                    format!("BGPPeer {p:?} does not exist: nothing is sent to it"),
                );
            }
        }
        // Byte-identical duplicates.
        if let Some(first) = objects.bgp_advertisements[..idx]
            .iter()
            .find(|x| x.spec == o.spec)
        {
            cx.err(BGPADV, o, "spec", format!("duplicate definition of bgpadvertisements: BGPAdvertisement {:?} has the same spec", first.name));
        }
        let ad = BgpAdvertisement {
            name: o.name.clone(),
            aggregation_length: agg4,
            aggregation_length_v6: agg6,
            local_pref: s.local_pref.filter(|&l| l != 0),
            communities,
            ip_address_pools: s.ip_address_pools.clone(),
            ip_address_pool_selectors: s.ip_address_pool_selectors.clone(),
            node_selectors: s.node_selectors.clone(),
            peers: s.peers.clone(),
            service_selectors: s.service_selectors.clone(),
        };
        // Aggregation length vs each selected pool (validateBGPAdvPerPool).
        for pool in config.pools.values() {
            if !ad.selects_pool(&pool.pool.name, &pool.labels) {
                continue;
            }
            for (addr, cidrs) in &pool.cidrs {
                let Some(lowest) = cidrs.iter().map(IpNet::prefix_len).min() else {
                    continue;
                };
                let v6 = matches!(cidrs.first(), Some(IpNet::V6(_)));
                let (len, field) = if v6 {
                    (agg6, "spec.aggregationLengthV6")
                } else {
                    (agg4, "spec.aggregationLength")
                };
                if len < lowest {
                    cx.err(BGPADV, o, field, format!(
                        "invalid aggregation length {len}: prefix {lowest} in this pool is more specific than the aggregation length for addresses {addr} (IPAddressPool {:?})",
                        pool.pool.name
                    ));
                }
            }
        }
        // localPref compatibility with the ads accepted so far.
        for other in out.values() {
            if let Some(msg) = local_pref_conflict(&ad, other, config) {
                cx.err(BGPADV, o, "spec.localPref", msg);
            }
        }
        if cx.errors.len() == before {
            out.insert(ad.name.clone(), ad);
        }
    }
    out
}

/// MetalLB's `BGPAdvertisementsHaveCompatibleLocalPref`: two ads on a common
/// pool with different localPref conflict unless the aggregation lengths,
/// the peers or the nodes make their updates disjoint.
pub(super) fn local_pref_conflict(
    a: &BgpAdvertisement,
    b: &BgpAdvertisement,
    config: &Config,
) -> Option<String> {
    if a.local_pref == b.local_pref {
        return None;
    }
    let peers_overlap =
        a.peers.is_empty() || b.peers.is_empty() || a.peers.iter().any(|p| b.peers.contains(p));
    if !peers_overlap || !lists_overlap(&a.node_selectors, &b.node_selectors) {
        return None;
    }
    for pool in config.pools.values() {
        let (name, labels) = (&pool.pool.name, &pool.labels);
        if !a.selects_pool(name, labels) || !b.selects_pool(name, labels) {
            continue;
        }
        let same_v4 = pool.has_family(false) && a.aggregation_length == b.aggregation_length;
        let same_v6 = pool.has_family(true) && a.aggregation_length_v6 == b.aggregation_length_v6;
        if same_v4 || same_v6 {
            return Some(format!(
                "invalid local preference {}: local preference {} was already set for the same type of BGP update by BGPAdvertisement {:?} on IPAddressPool {name:?}. Check existing bgp advertisements with common pools and aggregation lengths",
                a.local_pref.unwrap_or(0),
                b.local_pref.unwrap_or(0),
                b.name
            ));
        }
    }
    None
}

pub(super) fn l2_advertisements(
    cx: &mut Ctx,
    objects: &Objects,
    config: &Config,
) -> BTreeMap<String, L2Advertisement> {
    let mut out = BTreeMap::new();
    for o in &objects.l2_advertisements {
        let s = &o.spec;
        let before = cx.errors.len();
        check_duplicate_names(cx, L2ADV, o, "spec.ipAddressPools", &s.ip_address_pools);
        check_duplicate_names(cx, L2ADV, o, "spec.interfaces", &s.interfaces);
        check_selector_list(
            cx,
            L2ADV,
            o,
            "spec.ipAddressPoolSelectors",
            &s.ip_address_pool_selectors,
        );
        check_selector_list(cx, L2ADV, o, "spec.nodeSelectors", &s.node_selectors);
        check_selector_list(cx, L2ADV, o, "spec.serviceSelectors", &s.service_selectors);
        for (i, p) in s.preferred_node_selectors.iter().enumerate() {
            if !(1..=100).contains(&p.weight) {
                cx.err(
                    L2ADV,
                    o,
                    format!("spec.preferredNodeSelectors[{i}].weight"),
                    format!("Invalid value: {}: must be between 1 and 100", p.weight),
                );
            }
            if let Err(msg) = p.preference.validate() {
                cx.err(
                    L2ADV,
                    o,
                    format!("spec.preferredNodeSelectors[{i}].preference.{msg}"),
                    "invalid selector",
                );
            }
        }
        warn_unknown_pools(cx, L2ADV, o, &s.ip_address_pools, config);
        if cx.errors.len() == before {
            out.insert(
                o.name.clone(),
                L2Advertisement {
                    name: o.name.clone(),
                    ip_address_pools: s.ip_address_pools.clone(),
                    ip_address_pool_selectors: s.ip_address_pool_selectors.clone(),
                    node_selectors: s.node_selectors.clone(),
                    interfaces: s.interfaces.clone(),
                    service_selectors: s.service_selectors.clone(),
                    preferred_node_selectors: s.preferred_node_selectors.clone(),
                },
            );
        }
    }
    out
}
