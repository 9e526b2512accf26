//! What a session is configured to be, and the OPEN it makes.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::graceful::{self, GracefulRestartConfig};
use super::RemoteAs;
use crate::capability::Capability;
use crate::open::Open;
use crate::types::Family;

/// What a session is configured to be. Changing any of it means a new
/// session (the speaker compares configs before replacing a peer).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SessionConfig {
    pub local_as: u32,
    pub remote_as: RemoteAs,
    pub router_id: Ipv4Addr,
    /// Hold time we propose (0: no keepalives, no hold timer).
    pub hold_time: u16,
    /// Keepalive interval; `None` means a third of the negotiated hold time.
    pub keepalive: Option<u16>,
    /// Cap of the reconnect backoff (BGPPeer `connectTime`).
    pub connect_retry_max: Duration,
    /// Never dial; only accept.
    pub passive: bool,
    /// Families we offer (MP capabilities).
    pub families: Vec<Family>,
    /// Offer RFC 8950 IPv4 NLRI over an IPv6 next hop.
    pub extended_next_hop: bool,
    /// Offer RFC 8654 extended messages.
    pub extended_message: bool,
    /// Offer RFC 4724 graceful restart with the RFC 8538 N bit (see
    /// `fsm::graceful`); `None`: no capability, every loss flushes.
    pub graceful_restart: Option<GracefulRestartConfig>,
    /// RFC 9687 send hold time; `None`: max(8 min, 2 x hold time).
    pub send_hold_time: Option<Duration>,
    /// Host name for the FQDN capability FRR shows in `show bgp neighbor`.
    pub hostname: Option<String>,
    /// Seed of the backoff jitter (derive it from the peer address so peers
    /// do not retry in lockstep; fixed in tests).
    pub jitter_seed: u64,
}

impl SessionConfig {
    /// A config with the usual defaults: 90 s hold, 120 s connect-retry cap,
    /// IPv4 and IPv6 unicast, active.
    pub fn new(local_as: u32, remote_as: RemoteAs, router_id: Ipv4Addr) -> Self {
        SessionConfig {
            local_as,
            remote_as,
            router_id,
            hold_time: 90,
            keepalive: None,
            connect_retry_max: Duration::from_secs(120),
            passive: false,
            families: vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
            extended_next_hop: false,
            extended_message: false,
            graceful_restart: None,
            send_hold_time: None,
            hostname: None,
            jitter_seed: u64::from(u32::from(router_id)) ^ u64::from(local_as) << 32,
        }
    }

    /// The OPEN we send in a session's normal life.
    pub fn open(&self) -> Open {
        self.open_with(false)
    }

    /// The OPEN we send; `restarting` sets the graceful restart
    /// capability's R bit (only when graceful restart is configured).
    pub fn open_with(&self, restarting: bool) -> Open {
        let mut caps: Vec<Capability> = self
            .families
            .iter()
            .map(|f| Capability::Multiprotocol(*f))
            .collect();
        caps.push(Capability::RouteRefresh);
        caps.push(Capability::EnhancedRouteRefresh);
        caps.push(Capability::FourOctetAs(self.local_as));
        if self.extended_message {
            caps.push(Capability::ExtendedMessage);
        }
        if self.extended_next_hop {
            caps.push(Capability::ExtendedNextHop(vec![
                crate::capability::ExtendedNextHop {
                    nlri_afi: crate::types::AFI_IPV4,
                    nlri_safi: u16::from(crate::types::SAFI_UNICAST),
                    next_hop_afi: crate::types::AFI_IPV6,
                },
            ]));
        }
        caps.extend(graceful::capability(self, restarting));
        if let Some(h) = &self.hostname {
            let mut end = h.len().min(64);
            while !h.is_char_boundary(end) {
                end -= 1;
            }
            caps.push(Capability::Fqdn {
                hostname: h[..end].to_string(),
                domain: String::new(),
            });
        }
        Open::new(self.local_as, self.hold_time, self.router_id, caps)
    }
}
