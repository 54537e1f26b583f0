//! sealgate's own upstream credentials (`[upstream.auth]`): a registry that wants HTTP Basic
//! (htpasswd) or bearer tokens (distribution's token auth, with a real JWT issuer) serves clients
//! that bring no credentials, through sealgate only; the password and the tokens never reach
//! sealgate's log.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode};
use sealgate_integration_tests::token_server::TokenServer;
use sealgate_integration_tests::{
    MANIFEST_ACCEPT, OciLayout, PasswordSource, Registry, RegistryAuth, Sealgate, oci,
    push_sample_image, send, sha256_digest, skopeo, skopeo_raw_digest, unique_salt,
};
use sha2::{Digest as _, Sha256};

const USER: &str = "ci-bot";
const PASSWORD: &str = "it-upstream-s3cret";
const SERVICE: &str = "it-registry";
const ISSUER: &str = "it-issuer";

/// One htpasswd line with a bcrypt hash at the lowest cost: the registry checks it on every
/// request.
fn htpasswd_line(user: &str, password: &str) -> String {
    let digest = Sha256::digest(unique_salt().as_bytes());
    let mut salt = [0u8; 16];
    salt.copy_from_slice(&digest[..16]);
    let hash = bcrypt::hash_with_salt(password, 4, salt)
        .expect("bcrypt at cost 4")
        .format_for_version(bcrypt::Version::TwoY);
    format!("{user}:{hash}\n")
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// Fails the test when sealgate's log holds the password or any of `tokens`.
fn assert_log_holds_no_secret(sealgate: &Sealgate, tokens: &[String]) {
    let log = sealgate.stderr_log();
    assert!(
        !log.contains(PASSWORD),
        "the password is in sealgate's log:\n{log}"
    );
    assert!(
        !log.contains(&basic(USER, PASSWORD)[6..]),
        "the Basic credentials are in sealgate's log:\n{log}"
    );
    for token in tokens {
        // A JWT's signature part alone is specific enough, and shorter to report.
        let signature = token.rsplit('.').next().unwrap_or(token);
        assert!(
            !log.contains(signature),
            "an issued token is in sealgate's log:\n{log}"
        );
    }
}

/// `GET <base>/v2/<name>/manifests/<reference>` with no credentials: the status and the
/// `WWW-Authenticate` header.
async fn anonymous_manifest_get(
    base: &str,
    name: &str,
    reference: &str,
) -> (StatusCode, Option<String>) {
    let url = format!("{base}/v2/{name}/manifests/{reference}");
    let reply = send(Method::GET, &url, &MANIFEST_ACCEPT, Bytes::new()).await;
    let www = reply.header("www-authenticate").map(str::to_owned);
    (reply.status, www)
}

/// Pushes a two-layer image with skopeo (no credentials) through `sealgate` as `<name>:v1`, then
/// reads it back with skopeo and every layer with plain GETs, all through sealgate; returns the
/// digest of the manifest as pushed (skopeo compresses layers on the way: not the layout's).
async fn push_and_check_layers(sealgate: &Sealgate, name: &str) -> String {
    let reference = format!("docker://{}/{name}:v1", sealgate.host());
    push_sample_image(2, &reference).await;
    let pushed = skopeo_raw_digest(&["--tls-verify=false"], &reference).await;
    let manifest = oci::fetch_manifest(&sealgate.base_url(), name, "v1").await;
    assert_eq!(sha256_digest(&manifest), pushed);
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).expect("manifest is JSON");
    let layers = manifest["layers"].as_array().expect("manifest has layers");
    assert_eq!(layers.len(), 2);
    for layer in layers {
        let digest = layer["digest"].as_str().expect("layer digest");
        let blob = oci::fetch_blob(&sealgate.base_url(), name, digest).await;
        assert_eq!(
            sha256_digest(&blob),
            digest,
            "layer {digest} through sealgate"
        );
    }
    pushed
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_credentials_let_anonymous_clients_push_and_pull_through_sealgate() {
    let registry = Registry::start_with_auth(RegistryAuth::Htpasswd {
        realm: "basic-realm".to_owned(),
        htpasswd: htpasswd_line(USER, PASSWORD),
    })
    .await;
    let secrets = tempfile::tempdir().expect("temp dir");
    let password_file = secrets.path().join("hub-password");
    // Written the way `echo` writes it: the newline is not part of the password.
    std::fs::write(&password_file, format!("{PASSWORD}\n")).expect("write the password");
    let sealgate = Sealgate::builder()
        .upstream("hub", &registry.url(), &[])
        .upstream_auth(USER, PasswordSource::File(password_file))
        .log_level("sealgate=debug,info")
        .start()
        .await;

    // skopeo brings no credentials and needs none through sealgate.
    let name = "auth/basic";
    let pushed = push_and_check_layers(&sealgate, name).await;

    // Credentials a client sends anyway are replaced by sealgate's, not passed on.
    let url = format!("{}/v2/{name}/manifests/v1", sealgate.base_url());
    let wrong = basic("mallory", "guess");
    let reply = send(
        Method::GET,
        &url,
        &[MANIFEST_ACCEPT[0], ("authorization", wrong.as_str())],
        Bytes::new(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(sha256_digest(&reply.body), pushed);

    // The registry itself refuses the anonymous client, and holds what was pushed.
    let (status, www) = anonymous_manifest_get(&registry.url(), name, "v1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(www.as_deref(), Some("Basic realm=\"basic-realm\""));
    let direct = send(
        Method::GET,
        &format!("{}/v2/{name}/manifests/v1", registry.url()),
        &[
            MANIFEST_ACCEPT[0],
            ("authorization", &basic(USER, PASSWORD)),
        ],
        Bytes::new(),
    )
    .await;
    assert_eq!(direct.status, StatusCode::OK, "{}", direct.text());
    assert_eq!(sha256_digest(&direct.body), pushed);

    // Without [upstream.auth], the registry's challenge reaches the client unchanged.
    let plain = Sealgate::builder()
        .upstream("hub", &registry.url(), &[])
        .start()
        .await;
    let (status, www) = anonymous_manifest_get(&plain.base_url(), name, "v1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(www.as_deref(), Some("Basic realm=\"basic-realm\""));

    assert_log_holds_no_secret(&sealgate, &[]);
}

#[tokio::test(flavor = "multi_thread")]
async fn token_credentials_let_anonymous_clients_push_and_pull_and_tokens_are_cached() {
    let tokens = TokenServer::start(USER, PASSWORD, SERVICE, ISSUER).await;
    let registry = Registry::start_with_auth(RegistryAuth::Token {
        realm: tokens.realm(),
        service: SERVICE.to_owned(),
        issuer: ISSUER.to_owned(),
        root_cert_pem: tokens.root_cert_pem().to_owned(),
    })
    .await;
    let sealgate = Sealgate::builder()
        .upstream("hub", &registry.url(), &[])
        .upstream_auth(USER, PasswordSource::Env("IT_HUB_PASSWORD".to_owned()))
        .env("IT_HUB_PASSWORD", PASSWORD)
        .log_level("sealgate=debug,info")
        .start()
        .await;

    let name = "auth/token";
    let pushed = push_and_check_layers(&sealgate, name).await;
    let after_push = tokens.requests();
    assert!(
        (1..=8).contains(&after_push),
        "a push and a pull need a few tokens (one per scope), not one per request: \
         {after_push}: {:?}",
        tokens.request_queries()
    );
    // A whole pull by a real client, blobs included.
    let work = tempfile::tempdir().expect("temp dir");
    let copy = OciLayout::new(&work.path().join("copy"));
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/{name}:v1", sealgate.host()),
        &copy.reference("v1"),
    ])
    .await;
    assert_eq!(
        OciLayout::tagged_digest(copy.dir(), "v1").as_deref(),
        Some(pushed.as_str()),
        "skopeo pulled another manifest"
    );

    // Many pulls reuse the cached pull token. Blobs, because sealgate's pull gate may answer
    // manifests from its own cache: every blob GET reaches the registry.
    let manifest = oci::fetch_manifest(&sealgate.base_url(), name, "v1").await;
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).expect("manifest is JSON");
    let layers: Vec<&str> = manifest["layers"]
        .as_array()
        .expect("manifest has layers")
        .iter()
        .map(|l| l["digest"].as_str().expect("layer digest"))
        .collect();
    let before = tokens.requests();
    for _ in 0..20 {
        for layer in &layers {
            let blob = oci::fetch_blob(&sealgate.base_url(), name, layer).await;
            assert_eq!(sha256_digest(&blob), *layer);
        }
        let digest = oci::manifest_digest(&sealgate.base_url(), name, "v1").await;
        assert_eq!(digest, pushed);
    }
    let during_pulls = tokens.requests() - before;
    assert!(
        during_pulls <= 1,
        "60 pull requests cost {during_pulls} token requests: {:?}",
        tokens.request_queries()
    );

    // The registry refuses the anonymous client with its token challenge.
    let (status, www) = anonymous_manifest_get(&registry.url(), name, "v1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let www = www.expect("a WWW-Authenticate header");
    assert!(
        www.starts_with(&format!("Bearer realm=\"{}\"", tokens.realm())),
        "{www}"
    );
    // Without [upstream.auth], that challenge reaches the client unchanged.
    let plain = Sealgate::builder()
        .upstream("hub", &registry.url(), &[])
        .start()
        .await;
    let (status, passed) = anonymous_manifest_get(&plain.base_url(), name, "v1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(passed.as_deref(), Some(www.as_str()));

    let issued = tokens.issued();
    assert!(!issued.is_empty());
    assert_log_holds_no_secret(&sealgate, &issued);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_upstream_password_gives_clients_a_401_promptly() {
    let tokens = TokenServer::start(USER, PASSWORD, SERVICE, ISSUER).await;
    let registry = Registry::start_with_auth(RegistryAuth::Token {
        realm: tokens.realm(),
        service: SERVICE.to_owned(),
        issuer: ISSUER.to_owned(),
        root_cert_pem: tokens.root_cert_pem().to_owned(),
    })
    .await;
    let wrong = "not-the-password";
    let sealgate = Sealgate::builder()
        .upstream("hub", &registry.url(), &[])
        .upstream_auth(USER, PasswordSource::Env("IT_HUB_PASSWORD".to_owned()))
        .env("IT_HUB_PASSWORD", wrong)
        .start()
        .await;
    let base = sealgate.base_url();
    let started = Instant::now();

    let (status, _) = anonymous_manifest_get(&base, "auth/wrong", "v1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let url = format!("{base}/v2/auth/wrong/manifests/v1");
    let reply = send(Method::GET, &url, &MANIFEST_ACCEPT, Bytes::new()).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.oci_error_codes(),
        ["UNAUTHORIZED"],
        "{}",
        reply.text()
    );
    // A push is refused the same way, at its first step.
    let reply = send(
        Method::POST,
        &oci::uploads_url(&base, "auth/wrong"),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text());
    assert_eq!(
        reply.oci_error_codes(),
        ["UNAUTHORIZED"],
        "{}",
        reply.text()
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "refusals took {:?}",
        started.elapsed()
    );
    assert!(tokens.issued().is_empty(), "no token for a wrong password");

    let log = sealgate.stderr_log();
    let line = log
        .lines()
        .find(|l| l.contains("cannot get a token"))
        .unwrap_or_else(|| panic!("no log line about the token failure:\n{log}"));
    assert!(
        line.contains("hub") && line.contains(&tokens.realm()),
        "{line}"
    );
    assert!(!log.contains(wrong), "the password is in the log:\n{log}");
}
