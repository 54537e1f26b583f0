//! Signatures of the configured CA material, verified once per load instead of on every path.
//!
//! Every path through an intermediate re-checks the intermediate's signature by its root, and
//! every revocation check re-checks the CRL's signature: the same inputs each time. A
//! signature check is a pure function of (algorithm, key, message, signature), so its successes
//! can be remembered under a hash of all four; a failure is never remembered and anything not
//! remembered is computed. Only the (message, signature) pairs the bundle was loaded with (its
//! intermediates' and CRLs') are remembered, at most four checks per pair in all (a presented
//! chain can offer other keys that verify a watched pair; the cap keeps them from growing it).

use std::collections::HashSet;
use std::sync::RwLock;

use rustls_pki_types::{AlgorithmIdentifier, InvalidSignature, SignatureVerificationAlgorithm};
use sha2::{Digest as _, Sha256};

/// Successful checks of the signatures a bundle was loaded with.
#[derive(Default)]
pub(super) struct SignatureMemo {
    /// [`pair`] of each check worth remembering.
    watched: HashSet<[u8; 32]>,
    /// Hashes of (algorithm, key, message, signature) that verified.
    verified: RwLock<HashSet<[u8; 32]>>,
}

impl std::fmt::Debug for SignatureMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignatureMemo")
            .field("watched", &self.watched.len())
            .finish_non_exhaustive()
    }
}

impl SignatureMemo {
    /// Remembers successful checks of `signature` over `message` (a configured certificate's
    /// or CRL's signed part and signature value) from now on.
    pub(super) fn watch(&mut self, message: &[u8], signature: &[u8]) {
        self.watched.insert(pair(message, signature));
    }

    /// At most this many remembered checks: four per watched pair.
    fn capacity(&self) -> usize {
        4 * self.watched.len()
    }

    /// How many checks are remembered.
    #[cfg(test)]
    pub(super) fn remembered(&self) -> usize {
        self.verified
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// `algs`, each answering from the memo where it can.
    pub(super) fn wrap<'a>(
        &'a self,
        algs: &[&'static dyn SignatureVerificationAlgorithm],
    ) -> Vec<Remembering<'a>> {
        algs.iter()
            .map(|&inner| Remembering { inner, memo: self })
            .collect()
    }
}

impl Clone for SignatureMemo {
    fn clone(&self) -> Self {
        Self {
            watched: self.watched.clone(),
            verified: RwLock::new(
                self.verified
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone(),
            ),
        }
    }
}

/// SHA-256 of length-prefixed parts, so no two different inputs hash the same bytes.
fn hash(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

/// What a check signs: the message and the signature value.
fn pair(message: &[u8], signature: &[u8]) -> [u8; 32] {
    hash(&[message, signature])
}

/// A verification algorithm that consults and feeds a [`SignatureMemo`].
#[derive(Debug)]
pub(super) struct Remembering<'a> {
    inner: &'static dyn SignatureVerificationAlgorithm,
    memo: &'a SignatureMemo,
}

impl SignatureVerificationAlgorithm for Remembering<'_> {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        let pair = pair(message, signature);
        if !self.memo.watched.contains(&pair) {
            return self.inner.verify_signature(public_key, message, signature);
        }
        let key = hash(&[
            &pair,
            self.inner.public_key_alg_id().as_ref(),
            self.inner.signature_alg_id().as_ref(),
            public_key,
        ]);
        // A poisoned lock only means another check panicked; the set itself holds only
        // verified entries, so it is still sound to read and extend.
        let known = self
            .memo
            .verified
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key);
        if known {
            return Ok(());
        }
        self.inner
            .verify_signature(public_key, message, signature)?;
        let mut verified = self
            .memo
            .verified
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if verified.len() < self.memo.capacity() {
            verified.insert(key);
        }
        Ok(())
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        self.inner.public_key_alg_id()
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.inner.signature_alg_id()
    }

    fn fips(&self) -> bool {
        self.inner.fips()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Accepts a signature the key ends with (so several keys verify one signature, as a
    /// presented chain can arrange for ECDSA), and counts how often it is asked.
    #[derive(Debug)]
    struct Counting(AtomicUsize);

    impl SignatureVerificationAlgorithm for Counting {
        fn verify_signature(
            &self,
            public_key: &[u8],
            _message: &[u8],
            signature: &[u8],
        ) -> Result<(), InvalidSignature> {
            self.0.fetch_add(1, Ordering::SeqCst);
            public_key
                .ends_with(signature)
                .then_some(())
                .ok_or(InvalidSignature)
        }
        fn public_key_alg_id(&self) -> AlgorithmIdentifier {
            AlgorithmIdentifier::from_slice(b"test key")
        }
        fn signature_alg_id(&self) -> AlgorithmIdentifier {
            AlgorithmIdentifier::from_slice(b"test sig")
        }
    }

    #[test]
    fn only_watched_successes_are_remembered_and_only_for_their_key() {
        static ALG: Counting = Counting(AtomicUsize::new(0));
        let calls = || ALG.0.load(Ordering::SeqCst);
        let mut memo = SignatureMemo::default();
        memo.watch(b"intermediate tbs", b"K");
        let algs = memo.wrap(&[&ALG]);
        let alg = &algs[0];

        // The first check computes; the same check again is answered from the memo.
        assert!(
            alg.verify_signature(b"K", b"intermediate tbs", b"K")
                .is_ok()
        );
        assert_eq!(calls(), 1);
        assert!(
            alg.verify_signature(b"K", b"intermediate tbs", b"K")
                .is_ok()
        );
        assert_eq!(calls(), 1);

        // Another key, message or signature is computed, and a failure stays a failure.
        assert!(
            alg.verify_signature(b"X", b"intermediate tbs", b"K")
                .is_err()
        );
        assert!(
            alg.verify_signature(b"X", b"intermediate tbs", b"K")
                .is_err()
        );
        assert!(alg.verify_signature(b"K", b"other tbs", b"K").is_ok());
        assert!(alg.verify_signature(b"K", b"other tbs", b"K").is_ok());
        assert_eq!(calls(), 5);

        // Unwatched successes were not stored.
        assert_eq!(memo.verified.read().expect("lock").len(), 1);

        // Other keys that verify a watched pair are remembered only up to the cap.
        for i in 0..10u8 {
            let key = [b'0' + i, b'K'];
            assert!(
                alg.verify_signature(&key, b"intermediate tbs", b"K")
                    .is_ok()
            );
        }
        assert_eq!(memo.verified.read().expect("lock").len(), memo.capacity());
        assert_eq!(memo.capacity(), 4);
    }
}
