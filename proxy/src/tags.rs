//! `GET /v2/<name>/tags/list?n=<int>&last=<tag>` (end-8b), paginated by sealgate.
//!
//! distribution 2.8 ignores `n` and `last` (and lists tags in no particular order), so a client
//! asking for a page would get everything. When either parameter is given, sealgate reads the
//! upstream's list (capped at [`MAX_UPSTREAM_TAG_LIST`] bytes), sorts it in "ASCIIbetical" order,
//! keeps the tags after `last` (exclusive), returns at most `n` of them and, when more remain,
//! a `Link: <…?n=<n>&last=<tag>>; rel="next"` header (with `ns` in mirror mode):
//! <https://github.com/opencontainers/distribution-spec/blob/main/spec.md#listing-tags>.
//!
//! Both parameters are also sent upstream, so a registry that paginates by itself answers with
//! its page; its `Link` then only says that more remain, and sealgate builds its own. Without
//! `n` and `last` the request is passed through untouched, as before.

use bytes::BytesMut;
use http::{HeaderValue, Method, Response, StatusCode, header};
use http_body_util::BodyExt as _;
use sealgate_policies::oci::{RepoName, Tag};
use serde::Deserialize;

use crate::body::{ProxyBody, full};
use crate::error::ProxyError;
use crate::state::AppState;
use crate::upstream::{Forward, Upstream};

/// Largest tag list read from an upstream to paginate it: about 60,000 tags of the longest
/// kind (128 characters), ten times more of the usual length. Memory per request is bounded by
/// it; a longer list is answered 502 with the reason.
pub const MAX_UPSTREAM_TAG_LIST: usize = 8 * 1024 * 1024;

/// What the client asked for: `n` and/or `last`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// At most this many tags (`n`).
    pub n: Option<u32>,
    /// Only tags after this one (`last`, exclusive).
    pub last: Option<Tag>,
}

impl PageRequest {
    /// The page asked for in the (already validated) query, or `None` when it has neither `n`
    /// nor `last`: the whole list, passed through.
    pub fn from_query(query: Option<&str>) -> Option<Self> {
        let mut page = Self {
            n: None,
            last: None,
        };
        for (key, value) in form_urlencoded::parse(query?.as_bytes()) {
            match &*key {
                "n" => page.n = value.parse().ok(),
                "last" => page.last = value.parse().ok(),
                _ => {}
            }
        }
        (page.n.is_some() || page.last.is_some()).then_some(page)
    }
}

/// One page of tags, and the `last` of the next page when more remain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The tags of this page, sorted.
    pub tags: Vec<String>,
    /// `last` for the next page; `None` at the end (and always for `n=0`).
    pub next: Option<String>,
}

/// Cuts `tags` (in any order, perhaps with duplicates) into the page `request` asks for.
/// `upstream_has_more` is true when the upstream paginated by itself and said more remain.
pub fn paginate(mut tags: Vec<String>, request: &PageRequest, upstream_has_more: bool) -> Page {
    // Go's sort.Strings order: bytes, which is `str`'s order.
    tags.sort_unstable();
    tags.dedup();
    if let Some(last) = &request.last {
        let after = tags.partition_point(|t| t.as_str() <= last.as_str());
        tags.drain(..after);
    }
    let next = match request.n {
        // The spec: `n=0` is an empty list and never a `Link`.
        Some(0) => {
            tags.clear();
            None
        }
        Some(n) if tags.len() > n as usize => {
            tags.truncate(n as usize);
            tags.last().cloned()
        }
        _ if upstream_has_more => tags.last().cloned(),
        _ => None,
    };
    Page { tags, next }
}

/// The `Link` value pointing at the next page, through sealgate.
pub fn next_link(name: &RepoName, n: Option<u32>, last: &str, ns: Option<&str>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(n) = n {
        query.append_pair("n", &n.to_string());
    }
    query.append_pair("last", last);
    if let Some(ns) = ns {
        query.append_pair("ns", ns);
    }
    format!("</v2/{name}/tags/list?{}>; rel=\"next\"", query.finish())
}

/// The part of the upstream's answer sealgate reads; `tags` is `null` in some registries for a
/// repository without tags.
#[derive(Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// What [`list`] needs to know about the request.
pub struct ListTags<'a> {
    /// Shared state.
    pub state: &'a AppState,
    /// The upstream serving the repository.
    pub upstream: &'a Upstream,
    /// The repository.
    pub name: &'a RepoName,
    /// The client's headers (credentials), passed on.
    pub headers: &'a http::HeaderMap,
    /// `?ns=` of the request, kept in the `Link`.
    pub ns: Option<&'a str>,
    /// The validated query (`n`, `last`), sent upstream as well.
    pub query: Option<&'a str>,
}

/// Answers a paginated tag list. Upstream errors (404 `NAME_UNKNOWN`, 401 …) are relayed as
/// they come.
pub async fn list(
    req: &ListTags<'_>,
    page: &PageRequest,
) -> Result<Response<ProxyBody>, ProxyError> {
    let mut headers = req.headers.clone();
    // sealgate parses the body: it must come uncompressed.
    headers.remove(header::ACCEPT_ENCODING);
    let path = format!("/v2/{}/tags/list", req.name);
    let forward = Forward {
        method: Method::GET,
        path: &path,
        query: req.query,
        headers: &headers,
        ns: req.ns,
    };
    let response = req
        .state
        .upstreams
        .forward(req.upstream, forward, crate::body::empty())
        .await?;
    if response.status() != StatusCode::OK {
        return Ok(response);
    }
    let upstream_has_more = response.headers().contains_key(header::LINK);
    let unusable = |why: String| ProxyError::UpstreamBody {
        upstream: req.upstream.config.name.clone(),
        why,
    };
    let mut upstream_body = response.into_body();
    let mut body = BytesMut::new();
    while let Some(frame) = upstream_body.frame().await {
        let frame = frame.map_err(|e| unusable(format!("tag list not read whole: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if body.len() + data.len() > MAX_UPSTREAM_TAG_LIST {
                return Err(unusable(format!(
                    "tag list larger than {MAX_UPSTREAM_TAG_LIST} bytes, which sealgate paginates at most"
                )));
            }
            body.extend_from_slice(&data);
        }
    }
    let list: TagList = serde_json::from_slice(&body)
        .map_err(|e| unusable(format!("tag list is not the spec's JSON: {e}")))?;
    // A tag outside the grammar cannot be pulled, nor named as `last` for the next page (and
    // must not reach the `Link` header): it is left out.
    let tags: Vec<String> = list
        .tags
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t.parse::<Tag>().is_ok())
        .collect();
    drop(body);
    let Page { tags, next } = paginate(tags, page, upstream_has_more);
    let json = serde_json::json!({ "name": req.name.as_str(), "tags": tags });
    let mut response = Response::new(full(json.to_string()));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(last) = next
        && let Ok(link) = HeaderValue::from_str(&next_link(req.name, page.n, &last, req.ns))
    {
        h.insert(header::LINK, link);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|&t| t.to_owned()).collect()
    }

    fn page(n: Option<u32>, last: Option<&str>) -> PageRequest {
        PageRequest {
            n,
            last: last.map(|l| l.parse().unwrap()),
        }
    }

    const ALL: [&str; 8] = ["b", "9", "A", "c", "_x", "10", "a", "b"];

    #[test]
    fn pages_are_sorted_bounded_and_start_after_last() {
        let p = paginate(tags(&ALL), &page(Some(3), None), false);
        assert_eq!(p.tags, tags(&["10", "9", "A"]));
        assert_eq!(p.next.as_deref(), Some("A"));
        let p = paginate(tags(&ALL), &page(Some(3), Some("A")), false);
        assert_eq!(p.tags, tags(&["_x", "a", "b"]));
        assert_eq!(p.next.as_deref(), Some("b"));
        let p = paginate(tags(&ALL), &page(Some(3), Some("b")), false);
        assert_eq!(p.tags, tags(&["c"]));
        assert_eq!(p.next, None);
        // Exactly n left: no next page.
        let p = paginate(tags(&ALL), &page(Some(2), Some("a")), false);
        assert_eq!(p.tags, tags(&["b", "c"]));
        assert_eq!(p.next, None);
        // `last` need not be a tag that exists.
        let p = paginate(tags(&ALL), &page(None, Some("B")), false);
        assert_eq!(p.tags, tags(&["_x", "a", "b", "c"]));
        assert_eq!(p.next, None);
        let p = paginate(tags(&ALL), &page(None, Some("zzz")), false);
        assert!(p.tags.is_empty());
    }

    #[test]
    fn n_zero_is_empty_without_a_next_page() {
        for more in [false, true] {
            let p = paginate(tags(&ALL), &page(Some(0), None), more);
            assert!(p.tags.is_empty());
            assert_eq!(p.next, None);
        }
    }

    #[test]
    fn an_upstream_that_paginates_says_more_remain() {
        let p = paginate(tags(&["x", "y"]), &page(Some(2), Some("w")), true);
        assert_eq!(p.tags, tags(&["x", "y"]));
        assert_eq!(p.next.as_deref(), Some("y"));
        let p = paginate(Vec::new(), &page(Some(2), None), true);
        assert_eq!(p.next, None);
    }

    #[test]
    fn the_link_goes_through_sealgate_and_keeps_ns() {
        let name: RepoName = "team/app".parse().unwrap();
        assert_eq!(
            next_link(&name, Some(2), "v1.0", None),
            "</v2/team/app/tags/list?n=2&last=v1.0>; rel=\"next\""
        );
        assert_eq!(
            next_link(&name, None, "a", Some("registry.local:5000")),
            "</v2/team/app/tags/list?last=a&ns=registry.local%3A5000>; rel=\"next\""
        );
    }

    #[test]
    fn only_n_or_last_make_a_page_request() {
        assert_eq!(PageRequest::from_query(None), None);
        assert_eq!(PageRequest::from_query(Some("")), None);
        assert_eq!(
            PageRequest::from_query(Some("n=5")),
            Some(page(Some(5), None))
        );
        assert_eq!(
            PageRequest::from_query(Some("n=0&last=v1")),
            Some(page(Some(0), Some("v1")))
        );
    }
}
