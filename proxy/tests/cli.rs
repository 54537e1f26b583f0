//! The `sealgate` command line: exit codes and messages of `check-config` and `serve`.

use std::path::Path;
use std::process::{Command, Output};

const MINIMAL: &str = r#"
listen = "127.0.0.1:5050"
[storage]
path = "./data/sealgate"
[[upstream]]
name = "local"
url = "http://127.0.0.1:5000"
"#;

/// Environment variables for the child, as (name, value).
type Env<'a> = &'a [(&'a str, &'a str)];

fn sealgate(args: &[&str], env: Env) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sealgate"));
    cmd.args(args);
    // The child gets only the overrides a test names, whatever the parent's environment holds.
    for (key, _) in std::env::vars() {
        if key.starts_with("SEALGATE_") {
            cmd.env_remove(key);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("run sealgate")
}

fn config_file(dir: &Path, body: &str) -> String {
    let path = dir.join("sealgate.toml");
    std::fs::write(&path, body).expect("write the config file");
    path.to_str().expect("a UTF-8 temp path").to_owned()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_config_prints_the_effective_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let file = config_file(dir.path(), MINIMAL);
    let out = sealgate(
        &["check-config", "--config", &file],
        &[("SEALGATE_TIMEOUTS__RESPONSE", "90s")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("listen = \"127.0.0.1:5050\""), "{stdout}");
    assert!(stdout.contains("max_manifest_bytes = 4194304"), "{stdout}");
    assert!(stdout.contains("response = \"1m 30s\""), "{stdout}");
    assert!(
        stdout.contains("url = \"http://127.0.0.1:5000\""),
        "{stdout}"
    );
}

#[test]
fn check_config_exits_64_naming_the_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    // (file body, environment overrides, the key the message must name)
    let cases: &[(&str, Env, &str)] = &[
        (
            &MINIMAL.replace("http://127.0.0.1:5000", "ftp://127.0.0.1:5000"),
            &[],
            "upstream[0].url",
        ),
        (&format!("colour = \"red\"\n{MINIMAL}"), &[], "colour"),
        (MINIMAL, &[("SEALGATE_LISTEN", "localhost")], "listen"),
        (
            MINIMAL,
            &[("SEALGATE_LIMITS__MAX_MANIFEST_BYTES", "-5")],
            "max_manifest_bytes",
        ),
        ("listen = [", &[], "sealgate.toml"),
    ];
    for (body, env, key) in cases {
        let file = config_file(dir.path(), body);
        let out = sealgate(&["check-config", "--config", &file], env);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{key}: {stderr}");
        assert!(stderr.contains(key), "expected {key:?} in: {stderr}");
        assert!(
            out.stdout.is_empty(),
            "nothing printed on stdout for a bad config"
        );
    }
}

#[test]
fn serve_refuses_a_bad_configuration_before_binding() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("data");
    let body = MINIMAL
        .replace("name = \"local\"", "name = \"\"")
        .replace("./data/sealgate", store.to_str().unwrap());
    let file = config_file(dir.path(), &body);
    let out = sealgate(&["serve", "--config", &file], &[]);
    assert_eq!(out.status.code(), Some(64));
    assert!(
        text(&out.stderr).contains("upstream[0].name"),
        "{}",
        text(&out.stderr)
    );
    assert!(!store.exists(), "no store was created");
}

#[test]
fn a_missing_config_file_is_a_usage_error() {
    let out = sealgate(
        &["check-config", "--config", "/nonexistent/sealgate.toml"],
        &[],
    );
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out.stderr).contains("/nonexistent/sealgate.toml"));
}

#[test]
fn help_teaches_the_environment_overrides() {
    let out = sealgate(&["--help"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for needle in [
        "serve",
        "check-config",
        "SEALGATE_STORAGE__PATH",
        "docs/configuration.md",
    ] {
        assert!(
            help.contains(needle),
            "{needle:?} missing from --help:\n{help}"
        );
    }
}

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../policies/tests/fixtures");
const ALICE_IMAGE: &str = "sha256:071bf7a986f1ca9cb2a1f0bc8392822a7777f90d58f2d2c6f271913e08de7c81";

fn connaisseur(path: &str) -> String {
    format!("{FIXTURES}/cosign-legacy/connaisseur-testimage/{path}")
}

fn verify(extra: &[&str]) -> Output {
    let sig = connaisseur(&format!("manifests/sha256-{}.sig.json", &ALICE_IMAGE[7..]));
    let blob = connaisseur(
        "blobs/sha256/d8ee807d96efe7441b132967ad94eaffbc0172a763e69f2cd8df8f583f0ba0d4",
    );
    let mut args = vec![
        "verify",
        "--repository",
        "securesystemsengineering/testimage",
    ];
    args.extend_from_slice(extra);
    args.push(&sig);
    args.push(&blob);
    sealgate(&args, &[])
}

#[test]
fn verify_exits_0_when_admitted_and_1_when_refused_with_the_reason() {
    let alice = connaisseur("keys/alice.pub");
    let out = verify(&["--key", &alice, "--digest", ALICE_IMAGE]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("result    ADMITTED"),
        "{}",
        text(&out.stdout)
    );

    let bob = connaisseur("keys/bob.pub");
    let out = verify(&["--key", &bob, "--digest", ALICE_IMAGE, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(json["admitted"], false);
    assert_eq!(
        json["failures"][0]["reason"],
        "signature does not verify with the signer's key"
    );

    // Right key, another image: the signature cannot be replayed.
    let other = format!("sha256:{}", "0".repeat(64));
    let out = verify(&["--key", &alice, "--digest", &other]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("signature is for sha256:071bf7a9"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn verify_exits_2_on_usage_errors_and_unreadable_input() {
    let alice = connaisseur("keys/alice.pub");
    for (args, needle) in [
        (
            vec!["--key", alice.as_str(), "--digest", "sha256:nope"],
            "--digest",
        ),
        (
            vec!["--key", "/nonexistent.pub", "--digest", ALICE_IMAGE],
            "nonexistent.pub",
        ),
        (vec!["--digest", ALICE_IMAGE], "no trust given"),
    ] {
        let out = verify(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains(needle),
            "{needle}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn check_config_reports_bad_trust_material_with_file_and_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let roots = format!("{FIXTURES}/notation/e2e/truststore/e2e.crt");
    let crl = format!("{FIXTURES}/pki/notation-crl/leaf.crl");
    let root = format!("{FIXTURES}/pki/notation-crl/root.crt");
    let cases = [
        (
            "[trust.keys.ci]\npath = \"missing.pub\"\n".to_owned(),
            "trust.keys.ci.path",
            "missing.pub",
        ),
        (
            format!("[trust.pki.corp]\nroots = \"{roots}\"\n"),
            "trust.pki.corp.roots",
            "is not a CA certificate",
        ),
        (
            format!(
                "[trust.keys.ci]\npath = \"{}\"\n[policy.default]\nsigners = [\"release\"]\n",
                connaisseur("keys/alice.pub")
            ),
            "policy.default.signers[0]",
            "unknown signer \"release\"",
        ),
    ];
    // A CRL issued by a CA the bundle does not hold (an intermediate that signatures carry in
    // their chain) is usable since issue 14: accepted, with a warning naming key and issuer.
    let file = config_file(
        dir.path(),
        &format!("{MINIMAL}[trust.pki.corp]\nroots = \"{root}\"\ncrls = [\"{crl}\"]\n"),
    );
    let out = sealgate(&["check-config", "--config", &file], &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: trust.pki.corp.crls[0]") && stderr.contains("does not hold"),
        "a CRL no configured CA issued is said at load, not silently accepted: {stderr}"
    );
    for (trust, key, reason) in cases {
        let file = config_file(dir.path(), &format!("{MINIMAL}{trust}"));
        let out = sealgate(&["check-config", "--config", &file], &[]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{key}: {stderr}");
        assert!(
            stderr.contains(key) && stderr.contains(reason),
            "expected {key} / {reason:?} in: {stderr}"
        );
    }
}

const KUBEWARDEN_IMAGE: &str =
    "sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172";
const ATTESTATION_IMAGE: &str =
    "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4";
const ATTESTATION_PREDICATE: &str = "https://cosign.sigstore.dev/attestation/v1";

/// `sealgate verify` of one OCI bundle fixture (`kubewarden`, a cosign v3 image signature, or
/// `attestation`, a cosign attestation) for its image in `repository`.
fn verify_bundle(which: &str, repository: &str, trust: &[&str]) -> (Option<i32>, String) {
    let (bundle, digest) = match which {
        "kubewarden" => ("kubewarden-controller-v1.34.0", KUBEWARDEN_IMAGE),
        _ => ("cosign-oci-attestation", ATTESTATION_IMAGE),
    };
    let bundle = format!("{FIXTURES}/bundle-v0.3/oci/{bundle}.sigstore.json");
    let mut args = vec!["verify", "--repository", repository, "--digest", digest];
    args.extend_from_slice(trust);
    args.push(&bundle);
    let out = sealgate(&args, &[]);
    (
        out.status.code(),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

#[test]
fn r14_verify_counts_statements_by_predicate_type_per_scope_or_flag() {
    let dir = tempfile::tempdir().unwrap();
    let file = config_file(
        dir.path(),
        &format!(
            r#"{MINIMAL}
[trust.keyless.kubewarden]
trusted_root = "{FIXTURES}/bundle-v0.3/trusted_root.public-good.json"
san = "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/*"
issuer = "https://token.actions.githubusercontent.com"

[trust.keyless.cody]
trusted_root = "{FIXTURES}/bundle-v0.3/trusted_root.public-good.json"
san = "cody@soyland.com"
issuer = "https://github.com/login/oauth"

[policy.default]
signers = ["kubewarden", "cody"]

[[policy.scope]]
repositories = "attested/**"
signers = ["kubewarden", "cody"]
signature_predicate_types = ["{ATTESTATION_PREDICATE}"]
"#
        ),
    );
    let config = ["--config", file.as_str()];
    // The default scope: cosign v3's image-signature predicate only.
    let (code, out) = verify_bundle("kubewarden", "team/app", &config);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = verify_bundle("attestation", "team/app", &config);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "statement predicateType \"{ATTESTATION_PREDICATE}\" is an attestation, not an \
             image signature (scope \"default\" accepts: https://sigstore.dev/cosign/sign/v1)"
        )),
        "{out}"
    );
    // A scope that lists the attestation's predicate, and only it.
    let (code, out) = verify_bundle("attestation", "attested/app", &config);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = verify_bundle("kubewarden", "attested/app", &config);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("is an attestation"), "{out}");

    // Flags: any statement, unless --predicate-type narrows it.
    let root = format!("{FIXTURES}/bundle-v0.3/trusted_root.public-good.json");
    let cody = [
        "--trusted-root",
        root.as_str(),
        "--certificate-identity",
        "cody@soyland.com",
        "--certificate-oidc-issuer",
        "https://github.com/login/oauth",
    ];
    let (code, out) = verify_bundle("attestation", "team/app", &cody);
    assert_eq!(code, Some(0), "{out}");
    let narrowed = [
        &cody[..],
        &["--predicate-type", "https://sigstore.dev/cosign/sign/v1"],
    ]
    .concat();
    let (code, out) = verify_bundle("attestation", "team/app", &narrowed);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("is an attestation, not an image signature"),
        "{out}"
    );
    let both = [&narrowed[..], &["--predicate-type", ATTESTATION_PREDICATE]].concat();
    let (code, out) = verify_bundle("attestation", "team/app", &both);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = verify_bundle(
        "attestation",
        "team/app",
        &[&cody[..], &["--predicate-type", "sign/v1"]].concat(),
    );
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("--predicate-type[0]: \"sign/v1\" is not an absolute URI"),
        "{out}"
    );
    let (code, out) = verify_bundle(
        "attestation",
        "team/app",
        &[&config[..], &["--predicate-type", ATTESTATION_PREDICATE]].concat(),
    );
    assert_eq!(code, Some(2), "--config decides per scope: {out}");

    // check-config shows the rule in force, the default included.
    let out = sealgate(&["check-config", "--config", &file], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout)
            .contains("signature_predicate_types = [\"https://sigstore.dev/cosign/sign/v1\"]"),
        "{}",
        text(&out.stdout)
    );
}
