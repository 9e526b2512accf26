//! `oxlb-controller`: `crds` prints the CRDs; `run` runs the controller.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "oxlb-controller", about = "MetalLB-compatible controller")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print the metallb.io CRDs as YAML (what deploy/crds.yaml holds).
    Crds,
    /// Allocate LoadBalancer IPs and write them into the Services' status.
    Run {
        /// Kubeconfig file (default: in-cluster, then $KUBECONFIG).
        #[arg(long)]
        kubeconfig: Option<std::path::PathBuf>,
        /// The MetalLB namespace, where IPAddressPools are read.
        #[arg(long, env = "METALLB_NAMESPACE", default_value = "metallb-system")]
        namespace: String,
        /// Handle only Services with this spec.loadBalancerClass (default:
        /// only Services without a class).
        #[arg(long)]
        lb_class: Option<String>,
        /// Serve /metrics, /healthz and /readyz here ("" or "off": none).
        #[arg(long, default_value = "0.0.0.0:7472")]
        metrics_addr: String,
        /// Run as one of several replicas: only the holder of the Lease
        /// `oxlb-controller` in --namespace writes.
        #[arg(long)]
        leader_elect: bool,
        /// Lease duration (seconds; client-go's default 15).
        #[arg(long, default_value_t = 15)]
        lease_duration: u64,
        /// Renew deadline (seconds; client-go's default 10).
        #[arg(long, default_value_t = 10)]
        renew_deadline: u64,
        /// Retry period (seconds; client-go's default 2).
        #[arg(long, default_value_t = 2)]
        retry_period: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Crds => match controller::crds::render_yaml() {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("oxlb-controller crds: {e}");
                ExitCode::FAILURE
            }
        },
        Cmd::Run {
            kubeconfig,
            namespace,
            lb_class,
            metrics_addr,
            leader_elect,
            lease_duration,
            renew_deadline,
            retry_period,
        } => {
            let metrics_addr = match metrics_addr.as_str() {
                "" | "off" => None,
                a => match a.parse() {
                    Ok(a) => Some(a),
                    Err(e) => {
                        eprintln!("oxlb-controller run: --metrics-addr {a:?}: {e}");
                        return ExitCode::FAILURE;
                    }
                },
            };
            let timing = controller::lease::Timing {
                lease_duration: std::time::Duration::from_secs(lease_duration),
                renew_deadline: std::time::Duration::from_secs(renew_deadline),
                retry_period: std::time::Duration::from_secs(retry_period),
            };
            if leader_elect
                && !(retry_period > 0
                    && retry_period < renew_deadline
                    && renew_deadline < lease_duration)
            {
                eprintln!("oxlb-controller run: --retry-period {retry_period} < --renew-deadline {renew_deadline} < --lease-duration {lease_duration} must hold (and retry > 0)");
                return ExitCode::FAILURE;
            }
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "info".into()),
                )
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
                .init();
            // One thread: the work is I/O-bound and a pass is short; one
            // thread is also one malloc arena (RSS, see docs/benchmarks.md §9.1).
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("oxlb-controller run: tokio runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let settings = controller::run::Settings {
                kubeconfig,
                namespace,
                lb_class,
                metrics_addr,
                leader_elect: leader_elect.then_some(timing),
            };
            match rt.block_on(controller::run::run(settings)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("oxlb-controller run: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
