//! `sealgate admin …`: calls the admin API and prints a table (or the JSON with `--json`).
//!
//! Exit status: 0 done; 1 the server refused or found a problem (a broken audit chain, a pin
//! that does not exist); 2 the request could not be made (usage, connection, credentials).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use bytes::Bytes;
use clap::{Args, Subcommand};
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};

use crate::admin_config::TokenFileError;
use crate::config::{EnvSource, RawConfig};
use crate::config_error::ConfigError;

/// Talk to a running sealgate's admin API.
///
/// Where and how: `--config sealgate.toml` reads `[admin]` (listen address, token file, TLS) from
/// the same file the server uses; or give `--url` and `--token-file` (or SEALGATE_ADMIN_TOKEN).
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The server's configuration file: its `[admin]` table says where to connect and how.
    #[arg(short, long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// Admin API base URL (e.g. https://127.0.0.1:5051); overrides `--config`.
    #[arg(long, value_name = "URL", global = true)]
    url: Option<String>,
    /// File holding the admin bearer token; overrides `--config`. Or set SEALGATE_ADMIN_TOKEN.
    #[arg(long, value_name = "FILE", global = true)]
    token_file: Option<PathBuf>,
    /// PEM CA bundle to trust for the admin listener's certificate.
    #[arg(long, value_name = "FILE", global = true)]
    ca: Option<PathBuf>,
    /// PEM client certificate (mTLS, when the server sets `admin.client_ca`).
    #[arg(long, value_name = "FILE", global = true, requires = "key")]
    cert: Option<PathBuf>,
    /// PEM private key of `--cert`.
    #[arg(long, value_name = "FILE", global = true, requires = "cert")]
    key: Option<PathBuf>,
    /// Print the server's JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Version, uptime, store size, policy and trust digests (compare two sealgates with them),
    /// scopes, and certificates expiring within 30 days.
    Status,
    /// Pinned tags.
    #[command(subcommand)]
    Pins(PinsCommand),
    /// The audit log, or `audit verify` to check its hash chain.
    Audit(AuditArgs),
    /// Revoke a key or a certificate: the next pull is judged without it; prints every pinned
    /// tag that is no longer admitted (the blast radius).
    #[command(subcommand)]
    Revoke(RevokeCommand),
    /// Revocations made through the admin API (those in the configuration are in the file).
    Revocations,
    /// Re-read trust and policy from the configuration file (as SIGHUP); all or nothing.
    Reload,
    /// Free a pinned tag (audited); its next push or verified pull pins it again.
    RetirePin {
        /// Repository, e.g. prod/api.
        repository: String,
        /// Tag.
        tag: String,
        /// Why (recorded in the audit log).
        #[arg(long)]
        reason: String,
        /// Upstream name (default: the first configured).
        #[arg(long)]
        upstream: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum PinsCommand {
    /// List pins, optionally filtered.
    List {
        /// Repository glob (prod/**).
        #[arg(long)]
        repository: Option<String>,
        /// Tag glob (v1.*).
        #[arg(long)]
        tag: Option<String>,
        /// Only pins admitted by this signer.
        #[arg(long)]
        signer: Option<String>,
        /// Only this upstream.
        #[arg(long)]
        upstream: Option<String>,
    },
    /// One pin: digest, history, and whether it is admitted under the trust in force.
    Show {
        /// Repository.
        repository: String,
        /// Tag.
        tag: String,
        /// Upstream name (default: the first configured).
        #[arg(long)]
        upstream: Option<String>,
    },
}

#[derive(Debug, Args)]
struct AuditArgs {
    #[command(subcommand)]
    verify: Option<AuditVerify>,
    /// From this time (RFC 3339 or epoch seconds).
    #[arg(long)]
    since: Option<String>,
    /// Until this time.
    #[arg(long)]
    until: Option<String>,
    /// Repository glob.
    #[arg(long)]
    repository: Option<String>,
    /// push, pull, signature, pin, drift, revoke, retire-pin, …
    #[arg(long)]
    action: Option<String>,
    /// allow, deny, warn, audit, quarantine, drift, …
    #[arg(long)]
    outcome: Option<String>,
    /// Most events to print.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Only events after this sequence number (paging).
    #[arg(long)]
    after: Option<u64>,
}

#[derive(Debug, Subcommand)]
enum AuditVerify {
    /// Walk the whole audit log and check its hash chain.
    Verify,
}

#[derive(Debug, Subcommand)]
enum RevokeCommand {
    /// A public key, by fingerprint (sha256:…, as `sealgate verify` prints it).
    Key {
        /// The fingerprint.
        fingerprint: String,
        /// Why (recorded in the audit log and shown in refusals).
        #[arg(long)]
        reason: String,
        /// When it takes effect (RFC 3339; default now).
        #[arg(long)]
        at: Option<String>,
    },
    /// A certificate, by issuer DN (RFC 4514) and serial (hex).
    Cert {
        /// Issuer DN, e.g. "CN=Example Signing CA,O=Example".
        issuer: String,
        /// Serial number in hex (colons and leading zeros are ignored).
        serial: String,
        /// Why.
        #[arg(long)]
        reason: String,
        /// When it takes effect (RFC 3339; default now).
        #[arg(long)]
        at: Option<String>,
    },
}

/// Where to connect and with what.
struct Target {
    base: String,
    token: Option<String>,
    roots: Vec<CertificateDer<'static>>,
    client_cert: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

/// Runs one admin command.
pub fn run(args: &AdminArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(2, &format!("cannot start: {e}")),
    };
    let target = match target(args) {
        Ok(t) => t,
        Err(e) => return fail(2, &e.to_string()),
    };
    let (method, path, body) = request_of(&args.command);
    match runtime.block_on(call(&target, method, &path, body)) {
        Err(e) => fail(2, &e.to_string()),
        Ok((status, value)) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&value).unwrap_or_default()
                );
            } else if status.is_success() {
                print!("{}", render(&args.command, &value));
            }
            if !status.is_success() {
                let message = value["error"].as_str().unwrap_or("the server refused");
                return fail(1, &format!("{status}: {message}"));
            }
            let broken = matches!(&args.command, AdminCommand::Audit(a) if a.verify.is_some())
                && value["ok"] != json!(true);
            if broken {
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
    }
}

fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("sealgate admin: {message}");
    ExitCode::from(code)
}

/// Why the admin API could not be asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The configuration file named by `--config` does not load.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A certificate file does not read.
    #[error("cannot read certificates from {}: {source}", path.display())]
    Certificates {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rustls_pki_types::pem::Error,
    },
    /// The client key does not read.
    #[error("cannot read a private key from {}: {source}", path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rustls_pki_types::pem::Error,
    },
    /// Neither `--config` nor `--url`.
    #[error("say where the admin API is: --config sealgate.toml or --url URL")]
    NoTarget,
    /// The token file is not usable.
    #[error(transparent)]
    Token(#[from] TokenFileError),
    /// No token and no client certificate.
    #[error(
        "no credential: --token-file, SEALGATE_ADMIN_TOKEN, --cert/--key, or --config with admin.token_file"
    )]
    NoCredential,
    /// The TLS client could not be set up.
    #[error(transparent)]
    Tls(#[from] rustls::Error),
    /// The client certificate and key do not go together.
    #[error("client certificate: {0}")]
    ClientCertificate(#[source] rustls::Error),
    /// The request could not be built.
    #[error("{url}: {source}")]
    Request {
        /// Where it was going.
        url: String,
        /// Why.
        source: http::Error,
    },
    /// No answer in time.
    #[error("{url}: no answer within 60 s")]
    Timeout {
        /// Where it went.
        url: String,
    },
    /// The connection or the exchange failed.
    #[error("{url}: {source}")]
    Send {
        /// Where it went.
        url: String,
        /// Why.
        source: hyper_util::client::legacy::Error,
    },
    /// The answer's body broke off.
    #[error("{url}: {source}")]
    Body {
        /// Where it came from.
        url: String,
        /// Why.
        source: hyper::Error,
    },
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|source| ClientError::Certificates {
            path: path.to_owned(),
            source,
        })
}

fn target(args: &AdminArgs) -> Result<Target, ClientError> {
    let (mut base, mut token_file, mut roots) = (None, None, Vec::new());
    if let Some(file) = &args.config {
        let raw = RawConfig::load(file, &EnvSource::Process)?;
        let dir = file.parent().unwrap_or(Path::new("."));
        let scheme = if raw.admin.cert.is_some() {
            "https"
        } else {
            "http"
        };
        // A wildcard listen address is reached on loopback.
        let listen = raw
            .admin
            .listen
            .replace("0.0.0.0:", "127.0.0.1:")
            .replace("[::]:", "[::1]:");
        base = Some(format!("{scheme}://{listen}"));
        token_file = raw.admin.token_file.map(|t| dir.join(t));
        // The listener's own certificate (self-signed, typically) is trusted unless --ca says
        // otherwise.
        if let Some(cert) = &raw.admin.cert {
            roots = read_certs(&dir.join(cert))?;
        }
    }
    if let Some(url) = &args.url {
        base = Some(url.trim_end_matches('/').to_owned());
    }
    if let Some(file) = &args.token_file {
        token_file = Some(file.clone());
    }
    if let Some(ca) = &args.ca {
        roots = read_certs(ca)?;
    }
    let base = base.ok_or(ClientError::NoTarget)?;
    let token = match (token_file, std::env::var("SEALGATE_ADMIN_TOKEN").ok()) {
        (Some(file), _) => Some(crate::admin_config::read_token(&file)?),
        (None, Some(token)) if !token.trim().is_empty() => Some(token.trim().to_owned()),
        _ => None,
    };
    let client_cert = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => Some((
            read_certs(cert)?,
            PrivateKeyDer::from_pem_file(key).map_err(|source| ClientError::Key {
                path: key.clone(),
                source,
            })?,
        )),
        _ => None,
    };
    if token.is_none() && client_cert.is_none() {
        return Err(ClientError::NoCredential);
    }
    Ok(Target {
        base,
        token,
        roots,
        client_cert,
    })
}

fn query(pairs: &[(&str, Option<String>)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v {
            q.append_pair(k, v);
        }
    }
    let q = q.finish();
    if q.is_empty() { q } else { format!("?{q}") }
}

fn request_of(command: &AdminCommand) -> (Method, String, Option<Value>) {
    match command {
        AdminCommand::Status => (Method::GET, "/admin/v1/status".into(), None),
        AdminCommand::Pins(PinsCommand::List {
            repository,
            tag,
            signer,
            upstream,
        }) => (
            Method::GET,
            format!(
                "/admin/v1/pins{}",
                query(&[
                    ("repository", repository.clone()),
                    ("tag", tag.clone()),
                    ("signer", signer.clone()),
                    ("upstream", upstream.clone()),
                ])
            ),
            None,
        ),
        AdminCommand::Pins(PinsCommand::Show {
            repository,
            tag,
            upstream,
        }) => (
            Method::GET,
            format!(
                "/admin/v1/pin{}",
                query(&[
                    ("repository", Some(repository.clone())),
                    ("tag", Some(tag.clone())),
                    ("upstream", upstream.clone()),
                ])
            ),
            None,
        ),
        AdminCommand::Audit(a) if a.verify.is_some() => {
            (Method::GET, "/admin/v1/audit/verify".into(), None)
        }
        AdminCommand::Audit(a) => (
            Method::GET,
            format!(
                "/admin/v1/audit{}",
                query(&[
                    ("since", a.since.clone()),
                    ("until", a.until.clone()),
                    ("repository", a.repository.clone()),
                    ("action", a.action.clone()),
                    ("outcome", a.outcome.clone()),
                    ("limit", Some(a.limit.to_string())),
                    ("after", a.after.map(|n| n.to_string())),
                ])
            ),
            None,
        ),
        AdminCommand::Revoke(RevokeCommand::Key {
            fingerprint,
            reason,
            at,
        }) => (
            Method::POST,
            "/admin/v1/revocations".into(),
            Some(json!({"key": fingerprint, "reason": reason, "at": at})),
        ),
        AdminCommand::Revoke(RevokeCommand::Cert {
            issuer,
            serial,
            reason,
            at,
        }) => (
            Method::POST,
            "/admin/v1/revocations".into(),
            Some(json!({"issuer": issuer, "serial": serial, "reason": reason, "at": at})),
        ),
        AdminCommand::Revocations => (Method::GET, "/admin/v1/revocations".into(), None),
        AdminCommand::Reload => (Method::POST, "/admin/v1/reload".into(), Some(json!({}))),
        AdminCommand::RetirePin {
            repository,
            tag,
            reason,
            upstream,
        } => (
            Method::POST,
            "/admin/v1/retire-pin".into(),
            Some(
                json!({"repository": repository, "tag": tag, "reason": reason, "upstream": upstream}),
            ),
        ),
    }
}

async fn call(
    target: &Target,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<(StatusCode, Value), ClientError> {
    let provider = Arc::new(crate::tls::provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in &target.roots {
        roots.add(cert.clone())?;
    }
    let builder = builder.with_root_certificates(roots);
    let tls = match &target.client_cert {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain.clone(), key.clone_key())
            .map_err(ClientError::ClientCertificate)?,
        None => builder.with_no_client_auth(),
    };
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let url = format!("{}{path}", target.base);
    let mut request = Request::builder().method(method).uri(&url);
    if let Some(token) = &target.token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let request = request
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(payload)))
        .map_err(|source| ClientError::Request {
            url: url.clone(),
            source,
        })?;
    let response =
        tokio::time::timeout(std::time::Duration::from_secs(60), client.request(request))
            .await
            .map_err(|_| ClientError::Timeout { url: url.clone() })?
            .map_err(|source| ClientError::Send {
                url: url.clone(),
                source,
            })?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|source| ClientError::Body { url, source })?
        .to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or_else(
        |_| json!({"error": String::from_utf8_lossy(&bytes).chars().take(500).collect::<String>()}),
    );
    Ok((status, value))
}

/// Left-aligned columns, two spaces apart.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(headers.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

fn pin_rows(pins: &[Value]) -> Vec<Vec<String>> {
    pins.iter()
        .map(|p| {
            vec![
                text(&p["upstream"]),
                format!("{}:{}", text(&p["repository"]), text(&p["tag"])),
                text(&p["digest"]),
                text(&p["signers"]),
                text(&p["pushed_by"]),
                text(&p["pinned_at"]),
            ]
        })
        .collect()
}

const PIN_HEADERS: [&str; 6] = [
    "UPSTREAM",
    "TAG",
    "DIGEST",
    "SIGNERS",
    "PUSHED BY",
    "PINNED AT",
];

/// The replicas `status` lists, those whose digests differ from the majority's flagged.
fn replicas(listed: &[Value]) -> String {
    let drifted = listed
        .iter()
        .filter(|r| r["drifted"] == json!(true))
        .count();
    let live = listed.iter().filter(|r| r["live"] == json!(true)).count();
    let mut out = format!(
        "\nreplicas: {} registered, {live} live, {drifted} drifted\n",
        listed.len()
    );
    if listed.is_empty() {
        return out;
    }
    let rows: Vec<Vec<String>> = listed
        .iter()
        .map(|r| {
            let state = if r["drifted"] == json!(true) {
                "DRIFTED"
            } else if r["live"] == json!(true) {
                "ok"
            } else {
                "gone"
            };
            vec![
                text(&r["id"]),
                text(&r["version"]),
                text(&r["policy_digest"]),
                text(&r["trust_digest"]),
                format!("{}s ago", text(&r["last_seen_seconds_ago"])),
                state.to_owned(),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "REPLICA",
            "VERSION",
            "POLICY DIGEST",
            "TRUST DIGEST",
            "LAST SEEN",
            "STATE",
        ],
        &rows,
    ));
    out
}

fn render(command: &AdminCommand, v: &Value) -> String {
    let empty = Vec::new();
    match command {
        AdminCommand::Status => {
            let mut out = String::new();
            for key in [
                "version",
                "uptime_seconds",
                "store_size_bytes",
                "pins",
                "pending_tags",
                "trust_generation",
                "policy_digest",
                "trust_digest",
                "runtime_revocations",
            ] {
                out.push_str(&format!("{key:<22}{}\n", text(&v[key])));
            }
            out.push_str("\nscopes\n");
            let scopes: Vec<Vec<String>> = v["scopes"]
                .as_array()
                .unwrap_or(&empty)
                .iter()
                .map(|s| {
                    vec![
                        text(&s["repositories"]),
                        text(&s["mode"]),
                        text(&s["signers"]),
                        text(&s["require"]),
                        text(&s["unsigned_push"]),
                        text(&s["gate_blobs"]),
                    ]
                })
                .collect();
            out.push_str(&table(
                &[
                    "REPOSITORIES",
                    "MODE",
                    "SIGNERS",
                    "REQUIRE",
                    "UNSIGNED PUSH",
                    "GATE BLOBS",
                ],
                &scopes,
            ));
            let expiring = v["certificates_expiring_within_30_days"]
                .as_array()
                .unwrap_or(&empty);
            out.push_str(&format!(
                "\ncertificates expiring within 30 days: {}\n",
                expiring.len()
            ));
            if !expiring.is_empty() {
                let rows: Vec<Vec<String>> = expiring
                    .iter()
                    .map(|c| {
                        vec![
                            text(&c["signer"]),
                            text(&c["role"]),
                            text(&c["subject"]),
                            text(&c["not_after"]),
                        ]
                    })
                    .collect();
                out.push_str(&table(&["SIGNER", "ROLE", "SUBJECT", "NOT AFTER"], &rows));
            }
            out.push_str(&replicas(v["replicas"].as_array().unwrap_or(&empty)));
            out
        }
        AdminCommand::Pins(PinsCommand::List { .. }) => table(
            &PIN_HEADERS,
            &pin_rows(v["pins"].as_array().unwrap_or(&empty)),
        ),
        AdminCommand::Pins(PinsCommand::Show { .. }) => {
            let mut out = table(&PIN_HEADERS, &pin_rows(std::slice::from_ref(v)));
            out.push_str(&format!(
                "\nadmitted now: {} ({})\n",
                text(&v["verdict"]["admitted"]),
                text(&v["verdict"]["explanation"])
            ));
            for moved in v["history"].as_array().unwrap_or(&empty) {
                out.push_str(&format!(
                    "earlier: {} (until {})\n",
                    text(&moved["digest"]),
                    text(&moved["replaced_at"])
                ));
            }
            out
        }
        AdminCommand::Audit(a) if a.verify.is_some() => {
            if v["ok"] == json!(true) {
                format!(
                    "audit log intact: {} events, head {}\n",
                    text(&v["events"]),
                    text(&v["head"])
                )
            } else {
                format!("audit log BROKEN: {}\n", text(&v["error"]))
            }
        }
        AdminCommand::Audit(_) => {
            let rows: Vec<Vec<String>> = v["events"]
                .as_array()
                .unwrap_or(&empty)
                .iter()
                .map(|e| {
                    vec![
                        text(&e["seq"]),
                        text(&e["time"]),
                        text(&e["action"]),
                        text(&e["outcome"]),
                        format!("{}:{}", text(&e["repository"]), text(&e["reference"])),
                        text(&e["identity"]),
                        text(&e["reason"]).chars().take(120).collect(),
                    ]
                })
                .collect();
            table(
                &[
                    "SEQ", "TIME", "ACTION", "OUTCOME", "SUBJECT", "WHO", "REASON",
                ],
                &rows,
            )
        }
        AdminCommand::Revoke(_) => {
            let radius = v["blast_radius"].as_array().unwrap_or(&empty);
            let mut out = format!(
                "revoked; trust generation {} (audit #{})\nblast radius: {} pinned tag(s) no longer admitted\n",
                text(&v["trust_generation"]),
                text(&v["audit_seq"]),
                radius.len()
            );
            let rows: Vec<Vec<String>> = radius
                .iter()
                .map(|r| {
                    vec![
                        text(&r["upstream"]),
                        format!("{}:{}", text(&r["repository"]), text(&r["tag"])),
                        text(&r["digest"]),
                    ]
                })
                .collect();
            if !rows.is_empty() {
                out.push_str(&table(&["UPSTREAM", "TAG", "DIGEST"], &rows));
            }
            out
        }
        AdminCommand::Revocations => {
            let rows: Vec<Vec<String>> = v["revocations"]
                .as_array()
                .unwrap_or(&empty)
                .iter()
                .map(|r| {
                    let what = if r["key"].is_null() {
                        format!("cert {} of {}", text(&r["serial"]), text(&r["issuer"]))
                    } else {
                        format!("key {}", text(&r["key"]))
                    };
                    vec![what, text(&r["at"]), text(&r["by"]), text(&r["reason"])]
                })
                .collect();
            table(&["SIGNER", "AT", "BY", "REASON"], &rows)
        }
        AdminCommand::Reload => format!("reloaded: {}\n", text(&v["summary"])),
        AdminCommand::RetirePin { .. } => format!(
            "retired {}:{} (was {}); audit #{}\n",
            text(&v["retired"]["repository"]),
            text(&v["retired"]["tag"]),
            text(&v["retired"]["digest"]),
            text(&v["audit_seq"])
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let out = table(
            &["A", "LONGER"],
            &[
                vec!["xyz".into(), "1".into()],
                vec!["q".into(), "22".into()],
            ],
        );
        assert_eq!(out, "A    LONGER\nxyz  1\nq    22\n");
    }

    #[test]
    fn queries_skip_absent_filters_and_encode_values() {
        assert_eq!(query(&[("a", None)]), "");
        assert_eq!(
            query(&[("repository", Some("prod/**".into())), ("tag", None)]),
            "?repository=prod%2F**"
        );
    }
}
