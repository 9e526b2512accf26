//! Announcer: turns "this node answers these VIPs on these interfaces" into
//! start/stop and gratuitous-announcement actions with the takeover burst.
//! Sans-IO: `handle(now, event)`; the burst's timer is an action.
//!
//! MetalLB (`internal/layer2/announcer.go`): a VIP this node takes over is
//! announced at once (gratuitous ARP request and reply, unsolicited NA with
//! Override), then every 1.1 s until 5 s have passed; losing it stops the
//! answers at once and sends nothing. Unlike MetalLB, which restarts the
//! burst on every reconcile, a reload that leaves a VIP's interfaces as
//! they were emits nothing (hitless). Beyond MetalLB, an interface that
//! loses carrier stops its answers in the same `handle` call; the caller
//! also tells membership (`membership::Event::LinksDown`), so that the
//! other nodes drop this node from that interface's candidates.
//!
//! Fencing: `Event::Fenced(true)` (membership lost the majority) stops
//! every answer at once and keeps them stopped whatever the desired set;
//! `Fenced(false)` resumes with a new burst.
//! The unit is the pair (VIP, interface): the frames (ARP for IPv4, NDP
//! for IPv6) are the responder's business, not the announcer's.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// MetalLB's burst: a repeat this often...
pub const BURST_EVERY: Duration = Duration::from_millis(1100);
/// ...until this long after the takeover.
pub const BURST_FOR: Duration = Duration::from_secs(5);

/// What this node should answer: per VIP, the interfaces (ifindex) allowed
/// by its L2Advertisements. Only VIPs this node won and is not fenced for.
pub type Desired = BTreeMap<IpAddr, BTreeSet<u32>>;

#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    /// The whole desired set (after an election change, a fence change or a
    /// reload).
    Desired(&'a Desired),
    /// The timer of the last `WakeAt` fired.
    Timer,
    /// The interface lost carrier.
    LinkDown { ifindex: u32 },
    /// The interface has carrier again.
    LinkUp { ifindex: u32 },
    /// Membership's fencing state: while fenced, nothing is answered.
    Fenced(bool),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Answer ARP/NDP for `ip` on `ifindex` from now on.
    StartAnswering { ip: IpAddr, ifindex: u32 },
    /// Stop answering for `ip` on every interface.
    StopAnswering { ip: IpAddr },
    /// Stop answering for `ip` on `ifindex` only (it stays on others).
    StopAnsweringOn { ip: IpAddr, ifindex: u32 },
    /// Send the gratuitous ARP request and reply (IPv4) or the unsolicited
    /// NA (IPv6) for `ip` on `ifindex`.
    SendGratuitous { ifindex: u32, ip: IpAddr },
    /// Call `handle(_, Event::Timer)` at this time (replaces earlier ones).
    WakeAt(Instant),
}

#[derive(Clone, Copy, Debug)]
struct Burst {
    until: Instant,
    next: Option<Instant>,
}

/// The announcer of one node.
#[derive(Debug, Default)]
pub struct Announcer {
    desired: Desired,
    answering: BTreeMap<(IpAddr, u32), Burst>,
    links_down: BTreeSet<u32>,
    fenced: bool,
}

impl Announcer {
    pub fn new() -> Self {
        Self::default()
    }

    /// The (VIP, ifindex) pairs answered now.
    pub fn answering(&self) -> impl Iterator<Item = (IpAddr, u32)> + '_ {
        self.answering.keys().copied()
    }

    pub fn handle(&mut self, now: Instant, event: Event<'_>) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Desired(d) => {
                self.desired = d.clone();
                self.apply(now, &mut out);
            }
            Event::Timer => self.burst(now, &mut out),
            Event::LinkDown { ifindex } => {
                if self.links_down.insert(ifindex) {
                    self.apply(now, &mut out);
                }
            }
            Event::LinkUp { ifindex } => {
                if self.links_down.remove(&ifindex) {
                    self.apply(now, &mut out);
                }
            }
            Event::Fenced(fenced) => {
                if self.fenced != fenced {
                    self.fenced = fenced;
                    self.apply(now, &mut out);
                }
            }
        }
        if let Some(at) = self.answering.values().filter_map(|b| b.next).min() {
            out.push(Action::WakeAt(at));
        }
        out
    }

    /// Brings `answering` to `desired` minus the links without carrier.
    fn apply(&mut self, now: Instant, out: &mut Vec<Action>) {
        let want: BTreeSet<(IpAddr, u32)> = self
            .desired
            .iter()
            .flat_map(|(ip, ifs)| ifs.iter().map(move |i| (*ip, *i)))
            .filter(|(_, i)| !self.links_down.contains(i) && !self.fenced)
            .collect();
        let gone: Vec<(IpAddr, u32)> = self
            .answering
            .keys()
            .filter(|k| !want.contains(k))
            .copied()
            .collect();
        for (ip, ifindex) in gone {
            self.answering.remove(&(ip, ifindex));
            // Losing leadership (or the link): stop at once, send nothing.
            if self.answering.keys().any(|(other, _)| *other == ip) {
                out.push(Action::StopAnsweringOn { ip, ifindex });
            } else {
                out.push(Action::StopAnswering { ip });
            }
        }
        for (ip, ifindex) in want {
            if self.answering.contains_key(&(ip, ifindex)) {
                // Unchanged: hitless, nothing to send.
                continue;
            }
            out.push(Action::StartAnswering { ip, ifindex });
            out.push(Action::SendGratuitous { ifindex, ip });
            self.answering.insert(
                (ip, ifindex),
                Burst {
                    until: now + BURST_FOR,
                    next: Some(now + BURST_EVERY),
                },
            );
        }
    }

    fn burst(&mut self, now: Instant, out: &mut Vec<Action>) {
        for (&(ip, ifindex), b) in self.answering.iter_mut() {
            let Some(next) = b.next else { continue };
            if now < next {
                continue;
            }
            if now > b.until {
                // A timer that fires after the window sends nothing.
                b.next = None;
                continue;
            }
            out.push(Action::SendGratuitous { ifindex, ip });
            // One repeat per period even after a late timer; none past the
            // window.
            let mut after = next + BURST_EVERY;
            while after <= now {
                after += BURST_EVERY;
            }
            b.next = (after <= b.until).then_some(after);
        }
    }
}
