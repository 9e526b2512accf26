//! The L2 members from the speaker Pods (pure): MetalLB finds its
//! memberlist peers by listing the Pods in its namespace with the labels
//! of `METALLB_ML_LABELS` and joining their Pod IPs. Here each such Pod
//! names a member: its node (`spec.nodeName`, the name the election and
//! the nodeSelectors use) at its Pod IP (the DaemonSet runs with
//! hostNetwork, so that is the node's address, the one the membership
//! socket binds). The Pod store holds [`PodRecord`]s only.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use l2::membership::Member;

/// MetalLB's default `METALLB_ML_LABELS` (its chart's speaker Pods).
pub const DEFAULT_LABELS: &str = "app=metallb,component=speaker";

/// What the members are derived from, per speaker Pod (the rest of the
/// Pod is dropped as it arrives).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodRecord {
    /// `spec.nodeName`; None until the scheduler placed it.
    pub node: Option<String>,
    /// `status.podIPs` (else `status.podIP`), in the order given; empty
    /// until the kubelet reported them.
    pub ips: Vec<IpAddr>,
    /// `metadata.deletionTimestamp` is set: it is going away.
    pub terminating: bool,
    /// `status.phase` is `Succeeded` or `Failed`: it will not run again.
    pub finished: bool,
    /// Its `Ready` condition is `True`: the speaker in it runs. A Pod
    /// pulling its image already has the node's IP (hostNetwork) but no
    /// speaker to prove itself, and with majority fencing an unproven
    /// member counts against the others.
    pub ready: bool,
    /// `metadata.creationTimestamp` as seconds since the epoch (0 unknown).
    pub created: i64,
}

/// The members and what to warn about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Projection {
    /// None: no speaker Pod matched at all (the caller falls back to the
    /// Nodes' InternalIPs, as with `--ml-labels ""`).
    pub members: Option<Result<Vec<Member>, String>>,
    pub notes: Vec<String>,
}

/// A Pod counts while it is scheduled, not terminating, not finished and
/// has an address, and, on another node than `me`, is Ready (MetalLB's
/// memberlist only counts speakers that joined). This node's own Pod
/// counts before it is Ready: its readiness may wait on this speaker.
fn usable<'a>(p: &'a PodRecord, me: &str) -> Option<(&'a str, &'a [IpAddr])> {
    let node = p.node.as_deref()?;
    (!p.terminating && !p.finished && !p.ips.is_empty() && (p.ready || node == me))
        .then_some((node, p.ips.as_slice()))
}

/// The members from the speaker Pods `pods` (by Pod name) for node `me`;
/// `nodes`: the names of the Node objects (a Pod on a node that has none
/// is left out: the election and the nodeSelectors read the Node).
/// Every member is of the address family of `me`'s Pod. Two Pods on one
/// node (a rollout's overlap): the newest counts, then the last by name.
pub fn project(
    pods: &BTreeMap<String, PodRecord>,
    nodes: &BTreeSet<String>,
    labels: &str,
    me: &str,
) -> Projection {
    let mut notes = Vec::new();
    if pods.is_empty() {
        return Projection {
            members: None,
            notes: vec![format!("L2: no Pod with labels {labels:?} in the speaker namespace; the members are the Nodes at their InternalIPs")],
        };
    }
    // Per node, the Pod that counts: (created, name, ips).
    let mut per_node: BTreeMap<&str, (i64, &str, &[IpAddr])> = BTreeMap::new();
    let mut shared: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, p) in pods {
        let Some((node, ips)) = usable(p, me) else {
            continue;
        };
        if !nodes.contains(node) {
            notes.push(format!(
                "L2: Pod {name}: spec.nodeName {node:?} names no Node; not a member"
            ));
            continue;
        }
        shared.entry(node).or_default().push(name);
        let cand = (p.created, name.as_str(), ips);
        let e = per_node.entry(node).or_insert(cand);
        if (cand.0, cand.1) > (e.0, e.1) {
            *e = cand;
        }
    }
    for (node, names) in shared.iter().filter(|(_, v)| v.len() > 1) {
        let chosen = per_node.get(node).map_or("", |c| c.1);
        notes.push(format!(
            "L2: node {node} has {} speaker Pods ({}); Pod {chosen} (the newest) is its member",
            names.len(),
            names.join(", ")
        ));
    }
    let Some(&(_, my_pod, my_ips)) = per_node.get(me) else {
        let found: Vec<&str> = per_node.keys().copied().collect();
        return Projection {
            members: Some(Err(format!(
                "L2: no running speaker Pod with labels {labels:?} and an IP on node {me} (--node-name); found Pods on: {}",
                if found.is_empty() { "none".to_string() } else { found.join(", ") }
            ))),
            notes,
        };
    };
    let v6 = my_ips[0].is_ipv6();
    let mut members = Vec::new();
    for (node, (_, pod, ips)) in &per_node {
        match ips.iter().find(|a| a.is_ipv6() == v6) {
            Some(a) => members.push(Member {
                name: (*node).to_string(),
                addr: *a,
            }),
            None => notes.push(format!(
                "L2: Pod {pod} (node {node}): status.podIPs has no {} address (Pod {my_pod} of this node has {}); not a member",
                if v6 { "IPv6" } else { "IPv4" },
                my_ips[0]
            )),
        }
    }
    Projection {
        members: Some(Ok(members)),
        notes,
    }
}

#[cfg(test)]
#[path = "members_tests.rs"]
mod tests;
