//! What admits content: the [`Admitted`] proof a verdict carries, bound to its digest, and the
//! [`PinWarrant`] a pin is made with.

use crate::config::Mode;
use crate::oci::Digest;
use crate::verdict::{Admitted, Verdict};

/// What lets a tag be pinned to a digest: the digest was admitted (an [`Admitted`] proof for
/// it), or a warn/audit scope lets it through unverified. Only this module makes one, for the
/// digest the decision was about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinWarrant {
    digest: Digest,
    admitted: Option<Admitted>,
    mode: Mode,
}

impl PinWarrant {
    pub(super) fn new(digest: &Digest, admitted: Option<Admitted>, mode: Mode) -> Self {
        Self {
            digest: digest.clone(),
            admitted,
            mode,
        }
    }

    /// The digest it lets be pinned.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The proof, when the digest was admitted (`None`: let through by warn or audit mode).
    pub fn admitted(&self) -> Option<&Admitted> {
        self.admitted.as_ref()
    }

    /// The mode of the scope that decided.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// A warrant no gate decided: `digest` let through unverified, as an audit scope would.
    /// For tests and benches of code that pins (the store's own tests, imports measured by the
    /// benches); behind the `test-util` feature, which only `[dev-dependencies]` enable, so a
    /// build of the proxy cannot call it.
    #[cfg(any(test, feature = "test-util"))]
    pub fn unverified(digest: &Digest) -> Self {
        Self::new(digest, None, Mode::Audit)
    }
}

/// The proof for `digest` from `verdict`: its own, or, when the verdict admits one of the
/// indexes recorded as listing `digest` (`parents`), the child's (a signed index admits its
/// children). Any other verdict admits nothing here.
pub(super) fn resolve_proof(
    verdict: &Verdict,
    digest: &Digest,
    parents: &[Digest],
) -> Option<Admitted> {
    let admitted = verdict.admitted()?;
    if admitted.admits(digest) {
        Some(admitted.clone())
    } else if parents.contains(admitted.digest()) {
        Some(admitted.child(digest))
    } else {
        None
    }
}

/// The names of the signers that verified.
pub(super) fn signer_names(verdict: &Verdict) -> Vec<String> {
    verdict.satisfied.iter().map(|s| s.signer.clone()).collect()
}
