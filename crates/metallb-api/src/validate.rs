//! MetalLB's validation rules: [`crate::Objects`] -> [`Config`].

use crate::community::{parse_community, Community};
use crate::config::{
    BfdProfile, BgpAdvertisement, Config, L2Advertisement, LoadBalancerService, Peer, PeerAsn,
    PoolConfig,
};
use crate::diag::{Diagnostic, Diagnostics};
use crate::duration::{format_go_duration, parse_go_duration};
use crate::load::{Loaded, Objects, Options};
use crate::selectors::lists_overlap;
use crate::types::BgpPeerSpec;
use allocator::{validate_pools, IpAddressPool, LabelSelector, Labels, ServiceFields};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// A validated configuration and its warnings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated {
    /// The model.
    pub config: Config,
    /// Accepted but noteworthy (features not yet active, dangling names).
    pub warnings: Vec<Diagnostic>,
}

struct Ctx {
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl Ctx {
    fn err<T>(
        &mut self,
        kind: &str,
        o: &Loaded<T>,
        field: impl Into<String>,
        msg: impl Into<String>,
    ) {
        self.errors.push(Diagnostic::new(
            Some(o.object_ref(kind)),
            Some(o.source.clone()),
            field,
            msg,
        ));
    }
    fn warn<T>(
        &mut self,
        kind: &str,
        o: &Loaded<T>,
        field: impl Into<String>,
        msg: impl Into<String>,
    ) {
        self.warnings.push(Diagnostic::new(
            Some(o.object_ref(kind)),
            Some(o.source.clone()),
            field,
            msg,
        ));
    }
}

const POOL: &str = "IPAddressPool";
const PEER: &str = "BGPPeer";
const BGPADV: &str = "BGPAdvertisement";
const L2ADV: &str = "L2Advertisement";
const BFD: &str = "BFDProfile";
const COMMUNITY: &str = "Community";
/// Linux's limit on a TCP-MD5 key (`TCP_MD5SIG_MAXKEYLEN` in `linux/tcp.h`).
const TCP_MD5SIG_MAXKEYLEN: usize = 80;

/// Validates loaded objects. All errors are collected; warnings are
/// returned either way.
pub fn validate(objects: &Objects, opts: &Options) -> Result<Validated, Diagnostics> {
    let mut cx = Ctx {
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let mut config = Config {
        namespace: opts.namespace.clone(),
        ..Config::default()
    };
    config.communities = communities(&mut cx, objects);
    config.bfd_profiles = bfd_profiles(&mut cx, objects);
    config.pools = pools(&mut cx, objects);
    config.peers = peers(&mut cx, objects, opts, &config.bfd_profiles);
    config.bgp_advertisements = bgp_advertisements(&mut cx, objects, &config);
    config.l2_advertisements = l2_advertisements(&mut cx, objects, &config);
    check_echo_mode(&mut cx, objects, &config);
    for n in &objects.namespaces {
        config.namespaces.insert(n.name.clone(), n.labels.clone());
    }
    for n in &objects.nodes {
        config.nodes.insert(n.name.clone(), n.labels.clone());
    }
    config.services = services(objects, opts, &config.namespaces);
    if cx.errors.is_empty() {
        Ok(Validated {
            config,
            warnings: cx.warnings,
        })
    } else {
        Err(Diagnostics {
            errors: cx.errors,
            warnings: cx.warnings,
        })
    }
}

/// Loads and validates in one step.
pub fn load_config(
    path: impl AsRef<std::path::Path>,
    opts: &Options,
) -> Result<Validated, Diagnostics> {
    let objects = crate::load::load_with(path, opts)?;
    validate(&objects, opts)
}

// ---------------------------------------------------------------- selectors

fn check_selector_list<T>(
    cx: &mut Ctx,
    kind: &str,
    o: &Loaded<T>,
    field: &str,
    sels: &[LabelSelector],
) {
    let mut seen = BTreeSet::new();
    for (i, s) in sels.iter().enumerate() {
        if let Err(msg) = s.validate() {
            let (sub, reason) = msg.split_once(": ").unwrap_or(("", msg.as_str()));
            let f = if sub.is_empty() {
                format!("{field}[{i}]")
            } else {
                format!("{field}[{i}].{sub}")
            };
            cx.err(kind, o, f, reason.to_string());
        }
        if !seen.insert(s) {
            cx.err(
                kind,
                o,
                format!("{field}[{i}]"),
                format!("duplicate definition of {field}"),
            );
        }
    }
}

fn check_duplicate_names<T>(
    cx: &mut Ctx,
    kind: &str,
    o: &Loaded<T>,
    field: &str,
    names: &[String],
) {
    let mut seen = BTreeSet::new();
    for (i, n) in names.iter().enumerate() {
        if !seen.insert(n) {
            cx.err(
                kind,
                o,
                format!("{field}[{i}]"),
                format!("duplicate definition of {field}: {n:?}"),
            );
        }
    }
}

// --------------------------------------------------------------- communities

fn communities(cx: &mut Ctx, objects: &Objects) -> BTreeMap<String, Community> {
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

// --------------------------------------------------------------------- BFD

fn bfd_profiles(cx: &mut Ctx, objects: &Objects) -> BTreeMap<String, BfdProfile> {
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

// -------------------------------------------------------------------- pools

/// Summarizes an inclusive range into CIDRs (`ipaddr.Summarize`).
fn summarize(first: u128, last: u128, v6: bool) -> Vec<IpNet> {
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

fn ip_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// CIDRs of one `spec.addresses` entry (only called on validated pools).
fn entry_cidrs(raw: &str) -> Vec<IpNet> {
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

fn pool_error(
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

fn pools(cx: &mut Ctx, objects: &Objects) -> BTreeMap<String, PoolConfig> {
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

// -------------------------------------------------------------------- peers

fn duration_field(
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

fn peers(
    cx: &mut Ctx,
    objects: &Objects,
    opts: &Options,
    bfd: &BTreeMap<String, BfdProfile>,
) -> BTreeMap<String, Peer> {
    let mut out: BTreeMap<String, Peer> = BTreeMap::new();
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

fn peer(
    cx: &mut Ctx,
    o: &Loaded<BgpPeerSpec>,
    opts: &Options,
    objects: &Objects,
    bfd: &BTreeMap<String, BfdProfile>,
) -> Option<Peer> {
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
        if bfd.contains_key(b) {
            cx.warn(
                PEER,
                o,
                "spec.bfdProfile",
                "BFD is not yet active in oxlb: the profile is accepted but not used",
            );
        } else {
            cx.err(
                PEER,
                o,
                "spec.bfdProfile",
                format!("peer {} referencing non existing bfd profile {b}", o.name),
            );
        }
    }
    if s.enable_graceful_restart {
        cx.warn(
            PEER,
            o,
            "spec.enableGracefulRestart",
            "graceful restart is not yet active in oxlb: accepted but not used",
        );
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
    Some(Peer {
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

// --------------------------------------------------------- advertisements

fn warn_unknown_pools<T>(
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

fn bgp_advertisements(
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
fn local_pref_conflict(
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

fn l2_advertisements(
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

/// BFD echo mode is not allowed for a peer that advertises an IPv6 pool.
fn check_echo_mode(cx: &mut Ctx, objects: &Objects, config: &Config) {
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

// ----------------------------------------------------------------- services

fn services(
    objects: &Objects,
    opts: &Options,
    namespaces: &BTreeMap<String, Labels>,
) -> Vec<LoadBalancerService> {
    let mut out = Vec::new();
    for o in &objects.services {
        let Some(spec) = &o.spec.spec else { continue };
        if spec.type_.as_deref() != Some("LoadBalancer") {
            continue;
        }
        let class = spec.load_balancer_class.clone().filter(|c| !c.is_empty());
        if class != opts.load_balancer_class {
            continue;
        }
        let meta = &o.spec.metadata;
        let ip_families = spec.ip_families.clone().unwrap_or_default();
        let mut cluster_ips: Vec<String> = spec
            .cluster_ips
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| !c.is_empty())
            .collect();
        let cluster_ip = spec.cluster_ip.clone().unwrap_or_default();
        if cluster_ips.is_empty() && cluster_ip.is_empty() {
            // Hand-written file: derive the families from ipFamilies
            // (default IPv4; both for RequireDualStack) with placeholders.
            let policy = spec.ip_family_policy.as_deref().unwrap_or_default();
            let fams: Vec<&str> = if !ip_families.is_empty() {
                ip_families.iter().map(String::as_str).collect()
            } else if policy == "RequireDualStack" {
                vec!["IPv4", "IPv6"]
            } else {
                vec!["IPv4"]
            };
            cluster_ips = fams
                .into_iter()
                .map(|f| {
                    if f == "IPv6" {
                        "::".to_string()
                    } else {
                        "0.0.0.0".to_string()
                    }
                })
                .collect();
        }
        let status_ips = o
            .spec
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .map(|ing| {
                ing.iter()
                    .filter_map(|i| i.ip.as_deref()?.parse::<IpAddr>().ok())
                    .collect()
            })
            .unwrap_or_default();
        let fields = ServiceFields {
            namespace: o.namespace.clone(),
            name: o.name.clone(),
            labels: o.labels.clone(),
            namespace_labels: namespaces.get(&o.namespace).cloned().unwrap_or_default(),
            annotations: meta.annotations.clone().unwrap_or_default(),
            load_balancer_ip: spec.load_balancer_ip.clone().unwrap_or_default(),
            ports: spec
                .ports
                .as_ref()
                .map(|ps| {
                    ps.iter()
                        .map(|p| (p.protocol.clone().unwrap_or_else(|| "TCP".into()), p.port))
                        .collect()
                })
                .unwrap_or_default(),
            external_traffic_policy: spec.external_traffic_policy.clone().unwrap_or_default(),
            selector: spec.selector.clone().unwrap_or_default(),
            ip_families,
            ip_family_policy: spec.ip_family_policy.clone().unwrap_or_default(),
            cluster_ips,
            cluster_ip,
        };
        out.push(LoadBalancerService {
            fields,
            status_ips,
            load_balancer_class: class,
        });
    }
    out.sort_by(|a, b| {
        (&a.fields.namespace, &a.fields.name).cmp(&(&b.fields.namespace, &b.fields.name))
    });
    out
}
