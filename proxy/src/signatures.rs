//! Reading signature material from an upstream, shared by the push gate (signatures pushed
//! through sealgate) and the pull gate (signatures found in the upstream for content that was
//! never pushed through it).

use std::collections::HashMap;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt as _;
use sealgate_policies::cosign::{
    MAX_PAYLOAD_BYTES, SIMPLE_SIGNING_MEDIA_TYPE, SignatureFailure, parse_signature_manifest,
    signature_annotation,
};
use sealgate_policies::oci::{Digest, RepoName};
use sealgate_policies::time::UnixTime;
use sealgate_policies::verdict::{Evidence, Satisfied, SignerIdentity};
use sealgate_storage::{CertFacts, SignatureFormat, SignatureRecord};

use crate::error::ProxyError;
use crate::evidence;
use crate::manifest::{BUNDLE_MEDIA_TYPES, Descriptor, ManifestShape, sha256_digest};
use crate::state::AppState;
use crate::upstream::{Buffered, Forward, Upstream};

/// Largest signature layer blob read from the upstream (bundles are a few KiB). A simple-signing
/// payload is capped lower, at [`MAX_PAYLOAD_BYTES`] (real ones are ~300 bytes).
pub const MAX_SIGNATURE_BLOB: usize = 1024 * 1024;

/// Most layers a signature manifest may list. cosign appends one layer per signature, so this is
/// room for 128 signatures of one digest; a manifest with more is refused before any blob is
/// fetched (a 4 MiB manifest can list ~20,000 layers).
pub const MAX_SIGNATURE_LAYERS: usize = 128;

/// Most blob bytes read for one signature manifest, all its distinct layer blobs together.
pub const MAX_SIGNATURE_BYTES: usize = 4 * 1024 * 1024;

/// Most bytes (signature manifests and their blobs) one pull-time discovery reads from an
/// upstream: a hostile upstream cannot make a pull hold more.
pub const MAX_DISCOVERY_BYTES: usize = 8 * 1024 * 1024;

/// Bytes sealgate may still read for signature material in one operation.
#[derive(Debug)]
pub struct Budget {
    left: usize,
    limit: usize,
}

impl Budget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self { left: limit, limit }
    }

    /// Bytes not spent yet.
    pub fn left(&self) -> usize {
        self.left
    }

    /// The budget it started with.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Spends `bytes` (all that is left, if more).
    pub fn spend(&mut self, bytes: usize) {
        self.left = self.left.saturating_sub(bytes);
    }
}

/// What a bounded read from the upstream gave.
pub enum Bounded {
    /// The whole answer (a non-success status comes with an empty body).
    Read(Buffered),
    /// The body is larger than the cap; nothing more was read.
    TooLarge,
}

/// The upstream's answer to a signature layer read, for messages.
enum BlobRead {
    Bytes(Bytes),
    Missing(StatusCode),
    TooLarge,
}

/// Every manifest media type a registry may hold, for `Accept` on sealgate's own requests.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json";

/// One repository of one upstream, as sealgate reads it on a client's behalf.
#[derive(Clone, Copy)]
pub struct Source<'a> {
    /// Shared state.
    pub state: &'a AppState,
    /// The upstream.
    pub upstream: &'a Upstream,
    /// The repository.
    pub name: &'a RepoName,
    /// The client's credentials, passed on (an upstream with its own credentials replaces them).
    pub authorization: Option<&'a HeaderValue>,
}

impl Source<'_> {
    /// Headers for a request sealgate makes: the client's credentials and one header of its own.
    pub fn headers(&self, name: header::HeaderName, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(auth) = self.authorization {
            headers.insert(header::AUTHORIZATION, auth.clone());
        }
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
        headers
    }

    /// `GET` (or `HEAD`) of `/v2/<name>/<rest>` with `headers`, read whole up to `cap` bytes.
    pub async fn get(
        &self,
        method: Method,
        rest: &str,
        headers: &HeaderMap,
        cap: usize,
    ) -> Result<Buffered, ProxyError> {
        let path = format!("/v2/{}/{rest}", self.name);
        self.state
            .upstreams
            .request_buffered(self.upstream, method, &path, headers, Bytes::new(), cap)
            .await
    }

    /// The manifest `reference` (tag or digest) with any manifest media type; `None` when the
    /// upstream does not have it. A manifest fetched by digest must hash to it.
    pub async fn manifest(&self, reference: &str) -> Result<Option<Buffered>, ProxyError> {
        let headers = self.headers(header::ACCEPT, MANIFEST_ACCEPT);
        let cap = self.state.config.max_manifest_bytes;
        let fetched = self
            .get(
                Method::GET,
                &format!("manifests/{reference}"),
                &headers,
                cap,
            )
            .await?;
        if fetched.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !fetched.status.is_success() {
            return Err(ProxyError::UpstreamBody {
                upstream: self.upstream.config.name.clone(),
                why: format!("GET manifest {reference} answered {}", fetched.status),
            });
        }
        if let Ok(digest) = reference.parse::<Digest>()
            && sha256_digest(&fetched.body) != digest
        {
            return Err(ProxyError::UpstreamBody {
                upstream: self.upstream.config.name.clone(),
                why: format!("manifest {digest} does not hash to its digest"),
            });
        }
        Ok(Some(fetched))
    }

    /// `GET /v2/<name>/<rest>`, reading at most `cap` bytes of the body: a larger one (by its
    /// `Content-Length`, or as it streams) is [`Bounded::TooLarge`] and is not read further.
    /// Answers other than 2xx come back without their body.
    pub async fn get_bounded(
        &self,
        rest: &str,
        headers: &HeaderMap,
        cap: usize,
    ) -> Result<Bounded, ProxyError> {
        let path = format!("/v2/{}/{rest}", self.name);
        let forward = Forward {
            method: Method::GET,
            path: &path,
            query: None,
            headers,
            ns: None,
        };
        let response = self
            .state
            .upstreams
            .forward(self.upstream, forward, crate::body::empty())
            .await?;
        let (parts, mut body) = response.into_parts();
        let buffered = |body: Bytes| Buffered {
            status: parts.status,
            headers: parts.headers.clone(),
            body,
        };
        if !parts.status.is_success() {
            return Ok(Bounded::Read(buffered(Bytes::new())));
        }
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > cap as u64) {
            return Ok(Bounded::TooLarge);
        }
        let mut read = bytes::BytesMut::with_capacity(
            declared.map_or(0, |n| usize::try_from(n).unwrap_or(cap)),
        );
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ProxyError::UpstreamBody {
                upstream: self.upstream.config.name.clone(),
                why: format!("{rest}: {e}"),
            })?;
            if let Ok(data) = frame.into_data() {
                if read.len() + data.len() > cap {
                    return Ok(Bounded::TooLarge);
                }
                read.extend_from_slice(&data);
            }
        }
        Ok(Bounded::Read(buffered(read.freeze())))
    }

    /// One blob, read with `cap` and checked against its digest.
    async fn signature_blob(&self, digest: &Digest, cap: usize) -> Result<BlobRead, ProxyError> {
        let headers = self.headers(header::ACCEPT, "*/*");
        let read = match self
            .get_bounded(&format!("blobs/{digest}"), &headers, cap)
            .await?
        {
            Bounded::TooLarge => return Ok(BlobRead::TooLarge),
            Bounded::Read(read) if !read.status.is_success() => {
                return Ok(BlobRead::Missing(read.status));
            }
            Bounded::Read(read) => read.body,
        };
        if sha256_digest(&read) != *digest {
            return Err(ProxyError::UpstreamBody {
                upstream: self.upstream.config.name.clone(),
                why: format!("blob {digest} does not hash to its digest"),
            });
        }
        Ok(BlobRead::Bytes(read))
    }

    /// The blobs of a signature manifest's layers that sealgate can verify (cosign payloads that
    /// carry a signature, and sigstore bundles); other layers are never fetched. Bounded before
    /// anything is fetched: at most [`MAX_SIGNATURE_LAYERS`] layers, each declaring no more than
    /// its kind's cap; then each distinct blob is fetched once, read with that cap and with what
    /// is left of `budget`, and checked against its digest. Refusals are `MANIFEST_INVALID`
    /// naming the layer (a blob the upstream does not have too); a blob that does not hash to
    /// its digest is the upstream's fault.
    pub async fn signature_blobs(
        &self,
        manifest: &ManifestShape,
        budget: &mut Budget,
    ) -> Result<SignatureBlobs, ProxyError> {
        check_layer_count(manifest)?;
        let mut wanted: Vec<(usize, Digest, usize)> = Vec::new();
        for (index, layer) in manifest.layers.iter().enumerate() {
            let Some(cap) = blob_cap(layer) else {
                continue;
            };
            // Checked before fetching: a cosign layer without a decodable signature cannot
            // verify, and its evidence says so without its payload.
            if layer.media_type == SIMPLE_SIGNING_MEDIA_TYPE
                && signature_annotation(&layer.annotations).is_err()
            {
                continue;
            }
            let digest = layer.parsed_digest(&format!("signature layer {index}"))?;
            if layer.size > cap as u64 {
                return Err(ProxyError::ManifestInvalid(format!(
                    "signature layer {index} ({digest}) declares {} bytes; a layer of type {} is at most {cap} bytes",
                    layer.size, layer.media_type
                )));
            }
            wanted.push((index, digest, cap));
        }
        let mut blobs = SignatureBlobs::default();
        for (index, digest, cap) in wanted {
            if blobs.by_digest.contains_key(&digest) {
                // Listed again: fetched once. (A bundle-sized blob listed again as a payload is
                // refused when the payload is parsed.)
                continue;
            }
            let limit = cap.min(budget.left());
            match self.signature_blob(&digest, limit).await? {
                BlobRead::Bytes(bytes) => {
                    budget.spend(bytes.len());
                    blobs.by_digest.insert(digest, bytes);
                }
                BlobRead::Missing(status) => {
                    return Err(ProxyError::ManifestInvalid(format!(
                        "signature layer {index} ({digest}) is not in the registry ({status}); upload the blob before the manifest"
                    )));
                }
                BlobRead::TooLarge if limit < cap => {
                    return Err(ProxyError::ManifestInvalid(format!(
                        "the signature layers' blobs add up to more than {} bytes; that is more than signatures need",
                        budget.limit()
                    )));
                }
                BlobRead::TooLarge => {
                    return Err(ProxyError::ManifestInvalid(format!(
                        "signature layer {index} ({digest}) is larger than {cap} bytes, the most a signature layer may be"
                    )));
                }
            }
        }
        Ok(blobs)
    }
}

/// Refuses a signature manifest with more than [`MAX_SIGNATURE_LAYERS`] layers.
pub fn check_layer_count(manifest: &ManifestShape) -> Result<(), ProxyError> {
    let layers = manifest.layers.len();
    if layers > MAX_SIGNATURE_LAYERS {
        return Err(ProxyError::ManifestInvalid(format!(
            "the signature manifest lists {layers} layers; at most {MAX_SIGNATURE_LAYERS} are accepted \
             (one per signature)"
        )));
    }
    Ok(())
}

/// The most a layer's blob may be, for layers sealgate verifies (`None` for the others, which it
/// never fetches).
fn blob_cap(layer: &Descriptor) -> Option<usize> {
    if layer.media_type == SIMPLE_SIGNING_MEDIA_TYPE {
        Some(MAX_PAYLOAD_BYTES)
    } else if BUNDLE_MEDIA_TYPES.contains(&layer.media_type.as_str()) {
        Some(MAX_SIGNATURE_BLOB)
    } else {
        None
    }
}

/// The layer blobs of a signature manifest sealgate read, each once, by digest. The bytes are
/// shared with every layer (and every piece of evidence) that uses them, never copied.
#[derive(Debug, Default)]
pub struct SignatureBlobs {
    by_digest: HashMap<Digest, Bytes>,
}

impl SignatureBlobs {
    /// The blob of `digest`, if it was read.
    pub fn get(&self, digest: &Digest) -> Option<&Bytes> {
        self.by_digest.get(digest)
    }

    /// The digests of every blob read, sorted.
    pub fn digests(&self) -> Vec<Digest> {
        let mut digests: Vec<Digest> = self.by_digest.keys().cloned().collect();
        digests.sort();
        digests
    }
}

/// The evidence one signature layer gives, and the material the index stores if it is accepted.
pub struct LayerEvidence {
    /// Index of the layer in its manifest.
    pub index: usize,
    /// The evidence.
    pub evidence: Evidence,
    /// How it reached sealgate.
    pub format: SignatureFormat,
    /// The layer's blob (shared), stored as is for a bundle.
    pub blob: Bytes,
}

/// The evidence of every layer of a signature manifest (`body`, parsed as `manifest`, layer
/// blobs read as `blobs`), skipping the layers `skip` names; `origin` names the manifest in
/// messages. Layers sealgate cannot verify (DSSE attestations) give none; malformed ones give
/// [`Evidence::Unusable`]. The blobs are shared with the evidence, not copied.
pub fn layer_evidence(
    body: &[u8],
    manifest: &ManifestShape,
    blobs: &SignatureBlobs,
    observed: UnixTime,
    origin: &str,
    skip: impl Fn(usize) -> bool,
) -> Result<Vec<LayerEvidence>, ProxyError> {
    let lookup = |d: &Digest| blobs.get(d).cloned();
    let cosign_layers = if manifest
        .layers
        .iter()
        .any(|l| l.media_type == SIMPLE_SIGNING_MEDIA_TYPE)
    {
        parse_signature_manifest(body, &lookup)
            .map_err(|e| ProxyError::ManifestInvalid(e.to_string()))?
    } else {
        Vec::new()
    };
    // One result per manifest layer, in order (other media types come back as errors).
    let mut cosign_layers: Vec<Option<_>> = cosign_layers.into_iter().map(Some).collect();
    let mut out = Vec::new();
    for (index, layer) in manifest.layers.iter().enumerate() {
        if skip(index) {
            continue;
        }
        let source = format!("{origin} layer {index}");
        let blob = layer
            .digest
            .parse::<Digest>()
            .ok()
            .and_then(|d| blobs.get(&d).cloned())
            .unwrap_or_default();
        let (evidence, format) = if layer.media_type == SIMPLE_SIGNING_MEDIA_TYPE {
            match cosign_layers.get_mut(index).and_then(Option::take) {
                Some(Ok(signature)) => (
                    Evidence::Cosign {
                        signature,
                        observed,
                        source,
                    },
                    SignatureFormat::CosignLayer,
                ),
                Some(Err(reason)) => (
                    Evidence::Unusable { reason, source },
                    SignatureFormat::CosignLayer,
                ),
                None => continue,
            }
        } else if BUNDLE_MEDIA_TYPES.contains(&layer.media_type.as_str()) {
            let evidence = if blob.is_empty() {
                Evidence::Unusable {
                    reason: SignatureFailure::PayloadMissing {
                        digest: layer.digest.clone(),
                    },
                    source,
                }
            } else {
                evidence::bundle(&blob, None, observed, source)
            };
            (evidence, SignatureFormat::SigstoreBundle)
        } else {
            continue;
        };
        out.push(LayerEvidence {
            index,
            evidence,
            format,
            blob,
        });
    }
    Ok(out)
}

/// The index record of a layer that satisfied a signer.
pub fn record_for(
    subject: &Digest,
    signature_manifest: &Digest,
    layer: &LayerEvidence,
    satisfied: &Satisfied,
    observed: UnixTime,
) -> SignatureRecord {
    let (key_fingerprint, certificate) = match &satisfied.identity {
        SignerIdentity::Key { fingerprint } => (Some(fingerprint.to_string()), None),
        SignerIdentity::Certificate {
            subject,
            issuer,
            serial,
            not_after,
            ..
        } => (
            None,
            Some(CertFacts {
                subject: subject.clone(),
                issuer: issuer.clone(),
                serial: serial.clone(),
                not_after: not_after.as_secs(),
            }),
        ),
        _ => (None, None),
    };
    // Encoded only for layers that satisfied a signer, never for every layer offered.
    let stored = match (&layer.format, &layer.evidence) {
        (SignatureFormat::CosignLayer, Evidence::Cosign { signature, .. }) => {
            evidence::encode_cosign(signature)
        }
        (SignatureFormat::SigstoreBundle, _) => layer.blob.to_vec(),
        _ => Vec::new(),
    };
    SignatureRecord {
        subject: subject.clone(),
        format: layer.format.clone(),
        signature_manifest: signature_manifest.clone(),
        layer_index: u32::try_from(layer.index).unwrap_or(u32::MAX),
        signer: satisfied.signer.clone(),
        key_fingerprint,
        certificate,
        observed_at: observed.as_secs(),
        evidence: stored,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(layers: usize, media_type: &str, size: u64) -> ManifestShape {
        let layer = format!(
            r#"{{"mediaType":"{media_type}","digest":"sha256:{}","size":{size}}}"#,
            "a".repeat(64)
        );
        let doc = format!(
            r#"{{"schemaVersion":2,"layers":[{}]}}"#,
            vec![layer; layers].join(",")
        );
        ManifestShape::parse(doc.as_bytes()).unwrap()
    }

    #[test]
    fn r11_layer_count_is_capped() {
        assert!(
            check_layer_count(&shape(MAX_SIGNATURE_LAYERS, SIMPLE_SIGNING_MEDIA_TYPE, 1)).is_ok()
        );
        match check_layer_count(&shape(
            MAX_SIGNATURE_LAYERS + 1,
            SIMPLE_SIGNING_MEDIA_TYPE,
            1,
        )) {
            Err(ProxyError::ManifestInvalid(why)) => {
                assert!(
                    why.contains("129 layers") && why.contains("at most 128"),
                    "{why}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn r11_only_verifiable_layers_are_fetched_each_with_its_cap() {
        let layer = |media_type: &str| shape(1, media_type, 1).layers.remove(0);
        assert_eq!(
            blob_cap(&layer(SIMPLE_SIGNING_MEDIA_TYPE)),
            Some(MAX_PAYLOAD_BYTES)
        );
        for bundle in BUNDLE_MEDIA_TYPES {
            assert_eq!(blob_cap(&layer(bundle)), Some(MAX_SIGNATURE_BLOB));
        }
        for other in [
            crate::manifest::DSSE_MEDIA_TYPE,
            "application/vnd.oci.image.layer.v1.tar",
        ] {
            assert_eq!(blob_cap(&layer(other)), None, "{other}");
        }
    }

    #[test]
    fn budgets_only_go_down() {
        let mut budget = Budget::new(10);
        budget.spend(4);
        assert_eq!((budget.left(), budget.limit()), (6, 10));
        budget.spend(100);
        assert_eq!(budget.left(), 0);
    }
}
