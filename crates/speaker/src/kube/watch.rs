//! The API client and the reflectors (one per kind), each waking the run
//! loop on a change. Objects are compacted before they enter a store.

use std::path::Path;
use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::ListParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource};
use metallb_api::types::{
    BfdProfileCr, BgpAdvertisementCr, BgpPeerCr, CommunityCr, IpAddressPoolCr, L2AdvertisementCr,
};
use tokio::sync::mpsc;

use super::objects::Stores;
use super::stale::{Failing, Probe};
use crate::run::Shared;

/// A client from `kubeconfig`, else the in-cluster config, else
/// `KUBECONFIG`; errors name the file.
pub async fn client(kubeconfig: Option<&Path>) -> Result<Client, String> {
    let Some(path) = kubeconfig else {
        return Client::try_default()
            .await
            .map_err(|e| format!("Kubernetes client (in-cluster or KUBECONFIG): {e}"));
    };
    let err = |msg: String| format!("kubeconfig {}: {msg}", path.display());
    let kc = Kubeconfig::read_from(path).map_err(|e| err(e.to_string()))?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| err(e.to_string()))?;
    Client::try_from(cfg).map_err(|e| err(e.to_string()))
}

/// Runs a reflector for `api`: `()` on `tx` after every change it stores;
/// a watch error (API server unreachable, …) marks the configuration
/// stale (until `failing` sees the kind served again) and is retried with
/// the watcher's default backoff (exponential, 800 ms up to 30 s), the
/// store keeping what it had.
fn reflect<K>(
    kind: &'static str,
    api: Api<K>,
    trim: fn(&mut K),
    tx: mpsc::Sender<()>,
    shared: Arc<Shared>,
    failing: Failing,
) -> (Store<K>, tokio::task::JoinHandle<()>)
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    let (store, writer) = reflector::store();
    let probe_api = api.clone();
    let probe: Probe = Arc::new(move || {
        let api = probe_api.clone();
        Box::pin(async move {
            api.list_metadata(&ListParams::default().limit(1))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    });
    let s = watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(move |o: &mut K| {
            metallb_api::meta::compact(o.meta_mut());
            trim(o);
        })
        .reflect(writer);
    let failing_kinds = failing;
    let task = tokio::spawn(async move {
        let mut s = std::pin::pin!(s);
        let mut failing = false;
        let failed_kinds = failing_kinds;
        while let Some(ev) = s.next().await {
            match ev {
                Ok(_) => {
                    if failing {
                        tracing::info!(kind, "watch back");
                        failing = false;
                        failed_kinds.recovered(&shared, kind);
                    }
                    // A full channel already holds a wake-up.
                    let _ = tx.try_send(());
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(kind, error = %e, "watch failing; announcing the last known state, retrying with backoff");
                        failing = true;
                    } else {
                        tracing::debug!(kind, error = %e, "watch still failing");
                    }
                    failed_kinds.failed(&shared, kind, &e.to_string(), probe.clone());
                }
            }
        }
    });
    (store, task)
}

/// One store per kind the speaker reads.
pub struct Reflectors {
    pools: Store<IpAddressPoolCr>,
    peers: Store<BgpPeerCr>,
    bgp_ads: Store<BgpAdvertisementCr>,
    l2_ads: Store<L2AdvertisementCr>,
    communities: Store<CommunityCr>,
    bfd: Store<BfdProfileCr>,
    secrets: Store<Secret>,
    nodes: Store<Node>,
    namespaces: Store<Namespace>,
    services: Store<Service>,
    slices: Store<EndpointSlice>,
    failing: Failing,
    _tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Reflectors {
    /// Starts every watch: the `metallb.io` kinds and Secrets in `ns`, the
    /// core kinds and EndpointSlices cluster-wide.
    pub fn start(client: &Client, ns: &str, tx: mpsc::Sender<()>, shared: Arc<Shared>) -> Self {
        let mut tasks = Vec::new();
        let failing = Failing::default();
        tasks.push(failing.clone().spawn_probes(shared.clone(), tx.clone()));
        macro_rules! start {
            ($kind:literal, $api:expr) => {
                start!($kind, $api, |_| {})
            };
            ($kind:literal, $api:expr, $trim:expr) => {{
                let (store, task) = reflect(
                    $kind,
                    $api,
                    $trim,
                    tx.clone(),
                    shared.clone(),
                    failing.clone(),
                );
                tasks.push(task);
                store
            }};
        }
        let c = client;
        Reflectors {
            pools: start!("IPAddressPool", Api::namespaced(c.clone(), ns)),
            peers: start!("BGPPeer", Api::namespaced(c.clone(), ns)),
            bgp_ads: start!("BGPAdvertisement", Api::namespaced(c.clone(), ns)),
            l2_ads: start!("L2Advertisement", Api::namespaced(c.clone(), ns)),
            communities: start!("Community", Api::namespaced(c.clone(), ns)),
            bfd: start!("BFDProfile", Api::namespaced(c.clone(), ns)),
            secrets: start!("Secret", Api::namespaced(c.clone(), ns)),
            nodes: start!("Node", Api::all(c.clone()), super::objects::trim_node),
            namespaces: start!("Namespace", Api::all(c.clone())),
            services: start!("Service", Api::all(c.clone())),
            slices: start!("EndpointSlice", Api::all(c.clone())),
            failing,
            _tasks: tasks,
        }
    }

    /// The failing-kinds tracker, for watches kept outside these stores
    /// (the speaker Pods): their errors hold `/readyz` at 503 too.
    pub fn failing(&self) -> Failing {
        self.failing.clone()
    }

    /// Waits for every store's first full list; `Err(kind)` when one's
    /// watch ended before that.
    pub async fn wait_until_ready(&self) -> Result<(), &'static str> {
        macro_rules! ready {
            ($kind:literal, $s:expr) => {
                $s.wait_until_ready().await.map_err(|_| $kind)?
            };
        }
        ready!("IPAddressPool", self.pools);
        ready!("BGPPeer", self.peers);
        ready!("BGPAdvertisement", self.bgp_ads);
        ready!("L2Advertisement", self.l2_ads);
        ready!("Community", self.communities);
        ready!("BFDProfile", self.bfd);
        ready!("Secret", self.secrets);
        ready!("Node", self.nodes);
        ready!("Namespace", self.namespaces);
        ready!("Service", self.services);
        ready!("EndpointSlice", self.slices);
        Ok(())
    }

    /// The Services' store (the status writer reads their uids).
    pub fn services(&self) -> Store<Service> {
        self.services.clone()
    }

    /// What every store holds now.
    pub fn snapshot(&self) -> Stores {
        Stores {
            pools: self.pools.state(),
            peers: self.peers.state(),
            bgp_advertisements: self.bgp_ads.state(),
            l2_advertisements: self.l2_ads.state(),
            communities: self.communities.state(),
            bfd_profiles: self.bfd.state(),
            secrets: self.secrets.state(),
            nodes: self.nodes.state(),
            namespaces: self.namespaces.state(),
            services: self.services.state(),
            endpoint_slices: self.slices.state(),
        }
    }
}
