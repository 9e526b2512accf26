#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| l2::fuzzing::ndp_decode(data));
