//! Reading signature material from an upstream, shared by the push gate (signatures pushed
//! through sealgate) and the pull gate (signatures found in the upstream for content that was
//! never pushed through it).

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use sealgate_policies::bundle::SigstoreBundle;
use sealgate_policies::cosign::{
    SIMPLE_SIGNING_MEDIA_TYPE, SignatureFailure, parse_signature_manifest,
};
use sealgate_policies::oci::{Digest, RepoName};
use sealgate_policies::time::UnixTime;
use sealgate_policies::verdict::{Evidence, Satisfied, SignerIdentity};
use sealgate_storage::{CertFacts, SignatureFormat, SignatureRecord};

use crate::error::ProxyError;
use crate::evidence;
use crate::gateway::AppState;
use crate::manifest::{BUNDLE_MEDIA_TYPES, ManifestShape, sha256_digest};
use crate::upstream::{Buffered, Upstream};

/// Largest signature layer blob read from the upstream (payloads are ~300 bytes, bundles a few KiB).
pub const MAX_SIGNATURE_BLOB: usize = 1024 * 1024;

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

    /// The layers of a signature manifest, each checked against its digest.
    pub async fn signature_blobs(
        &self,
        manifest: &ManifestShape,
    ) -> Result<Vec<SignatureBlob>, ProxyError> {
        let mut blobs = Vec::with_capacity(manifest.layers.len());
        for layer in &manifest.layers {
            let digest = layer.parsed_digest("layer")?;
            let headers = self.headers(header::ACCEPT, "*/*");
            let fetched = self
                .get(
                    Method::GET,
                    &format!("blobs/{digest}"),
                    &headers,
                    MAX_SIGNATURE_BLOB,
                )
                .await?;
            if !fetched.status.is_success() {
                return Err(ProxyError::ManifestInvalid(format!(
                    "signature layer {digest} is not in the registry ({}); upload the blob before the manifest",
                    fetched.status
                )));
            }
            if sha256_digest(&fetched.body) != digest {
                return Err(ProxyError::UpstreamBody {
                    upstream: self.upstream.config.name.clone(),
                    why: format!("blob {digest} does not hash to its digest"),
                });
            }
            blobs.push(SignatureBlob {
                media_type: layer.media_type.clone(),
                digest,
                bytes: fetched.body,
            });
        }
        Ok(blobs)
    }
}

/// A layer of a signature manifest, read from the upstream.
pub struct SignatureBlob {
    /// The layer's media type.
    pub media_type: String,
    /// Its digest (checked).
    pub digest: Digest,
    /// Its bytes.
    pub bytes: Bytes,
}

/// The evidence one signature layer gives, and what the index stores if it is accepted.
pub struct LayerEvidence {
    /// Index of the layer in its manifest.
    pub index: usize,
    /// The evidence.
    pub evidence: Evidence,
    /// How it reached sealgate.
    pub format: SignatureFormat,
    /// The material to store (empty when unusable).
    pub stored: Vec<u8>,
}

/// The evidence of every layer of a signature manifest (`body`, parsed as `manifest`, layers
/// read as `blobs`), skipping the layers `skip` names; `origin` names the manifest in messages. Layers sealgate cannot verify (DSSE
/// attestations) give none; malformed ones give [`Evidence::Unusable`].
pub fn layer_evidence(
    body: &[u8],
    manifest: &ManifestShape,
    blobs: &[SignatureBlob],
    observed: UnixTime,
    origin: &str,
    skip: impl Fn(usize) -> bool,
) -> Result<Vec<LayerEvidence>, ProxyError> {
    let lookup = |d: &Digest| {
        blobs
            .iter()
            .find(|b| b.digest == *d)
            .map(|b| b.bytes.to_vec())
    };
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
    for (index, blob) in blobs.iter().enumerate() {
        if skip(index) {
            continue;
        }
        let source = format!("{origin} layer {index}");
        let (evidence, format, stored) = if blob.media_type == SIMPLE_SIGNING_MEDIA_TYPE {
            match cosign_layers.get_mut(index).and_then(Option::take) {
                Some(Ok(sig)) => {
                    let stored = evidence::encode_cosign(&sig);
                    (
                        Evidence::Cosign {
                            signature: sig,
                            observed,
                            source,
                        },
                        SignatureFormat::CosignLayer,
                        stored,
                    )
                }
                Some(Err(reason)) => (
                    Evidence::Unusable { reason, source },
                    SignatureFormat::CosignLayer,
                    Vec::new(),
                ),
                None => continue,
            }
        } else if BUNDLE_MEDIA_TYPES.contains(&blob.media_type.as_str()) {
            match SigstoreBundle::from_json(&blob.bytes) {
                Ok(bundle) => (
                    Evidence::Bundle {
                        bundle: Box::new(bundle),
                        artifact: None,
                        observed,
                        source,
                    },
                    SignatureFormat::SigstoreBundle,
                    blob.bytes.to_vec(),
                ),
                Err(e) => (
                    Evidence::Unusable {
                        reason: SignatureFailure::Bundle(e.to_string()),
                        source,
                    },
                    SignatureFormat::SigstoreBundle,
                    Vec::new(),
                ),
            }
        } else {
            continue;
        };
        out.push(LayerEvidence {
            index,
            evidence,
            format,
            stored,
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
    SignatureRecord {
        subject: subject.clone(),
        format: layer.format.clone(),
        signature_manifest: signature_manifest.clone(),
        layer_index: u32::try_from(layer.index).unwrap_or(u32::MAX),
        signer: satisfied.signer.clone(),
        key_fingerprint,
        certificate,
        observed_at: observed.as_secs(),
        evidence: layer.stored.clone(),
    }
}
