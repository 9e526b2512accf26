//! `v1` Node: labels (for the selectors) and the addresses L2 mode's
//! membership runs on.

use super::Ctx;
use crate::config::Config;
use crate::load::Objects;
use std::net::IpAddr;

const NODE: &str = "Node";

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
