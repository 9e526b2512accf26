//! An in-memory network of membership cores on a virtual clock (1 ms steps):
//! latency, random loss (seeded xorshift), partitions, kills, restarts and
//! a tap for replays. After each step it can check that no VIP has two
//! answering nodes (answering = not fenced and winner in its own view).

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use l2::election::{elect, ElectionInputs};
use l2::membership::{
    Action, Event, Fencing, Member, Membership, MembershipConfig, Timing, DEFAULT_PORT,
};

pub const SECRET: &[u8] = b"metallb memberlist secretkey";

pub fn name(i: usize) -> String {
    format!("node-{}", (b'a' + i as u8) as char)
}

pub fn addr(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1 + i as u8))
}

pub fn members(n: usize) -> Vec<Member> {
    (0..n)
        .map(|i| Member {
            name: name(i),
            addr: addr(i),
        })
        .collect()
}

pub fn config(
    i: usize,
    n: usize,
    epoch: u64,
    timing: Timing,
    fencing: Fencing,
) -> MembershipConfig {
    MembershipConfig {
        me: name(i),
        members: members(n),
        secret: SECRET.to_vec(),
        epoch,
        port: DEFAULT_PORT,
        timing,
        fencing,
    }
}

pub struct Node {
    pub m: Membership,
    pub running: bool,
    wake: Option<Instant>,
    start_at: Option<Instant>,
}

pub struct Sim {
    pub t0: Instant,
    pub now: Instant,
    pub nodes: Vec<Node>,
    pub latency: Duration,
    /// Loss per datagram in parts per thousand.
    pub loss_permille: u64,
    rng: u64,
    inflight: Vec<(Instant, usize, IpAddr, Vec<u8>)>,
    /// Pairs (from, to) whose datagrams are dropped.
    pub blocked: BTreeSet<(usize, usize)>,
    /// Every non-Send action: (time since t0, node, action).
    pub log: Vec<(Duration, usize, Action)>,
    /// When set, a copy of each delivered datagram: (to, from addr, bytes).
    pub tap: Option<Vec<(usize, IpAddr, Vec<u8>)>>,
    pub timing: Timing,
    pub fencing: Fencing,
    pub vips: Vec<IpAddr>,
    /// Per VIP, every node in election order with all alive: the winner for
    /// a live set is the first of them in it (filtering keeps the order).
    order: Vec<Vec<String>>,
    /// Per node: datagrams and octets it sent.
    pub sent: Vec<(u64, u64)>,
}

impl Sim {
    pub fn new(n: usize, timing: Timing, fencing: Fencing, seed: u64) -> Sim {
        let t0 = Instant::now();
        let nodes = (0..n)
            .map(|i| Node {
                m: Membership::new(config(i, n, 1000, timing, fencing)).unwrap(),
                running: true,
                wake: None,
                start_at: None,
            })
            .collect();
        let mut sim = Sim {
            t0,
            now: t0,
            nodes,
            latency: Duration::from_millis(1),
            loss_permille: 0,
            rng: seed | 1,
            inflight: Vec::new(),
            blocked: BTreeSet::new(),
            log: Vec::new(),
            tap: None,
            timing,
            fencing,
            vips: (1..=20)
                .map(|k| IpAddr::V4(Ipv4Addr::new(192, 0, 2, k)))
                .collect(),
            order: Vec::new(),
            sent: vec![(0, 0); n],
        };
        let all: Vec<String> = (0..n).map(name).collect();
        sim.order = sim
            .vips
            .iter()
            .map(|v| {
                elect(
                    *v,
                    all.iter().map(String::as_str),
                    ElectionInputs::default(),
                )
                .candidates()
                .to_vec()
            })
            .collect();
        // Node 0 starts at once, the others at seeded offsets within one
        // interval, so that their pings are not in lockstep.
        let out = sim.nodes[0].m.handle(t0, Event::Start);
        sim.carry_out(0, out);
        let interval = timing.interval.as_millis() as u64;
        for i in 1..n {
            let offset = sim.random() % interval;
            sim.nodes[i].start_at = Some(t0 + Duration::from_millis(offset));
        }
        sim
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    fn random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    pub fn carry_out(&mut self, i: usize, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Send { to, bytes } => {
                    self.sent[i].0 += 1;
                    self.sent[i].1 += bytes.len() as u64;
                    let Some(j) = (0..self.nodes.len()).find(|j| addr(*j) == to.ip()) else {
                        continue;
                    };
                    assert_eq!(to.port(), DEFAULT_PORT);
                    if self.blocked.contains(&(i, j)) || self.random() % 1000 < self.loss_permille {
                        continue;
                    }
                    self.inflight
                        .push((self.now + self.latency, j, addr(i), bytes));
                }
                Action::WakeAt(at) => self.nodes[i].wake = Some(at),
                other => self.log.push((self.elapsed(), i, other)),
            }
        }
    }

    /// Hands `bytes` to node `to` as if from `from` at the current time.
    pub fn inject(&mut self, to: usize, from: IpAddr, bytes: &[u8]) {
        if !self.nodes[to].running {
            return;
        }
        let out = self.nodes[to]
            .m
            .handle(self.now, Event::Datagram { from, bytes });
        self.carry_out(to, out);
    }

    pub fn step(&mut self) {
        self.now += Duration::from_millis(1);
        let now = self.now;
        let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.inflight)
            .into_iter()
            .partition(|d| d.0 <= now);
        self.inflight = rest;
        for (_, to, from, bytes) in due {
            if let Some(tap) = &mut self.tap {
                tap.push((to, from, bytes.clone()));
            }
            self.inject(to, from, &bytes);
        }
        for i in 0..self.nodes.len() {
            if self.nodes[i].start_at.is_some_and(|s| s <= now) {
                self.nodes[i].start_at = None;
                let out = self.nodes[i].m.handle(now, Event::Start);
                self.carry_out(i, out);
            }
            if self.nodes[i].running && self.nodes[i].wake.is_some_and(|w| w <= now) {
                self.nodes[i].wake = None;
                let out = self.nodes[i].m.handle(now, Event::Timer);
                self.carry_out(i, out);
            }
        }
    }

    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.step();
        }
    }

    /// Runs for `d`, asserting after every step that no VIP has two
    /// answering nodes.
    pub fn run_checked(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.step();
            for v in self.vips.clone() {
                let who = self.answering(v);
                assert!(
                    who.len() <= 1,
                    "at {:?} VIP {v} is answered by {who:?}",
                    self.elapsed()
                );
            }
        }
    }

    pub fn kill(&mut self, i: usize) {
        self.nodes[i].running = false;
        self.inflight.retain(|d| d.1 != i);
    }

    pub fn restart(&mut self, i: usize, epoch: u64) {
        let n = self.nodes.len();
        self.nodes[i] = Node {
            m: Membership::new(config(i, n, epoch, self.timing, self.fencing)).unwrap(),
            running: true,
            wake: None,
            start_at: None,
        };
        let out = self.nodes[i].m.handle(self.now, Event::Start);
        self.carry_out(i, out);
    }

    pub fn shutdown(&mut self, i: usize) {
        let out = self.nodes[i].m.handle(self.now, Event::Shutdown);
        self.carry_out(i, out);
        self.nodes[i].running = false;
    }

    /// Blocks all traffic between the two groups, both ways.
    pub fn partition(&mut self, a: &[usize], b: &[usize]) {
        for &x in a {
            for &y in b {
                self.blocked.insert((x, y));
                self.blocked.insert((y, x));
            }
        }
    }

    pub fn heal(&mut self) {
        self.blocked.clear();
    }

    /// The nodes answering for `vip` now.
    pub fn answering(&self, vip: IpAddr) -> Vec<usize> {
        let k = self
            .vips
            .iter()
            .position(|v| *v == vip)
            .expect("a VIP of the simulation");
        (0..self.nodes.len())
            .filter(|&i| {
                let n = &self.nodes[i];
                if !n.running || !n.m.may_answer() {
                    return false;
                }
                let live = n.m.alive();
                self.order[k]
                    .iter()
                    .find(|c| live.contains(*c))
                    .map(String::as_str)
                    == Some(n.m.me())
            })
            .collect()
    }

    /// The winner of `vip` as everyone would elect it with all alive.
    pub fn winner_of(&self, vip: IpAddr) -> usize {
        let all: Vec<String> = (0..self.nodes.len()).map(name).collect();
        let e = elect(
            vip,
            all.iter().map(String::as_str),
            ElectionInputs::default(),
        );
        let w = e.winner().unwrap();
        all.iter().position(|n| n == w).unwrap()
    }

    /// Time of the first log entry after `since` matching `f`.
    pub fn first_after(
        &self,
        since: Duration,
        f: impl Fn(usize, &Action) -> bool,
    ) -> Option<Duration> {
        self.log
            .iter()
            .find(|(t, i, a)| *t >= since && f(*i, a))
            .map(|(t, _, _)| *t)
    }
}
