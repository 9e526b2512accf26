//! Hostile and malformed frames: each is rejected with an error naming
//! the field at fault. Most start from a captured frame (golden/) and
//! change one thing; NDP frames get their checksum recomputed so that the
//! rule under test, not the checksum, rejects them.

use std::net::Ipv6Addr;
use std::path::Path;

use l2::wire::ipv6::icmpv6_checksum;
use l2::wire::{ArpPacket, NdpPacket, WireError};

fn golden(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

const ICMP: usize = 14 + 40;

/// Recomputes the ICMPv6 checksum of an Ethernet/IPv6 frame in place.
fn fix_checksum(frame: &mut [u8]) {
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&frame[22..38]).unwrap());
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&frame[38..54]).unwrap());
    let plen = usize::from(u16::from_be_bytes([frame[18], frame[19]]));
    frame[ICMP + 2..ICMP + 4].fill(0);
    let sum = icmpv6_checksum(&src, &dst, &frame[ICMP..ICMP + plen]);
    frame[ICMP + 2..ICMP + 4].copy_from_slice(&sum.to_be_bytes());
}

fn ndp_err(frame: &[u8]) -> WireError {
    match NdpPacket::parse_frame(frame) {
        Err(e) => e,
        Ok(p) => panic!("accepted: {p:?}"),
    }
}

fn arp_err(frame: &[u8]) -> WireError {
    match ArpPacket::parse_frame(frame) {
        Err(e) => e,
        Ok(p) => panic!("accepted: {p:?}"),
    }
}

#[test]
fn arp_request_cut_inside_the_target_address_is_truncated() {
    let f = golden("arp_request.bin");
    let e = arp_err(&f[..40]);
    assert_eq!(
        e,
        WireError::Truncated {
            field: "arp.target_ip",
            need: 28,
            have: 26
        }
    );
}

#[test]
fn arp_with_hardware_length_8_is_rejected_at_hlen() {
    let mut f = golden("arp_request.bin");
    f[18] = 8;
    assert_eq!(arp_err(&f).field(), "arp.hlen");
}

#[test]
fn arp_with_protocol_length_16_is_rejected_at_plen() {
    let mut f = golden("arp_request.bin");
    f[19] = 16;
    assert_eq!(arp_err(&f).field(), "arp.plen");
}

#[test]
fn arp_for_a_non_ethernet_hardware_type_is_rejected_at_htype() {
    let mut f = golden("arp_request.bin");
    f[15] = 6; // IEEE 802
    assert_eq!(arp_err(&f).field(), "arp.htype");
}

#[test]
fn arp_for_a_non_ipv4_protocol_is_rejected_at_ptype() {
    let mut f = golden("arp_request.bin");
    f[16..18].copy_from_slice(&[0x86, 0xdd]);
    assert_eq!(arp_err(&f).field(), "arp.ptype");
}

#[test]
fn rarp_opcode_3_is_rejected_at_op() {
    let mut f = golden("arp_request.bin");
    f[21] = 3;
    assert_eq!(
        arp_err(&f),
        WireError::Invalid {
            field: "arp.op",
            got: 3,
            want: "1 or 2"
        }
    );
}

#[test]
fn ipv6_frame_is_not_arp() {
    assert_eq!(arp_err(&golden("ns.bin")).field(), "ether.ethertype");
}

#[test]
fn solicitation_with_hop_limit_254_was_forwarded_and_is_rejected() {
    let mut f = golden("ns.bin");
    f[21] = 254;
    // The hop limit is not in the pseudo-header: the checksum still holds.
    assert_eq!(
        ndp_err(&f),
        WireError::Invalid {
            field: "ndp.ipv6.hop_limit",
            got: 254,
            want: "255"
        }
    );
}

#[test]
fn advertisement_with_hop_limit_254_is_rejected() {
    let mut f = golden("na.bin");
    f[21] = 254;
    assert_eq!(ndp_err(&f).field(), "ndp.ipv6.hop_limit");
}

#[test]
fn raw_socket_solicitation_with_hop_limit_64_is_rejected() {
    let f = golden("ns.bin");
    let src = "fe80::ff:fe00:a".parse().unwrap();
    let dst = "ff02::1:ff00:b".parse().unwrap();
    let e = NdpPacket::parse_icmp(src, dst, 64, &f[ICMP..]).unwrap_err();
    assert_eq!(e.field(), "ndp.ipv6.hop_limit");
}

#[test]
fn option_length_zero_is_rejected_not_looped_on() {
    let mut f = golden("ns.bin");
    f[ICMP + 25] = 0;
    fix_checksum(&mut f);
    assert_eq!(
        ndp_err(&f),
        WireError::Invalid {
            field: "ndp.option.length",
            got: 0,
            want: "not 0"
        }
    );
}

#[test]
fn option_running_past_the_message_is_truncated() {
    let mut f = golden("ns.bin");
    f[ICMP + 25] = 2; // 16 octets, only 8 there
    fix_checksum(&mut f);
    assert_eq!(ndp_err(&f).field(), "ndp.option");
}

#[test]
fn source_link_layer_option_of_two_units_is_wrong_for_ethernet() {
    let mut f = golden("ns.bin");
    f[ICMP + 25] = 2;
    f.extend_from_slice(&[0; 8]);
    f[19] += 8; // payload length
    fix_checksum(&mut f);
    assert_eq!(ndp_err(&f).field(), "ndp.option.source_lla.length");
}

#[test]
fn solicitation_for_a_multicast_target_is_rejected() {
    let mut f = golden("ns.bin");
    f[ICMP + 8] = 0xff;
    fix_checksum(&mut f);
    assert_eq!(ndp_err(&f).field(), "ndp.target");
}

#[test]
fn advertisement_for_a_multicast_target_is_rejected() {
    let mut f = golden("na.bin");
    f[ICMP + 8] = 0xff;
    fix_checksum(&mut f);
    assert_eq!(ndp_err(&f).field(), "ndp.target");
}

#[test]
fn icmp_code_1_is_rejected() {
    let mut f = golden("ns.bin");
    f[ICMP + 1] = 1;
    fix_checksum(&mut f);
    assert_eq!(ndp_err(&f).field(), "ndp.icmp.code");
}

#[test]
fn solicitation_shorter_than_24_octets_is_rejected_at_icmp_length() {
    let mut f = golden("ns.bin");
    f.truncate(ICMP + 20);
    f[19] = 20;
    fix_checksum(&mut f);
    assert_eq!(ndp_err(&f).field(), "ndp.icmp.length");
}

#[test]
fn wrong_checksum_is_rejected_with_both_values() {
    let mut f = golden("ns.bin");
    f[ICMP + 3] ^= 0x01;
    let WireError::Checksum { got, want } = ndp_err(&f) else {
        panic!("not a checksum error");
    };
    assert_eq!(want, 0x4c3b);
    assert_eq!(got, 0x4c3a);
}

#[test]
fn dad_probe_with_a_source_link_layer_option_is_rejected() {
    let mut f = golden("ns.bin");
    f[22..38].fill(0); // source ::
    fix_checksum(&mut f);
    assert_eq!(ndp_err(&f).field(), "ndp.option.source_lla");
}

#[test]
fn dad_probe_to_a_unicast_destination_is_rejected() {
    let mut f = golden("ns.bin");
    f[22..38].fill(0);
    let target = f[ICMP + 8..ICMP + 24].to_vec();
    f[38..54].copy_from_slice(&target);
    fix_checksum(&mut f);
    assert_eq!(ndp_err(&f).field(), "ndp.ipv6.dst");
}

#[test]
fn solicited_advertisement_to_all_nodes_is_rejected() {
    let mut f = golden("unsolicited_na.bin");
    f[ICMP + 4] |= 0x40;
    fix_checksum(&mut f);
    assert_eq!(ndp_err(&f).field(), "ndp.flags.solicited");
}

#[test]
fn ipv6_payload_length_beyond_the_frame_is_truncated() {
    let mut f = golden("ns.bin");
    f[19] = 40;
    assert_eq!(ndp_err(&f).field(), "ipv6.payload");
}

#[test]
fn ipv4_version_in_an_ipv6_frame_is_rejected() {
    let mut f = golden("ns.bin");
    f[14] = 0x40;
    assert_eq!(ndp_err(&f).field(), "ipv6.version");
}

#[test]
fn other_icmpv6_types_and_extension_headers_are_not_ndp() {
    let mut f = golden("ns.bin");
    f[ICMP] = 128; // echo request
    fix_checksum(&mut f);
    assert_eq!(NdpPacket::parse_frame(&f), Ok(None));
    let mut f = golden("ns.bin");
    f[20] = 0; // hop-by-hop options header
    assert_eq!(NdpPacket::parse_frame(&f), Ok(None));
}

#[test]
fn errors_print_the_field_and_the_rule() {
    let mut f = golden("ns.bin");
    f[21] = 254;
    assert_eq!(ndp_err(&f).to_string(), "ndp.ipv6.hop_limit: 254 (255)");
}

#[test]
fn solicitation_from_a_multicast_source_is_rejected() {
    // Found by the responder_frame fuzzer: we answered it with a
    // Solicited NA to a multicast address, which §7.1.2 forbids.
    let mut f = golden("ns.bin");
    f[22..26].fill(0xff);
    fix_checksum(&mut f);
    assert_eq!(ndp_err(&f).field(), "ndp.ipv6.src");
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&f[22..38]).unwrap());
    let dst = "ff02::1:ff00:b".parse().unwrap();
    let e = NdpPacket::parse_icmp(src, dst, 255, &f[ICMP..]).unwrap_err();
    assert_eq!(e.field(), "ndp.ipv6.src");
}
