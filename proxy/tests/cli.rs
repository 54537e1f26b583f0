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
