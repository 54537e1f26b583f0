//! sealgate's benchmarks live in `benches/`: criterion micro-benches over the `policies`,
//! `storage` and routing APIs (`cargo bench -p sealgate-benches`). This library is empty on
//! purpose.
