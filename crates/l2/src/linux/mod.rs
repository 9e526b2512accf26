//! The thin Linux driver: the only part of `l2` with sockets, tokio and a
//! clock. Byte-oriented on purpose: frames and datagrams in, frames and
//! datagrams out, link events out; decisions belong to the sans-IO core.
//!
//! | type | socket | job |
//! |---|---|---|
//! | [`LinkWatcher`] | NETLINK_ROUTE, groups LINK + IPV4/IPV6_IFADDR | links, link-local addresses, carrier, as events |
//! | [`ArpPort`] | AF_PACKET / ETH_P_ARP per interface | whole ARP Ethernet frames |
//! | [`NdpPort`] | raw ICMPv6 per interface, NS only; AF_PACKET/ETH_P_IPV6 with a BPF filter for unicast NS | NS in (with hop limit, destination), NA out, solicited-node joins |
//! | [`MemberSocket`] | UDP, port 7946 | membership datagrams |
//!
//! Privilege: `ArpPort` and `NdpPort` need CAP_NET_RAW.
//!
//! Wiring (for the core): one `LinkWatcher` per process; per eligible
//! interface (see [`LinkState::arp_eligible`], [`LinkState::ndp_eligible`])
//! one `ArpPort` and one `NdpPort`; `NdpPort::join`/`leave` per IPv6 VIP the
//! node announces there; frames from `recv` go to the responder, frames it
//! returns go to `send`/`send_from`; a `LinkEvent` whose `health_lost()` is
//! true drops the interface from the candidate set at once.
//!
//! Facts measured on Linux 6.18 (e2e/tests/32-l2-sockets.sh and by hand):
//! * carrier loss on a veth peer reaches `LinkWatcher` 4-17 ms after
//!   `ip link set down` is started (that includes starting `ip`);
//! * ndisc6 ignores a solicited NA for a global target sent from a
//!   link-local source; Linux itself answers from the target, so the
//!   responder should use `NdpPort::send_from(Some(vip), ..)`;
//! * a client's NUD probe (unicast NS to the VIP) never reaches a raw
//!   socket because the VIP is not local: `nud.rs` reads it from the wire;
//! * a Linux bridge with MLD snooping floods every group until a querier
//!   exists, so snooping alone proves nothing about the join; with a
//!   querier the solicited-node join is what lets the NS through;
//! * one socket can join 2,340 distinct groups at the default
//!   `net.core.optmem_max` (131072) before ENOMEM;
//! * a socket bound to ETH_P_ARP never receives outgoing frames
//!   (`PACKET_IGNORE_OUTGOING` is set anyway, see `arp.rs`).
//!
//! `unsafe` is confined to `sys.rs`: one function per call socket2 lacks
//! (`PACKET_IGNORE_OUTGOING`/`IPV6_RECVPKTINFO`, `ICMP6_FILTER`, the
//! `sockaddr_ll` for bind, `recvmsg` into initialised buffers, tokio's
//! `AsyncFd::register`).

mod arp;
mod link;
mod member;
mod ndp;
mod netlink;
mod nud;
mod sys;

pub use arp::{ArpPort, ARP_FRAME_MAX, ETH_P_ARP};
pub use link::{link_local_from_message, Ineligible, LinkEvent, LinkLocal, LinkState, LinkTable};
pub use member::{MemberSocket, MEMBER_PORT};
pub use ndp::{solicited_node, GroupCounts, NdpPort, NdpRecv, ND_NEIGHBOR_SOLICIT};
pub use netlink::{LinkError, LinkWatcher};
pub use nud::{icmpv6_checksum, parse_unicast_ns, UnicastNs};
pub use sys::{parse_ipv6_ancillary, Ipv6Ancillary};
