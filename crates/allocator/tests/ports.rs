//! Ports as sharing checks see them, for every length the allocator
//! stores differently (none, one or two inline, more on the heap).

mod common;
use allocator::*;
use common::*;

#[test]
fn a_port_clash_is_found_whatever_the_number_of_ports_on_either_side() {
    let many: Vec<Port> = (1..=5).map(Port::tcp).collect();
    for n in 1..=5usize {
        let mut a = alloc(&[pool("p", &["10.0.0.0/30"])]);
        let first = shared(v4("ns", "first"), "k", &many[..n]);
        assert_eq!(got(&a.converge(&first, &[])), ips(&["10.0.0.0"]));
        // Same key, the last of the first's ports again: refused on that
        // address, so the next one is taken.
        let clash = shared(v4("ns", "clash"), "k", &[Port::udp(9), many[n - 1]]);
        assert_eq!(
            a.converge(&clash, &ips(&["10.0.0.0"]))
                .result
                .map(|x| x.addresses()),
            Ok(ips(&["10.0.0.1"])),
            "{n} ports"
        );
        // No common port: shares the first's address.
        let fine = shared(v4("ns", "fine"), "k", &[Port::udp(9)]);
        assert_eq!(
            got(&a.converge(&fine, &ips(&["10.0.0.0"]))),
            ips(&["10.0.0.0"]),
            "{n} ports"
        );
    }
}

#[test]
fn a_service_with_no_port_shares_with_any() {
    let mut a = alloc(&[pool("p", &["10.0.0.0/30"])]);
    let first = shared(v4("ns", "first"), "k", &[]);
    assert_eq!(got(&a.converge(&first, &[])), ips(&["10.0.0.0"]));
    let second = shared(v4("ns", "second"), "k", &[Port::tcp(80)]);
    assert_eq!(
        got(&a.converge(&second, &ips(&["10.0.0.0"]))),
        ips(&["10.0.0.0"])
    );
}
