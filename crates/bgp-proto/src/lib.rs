//! BGP-4 wire codec for oxlb.
#![forbid(unsafe_code)]
