//! The listeners' protocols: HTTPS with ALPN (h2 and HTTP/1.1) using a configured certificate, and
//! h2c with prior knowledge on the plain listener.

use sealgate_integration_tests::{
    OciLayout, Registry, Sealgate, oci, registry_behind_sealgate, require_tool, run_tool,
    self_signed_cert, skopeo, skopeo_raw_digest,
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
