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
//! The addresses are the ones in each Service's status (written by
//! oxlb-controller): this mode never allocates (see [`objects`]).
//!
//! API server outage: the stores keep the last state they listed, nothing
//! is recomputed, so every route stays announced; the watches retry with
//! backoff, and the re-list when the API server is back is one more batch.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgp_session::Speaker;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::run::{Runner, Shared};
use crate::state::{AllocationState, StateLock};
use crate::StandaloneArgs;

pub mod objects;
mod stale;
mod status;
mod status_io;
mod watch;

/// The flags of `oxlb-speaker kubernetes` (those of `standalone` that
/// apply, and where to find the API server).
#[derive(clap::Args, Debug, Clone)]
pub struct KubernetesArgs {
    /// This node's name (the DaemonSet passes `spec.nodeName`).
    #[arg(long)]
    pub node_name: String,
    /// The namespace of the `metallb.io` objects and Secrets.
    #[arg(long, default_value = "metallb-system")]
    pub namespace: String,
    /// A kubeconfig file; without it the in-cluster config, then
    /// `KUBECONFIG`.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Where the announced allocations persist (optional: the Services'
    /// status holds them in this mode).
    #[arg(long)]
    pub state_file: Option<PathBuf>,
    /// Metrics and status HTTP server (MetalLB: `POD_IP:7472`).
    #[arg(long, default_value = "127.0.0.1:7472")]
    pub metrics_addr: SocketAddr,
    /// Only handle Services of this loadBalancerClass (default: no class).
    #[arg(long)]
    pub lb_class: Option<String>,
    /// Also accept BGP sessions on ADDR:PORT (repeatable).
    #[arg(long)]
    pub bgp_listen: Vec<SocketAddr>,
    #[arg(long, default_value = "text")]
    pub log_format: String,
    /// Graceful restart time in seconds (as `standalone`).
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u16).range(1..=4095))]
    pub graceful_restart_time: u16,
    /// Let SIGTERM exit for a restart, as SIGUSR2 always does (as
    /// `standalone`).
    #[arg(long)]
    pub graceful_restart_on_exit: bool,
    #[command(flatten)]
    pub l2: crate::l2::L2Args,
    /// As `standalone` (in a cluster kube-proxy accepts the VIPs' traffic,
    /// so this stays `off` there).
    #[arg(long, env = "OXLB_BIND_VIPS", value_enum, default_value_t = crate::vip_bind::BindMode::Off)]
    pub bind_vips: crate::vip_bind::BindMode,
    /// This speaker's Pod name and uid (the DaemonSet passes
    /// `metadata.name` and `metadata.uid`): the ownerReference of the
    /// status objects it writes; without both, none.
    #[arg(long, env = "POD_NAME")]
    pub pod_name: Option<String>,
    #[arg(long, env = "POD_UID")]
    pub pod_uid: Option<String>,
}

impl KubernetesArgs {
    /// The runner's settings. `config` names no file: in this mode the
    /// runner is only ever reloaded from objects, never from a path.
    fn runner_args(&self) -> StandaloneArgs {
        StandaloneArgs {
            config: PathBuf::from("api-server"),
            node_name: self.node_name.clone(),
            state_file: self.state_file.clone(),
            metrics_addr: self.metrics_addr,
            namespace: self.namespace.clone(),
            lb_class: self.lb_class.clone(),
            bgp_listen: self.bgp_listen.clone(),
            log_format: self.log_format.clone(),
            graceful_restart_time: self.graceful_restart_time,
            graceful_restart_on_exit: self.graceful_restart_on_exit,
            l2: self.l2.clone(),
            bind_vips: self.bind_vips,
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
    let reflectors = watch::Reflectors::start(&client, &args.namespace, tx, shared.clone());

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
    tracing::info!(node = %args.node_name, namespace = %args.namespace, "stores ready; oxlb-speaker running from the API server");
    let mut status =
        status_io::StatusFeed::start(client.clone(), &args, reflectors.services(), shared.clone());

    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut dirty = true;
    let for_restart = loop {
        if dirty {
            tokio::time::sleep(BATCH).await;
            while rx.try_recv().is_ok() {}
            let objs = objects::objects(&reflectors.snapshot());
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
