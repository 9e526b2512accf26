//! The binder's decisions, pure: which addresses are ours, which to add
//! before an announcement, which to remove after a withdrawal, and which
//! ARP sysctls to raise. No netlink, no files: the driver (`netlink.rs`,
//! `sysctl.rs`) feeds in what the kernel holds and carries out the result.

use std::collections::BTreeSet;
use std::net::IpAddr;

/// `IFA_PROTO` value (Linux 6.1+, "address protocol", one octet kept by the
/// kernel with the address and shown by `ip -j addr` as `protocol`) that
/// marks the addresses oxlb added. The kernel itself uses 1-3 (loopback,
/// router advertisement, link-local); 0 is "unspecified", what `ip addr
/// add` writes unless told `proto`. An address without this mark is never
/// removed, whatever interface it is on: an admin's `ip addr add VIP/32 dev
/// lo` survives every start and stop of oxlb.
pub const OXLB_PROTO: u8 = 0x6f;

/// The dummy interface oxlb creates in `--bind-vips dummy`.
pub const DUMMY_NAME: &str = "oxlb0";

/// One address as the kernel's dump shows it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelAddr {
    pub ifindex: u32,
    pub ip: IpAddr,
    pub prefix_len: u8,
    /// Carries [`OXLB_PROTO`].
    pub ours: bool,
}

impl KernelAddr {
    fn is_host(&self) -> bool {
        self.prefix_len == host_len(&self.ip)
    }
}

/// 32 for IPv4, 128 for IPv6: a VIP is always bound as a host address.
pub fn host_len(ip: &IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// What oxlb holds on the target interface, as far as it knows: `bound`
/// carries our mark; `foreign` is a host address someone else put on the
/// target interface (already local, so not added, and never removed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bindings {
    pub target: u32,
    pub bound: BTreeSet<IpAddr>,
    pub foreign: BTreeSet<IpAddr>,
}

impl Bindings {
    /// Reads a start-up dump: our host addresses on `target` are kept (a
    /// restart after a crash re-announces them without a gap and adds no
    /// duplicate); ours anywhere else (the mode changed between runs), of
    /// another prefix length, or listed twice are returned for removal.
    /// What is kept but no longer desired goes after the first apply's
    /// announcement, like any withdrawal.
    pub fn from_kernel(target: u32, kernel: &[KernelAddr]) -> (Bindings, Vec<KernelAddr>) {
        let mut b = Bindings {
            target,
            ..Bindings::default()
        };
        let mut remove = Vec::new();
        for a in kernel {
            if a.ours {
                if a.ifindex == target && a.is_host() && b.bound.insert(a.ip) {
                    continue;
                }
                remove.push(a.clone());
            } else if a.ifindex == target && a.is_host() {
                b.foreign.insert(a.ip);
            }
        }
        (b, remove)
    }

    /// Addresses to add before the routes for `desired` go out: desired,
    /// not ours yet, and not already on the target by someone else's hand.
    pub fn to_add(&self, desired: &BTreeSet<IpAddr>) -> Vec<IpAddr> {
        desired
            .iter()
            .filter(|ip| !self.bound.contains(ip) && !self.foreign.contains(ip))
            .copied()
            .collect()
    }

    /// Addresses to remove once routes no longer carry them: ours and not
    /// in `desired`. Foreign addresses are never in the result.
    pub fn to_remove(&self, desired: &BTreeSet<IpAddr>) -> Vec<IpAddr> {
        self.bound.difference(desired).copied().collect()
    }
}

/// The address the start-up probe adds to the target interface and reads
/// back: in 127.0.0.0/8, so no route or neighbour ever sees it (on `lo`
/// the whole /8 is local already; on the dummy it is never announced).
pub const PROBE_IP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 111, 0, 111);

/// The probe's verdict: `kernel` is the dump taken while the probe address
/// was on `target`. Before Linux 6.1 the kernel accepts `IFA_PROTO` and
/// drops it without an error, so nothing would tell our addresses from an
/// admin's after a restart: they would stay for good, never removed as
/// ours. We refuse to bind then (the error names the kernel), rather than
/// keep our own record of the addresses, which a crash between an add and
/// a save would get wrong.
pub fn probe_verdict(target: u32, kernel: &[KernelAddr], release: &str) -> Result<(), String> {
    let probe = IpAddr::V4(PROBE_IP);
    match kernel.iter().find(|a| a.ifindex == target && a.ip == probe) {
        Some(a) if a.ours => Ok(()),
        Some(_) => Err(format!(
            "--bind-vips: kernel {release} dropped the address protocol (IFA_PROTO {OXLB_PROTO:#x}) of the probe address {probe} on interface #{target}: oxlb could not tell its VIP addresses from an admin's after a restart; Linux 6.1 or later is needed (or --bind-vips off)"
        )),
        None => Err(format!(
            "--bind-vips: the probe address {probe} added to interface #{target} is not in the kernel's address dump (kernel {release})"
        )),
    }
}

/// `--bind-vips off`: every address with our mark is a leftover of an
/// earlier run in `dummy` or `lo` mode (a crash, or a restart with the
/// mode turned off) and goes at start. Unmarked addresses stay.
pub fn leftovers_when_off(kernel: &[KernelAddr]) -> Vec<KernelAddr> {
    kernel.iter().filter(|a| a.ours).cloned().collect()
}

/// `arp_ignore` values that never answer on one interface for an address
/// held by another: 1 (target must be on the incoming interface), 2 (and in
/// the sender's subnet), 8 (never answer). 0 answers for any local address
/// on any interface (the ARP flux this avoids); 3 answers for every
/// address of global scope, so a VIP too.
const ARP_IGNORE_OK: [u8; 3] = [1, 2, 8];

/// The sysctl writes for one interface's `conf/IF/` given its current
/// `arp_ignore` and `arp_announce` (`None`: unreadable), as (key, value).
/// `lo` and the dummy never send or receive ARP, so they are left alone.
///
/// * `arp_ignore=1`: the kernel answers an ARP request only for addresses
///   on the interface it arrived on, so a VIP on `oxlb0` or `lo` is
///   answered by no NIC; only the l2 responder (on the announcer) does.
/// * `arp_announce=2`: an ARP request the kernel sends takes as sender the
///   interface's own address, never the VIP a reply is sourced from, so no
///   neighbour learns VIP -> this node's MAC from a non-announcer.
///
/// An admin's stricter value is kept (`arp_announce` 2 is the maximum).
pub fn arp_writes(
    ifname: &str,
    arp_ignore: Option<u8>,
    arp_announce: Option<u8>,
) -> Vec<(&'static str, u8)> {
    if ifname == "lo" || ifname == DUMMY_NAME {
        return Vec::new();
    }
    let mut w = Vec::new();
    if !arp_ignore.is_some_and(|v| ARP_IGNORE_OK.contains(&v)) {
        w.push(("arp_ignore", 1));
    }
    if arp_announce != Some(2) {
        w.push(("arp_announce", 2));
    }
    w
}
