#![no_main]

include!("../entry.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| entry::registry_answers(data));
