//! The command line: clap's own consistency checks, and the daemon modes
//! sharing one definition of their common flags.

use clap::{Args, CommandFactory};

use super::{Cli, RunArgs};

/// An argument as `--help` shows it: (id, long, help, defaults, env).
type Described = (String, Option<String>, String, Vec<String>, Option<String>);

/// Every argument of `cmd`, described.
fn described(cmd: &clap::Command) -> Vec<Described> {
    cmd.get_arguments()
        .filter(|a| a.get_id() != "help")
        .map(|a| {
            (
                a.get_id().to_string(),
                a.get_long().map(str::to_string),
                a.get_long_help()
                    .or(a.get_help())
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                a.get_default_values()
                    .iter()
                    .map(|v| v.to_string_lossy().into_owned())
                    .collect(),
                a.get_env().map(|e| e.to_string_lossy().into_owned()),
            )
        })
        .collect()
}

fn subcommand(name: &str) -> clap::Command {
    let cli = Cli::command();
    let Some(sub) = cli.find_subcommand(name) else {
        panic!("oxlb-speaker has no subcommand {name:?}");
    };
    sub.clone()
}

#[test]
fn the_command_line_passes_clap_debug_assert() {
    Cli::command().debug_assert();
}

#[test]
fn standalone_lists_every_shared_flag_with_the_same_help_and_default() {
    let shared = described(&RunArgs::augment_args(clap::Command::new("run")));
    assert!(shared.len() >= 15, "{shared:?}");
    let standalone = described(&subcommand("standalone"));
    for a in &shared {
        assert!(standalone.contains(a), "standalone lacks or changed {a:?}");
    }
    let own: Vec<&str> = standalone
        .iter()
        .filter(|a| !shared.contains(a))
        .map(|a| a.0.as_str())
        .collect();
    assert_eq!(own, ["config"]);
}

#[cfg(feature = "kube")]
#[test]
fn kubernetes_lists_the_same_shared_flags_as_standalone() {
    let shared = described(&RunArgs::augment_args(clap::Command::new("run")));
    let kube = described(&subcommand("kubernetes"));
    for a in &shared {
        assert!(kube.contains(a), "kubernetes lacks or changed {a:?}");
    }
    let mut own: Vec<&str> = kube
        .iter()
        .filter(|a| !shared.contains(a))
        .map(|a| a.0.as_str())
        .collect();
    own.sort();
    assert_eq!(own, ["kubeconfig", "ml_labels", "pod_name", "pod_uid"]);
}

#[cfg(feature = "kube")]
#[test]
fn kubernetes_takes_metallbs_memberlist_labels_by_default() {
    use clap::Parser;
    let cli = Cli::try_parse_from(["oxlb-speaker", "kubernetes", "--node-name", "n1"])
        .unwrap_or_else(|e| panic!("{e}"));
    let super::Cmd::Kubernetes(k) = cli.cmd else {
        panic!("parsed {:?}", cli.cmd);
    };
    // Unless the environment sets METALLB_ML_LABELS for the test run.
    if std::env::var_os("METALLB_ML_LABELS").is_none() {
        assert_eq!(k.ml_labels, "app=metallb,component=speaker");
    }
    assert_eq!(k.node_name, "n1");
    assert_eq!(k.namespace, "metallb-system");
}
