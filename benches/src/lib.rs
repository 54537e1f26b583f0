//! sealgate's benchmarks live in `benches/`: criterion micro-benches over the `policies` API
//! (`cargo bench -p sealgate-benches`). This library is empty on purpose.
