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
    }
}
