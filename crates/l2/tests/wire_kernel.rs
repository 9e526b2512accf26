//! The Linux kernel as an independent judge of the frames we build: our
//! gratuitous ARP and unsolicited NA, sent from one namespace with an
//! AF_PACKET socket (python3), must move the other namespace's neighbour
//! entry to our MAC, and the same NA with one wrong octet (checksum, hop
//! limit 254) must not.
//!
//! Needs root, `ip` and python3, so it is ignored by default:
//!   cargo test -p l2 --test wire_kernel -- --ignored

use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::Command;
use std::time::{Duration, Instant};

use l2::wire::{ArpOp, ArpPacket, MacAddr, NdpPacket};

const A_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0a]);
const STALE: &str = "02:00:00:00:00:99";

/// Two namespaces joined by a veth pair, deleted on drop.
struct Pair {
    a: String,
    b: String,
}

fn run(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Pair {
    fn new(tag: &str) -> Pair {
        let p = Pair {
            a: format!("oxlb-{}-{tag}-a", std::process::id()),
            b: format!("oxlb-{}-{tag}-b", std::process::id()),
        };
        run(&["ip", "netns", "add", &p.a]);
        run(&["ip", "netns", "add", &p.b]);
        run(&[
            "ip",
            "link",
            "add",
            "a0",
            "address",
            "02:00:00:00:00:0a",
            "netns",
            &p.a,
            "type",
            "veth",
            "peer",
            "name",
            "b0",
            "address",
            "02:00:00:00:00:0b",
            "netns",
            &p.b,
        ]);
        for (ns, dev, v4, v6) in [
            (&p.a, "a0", "192.0.2.10/24", "2001:db8::a/64"),
            (&p.b, "b0", "192.0.2.11/24", "2001:db8::b/64"),
        ] {
            run(&[
                "ip",
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.accept_dad=0",
            ]);
            run(&[
                "ip",
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                "net.ipv6.conf.default.accept_dad=0",
            ]);
            run(&["ip", "-n", ns, "addr", "add", v4, "dev", dev]);
            run(&["ip", "-n", ns, "addr", "add", v6, "dev", dev, "nodad"]);
            run(&["ip", "-n", ns, "link", "set", dev, "up"]);
        }
        // Let an update follow the entry we plant at once.
        run(&[
            "ip",
            "netns",
            "exec",
            &p.b,
            "sysctl",
            "-qw",
            "net.ipv4.neigh.b0.locktime=0",
        ]);
        p
    }

    /// Sends raw frames on a0 from namespace a.
    fn send(&self, frames: &[Vec<u8>]) {
        let hex: Vec<String> = frames
            .iter()
            .map(|f| f.iter().map(|b| format!("{b:02x}")).collect())
            .collect();
        let mut args = vec![
            "ip".to_string(),
            "netns".into(),
            "exec".into(),
            self.a.clone(),
            "python3".into(),
            "-c".into(),
            "import socket,sys\ns=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\ns.bind((sys.argv[1],0))\nfor h in sys.argv[2:]: s.send(bytes.fromhex(h))".into(),
            "a0".into(),
        ];
        args.extend(hex);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&refs);
    }

    /// Plants a stale neighbour entry for `ip` with a MAC nobody has.
    fn plant(&self, ip: &str) {
        run(&[
            "ip", "-n", &self.b, "neigh", "replace", ip, "lladdr", STALE, "dev", "b0", "nud",
            "stale",
        ]);
    }

    fn neigh(&self, ip: &str) -> String {
        run(&["ip", "-n", &self.b, "neigh", "show", ip, "dev", "b0"])
    }

    /// Waits up to 2 s for the entry of `ip` to name `mac`.
    fn wait_for(&self, ip: &str, mac: &str) -> bool {
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until {
            if self.neigh(ip).contains(mac) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

#[test]
#[ignore = "needs root, ip and python3 (network namespaces)"]
fn kernel_takes_our_gratuitous_arp_as_a_move_of_the_address() {
    let p = Pair::new("garp");
    let vip = Ipv4Addr::new(192, 0, 2, 50);
    for op in [ArpOp::Request, ArpOp::Reply] {
        p.plant("192.0.2.50");
        assert!(p.neigh("192.0.2.50").contains(STALE));
        p.send(&[ArpPacket::gratuitous(op, A_MAC, vip)]);
        assert!(
            p.wait_for("192.0.2.50", "02:00:00:00:00:0a"),
            "{op:?}: {}",
            p.neigh("192.0.2.50")
        );
    }
}

#[test]
#[ignore = "needs root, ip and python3 (network namespaces)"]
fn kernel_takes_our_unsolicited_advert_and_ignores_a_damaged_one() {
    let p = Pair::new("una");
    let vip: Ipv6Addr = "2001:db8::50".parse().unwrap();
    let good = NdpPacket::unsolicited_advert_frame(A_MAC, vip);
    // Damaged copies first: neither may move the entry.
    let mut bad_sum = good.clone();
    bad_sum[57] ^= 1;
    let mut hop_254 = good.clone();
    hop_254[21] = 254;
    p.plant("2001:db8::50");
    p.send(&[bad_sum, hop_254]);
    assert!(
        !p.wait_for("2001:db8::50", "02:00:00:00:00:0a"),
        "the kernel took a damaged NA: {}",
        p.neigh("2001:db8::50")
    );
    p.send(&[good]);
    assert!(
        p.wait_for("2001:db8::50", "02:00:00:00:00:0a"),
        "{}",
        p.neigh("2001:db8::50")
    );
}
