//! in-toto statements as a DSSE payload carries them: the one parser that decides a statement's
//! predicate and the subjects it names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealgate_policies::statement::parse_statement;

fuzz_target!(|data: &[u8]| {
    if let Ok(statement) = parse_statement(data) {
        let _ = format!("{statement:?}");
    }
});
