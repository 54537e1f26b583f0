//! The on-disk layout: every tree, every key and every value format. This is the one place that
//! says it; [`trees`] and [`keys`] are the only code that names trees or builds keys.
//!
//! # Keys
//!
//! A key is a sequence of *components*, each written as its length (`u32`, big-endian) followed
//! by its bytes. Length prefixes make every key unambiguous whatever the bytes are (an upstream
//! name is a free-form string), and a prefix built from whole components only matches keys whose
//! leading components are exactly those: the prefix for repository `a` never matches `a/b`.
//! Sequence numbers and layer indexes are components of fixed width, big-endian, so keys sort
//! numerically.
//!
//! `pinkey` below is the three components `upstream`, `repository`, `tag`.
//! A `referrer` in the `referrers` key is the referrer manifest's digest.
//!
//! | tree                | key                                      | value                                  |
//! |---------------------|------------------------------------------|----------------------------------------|
//! | `meta`              | `schema_version` (raw bytes)             | `u32` big-endian ([`crate::SCHEMA_VERSION`]) |
//! | `meta`              | `audit_head` (raw bytes)                 | `{"v":1,"seq":N,"hash":"<hex>"}`       |
//! | `pins`              | `pinkey`                                 | [`crate::Pin`], versioned JSON         |
//! | `signatures`        | `subject`, `signature_manifest`, `layer_index` (`u32` BE) | [`crate::SignatureRecord`], versioned JSON (evidence base64) |
//! | `sig_tags`          | `pinkey` (of the `.sig` tag)             | `{"v":1,"layers":[digest…]}`           |
//! | `signature_manifests` | `upstream`, `repository`, `manifest`, `subject` | `{"v":1,"layers":[digest…]}` ([`crate::SignedSubject`]) |
//! | `index_children`    | `index`                                  | `{"v":1,"children":[digest…]}`         |
//! | `index_parents`     | `child`, `index`                         | empty: the key is the fact             |
//! | `blob_owners`       | `blob`, `manifest`                       | `{"v":1,"kind":"image"}` or `{"v":1,"kind":"signature"}` ([`crate::ManifestKind`]) |
//! | `referrers`         | `upstream`, `repository`, `subject`, `referrer` | [`crate::Referrer`], versioned JSON (below) |
//! | `pending`           | `pinkey`                                 | [`crate::PendingTag`], versioned JSON  |
//! | `pending_by_digest` | `digest`, `pinkey`                       | empty: the key is the fact             |
//! | `revocations`       | `key`, `fingerprint`; or `cert`, `issuer`, `serial` | [`crate::StoredRevocation`], versioned JSON (below) |
//! | `audit`             | `seq` (`u64` BE, from 1)                 | `{"v":1,"seq":N,"prev_hash":"<hex>","hash":"<hex>","event":{"v":1,…}}` |
//! | `fleet`             | `generation` (raw bytes)                 | `u64` big-endian: the fleet's trust generation |
//! | `drift_reports`     | `pinkey`, `digest` (the tag moved to)    | empty: the key is the fact             |
//! | `replicas`          | `id`                                     | [`crate::ReplicaInfo`], versioned JSON |
//! | `tag_leases`        | `pinkey`                                 | `{"v":1,"holder":"…","expires_at_ms":N}`: who is writing the tag |
//!
//! `index_parents` and `pending_by_digest` are reverse indexes of `index_children` and `pending`;
//! they are written in the same transaction as the record they index and carry no value of
//! their own. Their layout (being only keys) is covered by [`crate::SCHEMA_VERSION`].
//!
//! `blob_owners` and `referrers` hold facts about content-addressed manifests, recorded as
//! manifests pass through (pushed or pulled): which manifests list a blob (for blob gating)
//! and which manifests name another as their `subject` (sealgate answers the referrers API
//! itself). Neither is a trust decision; the proxy decides with them. A `blob_owners` key has
//! the blob first, so "who lists this blob" is one prefix scan. A `referrers` key is scoped to
//! the upstream and repository the referrer was seen in: the referrers API is per repository,
//! and the whole-component prefix for (`upstream`, `repository`, `subject`) never matches
//! another upstream, nor repository `a/b` when asking about `a`. A referrer is stored with the
//! field names of [`crate::Referrer`], not OCI's camelCase:
//! `{"v":1,"media_type":"…","digest":"sha256:…","size":N,"artifact_type":"…" or null,"annotations":{…}}`.
//!
//! These two trees were added without changing [`crate::SCHEMA_VERSION`] (still 1): they are
//! additive, and no existing key or value changed shape or meaning. sled creates a missing tree
//! on open, so a store written before them opens with them empty, which is the truth about it
//! (no facts recorded yet); a binary from before them opens a newer store and never reads them.
//! Bumping the version would only make that older binary refuse the store. What a downgrade
//! does cost: facts about manifests the older binary handled are missing until a manifest
//! passes through a binary that records them again.
//!
//! `signature_manifests` says which signature manifests sealgate verified itself, for which
//! subject, in which repository of which upstream, and which of their layer blobs it read while
//! doing so: the pull gate serves a signature-shaped manifest (and, with blob gating, its layer
//! blobs) only when it finds it here for an admitted subject. The key starts with the upstream
//! and repository because the answer is per repository; `manifest` comes before `subject` so
//! that "what does this manifest sign here" is one prefix scan. It was added the same way as the
//! trees above, without changing [`crate::SCHEMA_VERSION`]: a store written before it opens
//! with it empty, which is the truth (nothing recorded yet). The proxy verifies a signature
//! manifest again, and records it, when a pull asks for it by its `.sig` tag (or it names its
//! `subject`) and that subject is admitted; until then it is not served by digest.
//!
//! `revocations` holds the revocations made at runtime (the admin API); the proxy merges them
//! with the configuration's. A key starts with a *kind* component, `key` or `cert`, followed by
//! the fingerprint, or by the issuer DN and the serial, each a component of its own: a
//! fingerprint can never be read as an issuer, nor issuer `a` with serial `bc` as issuer `ab`
//! with serial `c`. The store keeps what it is given (normalising a serial is the caller's
//! job). One signer has at most one record: recording it again replaces the reason, time and
//! author. The value has the field names of [`crate::StoredRevocation`] and serde's default
//! (externally tagged) shape for [`crate::RevokedSigner`]:
//! `{"v":1,"signer":{"Key":{"fingerprint":"sha256:…"}},"reason":"…","at":N,"by":"…" or null}` or
//! `{"v":1,"signer":{"Cert":{"issuer":"CN=…","serial":"1a2b"}},"reason":"…","at":N,"by":…}`;
//! the signer in the value must match the key.
//!
//! `revocations` was added the same way, without changing [`crate::SCHEMA_VERSION`], for the
//! same reasons: it is additive, and a store written before it opens with it empty, which is
//! the truth (nothing revoked at runtime yet). Its downgrade cost is of another kind, though:
//! a binary from before it never reads the tree, so it does not enforce the revocations made
//! at runtime, and it admits what they revoke until they are also written into the
//! configuration. Before downgrading past it, copy them there.
//!
//! `fleet`, `drift_reports` and `replicas` are what several replicas on one store share beyond
//! the pins and the audit log. `fleet/generation` counts trust changes (a runtime revocation,
//! a reload) made on any replica: it moves in the transaction that records the change, so a
//! replica that reads a new number knows its verdicts of the old trust are stale. A
//! `drift_reports` key says the tag's upstream was seen moved to that digest and that was
//! audited: the first replica to write it reports the drift, the others find it. `replicas`
//! holds each replica's last heartbeat (what it runs with), by its id. They were added like the
//! trees above, without changing [`crate::SCHEMA_VERSION`]: a store written before them opens
//! with them empty (generation 0, nothing reported, no replica registered), and a binary from
//! before them never reads them. They are trees of their own rather than `meta` keys for that
//! reason: an older binary's record check refuses a `meta` key it does not know.
//!
//! `tag_leases` extends the per-process tag lock to the fleet: a replica holds a tag's lease
//! from reading its pin to writing it (and forwarding the push upstream in between), so two
//! replicas never both forward a push to one tag. A lease names its holder and expires, so a
//! replica killed while holding one blocks that tag only until then. Added like `fleet`.
//!
//! # Values
//!
//! Every record is a JSON object whose `"v"` field is the version of that record type (all are 1
//! today). A reader checks `"v"` first: a version it does not know is
//! [`crate::StorageError::RecordVersion`] (a newer sealgate wrote it), never a guess. Adding a
//! version means keeping a decoder for every older one, so that a newer binary reads an older
//! store; the golden-bytes tests in `codec` fail if a v1 record stops decoding.
//! [`crate::SCHEMA_VERSION`] changes only when the layout of existing data changes (a key shape,
//! a tree's meaning).
//!
//! # Audit chain
//!
//! `hash(seq) = sha256(hash(seq - 1) ‖ seq as u64 big-endian ‖ event bytes)`, where `hash(0)` is
//! 32 zero bytes and *event bytes* are the exact bytes of the `"event"` object as stored (the
//! event's versioned JSON, written once at append time and never re-serialised, so a later
//! change to the event type cannot change the hash of an old record). `meta/audit_head` holds
//! the last `seq` and `hash`; it is written in the same transaction as the record it points at.

/// Names of the sled trees. Every tree the store uses is listed here and nowhere else.
pub mod trees {
    /// Store-wide metadata: the schema version and the audit head.
    pub const META: &str = "meta";
    /// Tag pins, by upstream, repository and tag.
    pub const PINS: &str = "pins";
    /// Signature facts, by subject digest, signature manifest and layer index.
    pub const SIGNATURES: &str = "signatures";
    /// Layer digests last accepted for a cosign `.sig` tag.
    pub const SIG_TAGS: &str = "sig_tags";
    /// Signature manifests sealgate verified, by upstream, repository, manifest and subject.
    pub const SIGNATURE_MANIFESTS: &str = "signature_manifests";
    /// An image index's children.
    pub const INDEX_CHILDREN: &str = "index_children";
    /// Reverse of [`INDEX_CHILDREN`]: which indexes contain a child.
    pub const INDEX_PARENTS: &str = "index_parents";
    /// Which manifests list a blob (config or layer), and of what kind each manifest is.
    pub const BLOB_OWNERS: &str = "blob_owners";
    /// OCI 1.1 referrers, by upstream, repository, subject and referrer digest.
    pub const REFERRERS: &str = "referrers";
    /// Quarantined (pending) tags, by upstream, repository and tag.
    pub const PENDING: &str = "pending";
    /// Reverse of [`PENDING`]: pending tags by the digest they would point at.
    pub const PENDING_BY_DIGEST: &str = "pending_by_digest";
    /// Revocations made at runtime, by kind (`key`, `cert`) and signer.
    pub const REVOCATIONS: &str = "revocations";
    /// The hash-chained audit log, by sequence number.
    pub const AUDIT: &str = "audit";
    /// What the replicas of one store share: the fleet's trust generation.
    pub const FLEET: &str = "fleet";
    /// Drift already reported, by tag and the digest its upstream moved to.
    pub const DRIFT_REPORTS: &str = "drift_reports";
    /// The replicas running on this store, by id, with their last heartbeat.
    pub const REPLICAS: &str = "replicas";
    /// Fleet-wide tag locks: which replica is writing a tag, until when.
    pub const TAG_LEASES: &str = "tag_leases";

    /// A tree, as the backends address it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Tree {
        Meta,
        Pins,
        Signatures,
        SigTags,
        IndexChildren,
        IndexParents,
        BlobOwners,
        Referrers,
        Pending,
        PendingByDigest,
        Revocations,
        Audit,
        SignatureManifests,
        Fleet,
        DriftReports,
        Replicas,
        TagLeases,
    }

    impl Tree {
        /// Every tree, in the order the backends open them ([`Tree::index`]).
        pub(crate) const ALL: [Tree; 17] = [
            Tree::Meta,
            Tree::Pins,
            Tree::Signatures,
            Tree::SigTags,
            Tree::IndexChildren,
            Tree::IndexParents,
            Tree::BlobOwners,
            Tree::Referrers,
            Tree::Pending,
            Tree::PendingByDigest,
            Tree::Revocations,
            Tree::Audit,
            Tree::SignatureManifests,
            Tree::Fleet,
            Tree::DriftReports,
            Tree::Replicas,
            Tree::TagLeases,
        ];

        /// The tree's name on disk.
        pub(crate) const fn name(self) -> &'static str {
            match self {
                Tree::Meta => META,
                Tree::Pins => PINS,
                Tree::Signatures => SIGNATURES,
                Tree::SigTags => SIG_TAGS,
                Tree::IndexChildren => INDEX_CHILDREN,
                Tree::IndexParents => INDEX_PARENTS,
                Tree::BlobOwners => BLOB_OWNERS,
                Tree::Referrers => REFERRERS,
                Tree::Pending => PENDING,
                Tree::PendingByDigest => PENDING_BY_DIGEST,
                Tree::Revocations => REVOCATIONS,
                Tree::Audit => AUDIT,
                Tree::SignatureManifests => SIGNATURE_MANIFESTS,
                Tree::Fleet => FLEET,
                Tree::DriftReports => DRIFT_REPORTS,
                Tree::Replicas => REPLICAS,
                Tree::TagLeases => TAG_LEASES,
            }
        }

        /// Position in [`Tree::ALL`].
        pub(crate) const fn index(self) -> usize {
            self as usize
        }
    }
}

/// Key builders (and the few parsers that read keys back). Keys are never formatted inline
/// elsewhere.
pub mod keys {
    use sealgate_policies::oci::{Digest, RepoName, Tag};

    use crate::{PinKey, RevokedSigner, StorageError};

    /// Key of the schema version in [`super::trees::META`].
    pub const SCHEMA_VERSION: &[u8] = b"schema_version";

    /// Key of the audit head (last sequence number and hash) in [`super::trees::META`].
    pub const AUDIT_HEAD: &[u8] = b"audit_head";

    /// Key of the fleet's trust generation in [`super::trees::FLEET`].
    pub const FLEET_GENERATION: &[u8] = b"generation";

    /// First component of a key revocation's key in [`super::trees::REVOCATIONS`].
    pub const REVOKED_KEY: &[u8] = b"key";

    /// First component of a certificate revocation's key in [`super::trees::REVOCATIONS`].
    pub const REVOKED_CERT: &[u8] = b"cert";

    fn push(key: &mut Vec<u8>, component: &[u8]) {
        // A component longer than 4 GiB cannot reach the store: names and tags are bounded by
        // the OCI grammar and an upstream name comes from the configuration. Saturating keeps
        // this infallible; such a key would still be distinct from any other.
        let len = u32::try_from(component.len()).unwrap_or(u32::MAX);
        key.extend_from_slice(&len.to_be_bytes());
        key.extend_from_slice(component);
    }

    fn build(components: &[&[u8]]) -> Vec<u8> {
        let mut key = Vec::with_capacity(components.iter().map(|c| 4 + c.len()).sum());
        for component in components {
            push(&mut key, component);
        }
        key
    }

    /// All pins, pending tags and `.sig` tags of one upstream (a prefix of [`pin`]).
    pub fn upstream_prefix(upstream: &str) -> Vec<u8> {
        build(&[upstream.as_bytes()])
    }

    /// All pins, pending tags and `.sig` tags of one repository (a prefix of [`pin`]).
    pub fn repository_prefix(upstream: &str, repository: &RepoName) -> Vec<u8> {
        build(&[upstream.as_bytes(), repository.as_str().as_bytes()])
    }

    /// A tag: the key in [`super::trees::PINS`], [`super::trees::PENDING`] and
    /// [`super::trees::SIG_TAGS`].
    pub fn pin(key: &PinKey) -> Vec<u8> {
        build(&[
            key.upstream.as_bytes(),
            key.repository.as_str().as_bytes(),
            key.tag.as_str().as_bytes(),
        ])
    }

    /// A signature fact in [`super::trees::SIGNATURES`].
    pub fn signature(subject: &Digest, signature_manifest: &Digest, layer_index: u32) -> Vec<u8> {
        build(&[
            subject.as_str().as_bytes(),
            signature_manifest.as_str().as_bytes(),
            &layer_index.to_be_bytes(),
        ])
    }

    /// All signature facts about one subject (a prefix of [`signature`]).
    pub fn signatures_of(subject: &Digest) -> Vec<u8> {
        build(&[subject.as_str().as_bytes()])
    }

    /// "`manifest` in `repository` of `upstream` is a verified signature manifest of `subject`"
    /// in [`super::trees::SIGNATURE_MANIFESTS`].
    pub fn signature_manifest(
        upstream: &str,
        repository: &RepoName,
        manifest: &Digest,
        subject: &Digest,
    ) -> Vec<u8> {
        build(&[
            upstream.as_bytes(),
            repository.as_str().as_bytes(),
            manifest.as_str().as_bytes(),
            subject.as_str().as_bytes(),
        ])
    }

    /// Every subject `manifest` was verified for in `repository` of `upstream` (a prefix of
    /// [`signature_manifest`]).
    pub fn signature_manifest_prefix(
        upstream: &str,
        repository: &RepoName,
        manifest: &Digest,
    ) -> Vec<u8> {
        build(&[
            upstream.as_bytes(),
            repository.as_str().as_bytes(),
            manifest.as_str().as_bytes(),
        ])
    }

    /// An index's children in [`super::trees::INDEX_CHILDREN`].
    pub fn index_children(index: &Digest) -> Vec<u8> {
        build(&[index.as_str().as_bytes()])
    }

    /// "`index` contains `child`" in [`super::trees::INDEX_PARENTS`].
    pub fn index_parent(child: &Digest, index: &Digest) -> Vec<u8> {
        build(&[child.as_str().as_bytes(), index.as_str().as_bytes()])
    }

    /// All indexes containing `child` (a prefix of [`index_parent`]).
    pub fn index_parents_of(child: &Digest) -> Vec<u8> {
        build(&[child.as_str().as_bytes()])
    }

    /// "`manifest` lists `blob`" in [`super::trees::BLOB_OWNERS`].
    pub fn blob_owner(blob: &Digest, manifest: &Digest) -> Vec<u8> {
        build(&[blob.as_str().as_bytes(), manifest.as_str().as_bytes()])
    }

    /// All manifests listing `blob` (a prefix of [`blob_owner`]).
    pub fn blob_owners_of(blob: &Digest) -> Vec<u8> {
        build(&[blob.as_str().as_bytes()])
    }

    /// "`referrer` refers to `subject` in `repository` of `upstream`" in
    /// [`super::trees::REFERRERS`].
    pub fn referrer(
        upstream: &str,
        repository: &RepoName,
        subject: &Digest,
        referrer: &Digest,
    ) -> Vec<u8> {
        build(&[
            upstream.as_bytes(),
            repository.as_str().as_bytes(),
            subject.as_str().as_bytes(),
            referrer.as_str().as_bytes(),
        ])
    }

    /// All referrers of `subject` in `repository` of `upstream` (a prefix of [`referrer`]).
    pub fn referrers_of(upstream: &str, repository: &RepoName, subject: &Digest) -> Vec<u8> {
        build(&[
            upstream.as_bytes(),
            repository.as_str().as_bytes(),
            subject.as_str().as_bytes(),
        ])
    }

    /// "the pending tag `key` points at `digest`" in [`super::trees::PENDING_BY_DIGEST`].
    pub fn pending_by_digest(digest: &Digest, key: &PinKey) -> Vec<u8> {
        let mut out = build(&[digest.as_str().as_bytes()]);
        out.extend_from_slice(&pin(key));
        out
    }

    /// All pending tags pointing at `digest` (a prefix of [`pending_by_digest`]).
    pub fn pending_by_digest_prefix(digest: &Digest) -> Vec<u8> {
        build(&[digest.as_str().as_bytes()])
    }

    /// A revocation in [`super::trees::REVOCATIONS`]: [`REVOKED_KEY`] and the fingerprint, or
    /// [`REVOKED_CERT`], the issuer and the serial.
    pub fn revocation(signer: &RevokedSigner) -> Vec<u8> {
        match signer {
            RevokedSigner::Key { fingerprint } => build(&[REVOKED_KEY, fingerprint.as_bytes()]),
            RevokedSigner::Cert { issuer, serial } => {
                build(&[REVOKED_CERT, issuer.as_bytes(), serial.as_bytes()])
            }
        }
    }

    /// An audit record in [`super::trees::AUDIT`]: the sequence number, big-endian.
    pub fn audit(seq: u64) -> [u8; 8] {
        seq.to_be_bytes()
    }

    /// "`key`'s upstream tag was seen moved to `digest`, and reported" in
    /// [`super::trees::DRIFT_REPORTS`].
    pub fn drift_report(key: &PinKey, digest: &Digest) -> Vec<u8> {
        build(&[
            key.upstream.as_bytes(),
            key.repository.as_str().as_bytes(),
            key.tag.as_str().as_bytes(),
            digest.as_str().as_bytes(),
        ])
    }

    /// A replica in [`super::trees::REPLICAS`].
    pub fn replica(id: &str) -> Vec<u8> {
        build(&[id.as_bytes()])
    }

    /// Splits a key into its components; `None` if the bytes are not a well-formed key.
    pub(crate) fn split(mut key: &[u8]) -> Option<Vec<&[u8]>> {
        let mut components = Vec::new();
        while !key.is_empty() {
            let (len, rest) = key.split_first_chunk::<4>()?;
            let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
            if rest.len() < len {
                return None;
            }
            let (component, rest) = rest.split_at(len);
            components.push(component);
            key = rest;
        }
        Some(components)
    }

    fn corrupt(tree: &'static str, what: impl Into<String>) -> StorageError {
        StorageError::Corrupt {
            tree,
            what: what.into(),
        }
    }

    fn text<'a>(tree: &'static str, component: &'a [u8]) -> Result<&'a str, StorageError> {
        std::str::from_utf8(component).map_err(|_| corrupt(tree, "a key component is not UTF-8"))
    }

    fn parse<T: std::str::FromStr>(tree: &'static str, component: &[u8]) -> Result<T, StorageError>
    where
        T::Err: std::fmt::Display,
    {
        text(tree, component)?
            .parse()
            .map_err(|e: T::Err| corrupt(tree, format!("key component: {e}")))
    }

    fn pin_key_from(tree: &'static str, parts: &[&[u8]]) -> Result<PinKey, StorageError> {
        let [upstream, repository, tag] = parts else {
            return Err(corrupt(
                tree,
                format!("a tag key has {} components, expected 3", parts.len()),
            ));
        };
        Ok(PinKey {
            upstream: text(tree, upstream)?.to_owned(),
            repository: parse::<RepoName>(tree, repository)?,
            tag: parse::<Tag>(tree, tag)?,
        })
    }

    /// Reads back a key built by [`pin`].
    pub(crate) fn parse_pin(tree: &'static str, key: &[u8]) -> Result<PinKey, StorageError> {
        let parts = split(key).ok_or_else(|| corrupt(tree, "malformed key"))?;
        pin_key_from(tree, &parts)
    }

    /// Reads back a key built by [`signature`].
    pub(crate) fn parse_signature(
        tree: &'static str,
        key: &[u8],
    ) -> Result<(Digest, Digest, u32), StorageError> {
        let parts = split(key).ok_or_else(|| corrupt(tree, "malformed key"))?;
        let [subject, manifest, index] = parts.as_slice() else {
            return Err(corrupt(tree, "a signature key needs 3 components"));
        };
        let index: [u8; 4] = (*index)
            .try_into()
            .map_err(|_| corrupt(tree, "layer index is not 4 bytes"))?;
        Ok((
            parse(tree, subject)?,
            parse(tree, manifest)?,
            u32::from_be_bytes(index),
        ))
    }

    /// Reads back a key of one digest ([`index_children`]).
    pub(crate) fn parse_digest(tree: &'static str, key: &[u8]) -> Result<Digest, StorageError> {
        let parts = split(key).ok_or_else(|| corrupt(tree, "malformed key"))?;
        let [digest] = parts.as_slice() else {
            return Err(corrupt(tree, "expected one digest component"));
        };
        parse(tree, digest)
    }

    fn parse_digest_pair(
        tree: &'static str,
        key: &[u8],
        what: &str,
    ) -> Result<(Digest, Digest), StorageError> {
        let parts = split(key).ok_or_else(|| corrupt(tree, "malformed key"))?;
        let [first, second] = parts.as_slice() else {
            return Err(corrupt(tree, format!("{what} key needs 2 components")));
        };
        Ok((parse(tree, first)?, parse(tree, second)?))
    }

    /// Reads back a key built by [`index_parent`]: `(child, index)`.
    pub(crate) fn parse_index_parent(
        tree: &'static str,
        key: &[u8],
    ) -> Result<(Digest, Digest), StorageError> {
        parse_digest_pair(tree, key, "an index relation")
    }

    /// Reads back a key built by [`blob_owner`]: `(blob, manifest)`.
    pub(crate) fn parse_blob_owner(
        tree: &'static str,
        key: &[u8],
    ) -> Result<(Digest, Digest), StorageError> {
        parse_digest_pair(tree, key, "a blob owner")
    }

    /// A key read back by [`parse_referrer`].
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(crate) struct ReferrerKey {
        pub(crate) upstream: String,
        pub(crate) repository: RepoName,
        pub(crate) subject: Digest,
        pub(crate) referrer: Digest,
    }

    /// Reads back a key built by [`referrer`].
    pub(crate) fn parse_referrer(
        tree: &'static str,
        key: &[u8],
    ) -> Result<ReferrerKey, StorageError> {
        let parts = split(key).ok_or_else(|| corrupt(tree, "malformed key"))?;
        let [upstream, repository, subject, referrer] = parts.as_slice() else {
            return Err(corrupt(
                tree,
                format!("a referrer key has {} components, expected 4", parts.len()),
            ));
        };
        Ok(ReferrerKey {
            upstream: text(tree, upstream)?.to_owned(),
            repository: parse(tree, repository)?,
            subject: parse(tree, subject)?,
            referrer: parse(tree, referrer)?,
        })
    }

    /// A key read back by [`parse_signature_manifest`].
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(crate) struct SignatureManifestKey {
        pub(crate) upstream: String,
        pub(crate) repository: RepoName,
        pub(crate) manifest: Digest,
        pub(crate) subject: Digest,
    }

    /// Reads back a key built by [`signature_manifest`].
    pub(crate) fn parse_signature_manifest(
        tree: &'static str,
        key: &[u8],
    ) -> Result<SignatureManifestKey, StorageError> {
        let parts = split(key).ok_or_else(|| corrupt(tree, "malformed key"))?;
        let [upstream, repository, manifest, subject] = parts.as_slice() else {
            return Err(corrupt(
                tree,
                format!(
                    "a signature manifest key has {} components, expected 4",
                    parts.len()
                ),
            ));
        };
        Ok(SignatureManifestKey {
            upstream: text(tree, upstream)?.to_owned(),
            repository: parse(tree, repository)?,
            manifest: parse(tree, manifest)?,
            subject: parse(tree, subject)?,
        })
    }

    /// Reads back a key built by [`pending_by_digest`].
    pub(crate) fn parse_pending_by_digest(
        tree: &'static str,
        key: &[u8],
    ) -> Result<(Digest, PinKey), StorageError> {
        let parts = split(key).ok_or_else(|| corrupt(tree, "malformed key"))?;
        let Some((digest, rest)) = parts.split_first() else {
            return Err(corrupt(tree, "empty key"));
        };
        Ok((parse(tree, digest)?, pin_key_from(tree, rest)?))
    }

    /// Reads back a key built by [`revocation`].
    pub(crate) fn parse_revocation(
        tree: &'static str,
        key: &[u8],
    ) -> Result<RevokedSigner, StorageError> {
        let parts = split(key).ok_or_else(|| corrupt(tree, "malformed key"))?;
        match parts.as_slice() {
            [kind, fingerprint] if *kind == REVOKED_KEY => Ok(RevokedSigner::Key {
                fingerprint: text(tree, fingerprint)?.to_owned(),
            }),
            [kind, issuer, serial] if *kind == REVOKED_CERT => Ok(RevokedSigner::Cert {
                issuer: text(tree, issuer)?.to_owned(),
                serial: text(tree, serial)?.to_owned(),
            }),
            [kind, ..] if *kind == REVOKED_KEY || *kind == REVOKED_CERT => Err(corrupt(
                tree,
                format!(
                    "a {} revocation key has {} components",
                    String::from_utf8_lossy(kind),
                    parts.len()
                ),
            )),
            [kind, ..] => Err(corrupt(
                tree,
                format!(
                    "unknown revocation kind {:?}",
                    String::from_utf8_lossy(kind)
                ),
            )),
            [] => Err(corrupt(tree, "empty key")),
        }
    }

    /// Reads back a key built by [`drift_report`].
    pub(crate) fn parse_drift_report(
        tree: &'static str,
        key: &[u8],
    ) -> Result<(PinKey, Digest), StorageError> {
        let parts = split(key).ok_or_else(|| corrupt(tree, "malformed key"))?;
        let Some((digest, tag)) = parts.split_last() else {
            return Err(corrupt(tree, "empty key"));
        };
        Ok((pin_key_from(tree, tag)?, parse(tree, digest)?))
    }

    /// Reads back a key built by [`replica`].
    pub(crate) fn parse_replica(tree: &'static str, key: &[u8]) -> Result<String, StorageError> {
        let parts = split(key).ok_or_else(|| corrupt(tree, "malformed key"))?;
        let [id] = parts.as_slice() else {
            return Err(corrupt(
                tree,
                format!("a replica key has {} components, expected 1", parts.len()),
            ));
        };
        Ok(text(tree, id)?.to_owned())
    }

    /// Reads back a key built by [`audit`].
    pub(crate) fn parse_audit(key: &[u8]) -> Option<u64> {
        Some(u64::from_be_bytes(key.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests;
