use super::*;
use crate::credentials::Secret;

const MINIMAL: &str = r#"
listen = "127.0.0.1:5050"
[storage]
path = "./data/sealgate"
[[upstream]]
name = "local"
url = "http://127.0.0.1:5000"
"#;

fn write(body: &str) -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    std::fs::write(file.path(), body).unwrap();
    file
}

fn env(pairs: &[(&str, &str)]) -> EnvSource {
    EnvSource::Map(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

fn load(body: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let file = write(body);
    Config::load(file.path(), &env(vars))
}

fn err(body: &str, vars: &[(&str, &str)]) -> String {
    load(body, vars).unwrap_err().to_string()
}

#[test]
fn the_minimal_config_loads_with_defaults() {
    let cfg = load(MINIMAL, &[]).unwrap();
    assert_eq!(cfg.listen, "127.0.0.1:5050".parse().unwrap());
    assert_eq!(
        cfg.storage,
        StorageConfig::Sled {
            path: PathBuf::from("./data/sealgate")
        }
    );
    assert_eq!(cfg.upstreams.len(), 1);
    assert_eq!(cfg.upstreams[0].authority.as_str(), "127.0.0.1:5000");
    assert_eq!(cfg.upstreams[0].scheme, Scheme::HTTP);
    assert_eq!(cfg.max_manifest_bytes, 4 * 1024 * 1024);
    assert_eq!(cfg.timeouts.connect, Duration::from_secs(5));
    assert!(cfg.tls.is_none());
    assert_eq!(cfg.log.level, "info");
    assert_eq!(cfg.log.format, LogFormat::Text);
}

#[test]
fn environment_overrides_the_file() {
    let cfg = load(
        MINIMAL,
        &[
            ("SEALGATE_LISTEN", "127.0.0.1:6000"),
            ("SEALGATE_STORAGE__PATH", "/tmp/elsewhere"),
            ("SEALGATE_LIMITS__MAX_MANIFEST_BYTES", "1024"),
            ("SEALGATE_TIMEOUTS__CONNECT", "250ms"),
        ],
    )
    .unwrap();
    assert_eq!(cfg.listen.port(), 6000);
    assert_eq!(cfg.storage.sled_path(), Some(Path::new("/tmp/elsewhere")));
    assert_eq!(cfg.max_manifest_bytes, 1024);
    assert_eq!(cfg.timeouts.connect, Duration::from_millis(250));
}

#[test]
fn unknown_keys_are_named() {
    let e = err(&format!("lisen = \"x\"\n{MINIMAL}"), &[]);
    assert!(e.contains("lisen"), "{e}");
    let e = err(MINIMAL, &[("SEALGATE_STORAGE__PTH", "x")]);
    assert!(e.contains("pth"), "{e}");
}

#[test]
fn bad_values_name_their_key() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "listen = \"127.0.0.1:5050\"",
            "listen = \"nowhere\"",
            "listen",
        ),
        (
            "url = \"http://127.0.0.1:5000\"",
            "url = \"ftp://127.0.0.1\"",
            "upstream[0].url",
        ),
        (
            "url = \"http://127.0.0.1:5000\"",
            "url = \"http://127.0.0.1:5000/v2\"",
            "upstream[0].url",
        ),
        (
            "url = \"http://127.0.0.1:5000\"",
            "url = \"http://user:pw@127.0.0.1:5000\"",
            "upstream[0].url",
        ),
        ("name = \"local\"", "name = \"lo cal\"", "upstream[0].name"),
    ];
    for (from, to, key) in cases {
        let e = err(&MINIMAL.replace(from, to), &[]);
        assert!(e.starts_with(key), "{to}: {e}");
    }
    let e = err(MINIMAL, &[("SEALGATE_LIMITS__MAX_MANIFEST_BYTES", "0")]);
    assert!(e.starts_with("limits.max_manifest_bytes"), "{e}");
    let e = err(MINIMAL, &[("SEALGATE_LIMITS__MAX_MANIFEST_BYTES", "lots")]);
    assert!(e.contains("max_manifest_bytes"), "{e}");
    let e = err(MINIMAL, &[("SEALGATE_TIMEOUTS__IDLE", "soon")]);
    assert!(e.contains("idle"), "{e}");
    let e = err(MINIMAL, &[("SEALGATE_LOG__LEVEL", "sealgate=loud")]);
    assert!(e.starts_with("log.level"), "{e}");
}

#[test]
fn upstreams_are_required_and_unique() {
    let no_upstream = "[storage]\npath = \"x\"\n";
    assert!(err(no_upstream, &[]).starts_with("upstream:"));
    let twice =
        format!("{MINIMAL}[[upstream]]\nname = \"local\"\nurl = \"http://127.0.0.1:5001\"\n");
    assert!(err(&twice, &[]).starts_with("upstream[1].name"));
    let shared_ns = format!(
        "{}[[upstream]]\nname = \"b\"\nurl = \"http://127.0.0.1:5001\"\nnamespaces = [\"docker.io\"]\n",
        MINIMAL.replace(
            "url = \"http://127.0.0.1:5000\"",
            "url = \"http://127.0.0.1:5000\"\nnamespaces = [\"docker.io\"]"
        )
    );
    assert!(err(&shared_ns, &[]).starts_with("upstream[1].namespaces[0]"));
    let bad_ns = MINIMAL.replace(
        "url = \"http://127.0.0.1:5000\"",
        "url = \"http://127.0.0.1:5000\"\nnamespaces = [\"docker.io/x\"]",
    );
    assert!(err(&bad_ns, &[]).starts_with("upstream[0].namespaces[0]"));
}

#[test]
fn one_registry_under_two_upstream_names_is_refused() {
    let second = |url: &str| {
        format!(
            "{MINIMAL}[[upstream]]\nname = \"second\"\nurl = \"{url}\"\nnamespaces = [\"docker.io\"]\n"
        )
    };
    // The same registry however the URL is spelled: scheme or host case, the default port, a
    // trailing slash or dot, the other scheme on the same port.
    let first = MINIMAL.replace("http://127.0.0.1:5000", "http://registry.example");
    let with_first = |url: &str| second(url).replace(MINIMAL, &first);
    for url in [
        "http://registry.example",
        "HTTP://Registry.Example/",
        "http://registry.example:80",
        "http://registry.example.:80/",
        "https://registry.example:80",
    ] {
        let e = err(&with_first(url), &[]);
        assert!(e.starts_with("upstream[1].url"), "{url}: {e}");
        assert!(
            e.contains("\"local\"") && e.contains("\"second\"") && e.contains("upstream[0]"),
            "names both: {e}"
        );
    }
    for url in [
        "https://registry.example",
        "http://registry.example:5000",
        "http://registry.example.com",
        "http://other.example",
    ] {
        assert!(
            load(&with_first(url), &[]).is_ok(),
            "{url} is another registry"
        );
    }
    let e = err(&second("http://127.0.0.1:5000/"), &[]);
    assert!(e.starts_with("upstream[1].url"), "{e}");
    assert!(load(&second("http://127.0.0.1:5001"), &[]).is_ok());
}

#[test]
fn tls_files_are_checked_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let missing = format!(
        "{MINIMAL}[tls]\ncert = \"{0}/nope.pem\"\nkey = \"{0}/nope.key\"\n",
        dir.path().display()
    );
    assert!(err(&missing, &[]).starts_with("tls.cert"));
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not pem").unwrap();
    let empty = format!(
        "{MINIMAL}[tls]\ncert = \"{0}\"\nkey = \"{0}\"\n",
        garbage.display()
    );
    assert!(err(&empty, &[]).starts_with("tls.cert"));
}

#[test]
fn a_missing_file_is_reported() {
    let e = Config::load(Path::new("/nonexistent/sealgate.toml"), &env(&[])).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/sealgate.toml"), "{e}");
}

#[test]
fn the_effective_config_renders_as_toml_that_loads_again() {
    let file = write(MINIMAL);
    let raw = RawConfig::load(file.path(), &env(&[("SEALGATE_LISTEN", "127.0.0.1:7000")])).unwrap();
    let rendered = raw.to_toml();
    assert!(
        rendered.contains("listen = \"127.0.0.1:7000\""),
        "{rendered}"
    );
    assert!(
        rendered.contains("max_manifest_bytes = 4194304"),
        "{rendered}"
    );
    let again = write(&rendered);
    let cfg = Config::load(again.path(), &env(&[])).unwrap();
    assert_eq!(cfg.listen.port(), 7000);
}

#[test]
fn namespaces_look_like_registry_hosts() {
    assert!(is_valid_namespace("docker.io"));
    assert!(is_valid_namespace("registry.local:5000"));
    for bad in ["", "docker.io/library", "a b", "x?y", "evil@host"] {
        assert!(!is_valid_namespace(bad), "{bad:?}");
    }
}

const ALICE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../policies/tests/fixtures/cosign-legacy/connaisseur-testimage/keys/alice.pub"
);

#[test]
fn trust_and_policy_are_compiled_at_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(ALICE, dir.path().join("alice.pub")).unwrap();
    let body = format!(
        "{MINIMAL}[trust.keys.alice]\npath = \"alice.pub\"\n[policy.default]\nsigners = [\"alice\"]\n[[policy.scope]]\nrepositories = \"prod/**\"\nsigners = [\"alice\"]\nmode = \"warn\"\n"
    );
    let file = dir.path().join("sealgate.toml");
    std::fs::write(&file, body).unwrap();
    // The key path is relative to the configuration file, not to the working directory.
    let cfg = Config::load(&file, &env(&[])).unwrap();
    assert!(cfg.policy.signer("alice").is_some());
    let prod = cfg.policy.scope_for(&"prod/api".parse().unwrap());
    assert_eq!(prod.label(), "prod/**");
}

#[test]
fn bad_trust_material_is_a_configuration_error_naming_key_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sealgate.toml");
    std::fs::write(
        &file,
        format!("{MINIMAL}[trust.keys.alice]\npath = \"missing.pub\"\n"),
    )
    .unwrap();
    let e = Config::load(&file, &env(&[])).unwrap_err().to_string();
    assert!(e.starts_with("trust.keys.alice.path"), "{e}");
    assert!(e.contains("missing.pub"), "{e}");

    std::fs::write(
        &file,
        format!("{MINIMAL}[trust.keys.alice]\npath = \"{ALICE}\"\n[policy.default]\nsigners = [\"bob\"]\n"),
    )
    .unwrap();
    let e = Config::load(&file, &env(&[])).unwrap_err().to_string();
    assert!(e.starts_with("policy.default.signers[0]"), "{e}");
    assert!(e.contains("unknown signer \"bob\""), "{e}");
}

fn with_auth(auth: &str) -> String {
    format!("{MINIMAL}[upstream.auth]\n{auth}")
}

#[test]
fn upstream_credentials_are_read_at_load_from_a_file_or_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hub.pw"), "s3cret-from-file\n").unwrap();
    let file = dir.path().join("sealgate.toml");
    // Relative to the configuration file, like trust files; the trailing newline is not kept.
    std::fs::write(
        &file,
        with_auth("username = \"ci-bot\"\npassword_file = \"hub.pw\"\n"),
    )
    .unwrap();
    let cfg = Config::load(&file, &env(&[])).unwrap();
    let auth = cfg.upstreams[0].auth.as_ref().unwrap();
    assert_eq!(auth.username(), "ci-bot");
    assert_eq!(auth.password().expose(), "s3cret-from-file");
    let shown = format!("{cfg:?}");
    assert!(shown.contains("ci-bot"), "{shown}");
    assert!(!shown.contains("s3cret"), "{shown}");
    // What check-config prints names the file, not its content.
    let raw = RawConfig::load(&file, &env(&[])).unwrap();
    let rendered = raw.to_toml();
    assert!(
        rendered.contains("password_file = \"hub.pw\""),
        "{rendered}"
    );
    assert!(!rendered.contains("s3cret"), "{rendered}");

    let body = with_auth("username = \"ci-bot\"\npassword_env = \"HUB_PASSWORD\"\n");
    let cfg = load(&body, &[("HUB_PASSWORD", "s3cret-from-env")]).unwrap();
    let auth = cfg.upstreams[0].auth.as_ref().unwrap();
    assert_eq!(auth.password().expose(), "s3cret-from-env");
    assert!(!format!("{cfg:?}").contains("s3cret"));
    assert!(load(MINIMAL, &[]).unwrap().upstreams[0].auth.is_none());
}

#[test]
fn bad_upstream_credentials_name_the_key_and_the_file_or_variable_never_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pw");
    std::fs::write(&empty, "\n").unwrap();
    let missing = dir.path().join("missing.pw");
    let file_key = |path: &Path| format!("password_file = {:?}\n", path.display().to_string());
    let cases: Vec<(String, &str, String)> = vec![
        (
            "username = \"ci-bot\"\n".to_owned(),
            "upstream[0].auth:",
            "exactly one".to_owned(),
        ),
        (
            format!(
                "username = \"ci-bot\"\npassword_env = \"HUB_PASSWORD\"\n{}",
                file_key(&empty)
            ),
            "upstream[0].auth:",
            "exactly one".to_owned(),
        ),
        (
            "username = \"\"\npassword_env = \"HUB_PASSWORD\"\n".to_owned(),
            "upstream[0].auth.username",
            "empty".to_owned(),
        ),
        (
            "username = \"ci:bot\"\npassword_env = \"HUB_PASSWORD\"\n".to_owned(),
            "upstream[0].auth.username",
            "':'".to_owned(),
        ),
        (
            format!("username = \"ci-bot\"\n{}", file_key(&missing)),
            "upstream[0].auth.password_file",
            missing.display().to_string(),
        ),
        (
            format!("username = \"ci-bot\"\n{}", file_key(&empty)),
            "upstream[0].auth.password_file",
            "is empty".to_owned(),
        ),
        (
            "username = \"ci-bot\"\npassword_env = \"NOT_SET_ANYWHERE\"\n".to_owned(),
            "upstream[0].auth.password_env",
            "NOT_SET_ANYWHERE".to_owned(),
        ),
        (
            "username = \"ci-bot\"\npassword_env = \"EMPTY_PASSWORD\"\n".to_owned(),
            "upstream[0].auth.password_env",
            "EMPTY_PASSWORD".to_owned(),
        ),
    ];
    for (auth, key, mentions) in cases {
        let e = err(
            &with_auth(&auth),
            &[("HUB_PASSWORD", "s3cret"), ("EMPTY_PASSWORD", "")],
        );
        assert!(e.starts_with(key), "{auth}: {e}");
        assert!(e.contains(&mentions), "{auth}: {e}");
        assert!(!e.contains("s3cret"), "{auth}: {e}");
    }
    let e = err(
        &with_auth("username = \"ci-bot\"\npassword = \"inline\"\n"),
        &[],
    );
    assert!(e.contains("password"), "{e}");
    assert!(e.contains("unknown field"), "{e}");
}

#[test]
fn pull_settings_have_defaults_and_bounds() {
    let cfg = load(MINIMAL, &[]).unwrap();
    assert_eq!(cfg.pull.drift_check_interval, Duration::from_secs(300));
    assert_eq!(cfg.pull.verdict_ttl, Duration::from_secs(30));
    assert_eq!(cfg.pull.manifest_cache_bytes, 64 * 1024 * 1024);
    let cfg = load(
        &format!("{MINIMAL}\n[pull]\ndrift_check_interval = \"0s\"\nverdict_ttl = \"1h\"\n"),
        &[],
    )
    .unwrap();
    assert!(cfg.pull.drift_check_interval.is_zero());
    let e = err(MINIMAL, &[("SEALGATE_PULL__VERDICT_TTL", "2h")]);
    assert!(e.starts_with("pull.verdict_ttl"), "{e}");
    let e = err(&format!("{MINIMAL}\n[pull]\ncache = 1\n"), &[]);
    assert!(e.contains("cache"), "{e}");
}

#[test]
fn a_reload_may_change_trust_policy_and_log_only() {
    let raw = |body: &str| RawConfig::load(write(body).path(), &env(&[])).unwrap();
    let started = raw(MINIMAL).restart_only_sections();
    let policy_change =
        format!("{MINIMAL}\n[policy.default]\nmode = \"audit\"\n[log]\nlevel = \"debug\"\n");
    assert_eq!(raw(&policy_change).restart_only_sections(), started);
    for restart in [
        MINIMAL.replace("5050", "5051"),
        MINIMAL.replace("./data/sealgate", "./elsewhere"),
        format!("{MINIMAL}\n[pull]\nverdict_ttl = \"5s\"\n"),
        format!("{MINIMAL}\n[timeouts]\nidle = \"5s\"\n"),
    ] {
        assert_ne!(raw(&restart).restart_only_sections(), started, "{restart}");
    }
}

/// A config file `sealgate.toml` with `body` in a fresh directory, beside a certificate pair
/// (`cert.pem`, `key.pem`) and a CA bundle (`ca.pem`), so that relative paths can be tested.
fn in_dir(body: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    std::fs::write(dir.path().join("cert.pem"), certified.cert.pem()).unwrap();
    std::fs::write(dir.path().join("ca.pem"), certified.cert.pem()).unwrap();
    std::fs::write(
        dir.path().join("key.pem"),
        certified.signing_key.serialize_pem(),
    )
    .unwrap();
    let file = dir.path().join("sealgate.toml");
    std::fs::write(&file, body).unwrap();
    (dir, file)
}

fn load_in_dir(body: &str, vars: &[(&str, &str)]) -> Result<Config, String> {
    let (_dir, file) = in_dir(body);
    Config::load(&file, &env(vars)).map_err(|e| e.to_string())
}

#[test]
fn tls_auth_and_upstream_ca_paths_are_relative_to_the_config_file() {
    let body = format!(
        "{MINIMAL}ca = \"ca.pem\"\n[tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\nclient_ca = \"ca.pem\"\n"
    );
    let cfg = load_in_dir(&body, &[]).unwrap();
    assert!(cfg.tls.is_some());
    let cert = cfg.tls_cert.as_ref().unwrap();
    assert_eq!(cert.reload_interval, Duration::from_secs(30), "the default");
    assert_eq!(cfg.upstreams[0].ca.len(), 1);
    assert_eq!(cfg.access.mode(), crate::access::AuthMode::Passthrough);
    let cfg = load_in_dir(MINIMAL, &[]).unwrap();
    assert!(cfg.upstreams[0].ca.is_empty());
}

#[test]
fn tls_auth_and_upstream_ca_errors_name_the_key() {
    let tls = "[tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n";
    /// A file body, the environment, and what the error must contain.
    type Case<'a> = (String, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            format!("{MINIMAL}ca = \"nope.pem\"\n"),
            vec![],
            "upstream[0].ca: cannot read",
        ),
        (
            format!("{MINIMAL}ca = \"sealgate.toml\"\n"),
            vec![],
            "upstream[0].ca",
        ),
        (
            format!("{MINIMAL}{tls}client_auth = \"optional\"\n"),
            vec![],
            "tls.client_auth",
        ),
        (
            format!("{MINIMAL}{tls}client_auth = \"sometimes\"\n"),
            vec![],
            "sometimes",
        ),
        (
            format!("{MINIMAL}{tls}client_cert = \"x\"\n"),
            vec![],
            "client_cert",
        ),
        (
            format!("{MINIMAL}{tls}reload_interval = \"10ms\"\n"),
            vec![],
            "tls.reload_interval",
        ),
        (
            format!("{MINIMAL}{tls}reload_interval = \"often\"\n"),
            vec![],
            "reload_interval",
        ),
        (
            format!("{MINIMAL}{tls}client_ca = \"nope.pem\"\n"),
            vec![],
            "tls.client_ca",
        ),
        (
            format!("{MINIMAL}[auth]\nmode = \"gatekeeper\"\n"),
            vec![],
            "gatekeeper",
        ),
        (
            format!("{MINIMAL}[auth]\nmode = \"gateway\"\n"),
            vec![],
            "auth.mode",
        ),
        (
            MINIMAL.to_owned(),
            vec![("SEALGATE_AUTH__MODE", "gateway")],
            "auth.mode",
        ),
        (format!("{MINIMAL}[auth]\ntoken = \"x\"\n"), vec![], "token"),
        (
            format!("{MINIMAL}[auth]\nmode = \"gateway\"\ntokens_file = \"nope.toml\"\n"),
            vec![],
            "auth.tokens_file: cannot read",
        ),
        (
            format!(
                "{MINIMAL}[auth]\nmode = \"gateway\"\ntokens_file = \"cert.pem\"\n[[auth.rule]]\nrepositories = \"**\"\nidentities = [\"ci\"]\nactions = [\"pull\"]\n"
            ),
            vec![],
            "auth.tokens_file",
        ),
        (
            format!(
                "{MINIMAL}{tls}client_ca = \"ca.pem\"\n[auth]\nmode = \"gateway\"\n[[auth.rule]]\nrepositories = \"**\"\nidentities = [\"ci\"]\nactions = [\"pull\"]\nextra = 1\n"
            ),
            vec![],
            "extra",
        ),
    ];
    for (body, vars, expected) in cases {
        let e = load_in_dir(&body, &vars).unwrap_err();
        assert!(
            e.contains(expected),
            "expected {expected:?} in: {e}\n{body}"
        );
    }
    // Client certificates alone authenticate a gateway.
    let body = format!(
        "{MINIMAL}{tls}client_ca = \"ca.pem\"\n[auth]\nmode = \"gateway\"\n[[auth.rule]]\nrepositories = \"**\"\nidentities = [\"cn:*\"]\nactions = [\"pull\"]\n"
    );
    let cfg = load_in_dir(&body, &[]).unwrap();
    assert_eq!(cfg.access.mode(), crate::access::AuthMode::Gateway);
    assert_eq!(cfg.access.rule_count(), 1);
}

#[test]
fn a_reload_may_change_auth_but_not_tls() {
    let tls = "[tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n";
    let raw = |body: &str| RawConfig::load(write(body).path(), &env(&[])).unwrap();
    let started = raw(&format!("{MINIMAL}{tls}")).restart_only_sections();
    let auth = format!(
        "{MINIMAL}{tls}[auth]\nmode = \"gateway\"\ntokens_file = \"t.toml\"\n[[auth.rule]]\nrepositories = \"**\"\nidentities = [\"ci\"]\nactions = [\"pull\"]\n"
    );
    assert_eq!(raw(&auth).restart_only_sections(), started);
    let interval = format!("{MINIMAL}{tls}reload_interval = \"5s\"\n");
    assert_ne!(raw(&interval).restart_only_sections(), started);
    let ca = format!("{MINIMAL}ca = \"ca.pem\"\n{tls}");
    assert_ne!(raw(&ca).restart_only_sections(), started);
}

#[test]
fn client_connection_limits_have_defaults_bounds_and_overrides() {
    let cfg = load(MINIMAL, &[]).unwrap();
    assert_eq!(cfg.connections.max, DEFAULT_MAX_CONNECTIONS);
    assert_eq!(cfg.connections.idle, Duration::from_secs(60));
    assert_eq!(cfg.connections.keepalive, Some(Duration::from_secs(30)));
    let cfg = load(
        MINIMAL,
        &[
            ("SEALGATE_LIMITS__MAX_CONNECTIONS", "8"),
            ("SEALGATE_TIMEOUTS__CLIENT_IDLE", "2s"),
            ("SEALGATE_TIMEOUTS__CLIENT_KEEPALIVE", "0s"),
        ],
    )
    .unwrap();
    assert_eq!(cfg.connections.max, 8);
    assert_eq!(cfg.connections.idle, Duration::from_secs(2));
    assert_eq!(cfg.connections.keepalive, None);
    for (key, value) in [
        ("SEALGATE_LIMITS__MAX_CONNECTIONS", "0"),
        ("SEALGATE_LIMITS__MAX_CONNECTIONS", "2000000"),
    ] {
        let e = err(MINIMAL, &[(key, value)]);
        assert!(e.starts_with("limits.max_connections"), "{value}: {e}");
    }
    let e = err(MINIMAL, &[("SEALGATE_TIMEOUTS__CLIENT_IDLE", "0s")]);
    assert!(e.starts_with("timeouts.client_idle"), "{e}");
}

const POSTGRES: &str = r#"
[storage]
backend = "postgres"
url = "postgres://sealgate@db.example:5432/sealgate"
[[upstream]]
name = "local"
url = "http://127.0.0.1:5000"
"#;

#[test]
fn postgres_storage_has_defaults_and_reads_the_password_from_the_environment() {
    let cfg = load(POSTGRES, &[(STORAGE_PASSWORD_ENV, "hunter2")]).unwrap();
    let StorageConfig::Postgres(pg) = &cfg.storage else {
        panic!("expected postgres, got {:?}", cfg.storage);
    };
    assert_eq!(pg.url, "postgres://sealgate@db.example:5432/sealgate");
    assert_eq!(pg.password.as_ref().map(Secret::expose), Some("hunter2"));
    assert_eq!(pg.pool_size, 16);
    assert_eq!(pg.connect_timeout, Duration::from_secs(5));
    assert_eq!(pg.statement_timeout, Duration::from_secs(5));
    assert_eq!(pg.sslmode, SslMode::Prefer);
    assert_eq!(pg.stale_reads, None);
    assert_eq!(cfg.storage.sled_path(), None);
    // Neither the debug form nor the effective configuration shows the password.
    assert!(!format!("{cfg:?}").contains("hunter2"));
    let file = write(POSTGRES);
    let raw = RawConfig::load(file.path(), &env(&[(STORAGE_PASSWORD_ENV, "hunter2")])).unwrap();
    assert!(!raw.to_toml().contains("hunter2"), "{}", raw.to_toml());
}

#[test]
fn postgres_password_comes_from_a_file_trimmed_of_its_newline() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "s3cret\n").unwrap();
    let config = dir.path().join("sealgate.toml");
    let body = POSTGRES.replace(
        "[[upstream]]",
        "password_file = \"pw\"\npool_size = 4\nstale_reads = \"30s\"\n[[upstream]]",
    );
    std::fs::write(&config, body).unwrap();
    let cfg = Config::load(&config, &env(&[])).unwrap();
    let StorageConfig::Postgres(pg) = &cfg.storage else {
        panic!("expected postgres");
    };
    assert_eq!(pg.password.as_ref().map(Secret::expose), Some("s3cret"));
    assert_eq!(pg.pool_size, 4);
    assert_eq!(pg.stale_reads, Some(Duration::from_secs(30)));
    // Both sources at once is ambiguous.
    let both = Config::load(&config, &env(&[(STORAGE_PASSWORD_ENV, "other")])).unwrap_err();
    assert!(both.to_string().contains("storage.password_file"), "{both}");
}

#[test]
fn storage_settings_are_validated_with_the_key_named() {
    let with = |extra: &str| POSTGRES.replace("[[upstream]]", &format!("{extra}\n[[upstream]]"));
    let cases: &[(String, &str)] = &[
        (
            POSTGRES.replace("sealgate@db", "sealgate:pw@db"),
            "carries a password",
        ),
        (
            POSTGRES.replace("postgres://", "mysql://"),
            "scheme must be postgres",
        ),
        (
            POSTGRES.replace("/sealgate\"", "/sealgate?sslmode=disable\""),
            "query parameters",
        ),
        (
            POSTGRES.replace(
                "url = \"postgres://sealgate@db.example:5432/sealgate\"\n",
                "",
            ),
            "storage.url",
        ),
        (with("pool_size = 0"), "storage.pool_size"),
        (
            with("statement_timeout = \"0s\""),
            "storage.statement_timeout",
        ),
        (with("ca_file = \"ca.pem\""), "storage.ca_file"),
        (
            with("sslmode = \"verify-full\"\nca_file = \"missing.pem\""),
            "missing.pem",
        ),
        (with("sslmode = \"sometimes\""), "sometimes"),
        (with("stale_reads = \"2h\""), "storage.stale_reads"),
        (with("path = \"/var/lib/sealgate\""), "storage.path"),
        (
            MINIMAL.replace("[[upstream]]", "url = \"postgres://a@b/c\"\n[[upstream]]"),
            "storage.url",
        ),
        (
            MINIMAL.replace("path = \"./data/sealgate\"\n", ""),
            "storage.path",
        ),
    ];
    for (body, expected) in cases {
        let message = err(body, &[]);
        assert!(
            message.contains(expected),
            "{expected:?} not in {message:?}\n{body}"
        );
    }
}
