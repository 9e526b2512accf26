use super::*;
use metallb_api::{load_str, validate, Options};

const POOL: &str = "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: p, namespace: metallb-system}
spec: {addresses: [192.0.2.0/30]}
";

fn svc(name: &str, status_ip: Option<&str>, pool_annotation: bool) -> String {
    let status = status_ip.map_or(String::new(), |ip| {
        format!("status: {{loadBalancer: {{ingress: [{{ip: {ip}}}]}}}}\n")
    });
    let ann = if pool_annotation {
        format!("  annotations: {{{POOL_ANNOTATION}: p}}\n")
    } else {
        String::new()
    };
    format!(
        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: default\n{ann}spec:\n  type: LoadBalancer\n  clusterIP: 10.96.0.{n}\n  clusterIPs: [10.96.0.{n}]\n  ports: [{{port: 80, protocol: TCP}}]\n{status}",
        n = name.len()
    )
}

fn config(docs: &[String]) -> Config {
    let text = format!("{POOL}{}", docs.concat());
    let objs = load_str(&text, "test.yaml", &Options::default()).expect("test YAML loads");
    validate(&objs, &Options::default())
        .expect("test config is valid")
        .config
}

fn statuses(actions: &[Action]) -> Vec<(String, Vec<String>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SetStatus { key, ips, .. } => Some((
                key.name.clone(),
                ips.iter().map(|i| i.to_string()).collect(),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn restart_restores_existing_ips_before_a_new_service_sorting_first_is_allocated() {
    // `aaa` sorts before `nginx`; a controller converging in key order
    // without restoring first would hand `aaa` nginx's 192.0.2.0.
    let c = config(&[
        svc("aaa", None, false),
        svc("nginx", Some("192.0.2.0"), true),
    ]);
    let actions = Engine::default().pass(&c);
    assert_eq!(
        statuses(&actions),
        [("aaa".to_string(), vec!["192.0.2.1".to_string()])]
    );
}

#[test]
fn new_service_gets_the_first_address_the_pool_annotation_and_an_ipallocated_event() {
    let mut e = Engine::default();
    assert!(e.pass(&config(&[])).is_empty());
    let actions = e.pass(&config(&[svc("web", None, false)]));
    assert!(actions.contains(&Action::SetStatus {
        key: ServiceKey::new("default", "web"),
        ips: vec!["192.0.2.0".parse().unwrap()],
        pool: Some("p".into()),
    }));
    assert!(actions.iter().any(|a| matches!(a,
        Action::Event { reason: "IPAllocated", warning: false, message, .. } if message.contains("192.0.2.0"))));
}

#[test]
fn a_service_whose_status_matches_its_assignment_needs_no_write() {
    let mut e = Engine::default();
    e.pass(&config(&[svc("web", None, false)]));
    let again = e.pass(&config(&[svc("web", Some("192.0.2.0"), true)]));
    assert!(again.is_empty(), "{again:?}");
}

#[test]
fn a_deleted_service_releases_its_address_for_the_next_one() {
    let mut e = Engine::default();
    let four: Vec<String> = (0..4).map(|i| svc(&format!("s{i}"), None, false)).collect();
    let first = e.pass(&config(&four));
    assert_eq!(statuses(&first).len(), 4);
    let mut five = four.clone();
    five.push(svc("s4x", None, false));
    let full = e.pass(&config(&five));
    assert!(full.iter().any(|a| matches!(
        a,
        Action::Event {
            reason: "AllocationFailed",
            ..
        }
    )));
    // s0 (192.0.2.0) deleted: s4x takes its address.
    let rest: Vec<String> = five[1..].to_vec();
    let after = e.pass(&config(&rest));
    assert!(
        statuses(&after).contains(&("s4x".to_string(), vec!["192.0.2.0".to_string()])),
        "{after:?}"
    );
}

#[test]
fn a_service_no_longer_load_balancer_has_its_ip_and_annotation_cleared_and_released() {
    let mut e = Engine::default();
    e.pass(&config(&[svc("web", None, false)]));
    // web turns into a ClusterIP Service, its old status and annotation
    // still on it.
    let as_cluster_ip =
        svc("web", Some("192.0.2.0"), true).replace("type: LoadBalancer", "type: ClusterIP");
    let text = format!("{POOL}{as_cluster_ip}");
    let objs = load_str(&text, "t.yaml", &Options::default()).expect("test YAML loads");
    let clear = clear_not_load_balancers(&objs.services, None);
    assert_eq!(
        clear,
        [Action::SetStatus {
            key: ServiceKey::new("default", "web"),
            ips: vec![],
            pool: None
        }]
    );
    // Another class's Service is left alone.
    assert!(clear_not_load_balancers(&objs.services, Some("other")).is_empty());
    // The address is free again for the next Service.
    let c = validate(&objs, &Options::default()).expect("valid").config;
    e.pass(&c);
    let next = e.pass(&config(&[svc("zzz", None, false)]));
    assert!(
        statuses(&next).contains(&("zzz".to_string(), vec!["192.0.2.0".to_string()])),
        "{next:?}"
    );
}

#[test]
fn pool_status_counts_come_from_the_allocator_and_are_written_only_when_they_differ() {
    let mut e = Engine::default();
    e.pass(&config(&[svc("web", None, false)]));
    let stats = e.allocator().expect("restored").stats();
    let want = IpAddressPoolStatus {
        assigned_ipv4: 1,
        assigned_ipv6: 0,
        available_ipv4: 3,
        available_ipv6: 0,
    };
    let shown = BTreeMap::from([("p".to_string(), None)]);
    assert_eq!(
        pool_status_actions(&stats, &shown),
        [Action::PoolStatus {
            pool: "p".into(),
            status: want.clone()
        }]
    );
    let shown = BTreeMap::from([("p".to_string(), Some(want))]);
    assert!(pool_status_actions(&stats, &shown).is_empty());
    // A pool unknown to the API server's store gets no write.
    assert!(pool_status_actions(&stats, &BTreeMap::new()).is_empty());
}

#[test]
fn overlapping_pools_are_reported_once_per_error_naming_the_field() {
    let overlap = "---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: q, namespace: metallb-system}
spec: {addresses: [192.0.2.2/31]}
";
    let text = format!("{POOL}{overlap}");
    let objs = load_str(&text, "t.yaml", &Options::default()).expect("test YAML loads");
    let diags = validate(&objs, &Options::default()).expect_err("overlap is an error");
    let mut e = Engine::default();
    let first = e.config_rejected(&diags);
    assert!(
        first.iter().any(|a| matches!(a,
            Action::ConfigEvent { kind, name, message, .. }
                if kind == "IPAddressPool" && name == "q" && message.contains("spec.addresses") && message.contains("overlaps"))),
        "{first:?}"
    );
    // Passes keep running on the last good config meanwhile.
    e.pass(&config(&[]));
    assert!(
        e.config_rejected(&diags).is_empty(),
        "the same error is reported once"
    );
    // A valid config in between: the error is reported again when it recurs.
    e.config_accepted();
    e.pass(&config(&[]));
    assert!(!e.config_rejected(&diags).is_empty());
}

#[test]
fn a_pending_service_unblocked_by_a_deletion_gets_an_ipallocated_event_naming_the_ip() {
    let mut e = Engine::default();
    let five: Vec<String> = (0..5).map(|i| svc(&format!("s{i}"), None, false)).collect();
    e.pass(&config(&five[..4]));
    e.pass(&config(&five));
    let after = e.pass(&config(&five[1..]));
    assert!(
        after.iter().any(|a| matches!(a,
            Action::Event { key, reason: "IPAllocated", message, .. }
                if key.name == "s4" && message.contains("192.0.2.0"))),
        "{after:?}"
    );
}

fn only(c: &Config, names: &[&str]) -> Config {
    let mut c = c.clone();
    c.services
        .retain(|s| names.contains(&s.key().name.as_str()));
    c
}

#[test]
fn incremental_pass_deleting_a_service_gives_its_address_and_status_to_the_pending_one() {
    let mut e = Engine::default();
    let five: Vec<String> = (0..5).map(|i| svc(&format!("s{i}"), None, false)).collect();
    e.pass(&config(&five[..4]));
    let c5 = config(&five);
    let added = e.pass_changed(&only(&c5, &["s4"]), &[ServiceKey::new("default", "s4")]);
    assert!(statuses(&added).is_empty(), "the pool is full: {added:?}");
    // s0 deleted: only its key changed, it is in no config.
    let after = e.pass_changed(&only(&c5, &[]), &[ServiceKey::new("default", "s0")]);
    assert_eq!(
        statuses(&after),
        [("s4".to_string(), vec!["192.0.2.0".to_string()])]
    );
    assert!(after.iter().any(
        |a| matches!(a, Action::Event { key, reason: "IPAllocated", .. } if key.name == "s4")
    ));
}

#[test]
fn incremental_pass_converges_only_what_changed_and_agrees_with_a_full_pass() {
    let mut inc = Engine::default();
    let mut full = Engine::default();
    let base = config(&[svc("a", None, false), svc("b", None, false)]);
    inc.pass(&base);
    full.pass(&base);
    // b moves to a requested address; a's status catches up (status only).
    let next = config(&[
        svc("a", Some("192.0.2.0"), true),
        svc("b", None, false).replace(
            "  type: LoadBalancer\n",
            "  type: LoadBalancer\n  loadBalancerIP: 192.0.2.3\n",
        ),
    ]);
    let keys = [
        ServiceKey::new("default", "a"),
        ServiceKey::new("default", "b"),
    ];
    let mut got = statuses(&inc.pass_changed(&next, &keys));
    let mut want = statuses(&full.pass(&next));
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(got, [("b".to_string(), vec!["192.0.2.3".to_string()])]);
}

#[test]
fn incremental_pass_writes_the_status_of_a_pending_service_freed_by_a_later_one_in_the_same_batch()
{
    let mut e = Engine::default();
    let four: Vec<String> = (0..4).map(|i| svc(&format!("s{i}"), None, false)).collect();
    e.pass(&config(&four));
    // One batch: `b` (sorting first) is created while the pool is full,
    // then s0 turns into an invalid request and frees 192.0.2.0.
    let mut batch = four.clone();
    batch[0] = batch[0].replace(
        "  type: LoadBalancer\n",
        "  type: LoadBalancer\n  loadBalancerIP: not-an-ip\n",
    );
    batch.push(svc("b", None, false));
    let c = config(&batch);
    let keys = [
        ServiceKey::new("default", "b"),
        ServiceKey::new("default", "s0"),
    ];
    let actions = e.pass_changed(&only(&c, &["b", "s0"]), &keys);
    assert!(
        statuses(&actions).contains(&("b".to_string(), vec!["192.0.2.0".to_string()])),
        "{actions:?}"
    );
}

#[test]
fn a_require_dual_stack_service_gets_one_address_of_each_family_from_one_pool() {
    let text = "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: v4only, namespace: metallb-system}
spec: {addresses: [198.51.100.0/30]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: dual, namespace: metallb-system}
spec: {addresses: [192.0.2.0/30, '2001:db8::/126']}
---
apiVersion: v1
kind: Service
metadata: {name: ds, namespace: default}
spec:
  type: LoadBalancer
  ipFamilyPolicy: RequireDualStack
  ipFamilies: [IPv6, IPv4]
  clusterIP: 'fd00::9'
  clusterIPs: ['fd00::9', 10.96.0.9]
  ports: [{port: 80, protocol: TCP}]
";
    let objs = load_str(text, "test.yaml", &Options::default()).expect("test YAML loads");
    let c = validate(&objs, &Options::default())
        .expect("test config is valid")
        .config;
    let actions = Engine::default().pass(&c);
    // MetalLB: both families from the same pool, the primary
    // (spec.ipFamilies[0]) first; the v4-only pool cannot serve it.
    assert!(
        actions.contains(&Action::SetStatus {
            key: ServiceKey::new("default", "ds"),
            ips: vec!["2001:db8::".parse().unwrap(), "192.0.2.0".parse().unwrap()],
            pool: Some("dual".into()),
        }),
        "{actions:?}"
    );
}

#[test]
fn a_full_pass_frees_the_address_of_a_service_whose_request_stops_parsing_for_a_pending_one() {
    let mut e = Engine::default();
    let mut five: Vec<String> = (0..5).map(|i| svc(&format!("s{i}"), None, false)).collect();
    e.pass(&config(&five[..4]));
    e.pass(&config(&five));
    // s0 now asks for an address that does not parse: MetalLB's
    // LoadBalancerFailed, and its 192.0.2.0 goes to the pending s4.
    five[0] = five[0].replace(
        "  type: LoadBalancer\n",
        "  type: LoadBalancer\n  loadBalancerIP: 192.0.2.999\n",
    );
    let after = e.pass(&config(&five));
    assert!(
        after.iter().any(|a| matches!(a,
            Action::Event { key, reason: "LoadBalancerFailed", warning: true, .. } if key.name == "s0")),
        "{after:?}"
    );
    assert!(
        statuses(&after).contains(&("s4".to_string(), vec!["192.0.2.0".to_string()])),
        "{after:?}"
    );
}

/// One Service in the 192.0.2.0/30 pool with `extra` spliced into its
/// spec and `meta` into its metadata.
fn svc_with(name: &str, meta: &str, extra: &str, status_ip: Option<&str>) -> Config {
    let status = status_ip.map_or(String::new(), |ip| {
        format!("status: {{loadBalancer: {{ingress: [{{ip: {ip}}}]}}}}\n")
    });
    config(&[format!(
        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: default\n{meta}spec:\n  type: LoadBalancer\n  ports: [{{port: 80, protocol: TCP}}]\n{extra}{status}"
    )])
}

fn events<'a>(actions: &'a [Action], reason: &str) -> Vec<(&'a str, bool, &'a str)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Event {
                key,
                warning,
                reason: r,
                message,
            } if *r == reason => Some((key.name.as_str(), *warning, message.as_str())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_deprecated_annotation_is_warned_when_the_status_is_written_and_not_once_it_shows() {
    let meta = "  annotations: {metallb.universe.tf/address-pool: p}\n";
    let ips = "  clusterIP: 10.96.0.7\n  clusterIPs: [10.96.0.7]\n";
    let mut e = Engine::default();
    let first = e.pass(&svc_with("old", meta, ips, None));
    assert_eq!(
        events(&first, "deprecatedAnnotation"),
        [(
            "old",
            true,
            "Service uses deprecated annotation metallb.universe.tf/address-pool"
        )],
        "{first:?}"
    );
    assert_eq!(
        statuses(&first),
        [("old".to_string(), vec!["192.0.2.0".to_string()])]
    );
    // The status (and the pool annotation) now show the assignment: no
    // write, so no warning either (MetalLB warns only with an update).
    let shown =
        format!("  annotations: {{metallb.universe.tf/address-pool: p, {POOL_ANNOTATION}: p}}\n");
    let later = e.pass(&svc_with("old", &shown, ips, Some("192.0.2.0")));
    assert!(later.is_empty(), "{later:?}");
}

#[test]
fn a_require_dual_stack_service_with_one_cluster_ip_is_warned_not_enough_clusterips() {
    let spec =
        "  ipFamilyPolicy: RequireDualStack\n  clusterIP: 10.96.0.8\n  clusterIPs: [10.96.0.8]\n";
    let actions = Engine::default().pass(&svc_with("ds", "", spec, None));
    let warned = events(&actions, "not enough clusterips");
    assert_eq!(warned.len(), 1, "{actions:?}");
    assert!(warned[0].1, "a Warning: {actions:?}");
    assert!(statuses(&actions).is_empty(), "{actions:?}");
}

#[test]
fn a_prefer_dual_stack_service_gains_its_v6_address_when_its_pool_does_or_is_told_why_not() {
    let pool = |v6: &str| {
        format!(
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: p, namespace: metallb-system}}\nspec: {{addresses: [192.0.2.0/30{v6}]}}\n"
        )
    };
    let svc = |name: &str, spec: &str| {
        format!(
            "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  type: LoadBalancer\n  ports: [{{port: 80, protocol: TCP}}]\n{spec}"
        )
    };
    let pds = svc(
        "pds",
        "  ipFamilyPolicy: PreferDualStack\n  ipFamilies: [IPv4, IPv6]\n  clusterIP: 10.96.0.9\n  clusterIPs: [10.96.0.9, 'fd00::9']\n",
    );
    let v6 = svc(
        "v6",
        "  ipFamilies: [IPv6]\n  clusterIP: 'fd00::6'\n  clusterIPs: ['fd00::6']\n",
    );
    let cfg = |pool: String, svcs: &[&String]| {
        let text = format!(
            "{pool}{}",
            svcs.iter().map(|s| s.as_str()).collect::<String>()
        );
        let objs = load_str(&text, "test.yaml", &Options::default()).expect("test YAML loads");
        validate(&objs, &Options::default())
            .expect("test config is valid")
            .config
    };
    // A v4-only pool: the v4 address only, and nothing to report.
    let mut e = Engine::default();
    let first = e.pass(&cfg(pool(""), &[&pds]));
    assert_eq!(
        statuses(&first),
        [("pds".to_string(), vec!["192.0.2.0".to_string()])]
    );
    assert!(
        events(&first, "AdditionalAssignFailed").is_empty(),
        "{first:?}"
    );
    // The pool gains one v6 address: the Service gains it as its second.
    let second = e.pass(&cfg(pool(", '2001:db8::/128'"), &[&pds]));
    assert_eq!(
        statuses(&second),
        [(
            "pds".to_string(),
            vec!["192.0.2.0".to_string(), "2001:db8::".to_string()]
        )],
        "{second:?}"
    );
    // The single v6 address already belongs to a v6 Service (`a6` sorts
    // first): the dual-stack Service gets its v4 address, and the pass
    // after any change to it retries the second family and says why it
    // failed (MetalLB's Normal AdditionalAssignFailed).
    let a6 = v6.replace("name: v6", "name: a6");
    let mut e = Engine::default();
    let both = pool(", '2001:db8::/128'");
    let start = e.pass(&cfg(both.clone(), &[&a6, &pds]));
    assert!(
        statuses(&start).contains(&("pds".to_string(), vec!["192.0.2.0".to_string()])),
        "{start:?}"
    );
    let edited = pds.replace("ports: [{port: 80", "ports: [{port: 81");
    let after = e.pass(&cfg(both, &[&a6, &edited]));
    let failed = events(&after, "AdditionalAssignFailed");
    assert_eq!(failed.len(), 1, "{after:?}");
    assert!(!failed[0].1, "a Normal event: {after:?}");
}

#[test]
fn a_refused_configuration_state_names_each_object_and_field_and_stays_bounded() {
    let overlap = format!(
        "{POOL}---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: q, namespace: metallb-system}}\nspec: {{addresses: [192.0.2.2/31]}}\n"
    );
    let objs = load_str(&overlap, "test.yaml", &Options::default()).expect("test YAML loads");
    let diags = validate(&objs, &Options::default()).expect_err("overlapping pools are refused");
    let Action::ConfigState { valid, summary } = config_state(Some(&diags)) else {
        panic!("not a ConfigState")
    };
    assert!(!valid);
    let summary = summary.expect("an invalid state has a summary");
    assert!(
        summary.contains("spec.addresses") && summary.contains('q') && !summary.contains('\n'),
        "{summary}"
    );
    assert_eq!(
        config_state(None),
        Action::ConfigState {
            valid: true,
            summary: None
        }
    );
    // Thousands of errors: cut at a character boundary, marked as cut.
    let mut many = diags.clone();
    while many.errors.len() < 2000 {
        many.errors.extend(diags.errors.iter().cloned());
    }
    let Action::ConfigState {
        summary: Some(cut), ..
    } = config_state(Some(&many))
    else {
        panic!("not a ConfigState with a summary")
    };
    assert!(
        cut.len() <= SUMMARY_MAX + " …".len() && cut.ends_with(" …"),
        "{}",
        cut.len()
    );
}
