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
