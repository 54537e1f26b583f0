//! Hostile and malformed input is refused at the edge with the right OCI error, and none of it
//! reaches the upstream: a recording fake stands in for the registry and must stay untouched.

use sealgate_integration_tests::{
    OCI_MANIFEST, RawReply, RecordingUpstream, Sealgate, UpstreamBehaviour, raw_request,
    require_tool,
};

/// Small, so oversized manifests are cheap to send.
const MAX_MANIFEST_BYTES: u64 = 1024;

/// One refused request and what sealgate must answer.
struct Case {
    what: &'static str,
    request: Vec<u8>,
    status: &'static [u16],
    body: Body,
}

/// What the body of a refusal must be.
enum Body {
    /// An OCI `errors` document whose first code is one of these.
    Code(&'static [&'static str]),
    /// Any OCI `errors` document (the spec fixes no code for an unknown path).
    AnyOciError,
}

fn request(method: &str, target: &str, extra_headers: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{extra_headers}\r\n"
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

fn get(target: &str) -> Vec<u8> {
    request("GET", target, "", b"")
}

fn cases() -> Vec<Case> {
    let oversized_manifest = vec![b' '; 4 * MAX_MANIFEST_BYTES as usize];
    let declared_oversized = request(
        "PUT",
        "/v2/a/manifests/latest",
        &format!(
            "Content-Type: {OCI_MANIFEST}\r\nContent-Length: {}\r\n",
            oversized_manifest.len()
        ),
        &oversized_manifest,
    );
    // No Content-Length: the cap must hold while the body streams in.
    let mut chunked_body = Vec::new();
    for _ in 0..4 {
        chunked_body.extend_from_slice(format!("{:x}\r\n", MAX_MANIFEST_BYTES).as_bytes());
        chunked_body.extend_from_slice(&vec![b' '; MAX_MANIFEST_BYTES as usize]);
        chunked_body.extend_from_slice(b"\r\n");
    }
    chunked_body.extend_from_slice(b"0\r\n\r\n");
    let chunked_oversized = request(
        "PUT",
        "/v2/a/manifests/latest",
        &format!("Content-Type: {OCI_MANIFEST}\r\nTransfer-Encoding: chunked\r\n"),
        &chunked_body,
    );
    let long_tag = format!("/v2/a/manifests/{}", "t".repeat(200));

    vec![
        Case {
            what: "`..` as a name component",
            request: get("/v2/../etc/manifests/latest"),
            status: &[400],
            body: Body::Code(&["NAME_INVALID"]),
        },
        Case {
            what: "percent-encoded `..` (names are checked undecoded)",
            request: get("/v2/a/%2e%2e/b/manifests/latest"),
            status: &[400],
            body: Body::Code(&["NAME_INVALID"]),
        },
        Case {
            what: "upper-case name",
            request: get("/v2/UPPER/manifests/latest"),
            status: &[400],
            body: Body::Code(&["NAME_INVALID"]),
        },
        Case {
            what: "empty name component",
            request: get("/v2/a//b/manifests/latest"),
            status: &[400],
            body: Body::Code(&["NAME_INVALID"]),
        },
        Case {
            what: "malformed digest",
            request: get("/v2/a/blobs/sha256:xyz"),
            status: &[400],
            body: Body::Code(&["DIGEST_INVALID"]),
        },
        // Reads by a reference outside the grammar are unknown manifests, as the spec's end-3
        // says (issue 11); pushes with one are bad requests (conformance.rs).
        Case {
            what: "reference with two colons",
            request: get("/v2/a/manifests/bad:tag:x"),
            status: &[404],
            body: Body::Code(&["MANIFEST_UNKNOWN"]),
        },
        Case {
            what: "tag starting with `-`",
            request: get("/v2/a/manifests/-bad"),
            status: &[404],
            body: Body::Code(&["MANIFEST_UNKNOWN"]),
        },
        Case {
            what: "tag of 200 characters (the limit is 128)",
            request: get(&long_tag),
            status: &[404],
            body: Body::Code(&["MANIFEST_UNKNOWN"]),
        },
        Case {
            what: "unknown API version",
            request: get("/v3/x"),
            status: &[404],
            body: Body::AnyOciError,
        },
        Case {
            what: "unknown endpoint under a valid name",
            request: get("/v2/a/unknown/x"),
            status: &[404],
            body: Body::AnyOciError,
        },
        Case {
            what: "POST on a manifest",
            request: request(
                "POST",
                "/v2/a/manifests/latest",
                "Content-Length: 0\r\n",
                b"",
            ),
            status: &[405],
            body: Body::Code(&["UNSUPPORTED"]),
        },
        Case {
            what: "manifest PUT declaring more than max_manifest_bytes",
            request: declared_oversized,
            status: &[413],
            body: Body::Code(&["SIZE_INVALID"]),
        },
        Case {
            what: "chunked manifest PUT streaming more than max_manifest_bytes",
            request: chunked_oversized,
            status: &[413],
            body: Body::Code(&["SIZE_INVALID"]),
        },
        Case {
            what: "namespace routed nowhere",
            request: get("/v2/a/manifests/latest?ns=evil.example"),
            status: &[403],
            body: Body::Code(&["DENIED"]),
        },
    ]
}

fn check(case: &Case, reply: &RawReply) -> Result<(), String> {
    if !case.status.contains(&reply.status) {
        return Err(format!(
            "status {} (expected one of {:?})",
            reply.status, case.status
        ));
    }
    let codes = reply.oci_error_codes();
    match (&case.body, codes.first()) {
        (_, None) => Err("no OCI `errors` document in the body".to_owned()),
        (Body::Code(expected), Some(code)) if !expected.contains(&code.as_str()) => {
            Err(format!("code {code} (expected one of {expected:?})"))
        }
        _ => Ok(()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_requests_are_refused_at_the_edge_and_never_forwarded() {
    let upstream = RecordingUpstream::start(UpstreamBehaviour::AnswerOk).await;
    let sealgate = Sealgate::builder()
        .upstream("recorder", &upstream.url(), &["docker.io"])
        .max_manifest_bytes(MAX_MANIFEST_BYTES)
        .start()
        .await;
    // Whatever sealgate did on its own at startup is not a forwarded request.
    let baseline = upstream.count();

    let mut failures = Vec::new();
    for case in cases() {
        let reply = raw_request(sealgate.addr(), &case.request).await;
        let forwarded = &upstream.requests()[baseline..];
        if let Err(problem) = check(&case, &reply) {
            let head: String = reply.text.chars().take(600).collect();
            failures.push(format!("{}: {problem}\n    response: {head:?}", case.what));
        }
        if !forwarded.is_empty() {
            let summaries: Vec<String> = forwarded.iter().map(|r| r.summary()).collect();
            failures.push(format!(
                "{}: reached the upstream as {summaries:?}",
                case.what
            ));
            // Later cases would be blamed for this one's forwarded request.
            break;
        }
    }
    assert!(
        failures.is_empty(),
        "{} hostile request(s) handled wrongly:\n  {}\n--- sealgate log\n{}",
        failures.len(),
        failures.join("\n  "),
        sealgate.stderr_log()
    );

    // The recorder does see what sealgate forwards: one valid request, one recorded request.
    let valid = raw_request(sealgate.addr(), &get("/v2/a/manifests/latest")).await;
    assert_eq!(
        valid.status, 200,
        "a valid request must be forwarded: {}",
        valid.text
    );
    let forwarded = &upstream.requests()[baseline..];
    assert_eq!(forwarded[0].method, "GET");
    // The pull gate then looks for the manifest's signatures, in the same repository only.
    assert!(
        forwarded[1..]
            .iter()
            .all(|r| r.method == "GET" && r.uri.starts_with("/v2/a/")),
        "{forwarded:?}"
    );
    assert!(
        forwarded[0].uri.starts_with("/v2/a/manifests/latest"),
        "forwarded as {:?}",
        forwarded[0].uri
    );
}

/// A 200 KiB header block is refused by the HTTP layer (400 or 431; over h2c a stream reset is
/// refusal too) and not forwarded: hyper's own default limit (~400 KiB for HTTP/1.1) is too
/// generous for a proxy that copies headers upstream.
#[tokio::test(flavor = "multi_thread")]
async fn oversized_header_block_is_refused_and_not_forwarded() {
    let upstream = RecordingUpstream::start(UpstreamBehaviour::AnswerOk).await;
    let sealgate = Sealgate::builder()
        .upstream("recorder", &upstream.url(), &[])
        .start()
        .await;
    let baseline = upstream.count();
    let filler = "x".repeat(200 * 1024);

    let http1 = raw_request(
        sealgate.addr(),
        &request(
            "GET",
            "/v2/a/manifests/latest",
            &format!("X-Filler: {filler}\r\n"),
            b"",
        ),
    )
    .await;
    let http1_forwarded: Vec<String> = upstream.requests()[baseline..]
        .iter()
        .map(|r| r.summary())
        .collect();

    // curl reads the header from a file: one argv string may not exceed 128 KiB on Linux.
    let work = tempfile::tempdir().expect("temp dir");
    let header_file = work.path().join("header");
    std::fs::write(&header_file, format!("X-Filler: {filler}\n")).expect("write header file");
    let curl = require_tool("curl", "apt-get install -y curl");
    let h2c = tokio::process::Command::new(curl)
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "20",
        ])
        .arg("--http2-prior-knowledge")
        .arg("-H")
        .arg(format!("@{}", header_file.display()))
        .arg(format!("{}/v2/a/manifests/latest", sealgate.base_url()))
        .output()
        .await
        .expect("run curl");
    let h2c_status = String::from_utf8_lossy(&h2c.stdout).into_owned();
    let all_forwarded: Vec<String> = upstream.requests()[baseline..]
        .iter()
        .map(|r| r.summary())
        .collect();

    eprintln!(
        "200 KiB header: HTTP/1.1 answered {}, h2c answered {h2c_status} (curl exit {})",
        http1.status, h2c.status
    );
    let mut failures = Vec::new();
    if !matches!(http1.status, 400 | 431) {
        failures.push(format!(
            "HTTP/1.1: status {} (expected 400 or 431)",
            http1.status
        ));
    }
    if !http1_forwarded.is_empty() {
        failures.push(format!("HTTP/1.1: forwarded as {http1_forwarded:?}"));
    }
    // curl prints 000 when the stream was reset before any response: refused, which is fine.
    if !matches!(h2c_status.as_str(), "400" | "431" | "000") {
        failures.push(format!(
            "h2c: status {h2c_status} (expected 400, 431 or a reset)"
        ));
    }
    if all_forwarded.len() > http1_forwarded.len() {
        failures.push(format!(
            "h2c: forwarded as {:?}",
            &all_forwarded[http1_forwarded.len()..]
        ));
    }
    assert!(
        failures.is_empty(),
        "a 200 KiB header block was not refused:\n  {}",
        failures.join("\n  ")
    );
}
