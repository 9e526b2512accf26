//! `LinkWatcher`: the kernel's links, addresses and carrier, over rtnetlink.
//!
//! One NETLINK_ROUTE socket subscribed to RTMGRP_LINK | RTMGRP_IPV4_IFADDR |
//! RTMGRP_IPV6_IFADDR *before* the initial dump, so no change between the
//! dump and the first event is lost (a change seen in both is applied twice,
//! and the second application is no event). Carrier changes arrive as
//! RTM_NEWLINK with `IFF_LOWER_UP` flipped: pushed by the kernel, not polled.
//!
//! Latency of carrier events: the kernel's linkwatch delivers a carrier
//! change at once for "urgent" devices (veth, VLAN, bond ports: anything
//! whose iflink differs from its ifindex) and, for a plain NIC, at once for
//! the first change in a quiet second but up to 1 s later for further
//! changes within that second (`linkwatch_nextevent`). Admin down
//! (`ip link set X down`) is reported immediately in every case.
//!
//! Crates: rtnetlink 0.24 + netlink-packet-route 0.34 (pinned exactly: both
//! break their API every few releases). A hand-rolled parser of ifinfomsg/
//! ifaddrmsg would be ~200 lines smaller in dependencies, but the typed
//! messages are fuzzed upstream and cover every attribute we read.
//!
//! Lost messages: when the socket's receive buffer overflows the kernel
//! drops notifications and reports ENOBUFS (netlink-proto forwards it as
//! an Overrun); the watcher then dumps again and reports the differences.

use std::collections::VecDeque;
use std::fmt;
use std::io;

use futures::channel::mpsc::UnboundedReceiver;
use futures::StreamExt;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{AsyncSocket, SocketAddr};
use rtnetlink::constants::{RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR, RTMGRP_LINK};
use rtnetlink::Handle;
use tokio::task::JoinHandle;

use super::link::{LinkEvent, LinkTable};

/// Receive buffer of the notification socket: room for a burst of a few
/// thousand link/address messages (a VLAN-heavy host coming up).
const NETLINK_RCVBUF: usize = 4 << 20;

#[derive(Debug)]
pub enum LinkError {
    /// Opening or binding the NETLINK_ROUTE socket failed.
    Open {
        step: &'static str,
        source: io::Error,
    },
    /// A dump request failed.
    Dump {
        what: &'static str,
        source: rtnetlink::Error,
    },
    /// The netlink connection task ended.
    Closed,
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::Open { step, source } => write!(f, "netlink socket: {step}: {source}"),
            LinkError::Dump { what, source } => write!(f, "netlink dump of {what}: {source}"),
            LinkError::Closed => f.write_str("netlink socket: the connection task ended"),
        }
    }
}

impl std::error::Error for LinkError {}

type Notifications = UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>;

/// Dumps links and addresses at start, then streams [`LinkEvent`]s.
pub struct LinkWatcher {
    table: LinkTable,
    handle: Handle,
    notifications: Notifications,
    pending: VecDeque<LinkEvent>,
    connection: JoinHandle<()>,
    overruns: u64,
}

impl Drop for LinkWatcher {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

impl LinkWatcher {
    /// Subscribe, then dump. Needs a tokio runtime; no privilege (any
    /// process may read its namespace's links).
    pub async fn start() -> Result<Self, LinkError> {
        Self::start_with_rcvbuf(NETLINK_RCVBUF).await
    }

    /// As [`start`](Self::start) with a chosen socket receive buffer (the
    /// kernel doubles it and applies its minimum); a small one lets a test
    /// force lost messages and the resync.
    pub async fn start_with_rcvbuf(rcvbuf: usize) -> Result<Self, LinkError> {
        let (mut conn, handle, notifications) =
            rtnetlink::new_connection().map_err(|source| LinkError::Open {
                step: "socket(AF_NETLINK, NETLINK_ROUTE)",
                source,
            })?;
        let socket = conn.socket_mut().socket_mut();
        socket
            .set_rx_buf_sz(rcvbuf)
            .map_err(|source| LinkError::Open {
                step: "SO_RCVBUF",
                source,
            })?;
        let groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
        socket
            .bind(&SocketAddr::new(0, groups))
            .map_err(|source| LinkError::Open {
                step: "bind to RTMGRP_LINK|RTMGRP_IPV4_IFADDR|RTMGRP_IPV6_IFADDR",
                source,
            })?;
        let connection = tokio::spawn(conn);
        let mut watcher = LinkWatcher {
            table: LinkTable::new(),
            handle,
            notifications,
            pending: VecDeque::new(),
            connection,
            overruns: 0,
        };
        watcher.table = watcher.dump().await?;
        Ok(watcher)
    }

    /// How many times notifications were lost (ENOBUFS) and the watcher
    /// dumped again.
    pub fn overruns(&self) -> u64 {
        self.overruns
    }

    /// The links as last reported.
    pub fn table(&self) -> &LinkTable {
        &self.table
    }

    /// The next change. Cancel-safe: a message taken from the socket is
    /// applied to the table before any await point.
    pub async fn next_event(&mut self) -> Result<LinkEvent, LinkError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(event);
            }
            let (msg, _) = self.notifications.next().await.ok_or(LinkError::Closed)?;
            match msg.payload {
                NetlinkPayload::InnerMessage(m) => {
                    if let Some(event) = self.table.apply(&m) {
                        return Ok(event);
                    }
                }
                NetlinkPayload::Overrun(_) => {
                    self.overruns += 1;
                    let fresh = self.dump().await?;
                    let events = self.table.diff(&fresh);
                    self.table = fresh;
                    self.pending.extend(events);
                }
                _ => {}
            }
        }
    }

    async fn dump(&self) -> Result<LinkTable, LinkError> {
        let mut table = LinkTable::new();
        let mut links = self.handle.link().get().execute();
        while let Some(link) = links.next().await {
            let link = link.map_err(|source| LinkError::Dump {
                what: "links",
                source,
            })?;
            table.apply(&RouteNetlinkMessage::NewLink(link));
        }
        let mut addrs = self.handle.address().get().execute();
        while let Some(addr) = addrs.next().await {
            let addr = addr.map_err(|source| LinkError::Dump {
                what: "addresses",
                source,
            })?;
            table.apply(&RouteNetlinkMessage::NewAddress(addr));
        }
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real netlink, no privilege: every network namespace has `lo`.
    #[tokio::test]
    async fn the_start_dump_lists_the_loopback_interface_with_its_flags() {
        let watcher = LinkWatcher::start().await.expect("netlink dump");
        let lo = watcher.table().by_name("lo").expect("lo in the dump");
        assert!(lo.loopback && lo.up, "{lo:?}");
        assert_eq!(
            lo.arp_eligible(),
            Err(crate::linux::Ineligible::NoBroadcast),
            "lo gets no ARP responder"
        );
    }
}
