//! LoadBalancer Service rules.

use super::*;

// ----------------------------------------------------------------- services

pub(super) fn services(
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
