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
