//! Fuzz target `config`: the checks of `tests/fuzz_checks/mod.rs`.
#![no_main]

#[path = "../../tests/fuzz_checks/mod.rs"]
mod checks;

#[global_allocator]
static ALLOC: checks::LimitAlloc = checks::LimitAlloc;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::run("config", data));
