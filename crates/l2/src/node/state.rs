//! The node task's state and its synchronous handlers: every event goes
//! through the cores here, and what they ask for is carried out in order
//! (port commands are queued without waiting; membership datagrams go to
//! the outbox, which the task flushes after the handler). So a node stops
//! answering before its leave goes out.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use tracing::{debug, info, warn};

use crate::announcer::{self, Announcer};
use crate::linux::{ArpPort, LinkState, LinkTable, NdpPort};
use crate::membership::{self, FenceState, Membership};
use crate::responder::{Decision, Responder};
use crate::wire::ndp::ALL_NODES;
use crate::wire::{ArpOp, ArpPacket, MacAddr, NdpPacket};

use super::ports::{self, ArpHandle, Inbound, NdpHandle};
use super::reconcile::{reconcile, taken_over, LocalLink, Plan};
use super::types::Desired;

/// Failover samples kept for the status (the newest).
pub const MAX_SAMPLES: usize = 1024;

/// Counters of the runtime itself (the responder counts its own drops).
#[derive(Debug, Default, Clone, Copy)]
pub struct RuntimeCounters {
    /// A port's command queue was full or its task had ended.
    pub port_queue_full: u64,
    /// A socket reported an error.
    pub socket_errors: u64,
    /// A port could not be opened.
    pub port_open_failed: u64,
    /// Membership rejected a datagram.
    pub membership_rejected: u64,
    /// A membership datagram could not be sent.
    pub membership_send_failed: u64,
}

/// One link with the ports open on it.
pub struct Link {
    pub state: LinkState,
    pub mac: MacAddr,
    pub arp: Option<ArpHandle>,
    pub ndp: Option<NdpHandle>,
}

pub struct Node {
    pub me: String,
    pub members: Vec<String>,
    pub membership: Membership,
    pub announcer: Announcer,
    pub responder: Responder,
    pub desired: Arc<Desired>,
    pub plan: Plan,
    pub links: BTreeMap<u32, Link>,
    /// Ifindexes of port links without carrier, as last told to the cores.
    pub no_carrier: BTreeSet<u32>,
    /// What we answer now, mirrored from the announcer's actions.
    pub answering: BTreeMap<IpAddr, BTreeSet<u32>>,
    pub gratuitous: HashMap<IpAddr, u64>,
    /// VIPs we took over and have not announced yet: since when.
    pub takeover_since: HashMap<IpAddr, Instant>,
    pub failover: VecDeque<f64>,
    pub member_wake: Option<Instant>,
    pub announcer_wake: Option<Instant>,
    pub outbox: Vec<(SocketAddr, Vec<u8>)>,
    pub counters: RuntimeCounters,
    pub inbound: tokio::sync::mpsc::Sender<Inbound>,
    /// Something the status shows changed since the last publication.
    pub dirty: bool,
    /// Bumped when a reconcile changes the plan (the status goes out at once).
    pub plan_changes: u64,
    /// Frames the port tasks dropped because the inbound queue was full.
    pub inbound_dropped: Arc<AtomicU64>,
}

impl Node {
    fn local_links(&self) -> Vec<LocalLink> {
        self.links
            .iter()
            .map(|(&ifindex, l)| LocalLink {
                ifindex,
                name: l.state.name.clone(),
                arp: l.arp.is_some(),
                ndp: l.ndp.is_some(),
            })
            .collect()
    }

    /// Re-elects every VIP and hands the result to the announcer.
    pub fn reconcile(&mut self, now: Instant) {
        let plan = reconcile(
            &self.me,
            &self.desired,
            &self.membership,
            &self.local_links(),
        );
        for ip in taken_over(&self.me, &self.plan, &plan) {
            info!(vip = %ip, "taking over");
            self.takeover_since.entry(ip).or_insert(now);
        }
        self.takeover_since
            .retain(|ip, _| plan.winner_of(*ip) == Some(self.me.as_str()));
        let actions = self
            .announcer
            .handle(now, announcer::Event::Desired(&plan.announce));
        if plan != self.plan {
            self.plan_changes += 1;
        }
        self.plan = plan;
        self.announce(actions);
        self.dirty = true;
    }

    pub fn set_desired(&mut self, now: Instant, d: Arc<Desired>) {
        self.desired = d;
        self.reconcile(now);
    }

    /// Carries out the membership core's actions; re-elects when the view
    /// or the fencing state changed.
    pub fn membership_actions(&mut self, now: Instant, actions: Vec<membership::Action>) {
        let mut changed = false;
        for a in actions {
            match a {
                membership::Action::Send { to, bytes } => self.outbox.push((to, bytes)),
                membership::Action::WakeAt(at) => self.member_wake = Some(at),
                membership::Action::Up { node } => {
                    info!(member = %node, "member up");
                    changed = true;
                }
                membership::Action::Down { node, reason } => {
                    info!(member = %node, ?reason, "member down");
                    changed = true;
                }
                membership::Action::LinksChanged { .. } => changed = true,
                membership::Action::Fence(state) => {
                    let fenced = !matches!(state, FenceState::Clear { .. });
                    info!(%state, "fencing state");
                    let acts = self.announcer.handle(now, announcer::Event::Fenced(fenced));
                    self.announce(acts);
                    changed = true;
                }
                membership::Action::Rejected(r) => {
                    self.counters.membership_rejected += 1;
                    debug!(%r, "membership datagram rejected");
                }
                membership::Action::MembersRejected(e) => {
                    warn!(%e, "new member list refused; keeping the old one");
                }
            }
        }
        if changed {
            self.reconcile(now);
        }
    }

    /// A new member list (this node included): membership follows it
    /// (kept peers keep their state) and every VIP is re-elected among
    /// the new members.
    pub fn set_members(&mut self, now: Instant, members: &[membership::Member]) {
        let actions = self
            .membership
            .handle(now, membership::Event::Members(members));
        if actions
            .iter()
            .any(|a| matches!(a, membership::Action::MembersRejected(_)))
        {
            return self.membership_actions(now, actions);
        }
        self.members = members.iter().map(|m| m.name.clone()).collect();
        info!(members = self.members.len(), "member list changed");
        self.membership_actions(now, actions);
        self.reconcile(now);
    }

    pub fn membership_event(&mut self, now: Instant, e: membership::Event<'_>) {
        let actions = self.membership.handle(now, e);
        self.membership_actions(now, actions);
    }

    /// Carries out the announcer's actions in order, then brings the
    /// responder's announced sets to what is answered now.
    pub fn announce(&mut self, actions: Vec<announcer::Action>) {
        let mut wake = None;
        let mut touched = false;
        for a in actions {
            match a {
                announcer::Action::StartAnswering { ip, ifindex } => {
                    self.answering.entry(ip).or_default().insert(ifindex);
                    if let IpAddr::V6(v6) = ip {
                        let queued = self.ndp(ifindex).map(|p| p.join(v6));
                        self.queued(queued);
                    }
                    touched = true;
                }
                announcer::Action::StopAnswering { ip } => {
                    for ifindex in self.answering.remove(&ip).unwrap_or_default() {
                        self.leave(ip, ifindex);
                    }
                    touched = true;
                }
                announcer::Action::StopAnsweringOn { ip, ifindex } => {
                    if let Some(set) = self.answering.get_mut(&ip) {
                        set.remove(&ifindex);
                        if set.is_empty() {
                            self.answering.remove(&ip);
                        }
                    }
                    self.leave(ip, ifindex);
                    touched = true;
                }
                announcer::Action::SendGratuitous { ifindex, ip } => {
                    self.gratuitous_on(ifindex, ip)
                }
                announcer::Action::WakeAt(at) => wake = Some(at),
            }
        }
        // The announcer asks for a wake-up whenever a burst is pending.
        self.announcer_wake = wake;
        if touched {
            self.sync_responder();
            self.dirty = true;
        }
    }

    /// Leaves the solicited-node group of an IPv6 VIP; nothing to do when
    /// the port is gone (its groups went with its socket).
    fn leave(&mut self, ip: IpAddr, ifindex: u32) {
        if let (IpAddr::V6(v6), Some(port)) = (ip, self.ndp(ifindex)) {
            let queued = port.leave(v6);
            self.queued(Some(queued));
        }
    }

    fn ndp(&self, ifindex: u32) -> Option<&NdpHandle> {
        self.links.get(&ifindex).and_then(|l| l.ndp.as_ref())
    }

    fn arp(&self, ifindex: u32) -> Option<&ArpHandle> {
        self.links.get(&ifindex).and_then(|l| l.arp.as_ref())
    }

    /// Counts a command that did not reach its port (`None`: no port).
    fn queued(&mut self, queued: Option<bool>) {
        if queued != Some(true) {
            self.counters.port_queue_full += 1;
        }
    }

    /// MetalLB's takeover announcement: gratuitous ARP request and reply
    /// (RFC 5227 §3), or the unsolicited NA with Override (RFC 4861 §7.2.6).
    fn gratuitous_on(&mut self, ifindex: u32, ip: IpAddr) {
        let Some(mac) = self.links.get(&ifindex).map(|l| l.mac) else {
            return;
        };
        // The first frame of a takeover carries its start; the port task
        // reports the sample once the frame has left.
        let takeover = self.takeover_since.get(&ip).copied();
        let sent = match ip {
            IpAddr::V4(v4) => self.arp(ifindex).map(|p| {
                p.send(ArpPacket::gratuitous(ArpOp::Request, mac, v4), takeover)
                    & p.send(ArpPacket::gratuitous(ArpOp::Reply, mac, v4), None)
            }),
            IpAddr::V6(v6) => self.ndp(ifindex).map(|p| {
                let icmp = NdpPacket::unsolicited_advert(mac, v6).icmp();
                p.send(Some(v6), ALL_NODES, icmp, takeover)
            }),
        };
        self.queued(sent);
        if sent == Some(true) {
            *self.gratuitous.entry(ip).or_default() += 1;
            self.takeover_since.remove(&ip);
        }
        self.dirty = true;
    }

    /// The responder answers exactly what the announcer answers.
    fn sync_responder(&mut self) {
        let mut per_if: BTreeMap<u32, Vec<IpAddr>> =
            self.links.keys().map(|&i| (i, Vec::new())).collect();
        for (ip, ifs) in &self.answering {
            for i in ifs {
                if let Some(v) = per_if.get_mut(i) {
                    v.push(*ip);
                }
            }
        }
        for (ifindex, ips) in per_if {
            // Every link in `links` has had `set_interface`.
            if let Err(e) = self.responder.set_announced(ifindex, ips) {
                warn!(%e, "responder");
            }
        }
    }

    /// A frame or socket report from a port task.
    pub fn inbound(&mut self, now: Instant, msg: Inbound) {
        match msg {
            Inbound::Arp { ifindex, frame } => {
                if let Decision::Answer { frame, .. } = self.responder.handle(now, ifindex, &frame)
                {
                    let queued = self.arp(ifindex).map(|p| p.send(frame, None));
                    self.queued(queued);
                }
            }
            Inbound::Ndp {
                ifindex,
                src,
                dst,
                hop_limit,
                icmp,
            } => {
                let d = self
                    .responder
                    .handle_icmpv6(now, ifindex, src, dst, hop_limit, &icmp);
                if let Decision::AnswerIcmpv6 { ip, dst, icmp } = d {
                    // Answer from the VIP itself, as Linux does for its own
                    // addresses (some clients ignore an NA from fe80::).
                    let src = match ip {
                        IpAddr::V6(v6) => Some(v6),
                        IpAddr::V4(_) => None,
                    };
                    let queued = self.ndp(ifindex).map(|p| p.send(src, dst, icmp, None));
                    self.queued(queued);
                }
            }
            Inbound::Announced { seconds } => {
                if self.failover.len() == MAX_SAMPLES {
                    self.failover.pop_front();
                }
                self.failover.push_back(seconds);
            }
            Inbound::Failed { ifindex, error } => {
                self.counters.socket_errors += 1;
                warn!(ifindex, %error, "L2 socket error");
            }
        }
        self.dirty = true;
    }

    /// Opens and closes ports to match the link table, tells the announcer
    /// and membership about carrier changes, and re-elects when anything
    /// the election sees changed.
    pub fn sync_links(&mut self, now: Instant, table: &LinkTable) {
        let before = self.local_links();
        self.links
            .retain(|ifindex, _| table.get(*ifindex).is_some());
        for state in table.links() {
            self.sync_link(state);
        }
        let gone: Vec<u32> = before
            .iter()
            .map(|l| l.ifindex)
            .filter(|i| !self.links.contains_key(i))
            .collect();
        for ifindex in gone {
            self.responder.remove_interface(ifindex);
        }
        let no_carrier: BTreeSet<u32> = self
            .links
            .iter()
            .filter(|(_, l)| !l.state.healthy())
            .map(|(&i, _)| i)
            .collect();
        let lost: Vec<u32> = no_carrier.difference(&self.no_carrier).copied().collect();
        let back: Vec<u32> = self.no_carrier.difference(&no_carrier).copied().collect();
        let carrier_changed = no_carrier != self.no_carrier;
        self.no_carrier = no_carrier;
        // Stop answering on a dead link first, then tell the peers.
        for ifindex in lost {
            let acts = self
                .announcer
                .handle(now, announcer::Event::LinkDown { ifindex });
            self.announce(acts);
        }
        for ifindex in back {
            let acts = self
                .announcer
                .handle(now, announcer::Event::LinkUp { ifindex });
            self.announce(acts);
        }
        if carrier_changed {
            let names: Vec<String> = self
                .no_carrier
                .iter()
                .filter_map(|i| self.links.get(i).map(|l| l.state.name.clone()))
                .collect();
            info!(?names, "interfaces without carrier");
            // Membership's actions re-elect when its view changes; our own
            // carrier set is part of the view, so re-elect in any case.
            let actions = self
                .membership
                .handle(now, membership::Event::LinksDown(&names));
            self.membership_actions(now, actions);
        }
        if carrier_changed || before != self.local_links() {
            self.reconcile(now);
        }
    }

    fn sync_link(&mut self, state: &LinkState) {
        let ifindex = state.ifindex;
        let want_arp = state.arp_eligible().is_ok();
        let want_ndp = state.ndp_eligible().is_ok();
        let Some(mac) = state.mac.map(MacAddr) else {
            self.links.remove(&ifindex);
            return;
        };
        if !want_arp && !want_ndp {
            self.links.remove(&ifindex);
            return;
        }
        let inbound = self.inbound.clone();
        let dropped = self.inbound_dropped.clone();
        let mut ndp_opened = false;
        let link = self.links.entry(ifindex).or_insert_with(|| Link {
            state: state.clone(),
            mac,
            arp: None,
            ndp: None,
        });
        if link.mac != mac {
            // The NDP port's packet socket filters on the MAC: reopen.
            link.ndp = None;
            link.mac = mac;
        }
        link.state = state.clone();
        let mut failed = 0;
        if want_arp != link.arp.is_some() {
            link.arp = if want_arp {
                match ArpPort::open(ifindex) {
                    Ok(p) => Some(ports::run_arp(p, inbound.clone(), dropped.clone())),
                    Err(e) => {
                        warn!(interface = %state.name, %e, "cannot open the ARP port");
                        failed += 1;
                        None
                    }
                }
            } else {
                None
            };
        }
        if want_ndp != link.ndp.is_some() {
            link.ndp = if want_ndp {
                match NdpPort::open(ifindex, &state.name, mac.0) {
                    Ok(p) => {
                        ndp_opened = true;
                        Some(ports::run_ndp(p, inbound, dropped))
                    }
                    Err(e) => {
                        warn!(interface = %state.name, %e, "cannot open the NDP port");
                        failed += 1;
                        None
                    }
                }
            } else {
                None
            };
        }
        let open = link.arp.is_some() || link.ndp.is_some();
        self.counters.port_open_failed += failed;
        if open {
            self.responder.set_interface(ifindex, mac);
        } else {
            self.links.remove(&ifindex);
        }
        if ndp_opened {
            // A reopened port (new MAC) joins again what is answered there.
            let vips: Vec<Ipv6Addr> = self
                .answering
                .iter()
                .filter(|(_, ifs)| ifs.contains(&ifindex))
                .filter_map(|(ip, _)| match ip {
                    IpAddr::V6(v6) => Some(*v6),
                    IpAddr::V4(_) => None,
                })
                .collect();
            for v6 in vips {
                let queued = self.ndp(ifindex).map(|p| p.join(v6));
                self.queued(queued);
            }
        }
    }

    /// SIGTERM: stop every answer, then send the signed leave (outbox).
    pub fn shutdown(&mut self, now: Instant) {
        let acts = self.announcer.handle(now, announcer::Event::Fenced(true));
        self.announce(acts);
        self.membership_event(now, membership::Event::Shutdown);
    }
}
