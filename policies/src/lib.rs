//! sealgate-policies: decides what sealgate trusts. It performs no I/O: no sockets, no disk, no
//! clock reads (time is passed in). The proxy fetches bytes and hands them here.
//!
//! For now it holds the validated OCI identifiers that both the proxy and the storage need.

pub mod crypto;
pub mod oci;
pub mod time;
