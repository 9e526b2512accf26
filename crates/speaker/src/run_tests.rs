//! The standalone runner against a real (dial-only) BGP engine whose peer
//! never answers: what it is handed is what would be announced.

use super::*;

const CONFIG: &str = "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: default, namespace: metallb-system}
spec: {addresses: [192.0.2.0/28]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 127.0.0.1, peerPort: 1}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: all, namespace: metallb-system}
";

fn svc(name: &str) -> String {
    format!("apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  type: LoadBalancer\n  ports: [{{port: 80, protocol: TCP}}]\n")
}

async fn runner(config: &Path, state_file: Option<PathBuf>, state: AllocationState) -> Runner {
    let args = StandaloneArgs {
        config: config.to_path_buf(),
        run: crate::RunArgs {
            node_name: "node1".into(),
            state_file,
            metrics_addr: "127.0.0.1:0".parse().unwrap(),
            namespace: "metallb-system".into(),
            lb_class: None,
            bgp_listen: Vec::new(),
            log_format: "text".into(),
            graceful_restart_time: 120,
            graceful_restart_on_exit: false,
            l2: Default::default(),
            bind_vips: crate::vip_bind::BindMode::Off,
        },
    };
    let speaker = Speaker::bind(&[]).await.unwrap();
    let shared = Arc::new(Shared::new(speaker, "node1"));
    Runner::new(args, shared, state)
}

fn handed(r: &Runner) -> Vec<String> {
    r.handed
        .get("tor")
        .map(|v| v.iter().map(|x| x.prefix.to_string()).collect())
        .unwrap_or_default()
}

/// Waits (up to 2 s) until the engine's peer task reports `n` desired
/// prefixes, and fails the test otherwise.
async fn engine_desires(r: &Runner, n: u64) {
    for _ in 0..200 {
        let st = r.shared.speaker.status();
        if st
            .iter()
            .any(|p| p.name == "tor" && p.prefixes_desired == n)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "the BGP engine never desired {n} prefixes: {:?}",
        r.shared
            .speaker
            .status()
            .iter()
            .map(|p| p.prefixes_desired)
            .collect::<Vec<_>>()
    );
}

fn metric(r: &Runner, series: &str) -> String {
    let text = r.shared.render_metrics();
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no series {series} in\n{text}"))
        .to_string()
}

#[tokio::test]
async fn a_new_allocation_is_not_announced_until_the_state_file_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    std::fs::write(
        &cfg,
        format!("{CONFIG}---\n{}---\n{}", svc("new"), svc("old")),
    )
    .unwrap();
    // The state file's directory is a plain file: every write fails ENOTDIR.
    let blocker = dir.path().join("var");
    std::fs::write(&blocker, b"").unwrap();
    let state_file = blocker.join("state.json");
    // default/old was persisted (and so announced) by an earlier run.
    let mut previous = AllocationState::default();
    previous.services.insert(
        "default/old".into(),
        crate::state::Allocation {
            ips: vec!["192.0.2.5".parse().unwrap()],
            pool: "default".into(),
        },
    );
    let mut r = runner(&cfg, Some(state_file.clone()), previous).await;
    r.reload("test", false).await;

    assert_eq!(handed(&r), vec!["192.0.2.5/32"]);
    engine_desires(&r, 1).await;
    assert_eq!(metric(&r, "oxlb_state_file_save_failures_total"), "1");
    assert_eq!(metric(&r, "oxlb_state_file_unsaved_allocations"), "1");
    assert_eq!(
        metric(&r, "oxlb_state_file_last_save_success_timestamp_seconds"),
        "0"
    );
    let routes = r.shared.view().route_prefixes();
    assert_eq!(routes["tor"], vec!["192.0.2.5/32"]);

    // Not yet due: nothing is retried.
    r.retry_save(Instant::now()).await;
    assert_eq!(metric(&r, "oxlb_state_file_save_failures_total"), "1");
    // Still failing when due: counted again, still held back.
    r.retry_save(Instant::now() + RETRY_MAX).await;
    assert_eq!(metric(&r, "oxlb_state_file_save_failures_total"), "2");
    assert_eq!(handed(&r), vec!["192.0.2.5/32"]);

    // The directory appears: the retry writes the file, then announces.
    std::fs::remove_file(&blocker).unwrap();
    std::fs::create_dir(&blocker).unwrap();
    r.retry_save(Instant::now() + RETRY_MAX).await;
    let saved = AllocationState::load(&state_file).unwrap();
    assert_eq!(
        saved.services["default/new"].ips,
        vec!["192.0.2.0".parse::<IpAddr>().unwrap()]
    );
    assert_eq!(handed(&r), vec!["192.0.2.0/32", "192.0.2.5/32"]);
    engine_desires(&r, 2).await;
    assert_eq!(metric(&r, "oxlb_state_file_unsaved_allocations"), "0");
    assert_ne!(
        metric(&r, "oxlb_state_file_last_save_success_timestamp_seconds"),
        "0"
    );
}

#[tokio::test]
async fn a_sighup_applies_a_same_length_edit_whose_mtime_was_restored() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("00-base.yaml"), CONFIG).unwrap();
    let file = dir.path().join("10-svc.yaml");
    std::fs::write(&file, svc("aaa")).unwrap();
    let mut r = runner(dir.path(), None, AllocationState::default()).await;
    r.reload("start", false).await;
    let names = |r: &Runner| -> Vec<String> {
        r.shared
            .view()
            .services
            .iter()
            .map(|s| s.name.clone())
            .collect()
    };
    assert_eq!(names(&r), vec!["aaa"]);

    let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
    std::fs::write(&file, svc("bbb")).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    // The watcher's cheap path cannot tell; SIGHUP re-reads every file.
    r.reload("file change", false).await;
    assert_eq!(names(&r), vec!["aaa"]);
    r.reload("SIGHUP", true).await;
    assert_eq!(names(&r), vec!["bbb"]);
}

#[tokio::test]
async fn an_address_handed_to_another_service_waits_for_the_state_file_too() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    let pinned = |name: &str| format!("{}  loadBalancerIP: 192.0.2.5\n", svc(name));
    std::fs::write(&cfg, format!("{CONFIG}---\n{}", pinned("old"))).unwrap();
    let var = dir.path().join("var");
    std::fs::create_dir(&var).unwrap();
    let mut r = runner(
        &cfg,
        Some(var.join("state.json")),
        AllocationState::default(),
    )
    .await;
    r.reload("start", false).await;
    assert_eq!(handed(&r), vec!["192.0.2.5/32"]);

    // The state directory goes away; default/old's address moves to
    // default/moved. The file still says default/old: after a crash .5
    // could go elsewhere, so it is withdrawn rather than kept.
    std::fs::rename(&var, dir.path().join("var.gone")).unwrap();
    std::fs::write(&var, b"").unwrap();
    std::fs::write(&cfg, format!("{CONFIG}---\n{}", pinned("moved"))).unwrap();
    r.reload("edit", false).await;
    assert_eq!(metric(&r, "oxlb_state_file_save_failures_total"), "1");
    assert_eq!(handed(&r), Vec::<String>::new());

    std::fs::remove_file(&var).unwrap();
    std::fs::create_dir(&var).unwrap();
    r.retry_save(Instant::now() + RETRY_MAX).await;
    assert_eq!(handed(&r), vec!["192.0.2.5/32"]);
    let saved = AllocationState::load(&var.join("state.json")).unwrap();
    assert_eq!(
        saved.services.keys().collect::<Vec<_>>(),
        vec!["default/moved"]
    );
}

#[tokio::test]
async fn a_reload_that_adds_one_service_converges_only_that_service() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    let services = |names: &[&str]| -> String {
        names
            .iter()
            .map(|n| format!("---\n{}", svc(n)))
            .collect::<String>()
    };
    std::fs::write(&cfg, format!("{CONFIG}{}", services(&["a", "b", "c"]))).unwrap();
    let mut r = runner(&cfg, None, AllocationState::default()).await;
    r.reload("start", false).await;
    assert_eq!(r.live.last_touched, 3);
    assert_eq!(
        handed(&r),
        vec!["192.0.2.0/32", "192.0.2.1/32", "192.0.2.2/32"]
    );

    // "aa" sorts between "a" and "b": a fresh resync would still keep the
    // others' addresses, but only "aa" may be looked at.
    std::fs::write(
        &cfg,
        format!("{CONFIG}{}", services(&["a", "aa", "b", "c"])),
    )
    .unwrap();
    r.reload("SIGHUP", true).await;
    assert_eq!(r.live.last_touched, 1);
    let ips: Vec<(String, String)> = r
        .shared
        .view()
        .services
        .iter()
        .map(|s| (s.name.clone(), s.ips[0].to_string()))
        .collect();
    let want = [
        ("a", "192.0.2.0"),
        ("aa", "192.0.2.3"),
        ("b", "192.0.2.1"),
        ("c", "192.0.2.2"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(n, i)| (n.to_string(), i.to_string()))
        .collect();
    assert_eq!(ips, want);
    engine_desires(&r, 4).await;

    // Removing one releases just that one; its address is free again.
    std::fs::write(&cfg, format!("{CONFIG}{}", services(&["a", "aa", "c"]))).unwrap();
    r.reload("SIGHUP", true).await;
    assert_eq!(r.live.last_touched, 1);
    std::fs::write(
        &cfg,
        format!("{CONFIG}{}", services(&["a", "aa", "c", "d"])),
    )
    .unwrap();
    r.reload("SIGHUP", true).await;
    assert_eq!(r.live.last_touched, 1);
    let d = r
        .shared
        .view()
        .services
        .iter()
        .find(|s| s.name == "d")
        .unwrap()
        .ips
        .clone();
    assert_eq!(d, vec!["192.0.2.1".parse::<IpAddr>().unwrap()]);
}

#[tokio::test]
async fn a_malformed_service_keeps_its_reason_across_reloads_that_skip_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    let bad = format!("{}  loadBalancerIP: not-an-ip\n", svc("bad"));
    std::fs::write(&cfg, format!("{CONFIG}---\n{}---\n{bad}", svc("ok"))).unwrap();
    let mut r = runner(&cfg, None, AllocationState::default()).await;
    r.reload("start", false).await;
    let reason = |r: &Runner| -> Option<String> {
        let v = r.shared.view();
        let s = v
            .services
            .iter()
            .find(|s| s.name == "bad")
            .expect("bad is reported");
        s.pending.clone()
    };
    let first = reason(&r).expect("bad is pending");
    assert!(first.contains("not-an-ip"), "{first}");
    // Nothing changed: the good one is not looked at, the bad one still says why.
    r.reload("SIGHUP", true).await;
    assert_eq!(r.live.last_touched, 0);
    assert_eq!(reason(&r), Some(first));
    assert_eq!(handed(&r), vec!["192.0.2.0/32"]);
}

#[test]
fn peers_with_equal_route_lists_share_one_list() {
    use bgp_proto::adj_rib_out::RouteSpec;
    let list = |ips: &[&str]| {
        Arc::new(
            ips.iter()
                .map(|p| RouteSpec::new(p.parse().unwrap()))
                .collect::<Vec<_>>(),
        )
    };
    let mut routes = BTreeMap::new();
    routes.insert("a".to_string(), list(&["192.0.2.1/32", "192.0.2.2/32"]));
    routes.insert("b".to_string(), list(&["192.0.2.1/32", "192.0.2.2/32"]));
    routes.insert("c".to_string(), list(&["192.0.2.1/32"]));
    routes.insert("d".to_string(), list(&["192.0.2.1/32", "192.0.2.2/32"]));
    super::share_equal_lists(&mut routes);
    assert!(Arc::ptr_eq(&routes["a"], &routes["b"]));
    assert!(Arc::ptr_eq(&routes["a"], &routes["d"]));
    assert!(!Arc::ptr_eq(&routes["a"], &routes["c"]));
    assert_eq!(routes["c"].len(), 1);
}

#[tokio::test]
async fn a_reload_that_adds_one_service_changes_exactly_one_route_and_one_state_entry() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    let state_file = dir.path().join("state.json");
    let names: Vec<String> = (0..12).map(|i| format!("s{i:02}")).collect();
    let config = |names: &[String]| -> String {
        let svcs: String = names.iter().map(|n| format!("---\n{}", svc(n))).collect();
        format!("{CONFIG}{svcs}")
    };
    std::fs::write(&cfg, config(&names)).unwrap();
    let mut r = runner(&cfg, Some(state_file.clone()), AllocationState::default()).await;
    r.reload("start", false).await;
    assert_eq!(r.live.last_touched, 12);
    let before: BTreeSet<String> = handed(&r).into_iter().collect();
    let saved_before = AllocationState::load(&state_file).unwrap();
    assert_eq!(before.len(), 12);
    assert_eq!(saved_before.services.len(), 12);

    let mut more = names.clone();
    more.push("s05a".into());
    std::fs::write(&cfg, config(&more)).unwrap();
    r.reload("SIGHUP", true).await;
    assert_eq!(r.live.last_touched, 1, "only the new Service is converged");
    let after: BTreeSet<String> = handed(&r).into_iter().collect();
    let changed: Vec<&String> = before.symmetric_difference(&after).collect();
    assert_eq!(changed, vec!["192.0.2.12/32"], "exactly one route changes");
    engine_desires(&r, 13).await;
    let saved = AllocationState::load(&state_file).unwrap();
    let differ: Vec<&String> = saved
        .services
        .iter()
        .filter(|(k, a)| saved_before.services.get(*k) != Some(a))
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        differ,
        vec!["default/s05a"],
        "exactly one state entry changes"
    );
    assert_eq!(saved.services.len(), 13);
}

#[tokio::test]
async fn a_reload_that_removes_every_service_withdraws_every_prefix_and_empties_the_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    let state_file = dir.path().join("state.json");
    let svcs = |n: usize| -> String {
        (0..n)
            .map(|i| format!("---\n{}", svc(&format!("s{i}"))))
            .collect()
    };
    std::fs::write(&cfg, format!("{CONFIG}{}", svcs(9))).unwrap();
    let mut r = runner(&cfg, Some(state_file.clone()), AllocationState::default()).await;
    r.reload("start", false).await;
    // A second reload hands the running peer its routes as a change, as
    // the withdrawal below is.
    std::fs::write(&cfg, format!("{CONFIG}{}", svcs(10))).unwrap();
    r.reload("SIGHUP", true).await;
    assert_eq!(handed(&r).len(), 10);
    engine_desires(&r, 10).await;
    assert_eq!(
        AllocationState::load(&state_file).unwrap().services.len(),
        10
    );

    std::fs::write(&cfg, CONFIG).unwrap();
    r.reload("SIGHUP", true).await;
    assert_eq!(r.live.last_touched, 10, "every Service is released");
    assert_eq!(handed(&r), Vec::<String>::new(), "no prefix is left");
    engine_desires(&r, 0).await;
    let saved = AllocationState::load(&state_file).unwrap();
    assert!(
        saved.services.is_empty(),
        "state file still holds {:?}",
        saved.services
    );
    assert_eq!(
        metric(
            &r,
            "metallb_allocator_addresses_in_use_total{pool=\"default\"}"
        ),
        "0"
    );
}

#[tokio::test]
async fn after_a_restart_new_allocations_wait_until_every_peer_sent_end_of_rib_or_the_restart_time()
{
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    std::fs::write(
        &cfg,
        format!("{CONFIG}---\n{}---\n{}", svc("new"), svc("old")),
    )
    .unwrap();
    let state_file = dir.path().join("state.json");
    // default/old was announced by the process before the restart.
    let mut previous = AllocationState::default();
    previous.services.insert(
        "default/old".into(),
        crate::state::Allocation {
            ips: vec!["192.0.2.5".parse().unwrap()],
            pool: "default".into(),
        },
    );
    // default/gone was deleted while the speaker was down; its address is
    // free for default/new, which is still a new allocation.
    previous.services.insert(
        "default/gone".into(),
        crate::state::Allocation {
            ips: vec!["192.0.2.0".parse().unwrap()],
            pool: "default".into(),
        },
    );
    let mut r = runner(&cfg, Some(state_file.clone()), previous).await;
    r.begin_restart(Duration::from_secs(120));
    r.reload("test", false).await;
    // The new allocation is durable, but only the persisted route goes out.
    let saved = AllocationState::load(&state_file).unwrap();
    assert!(saved.services.contains_key("default/new"), "{saved:?}");
    assert_eq!(handed(&r), vec!["192.0.2.5/32"]);
    engine_desires(&r, 1).await;
    // The peer (never answering) has sent no End-of-RIB: still held.
    r.check_restart(Instant::now()).await;
    assert_eq!(handed(&r), vec!["192.0.2.5/32"]);
    // The restart time is over: the helper flushed anyway, so release.
    r.check_restart(Instant::now() + Duration::from_secs(121))
        .await;
    assert_eq!(handed(&r), vec!["192.0.2.0/32", "192.0.2.5/32"]);
    engine_desires(&r, 2).await;
}
