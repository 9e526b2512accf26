//! `v1` Node: labels (for the selectors) and the addresses L2 mode's
//! membership runs on.

use super::Ctx;
use crate::config::Config;
use crate::endpoints::{ReadyNodes, SERVICE_NAME_LABEL};
use crate::load::Objects;
use std::net::IpAddr;

const NODE: &str = "Node";
const SLICE: &str = "EndpointSlice";

/// Fills `config.nodes` (labels) and `config.node_addresses`: each Node's
/// `status.addresses[]` of type `InternalIP`, in the order written. (MetalLB's
/// memberlist binds the speaker pod's IP; the speaker runs on the host
/// network, so that is the Node's InternalIP.) An `InternalIP` entry that is
/// not an IP address is an error naming the Node and the entry.
pub(super) fn nodes(cx: &mut Ctx, objects: &Objects, config: &mut Config) {
    for n in &objects.nodes {
        config.nodes.insert(n.name.clone(), n.labels.clone());
        let mut internal = Vec::new();
        let entries = n
            .spec
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_deref())
            .unwrap_or_default();
        for (i, a) in entries.iter().enumerate() {
            if a.type_ != "InternalIP" {
                continue;
            }
            match a.address.trim().parse::<IpAddr>() {
                Ok(ip) => internal.push(ip),
                Err(_) => cx.err(
                    NODE,
                    n,
                    format!("status.addresses[{i}].address"),
                    format!(
                        "Invalid value: {:?}: an InternalIP must be an IP address",
                        a.address
                    ),
                ),
            }
        }
        if !internal.is_empty() {
            config.node_addresses.insert(n.name.clone(), internal);
        }
    }
}

/// The nodes with a usable endpoint, by Service `namespace/name`, from the
/// EndpointSlices (None when no slice names a Service and the slices are
/// not the cluster's complete list). A slice without the
/// `kubernetes.io/service-name` label belongs to no Service: it is ignored
/// with a warning naming it. Endpoints without `nodeName` count for no node.
pub(super) fn ready_endpoint_nodes(cx: &mut Ctx, objects: &Objects) -> Option<ReadyNodes> {
    let mut out: Option<ReadyNodes> = objects.endpoint_slices_complete.then(ReadyNodes::new);
    for s in &objects.endpoint_slices {
        let Some(service) = &s.spec.service else {
            cx.warn(
                SLICE,
                s,
                format!("metadata.labels[{SERVICE_NAME_LABEL}]"),
                "missing: the slice names no Service and is ignored",
            );
            continue;
        };
        let nodes = out
            .get_or_insert_with(ReadyNodes::new)
            .entry(format!("{}/{service}", s.namespace))
            .or_default();
        for e in &s.spec.endpoints {
            if let (true, Some(n)) = (e.usable, &e.node_name) {
                nodes.insert(n.clone());
            }
        }
    }
    out
}
