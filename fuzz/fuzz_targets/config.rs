//! The configuration loader (TOML file, validation, the objects built from it) with no
//! environment overrides: any file is either a configuration or a `ConfigError`.
#![no_main]

use std::io::Write as _;

use libfuzzer_sys::fuzz_target;
use sealgate::config::{Config, EnvSource};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Files named in the configuration are read whole; device files would never end. An
    // operator's configuration is trusted not to name them, so the fuzzer may not either.
    if ["/dev", "/proc", "/sys"].iter().any(|p| text.contains(p)) {
        return;
    }
    let Ok(mut file) = tempfile::Builder::new().suffix(".toml").tempfile() else {
        return;
    };
    if file.write_all(text.as_bytes()).is_err() {
        return;
    }
    let _ = Config::load(file.path(), &EnvSource::Map(Default::default()));
});
