//! LoadBalancer Service rules.

use super::*;
use std::borrow::Cow;
use std::sync::Arc;

// ----------------------------------------------------------------- services

/// The Service records validation reads: borrowed (cloned into the
/// config) or owned (moved into it, so a one-shot load never holds both).
pub(super) enum Records<'a> {
    Borrowed(&'a [Arc<Loaded<ServiceRecord>>]),
    Owned(Vec<Arc<Loaded<ServiceRecord>>>),
}

pub(super) fn services(
    records: Records<'_>,
    opts: &Options,
    namespaces: &BTreeMap<String, Labels>,
) -> Vec<LoadBalancerService> {
    let all: &[Arc<Loaded<ServiceRecord>>] = match &records {
        Records::Borrowed(r) => r,
        Records::Owned(r) => r,
    };
    // Sorted by index before the records are built (moving 100k built
    // records around cost more than building them).
    let mut order: Vec<usize> = (0..all.len())
        .filter(|&i| {
            let r = &all[i].spec;
            r.is_load_balancer() && r.load_balancer_class() == opts.load_balancer_class.as_deref()
        })
        .collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&all[a], &all[b]);
        (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name))
    });
    let mut out = Vec::with_capacity(order.len());
    match records {
        Records::Borrowed(r) => {
            for i in order {
                out.push(service((*r[i]).clone(), namespaces));
            }
        }
        Records::Owned(r) => {
            let mut r: Vec<Option<Arc<Loaded<ServiceRecord>>>> = r.into_iter().map(Some).collect();
            for i in order {
                if let Some(o) = r[i].take() {
                    let o = Arc::try_unwrap(o).unwrap_or_else(|shared| (*shared).clone());
                    out.push(service(o, namespaces));
                }
            }
        }
    }
    out
}

/// One handled Service, its record moved into the allocator's fields.
fn service(o: Loaded<ServiceRecord>, namespaces: &BTreeMap<String, Labels>) -> LoadBalancerService {
    let ports = o.spec.ports;
    let r = o.spec.extra.map(|e| *e).unwrap_or_default();
    let mut cluster_ips: Vec<String> = r
        .cluster_ips
        .into_iter()
        .filter(|c| !c.is_empty())
        .collect();
    if cluster_ips.is_empty() && r.cluster_ip.is_empty() {
        // Hand-written file: derive the families from ipFamilies
        // (default IPv4; both for RequireDualStack) with placeholders.
        let fams: Vec<&str> = if !r.ip_families.is_empty() {
            r.ip_families.iter().map(String::as_str).collect()
        } else if r.ip_family_policy == "RequireDualStack" {
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
    let namespace_labels = namespaces.get(&o.namespace).cloned().unwrap_or_default();
    let fields = ServiceFields {
        namespace: o.namespace,
        name: o.name,
        labels: o.labels,
        namespace_labels,
        annotations: r.annotations,
        load_balancer_ip: r.load_balancer_ip,
        ports: ports
            .into_vec()
            .into_iter()
            .map(|(proto, port)| (proto.map_or_else(|| "TCP".into(), Cow::into_owned), port))
            .collect(),
        external_traffic_policy: r.external_traffic_policy,
        selector: r.selector.into_iter().collect(),
        ip_families: r.ip_families,
        ip_family_policy: r.ip_family_policy,
        cluster_ips,
        cluster_ip: r.cluster_ip,
    };
    LoadBalancerService {
        fields,
        status_ips: r.status_ips,
        load_balancer_class: r.load_balancer_class,
    }
}
