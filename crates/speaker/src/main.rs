//! `oxlb-speaker`: MetalLB's YAML in, VIP allocations and BGP routes out.
//!
//! * `oxlb-speaker check --config FILE` validates with MetalLB's rules and
//!   prints the plan (or every error, naming object and field; exit 1).
//! * `oxlb-speaker standalone --config FILE --node-name NAME` runs it:
//!   allocates, persists allocations, peers with the routers, announces,
//!   reloads on SIGHUP or file change, serves metrics.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// jemalloc with background purge threads, so memory the speaker frees
/// (the YAML parse peak of a big config, a reload's old generation) goes
/// back to the OS instead of staying in glibc's arenas. Measured on a
/// 2-core VM, `standalone` with 100k Services, VmRSS after the config is
/// applied (live heap is ~220 MB at this point; that part is not the
/// allocator's to fix):
///
/// | allocator                 | RSS at apply | RSS ~12 s later | VmHWM  | apply  |
/// |---------------------------|--------------|-----------------|--------|--------|
/// | glibc                     | 423 MB       | 423 MB          | 433 MB | 5.8 s  |
/// | glibc, MALLOC_ARENA_MAX=2 | 423 MB       | 423 MB          | 433 MB | 7.8 s  |
/// | mimalloc 0.1              | 352 MB       | 352 MB          | 384 MB | 3.3 s  |
/// | jemalloc, background purge| 423-446 MB   | 238 MB          | 446 MB | 2.4 s  |
///
/// At 10k Services: glibc 51 MB / 0.6 s, mimalloc 94 MB / 0.7 s, jemalloc
/// 54 MB / 0.3 s. `check` at 100k: glibc 3.4 s, mimalloc 3.9 s, jemalloc 2.6 s.
/// Without the default `jemalloc` feature the system allocator is used
/// (for heaptrack).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Prints to stdout; a closed pipe (`| head`) just ends the output.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}

mod announcement;
mod bfd;
mod desired;
mod http;
#[cfg(feature = "kube")]
mod kube;
mod l2;
mod live;
mod logsink;
mod metrics;
mod run;
mod state;
mod vip_bind;

#[derive(Parser, Debug)]
#[command(
    name = "oxlb-speaker",
    version,
    about = "BGP-first load balancer speaker, MetalLB API compatible"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run without Kubernetes: the MetalLB objects come from a file or directory.
    Standalone(StandaloneArgs),
    /// Validate the configuration and print the plan.
    Check(CheckArgs),
    /// Run in a cluster: the MetalLB objects and the Services' addresses
    /// (their status, set by oxlb-controller) come from the API server.
    #[cfg(feature = "kube")]
    Kubernetes(kube::KubernetesArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct StandaloneArgs {
    /// A multi-document YAML file or a directory of them.
    #[arg(long)]
    pub config: PathBuf,
    #[command(flatten)]
    pub run: RunArgs,
}

/// `standalone`'s own flags are `config`; the rest is [`RunArgs`], read
/// as if they were its fields (`args.node_name`).
impl std::ops::Deref for StandaloneArgs {
    type Target = RunArgs;
    fn deref(&self) -> &RunArgs {
        &self.run
    }
}

/// The flags both daemon modes take (`standalone` and `kubernetes`), one
/// definition so that their names, help and defaults cannot drift apart.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// This node's name: selects BGPPeers and advertisements by node
    /// labels (in a cluster the DaemonSet passes `spec.nodeName`).
    #[arg(long)]
    pub node_name: String,
    /// Where allocations persist across restarts (optional in
    /// `kubernetes` mode: the Services' status holds them there).
    #[arg(long)]
    pub state_file: Option<PathBuf>,
    /// Metrics and status HTTP server. `/status` lists every Service, so
    /// the default serves only this host; MetalLB binds its `--host` (the
    /// node's IP) on port 7472: pass `--metrics-addr NODE_IP:7472` for that.
    #[arg(long, default_value = "127.0.0.1:7472")]
    pub metrics_addr: SocketAddr,
    /// The namespace MetalLB objects must be in (in `kubernetes` mode
    /// also the one of the Secrets and the speaker Pods).
    #[arg(long, default_value = "metallb-system")]
    pub namespace: String,
    /// Only handle Services of this loadBalancerClass (default: no class).
    #[arg(long)]
    pub lb_class: Option<String>,
    /// Also accept BGP sessions on ADDR:PORT (repeatable); by default the
    /// speaker only dials, like MetalLB.
    #[arg(long)]
    pub bgp_listen: Vec<SocketAddr>,
    #[arg(long, default_value = "text")]
    pub log_format: String,
    /// Graceful restart time in seconds (RFC 4724, at most 4095) offered
    /// to BGPPeers with `enableGracefulRestart`: how long the routers keep
    /// our routes after the speaker dies or exits for a restart.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u16).range(1..=4095))]
    pub graceful_restart_time: u16,
    /// Let SIGTERM exit for a restart, as SIGUSR2 always does: sessions
    /// close without withdrawal, so routers with graceful restart keep the
    /// routes stale until the restarted speaker's End-of-RIB. By default
    /// SIGTERM withdraws (RFC 8538 Hard Reset).
    #[arg(long)]
    pub graceful_restart_on_exit: bool,
    #[command(flatten)]
    pub l2: l2::L2Args,
    /// Add each VIP this node announces as a local /32 or /128 (before its
    /// route goes out, removed after the withdrawal), so the node accepts
    /// its traffic: `dummy` on interface oxlb0 (created), `lo`, or `off`.
    /// Sets arp_ignore=1/arp_announce=2 on the other interfaces (ARP flux).
    /// In a cluster kube-proxy accepts the VIPs' traffic: leave it `off`.
    #[arg(long, env = "OXLB_BIND_VIPS", value_enum, default_value_t = vip_bind::BindMode::Off)]
    pub bind_vips: vip_bind::BindMode,
}

#[derive(clap::Args, Debug)]
struct CheckArgs {
    #[arg(long)]
    config: PathBuf,
    /// Show the plan as this node sees it.
    #[arg(long, default_value = "check")]
    node_name: String,
    #[arg(long, default_value = "metallb-system")]
    namespace: String,
    #[arg(long)]
    lb_class: Option<String>,
    /// Allocations to start from (as written by standalone mode).
    #[arg(long)]
    state_file: Option<PathBuf>,
    #[arg(long, default_value = "table")]
    output: String,
    /// L2 members as NAME=IP,... (default: the config's Nodes); `check`
    /// elects each L2 VIP among them, all assumed alive.
    #[arg(long)]
    ml_members: Option<String>,
    /// As `standalone --graceful-restart-time`.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u16).range(1..=4095))]
    graceful_restart_time: u16,
}

/// Logs to stdout through a [`logsink::LogSink`] (lines written in batches
/// by one thread); `None` when that thread cannot start, and then directly.
fn init_logs(format: &str) -> Option<logsink::LogSink> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let sink = logsink::LogSink::start(std::io::stdout()).ok();
    let b = tracing_subscriber::fmt().with_env_filter(filter);
    match (format == "json", sink.clone()) {
        (true, Some(w)) => b.json().with_writer(w).init(),
        (true, None) => b.json().init(),
        (false, Some(w)) => b.with_writer(w).init(),
        (false, None) => b.init(),
    }
    sink
}

fn check(args: CheckArgs) -> i32 {
    let opts = metallb_api::Options {
        namespace: args.namespace.clone(),
        load_balancer_class: args.lb_class.clone(),
    };
    let previous = match &args.state_file {
        Some(p) => match state::AllocationState::load(p) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                return 1;
            }
        },
        None => state::AllocationState::default(),
    };
    let json = args.output == "json";
    match metallb_api::load_config(&args.config, &opts) {
        Err(diags) => {
            let errors: Vec<String> = diags.errors.iter().map(ToString::to_string).collect();
            if json {
                out!(
                    "{}",
                    serde_json::json!({ "services": [], "errors": errors })
                );
            } else {
                eprintln!("{}: {} error(s)", args.config.display(), errors.len());
                for e in &errors {
                    eprintln!("  error: {e}");
                }
            }
            1
        }
        Ok(v) => {
            let mut node = desired::NodeInfo::from_config(&v.config, &args.node_name);
            node.graceful_restart_time = args.graceful_restart_time;
            let d = desired::compute_report(&v.config, &node, &previous);
            let (l2_vips, l2_notes) =
                match l2::check_reports(&v.config, &d.services, args.ml_members.as_deref()) {
                    Ok(x) => x,
                    Err(e) => {
                        eprintln!("error: {e}");
                        return 1;
                    }
                };
            let warnings: Vec<String> = v
                .warnings
                .iter()
                .map(ToString::to_string)
                .chain(d.notes.iter().cloned())
                .chain(l2_notes)
                .collect();
            if json {
                print_json(
                    &d.services,
                    &warnings,
                    l2::in_use(&v.config).then_some(&l2_vips[..]),
                );
            } else {
                let mut lines = l2::check_lines(&l2_vips);
                lines.extend(bfd::check_lines(&v.config, &node));
                print_table(&d, &warnings, &lines);
            }
            // The process exits right after (main): freeing the config and
            // the plan of 100k Services one allocation at a time would cost
            // a tenth of the run for nothing.
            std::mem::forget((v, d));
            0
        }
    }
}

/// `check --output json`, serialized straight from the reports (no JSON
/// tree of 100k Services in between), keys in sorted order as before.
/// `l2`: the L2 VIPs, only with an L2Advertisement (BGP-only output stays
/// as it was).
fn print_json(
    services: &[desired::ServiceReport],
    warnings: &[String],
    l2: Option<&[l2::CheckVip]>,
) {
    use serde::Serialize;
    use std::io::Write;
    #[derive(Serialize)]
    struct Report<'a> {
        announcements: &'a [desired::Announcement],
        ips: &'a [std::net::IpAddr],
        name: &'a str,
        namespace: &'a str,
        pending: Option<&'a str>,
        pool: Option<&'a str>,
    }
    struct Reports<'a>(&'a [desired::ServiceReport]);
    impl Serialize for Reports<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(self.0.iter().map(|r| Report {
                announcements: &r.announcements,
                ips: &r.ips,
                name: &r.name,
                namespace: &r.namespace,
                pending: r.pending.as_deref(),
                pool: r.pool.as_deref(),
            }))
        }
    }
    #[derive(Serialize)]
    struct Out<'a> {
        errors: [(); 0],
        #[serde(skip_serializing_if = "Option::is_none")]
        l2: Option<&'a [l2::CheckVip]>,
        services: Reports<'a>,
        warnings: &'a [String],
    }
    let mut w = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    // A closed pipe (`| head`) just ends the output.
    let _ = serde_json::to_writer(
        &mut w,
        &Out {
            errors: [],
            l2,
            services: Reports(services),
            warnings,
        },
    )
    .map_err(std::io::Error::from)
    .and_then(|()| writeln!(w))
    .and_then(|()| w.flush());
}

fn print_table(d: &desired::Desired, warnings: &[String], l2_lines: &[String]) {
    out!("{:<40} {:<32} {:<16} STATUS", "SERVICE", "IPS", "POOL");
    for s in &d.services {
        let ips: Vec<String> = s.ips.iter().map(ToString::to_string).collect();
        let status = match &s.pending {
            Some(r) => format!("pending: {r}"),
            None if s.announcements.is_empty() => {
                "allocated, not announced from this node".to_string()
            }
            None => "announced".to_string(),
        };
        out!(
            "{:<40} {:<32} {:<16} {}",
            format!("{}/{}", s.namespace, s.name),
            if ips.is_empty() {
                "-".to_string()
            } else {
                ips.join(",")
            },
            s.pool.clone().unwrap_or_else(|| "-".into()),
            status
        );
        for a in &s.announcements {
            out!("    {a}");
        }
    }
    for p in &d.peers {
        if let Some(g) = p.fsm.graceful_restart {
            out!(
                "BGPPeer {}: graceful restart: on, restart time {} s",
                p.name,
                g.restart_time
            );
        }
    }
    for l in l2_lines {
        out!("{l}");
    }
    for w in warnings {
        out!("warning: {w}");
    }
}

/// Runs a daemon mode on a two-thread runtime, logs in `format`.
fn with_runtime(format: &str, mode: impl std::future::Future<Output = i32>) -> i32 {
    let logs = init_logs(format);
    let code = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(mode),
        Err(e) => {
            eprintln!("oxlb-speaker: cannot start the runtime: {e}");
            1
        }
    };
    // Every line logged goes out before the process ends.
    if let Some(l) = logs {
        l.drain();
    }
    code
}

#[cfg(test)]
mod cli_tests;

fn main() {
    let cli = Cli::parse();
    let code = match cli.cmd {
        Cmd::Check(a) => check(a),
        Cmd::Standalone(a) => {
            let format = a.log_format.clone();
            with_runtime(&format, run::standalone(a))
        }
        #[cfg(feature = "kube")]
        Cmd::Kubernetes(a) => {
            let format = a.log_format.clone();
            with_runtime(&format, kube::run(a))
        }
    };
    std::process::exit(code);
}
