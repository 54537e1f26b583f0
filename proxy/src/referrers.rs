//! `GET /v2/<name>/referrers/<digest>` (end-12), answered by sealgate: the referrers it saw
//! pushed, merged with the upstream's answer, or with the upstream's fallback tag
//! (`sha256-<hex>`) when the upstream has no referrers API (distribution 2.8). Clients get
//! referrers whatever the upstream supports.

use http::{HeaderValue, Method, Response, StatusCode, header};
use oci_spec::image::{Descriptor, ImageIndex, MediaType};
use sealgate_policies::oci::Digest;
use serde::Deserialize;

use crate::body::{ProxyBody, full};
use crate::error::ProxyError;
use crate::manifest::{OCI_INDEX, oci_digest};
use crate::signatures::Source;

/// Largest referrers index read from an upstream.
const MAX_UPSTREAM_INDEX: usize = 4 * 1024 * 1024;

/// The descriptors an upstream lists as referrers of `digest`: its referrers API when it has
/// one, else its fallback tag. Empty when it has neither.
pub async fn upstream_referrers(
    source: &Source<'_>,
    digest: &Digest,
) -> Result<Vec<Descriptor>, ProxyError> {
    let headers = source.headers(header::ACCEPT, OCI_INDEX);
    let api = source
        .get(
            Method::GET,
            &format!("referrers/{digest}"),
            &headers,
            MAX_UPSTREAM_INDEX,
        )
        .await?;
    if api.status.is_success()
        && let Some(list) = index_descriptors(&api.body)
    {
        return Ok(list);
    }
    let fallback = source
        .get(
            Method::GET,
            &format!("manifests/sha256-{}", digest.hex()),
            &headers,
            MAX_UPSTREAM_INDEX,
        )
        .await?;
    if fallback.status.is_success() {
        return Ok(index_descriptors(&fallback.body).unwrap_or_default());
    }
    Ok(Vec::new())
}

/// The `manifests` of an image index, keeping only the descriptors oci-spec reads (a media type,
/// a size) with a digest sealgate reads too: one bad entry upstream does not hide the others.
fn index_descriptors(body: &[u8]) -> Option<Vec<Descriptor>> {
    #[derive(Deserialize)]
    struct Listing {
        manifests: Vec<serde_json::Value>,
    }
    let listing: Listing = serde_json::from_slice(body).ok()?;
    Some(
        listing
            .manifests
            .into_iter()
            .filter_map(|m| serde_json::from_value::<Descriptor>(m).ok())
            .filter(|d| d.digest().as_ref().parse::<Digest>().is_ok())
            .collect(),
    )
}

/// Answers the referrers request for `digest`, filtered by `artifact_type` when given.
pub async fn list(
    source: &Source<'_>,
    digest: &Digest,
    artifact_type: Option<&str>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let ours = source
        .state
        .store
        .referrers(&source.upstream.config.name, source.name, digest)
        .await?;
    let mut descriptors: Vec<Descriptor> = ours
        .into_iter()
        .map(|referrer| {
            let mut d = Descriptor::new(
                MediaType::from(referrer.media_type.as_str()),
                referrer.size,
                oci_digest(&referrer.digest),
            );
            d.set_artifact_type(referrer.artifact_type.as_deref().map(MediaType::from));
            if !referrer.annotations.is_empty() {
                d.set_annotations(Some(referrer.annotations.into_iter().collect()));
            }
            d
        })
        .collect();
    for theirs in upstream_referrers(source, digest).await? {
        if !descriptors.iter().any(|d| d.digest() == theirs.digest()) {
            descriptors.push(theirs);
        }
    }
    if let Some(wanted) = artifact_type {
        descriptors.retain(|d| d.artifact_type().as_ref().map(MediaType::as_ref) == Some(wanted));
    }
    let mut index = ImageIndex::default();
    index.set_media_type(Some(MediaType::ImageIndex));
    index.set_manifests(descriptors);
    let json = serde_json::to_vec(&index).map_err(|source| ProxyError::Encode {
        what: "the referrers index",
        source,
    })?;
    let mut response = Response::new(full(json));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(OCI_INDEX));
    if artifact_type.is_some() {
        headers.insert(
            "oci-filters-applied",
            HeaderValue::from_static("artifactType"),
        );
    }
    Ok(response)
}

/// `artifactType` from the (already validated) query forwarded upstream.
pub fn artifact_type_filter(query: Option<&str>) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "artifactType")
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_descriptors_keep_only_valid_descriptors() {
        let good = format!("sha256:{}", "a".repeat(64));
        let other = format!("sha256:{}", "b".repeat(64));
        let sha384 = format!("sha384:{}", "c".repeat(96));
        // Dropped too: descriptors without the `mediaType` or `size` the spec requires, and
        // digests sealgate does not read (sha384).
        let body = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_INDEX}","digest":"{good}","size":1}},{{"digest":"nope"}},7,{{"digest":"{other}","size":1}},{{"mediaType":"{OCI_INDEX}","digest":"{other}"}},{{"mediaType":"{OCI_INDEX}","digest":"{sha384}","size":1}}]}}"#
        );
        let list = index_descriptors(body.as_bytes()).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].digest().to_string(), good);
        assert!(index_descriptors(b"404 page not found").is_none());
        assert!(index_descriptors(br#"{"manifests":{}}"#).is_none());
    }

    #[test]
    fn artifact_type_comes_from_the_query() {
        assert_eq!(
            artifact_type_filter(Some("artifactType=application%2Fvnd.example%2Bjson")).as_deref(),
            Some("application/vnd.example+json")
        );
        assert_eq!(artifact_type_filter(Some("n=1")), None);
        assert_eq!(artifact_type_filter(None), None);
    }
}
