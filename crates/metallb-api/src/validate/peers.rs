//! BGPPeer and BFDProfile rules.

use super::*;

// --------------------------------------------------------------------- BFD

pub(super) fn bfd_profiles(cx: &mut Ctx, objects: &Objects) -> BTreeMap<String, BfdProfile> {
    let mut out = BTreeMap::new();
    for b in &objects.bfd_profiles {
        let s = &b.spec;
        let mut ok = true;
        let mut range = |field: &str, v: Option<i64>, lo: i64, hi: i64, def: u32| -> u32 {
            match v {
                None => def,
                Some(v) if (lo..=hi).contains(&v) => u32::try_from(v).unwrap_or(def),
                Some(v) => {
                    ok = false;
                    cx.err(
                        BFD,
                        b,
                        format!("spec.{field}"),
                        format!("Invalid value: {v}: must be between {lo} and {hi}"),
                    );
                    def
                }
            }
        };
        let receive_interval = range("receiveInterval", s.receive_interval, 10, 60000, 300);
        let transmit_interval = range("transmitInterval", s.transmit_interval, 10, 60000, 300);
        let detect_multiplier = range("detectMultiplier", s.detect_multiplier, 2, 255, 3);
        let echo_interval = range("echoInterval", s.echo_interval, 10, 60000, 50);
        let minimum_ttl = s
            .minimum_ttl
            .map(|v| range("minimumTtl", Some(v), 1, 254, 254));
        if ok {
            out.insert(
                b.name.clone(),
                BfdProfile {
                    name: b.name.clone(),
                    receive_interval,
                    transmit_interval,
                    detect_multiplier,
                    echo_interval,
                    echo_mode: s.echo_mode,
                    passive_mode: s.passive_mode,
                    minimum_ttl,
                },
            );
        }
    }
    out
}

// -------------------------------------------------------------------- peers

pub(super) fn duration_field(
    cx: &mut Ctx,
    o: &Loaded<BgpPeerSpec>,
    field: &str,
    v: &Option<String>,
) -> Result<Option<Duration>, ()> {
    match v {
        None => Ok(None),
        Some(s) => match parse_go_duration(s) {
            Ok(d) => Ok(Some(d)),
            Err(e) => {
                cx.err(PEER, o, format!("spec.{field}"), e);
                Err(())
            }
        },
    }
}

pub(super) fn peers(
    cx: &mut Ctx,
    objects: &Objects,
    opts: &Options,
    bfd: &BTreeMap<String, BfdProfile>,
) -> BTreeMap<String, BgpPeerConfig> {
    let mut out: BTreeMap<String, BgpPeerConfig> = BTreeMap::new();
    let mut sources: BTreeMap<String, &Loaded<BgpPeerSpec>> = BTreeMap::new();
    for o in &objects.bgp_peers {
        let before = cx.errors.len();
        if let Some(p) = peer(cx, o, opts, objects, bfd) {
            if cx.errors.len() == before {
                // Duplicate address with overlapping node selectors.
                let dup = out.values().find(|q| {
                    q.address == p.address && lists_overlap(&q.node_selectors, &p.node_selectors)
                });
                if let Some(q) = dup {
                    cx.err(
                        PEER,
                        o,
                        "spec.peerAddress",
                        format!(
                            "duplicate peer {}: BGPPeer {:?} has the same address and overlapping nodeSelectors",
                            p.address, q.name
                        ),
                    );
                    continue;
                }
                sources.insert(p.name.clone(), o);
                out.insert(p.name.clone(), p);
            }
        }
    }
    out
}

pub(super) fn peer(
    cx: &mut Ctx,
    o: &Loaded<BgpPeerSpec>,
    opts: &Options,
    objects: &Objects,
    bfd: &BTreeMap<String, BfdProfile>,
) -> Option<BgpPeerConfig> {
    let s = &o.spec;
    let before = cx.errors.len();
    let asn = |cx: &mut Ctx, field: &str, v: u64| -> u32 {
        u32::try_from(v).unwrap_or_else(|_| {
            cx.err(
                PEER,
                o,
                format!("spec.{field}"),
                format!("Invalid value: {v}: must be at most 4294967295"),
            );
            0
        })
    };
    let my_asn = asn(cx, "myASN", s.my_asn);
    if s.my_asn == 0 {
        cx.err(PEER, o, "spec.myASN", "missing local ASN");
    }
    let peer_asn_n = asn(cx, "peerASN", s.peer_asn);
    let peer_asn = match (s.peer_asn, s.dynamic_asn.as_str()) {
        (0, "") => {
            cx.err(
                PEER,
                o,
                "spec.peerASN",
                "missing peer ASN: one of peerASN or dynamicASN must be set",
            );
            PeerAsn::Number(0)
        }
        (_, "") => PeerAsn::Number(peer_asn_n),
        (0, "internal") => PeerAsn::Internal,
        (0, "external") => PeerAsn::External,
        (0, other) => {
            cx.err(
                PEER,
                o,
                "spec.dynamicASN",
                format!(
                    "Unsupported value: {other:?}: supported values: \"internal\", \"external\""
                ),
            );
            PeerAsn::Number(0)
        }
        (_, _) => {
            cx.err(
                PEER,
                o,
                "spec.dynamicASN",
                "peerASN and dynamicASN can't be set together",
            );
            PeerAsn::Number(0)
        }
    };
    if s.local_asn != 0 {
        cx.err(PEER, o, "spec.localASN", "not supported in standalone mode");
    }
    if !s.vrf.is_empty() {
        cx.err(PEER, o, "spec.vrf", "not supported in standalone mode");
    }
    if s.ebgp_multi_hop
        && (matches!(peer_asn, PeerAsn::Number(n) if n == my_asn) || peer_asn == PeerAsn::Internal)
    {
        cx.err(
            PEER,
            o,
            "spec.ebgpMultiHop",
            "invalid ebgp-multihop parameter set for an ibgp peer",
        );
    }
    // Address.
    let mut address = None;
    match (s.peer_address.is_empty(), s.interface.is_empty()) {
        (true, true) => cx.err(
            PEER,
            o,
            "spec.peerAddress",
            "missing peer address: one of peerAddress or interface must be set",
        ),
        (false, false) => cx.err(
            PEER,
            o,
            "spec.interface",
            "peerAddress and interface are mutually exclusive",
        ),
        (true, false) => cx.err(
            PEER,
            o,
            "spec.interface",
            "unnumbered BGP (interface) is not supported in standalone mode",
        ),
        (false, true) => match s.peer_address.trim().parse::<IpAddr>() {
            Ok(a) => address = Some(a),
            Err(_) => cx.err(
                PEER,
                o,
                "spec.peerAddress",
                format!("invalid peer IP {:?}", s.peer_address),
            ),
        },
    }
    let source_address = if s.source_address.is_empty() {
        None
    } else {
        match s.source_address.trim().parse::<IpAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                cx.err(
                    PEER,
                    o,
                    "spec.sourceAddress",
                    format!("invalid source IP {:?}", s.source_address),
                );
                None
            }
        }
    };
    let port = match s.peer_port {
        None | Some(0) => 179,
        Some(p) if (1..=16384).contains(&p) => u16::try_from(p).unwrap_or(179),
        Some(p) => {
            cx.err(
                PEER,
                o,
                "spec.peerPort",
                format!("Invalid value: {p}: must be between 1 and 16384"),
            );
            179
        }
    };
    // Timers (MetalLB parseTimers).
    let ht = duration_field(cx, o, "holdTime", &s.hold_time);
    let ka = duration_field(cx, o, "keepaliveTime", &s.keepalive_time);
    let (mut hold_time, mut keepalive_time) = (Duration::from_secs(90), Duration::from_secs(30));
    if let (Ok(ht), Ok(ka)) = (ht, ka) {
        let (h, k) = match (ht, ka) {
            (None, None) => (hold_time, keepalive_time),
            (Some(h), Some(k)) => (h, k),
            (Some(h), None) => (h, h / 3),
            (None, Some(k)) => (k * 3, k),
        };
        let rounded = Duration::from_secs(h.as_secs());
        let shown = |d: Option<Duration>, raw: &Option<String>| {
            raw.clone()
                .unwrap_or_else(|| d.map(format_go_duration).unwrap_or_default())
        };
        if rounded != Duration::ZERO && rounded < Duration::from_secs(3) {
            cx.err(
                PEER,
                o,
                "spec.holdTime",
                format!(
                    "invalid hold time {:?}: must be 0 or >=3s",
                    shown(Some(h), &s.hold_time)
                ),
            );
        } else if rounded > Duration::from_secs(65535) {
            cx.err(
                PEER,
                o,
                "spec.holdTime",
                format!(
                    "invalid hold time {:?}: must be at most 65535s",
                    shown(Some(h), &s.hold_time)
                ),
            );
        } else if k > h {
            cx.err(
                PEER,
                o,
                "spec.keepaliveTime",
                format!(
                    "invalid keepaliveTime {:?}, must be lower than holdTime {:?}",
                    shown(Some(k), &s.keepalive_time),
                    shown(Some(h), &s.hold_time)
                ),
            );
        } else {
            hold_time = rounded;
            keepalive_time = k;
        }
    }
    let connect_time = match duration_field(cx, o, "connectTime", &s.connect_time) {
        Ok(Some(d)) => {
            let raw = s.connect_time.clone().unwrap_or_default();
            if d.subsec_nanos() != 0 {
                cx.err(PEER, o, "spec.connectTime", format!("invalid connectTime {raw:?}: connect time should contain a whole number of seconds"));
            } else if !(1..=65535).contains(&d.as_secs()) {
                cx.err(PEER, o, "spec.connectTime", format!("invalid connectTime {raw:?}: connect time should be between 1 and 65535 seconds"));
            }
            Some(d)
        }
        _ => None,
    };
    let router_id = if s.router_id.is_empty() {
        None
    } else {
        match s.router_id.trim().parse::<Ipv4Addr>() {
            Ok(a) => Some(a),
            Err(_) => {
                cx.err(
                    PEER,
                    o,
                    "spec.routerID",
                    format!(
                        "invalid router ID {:?}: must be an IPv4 address",
                        s.router_id
                    ),
                );
                None
            }
        }
    };
    check_selector_list(cx, PEER, o, "spec.nodeSelectors", &s.node_selectors);
    // Password.
    let mut password = (!s.password.is_empty()).then(|| s.password.clone());
    if let Some(sr) = &s.password_secret {
        if password.is_some() {
            cx.err(
                PEER,
                o,
                "spec.passwordSecret",
                format!(
                    "can not have both password and secret ref set in peer config {:?}/{:?}",
                    o.namespace, o.name
                ),
            );
        } else if sr.name.is_empty() {
            cx.err(PEER, o, "spec.passwordSecret.name", "must not be empty");
        } else if !sr.namespace.is_empty() && sr.namespace != opts.namespace {
            cx.err(
                PEER,
                o,
                "spec.passwordSecret.namespace",
                format!(
                    "the secret must be in the {} namespace, not {:?}",
                    opts.namespace, sr.namespace
                ),
            );
        } else {
            let secret = objects
                .secrets
                .iter()
                .find(|x| x.name == sr.name && x.namespace == opts.namespace);
            match secret {
                None => cx.err(
                    PEER,
                    o,
                    "spec.passwordSecret",
                    format!(
                        "secret ref not found for peer config {:?}/{:?}",
                        opts.namespace, sr.name
                    ),
                ),
                Some(sec) => {
                    let ty = sec.spec.type_.clone().unwrap_or_default();
                    if ty != "kubernetes.io/basic-auth" {
                        cx.err(PEER, o, "spec.passwordSecret", format!("secret type mismatch on {:?}/{:?}, type \"kubernetes.io/basic-auth\" is expected (got {ty:?})", sec.namespace, sec.name));
                    } else {
                        let data = sec
                            .spec
                            .data
                            .as_ref()
                            .and_then(|d| d.get("password"))
                            .map(|b| b.0.clone());
                        let string_data = sec
                            .spec
                            .string_data
                            .as_ref()
                            .and_then(|d| d.get("password"))
                            .map(|s| s.clone().into_bytes());
                        match string_data.or(data) {
                            None => cx.err(
                                PEER,
                                o,
                                "spec.passwordSecret",
                                format!(
                                    "password not specified in the secret {:?}/{:?}",
                                    sec.namespace, sec.name
                                ),
                            ),
                            Some(bytes) => match String::from_utf8(bytes) {
                                Ok(p) => password = Some(p),
                                Err(_) => cx.err(
                                    PEER,
                                    o,
                                    "spec.passwordSecret",
                                    format!(
                                        "password in the secret {:?}/{:?} is not valid UTF-8",
                                        sec.namespace, sec.name
                                    ),
                                ),
                            },
                        }
                    }
                }
            }
        }
    }
    // RFC 2385 leaves the key length open, but Linux's TCP_MD5SIG takes at most
    // TCP_MD5SIG_MAXKEYLEN (80) bytes: a longer key would only fail when the
    // session's socket is set up, so reject it here with the field.
    if let Some(p) = password.as_ref().filter(|p| p.len() > TCP_MD5SIG_MAXKEYLEN) {
        let (field, what) = match &s.password_secret {
            Some(sr) => (
                "spec.passwordSecret",
                format!("password in the secret {:?}/{:?}", opts.namespace, sr.name),
            ),
            None => ("spec.password", "password".to_string()),
        };
        cx.err(
            PEER,
            o,
            field,
            format!(
                "{what} is {} bytes long; TCP-MD5 keys are at most {TCP_MD5SIG_MAXKEYLEN} bytes (TCP_MD5SIG_MAXKEYLEN)",
                p.len()
            ),
        );
    }
    let bfd_profile = (!s.bfd_profile.is_empty()).then(|| s.bfd_profile.clone());
    if let Some(b) = &bfd_profile {
        if !bfd.contains_key(b) {
            cx.err(
                PEER,
                o,
                "spec.bfdProfile",
                format!("peer {} referencing non existing bfd profile {b}", o.name),
            );
        }
    }
    if s.disable_mp {
        cx.warn(
            PEER,
            o,
            "spec.disableMP",
            "disableMP is deprecated and has no effect",
        );
    }
    if cx.errors.len() != before {
        return None;
    }
    Some(BgpPeerConfig {
        name: o.name.clone(),
        my_asn,
        peer_asn,
        address: address?,
        source_address,
        port,
        hold_time,
        keepalive_time,
        connect_time,
        router_id,
        node_selectors: s.node_selectors.clone(),
        password,
        bfd_profile,
        enable_graceful_restart: s.enable_graceful_restart,
        ebgp_multi_hop: s.ebgp_multi_hop,
        dual_stack_address_family: s.dual_stack_address_family,
    })
}

/// BFD echo mode is not allowed for a peer that advertises an IPv6 pool.
pub(super) fn check_echo_mode(cx: &mut Ctx, objects: &Objects, config: &Config) {
    for o in &objects.bgp_peers {
        let Some(peer) = config.peers.get(&o.name) else {
            continue;
        };
        let Some(profile) = peer
            .bfd_profile
            .as_ref()
            .and_then(|b| config.bfd_profiles.get(b))
        else {
            continue;
        };
        if !profile.echo_mode {
            continue;
        }
        let v6_pool = config
            .bgp_advertisements
            .values()
            .filter(|a| a.selects_peer(&peer.name))
            .find_map(|a| {
                config
                    .pools
                    .values()
                    .find(|p| p.has_family(true) && a.selects_pool(&p.pool.name, &p.labels))
            });
        if let Some(p) = v6_pool {
            cx.err(PEER, o, "spec.bfdProfile", format!("echo mode is not supported with IPv6 (BFDProfile {:?} has echoMode and IPAddressPool {:?} has IPv6 addresses)", profile.name, p.pool.name));
        }
    }
}
