//! Signature evidence as the index keeps it, and back.
//!
//! The index stores facts and the raw material of each signature, never a verdict: at every
//! decision the material is decoded again and evaluated against the trust in force then.

use std::collections::BTreeMap;

use base64::Engine as _;
use sealgate_policies::bundle::SigstoreBundle;
use sealgate_policies::cosign::{CosignSignature, SignatureFailure};
use sealgate_policies::time::UnixTime;
use sealgate_policies::verdict::Evidence;
use sealgate_storage::{SignatureFormat, SignatureRecord};
use serde::{Deserialize, Serialize};

/// A cosign layer as stored: media type, exact payload bytes, annotations.
#[derive(Serialize, Deserialize)]
struct StoredLayer {
    media_type: String,
    payload: String,
    annotations: BTreeMap<String, String>,
}

/// The bytes stored for a cosign layer.
pub fn encode_cosign(sig: &CosignSignature) -> Vec<u8> {
    let mut annotations = BTreeMap::new();
    annotations.insert(
        sealgate_policies::cosign::ANNOTATION_SIGNATURE.to_owned(),
        base64::engine::general_purpose::STANDARD.encode(&sig.signature),
    );
    for (key, value) in [
        (
            sealgate_policies::cosign::ANNOTATION_CERTIFICATE,
            &sig.certificate_pem,
        ),
        (sealgate_policies::cosign::ANNOTATION_CHAIN, &sig.chain_pem),
        (
            sealgate_policies::cosign::ANNOTATION_BUNDLE,
            &sig.rekor_bundle,
        ),
    ] {
        if let Some(v) = value {
            annotations.insert(key.to_owned(), v.clone());
        }
    }
    let stored = StoredLayer {
        media_type: sig.media_type.clone(),
        payload: base64::engine::general_purpose::STANDARD.encode(&sig.payload),
        annotations,
    };
    serde_json::to_vec(&stored).unwrap_or_default()
}

/// Turns a stored record back into evidence. Material that no longer decodes is evidence of
/// nothing, and says so in the verdict.
pub fn decode(record: &SignatureRecord, artifact: Option<&[u8]>) -> Evidence {
    let source = format!(
        "{} layer {} (seen {})",
        record.signature_manifest,
        record.layer_index,
        UnixTime(record.observed_at)
    );
    let observed = UnixTime(record.observed_at);
    match record.format {
        SignatureFormat::CosignLayer => {
            let decoded = serde_json::from_slice::<StoredLayer>(&record.evidence)
                .map_err(|e| SignatureFailure::PayloadMalformed(format!("stored evidence: {e}")))
                .and_then(|stored| {
                    let payload = base64::engine::general_purpose::STANDARD
                        .decode(stored.payload.as_bytes())
                        .map_err(|_| {
                            SignatureFailure::PayloadMalformed("stored payload".to_owned())
                        })?;
                    CosignSignature::from_layer(&stored.media_type, payload, &stored.annotations)
                });
            match decoded {
                Ok(signature) => Evidence::Cosign {
                    signature,
                    observed,
                    source,
                },
                Err(reason) => Evidence::Unusable { reason, source },
            }
        }
        SignatureFormat::SigstoreBundle => bundle(&record.evidence, artifact, observed, source),
    }
}

/// A sigstore bundle (JSON) as evidence; a bundle that does not parse is evidence of nothing.
pub fn bundle(
    json: &[u8],
    artifact: Option<&[u8]>,
    observed: UnixTime,
    source: String,
) -> Evidence {
    match SigstoreBundle::from_json(json) {
        Ok(bundle) => Evidence::Bundle {
            bundle: Box::new(bundle),
            artifact: artifact.map(<[u8]>::to_vec),
            observed,
            source,
        },
        Err(e) => Evidence::Unusable {
            reason: SignatureFailure::Bundle(e.to_string()),
            source,
        },
    }
}
