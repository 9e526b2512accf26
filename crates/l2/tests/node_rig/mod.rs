//! The rig of `node_netns.rs`: namespaces, nodes on their own threads,
//! and the client's probes (arping, ndisc6, a raw ARP prober).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::mpsc as std_mpsc;
use std::thread;
use std::time::{Duration, Instant};

use l2::linux::ArpPort;
use l2::membership::{Fencing, Member};
use l2::node::{self, Desired, NodeConfig, NodeStatus, Profile, VipDesire};
use l2::wire::{ArpOp, ArpPacket, MacAddr};

pub const NODES: [&str; 3] = ["a", "b", "c"];
pub const VIP4: &str = "192.0.2.50";
pub const VIP6: &str = "2001:db8::50";

pub fn run(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A bridge namespace, one namespace per node and one for the client.
pub struct Topo {
    prefix: String,
    made: Vec<String>,
}

impl Drop for Topo {
    fn drop(&mut self) {
        for ns in &self.made {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

pub fn node_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 1 + i as u8)
}

/// The membership address of node `i`.
pub fn member_addr(i: usize, split: bool) -> Ipv4Addr {
    if split {
        Ipv4Addr::new(198, 51, 100, 1 + i as u8)
    } else {
        node_addr(i)
    }
}

impl Topo {
    /// `split`: membership runs on a second segment (eth1 on bridge br1,
    /// 198.51.100.0/24), so carrier loss on eth0 does not cut a node off.
    pub fn new(tag: &str, split: bool) -> Topo {
        let mut t = Topo {
            prefix: format!("l2n{}{tag}", std::process::id()),
            made: Vec::new(),
        };
        let br = t.ns("br");
        t.add(&br);
        run(&["ip", "-n", &br, "link", "add", "br0", "type", "bridge"]);
        run(&["ip", "-n", &br, "link", "set", "br0", "up"]);
        if split {
            run(&["ip", "-n", &br, "link", "add", "br1", "type", "bridge"]);
            run(&["ip", "-n", &br, "link", "set", "br1", "up"]);
        }
        let hosts: Vec<(String, String)> = NODES
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_string(), format!("{}/24", node_addr(i))))
            .chain([("cl".to_string(), "192.0.2.100/24".to_string())])
            .collect();
        for (short, addr) in hosts {
            let ns = t.ns(&short);
            t.add(&ns);
            let port = format!("p-{short}");
            run(&[
                "ip", "-n", &br, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                "netns", &ns,
            ]);
            run(&["ip", "-n", &br, "link", "set", &port, "master", "br0", "up"]);
            run(&["ip", "-n", &ns, "addr", "add", &addr, "dev", "eth0"]);
            if short == "cl" {
                // On-link prefix for the IPv6 VIP (no DAD: see `add`).
                run(&[
                    "ip",
                    "-n",
                    &ns,
                    "addr",
                    "add",
                    "2001:db8::100/64",
                    "dev",
                    "eth0",
                ]);
            }
            run(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
            if let (true, Some(i)) = (split, NODES.iter().position(|n| *n == short)) {
                let port = format!("m-{short}");
                run(&[
                    "ip", "-n", &br, "link", "add", &port, "type", "veth", "peer", "name", "eth1",
                    "netns", &ns,
                ]);
                run(&["ip", "-n", &br, "link", "set", &port, "master", "br1", "up"]);
                let addr = format!("{}/24", member_addr(i, true));
                run(&["ip", "-n", &ns, "addr", "add", &addr, "dev", "eth1"]);
                run(&["ip", "-n", &ns, "link", "set", "eth1", "up"]);
            }
        }
        t
    }

    /// Takes the bridge side of `short`'s eth0 down: eth0 loses carrier.
    pub fn cut_carrier(&self, short: &str) {
        let port = format!("p-{short}");
        run(&["ip", "-n", &self.ns("br"), "link", "set", &port, "down"]);
    }

    pub fn ns(&self, short: &str) -> String {
        format!("{}-{short}", self.prefix)
    }

    pub fn add(&mut self, ns: &str) {
        run(&["ip", "netns", "add", ns]);
        self.made.push(ns.to_string());
        run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        // No DAD: the link-local address (the NDP port's source) is usable
        // at once.
        run(&[
            "ip",
            "netns",
            "exec",
            ns,
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.accept_dad=0",
            "net.ipv6.conf.default.accept_dad=0",
        ]);
    }

    pub fn mac(&self, short: &str) -> String {
        let ns = self.ns(short);
        run(&[
            "ip",
            "netns",
            "exec",
            &ns,
            "cat",
            "/sys/class/net/eth0/address",
        ])
        .trim()
        .to_lowercase()
    }
}

/// Runs `f` on a new thread inside network namespace `ns`, on a
/// current-thread tokio runtime; every socket it opens lives there.
pub fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce(&tokio::runtime::Runtime) -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    thread::spawn(move || {
        let file = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // Affects this thread only.
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
            .unwrap_or_else(|e| panic!("setns {path}: {e}"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        f(&rt)
    })
}

pub enum Cmd {
    Status(std_mpsc::Sender<NodeStatus>),
    Desire(Desired),
    /// SIGTERM: stop answering, send the leave.
    Shutdown,
    /// SIGKILL: the runtime is dropped, nothing more is sent.
    Kill,
}

pub struct NodeThread {
    pub cmds: tokio::sync::mpsc::UnboundedSender<Cmd>,
    thread: Option<thread::JoinHandle<()>>,
}

impl NodeThread {
    pub fn start(ns: &str, cfg: NodeConfig, desired: Desired) -> NodeThread {
        let (cmds, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let name = cfg.node_name.clone();
        let thread = in_netns(ns, move |rt| {
            let handle = rt.block_on(async {
                let h = node::spawn(cfg)
                    .await
                    .unwrap_or_else(|e| panic!("node {name}: {e}"));
                h.set_desired(desired);
                loop {
                    match rx.recv().await {
                        Some(Cmd::Status(reply)) => {
                            let _ = reply.send(h.status());
                        }
                        Some(Cmd::Desire(d)) => h.set_desired(d),
                        Some(Cmd::Shutdown) | None => {
                            h.shutdown().await;
                            return None;
                        }
                        Some(Cmd::Kill) => return Some(h),
                    }
                }
            });
            // Kill: the handle is dropped outside `block_on`, and the
            // runtime right after drops the node task without polling it
            // again, so no leave goes out (the measured takeover time is
            // then membership's detection, not the leave's).
            drop(handle);
        });
        NodeThread {
            cmds,
            thread: Some(thread),
        }
    }

    pub fn status(&self) -> NodeStatus {
        let (tx, rx) = std_mpsc::channel();
        self.cmds.send(Cmd::Status(tx)).expect("node thread alive");
        rx.recv_timeout(Duration::from_secs(5))
            .expect("status reply")
    }

    pub fn stop(mut self, cmd: Cmd) {
        self.cmds.send(cmd).expect("node thread alive");
        if let Some(t) = self.thread.take() {
            t.join().expect("node thread panicked");
        }
    }
}

pub fn config(i: usize, profile: Profile, split: bool) -> NodeConfig {
    NodeConfig {
        node_name: NODES[i].to_string(),
        members: NODES
            .iter()
            .enumerate()
            .map(|(j, n)| Member {
                name: n.to_string(),
                addr: IpAddr::V4(member_addr(j, split)),
            })
            .collect(),
        bind: SocketAddr::new(IpAddr::V4(member_addr(i, split)), 7946),
        secret: b"node-netns-test-secret".to_vec(),
        fencing: Fencing::Majority,
        profile,
    }
}

/// A dual-stack Service; `split`: announced on eth0 only.
pub fn desired(split: bool) -> Desired {
    let vip = |ip: &str| VipDesire {
        ip: ip.parse().unwrap(),
        election_ip: VIP4.parse().unwrap(),
        interfaces: split.then(|| BTreeSet::from(["eth0".to_string()])),
        matching_nodes: NODES.iter().map(|s| s.to_string()).collect(),
        scores: BTreeMap::new(),
        ready_nodes: None,
        services: vec!["default/web".into()],
    };
    Desired {
        vips: vec![vip(VIP4), vip(VIP6)],
    }
}

pub fn find_vip(s: &NodeStatus, ip: &str) -> Option<l2::node::VipStatus> {
    let ip: IpAddr = ip.parse().unwrap();
    s.vips.iter().find(|v| v.ip == ip).cloned()
}

pub fn vip_status(s: &NodeStatus, ip: &str) -> l2::node::VipStatus {
    find_vip(s, ip).unwrap_or_else(|| panic!("no status for {ip}: {s:?}"))
}

/// Waits until every running node sees all of `alive` alive, is not
/// fenced, agrees on the winner of the VIP and the winner announces it.
pub fn converged(
    nodes: &BTreeMap<String, NodeThread>,
    alive: &BTreeSet<String>,
) -> (String, Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let statuses: Vec<(String, NodeStatus)> =
            nodes.iter().map(|(n, t)| (n.clone(), t.status())).collect();
        // Before the desired set reaches a node its status lists no VIP.
        let winners: BTreeSet<Option<String>> = statuses
            .iter()
            .map(|(_, s)| find_vip(s, VIP4).and_then(|v| v.winner))
            .collect();
        let ok = statuses.iter().all(|(_, s)| {
            s.fenced.is_none()
                && find_vip(s, VIP6).is_some()
                && s.members.iter().all(|(m, up)| *up == alive.contains(m))
        });
        if ok && winners.len() == 1 {
            if let Some(Some(w)) = winners.into_iter().next() {
                let ws = &statuses
                    .iter()
                    .find(|(n, _)| *n == w)
                    .expect("winner runs")
                    .1;
                let v4 = vip_status(ws, VIP4);
                if v4.announcing_on == ["eth0"] && vip_status(ws, VIP6).announcing_on == ["eth0"] {
                    return (w, v4.candidates);
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "no convergence on {alive:?}: {statuses:#?}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// The MACs of the replies `arping` gets for the IPv4 VIP.
pub fn arping(topo: &Topo) -> Vec<String> {
    let ns = topo.ns("cl");
    let out = Command::new("ip")
        .args([
            "netns", "exec", &ns, "arping", "-c", "3", "-i", "eth0", VIP4,
        ])
        .output()
        .expect("arping runs");
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(out.status.success(), "arping got no reply: {text}");
    // "42 bytes from aa:bb:cc:dd:ee:ff (192.0.2.50): index=0 time=..."
    text.lines()
        .filter_map(|l| l.split("bytes from ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// The target link-layer address `ndisc6` gets for the IPv6 VIP.
pub fn ndisc6(topo: &Topo) -> String {
    let ns = topo.ns("cl");
    let out = run(&[
        "ip", "netns", "exec", &ns, "ndisc6", "-r", "3", VIP6, "eth0",
    ]);
    out.lines()
        .find_map(|l| l.split("Target link-layer address:").nth(1))
        .unwrap_or_else(|| panic!("no target link-layer address in {out}"))
        .trim()
        .to_lowercase()
}

/// Probes the VIP from the client every 5 ms with its own ARP requests;
/// returns when a reply comes from a MAC other than `old` (its time and
/// MAC), or after `limit`.
pub fn probe_until_moved(
    topo: &Topo,
    old: MacAddr,
    limit: Duration,
) -> (
    thread::JoinHandle<Option<(Instant, MacAddr)>>,
    std_mpsc::Receiver<()>,
) {
    let client_mac = parse_mac(&topo.mac("cl"));
    // "7: eth0@if6: <BROADCAST,..." -> 7
    let line = run(&["ip", "-n", &topo.ns("cl"), "-o", "link", "show", "eth0"]);
    let ifindex: u32 = line
        .split(':')
        .next()
        .and_then(|i| i.trim().parse().ok())
        .unwrap_or_else(|| panic!("no ifindex in {line:?}"));
    let (ready_tx, ready_rx) = std_mpsc::channel();
    let t = in_netns(&topo.ns("cl"), move |rt| {
        rt.block_on(async move {
            let port = ArpPort::open(ifindex).expect("client ARP socket");
            let request = ArpPacket {
                op: ArpOp::Request,
                sender_mac: client_mac,
                sender_ip: "192.0.2.100".parse().unwrap(),
                target_mac: MacAddr::ZERO,
                target_ip: VIP4.parse().unwrap(),
            }
            .frame(client_mac, MacAddr::BROADCAST);
            let mut tick = tokio::time::interval(Duration::from_millis(5));
            let end = tokio::time::Instant::now() + limit;
            let mut buf = [0u8; 1514];
            let _ = ready_tx.send(());
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(end) => return None,
                    _ = tick.tick() => port.send(&request).await.expect("probe send"),
                    got = port.recv(&mut buf) => {
                        let n = got.expect("probe recv");
                        let Ok((_, arp)) = ArpPacket::parse_frame(&buf[..n]) else { continue };
                        if arp.op == ArpOp::Reply
                            && arp.sender_ip.to_string() == VIP4
                            && arp.sender_mac != old
                        {
                            return Some((Instant::now(), arp.sender_mac));
                        }
                    }
                }
            }
        })
    });
    (t, ready_rx)
}

pub fn parse_mac(s: &str) -> MacAddr {
    let mut m = [0u8; 6];
    let parts: Vec<&str> = s.trim().split(':').collect();
    assert_eq!(parts.len(), 6, "MAC {s:?}");
    for (o, p) in m.iter_mut().zip(parts) {
        *o = u8::from_str_radix(p, 16).unwrap_or_else(|e| panic!("MAC {s:?}: {e}"));
    }
    MacAddr(m)
}

pub fn fmt_mac(m: MacAddr) -> String {
    m.0.iter()
        .map(|o| format!("{o:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub fn start_all(topo: &Topo, profile: Profile, split: bool) -> BTreeMap<String, NodeThread> {
    NODES
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                n.to_string(),
                NodeThread::start(&topo.ns(n), config(i, profile, split), desired(split)),
            )
        })
        .collect()
}

/// The client kernel's neighbour entry for `ip`: (lladdr, state).
pub fn neighbour(topo: &Topo, ip: &str) -> Option<(String, String)> {
    let out = run(&["ip", "-n", &topo.ns("cl"), "neigh", "show", ip]);
    // "192.0.2.50 dev eth0 lladdr aa:bb:cc:dd:ee:ff REACHABLE"
    let words: Vec<&str> = out.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "lladdr")?;
    Some((words.get(at + 1)?.to_lowercase(), words.last()?.to_string()))
}

/// Makes the client kernel resolve `ip` (one UDP datagram to the discard
/// port from the client namespace); returns the MAC once the entry has one.
pub fn resolve(topo: &Topo, ip: &str) -> String {
    let to = SocketAddr::new(ip.parse().expect("an IP"), 9);
    in_netns(&topo.ns("cl"), move |_| {
        let any: SocketAddr = if to.is_ipv4() {
            "0.0.0.0:0".parse().unwrap()
        } else {
            "[::]:0".parse().unwrap()
        };
        let s = std::net::UdpSocket::bind(any).expect("client UDP socket");
        s.send_to(b"resolve", to).expect("client UDP send");
    })
    .join()
    .expect("client thread");
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        if let Some((mac, _)) = neighbour(topo, ip) {
            return mac;
        }
        assert!(Instant::now() < deadline, "client never resolved {ip}");
        thread::sleep(Duration::from_millis(10));
    }
}
