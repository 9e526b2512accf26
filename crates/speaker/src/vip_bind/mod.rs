//! `--bind-vips dummy|lo|off`: the node accepts the traffic of the VIPs it
//! announces. Without it (the default, as MetalLB: kube-proxy owns the
//! addresses in a cluster) a router sends the traffic here and the kernel
//! drops it, since no interface holds the address.
//!
//! Which VIPs: every IP this node announces over BGP (a Service IP that a
//! route to some peer covers, once its allocation is persisted), and every
//! L2 VIP for which this node is a candidate (it matches the
//! L2Advertisement's node selectors and, with `externalTrafficPolicy:
//! Local`, has a ready endpoint), winner or not. The L2 choice is
//! kube-proxy's IPVS one (every LB IP on `kube-ipvs0` on every node): a
//! takeover then needs no netlink step before the gratuitous ARP/NA, so the
//! first packet after it is accepted; the address on a non-winner draws no
//! traffic because nothing answers ARP/NS for it there (see ARP flux
//! below). `ip addr` therefore shows where a VIP *may* be served; who
//! announces it is in `/status`.
//!
//! Order (the speaker's persist-then-announce): an address is added before
//! the first route (or L2 desire) carrying it is handed on, and removed
//! after the route is withdrawn, and on shutdown after the Cease.
//!
//! Ours: every address added carries `IFA_PROTO` [`plan::OXLB_PROTO`]; a
//! restart keeps ours that are still wanted (no duplicate, no gap), removes
//! the rest after its first apply, and never touches an unmarked address.
//! An address removed by hand while oxlb runs is put back on the next
//! restart, not before (the binder keeps what it added, and re-reads the
//! kernel only at start).
//!
//! ARP flux: with the address on `oxlb0` or `lo`, a NIC whose `arp_ignore`
//! is 0 would answer ARP for it on every node. The binder raises
//! `arp_ignore` to 1 and `arp_announce` to 2 on every other interface (and
//! `default`, for interfaces created later) of the namespace it runs in, at
//! start and when new VIPs are bound; see [`plan::arp_writes`]. IPv6 needs
//! nothing: Linux answers an NS only for an address on the interface it
//! arrived on.

pub mod netlink;
pub mod plan;

use std::collections::BTreeSet;
use std::net::IpAddr;

use self::netlink::{Added, Netlink};
use self::plan::{Bindings, DUMMY_NAME};
use crate::desired::ServiceReport;

/// Where VIPs are bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BindMode {
    /// Not at all (the default).
    Off,
    /// On `oxlb0`, a dummy interface oxlb creates (and keeps, empty, after
    /// shutdown).
    Dummy,
    /// On `lo`, next to whatever the admin put there.
    Lo,
}

/// The binder: what it added and the netlink socket to change it.
pub struct VipBinder {
    mode: BindMode,
    nl: Option<Netlink>,
    bindings: Bindings,
    /// The VIPs wanted by BGP and by L2, each replaced by its own hook.
    bgp: BTreeSet<IpAddr>,
    l2: BTreeSet<IpAddr>,
}

impl VipBinder {
    pub fn new(mode: BindMode) -> VipBinder {
        VipBinder {
            mode,
            nl: None,
            bindings: Bindings::default(),
            bgp: BTreeSet::new(),
            l2: BTreeSet::new(),
        }
    }

    /// Opens netlink, creates the dummy (in `dummy` mode), checks that the
    /// kernel keeps our mark ([`plan::probe_verdict`]), reads what the
    /// kernel holds and removes our addresses that cannot be right (on
    /// another interface, not a host address, twice). Sets the ARP
    /// sysctls. When off: removes the marked addresses an earlier run left
    /// ([`plan::leftovers_when_off`]), once, and binds nothing.
    pub async fn start(&mut self) -> Result<(), String> {
        if self.mode == BindMode::Off {
            remove_leftovers().await;
            return Ok(());
        }
        let nl = Netlink::open()?;
        let target = match self.mode {
            BindMode::Dummy => nl.ensure_dummy(DUMMY_NAME).await?,
            _ => nl
                .link_index("lo")
                .await?
                .ok_or("--bind-vips lo: this namespace has no interface lo")?,
        };
        let probe = IpAddr::V4(plan::PROBE_IP);
        nl.add(target, probe).await?;
        let dump = nl.addresses().await;
        let removed = nl.del(target, probe, plan::host_len(&probe)).await;
        plan::probe_verdict(target, &dump?, &kernel_release())?;
        removed?;
        let (bindings, strays) = Bindings::from_kernel(target, &nl.addresses().await?);
        for s in strays {
            tracing::info!(vip = %s.ip, ifindex = s.ifindex, "removing a stray address oxlb added");
            nl.del(s.ifindex, s.ip, s.prefix_len).await?;
        }
        tracing::info!(
            mode = ?self.mode,
            kept = bindings.bound.len(),
            foreign = bindings.foreign.len(),
            "binding VIPs"
        );
        self.bindings = bindings;
        self.nl = Some(nl);
        self.arp_sysctls().await;
        Ok(())
    }

    /// Hook before routes go out: binds the VIPs `services` are announced
    /// with over BGP (minus `held`, not persisted yet).
    pub async fn bind_bgp(&mut self, services: &[ServiceReport], held: &BTreeSet<IpAddr>) {
        if self.nl.is_none() {
            return;
        }
        self.bgp = bgp_ips(services, held);
        self.bind().await;
    }

    /// Hook before the L2 node is fed: binds the L2 VIPs it will have
    /// (`ips` is not called when binding is off).
    pub async fn bind_l2(&mut self, ips: impl FnOnce() -> BTreeSet<IpAddr>) {
        if self.nl.is_none() {
            return;
        }
        self.l2 = ips();
        self.bind().await;
    }

    async fn bind(&mut self) {
        let Some(nl) = &self.nl else { return };
        let want: BTreeSet<IpAddr> = self.bgp.union(&self.l2).copied().collect();
        let add = self.bindings.to_add(&want);
        for ip in &add {
            match nl.add(self.bindings.target, *ip).await {
                Ok(Added::Done) => {
                    self.bindings.bound.insert(*ip);
                }
                Ok(Added::Exists) => {
                    tracing::info!(vip = %ip, "VIP already on the interface (not added by oxlb: left alone)");
                    self.bindings.foreign.insert(*ip);
                }
                // Announced anyway: the route is the network's view; the
                // error says why traffic to it is dropped here.
                Err(e) => tracing::error!(error = %e, "VIP not bound"),
            }
        }
        if !add.is_empty() {
            self.arp_sysctls().await;
        }
    }

    /// Hook after routes and L2 desires are handed on: removes what
    /// neither wants any more.
    pub async fn unbind_stale(&mut self) {
        let want: BTreeSet<IpAddr> = self.bgp.union(&self.l2).copied().collect();
        self.remove(&want).await;
    }

    /// After the Cease and the L2 leave: removes every address oxlb added.
    pub async fn shutdown(&mut self) {
        if self.nl.is_none() {
            return;
        }
        let n = self.bindings.bound.len();
        self.remove(&BTreeSet::new()).await;
        tracing::info!(
            removed = n - self.bindings.bound.len(),
            "VIP addresses removed"
        );
    }

    async fn remove(&mut self, want: &BTreeSet<IpAddr>) {
        let Some(nl) = &self.nl else { return };
        for ip in self.bindings.to_remove(want) {
            match nl.del(self.bindings.target, ip, plan::host_len(&ip)).await {
                Ok(()) => {
                    self.bindings.bound.remove(&ip);
                }
                Err(e) => tracing::error!(error = %e, "VIP not unbound"),
            }
        }
    }

    /// Raises `arp_ignore`/`arp_announce` where [`plan::arp_writes`] says,
    /// in this process's network namespace (`/proc/sys/net/ipv4/conf`).
    async fn arp_sysctls(&self) {
        let Some(nl) = &self.nl else { return };
        let mut names = match nl.link_names().await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "ARP sysctls not checked");
                return;
            }
        };
        names.push("default".into());
        for name in names {
            let dir = format!("/proc/sys/net/ipv4/conf/{name}");
            let read = |k: &str| {
                std::fs::read_to_string(format!("{dir}/{k}"))
                    .ok()
                    .and_then(|s| s.trim().parse::<u8>().ok())
            };
            for (key, value) in plan::arp_writes(&name, read("arp_ignore"), read("arp_announce")) {
                let path = format!("{dir}/{key}");
                match std::fs::write(&path, format!("{value}\n")) {
                    Ok(()) => tracing::info!(%path, value, "ARP flux: sysctl set"),
                    Err(e) => tracing::error!(%path, error = %e, "ARP flux: sysctl not set"),
                }
            }
        }
    }
}

/// `--bind-vips off` at start: deletes the addresses marked ours. A
/// failure is logged, not fatal: off is the default and binds nothing, so
/// a namespace without netlink rights must still run.
async fn remove_leftovers() {
    let nl = match Netlink::open() {
        Ok(nl) => nl,
        Err(e) => {
            tracing::warn!(error = %e, "--bind-vips off: addresses of an earlier run not checked");
            return;
        }
    };
    let kernel = match nl.addresses().await {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!(error = %e, "--bind-vips off: addresses of an earlier run not checked");
            return;
        }
    };
    for a in plan::leftovers_when_off(&kernel) {
        match nl.del(a.ifindex, a.ip, a.prefix_len).await {
            Ok(()) => {
                tracing::info!(vip = %a.ip, ifindex = a.ifindex, "--bind-vips off: removed an address an earlier run of oxlb added")
            }
            Err(e) => {
                tracing::error!(error = %e, "--bind-vips off: an address an earlier run added not removed")
            }
        }
    }
}

/// The running kernel's release (`uname -r`), for error messages.
fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|e| format!("(release unreadable: {e})"))
}

/// The IPs `services` are announced with over BGP: each IP covered by one
/// of its BGP announcements' prefixes, unless in `held`.
pub fn bgp_ips(services: &[ServiceReport], held: &BTreeSet<IpAddr>) -> BTreeSet<IpAddr> {
    use crate::announcement::Announcement;
    let mut out = BTreeSet::new();
    for s in services {
        for ip in &s.ips {
            let covered = s.announcements.iter().any(|a| match a {
                Announcement::Bgp { prefix, .. } => prefix.contains(ip),
                Announcement::L2 { .. } => false,
            });
            if covered && !held.contains(ip) {
                out.insert(*ip);
            }
        }
    }
    out
}

/// The L2 VIPs this node is a candidate for among `vips`.
pub fn l2_ips<'a>(
    vips: impl Iterator<Item = &'a l2::node::VipDesire>,
    node: &str,
) -> BTreeSet<IpAddr> {
    vips.filter(|v| {
        v.matching_nodes.contains(node) && v.ready_nodes.as_ref().is_none_or(|r| r.contains(node))
    })
    .map(|v| v.ip)
    .collect()
}

#[cfg(test)]
mod tests;
