//! The admin API and `sealgate admin`: credentials, status and digests, pins and audit,
//! revocation with its blast radius, reload, retiring a pin.

use std::path::Path;
use std::process::Output;

use bytes::Bytes;
use http::{Method, StatusCode};
use sealgate_integration_tests::cosign::{CosignKey, push_signature};
use sealgate_integration_tests::{MANIFEST_ACCEPT, Registry, Sealgate, oci, send, unique_salt};

const TOKEN: &str = "it-admin-token-0123456789abcdef0123456789";

/// `ci` and `release` both trusted in an enforce default scope.
fn policy(dir: &Path, ci: &CosignKey, release: &CosignKey, extra: &str) -> String {
    format!(
        r#"
[trust.keys.ci]
path = "{}"
[trust.keys.release]
path = "{}"
{extra}
[policy.default]
mode = "enforce"
signers = ["ci", "release"]
"#,
        ci.write_public(dir, "ci").display(),
        release.write_public(dir, "release").display()
    )
}

async fn gated(dir: &Path, ci: &CosignKey, release: &CosignKey) -> (Registry, Sealgate) {
    let registry = Registry::start().await;
    let sealgate = Sealgate::builder()
        .upstream("local", &registry.url(), &[])
        .trust_policy(&policy(dir, ci, release, ""))
        .admin_token(TOKEN)
        .start()
        .await;
    (registry, sealgate)
}

async fn push_signed(base: &str, name: &str, tag: &str, key: &CosignKey) -> String {
    sealgate_integration_tests::cosign::push_signed_tiny_image(base, name, tag, key)
        .await
        .0
}

async fn pull_status(
    sealgate: &Sealgate,
    name: &str,
    tag: &str,
) -> sealgate_integration_tests::Reply {
    send(
        Method::GET,
        &format!("{}/v2/{name}/manifests/{tag}", sealgate.base_url()),
        &MANIFEST_ACCEPT,
        Bytes::new(),
    )
    .await
}

async fn admin_get(sealgate: &Sealgate, path: &str) -> serde_json::Value {
    let reply = send(
        Method::GET,
        &format!("{}{path}", sealgate.admin_url()),
        &[("authorization", &format!("Bearer {TOKEN}"))],
        Bytes::new(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text());
    reply.json()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn explain(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        stdout(output),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_api_answers_only_with_its_credential() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_registry, sealgate) =
        gated(dir.path(), &CosignKey::generate(), &CosignKey::generate()).await;
    let status_url = format!("{}/admin/v1/status", sealgate.admin_url());
    for headers in [
        vec![],
        vec![("authorization", "Bearer not-the-token-not-the-token-xx")],
        vec![("authorization", "Basic YWRtaW46YWRtaW4=")],
    ] {
        let refused = send(Method::GET, &status_url, &headers, Bytes::new()).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{headers:?}");
        assert!(refused.header("www-authenticate").is_some());
        assert!(refused.json()["error"].as_str().is_some());
    }
    // Unauthenticated writes are refused the same way, and change nothing.
    let revoke = send(
        Method::POST,
        &format!("{}/admin/v1/revocations", sealgate.admin_url()),
        &[],
        Bytes::from_static(br#"{"key":"sha256:00","reason":"x"}"#),
    )
    .await;
    assert_eq!(revoke.status, StatusCode::UNAUTHORIZED);
    // The client listener does not serve the admin API.
    let on_client = send(
        Method::GET,
        &format!("{}/admin/v1/status", sealgate.base_url()),
        &[("authorization", &format!("Bearer {TOKEN}"))],
        Bytes::new(),
    )
    .await;
    assert_eq!(on_client.status, StatusCode::NOT_FOUND);

    let status = admin_get(&sealgate, "/admin/v1/status").await;
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["trust_generation"], 1);
    assert!(
        status["policy_digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:"))
    );
    assert!(
        status["trust_digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:"))
    );
    assert_eq!(status["scopes"][0]["repositories"], "default");
    assert!(status["store_size_bytes"].as_u64().is_some_and(|n| n > 0));

    let cli = sealgate.admin_cli(&["status"]).await;
    assert!(cli.status.success(), "{}", explain(&cli));
    let text = stdout(&cli);
    assert!(
        text.contains(status["policy_digest"].as_str().expect("digest")),
        "{text}"
    );
    let json = sealgate.admin_cli(&["--json", "status"]).await;
    let parsed: serde_json::Value =
        serde_json::from_slice(&json.stdout).expect("--json prints JSON");
    assert_eq!(parsed["trust_digest"], status["trust_digest"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn revoking_a_key_reports_the_blast_radius_and_refuses_the_next_pull() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ci, release) = (CosignKey::generate(), CosignKey::generate());
    let (_registry, mut sealgate) = gated(dir.path(), &ci, &release).await;
    let base = sealgate.base_url();
    let api = push_signed(&base, "prod/api", "v1", &ci).await;
    push_signed(&base, "prod/web", "v1", &release).await;
    assert_eq!(
        pull_status(&sealgate, "prod/api", "v1").await.status,
        StatusCode::OK
    );
    assert_eq!(
        pull_status(&sealgate, "prod/web", "v1").await.status,
        StatusCode::OK
    );

    let fingerprint = ci.fingerprint();
    let revoked = sealgate
        .admin_cli(&["revoke", "key", &fingerprint, "--reason", "ci key leaked"])
        .await;
    assert!(revoked.status.success(), "{}", explain(&revoked));
    let text = stdout(&revoked);
    assert!(text.contains("blast radius: 1 pinned tag(s)"), "{text}");
    assert!(
        text.contains("prod/api:v1") && text.contains(&api),
        "{text}"
    );
    assert!(!text.contains("prod/web"), "{text}");

    // The very next pull is judged without the key (no waiting for a cached verdict).
    let refused = pull_status(&sealgate, "prod/api", "v1").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    assert!(
        refused.text().contains("ci key leaked"),
        "{}",
        refused.text()
    );
    assert_eq!(
        pull_status(&sealgate, "prod/web", "v1").await.status,
        StatusCode::OK
    );

    let audit = sealgate
        .admin_cli(&["--json", "audit", "--action", "revoke"])
        .await;
    assert!(audit.status.success(), "{}", explain(&audit));
    let events: serde_json::Value = serde_json::from_slice(&audit.stdout).expect("JSON");
    assert_eq!(
        events["events"].as_array().map(Vec::len),
        Some(1),
        "{events}"
    );
    assert_eq!(events["events"][0]["identity"], "admin-token");

    // A bad fingerprint changes nothing and says why.
    let bad = sealgate
        .admin_cli(&["revoke", "key", "sha256:nope", "--reason", "typo"])
        .await;
    assert_eq!(bad.status.code(), Some(1), "{}", explain(&bad));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a fingerprint"));

    // Runtime revocations survive a restart.
    sealgate.restart().await;
    let after_restart = pull_status(&sealgate, "prod/api", "v1").await;
    assert_eq!(
        after_restart.status,
        StatusCode::FORBIDDEN,
        "{}",
        after_restart.text()
    );
    let listed = sealgate.admin_cli(&["revocations"]).await;
    assert!(
        stdout(&listed).contains(&fingerprint),
        "{}",
        explain(&listed)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_sealgates_compare_by_policy_and_trust_digests() {
    let (ci, release) = (CosignKey::generate(), CosignKey::generate());
    // The same key material under different paths.
    let (a_dir, b_dir) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let (_ra, a) = gated(a_dir.path(), &ci, &release).await;
    let (_rb, b) = gated(b_dir.path(), &ci, &release).await;
    let (sa, sb) = (
        admin_get(&a, "/admin/v1/status").await,
        admin_get(&b, "/admin/v1/status").await,
    );
    assert_eq!(sa["policy_digest"], sb["policy_digest"]);
    assert_eq!(sa["trust_digest"], sb["trust_digest"]);

    // Another key: another trust digest, same policy digest.
    let c_dir = tempfile::tempdir().expect("dir");
    let (_rc, c) = gated(c_dir.path(), &CosignKey::generate(), &release).await;
    let sc = admin_get(&c, "/admin/v1/status").await;
    assert_eq!(sc["policy_digest"], sa["policy_digest"]);
    assert_ne!(sc["trust_digest"], sa["trust_digest"]);

    // A revocation at run time is part of the trust in force.
    let revoked = b
        .admin_cli(&[
            "revoke",
            "key",
            &release.fingerprint(),
            "--reason",
            "rotation",
        ])
        .await;
    assert!(revoked.status.success(), "{}", explain(&revoked));
    let sb = admin_get(&b, "/admin/v1/status").await;
    assert_eq!(sb["policy_digest"], sa["policy_digest"]);
    assert_ne!(sb["trust_digest"], sa["trust_digest"]);
    assert_eq!(sb["trust_generation"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn pins_audit_and_retiring_a_pin() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ci, release) = (CosignKey::generate(), CosignKey::generate());
    let (_registry, sealgate) = gated(dir.path(), &ci, &release).await;
    let base = sealgate.base_url();
    let first = push_signed(&base, "prod/api", "v1", &ci).await;
    push_signed(&base, "team/tool", "v1", &release).await;

    let listed = sealgate
        .admin_cli(&["pins", "list", "--repository", "prod/**"])
        .await;
    assert!(listed.status.success(), "{}", explain(&listed));
    let text = stdout(&listed);
    assert!(
        text.contains("prod/api:v1") && text.contains(&first),
        "{text}"
    );
    assert!(!text.contains("team/tool"), "{text}");
    let by_signer = sealgate
        .admin_cli(&["--json", "pins", "list", "--signer", "release"])
        .await;
    let pins: serde_json::Value = serde_json::from_slice(&by_signer.stdout).expect("JSON");
    assert_eq!(pins["pins"].as_array().map(Vec::len), Some(1), "{pins}");
    assert_eq!(pins["pins"][0]["repository"], "team/tool");

    let shown = sealgate
        .admin_cli(&["pins", "show", "prod/api", "v1"])
        .await;
    assert!(shown.status.success(), "{}", explain(&shown));
    assert!(
        stdout(&shown).contains("admitted now: true"),
        "{}",
        stdout(&shown)
    );
    let missing = sealgate
        .admin_cli(&["pins", "show", "prod/api", "v9"])
        .await;
    assert_eq!(missing.status.code(), Some(1), "{}", explain(&missing));

    let verified = sealgate.admin_cli(&["audit", "verify"]).await;
    assert!(verified.status.success(), "{}", explain(&verified));
    assert!(
        stdout(&verified).contains("audit log intact"),
        "{}",
        stdout(&verified)
    );
    let denied = sealgate
        .admin_cli(&[
            "--json",
            "audit",
            "--outcome",
            "allow",
            "--repository",
            "prod/**",
            "--action",
            "push",
        ])
        .await;
    let events: serde_json::Value = serde_json::from_slice(&denied.stdout).expect("JSON");
    assert_eq!(
        events["events"].as_array().map(Vec::len),
        Some(1),
        "{events}"
    );
    assert_eq!(events["events"][0]["digest"], first.as_str());

    // Another signed image under the pinned tag: refused until the pin is retired.
    let (second, second_manifest) = oci::tiny_image(&base, "prod/api", &unique_salt()).await;
    oci::put_manifest(&base, "prod/api", &second, &second_manifest).await;
    push_signature(
        &base,
        "prod/api",
        &second,
        &[ci.sign("registry.example/prod/api", &second)],
    )
    .await;
    let refused = oci::put_manifest(&base, "prod/api", "v1", &second_manifest).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let retired = sealgate
        .admin_cli(&[
            "retire-pin",
            "prod/api",
            "v1",
            "--reason",
            "rebuilt with a fix",
        ])
        .await;
    assert!(retired.status.success(), "{}", explain(&retired));
    assert!(stdout(&retired).contains(&first), "{}", stdout(&retired));
    let repinned = oci::put_manifest(&base, "prod/api", "v1", &second_manifest).await;
    assert_eq!(repinned.status, StatusCode::CREATED, "{}", repinned.text());
    let again = sealgate
        .admin_cli(&["retire-pin", "prod/api", "v7", "--reason", "nothing there"])
        .await;
    assert_eq!(again.status.code(), Some(1), "{}", explain(&again));
    let audit = admin_get(&sealgate, "/admin/v1/audit?action=retire-pin").await;
    assert_eq!(audit["events"].as_array().map(Vec::len), Some(1), "{audit}");
    assert!(
        audit["events"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("rebuilt with a fix"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_through_the_admin_api_is_all_or_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_registry, sealgate) =
        gated(dir.path(), &CosignKey::generate(), &CosignKey::generate()).await;
    let unchanged = sealgate.admin_cli(&["reload"]).await;
    assert!(unchanged.status.success(), "{}", explain(&unchanged));
    assert!(
        stdout(&unchanged).contains("trust generation 2"),
        "{}",
        stdout(&unchanged)
    );
    // A scope naming a signer that does not exist: refused, nothing changes.
    let broken = sealgate.config_text().replace(
        "signers = [\"ci\", \"release\"]",
        "signers = [\"ci\", \"nobody\"]",
    );
    std::fs::write(sealgate.config_path(), &broken).expect("write config");
    let refused = sealgate.admin_cli(&["reload"]).await;
    assert_eq!(refused.status.code(), Some(1), "{}", explain(&refused));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("nothing changed"));
    let status = admin_get(&sealgate, "/admin/v1/status").await;
    assert_eq!(status["trust_generation"], 2);
}

/// Days since the epoch → (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i32, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    (year, month, day)
}

#[tokio::test(flavor = "multi_thread")]
async fn status_lists_trust_certificates_expiring_within_30_days() {
    let dir = tempfile::tempdir().expect("temp dir");
    let now_days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
        / 86_400;
    let root = |cn: &str, days: i64| {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let (y, m, d) = civil_from_days(now_days + days);
        params.not_after = rcgen::date_time_ymd(y, m, d);
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("certificate");
        let path = dir.path().join(format!("{cn}.pem"));
        std::fs::write(&path, cert.pem()).expect("write");
        path
    };
    let soon = root("Soon Root", 10);
    let later = root("Later Root", 400);
    let ci = CosignKey::generate();
    let extra = format!(
        "[trust.pki.soon]\nroots = \"{}\"\n[trust.pki.later]\nroots = \"{}\"\n",
        soon.display(),
        later.display()
    );
    let registry = Registry::start().await;
    let sealgate = Sealgate::builder()
        .upstream("local", &registry.url(), &[])
        .trust_policy(&policy(dir.path(), &ci, &CosignKey::generate(), &extra))
        .admin_token(TOKEN)
        .start()
        .await;
    let status = admin_get(&sealgate, "/admin/v1/status").await;
    let expiring = status["certificates_expiring_within_30_days"]
        .as_array()
        .expect("a list");
    assert_eq!(expiring.len(), 1, "{status}");
    assert_eq!(expiring[0]["signer"], "soon");
    assert!(
        expiring[0]["subject"]
            .as_str()
            .is_some_and(|s| s.contains("Soon Root"))
    );
    assert_eq!(expiring[0]["expired"], false);
    let cli = sealgate.admin_cli(&["status"]).await;
    assert!(
        stdout(&cli).contains("certificates expiring within 30 days: 1"),
        "{}",
        explain(&cli)
    );
}

/// A CA and a certificate it issued, as PEM files in `dir`: (ca, cert, key).
fn issue(
    dir: &Path,
    name: &str,
    server: bool,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{name} CA"));
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let sans = if server {
        vec!["127.0.0.1".to_owned()]
    } else {
        vec![]
    };
    let mut params = rcgen::CertificateParams::new(sans).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{name} leaf"));
    params.extended_key_usages = vec![if server {
        rcgen::ExtendedKeyUsagePurpose::ServerAuth
    } else {
        rcgen::ExtendedKeyUsagePurpose::ClientAuth
    }];
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, &issuer).expect("leaf");
    let paths = (
        dir.join(format!("{name}-ca.pem")),
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&paths.0, ca_cert.pem()).expect("write");
    std::fs::write(&paths.1, cert.pem()).expect("write");
    std::fs::write(&paths.2, key.serialize_pem()).expect("write");
    paths
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_api_accepts_client_certificates_from_its_ca_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server_ca, server_cert, server_key) = issue(dir.path(), "server", true);
    let (client_ca, client_cert, client_key) = issue(dir.path(), "operator", false);
    let (_, stranger_cert, stranger_key) = issue(dir.path(), "stranger", false);
    let port = sealgate_integration_tests::free_port();
    let admin = format!(
        "[admin]\nlisten = \"127.0.0.1:{port}\"\ncert = \"{}\"\nkey = \"{}\"\nclient_ca = \"{}\"\n",
        server_cert.display(),
        server_key.display(),
        client_ca.display()
    );
    let registry = Registry::start().await;
    let ci = CosignKey::generate();
    let _sealgate = Sealgate::builder()
        .upstream("local", &registry.url(), &[])
        .trust_policy(&format!(
            "{}\n{admin}",
            policy(dir.path(), &ci, &CosignKey::generate(), "")
        ))
        .start()
        .await;
    let base_args = |cert: &Path, key: &Path| {
        vec![
            "--url".to_owned(),
            format!("https://127.0.0.1:{port}"),
            "--ca".to_owned(),
            server_ca.display().to_string(),
            "--cert".to_owned(),
            cert.display().to_string(),
            "--key".to_owned(),
            key.display().to_string(),
        ]
    };
    let run = |args: Vec<String>| async move {
        tokio::process::Command::new(sealgate_integration_tests::sealgate_binary())
            .arg("admin")
            .args(&args)
            .env_remove("SEALGATE_ADMIN_TOKEN")
            .output()
            .await
            .expect("run sealgate admin")
    };
    let mut ok = base_args(&client_cert, &client_key);
    ok.push("status".to_owned());
    let status = run(ok).await;
    assert!(status.status.success(), "{}", explain(&status));
    assert!(
        stdout(&status).contains("policy_digest"),
        "{}",
        stdout(&status)
    );
    // The caller is recorded by its certificate.
    let mut revoke = base_args(&client_cert, &client_key);
    revoke.extend(["revoke", "key", &ci.fingerprint(), "--reason", "rotation"].map(str::to_owned));
    let revoked = run(revoke).await;
    assert!(revoked.status.success(), "{}", explain(&revoked));
    let mut audit = base_args(&client_cert, &client_key);
    audit.extend(["--json", "audit", "--action", "revoke"].map(str::to_owned));
    let events: serde_json::Value = serde_json::from_slice(&run(audit).await.stdout).expect("JSON");
    assert!(
        events["events"][0]["identity"]
            .as_str()
            .is_some_and(|who| who.starts_with("cert:") && who.contains("operator leaf")),
        "{events}"
    );
    // A certificate from another CA is not a credential: the handshake fails.
    let mut stranger = base_args(&stranger_cert, &stranger_key);
    stranger.push("status".to_owned());
    let refused = run(stranger).await;
    assert_eq!(refused.status.code(), Some(2), "{}", explain(&refused));
    // No certificate and no token: the CLI refuses before calling.
    let anonymous = run(vec![
        "--url".to_owned(),
        format!("https://127.0.0.1:{port}"),
        "status".to_owned(),
    ])
    .await;
    assert_eq!(anonymous.status.code(), Some(2), "{}", explain(&anonymous));
    assert!(String::from_utf8_lossy(&anonymous.stderr).contains("no credential"));
}
