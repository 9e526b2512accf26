//! Drives the Linux sockets of `l2::linux` for `e2e/tests/32-l2-sockets.sh`.
//!
//! `l2-sockets-probe IFACE VIP4 VIP6` prints, one line each:
//! `link ...` per interface at start, `ready` once the sockets are open and
//! the VIP6's solicited-node group is joined, `arp-rx` / `ns-rx` for every
//! frame received (hex), `arp-tx` / `na-tx` with the recv-to-sent time for
//! each reply to a request for a VIP, `link-event ...` with the wall-clock
//! time (ns) of each link change, and on SIGUSR1 a gratuitous ARP and an
//! unsolicited NA (`garp-tx`, `una-tx`); on SIGUSR2 it leaves the VIP6's
//! group and keeps running (`left`). SIGTERM ends it. A solicited NA
//! goes out from the VIP (`send_from`), the unsolicited one from the
//! kernel-chosen link-local address (`send`), so both paths are exercised.
//!
//! The frames are minimal hand-made byte arrays, enough to exercise the
//! sockets; the real codecs and the responder decision live in the core.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use l2::linux::{ArpPort, LinkState, LinkWatcher, NdpPort, ARP_FRAME_MAX};
use tokio::signal::unix::{signal, SignalKind};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn mac_text(mac: Option<[u8; 6]>) -> String {
    mac.map(|m| {
        m.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    })
    .unwrap_or_else(|| "-".into())
}

fn wall_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn describe(l: &LinkState) -> String {
    let verdict = |r: Result<(), l2::linux::Ineligible>| match r {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("no({e})"),
    };
    format!(
        "name={} ifindex={} mac={} up={} lower_up={} master={} arp={} ndp={} link_local={}",
        l.name,
        l.ifindex,
        mac_text(l.mac),
        l.up,
        l.lower_up,
        l.master.map_or("-".into(), |m| m.to_string()),
        verdict(l.arp_eligible()),
        verdict(l.ndp_eligible()),
        l.usable_link_local().map_or("-".into(), |a| a.to_string()),
    )
}

/// Ethernet + ARP (RFC 826) with the given opcode, 42 bytes.
fn arp_frame(
    dst: [u8; 6],
    src: [u8; 6],
    op: u16,
    sha: [u8; 6],
    spa: Ipv4Addr,
    tha: [u8; 6],
    tpa: Ipv4Addr,
) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa.octets());
    f.extend_from_slice(&tha);
    f.extend_from_slice(&tpa.octets());
    f
}

/// The sender MAC and IP of an ARP request for `vip`, if `frame` is one.
fn arp_request_for(frame: &[u8], vip: Ipv4Addr) -> Option<([u8; 6], Ipv4Addr)> {
    let f = frame.get(..42)?;
    let is_request = f[12..14] == [0x08, 0x06] && f[20..22] == [0, 1];
    let tpa = Ipv4Addr::new(f[38], f[39], f[40], f[41]);
    if !is_request || tpa != vip {
        return None;
    }
    let sha: [u8; 6] = f[22..28].try_into().ok()?;
    Some((sha, Ipv4Addr::new(f[28], f[29], f[30], f[31])))
}

/// NA (RFC 4861 §4.4) for `target` with flags and a target link-layer
/// address option; checksum left zero for the kernel.
fn neighbor_advert(target: Ipv6Addr, mac: [u8; 6], solicited: bool, overrides: bool) -> Vec<u8> {
    let mut flags = 0u8;
    if solicited {
        flags |= 0x40;
    }
    if overrides {
        flags |= 0x20;
    }
    let mut m = vec![136, 0, 0, 0, flags, 0, 0, 0];
    m.extend_from_slice(&target.octets());
    m.extend_from_slice(&[2, 1]);
    m.extend_from_slice(&mac);
    m
}

fn ns_target(msg: &[u8]) -> Option<Ipv6Addr> {
    let t: [u8; 16] = msg.get(8..24)?.try_into().ok()?;
    (msg.first() == Some(&135)).then(|| Ipv6Addr::from(t))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("l2-sockets-probe: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, iface, vip4, vip6] = args.as_slice() else {
        return Err("usage: l2-sockets-probe IFACE VIP4 VIP6".into());
    };
    let vip4: Ipv4Addr = vip4.parse().map_err(|e| format!("VIP4 {vip4:?}: {e}"))?;
    let vip6: Ipv6Addr = vip6.parse().map_err(|e| format!("VIP6 {vip6:?}: {e}"))?;

    // L2_PROBE_NETLINK_RCVBUF: a small buffer forces lost notifications,
    // so the test can watch the resync.
    let mut links = match std::env::var("L2_PROBE_NETLINK_RCVBUF") {
        Ok(v) => {
            let bytes = v
                .parse()
                .map_err(|e| format!("L2_PROBE_NETLINK_RCVBUF {v:?}: {e}"))?;
            LinkWatcher::start_with_rcvbuf(bytes).await?
        }
        Err(_) => LinkWatcher::start().await?,
    };
    let mut overruns = 0;
    for l in links.table().links() {
        println!("link {}", describe(l));
    }
    let link = links
        .table()
        .by_name(iface)
        .ok_or_else(|| format!("IFACE {iface:?}: no such interface"))?;
    let ifindex = link.ifindex;
    let mac = link
        .mac
        .ok_or_else(|| format!("IFACE {iface:?}: no Ethernet address"))?;

    let arp = ArpPort::open(ifindex)?;
    let mut ndp = NdpPort::open(ifindex, iface, mac)?;
    ndp.join(vip6)?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut usr2 = signal(SignalKind::user_defined2())?;
    let mut term = signal(SignalKind::terminate())?;
    println!(
        "ready ifindex={ifindex} groups={:?}",
        ndp.groups().collect::<Vec<_>>()
    );

    let mut arp_buf = [0u8; ARP_FRAME_MAX];
    let mut ndp_buf = [0u8; 1500];
    loop {
        tokio::select! {
            got = arp.recv(&mut arp_buf) => {
                let n = got?;
                let at = Instant::now();
                let frame = &arp_buf[..n];
                // Reply first, print after: loop_us is the socket path only.
                let reply = arp_request_for(frame, vip4)
                    .map(|(sha, spa)| (spa, arp_frame(sha, mac, 2, mac, vip4, sha, spa)));
                if let Some((_, reply)) = &reply {
                    arp.send(reply).await?;
                }
                let loop_us = at.elapsed().as_secs_f64() * 1e6;
                println!("arp-rx len={n} hex={}", hex(frame));
                if let Some((spa, reply)) = reply {
                    println!("arp-tx reply to={spa} loop_us={loop_us:.1} hex={}", hex(&reply));
                }
            }
            got = ndp.recv(&mut ndp_buf) => {
                let r = got?;
                let at = Instant::now();
                let msg = &ndp_buf[..r.len];
                // RFC 4861 §7.1.1: only NS with hop limit 255 are valid.
                let mut sent = None;
                if r.hop_limit == Some(255) && ns_target(msg) == Some(vip6) {
                    let src = *r.src.ip();
                    let (to, solicited) = if src.is_unspecified() {
                        ("ff02::1".parse()?, false)
                    } else {
                        (src, true)
                    };
                    let na = neighbor_advert(vip6, mac, solicited, false);
                    // From the VIP, as Linux answers for its own addresses.
                    ndp.send_from(Some(vip6), to, &na).await?;
                    sent = Some((to, na, at.elapsed().as_secs_f64() * 1e6));
                }
                println!("ns-rx src={} dst={} hop_limit={} truncated={} hex={}",
                    r.src.ip(),
                    r.dst.map_or("-".into(), |d| d.to_string()),
                    r.hop_limit.map_or("-".into(), |h| h.to_string()),
                    r.truncated, hex(msg));
                if let Some((to, na, loop_us)) = sent {
                    println!("na-tx to={to} loop_us={loop_us:.1} hex={}", hex(&na));
                }
            }
            event = links.next_event() => {
                let event = event?;
                let at_ns = wall_ns();
                if links.overruns() != overruns {
                    overruns = links.overruns();
                    println!("netlink-overrun total={overruns}");
                }
                let kind = if matches!(event, l2::linux::LinkEvent::Removed(_)) { "removed" } else { "updated" };
                println!("link-event {} health_lost={} kind={kind} at_ns={at_ns}",
                    describe(event.state()), event.health_lost());
            }
            _ = usr1.recv() => {
                const BCAST: [u8; 6] = [0xff; 6];
                // Gratuitous ARP: request and reply, sender = target = VIP.
                let req = arp_frame(BCAST, mac, 1, mac, vip4, [0; 6], vip4);
                arp.send(&req).await?;
                let rep = arp_frame(BCAST, mac, 2, mac, vip4, BCAST, vip4);
                arp.send(&rep).await?;
                println!("garp-tx");
                let una = neighbor_advert(vip6, mac, false, true);
                ndp.send("ff02::1".parse()?, &una).await?;
                println!("una-tx");
            }
            _ = usr2.recv() => {
                ndp.leave(vip6)?;
                println!("left groups={:?}", ndp.groups().collect::<Vec<_>>());
            }
            _ = term.recv() => {
                println!("bye");
                return Ok(());
            }
        }
    }
}
