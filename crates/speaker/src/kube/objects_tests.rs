use super::*;
use crate::desired::{compute_with, LiveAllocator, NodeInfo};
use crate::state::AllocationState;
use std::net::IpAddr;

fn svc(yaml: &str) -> Arc<Service> {
    Arc::new(serde_yaml_ng::from_str(yaml).expect("test Service parses"))
}

fn pool(name: &str, cidr: &str) -> Arc<IpAddressPoolCr> {
    let yaml = format!(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: {name}, namespace: metallb-system}}\nspec: {{addresses: [{cidr}]}}\n"
    );
    Arc::new(serde_yaml_ng::from_str(&yaml).expect("test pool parses"))
}

fn web(status_ip: Option<&str>, pool_annotation: Option<&str>) -> Arc<Service> {
    let ann = pool_annotation
        .map(|p| format!("annotations: {{metallb.io/ip-allocated-from-pool: {p}}}, "))
        .unwrap_or_default();
    let status = status_ip
        .map(|ip| format!("status: {{loadBalancer: {{ingress: [{{ip: {ip}}}]}}}}\n"))
        .unwrap_or_default();
    svc(&format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{{ann}name: web, namespace: default}}\n\
         spec: {{type: LoadBalancer, ports: [{{port: 80, protocol: TCP}}]}}\n{status}"
    ))
}

/// The (pool, IPs) the speaker's compute gives `default/web`.
fn computed(live: &mut LiveAllocator, st: &Stores) -> Option<(Option<String>, Vec<IpAddr>)> {
    let objs = objects(st);
    let opts = metallb_api::Options::default();
    let v = metallb_api::validate(&objs, &opts).expect("objects validate");
    let node = NodeInfo::from_config(&v.config, "n1");
    let d = compute_with(live, &v.config, &node, &AllocationState::default());
    d.services
        .into_iter()
        .find(|s| s.name == "web")
        .map(|s| (s.pool, s.ips))
}

#[test]
fn a_service_without_status_address_is_left_out_so_nothing_allocates_it() {
    let st = Stores {
        pools: vec![pool("a", "192.0.2.0/28")],
        services: vec![web(None, None)],
        ..Stores::default()
    };
    assert!(objects(&st).services.is_empty());
    assert_eq!(computed(&mut LiveAllocator::default(), &st), None);
}

#[test]
fn the_status_address_is_the_one_announced_not_the_pools_first_free_one() {
    let st = Stores {
        pools: vec![pool("a", "192.0.2.0/28")],
        services: vec![web(Some("192.0.2.9"), Some("a"))],
        ..Stores::default()
    };
    let got = computed(&mut LiveAllocator::default(), &st);
    assert_eq!(
        got,
        Some((Some("a".into()), vec!["192.0.2.9".parse().unwrap()]))
    );
}

#[test]
fn a_status_change_moves_the_address_on_a_running_allocator() {
    let mut live = LiveAllocator::default();
    let mut st = Stores {
        pools: vec![pool("a", "192.0.2.0/28")],
        services: vec![web(Some("192.0.2.9"), Some("a"))],
        ..Stores::default()
    };
    computed(&mut live, &st);
    st.services = vec![web(Some("192.0.2.10"), Some("a"))];
    let got = computed(&mut live, &st);
    assert_eq!(
        got,
        Some((Some("a".into()), vec!["192.0.2.10".parse().unwrap()]))
    );
}

#[test]
fn without_the_pool_annotation_the_pool_is_the_one_containing_the_address() {
    let st = Stores {
        pools: vec![pool("a", "192.0.2.0/28"), pool("b", "198.51.100.0/28")],
        services: vec![web(Some("198.51.100.3"), None)],
        ..Stores::default()
    };
    let got = computed(&mut LiveAllocator::default(), &st);
    assert_eq!(
        got,
        Some((Some("b".into()), vec!["198.51.100.3".parse().unwrap()]))
    );
}

#[test]
fn a_status_address_in_no_pool_leaves_the_service_pending_with_no_other_address() {
    let st = Stores {
        pools: vec![pool("a", "192.0.2.0/28")],
        services: vec![web(Some("203.0.113.5"), None)],
        ..Stores::default()
    };
    let got = computed(&mut LiveAllocator::default(), &st);
    assert_eq!(got, Some((None, vec![])));
}

#[test]
fn pinning_replaces_the_requested_ips_and_drops_spec_load_balancer_ip() {
    let s = svc("apiVersion: v1\nkind: Service\n\
         metadata: {name: x, namespace: default, annotations: {metallb.universe.tf/loadBalancerIPs: 192.0.2.1, metallb.io/address-pool: old, metallb.io/ip-allocated-from-pool: new}}\n\
         spec: {type: LoadBalancer, loadBalancerIP: 192.0.2.1}\n\
         status: {loadBalancer: {ingress: [{ip: 192.0.2.2}, {ip: '2001:db8::2'}]}}\n");
    let p = pinned_to_status(&s).expect("pinned");
    let a = p.metadata.annotations.unwrap_or_default();
    assert_eq!(
        a.get("metallb.io/loadBalancerIPs").map(String::as_str),
        Some("192.0.2.2,2001:db8::2")
    );
    assert_eq!(
        a.get("metallb.io/address-pool").map(String::as_str),
        Some("new")
    );
    assert!(!a.contains_key("metallb.universe.tf/loadBalancerIPs"));
    assert_eq!(p.spec.and_then(|s| s.load_balancer_ip), None);
}

#[test]
fn an_invalid_object_from_the_api_names_its_kind_namespace_name_and_field() {
    let bad: Arc<BgpPeerCr> = Arc::new(
        serde_yaml_ng::from_str(
            "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: r1, namespace: metallb-system}\n\
             spec: {myASN: 64500, peerASN: 64501, peerAddress: 192.0.2.1, holdTime: 1s}\n",
        )
        .expect("test peer parses"),
    );
    let st = Stores {
        peers: vec![bad],
        ..Stores::default()
    };
    let err = match metallb_api::validate(&objects(&st), &metallb_api::Options::default()) {
        Ok(_) => panic!("a 1 s holdTime was accepted"),
        Err(d) => d.to_string(),
    };
    assert!(err.contains("api:BGPPeer metallb-system/r1"), "{err}");
    assert!(err.contains("holdTime"), "{err}");
}

#[test]
fn an_endpoint_slice_keeps_its_service_name_label_and_each_endpoints_usability() {
    let slice: Arc<EndpointSlice> = Arc::new(
        serde_yaml_ng::from_str(
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
             metadata: {name: web-abc, namespace: default, labels: {kubernetes.io/service-name: web}}\n\
             addressType: IPv4\n\
             endpoints: [{addresses: [10.0.0.1], nodeName: n1, conditions: {ready: true}}, \
             {addresses: [10.0.0.2], nodeName: n2, conditions: {ready: false}}]\n",
        )
        .expect("test slice parses"),
    );
    let st = Stores {
        endpoint_slices: vec![slice],
        ..Stores::default()
    };
    let o = objects(&st);
    let rec = &o.endpoint_slices[0].spec;
    assert_eq!(rec.service.as_deref(), Some("web"));
    let usable: Vec<(Option<&str>, bool)> = rec
        .endpoints
        .iter()
        .map(|e| (e.node_name.as_deref(), e.usable))
        .collect();
    assert_eq!(usable, vec![(Some("n1"), true), (Some("n2"), false)]);
}

#[test]
fn a_trimmed_node_keeps_addresses_and_conditions_and_drops_its_image_list() {
    let mut n: Node = serde_yaml_ng::from_str(
        "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n\
         status:\n  addresses: [{type: InternalIP, address: 192.0.2.11}]\n\
         \x20 conditions: [{type: NetworkUnavailable, status: 'False'}]\n\
         \x20 images: [{names: [registry.example/app:1], sizeBytes: 1000}]\n",
    )
    .expect("test node parses");
    trim_node(&mut n);
    let st = n.status.expect("status kept");
    assert_eq!(st.images, None);
    assert_eq!(st.addresses.map(|a| a.len()), Some(1));
    assert_eq!(
        st.conditions.map(|c| c[0].type_.clone()),
        Some("NetworkUnavailable".into())
    );
}
