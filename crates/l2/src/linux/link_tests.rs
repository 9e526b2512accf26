use super::*;
use netlink_packet_route::address::{AddressHeaderFlags, AddressMessage};
use netlink_packet_route::AddressFamily;

const MAC: [u8; 6] = [0x02, 0, 0x5e, 0, 0x53, 0x01];

fn link_msg(index: u32, name: &str, flags: LinkFlags, master: Option<u32>) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.header.flags = flags;
    m.attributes.push(LinkAttribute::IfName(name.to_string()));
    m.attributes.push(LinkAttribute::Address(MAC.to_vec()));
    if let Some(master) = master {
        m.attributes.push(LinkAttribute::Controller(master));
    }
    m
}

fn ethernet_up() -> LinkFlags {
    LinkFlags::Up | LinkFlags::Broadcast | LinkFlags::Multicast | LinkFlags::LowerUp
}

fn addr_msg(index: u32, addr: Ipv6Addr, flags: AddressFlags) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = AddressFamily::Inet6;
    m.header.index = index;
    m.header.prefix_len = 64;
    m.header.flags = AddressHeaderFlags::from_bits_truncate(flags.bits() as u8);
    m.attributes
        .push(AddressAttribute::Address(IpAddr::V6(addr)));
    m.attributes.push(AddressAttribute::Flags(flags));
    m
}

fn ll(last: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, last)
}

fn state(flags: LinkFlags, master: Option<u32>) -> LinkState {
    LinkState::from_message(&link_msg(3, "eth0", flags, master)).expect("state")
}

#[test]
fn an_up_broadcast_ethernet_link_is_arp_eligible() {
    assert_eq!(state(ethernet_up(), None).arp_eligible(), Ok(()));
}

#[test]
fn a_down_link_is_not_eligible() {
    let s = state(LinkFlags::Broadcast, None);
    assert_eq!(s.arp_eligible(), Err(Ineligible::Down));
    assert_eq!(s.ndp_eligible(), Err(Ineligible::Down));
}

#[test]
fn a_link_without_broadcast_gets_no_arp_responder() {
    let s = state(LinkFlags::Up | LinkFlags::LowerUp, None);
    assert_eq!(s.arp_eligible(), Err(Ineligible::NoBroadcast));
}

#[test]
fn an_enslaved_link_is_not_eligible_and_names_its_master() {
    let s = state(ethernet_up(), Some(7));
    assert_eq!(s.arp_eligible(), Err(Ineligible::Enslaved { master: 7 }));
    assert!(s
        .arp_eligible()
        .unwrap_err()
        .to_string()
        .contains("ifindex 7"));
}

#[test]
fn a_noarp_link_is_not_eligible() {
    let s = state(ethernet_up() | LinkFlags::Noarp, None);
    assert_eq!(s.arp_eligible(), Err(Ineligible::NoArp));
}

#[test]
fn a_link_without_a_six_byte_address_is_not_eligible() {
    let mut m = link_msg(3, "tun0", ethernet_up(), None);
    m.attributes
        .retain(|a| !matches!(a, LinkAttribute::Address(_)));
    m.attributes.push(LinkAttribute::Address(vec![1, 2, 3, 4]));
    let s = LinkState::from_message(&m).expect("state");
    assert_eq!(s.mac, None);
    assert_eq!(s.arp_eligible(), Err(Ineligible::NoMac));
}

#[test]
fn ndp_needs_a_link_local_address_that_passed_dad() {
    let mut t = LinkTable::new();
    t.apply(&RouteNetlinkMessage::NewLink(link_msg(
        3,
        "eth0",
        ethernet_up(),
        None,
    )));
    assert_eq!(
        t.get(3).unwrap().ndp_eligible(),
        Err(Ineligible::NoUsableLinkLocal)
    );

    t.apply(&RouteNetlinkMessage::NewAddress(addr_msg(
        3,
        ll(1),
        AddressFlags::Tentative,
    )));
    assert_eq!(
        t.get(3).unwrap().ndp_eligible(),
        Err(Ineligible::NoUsableLinkLocal)
    );

    t.apply(&RouteNetlinkMessage::NewAddress(addr_msg(
        3,
        ll(1),
        AddressFlags::Permanent,
    )));
    assert_eq!(t.get(3).unwrap().ndp_eligible(), Ok(()));
    assert_eq!(t.get(3).unwrap().usable_link_local(), Some(ll(1)));

    t.apply(&RouteNetlinkMessage::NewAddress(addr_msg(
        3,
        ll(1),
        AddressFlags::Dadfailed | AddressFlags::Tentative,
    )));
    assert_eq!(
        t.get(3).unwrap().ndp_eligible(),
        Err(Ineligible::NoUsableLinkLocal)
    );
}

#[test]
fn global_addresses_are_not_taken_for_link_local() {
    let m = addr_msg(3, "2001:db8::1".parse().unwrap(), AddressFlags::Permanent);
    assert_eq!(link_local_from_message(&m), None);
}

#[test]
fn carrier_loss_is_an_event_that_reports_health_lost() {
    let mut t = LinkTable::new();
    let first = t.apply(&RouteNetlinkMessage::NewLink(link_msg(
        3,
        "eth0",
        ethernet_up(),
        None,
    )));
    assert!(matches!(
        first,
        Some(LinkEvent::Updated { previous: None, .. })
    ));

    let no_carrier = ethernet_up() - LinkFlags::LowerUp;
    let ev = t
        .apply(&RouteNetlinkMessage::NewLink(link_msg(
            3, "eth0", no_carrier, None,
        )))
        .expect("carrier change is an event");
    assert!(ev.health_lost());
    assert!(!ev.state().lower_up);
    // Carrier loss does not change MetalLB's eligibility, only health.
    assert_eq!(ev.state().arp_eligible(), Ok(()));
    assert!(!ev.state().healthy());
}

#[test]
fn a_repeated_link_message_without_change_is_no_event() {
    let mut t = LinkTable::new();
    let msg = RouteNetlinkMessage::NewLink(link_msg(3, "eth0", ethernet_up(), None));
    assert!(t.apply(&msg).is_some());
    assert_eq!(t.apply(&msg), None);
}

#[test]
fn an_address_before_its_link_is_kept_for_it() {
    let mut t = LinkTable::new();
    assert_eq!(
        t.apply(&RouteNetlinkMessage::NewAddress(addr_msg(
            3,
            ll(9),
            AddressFlags::Permanent
        ))),
        None
    );
    t.apply(&RouteNetlinkMessage::NewLink(link_msg(
        3,
        "eth0",
        ethernet_up(),
        None,
    )));
    assert_eq!(t.get(3).unwrap().usable_link_local(), Some(ll(9)));
}

#[test]
fn removing_a_healthy_link_reports_health_lost_and_forgets_it() {
    let mut t = LinkTable::new();
    t.apply(&RouteNetlinkMessage::NewLink(link_msg(
        3,
        "eth0",
        ethernet_up(),
        None,
    )));
    let ev = t
        .apply(&RouteNetlinkMessage::DelLink(link_msg(
            3,
            "eth0",
            ethernet_up(),
            None,
        )))
        .expect("removal is an event");
    assert!(matches!(ev, LinkEvent::Removed(_)));
    assert!(ev.health_lost());
    assert!(t.get(3).is_none());
    assert!(t.by_name("eth0").is_none());
}

#[test]
fn a_deleted_link_local_address_leaves_the_link() {
    let mut t = LinkTable::new();
    t.apply(&RouteNetlinkMessage::NewLink(link_msg(
        3,
        "eth0",
        ethernet_up(),
        None,
    )));
    t.apply(&RouteNetlinkMessage::NewAddress(addr_msg(
        3,
        ll(1),
        AddressFlags::Permanent,
    )));
    let ev = t
        .apply(&RouteNetlinkMessage::DelAddress(addr_msg(
            3,
            ll(1),
            AddressFlags::Permanent,
        )))
        .expect("address removal is an event");
    assert!(ev.state().link_local.is_empty());
}

#[test]
fn a_resync_reports_only_what_changed_while_messages_were_lost() {
    let mut old = LinkTable::new();
    old.apply(&RouteNetlinkMessage::NewLink(link_msg(
        3,
        "eth0",
        ethernet_up(),
        None,
    )));
    old.apply(&RouteNetlinkMessage::NewLink(link_msg(
        4,
        "eth1",
        ethernet_up(),
        None,
    )));
    old.apply(&RouteNetlinkMessage::NewLink(link_msg(
        5,
        "eth2",
        ethernet_up(),
        None,
    )));
    let mut fresh = LinkTable::new();
    fresh.apply(&RouteNetlinkMessage::NewLink(link_msg(
        3,
        "eth0",
        ethernet_up(),
        None,
    )));
    let no_carrier = ethernet_up() - LinkFlags::LowerUp;
    fresh.apply(&RouteNetlinkMessage::NewLink(link_msg(
        4, "eth1", no_carrier, None,
    )));
    let events = old.diff(&fresh);
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events[0].health_lost() && events[0].state().ifindex == 4);
    assert!(matches!(&events[1], LinkEvent::Removed(s) if s.ifindex == 5));
}
