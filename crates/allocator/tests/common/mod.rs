//! Helpers shared by the integration tests.
#![allow(dead_code)]

use allocator::*;
use std::net::IpAddr;

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("test IP")
}

pub fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| ip(s)).collect()
}

pub fn pool(name: &str, addresses: &[&str]) -> IpAddressPool {
    IpAddressPool::new(name, PoolSpec::new(addresses.iter().copied()))
}

pub fn pool_with(name: &str, addresses: &[&str], f: impl FnOnce(&mut PoolSpec)) -> IpAddressPool {
    let mut p = pool(name, addresses);
    f(&mut p.spec);
    p
}

pub fn pinned(name: &str, addresses: &[&str], sa: ServiceAllocation) -> IpAddressPool {
    pool_with(name, addresses, |s| s.service_allocation = Some(sa))
}

pub fn alloc(pools: &[IpAddressPool]) -> Allocator {
    Allocator::new(pools).expect("valid pools")
}

pub fn key(ns: &str, name: &str) -> ServiceKey {
    ServiceKey::new(ns, name)
}

pub fn v4(ns: &str, name: &str) -> ServiceRequest {
    ServiceRequest::new(key(ns, name), Family::V4)
}

pub fn v6(ns: &str, name: &str) -> ServiceRequest {
    ServiceRequest::new(key(ns, name), Family::V6)
}

pub fn shared(mut r: ServiceRequest, sharing_key: &str, ports: &[Port]) -> ServiceRequest {
    r.sharing_key = sharing_key.to_string();
    r.ports = ports.to_vec();
    r
}

pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The assigned addresses, panicking with the error otherwise.
pub fn got(out: &Outcome) -> Vec<IpAddr> {
    match &out.result {
        Ok(a) => a.addresses(),
        Err(e) => panic!("expected an assignment, got error: {e}"),
    }
}

pub fn err(out: &Outcome) -> AllocError {
    match &out.result {
        Ok(a) => panic!("expected an error, got {:?}", a.addresses()),
        Err(e) => e.clone(),
    }
}

pub fn reasons_of(out: &Outcome) -> Vec<&'static str> {
    out.events.iter().map(|e| e.reason).collect()
}
