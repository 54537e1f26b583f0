//! `[auth]`: sealgate authenticating clients itself (gateway mode) with tokens and client
//! certificates, authorising them per repository, and recording who pushed.

use std::path::Path;

use http::{Method, StatusCode};
use sealgate_integration_tests::{
    OCI_MANIFEST, OciLayout, RecordingUpstream, Registry, Sealgate, TestCa, UpstreamBehaviour, oci,
    require_tool, self_signed_cert, send, sha256_digest, skopeo, skopeo_raw_digest, unique_salt,
};
use tokio::process::Command;

/// A token and the line of a tokens file naming its sha256.
fn token_entry(identity: &str) -> (String, String) {
    let token = format!("{identity}-{}", unique_salt());
    let hex = sha256_digest(token.as_bytes())
        .trim_start_matches("sha256:")
        .to_owned();
    let entry = format!("[[token]]\nidentity = \"{identity}\"\nsha256 = \"{hex}\"\n");
    (token, entry)
}

/// Tokens for `ci` (push on `it/**`), `reader` (pull on `it/**`) and `intruder` (no rule), the
/// tokens file in `dir`, and the `[auth]` section granting them.
struct Tokens {
    ci: String,
    reader: String,
    intruder: String,
    auth: String,
}

fn tokens(dir: &Path) -> Tokens {
    let (ci, ci_entry) = token_entry("ci");
    let (reader, reader_entry) = token_entry("reader");
    let (intruder, intruder_entry) = token_entry("intruder");
    let file = dir.join("tokens.toml");
    std::fs::write(&file, format!("{ci_entry}{reader_entry}{intruder_entry}"))
        .expect("write the tokens file");
    let auth = format!(
        "[auth]\nmode = \"gateway\"\ntokens_file = {:?}\n\
         [[auth.rule]]\nrepositories = \"it/**\"\nidentities = [\"ci\", \"cn:build-*\"]\nactions = [\"push\"]\n\
         [[auth.rule]]\nrepositories = \"it/**\"\nidentities = [\"reader\"]\nactions = [\"pull\"]\n",
        file.display().to_string()
    );
    Tokens {
        ci,
        reader,
        intruder,
        auth,
    }
}

fn basic(identity: &str, token: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{identity}:{token}"))
    )
}

/// The decision log lines about `repository` (sealgate's `sealgate::decision` target).
fn decisions(sealgate: &Sealgate, repository: &str) -> Vec<String> {
    let needle = format!("repository={repository} ");
    sealgate
        .stderr_log()
        .lines()
        .filter(|l| l.contains("sealgate::decision") && l.contains(&needle))
        .map(str::to_owned)
        .collect()
}

/// Runs `skopeo --insecure-policy <args>` expecting it to fail; returns its stderr.
async fn skopeo_fails(args: &[&str]) -> String {
    let skopeo = require_tool("skopeo", "apt-get install -y skopeo");
    let out = Command::new(skopeo)
        .arg("--insecure-policy")
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .expect("run skopeo");
    assert!(
        !out.status.success(),
        "skopeo {args:?} succeeded; it should have been refused"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn gateway_tokens_push_and_pull_per_rule_and_the_pin_records_who_pushed() {
    let registry = Registry::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let t = tokens(dir.path());
    let sealgate = Sealgate::builder()
        .upstream("local", &registry.url(), &[])
        .auth(&t.auth)
        .start()
        .await;
    let base = sealgate.base_url();

    // A real client pushes with `--creds identity:token` (Basic, after sealgate's challenge).
    let work = tempfile::tempdir().expect("temp dir");
    let mut layout = OciLayout::new(&work.path().join("layout"));
    layout.add_sample_image("v1", 2);
    let target = format!("docker://{}/it/app:v1", sealgate.host());
    let ci_creds = format!("ci:{}", t.ci);
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &ci_creds,
        &layout.reference("v1"),
        &target,
    ])
    .await;
    let pushed = oci::manifest_digest(&registry.url(), "it/app", "v1").await;
    let lines = decisions(&sealgate, "it/app");
    let push = lines
        .iter()
        .find(|l| l.contains("action=push") && l.contains("reference=v1"))
        .unwrap_or_else(|| panic!("no push decision:\n{}", sealgate.stderr_log()));
    assert!(
        push.contains("identity=\"ci\"") && push.contains(&pushed),
        "the pin and its audit event name the identity that pushed: {push}"
    );

    // Pull-only: reads, cannot write.
    let reader_creds = format!("reader:{}", t.reader);
    assert_eq!(
        skopeo_raw_digest(&["--tls-verify=false", "--creds", &reader_creds], &target).await,
        pushed
    );
    // The pull decision (audit mode here) names who pulled.
    let log = sealgate.stderr_log();
    assert!(
        log.lines()
            .any(|l| l.contains("action=pull") && l.contains("identity=\"reader\"")),
        "no pull decision naming the reader:\n{log}"
    );
    layout.add_sample_image("v2", 1);
    let stderr = skopeo_fails(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &reader_creds,
        &layout.reference("v2"),
        &format!("docker://{}/it/app:v2", sealgate.host()),
    ])
    .await;
    assert!(
        stderr.contains("reader may not push"),
        "skopeo shows sealgate's reason: {stderr}"
    );
    let manifest = oci::fetch_manifest(&registry.url(), "it/app", "v1").await;
    let reply = send(
        Method::PUT,
        &format!("{base}/v2/it/app/manifests/v3"),
        &[
            ("content-type", OCI_MANIFEST),
            ("authorization", &basic("reader", &t.reader)),
        ],
        manifest.clone(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text());
    assert_eq!(reply.oci_error_codes(), ["DENIED"]);
    assert!(
        reply
            .text()
            .contains("identity reader may not push repository it/app"),
        "{}",
        reply.text()
    );

    // A valid token without any rule: 403 naming identity, action and repository.
    let reply = send(
        Method::GET,
        &format!("{base}/v2/it/app/manifests/v1"),
        &[("authorization", &format!("Bearer {}", t.intruder))],
        "",
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text());
    assert!(
        reply
            .text()
            .contains("identity intruder may not pull repository it/app"),
        "{}",
        reply.text()
    );
    // ci's token is for it/**, not elsewhere; and the catalog needs its own rule.
    for path in ["/v2/other/manifests/v1", "/v2/_catalog"] {
        let reply = send(
            Method::GET,
            &format!("{base}{path}"),
            &[("authorization", &basic("ci", &t.ci))],
            "",
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{path}: {}",
            reply.text()
        );
    }

    // Unknown or missing credentials: 401 with a Basic challenge and an OCI body.
    for authorization in [
        Some(format!("Bearer wrong-{}", unique_salt())),
        Some(basic("ci", "not-the-token")),
        Some(basic("reader", &t.ci)),
        None,
    ] {
        let headers: Vec<(&str, &str)> = authorization
            .as_deref()
            .map(|a| vec![("authorization", a)])
            .unwrap_or_default();
        let reply = send(
            Method::GET,
            &format!("{base}/v2/it/app/manifests/v1"),
            &headers,
            "",
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{authorization:?}: {}",
            reply.text()
        );
        assert_eq!(
            reply.header("www-authenticate"),
            Some("Basic realm=\"sealgate\"")
        );
        assert_eq!(reply.oci_error_codes(), ["UNAUTHORIZED"]);
    }
    // Health endpoints stay open for probes.
    let reply = send(Method::GET, &format!("{base}/healthz"), &[], "").await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn gateway_never_forwards_the_clients_authorization() {
    let upstream = RecordingUpstream::start(UpstreamBehaviour::AnswerOk).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let t = tokens(dir.path());
    let sealgate = Sealgate::builder()
        .upstream("fake", &upstream.url(), &[])
        .auth(&t.auth)
        .start()
        .await;
    let base = sealgate.base_url();
    for (path, authorization) in [
        ("/v2/", basic("ci", &t.ci)),
        ("/v2/it/app/tags/list", format!("Bearer {}", t.reader)),
    ] {
        let reply = send(
            Method::GET,
            &format!("{base}{path}"),
            &[("authorization", &authorization)],
            "",
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text());
    }
    let requests = upstream.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    for request in &requests {
        assert!(
            request.header_values("authorization").is_empty(),
            "the upstream saw the client's credentials: {}",
            request.summary()
        );
    }
}

/// A directory skopeo reads with `--cert-dir`: the server certificate to trust (`*.crt`) and a
/// client certificate pair (`*.cert`, `*.key`).
fn cert_dir(dir: &Path, server_cert: &Path, client: Option<(&Path, &Path)>) -> String {
    std::fs::create_dir_all(dir).expect("create the cert dir");
    std::fs::copy(server_cert, dir.join("sealgate.crt")).expect("copy the server cert");
    if let Some((cert, key)) = client {
        std::fs::copy(cert, dir.join("client.cert")).expect("copy the client cert");
        std::fs::copy(key, dir.join("client.key")).expect("copy the client key");
    }
    dir.display().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn client_certificates_identify_pushers_in_gateway_and_passthrough_mode() {
    let registry = Registry::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let server = self_signed_cert(dir.path());
    let clients = TestCa::new(dir.path(), "clients");
    let build = clients.client_cert(dir.path(), "build-1", "build-1");
    let stranger = clients.client_cert(dir.path(), "stranger", "stranger");
    let t = tokens(dir.path());
    let work = tempfile::tempdir().expect("temp dir");
    let mut layout = OciLayout::new(&work.path().join("layout"));
    layout.add_sample_image("v1", 1);

    // Gateway: the certificate is the identity (optional: token users need none).
    let gateway = Sealgate::builder()
        .upstream("local", &registry.url(), &[])
        .tls(&server.cert, &server.key)
        .tls_client_auth(&clients.cert, "optional")
        .auth(&t.auth)
        .start()
        .await;
    let with_build = cert_dir(
        &dir.path().join("skopeo-build"),
        &server.cert,
        Some((&build.cert, &build.key)),
    );
    skopeo(&[
        "copy",
        "--dest-cert-dir",
        &with_build,
        &layout.reference("v1"),
        &format!("docker://{}/it/mtls:v1", gateway.host()),
    ])
    .await;
    let push = decisions(&gateway, "it/mtls")
        .into_iter()
        .find(|l| l.contains("action=push"))
        .unwrap_or_else(|| panic!("no push decision:\n{}", gateway.stderr_log()));
    assert!(push.contains("identity=\"cn:build-1\""), "{push}");
    // A certificate of the CA whose name no rule grants; no certificate and no token.
    let with_stranger = cert_dir(
        &dir.path().join("skopeo-stranger"),
        &server.cert,
        Some((&stranger.cert, &stranger.key)),
    );
    let stderr = skopeo_fails(&[
        "copy",
        "--dest-cert-dir",
        &with_stranger,
        &layout.reference("v1"),
        &format!("docker://{}/it/mtls:v2", gateway.host()),
    ])
    .await;
    assert!(
        gateway
            .stderr_log()
            .lines()
            .any(|l| l.contains("access denied") && l.contains("identity=cn:stranger")),
        "skopeo: {stderr}\nsealgate:\n{}",
        gateway.stderr_log()
    );
    let anonymous = cert_dir(&dir.path().join("skopeo-anonymous"), &server.cert, None);
    let stderr = skopeo_fails(&[
        "inspect",
        "--raw",
        "--cert-dir",
        &anonymous,
        &format!("docker://{}/it/mtls:v1", gateway.host()),
    ])
    .await;
    assert!(
        stderr.contains("authentication required") || stderr.contains("unauthorized"),
        "{stderr}"
    );
    // Token users get in without a certificate.
    let reader_creds = format!("reader:{}", t.reader);
    skopeo(&[
        "inspect",
        "--raw",
        "--cert-dir",
        &anonymous,
        "--creds",
        &reader_creds,
        &format!("docker://{}/it/mtls:v1", gateway.host()),
    ])
    .await;
    drop(gateway);

    // Passthrough: nothing is refused, and the certificate's identity is still recorded.
    let passthrough = Sealgate::builder()
        .upstream("local", &registry.url(), &[])
        .tls(&server.cert, &server.key)
        .tls_client_auth(&clients.cert, "optional")
        .start()
        .await;
    skopeo(&[
        "copy",
        "--dest-cert-dir",
        &with_stranger,
        &layout.reference("v1"),
        &format!("docker://{}/it/passthrough:v1", passthrough.host()),
    ])
    .await;
    let push = decisions(&passthrough, "it/passthrough")
        .into_iter()
        .find(|l| l.contains("action=push"))
        .unwrap_or_else(|| panic!("no push decision:\n{}", passthrough.stderr_log()));
    assert!(push.contains("identity=\"cn:stranger\""), "{push}");
}
