//! The L2 node's lifecycle in `standalone`: started on the first
//! configuration with an L2Advertisement, fed the VIPs of the persisted
//! allocations on every apply, left (signed leave) on SIGTERM.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use l2::membership::{Fencing, Member, DEFAULT_PORT};
use l2::node::{Desired as L2Desired, NodeConfig, NodeHandle, NodeStatus, Profile};
use metallb_api::Config;

use super::{
    compute, in_use, members_from_config, parse_members, FencingArg, L2Args, ProfileArg, SECRET_ENV,
};
use crate::state::Allocations;

/// The part the HTTP handlers read: the running node (if any) and why it
/// is not running.
#[derive(Default)]
pub struct L2Shared {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    handle: Option<NodeHandle>,
    error: Option<String>,
}

impl L2Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The node's status snapshot, or None when it is not running.
    pub fn status(&self) -> Option<NodeStatus> {
        self.lock().handle.as_ref().map(NodeHandle::status)
    }

    /// Why the node is not running (the last start failure).
    pub fn error(&self) -> Option<String> {
        self.lock().error.clone()
    }

    /// Stops the node: it stops answering and sends its signed leave.
    pub async fn shutdown(&self) {
        let handle = self.lock().handle.take();
        if let Some(h) = handle {
            tracing::info!("L2: leaving the membership");
            h.shutdown().await;
        }
    }
}

/// The runner's side: the flags, the members the node runs with, and the
/// VIPs of the allocations in force, and those handed to the node (a VIP
/// of an allocation the state file does not hold yet is held back, as for
/// BGP, unless the node has it already).
pub struct L2Runtime {
    args: L2Args,
    node_name: String,
    shared: Arc<L2Shared>,
    members: Option<Vec<Member>>,
    /// The members found through the API (`kubernetes` mode: the speaker
    /// Pods), or why none could be; None: the config's Nodes.
    found: Option<Result<Vec<Member>, String>>,
    pub(super) plan: L2Desired,
    pub(super) fed: BTreeSet<IpAddr>,
}

impl L2Runtime {
    pub fn new(args: L2Args, node_name: &str, shared: Arc<L2Shared>) -> Self {
        L2Runtime {
            args,
            node_name: node_name.to_string(),
            shared,
            members: None,
            found: None,
            plan: L2Desired::default(),
            fed: BTreeSet::new(),
        }
    }

    /// Sets the members found through the API (None: the config's
    /// Nodes); the next `apply` hands a changed list to the running node.
    /// `--ml-members` still wins.
    #[cfg_attr(not(feature = "kube"), allow(dead_code))]
    pub fn set_found_members(&mut self, found: Option<Result<Vec<Member>, String>>) {
        self.found = found;
    }

    /// The members from `--ml-members`, the API, or the config's Nodes.
    pub(super) fn members(&self, config: &Config) -> Result<Vec<Member>, String> {
        match &self.args.ml_members {
            Some(s) => parse_members(s),
            None if self.found.is_some() => self.found.clone().unwrap_or_else(|| Ok(Vec::new())),
            // A config without Node objects (a single-node standalone
            // setup, as examples/): this node is the only member.
            None if config.nodes.is_empty() => Ok(vec![Member {
                name: self.node_name.clone(),
                addr: IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            }]),
            None => members_from_config(config, &self.node_name).map_err(|e| e.join("; ")),
        }
    }

    /// The node's settings for these members, checking the flags.
    pub(super) fn node_config(
        &self,
        members: Vec<Member>,
    ) -> Result<(NodeConfig, Vec<String>), String> {
        let mut notes = Vec::new();
        let Some(me) = members.iter().find(|m| m.name == self.node_name) else {
            let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
            return Err(format!(
                "L2: --node-name {:?} is not one of the members ({})",
                self.node_name,
                names.join(",")
            ));
        };
        if members.len() == 1 {
            notes.push(format!("L2: {} is the only member (no other Node in the config, no --ml-members): it answers for every L2 VIP alone, with no failover", self.node_name));
        }
        let bind = match &self.args.ml_bind_addr {
            None => SocketAddr::new(me.addr, DEFAULT_PORT),
            Some(s) => s
                .parse::<SocketAddr>()
                .or_else(|_| {
                    s.parse::<IpAddr>()
                        .map(|ip| SocketAddr::new(ip, DEFAULT_PORT))
                })
                .map_err(|_| format!("--ml-bind-addr: {s:?} is neither IP nor IP:PORT"))?,
        };
        let secret = match (&self.args.ml_secret_file, std::env::var(SECRET_ENV)) {
            (Some(p), _) => {
                let raw = std::fs::read(p)
                    .map_err(|e| format!("--ml-secret-file {}: {e}", p.display()))?;
                let s = raw.strip_suffix(b"\n").unwrap_or(&raw);
                let s = s.strip_suffix(b"\r").unwrap_or(s).to_vec();
                if s.is_empty() {
                    return Err(format!("--ml-secret-file {}: the file is empty", p.display()));
                }
                s
            }
            (None, Ok(v)) if !v.is_empty() => v.into_bytes(),
            _ if members.len() >= 2 => {
                return Err(format!(
                    "L2: an L2Advertisement exists and there are {} members: the membership secret is required (--ml-secret-file PATH or env {SECRET_ENV})",
                    members.len()
                ))
            }
            // Alone, nobody checks our signatures: a per-process key.
            _ => format!("oxlb-alone-{}-{}", self.node_name, std::process::id()).into_bytes(),
        };
        let fencing = match self.args.l2_fencing {
            FencingArg::Majority => Fencing::Majority,
            FencingArg::Off => Fencing::Off,
        };
        if members.len() == 2 && fencing == Fencing::Majority {
            notes.push("L2: 2 members with --l2-fencing majority: when one fails the survivor sees 1 of 2, no majority, and stops answering too; a 2-node cluster fails over only with --l2-fencing off (split brain possible)".to_string());
        }
        let profile = match self.args.l2_profile {
            ProfileArg::Default => Profile::Default,
            ProfileArg::Fast => Profile::Fast,
        };
        Ok((
            NodeConfig {
                node_name: self.node_name.clone(),
                members,
                bind,
                secret,
                fencing,
                profile,
            },
            notes,
        ))
    }

    /// Checks, before anything is announced, that the node could start on
    /// `config` (members, our place among them, the secret, the bind
    /// address), so a speaker missing the secret exits before its BGP
    /// sessions come up.
    pub fn preflight(&self, config: &Config) -> Result<(), String> {
        if !in_use(config) {
            return Ok(());
        }
        self.node_config(self.members(config)?).map(|_| ())
    }

    /// Brings the node to `config` with the allocations in force `state`:
    /// starts it on first use and plans its VIPs; `refresh` then hands
    /// them over (minus those not persisted yet). Returns notes (warnings)
    /// or why the node could not start.
    pub async fn apply(
        &mut self,
        config: &Config,
        state: &(impl Allocations + ?Sized),
    ) -> Result<Vec<String>, String> {
        let running = self.members.is_some();
        if !in_use(config) && !running {
            return Ok(Vec::new());
        }
        let mut notes = Vec::new();
        let members = match self.members(config) {
            Ok(m) => m,
            Err(e) if running => {
                // Keep running with the members it has.
                notes.push(format!("{e} (the L2 node keeps its members)"));
                self.members.clone().unwrap_or_default()
            }
            Err(e) => return self.failed(e),
        };
        match &self.members {
            None => {
                let (cfg, n) = match self.node_config(members.clone()) {
                    Ok(x) => x,
                    Err(e) => return self.failed(e),
                };
                notes.extend(n);
                match l2::node::spawn(cfg).await {
                    Ok(h) => {
                        tracing::info!(members = members.len(), "L2: node started");
                        let mut inner = self.shared.lock();
                        inner.handle = Some(h);
                        inner.error = None;
                    }
                    Err(e) => return self.failed(format!("L2: {e}")),
                }
                self.members = Some(members);
            }
            Some(have) if *have != members => match self.check_change(have, &members) {
                Ok(n) => {
                    notes.extend(n);
                    tracing::info!(
                        before = have.len(),
                        after = members.len(),
                        "L2: the member list changed"
                    );
                    if let Some(h) = &self.shared.lock().handle {
                        h.set_members(members.clone());
                    }
                    self.members = Some(members);
                }
                Err(e) => notes.push(format!("{e} (the L2 node keeps its members)")),
            },
            Some(_) => {}
        }
        let names: BTreeSet<String> = self
            .members
            .iter()
            .flatten()
            .map(|m| m.name.clone())
            .collect();
        let plan = compute(config, state, &names);
        notes.extend(plan.notes);
        self.plan = plan.desired;
        // Fed by the runner (`refresh`), once the VIP binder has bound
        // what this node will hold.
        Ok(notes)
    }

    /// Whether the running node can take `new` (started with `have`): the
    /// same checks as at start (this node a member, the secret present
    /// for two or more), and the membership address unchanged (the
    /// socket is bound once).
    pub(super) fn check_change(
        &self,
        have: &[Member],
        new: &[Member],
    ) -> Result<Vec<String>, String> {
        let (cfg, notes) = self.node_config(new.to_vec())?;
        let (was, _) = self.node_config(have.to_vec())?;
        if cfg.bind != was.bind {
            return Err(format!(
                "L2: this node's membership address would move from {} to {}: restart the speaker for that",
                was.bind, cfg.bind
            ));
        }
        if cfg.secret != was.secret {
            return Err(format!(
                "L2: {} members need the membership secret the node did not start with (it started alone, or the secret changed): set --ml-secret-file or env {SECRET_ENV} and restart",
                new.len()
            ));
        }
        Ok(notes)
    }

    /// Re-feeds the node once held-back allocations were saved (`held`:
    /// those still not saved).
    pub fn refresh(&mut self, held: &BTreeSet<IpAddr>) {
        if self.members.is_some() {
            self.feed(held);
        }
    }

    /// The VIPs `feed(held)` hands the node.
    fn to_feed<'a>(
        &'a self,
        held: &'a BTreeSet<IpAddr>,
    ) -> impl Iterator<Item = &'a l2::node::VipDesire> + 'a {
        self.plan
            .vips
            .iter()
            .filter(|v| !held.contains(&v.ip) || self.fed.contains(&v.ip))
    }

    /// The VIPs `refresh(held)` hands the node that this node is a
    /// candidate for (what `--bind-vips` binds).
    pub fn candidate_ips(&self, held: &BTreeSet<IpAddr>) -> BTreeSet<IpAddr> {
        crate::vip_bind::l2_ips(self.to_feed(held), &self.node_name)
    }

    pub(super) fn feed(&mut self, held: &BTreeSet<IpAddr>) {
        let vips: Vec<_> = self.to_feed(held).cloned().collect();
        self.fed = vips.iter().map(|v| v.ip).collect();
        if let Some(h) = &self.shared.lock().handle {
            h.set_desired(L2Desired { vips });
        }
    }

    fn failed(&self, e: String) -> Result<Vec<String>, String> {
        self.shared.lock().error = Some(e.clone());
        Err(e)
    }
}
