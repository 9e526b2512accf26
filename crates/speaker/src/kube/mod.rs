//! `oxlb-speaker kubernetes`: the speaker fed by the API server instead of
//! a file. Reflectors keep compact copies (managedFields and the
//! last-applied annotation dropped, [`metallb_api::meta::compact`]) of the
//! Services, EndpointSlices, Nodes and Namespaces of the cluster and of the
//! `metallb.io` objects and Secrets of the speaker's namespace; each batch
//! of changes becomes the same [`metallb_api::Objects`] the file loader
//! builds ([`objects`]) and goes through the same validate → compute →
//! apply path as a standalone reload (`Runner::reload_objects`), so
//! unchanged sessions stay up and only route differences are sent.
//!
//! The L2 members are the speaker Pods' nodes ([`pods`] watches them into
//! compact records, [`members`] projects them), handed to the runner with
//! every batch.
//!
//! The addresses are the ones in each Service's status (written by
//! oxlb-controller): this mode never allocates (see [`objects`]).
//!
//! API server outage: the stores keep the last state they listed, nothing
//! is recomputed, so every route stays announced; the watches retry with
//! backoff, and the re-list when the API server is back is one more batch.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgp_session::Speaker;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::run::{Runner, Shared};
use crate::state::{AllocationState, StateLock};
use crate::{RunArgs, StandaloneArgs};

pub mod members;
pub mod objects;
mod pods;
mod stale;
mod status;
mod status_io;
mod watch;

/// The flags of `oxlb-speaker kubernetes`: those of `standalone` but
/// `--config` ([`RunArgs`], the same definition), where to find the API
/// server, and how to find the other speakers.
#[derive(clap::Args, Debug, Clone)]
pub struct KubernetesArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// A kubeconfig file; without it the in-cluster config, then
    /// `KUBECONFIG`.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// This speaker's Pod name and uid (the DaemonSet passes
    /// `metadata.name` and `metadata.uid`): the ownerReference of the
    /// status objects it writes; without both, none.
    #[arg(long, env = "POD_NAME")]
    pub pod_name: Option<String>,
    #[arg(long, env = "POD_UID")]
    pub pod_uid: Option<String>,
    /// The L2 members are the nodes of the speaker Pods in `--namespace`
    /// with these labels (MetalLB's `METALLB_ML_LABELS`), each at its
    /// Pod IP; `""`: every Node at its InternalIP. `--ml-members`
    /// overrides both.
    #[arg(long, env = "METALLB_ML_LABELS", default_value = members::DEFAULT_LABELS)]
    pub ml_labels: String,
}

/// The shared flags read as fields (`args.node_name`).
impl std::ops::Deref for KubernetesArgs {
    type Target = RunArgs;
    fn deref(&self) -> &RunArgs {
        &self.run
    }
}

impl KubernetesArgs {
    /// The runner's settings. `config` names no file: in this mode the
    /// runner is only ever reloaded from objects, never from a path.
    fn runner_args(&self) -> StandaloneArgs {
        StandaloneArgs {
            config: PathBuf::from("api-server"),
            run: self.run.clone(),
        }
    }
}

/// Changes arriving within this window are applied as one batch.
const BATCH: Duration = Duration::from_millis(20);

/// Runs until SIGTERM/SIGINT (0) or a failure to start (1).
pub async fn run(args: KubernetesArgs) -> i32 {
    let (_lock, state) = match &args.state_file {
        Some(p) => {
            match StateLock::acquire(p).and_then(|l| Ok((Some(l), AllocationState::load(p)?))) {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("oxlb-speaker: {e}");
                    return 1;
                }
            }
        }
        None => (None, AllocationState::default()),
    };
    let client = match watch::client(args.kubeconfig.as_deref()).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("oxlb-speaker: {e}");
            return 1;
        }
    };
    let speaker = match Speaker::bind(&args.bgp_listen).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("oxlb-speaker: {e}");
            return 1;
        }
    };
    let shared = Arc::new(Shared::new(speaker, &args.node_name));
    let mut runner = Runner::new(args.runner_args(), shared.clone(), state);
    match crate::http::serve(args.metrics_addr, shared.clone()).await {
        Ok(addr) => tracing::info!(%addr, "serving /metrics, /healthz, /readyz, /status"),
        Err(e) => {
            eprintln!(
                "oxlb-speaker: cannot serve metrics on {}: {e}",
                args.metrics_addr
            );
            return 1;
        }
    }
    let (Ok(mut term), Ok(mut int), Ok(mut usr2)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::user_defined2()),
    ) else {
        eprintln!("oxlb-speaker: cannot install signal handlers");
        return 1;
    };
    let (tx, mut rx) = mpsc::channel::<()>(1);
    let reflectors = watch::Reflectors::start(&client, &args.namespace, tx.clone(), shared.clone());
    let pods = (!args.ml_labels.is_empty()).then(|| {
        pods::PodWatch::start(
            &client,
            &args.namespace,
            &args.ml_labels,
            tx,
            shared.clone(),
            reflectors.failing(),
        )
    });

    // Nothing is announced before every store has its first full list: a
    // partial view would withdraw what the missing kinds select.
    tokio::select! {
        r = reflectors.wait_until_ready() => {
            if let Err(kind) = r {
                eprintln!("oxlb-speaker: the {kind} store ended before its first list");
                return 1;
            }
        }
        _ = term.recv() => return 0,
        _ = int.recv() => return 0,
        _ = usr2.recv() => return 0,
    }
    if let Some(p) = &pods {
        tokio::select! {
            r = p.wait_until_ready() => {
                if let Err(kind) = r {
                    eprintln!("oxlb-speaker: the {kind} store ended before its first list");
                    return 1;
                }
            }
            _ = term.recv() => return 0,
            _ = int.recv() => return 0,
            _ = usr2.recv() => return 0,
        }
    }
    tracing::info!(node = %args.node_name, namespace = %args.namespace, "stores ready; oxlb-speaker running from the API server");
    let mut status =
        status_io::StatusFeed::start(client.clone(), &args, reflectors.services(), shared.clone());

    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut dirty = true;
    let mut last_found = members::Projection::default();
    let for_restart = loop {
        if dirty {
            tokio::time::sleep(BATCH).await;
            while rx.try_recv().is_ok() {}
            let snapshot = reflectors.snapshot();
            if let Some(p) = &pods {
                let found = members::project(
                    &p.records(),
                    &snapshot
                        .nodes
                        .iter()
                        .filter_map(|n| n.metadata.name.clone())
                        .collect(),
                    &args.ml_labels,
                    &args.node_name,
                );
                if found != last_found {
                    for n in &found.notes {
                        tracing::warn!(warning = %n, "L2 members");
                    }
                    if let Some(Ok(m)) = &found.members {
                        let names: Vec<&str> = m.iter().map(|m| m.name.as_str()).collect();
                        tracing::info!(members = ?names, "L2 members from the speaker Pods");
                    }
                    runner.set_l2_members(found.members.clone());
                    last_found = found;
                }
            }
            let objs = objects::objects(&snapshot);
            runner.reload_objects(&objs, "API change").await;
            status.publish();
            dirty = false;
        }
        tokio::select! {
            r = rx.recv() => match r {
                Some(()) => dirty = true,
                None => {
                    tracing::error!("every watch ended");
                    break false;
                }
            },
            // No restart hold in this mode yet (the Services' status, not
            // a state file, says what was announced): SIGUSR2 leaves the
            // routes stale, but the R bit and the persisted-first order
            // of `standalone` are not applied on the way back.
            _ = tick.tick() => {
                runner.retry_save(Instant::now()).await;
                status.publish();
            }
            _ = term.recv() => break args.graceful_restart_on_exit,
            _ = int.recv() => break false,
            // Exit meaning to be back within the restart time.
            _ = usr2.recv() => break true,
        }
    };
    runner.shutdown(for_restart).await;
    0
}
