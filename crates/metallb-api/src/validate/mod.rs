//! MetalLB's validation rules: [`crate::Objects`] -> [`Config`].

mod advertisements;
mod nodes;
mod peers;
mod pools;
mod services;

use crate::community::{parse_community, Community};
use crate::config::{
    BfdProfile, BgpAdvertisement, BgpPeerConfig, Config, L2Advertisement, LoadBalancerService,
    PeerAsn, PoolConfig,
};
use crate::diag::{Diagnostic, Diagnostics};
use crate::duration::{format_go_duration, parse_go_duration};
use crate::load::{Loaded, Objects, Options};
use crate::selectors::lists_overlap;
use crate::service::{ServiceExtra, ServiceRecord};
use crate::types::BgpPeerSpec;
use allocator::{validate_pools, IpAddressPool, LabelSelector, Labels, ServiceFields};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

pub(crate) use self::services::service_fields;
use self::{advertisements::*, peers::*, pools::*};

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
/// The validated Services share the loaded records (nothing is copied).
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
    self::nodes::nodes(&mut cx, objects, &mut config);
    config.ready_endpoint_nodes = self::nodes::ready_endpoint_nodes(&mut cx, objects);
    config.services = self::services::services(&objects.services, opts, &config.namespaces);
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
