//! LoadBalancer Service rules.

use super::*;
use std::borrow::Cow;
use std::sync::Arc;

// ----------------------------------------------------------------- services

/// The handled Services, sorted by namespace/name: each shares its loaded
/// record (nothing is copied) and its namespace's labels.
pub(super) fn services(
    all: &[Arc<Loaded<ServiceRecord>>],
    opts: &Options,
    namespaces: &BTreeMap<String, Labels>,
) -> Vec<LoadBalancerService> {
    let mut handled: Vec<&Arc<Loaded<ServiceRecord>>> = all
        .iter()
        .filter(|o| {
            let r = &o.spec;
            r.is_load_balancer() && r.load_balancer_class() == opts.load_balancer_class.as_deref()
        })
        .collect();
    handled.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let shared: BTreeMap<&str, Arc<Labels>> = namespaces
        .iter()
        .map(|(n, l)| (n.as_str(), Arc::new(l.clone())))
        .collect();
    let none = Arc::new(Labels::new());
    handled
        .into_iter()
        .map(|o| {
            let labels = shared.get(o.namespace.as_str()).unwrap_or(&none);
            LoadBalancerService::new(o.clone(), labels.clone())
        })
        .collect()
}

/// The allocator's fields of one handled Service, defaults applied.
pub(crate) fn service_fields(
    o: &Loaded<ServiceRecord>,
    namespace_labels: &Labels,
) -> ServiceFields {
    let none = ServiceExtra::default();
    let r = o.spec.extra.as_deref().unwrap_or(&none);
    let mut cluster_ips: Vec<String> = r
        .cluster_ips
        .iter()
        .filter(|c| !c.is_empty())
        .cloned()
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
    ServiceFields {
        namespace: o.namespace.clone(),
        name: o.name.clone(),
        labels: o.labels.clone(),
        namespace_labels: namespace_labels.clone(),
        annotations: r.annotations.clone(),
        load_balancer_ip: r.load_balancer_ip.clone(),
        ports: o
            .spec
            .ports
            .iter()
            .map(|(proto, port)| {
                let proto = proto.as_ref().map_or(Cow::Borrowed("TCP"), Cow::clone);
                (proto.into_owned(), *port)
            })
            .collect(),
        external_traffic_policy: r.external_traffic_policy.clone(),
        selector: r.selector.iter().cloned().collect(),
        ip_families: r.ip_families.clone(),
        ip_family_policy: r.ip_family_policy.clone(),
        cluster_ips,
        cluster_ip: r.cluster_ip.clone(),
    }
}
