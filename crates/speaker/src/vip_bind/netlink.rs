//! The binder's thin driver over rtnetlink (0.24, netlink-packet-route
//! 0.34: the versions `l2` pins): create the dummy, dump addresses, add
//! and delete one address. Every decision is in `plan.rs`.

use std::net::IpAddr;

use futures_util::TryStreamExt;
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressProtocol,
};
use netlink_packet_route::link::LinkAttribute;
use rtnetlink::{Handle, LinkDummy, LinkUnspec};

use super::plan::{host_len, KernelAddr, OXLB_PROTO};

/// EEXIST, as the kernel returns it in the netlink error message.
const EEXIST: i32 = 17;
/// EOPNOTSUPP: the kernel lacks the link type.
const EOPNOTSUPP: i32 = 95;
/// ENODEV / ENOENT / EADDRNOTAVAIL: the link or address is already gone.
const GONE: [i32; 3] = [19, 2, 99];

pub struct Netlink {
    handle: Handle,
    connection: tokio::task::JoinHandle<()>,
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

/// The kernel's errno in a netlink error, positive.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

/// How one add went.
pub enum Added {
    Done,
    /// The kernel holds this address on that interface already, not with
    /// our mark (an admin's): it stays foreign.
    Exists,
}

impl Netlink {
    pub fn open() -> Result<Netlink, String> {
        let (conn, handle, _) =
            rtnetlink::new_connection().map_err(|e| format!("--bind-vips: netlink socket: {e}"))?;
        Ok(Netlink {
            handle,
            connection: tokio::spawn(conn),
        })
    }

    /// The index of interface `name`, `None` when it does not exist.
    pub async fn link_index(&self, name: &str) -> Result<Option<u32>, String> {
        let mut s = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match s.try_next().await {
            Ok(Some(m)) => Ok(Some(m.header.index)),
            Ok(None) => Ok(None),
            Err(e) if errno(&e).is_some_and(|c| GONE.contains(&c)) => Ok(None),
            Err(e) => Err(format!("--bind-vips: interface {name}: lookup: {e}")),
        }
    }

    /// Creates the dummy `name` unless it exists, and sets it up.
    pub async fn ensure_dummy(&self, name: &str) -> Result<u32, String> {
        if self.link_index(name).await?.is_none() {
            match self
                .handle
                .link()
                .add(LinkDummy::new(name).up().build())
                .execute()
                .await
            {
                Ok(()) => tracing::info!(interface = name, "created dummy interface for VIPs"),
                Err(e) if errno(&e) == Some(EEXIST) => {}
                Err(e) if errno(&e) == Some(EOPNOTSUPP) => {
                    return Err(format!("--bind-vips dummy: creating interface {name}: this kernel has no dummy driver (CONFIG_DUMMY); create {name} beforehand (an existing {name} of any type is used, e.g. `ip link add {name} type ifb`) or use --bind-vips lo"))
                }
                Err(e) => return Err(format!("--bind-vips dummy: creating interface {name}: {e}")),
            }
        }
        let index = self
            .link_index(name)
            .await?
            .ok_or_else(|| format!("--bind-vips dummy: interface {name}: gone after creation"))?;
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(|e| format!("--bind-vips: interface {name}: set up: {e}"))?;
        Ok(index)
    }

    /// Every interface's name (for the ARP sysctls).
    pub async fn link_names(&self) -> Result<Vec<String>, String> {
        let links: Vec<_> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|e| format!("--bind-vips: netlink dump of links: {e}"))?;
        Ok(links
            .iter()
            .filter_map(|m| {
                m.attributes.iter().find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some(n.clone()),
                    _ => None,
                })
            })
            .collect())
    }

    /// Every address of every interface, with our mark read.
    pub async fn addresses(&self) -> Result<Vec<KernelAddr>, String> {
        let msgs: Vec<AddressMessage> =
            self.handle
                .address()
                .get()
                .execute()
                .try_collect()
                .await
                .map_err(|e| format!("--bind-vips: netlink dump of addresses: {e}"))?;
        Ok(msgs.iter().filter_map(kernel_addr).collect())
    }

    /// Adds `ip` as a host address on `ifindex` with our mark,
    /// `noprefixroute` and, for IPv6, `nodad` (usable at once: no DAD
    /// wait, never "tentative" when the route goes out).
    pub async fn add(&self, ifindex: u32, ip: IpAddr) -> Result<Added, String> {
        let mut req = self.handle.address().add(ifindex, ip, host_len(&ip));
        let m = req.message_mut();
        let mut flags = AddressFlags::Noprefixroute;
        if ip.is_ipv6() {
            flags |= AddressFlags::Nodad;
            m.header.flags |= AddressHeaderFlags::Nodad;
        }
        m.attributes.push(AddressAttribute::Flags(flags));
        m.attributes
            .push(AddressAttribute::Protocol(AddressProtocol::Other(
                OXLB_PROTO,
            )));
        match req.execute().await {
            Ok(()) => Ok(Added::Done),
            Err(e) if errno(&e) == Some(EEXIST) => Ok(Added::Exists),
            Err(e) => Err(format!("VIP {ip}: adding to interface #{ifindex}: {e}")),
        }
    }

    /// Deletes `ip/prefix_len` from `ifindex` (already gone: done).
    pub async fn del(&self, ifindex: u32, ip: IpAddr, prefix_len: u8) -> Result<(), String> {
        let mut req = self.handle.address().add(ifindex, ip, prefix_len);
        let msg = req.message_mut().clone();
        match self.handle.address().del(msg).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e).is_some_and(|c| GONE.contains(&c)) => Ok(()),
            Err(e) => Err(format!(
                "VIP {ip}/{prefix_len}: removing from interface #{ifindex}: {e}"
            )),
        }
    }
}

fn kernel_addr(m: &AddressMessage) -> Option<KernelAddr> {
    // IPv4: IFA_LOCAL is the address itself (IFA_ADDRESS is the peer on a
    // point-to-point link); IPv6 has only IFA_ADDRESS.
    let mut local = None;
    let mut address = None;
    let mut ours = false;
    for a in &m.attributes {
        match a {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            AddressAttribute::Protocol(p) => ours = u8::from(*p) == OXLB_PROTO,
            _ => {}
        }
    }
    Some(KernelAddr {
        ifindex: m.header.index,
        ip: local.or(address)?,
        prefix_len: m.header.prefix_len,
        ours,
    })
}
