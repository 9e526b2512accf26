use super::*;

const MAC: [u8; 6] = [0x02, 0, 0x5e, 0, 0x53, 0x01];

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// Ethernet + IPv6 + NS for `target`, checksum filled in.
fn ns_frame(dst_mac: [u8; 6], src: Ipv6Addr, dst: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let mut icmp = vec![135, 0, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&target.octets());
    icmp.extend_from_slice(&[1, 1, 2, 0, 0x5e, 0, 0x53, 0x02]);
    let sum = icmpv6_checksum(src, dst, &icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    let mut f = dst_mac.to_vec();
    f.extend_from_slice(&[2, 0, 0x5e, 0, 0x53, 0x02, 0x86, 0xdd]);
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    f.extend_from_slice(&[58, 255]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(&icmp);
    f
}

#[test]
fn a_unicast_ns_to_our_mac_is_accepted_with_its_addresses_and_hop_limit() {
    let (src, vip) = (v6("2001:db8:10::2"), v6("2001:db8:10::100"));
    let f = ns_frame(MAC, src, vip, vip);
    let ns = parse_unicast_ns(&f, MAC).expect("valid NS");
    assert_eq!((ns.src, ns.dst, ns.hop_limit), (src, vip, 255));
    assert_eq!(&f[ns.icmp_start..ns.icmp_start + 2], &[135, 0]);
    assert_eq!(ns.icmp_len, 32);
}

#[test]
fn a_frame_with_a_wrong_checksum_is_rejected() {
    let vip = v6("2001:db8:10::100");
    let mut f = ns_frame(MAC, v6("2001:db8:10::2"), vip, vip);
    let last = f.len() - 1;
    f[last] ^= 1;
    assert_eq!(parse_unicast_ns(&f, MAC), None);
}

#[test]
fn a_frame_for_another_mac_is_rejected() {
    let vip = v6("2001:db8:10::100");
    let f = ns_frame([2, 0, 0x5e, 0, 0x53, 0x99], v6("2001:db8:10::2"), vip, vip);
    assert_eq!(parse_unicast_ns(&f, MAC), None);
}

#[test]
fn a_multicast_ns_is_left_to_the_raw_socket() {
    let vip = v6("2001:db8:10::100");
    let f = ns_frame(MAC, v6("fe80::2"), v6("ff02::1:ff00:100"), vip);
    assert_eq!(parse_unicast_ns(&f, MAC), None);
}

#[test]
fn every_truncation_of_a_valid_frame_is_rejected_without_panic() {
    let vip = v6("2001:db8:10::100");
    let f = ns_frame(MAC, v6("2001:db8:10::2"), vip, vip);
    for cut in 0..f.len() {
        assert_eq!(parse_unicast_ns(&f[..cut], MAC), None, "cut at {cut}");
    }
}

#[test]
fn the_checksum_matches_a_frame_linux_sent() {
    // NS captured in 32-l2-sockets (checksum 0x1aee, from the kernel):
    // fe80::98ac:27ff:fe02:d804 -> ff02::1:ff00:100, target 2001:db8:10::100.
    let icmp = [
        0x87, 0x00, 0x1a, 0xee, 0, 0, 0, 0, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x10, 0, 0, 0, 0, 0, 0,
        0, 0, 0x01, 0x00, 0x01, 0x01, 0x9a, 0xac, 0x27, 0x02, 0xd8, 0x04,
    ];
    let sum = icmpv6_checksum(
        v6("fe80::98ac:27ff:fe02:d804"),
        v6("ff02::1:ff00:100"),
        &icmp,
    );
    assert_eq!(sum, 0);
}
