//! LoadBalancer Service rules.

use super::*;

// ----------------------------------------------------------------- services

pub(super) fn services(
    objects: &Objects,
    opts: &Options,
    namespaces: &BTreeMap<String, Labels>,
) -> Vec<LoadBalancerService> {
    // Sorted by reference before the records are built (moving 100k
    // built records around cost more than building them).
    let mut handled: Vec<_> = objects
        .services
        .iter()
        .filter(|o| {
            o.spec.is_load_balancer() && o.spec.load_balancer_class == opts.load_balancer_class
        })
        .collect();
    handled.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let mut out = Vec::with_capacity(handled.len());
    for o in handled {
        let r = &o.spec;
        let class = r.load_balancer_class.clone();
        let ip_families = r.ip_families.clone();
        let mut cluster_ips: Vec<String> = r
            .cluster_ips
            .iter()
            .filter(|c| !c.is_empty())
            .cloned()
            .collect();
        let cluster_ip = r.cluster_ip.clone();
        if cluster_ips.is_empty() && cluster_ip.is_empty() {
            // Hand-written file: derive the families from ipFamilies
            // (default IPv4; both for RequireDualStack) with placeholders.
            let fams: Vec<&str> = if !ip_families.is_empty() {
                ip_families.iter().map(String::as_str).collect()
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
        let fields = ServiceFields {
            namespace: o.namespace.clone(),
            name: o.name.clone(),
            labels: o.labels.clone(),
            namespace_labels: namespaces.get(&o.namespace).cloned().unwrap_or_default(),
            annotations: r.annotations.clone(),
            load_balancer_ip: r.load_balancer_ip.clone(),
            ports: r
                .ports
                .iter()
                .map(|(proto, port)| (proto.clone().unwrap_or_else(|| "TCP".into()), *port))
                .collect(),
            external_traffic_policy: r.external_traffic_policy.clone(),
            selector: r.selector.clone(),
            ip_families,
            ip_family_policy: r.ip_family_policy.clone(),
            cluster_ips,
            cluster_ip,
        };
        out.push(LoadBalancerService {
            fields,
            status_ips: r.status_ips.clone(),
            load_balancer_class: class,
        });
    }
    out
}
