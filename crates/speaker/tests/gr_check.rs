//! `oxlb-speaker check` reports graceful restart per BGPPeer.

use std::process::Command;

const CONFIG: &str = "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: default, namespace: metallb-system}
spec: {addresses: [192.0.2.0/28]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor-gr, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 192.0.2.254, enableGracefulRestart: true}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor-plain, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 192.0.2.253}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: all, namespace: metallb-system}
";

fn check(extra: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, CONFIG).expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_oxlb-speaker"))
        .arg("check")
        .arg("--config")
        .arg(&path)
        .args(extra)
        .output()
        .expect("run oxlb-speaker");
    assert!(
        out.status.success(),
        "check failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn check_shows_graceful_restart_on_with_the_default_restart_time_for_enabled_peers_only() {
    let out = check(&[]);
    assert!(
        out.contains("BGPPeer tor-gr: graceful restart: on, restart time 120 s"),
        "{out}"
    );
    assert!(!out.contains("tor-plain: graceful restart"), "{out}");
    assert!(!out.contains("not yet active"), "{out}");
}

#[test]
fn check_shows_a_tuned_restart_time() {
    let out = check(&["--graceful-restart-time", "5"]);
    assert!(
        out.contains("BGPPeer tor-gr: graceful restart: on, restart time 5 s"),
        "{out}"
    );
}
