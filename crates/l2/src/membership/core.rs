//! The membership state machine (see the module doc of `membership`).

use std::collections::{BTreeSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::config::{ConfigError, Fencing, MembershipConfig};
use super::events::{Action, DownReason, Event, FenceReason, FenceState, Rejection};
use super::wire::{Datagram, Key, Kind};

/// At most this many sent pings are remembered for echo checks.
const MAX_SENT: usize = 4096;

pub(super) struct Peer {
    pub(super) name: String,
    pub(super) addr: IpAddr,
    /// Newest `(epoch, seq)` accepted from it; also what we echo back.
    last_rx: Option<(u64, u64)>,
    /// When we sent the newest ping it proved to have heard.
    proof: Option<Instant>,
    /// Since when its proofs have been fresh (fence_after) without a gap.
    fresh_since: Option<Instant>,
    /// Newest proof of it reported by another member (our clock: receive
    /// time minus the reported age). Keeps it alive for the election only.
    indirect: Option<Instant>,
    /// It left; reports of others are ignored until it proves itself.
    left: bool,
    pub(super) alive: bool,
    links: Vec<String>,
}

impl Peer {
    /// A member we have heard nothing from yet.
    pub(super) fn new(name: String, addr: IpAddr) -> Self {
        Peer {
            name,
            addr,
            last_rx: None,
            proof: None,
            fresh_since: None,
            indirect: None,
            left: false,
            alive: false,
            links: Vec::new(),
        }
    }
}

/// The membership core of one node.
pub struct Membership {
    pub(super) cfg: MembershipConfig,
    key: Key,
    seq: u64,
    /// Our pings and acks still young enough to be echoed: (seq, peer index, sent).
    pub(super) sent: VecDeque<(u64, usize, Instant)>,
    pub(super) peers: Vec<Peer>,
    my_links: Vec<String>,
    next_tick: Option<Instant>,
    fence: Option<FenceState>,
    leaving: bool,
}

impl Membership {
    pub fn new(cfg: MembershipConfig) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let peers = cfg
            .members
            .iter()
            .filter(|m| m.name != cfg.me)
            .map(|m| Peer::new(m.name.clone(), m.addr))
            .collect();
        Ok(Membership {
            key: Key::from_secret(&cfg.secret),
            cfg,
            seq: 0,
            sent: VecDeque::new(),
            peers,
            my_links: Vec::new(),
            next_tick: None,
            fence: None,
            leaving: false,
        })
    }

    pub fn me(&self) -> &str {
        &self.cfg.me
    }

    /// Live members, this node included (the election's `live` input).
    pub fn alive(&self) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = self
            .peers
            .iter()
            .filter(|p| p.alive)
            .map(|p| p.name.clone())
            .collect();
        if !self.leaving {
            out.insert(self.cfg.me.clone());
        }
        out
    }

    /// The interfaces `node` last reported without carrier.
    pub fn links_down_of(&self, node: &str) -> &[String] {
        if node == self.cfg.me {
            return &self.my_links;
        }
        self.peers
            .iter()
            .find(|p| p.name == node)
            .map_or(&[], |p| p.links.as_slice())
    }

    /// The live members (this node included) that report `interface`
    /// without carrier: the election's `link_down` input for a Service
    /// announced on that interface.
    pub fn without_carrier_on(&self, interface: &str) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = self
            .peers
            .iter()
            .filter(|p| p.alive && p.links.iter().any(|l| l == interface))
            .map(|p| p.name.clone())
            .collect();
        if self.my_links.iter().any(|l| l == interface) {
            out.insert(self.cfg.me.clone());
        }
        out
    }

    /// The current fencing state (`None` before `Start`).
    pub fn fence(&self) -> Option<&FenceState> {
        self.fence.as_ref()
    }

    /// Whether this node may answer now.
    pub fn may_answer(&self) -> bool {
        matches!(self.fence, Some(FenceState::Clear { .. }))
    }

    pub fn handle(&mut self, now: Instant, event: Event<'_>) -> Vec<Action> {
        let mut out = Vec::new();
        let started = self.next_tick.is_some();
        if self.leaving || (!started && matches!(event, Event::Timer | Event::Datagram { .. })) {
            // Before `Start` nothing is bound, after a leave nothing counts.
            return out;
        }
        match event {
            Event::Start => {
                self.next_tick = Some(now);
                self.tick(now, &mut out);
            }
            Event::Timer => self.tick(now, &mut out),
            Event::Datagram { from, bytes } => self.receive(now, from, bytes, &mut out),
            Event::LinksDown(links) => {
                let mut links = links.to_vec();
                links.sort();
                links.dedup();
                if links != self.my_links {
                    self.my_links = links;
                    if started {
                        self.ping_all(now, &mut out);
                    }
                }
            }
            Event::Shutdown => {
                self.shutdown(now, &mut out);
                return out;
            }
            Event::Members(members) => {
                if let Err(e) = self.set_members(members, &mut out) {
                    out.push(Action::MembersRejected(e));
                    return out;
                }
                if started {
                    self.ping_all(now, &mut out);
                }
            }
        }
        self.evaluate(now, &mut out);
        out
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Builds, signs and sends one datagram to peer `i`; remembers pings
    /// and acks so that an echo of them can be checked.
    fn emit(
        &mut self,
        now: Instant,
        kind: Kind,
        i: usize,
        echo: Option<(u64, u64)>,
        out: &mut Vec<Action>,
    ) {
        let seq = self.next_seq();
        let (echo_epoch, echo_seq) = echo.unwrap_or((0, 0));
        let dead_after = self.cfg.timing.dead_after;
        let seen = self
            .peers
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .filter_map(|(_, p)| {
                let age = now.saturating_duration_since(p.proof?);
                (age < dead_after).then(|| (p.name.clone(), age.as_millis().min(65_534) as u16))
            })
            .collect();
        let d = Datagram {
            kind,
            from: self.cfg.me.clone(),
            to: self.peers[i].name.clone(),
            epoch: self.cfg.epoch,
            seq,
            echo_epoch,
            echo_seq,
            links: self.my_links.clone(),
            seen,
        };
        if kind != Kind::Leave {
            self.sent.push_back((seq, i, now));
            if self.sent.len() > MAX_SENT {
                self.sent.pop_front();
            }
        }
        let to = SocketAddr::new(self.peers[i].addr, self.cfg.port);
        out.push(Action::Send {
            to,
            bytes: d.encode(&self.key),
        });
    }

    fn ping_all(&mut self, now: Instant, out: &mut Vec<Action>) {
        for i in 0..self.peers.len() {
            self.emit(now, Kind::Ping, i, self.peers[i].last_rx, out);
        }
    }

    fn tick(&mut self, now: Instant, out: &mut Vec<Action>) {
        let Some(due) = self.next_tick else { return };
        if now < due {
            return;
        }
        self.ping_all(now, out);
        let interval = self.cfg.timing.interval;
        let mut next = due + interval;
        if next <= now {
            next = now + interval;
        }
        self.next_tick = Some(next);
        let horizon = self.cfg.timing.dead_after;
        while self
            .sent
            .front()
            .is_some_and(|s| now.saturating_duration_since(s.2) >= horizon)
        {
            self.sent.pop_front();
        }
    }

    /// When we sent datagram `seq` to peer `i`, if it is still young enough.
    fn fresh_echo(&self, now: Instant, i: usize, epoch: u64, seq: u64) -> Option<Instant> {
        if epoch != self.cfg.epoch {
            return None;
        }
        let pos = self.sent.binary_search_by_key(&seq, |s| s.0).ok()?;
        let (_, to, at) = self.sent[pos];
        let young = now.saturating_duration_since(at) < self.cfg.timing.dead_after;
        (to == i && young).then_some(at)
    }

    fn receive(&mut self, now: Instant, from: IpAddr, bytes: &[u8], out: &mut Vec<Action>) {
        let d = match Datagram::decode(bytes, &self.key) {
            Ok(d) => d,
            Err(error) => return out.push(Action::Rejected(Rejection::Wire { from, error })),
        };
        if d.to != self.cfg.me {
            return out.push(Action::Rejected(Rejection::NotForMe { from, to: d.to }));
        }
        let Some(i) = self.peers.iter().position(|p| p.name == d.from) else {
            return out.push(Action::Rejected(Rejection::UnknownMember {
                from,
                name: d.from,
            }));
        };
        if self.peers[i].addr != from {
            let expected = self.peers[i].addr;
            return out.push(Action::Rejected(Rejection::WrongSource {
                member: d.from,
                expected,
                got: from,
            }));
        }
        let echo = self.fresh_echo(now, i, d.echo_epoch, d.echo_seq);
        if let Some(last) = self.peers[i].last_rx {
            // A peer whose epoch went backwards is taken back only by a
            // datagram that proves it was made after our recent ping.
            let restarted = d.epoch != last.0 && echo.is_some();
            if (d.epoch, d.seq) <= last && !restarted {
                let (last_epoch, last_seq) = last;
                let (epoch, seq) = (d.epoch, d.seq);
                return out.push(Action::Rejected(Rejection::Replay {
                    member: d.from,
                    epoch,
                    seq,
                    last_epoch,
                    last_seq,
                }));
            }
        }
        if d.kind == Kind::Leave {
            let Some(_) = echo else {
                return out.push(Action::Rejected(Rejection::StaleLeave { member: d.from }));
            };
            let p = &mut self.peers[i];
            p.last_rx = Some((d.epoch, d.seq));
            p.proof = None;
            p.fresh_since = None;
            p.indirect = None;
            p.left = true;
            p.links.clear();
            if p.alive {
                p.alive = false;
                out.push(Action::Down {
                    node: p.name.clone(),
                    reason: DownReason::Left,
                });
            }
            return;
        }
        let p = &mut self.peers[i];
        p.last_rx = Some((d.epoch, d.seq));
        if p.links != d.links {
            p.links = d.links;
            out.push(Action::LinksChanged {
                node: p.name.clone(),
            });
        }
        if let Some(at) = echo {
            let fence_after = self.cfg.timing.fence_after;
            let was_fresh = p
                .proof
                .is_some_and(|old| now.saturating_duration_since(old) < fence_after);
            if !was_fresh {
                p.fresh_since = Some(now);
            }
            p.proof = Some(p.proof.map_or(at, |old| old.max(at)));
            p.left = false;
        }
        if echo.is_some() {
            // Indirect evidence, only from a datagram that proved itself
            // fresh: the sender's own proofs of the others.
            for (name, age) in &d.seen {
                let Some(j) = self.peers.iter().position(|p| p.name == *name) else {
                    continue;
                };
                let Some(at) = now.checked_sub(std::time::Duration::from_millis(u64::from(*age)))
                else {
                    continue;
                };
                let q = &mut self.peers[j];
                if j != i && !q.left {
                    q.indirect = Some(q.indirect.map_or(at, |old| old.max(at)));
                }
            }
        }
        if d.kind == Kind::Ping {
            self.emit(now, Kind::Ack, i, Some((d.epoch, d.seq)), out);
        }
    }

    fn evaluate(&mut self, now: Instant, out: &mut Vec<Action>) {
        let t = self.cfg.timing;
        let mut counted = 1;
        let mut wake = self.next_tick;
        let mut soonest = |at: Instant| wake = Some(wake.map_or(at, |w| w.min(at)));
        for p in &mut self.peers {
            let age = p.proof.map(|at| now.saturating_duration_since(at));
            let newest = match (p.proof, p.indirect) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            let alive = newest.is_some_and(|at| now.saturating_duration_since(at) < t.dead_after);
            if alive != p.alive {
                p.alive = alive;
                out.push(if alive {
                    Action::Up {
                        node: p.name.clone(),
                    }
                } else {
                    Action::Down {
                        node: p.name.clone(),
                        reason: DownReason::Silent,
                    }
                });
            }
            let fresh = age.is_some_and(|a| a < t.fence_after);
            if !fresh {
                p.fresh_since = None;
            }
            if let Some(newest) = newest.filter(|_| alive) {
                soonest(newest + t.dead_after);
            }
            if let Some(proof) = p.proof {
                if fresh {
                    soonest(proof + t.fence_after);
                }
            }
            if let (true, Some(since)) = (fresh, p.fresh_since) {
                if now.saturating_duration_since(since) >= t.fence_hold {
                    counted += 1;
                } else {
                    soonest(since + t.fence_hold);
                }
            }
        }
        let configured = self.peers.len() + 1;
        let state = match self.cfg.fencing {
            // Issue 10 fencing: a strict majority of the configured
            // members, this node included.
            Fencing::Majority if counted * 2 <= configured => {
                FenceState::Fenced(FenceReason::NoMajority {
                    seen: counted,
                    configured,
                    needed: configured / 2 + 1,
                })
            }
            _ => FenceState::Clear {
                seen: counted,
                configured,
            },
        };
        let changed = match (&self.fence, &state) {
            (Some(FenceState::Clear { .. }), FenceState::Clear { .. }) => false,
            (Some(old), new) => old != new,
            (None, _) => true,
        };
        // A change in the count alone while answering is not news; a change
        // of `seen` while fenced is (the reason names it).
        self.fence = Some(state.clone());
        if changed {
            out.push(Action::Fence(state));
        }
        if let Some(at) = wake {
            out.push(Action::WakeAt(at));
        }
    }

    fn shutdown(&mut self, now: Instant, out: &mut Vec<Action>) {
        // Stop answering first: the driver carries out actions in order,
        // so the announcer has stopped before any peer hears the leave.
        self.fence = Some(FenceState::Fenced(FenceReason::Leaving));
        out.push(Action::Fence(FenceState::Fenced(FenceReason::Leaving)));
        for i in 0..self.peers.len() {
            self.emit(now, Kind::Leave, i, self.peers[i].last_rx, out);
        }
        self.leaving = true;
    }
}
