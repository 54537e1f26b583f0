//! The listeners' protocols: HTTPS with ALPN (h2 and HTTP/1.1) using a configured certificate, and
//! h2c with prior knowledge on the plain listener; the certificate replaced without a restart
//! (files watched, SIGHUP); client certificates; upstreams behind a private CA.

use std::path::Path;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use sealgate_integration_tests::{
    OciLayout, Registry, RegistryAuth, Sealgate, TestCa, oci, registry_behind_sealgate,
    require_tool, run_tool, self_signed_cert, self_signed_cert_named, send, skopeo,
    skopeo_raw_digest,
};
use tokio::process::Command;

/// `curl <args>` printing `<status> <http version>` after the body.
async fn curl_status_and_version(args: &[&str]) -> (String, String) {
    let curl = require_tool("curl", "apt-get install -y curl");
    let out = run_tool(
        Command::new(curl)
            .args([
                "-sS",
                "--max-time",
                "20",
                "-w",
                "\n%{http_code} %{http_version}",
            ])
            .args(args),
    )
    .await;
    let last = out.lines().last().unwrap_or_default().to_owned();
    let (status, version) = last.split_once(' ').unwrap_or((&last, ""));
    (status.to_owned(), version.to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn https_listener_serves_the_registry_with_the_configured_certificate() {
    let registry = Registry::start().await;
    let certs = tempfile::tempdir().expect("temp dir");
    let cert = self_signed_cert(certs.path());
    let sealgate = Sealgate::builder()
        .upstream("local", &registry.url(), &[])
        .tls(&cert.cert, &cert.key)
        .start()
        .await;
    let url = format!("{}/v2/", sealgate.base_url());
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let cacert = cert.cert.display().to_string();

    // The certificate verifies for 127.0.0.1 (no -k), and ALPN offers h2 first.
    let (status, version) = curl_status_and_version(&["--cacert", &cacert, &url]).await;
    assert_eq!(
        (status.as_str(), version.as_str()),
        ("200", "2"),
        "h2 over TLS"
    );
    let (status, version) =
        curl_status_and_version(&["--http1.1", "--cacert", &cacert, &url]).await;
    assert_eq!(
        (status.as_str(), version.as_str()),
        ("200", "1.1"),
        "HTTP/1.1 over TLS"
    );

    // A real client pushing over TLS, trusting only this certificate (`*.crt` in the cert dir).
    let client_certs = tempfile::tempdir().expect("temp dir");
    std::fs::copy(&cert.cert, client_certs.path().join("ca.crt")).expect("copy ca.crt");
    let cert_dir = client_certs.path().display().to_string();
    let work = tempfile::tempdir().expect("temp dir");
    let mut source = OciLayout::new(&work.path().join("source"));
    source.add_sample_image("v1", 1);
    let target = format!("docker://{}/it/tls:v1", sealgate.host());
    skopeo(&[
        "copy",
        "--dest-cert-dir",
        &cert_dir,
        &source.reference("v1"),
        &target,
    ])
    .await;
    assert_eq!(
        skopeo_raw_digest(&["--cert-dir", &cert_dir], &target).await,
        oci::manifest_digest(&registry.url(), "it/tls", "v1").await,
        "the manifest read over TLS is the one in the registry"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_listener_speaks_h2c_with_prior_knowledge() {
    let (_registry, sealgate) = registry_behind_sealgate(&[]).await;
    let url = format!("{}/v2/", sealgate.base_url());
    let (status, version) = curl_status_and_version(&["--http2-prior-knowledge", &url]).await;
    assert_eq!((status.as_str(), version.as_str()), ("200", "2"), "h2c");

    let curl = require_tool("curl", "apt-get install -y curl");
    let response =
        run_tool(Command::new(curl).args(["-si", "--http2-prior-knowledge", &url])).await;
    assert!(response.starts_with("HTTP/2 200"), "{response}");
    assert!(
        response.ends_with("{}"),
        "the registry's body passes through: {response}"
    );
}

/// The subject of the certificate a new TLS connection to `addr` is served, as
/// `openssl s_client` prints it (`CN = sealgate-a`).
async fn served_subject(addr: &str) -> String {
    let openssl = require_tool("openssl", "apt-get install -y openssl");
    let out = run_tool(
        Command::new(openssl)
            .args(["s_client", "-connect", addr, "-servername", "localhost"])
            .stdin(std::process::Stdio::null()),
    )
    .await;
    out.lines()
        .find_map(|l| l.strip_prefix("subject="))
        .unwrap_or_else(|| panic!("no subject in s_client output:\n{out}"))
        .trim()
        .to_owned()
}

/// Replaces the pair sealgate serves (`cert.pem`, `key.pem` in `dir`) with `<stem>.pem/.key`,
/// each by an atomic rename, the certificate first (so for a moment they do not match).
fn install_pair(dir: &Path, stem: &str) {
    std::fs::rename(dir.join(format!("{stem}.pem")), dir.join("cert.pem")).expect("rename cert");
    std::fs::rename(dir.join(format!("{stem}.key")), dir.join("key.pem")).expect("rename key");
}

async fn wait_for_subject(addr: &str, expected: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let subject = served_subject(addr).await;
        if subject.contains(expected) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still served {subject:?} after {within:?}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_replaced_on_disk_is_served_after_the_reload_interval() {
    let registry = Registry::start().await;
    let certs = tempfile::tempdir().expect("temp dir");
    self_signed_cert_named(certs.path(), "a", "sealgate-a");
    install_pair(certs.path(), "a");
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    let sealgate = Sealgate::builder()
        .upstream("local", &registry.url(), &[])
        .tls(&cert, &key)
        .tls_reload_interval(Duration::from_secs(1))
        .start()
        .await;
    let addr = sealgate.host();
    assert!(served_subject(&addr).await.contains("CN = sealgate-a"));

    self_signed_cert_named(certs.path(), "b", "sealgate-b");
    install_pair(certs.path(), "b");
    wait_for_subject(&addr, "CN = sealgate-b", Duration::from_secs(15)).await;
    let line = sealgate
        .wait_for_log("tls certificate reloaded", Duration::from_secs(5))
        .await;
    assert!(
        line.contains("sealgate-b") && line.contains("not_after"),
        "{line}"
    );

    // A broken pair is not served; the last good one stays, and a fixed one is picked up.
    std::fs::write(certs.path().join("key.pem"), "not a key").expect("break the key");
    sealgate
        .wait_for_log("do not load", Duration::from_secs(10))
        .await;
    assert!(served_subject(&addr).await.contains("CN = sealgate-b"));
    self_signed_cert_named(certs.path(), "c", "sealgate-c");
    install_pair(certs.path(), "c");
    wait_for_subject(&addr, "CN = sealgate-c", Duration::from_secs(15)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_the_certificate_and_refuses_a_broken_one() {
    let registry = Registry::start().await;
    let certs = tempfile::tempdir().expect("temp dir");
    self_signed_cert_named(certs.path(), "a", "sealgate-a");
    install_pair(certs.path(), "a");
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    // "0s": the files are not watched, only SIGHUP reloads them.
    let mut sealgate = Sealgate::builder()
        .upstream("local", &registry.url(), &[])
        .tls(&cert, &key)
        .tls_reload_interval(Duration::ZERO)
        .start()
        .await;
    let addr = sealgate.host();
    self_signed_cert_named(certs.path(), "b", "sealgate-b");
    install_pair(certs.path(), "b");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        served_subject(&addr).await.contains("CN = sealgate-a"),
        "not watched"
    );

    let config = sealgate.config_text().to_owned();
    let outcome = sealgate.reload(&config).await;
    assert!(
        outcome.contains("reloaded: ") && outcome.contains("tls certificate reloaded"),
        "{outcome}"
    );
    assert!(served_subject(&addr).await.contains("CN = sealgate-b"));
    let outcome = sealgate.reload(&config).await;
    assert!(outcome.contains("tls certificate unchanged"), "{outcome}");

    // A key that does not match: the reload is refused, nothing changes.
    self_signed_cert_named(certs.path(), "c", "sealgate-c");
    std::fs::rename(certs.path().join("c.pem"), &cert).expect("rename cert");
    let outcome = sealgate.reload(&config).await;
    assert!(
        outcome.contains("reload refused") && outcome.contains("tls.key"),
        "{outcome}"
    );
    assert!(served_subject(&addr).await.contains("CN = sealgate-b"));
}

/// `curl <extra> ` over TLS to `url` trusting `ca`, presenting a client certificate if given;
/// the HTTP status, or curl's error.
async fn curl_with_client_cert(
    url: &str,
    ca: &Path,
    client: Option<(&Path, &Path)>,
    extra: &[&str],
) -> Result<String, String> {
    let curl = require_tool("curl", "apt-get install -y curl");
    let mut command = Command::new(curl);
    command
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
        .args(extra)
        .arg("--cacert")
        .arg(ca);
    if let Some((cert, key)) = client {
        command.arg("--cert").arg(cert).arg("--key").arg(key);
    }
    let out = command.arg(url).output().await.expect("run curl");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn required_client_certificates_must_come_from_the_configured_ca() {
    let registry = Registry::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let server = self_signed_cert(dir.path());
    let clients = TestCa::new(dir.path(), "clients");
    let others = TestCa::new(dir.path(), "others");
    let ci = clients.client_cert(dir.path(), "ci", "ci");
    let rogue = others.client_cert(dir.path(), "rogue", "ci");
    let sealgate = Sealgate::builder()
        .upstream("local", &registry.url(), &[])
        .tls(&server.cert, &server.key)
        .tls_client_auth(&clients.cert, "required")
        .probe_client_cert(&ci.cert, &ci.key)
        .start()
        .await;
    let url = format!("{}/v2/", sealgate.base_url());
    let good = Some((ci.cert.as_path(), ci.key.as_path()));
    let bad = Some((rogue.cert.as_path(), rogue.key.as_path()));
    // TLS 1.3 (the default) and TLS 1.2. With 1.3 the server judges the client certificate after
    // the client has finished its side, so curl sees the refusal as an alert or a closed
    // connection on its first read; with 1.2 it fails the handshake itself. Either way no HTTP
    // status comes back.
    for extra in [&[][..], &["--tls-max", "1.2"][..]] {
        assert_eq!(
            curl_with_client_cert(&url, &server.cert, good, extra).await,
            Ok("200".to_owned()),
            "{extra:?}"
        );
        for (what, client) in [("no client certificate", None), ("another CA", bad)] {
            let refused = curl_with_client_cert(&url, &server.cert, client, extra).await;
            let Err(why) = refused else {
                panic!("{what} {extra:?}: answered {refused:?}");
            };
            if !extra.is_empty() {
                assert!(
                    why.contains("alert") || why.contains("SSL"),
                    "{what}: a TLS failure: {why}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upstream_behind_a_private_ca_is_trusted_through_its_ca_bundle() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new(dir.path(), "upstream");
    let registry_cert = ca.server_cert(dir.path(), "registry", "registry");
    let registry = Registry::start_with_tls(
        RegistryAuth::None,
        &registry_cert.cert,
        &registry_cert.key,
        &ca.cert,
    )
    .await;
    assert!(registry.url().starts_with("https://"), "{}", registry.url());

    // Without `ca`: the handshake fails and the client is told so.
    let untrusting = Sealgate::builder()
        .upstream("private", &registry.url(), &[])
        .start()
        .await;
    let reply = send(
        Method::GET,
        &format!("{}/v2/", untrusting.base_url()),
        &[],
        "",
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.text());
    assert_eq!(reply.oci_error_codes(), ["UNAVAILABLE"]);
    assert!(
        reply.text().contains("TLS handshake failed") && reply.text().contains("ca"),
        "{}",
        reply.text()
    );
    drop(untrusting);

    // With `ca`: pushes and pulls go through.
    let sealgate = Sealgate::builder()
        .upstream("private", &registry.url(), &[])
        .upstream_ca(&ca.cert)
        .start()
        .await;
    let work = tempfile::tempdir().expect("temp dir");
    let mut source = OciLayout::new(&work.path().join("source"));
    source.add_sample_image("v1", 1);
    let target = format!("docker://{}/it/private-ca:v1", sealgate.host());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &source.reference("v1"),
        &target,
    ])
    .await;
    let through_sealgate = skopeo_raw_digest(&["--tls-verify=false"], &target).await;
    // Read straight from the registry, trusting the CA.
    let registry_certs = tempfile::tempdir().expect("temp dir");
    std::fs::copy(&ca.cert, registry_certs.path().join("ca.crt")).expect("copy ca.crt");
    let direct = skopeo_raw_digest(
        &["--cert-dir", &registry_certs.path().display().to_string()],
        &format!("docker://{}/it/private-ca:v1", registry.host()),
    )
    .await;
    assert_eq!(through_sealgate, direct);
}
