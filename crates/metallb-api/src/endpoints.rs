//! `discovery.k8s.io/v1` EndpointSlice: the compact record L2 mode needs for
//! `externalTrafficPolicy: Local` (which nodes hold a usable endpoint of a
//! Service), projected from the parsed object, which is then dropped.

use k8s_openapi::api::discovery::v1::EndpointSlice;
use std::collections::{BTreeMap, BTreeSet};

/// The label naming the Service a slice belongs to.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// One endpoint of a slice: its node and whether it is usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRecord {
    /// `nodeName` (None when unset).
    pub node_name: Option<String>,
    /// Ready and not terminating.
    pub usable: bool,
}

/// The part of an EndpointSlice the speaker keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointSliceRecord {
    /// The `kubernetes.io/service-name` label (None when absent or empty).
    pub service: Option<String>,
    /// `endpoints[]`, in the order written.
    pub endpoints: Vec<EndpointRecord>,
}

impl EndpointSliceRecord {
    /// Projects a parsed slice (its labels already taken out by the
    /// loader; `service`: its `kubernetes.io/service-name` label).
    pub fn from_slice(slice: EndpointSlice, service: Option<String>) -> Self {
        let endpoints = slice
            .endpoints
            .into_iter()
            .map(|e| {
                let c = e.conditions.unwrap_or_default();
                // Kubernetes (discovery/v1 EndpointConditions): an unset
                // `ready` is to be read as true. MetalLB (epslices): an
                // endpoint that is terminating is not usable, ready or not.
                let usable = c.ready.unwrap_or(true) && !c.terminating.unwrap_or(false);
                EndpointRecord {
                    node_name: e.node_name.filter(|n| !n.is_empty()),
                    usable,
                }
            })
            .collect();
        EndpointSliceRecord {
            service: service.filter(|s| !s.is_empty()),
            endpoints,
        }
    }
}

/// The nodes holding a usable endpoint, by Service `namespace/name`.
pub type ReadyNodes = BTreeMap<String, BTreeSet<String>>;
