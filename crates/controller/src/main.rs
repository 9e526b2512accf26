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
        } => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "info".into()),
                )
                .init();
            let rt = match tokio::runtime::Runtime::new() {
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
