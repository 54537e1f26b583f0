//! `sealgate verify`: the trust engine on evidence files, offline. It answers "why is this
//! refused?" for an operator and lets a CI check a signature before pushing. No registry, no
//! network: files in, verdict out.
//!
//! Evidence files are recognised by content: a cosign signature manifest (JSON with `layers`),
//! its payload blobs (any other file; matched to layers by digest), a containers/image
//! `sigstore-json` signature file, or an OCI image layout directory holding the image's
//! signatures (`sha256-<hex>.sig` tags or manifests whose `subject` is the image).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sealgate_policies::config::{Mode, RawKey, RawPki, RawPolicy, RawScope, RawTrust};
use sealgate_policies::cosign::{
    CosignSignature, SignatureFailure, Subject, parse_signature_manifest,
};
use sealgate_policies::oci::{Digest, DigestAlgorithm, RepoName, Tag};
use sealgate_policies::policy::{LoadError, Policy};
use sealgate_policies::statement::SignaturePredicates;
use sealgate_policies::time::UnixTime;
use sealgate_policies::verdict::{Decision, Evidence, Verdict, evaluate};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::config::{EnvSource, RawConfig, build_policy};

/// Exit status when the subject is admitted.
pub const EXIT_ADMITTED: u8 = 0;
/// Exit status when it is refused.
pub const EXIT_REFUSED: u8 = 1;
/// Exit status for usage errors and unreadable input.
pub const EXIT_USAGE: u8 = 2;

/// Prefix of containers/image's `sigstore-json` signature files.
const SIGSTORE_JSON_MAGIC: &[u8] = b"\x00sigstore-json\n";

/// Largest evidence file read (signatures and manifests are small; a payload blob too).
const MAX_EVIDENCE_BYTES: u64 = 16 * 1024 * 1024;

/// Arguments of `sealgate verify`.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("certificate_trust").args(["ca", "trusted_root"]).multiple(true))]
#[command(after_help = "\
Exit status: 0 admitted, 1 refused, 2 usage error or unreadable input.

Examples:
  sealgate verify --config sealgate.toml --repository prod/app --digest sha256:… sig.json payload.json
  sealgate verify --key cosign.pub --repository team/app --digest sha256:… ./oci-layout
  sealgate verify --ca roots.pem --certificate-identity 'ci@example.com' --repository app --artifact manifest.json sig.json")]
pub struct VerifyArgs {
    /// Take signers, revocations and scopes from this configuration file.
    #[arg(short, long, value_name = "FILE", conflicts_with_all = ["key", "ca", "trusted_root"])]
    config: Option<PathBuf>,
    /// Trust this public key (PEM). Repeatable.
    #[arg(long, value_name = "FILE")]
    key: Vec<PathBuf>,
    /// Trust this CA bundle (PEM roots; non-self-signed certificates are used as intermediates).
    /// Repeatable.
    #[arg(long, value_name = "FILE")]
    ca: Vec<PathBuf>,
    /// CRL (PEM or DER) for the --ca bundle. Repeatable.
    #[arg(long, value_name = "FILE", requires = "ca")]
    crl: Vec<PathBuf>,
    /// A sigstore trusted_root.json (Fulcio CAs, Rekor keys; read from the file, never fetched).
    /// With --certificate-identity and --certificate-oidc-issuer: trust keyless signatures.
    /// With --key: also require the key's signatures to be logged in Rekor.
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
    /// Glob the certificate's SAN e-mail or URI must match (with --ca or --trusted-root).
    #[arg(long, value_name = "GLOB", requires = "certificate_trust")]
    certificate_identity: Option<String>,
    /// Glob the Fulcio OIDC issuer must match (keyless, with --trusted-root).
    #[arg(long, value_name = "GLOB", requires = "trusted_root")]
    certificate_oidc_issuer: Option<String>,
    /// Accept CA-issued signing certificates that have no EKU extension (Go's x509 rule).
    #[arg(long, requires = "ca")]
    allow_missing_eku: bool,
    /// Count a DSSE statement as a signature only with this predicateType (repeatable); without it
    /// any counts, whereas the gate and --config use the scope's signature_predicate_types
    /// (default https://sigstore.dev/cosign/sign/v1).
    #[arg(long, value_name = "URI", conflicts_with = "config")]
    predicate_type: Vec<String>,
    /// Repository the image belongs to, in sealgate's namespace (e.g. prod/app).
    #[arg(long, value_name = "NAME")]
    repository: String,
    /// The image manifest digest.
    #[arg(
        long,
        value_name = "DIGEST",
        required_unless_present = "artifact",
        conflicts_with = "artifact"
    )]
    digest: Option<String>,
    /// Compute the digest from this file (an image manifest) instead of --digest.
    #[arg(long, value_name = "FILE")]
    artifact: Option<PathBuf>,
    /// The tag being pushed or pulled, when a signed docker-reference carries one.
    #[arg(long)]
    tag: Option<String>,
    /// Evaluate at this time (RFC 3339) instead of now; also used as the observation time.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Print the verdict as JSON.
    #[arg(long)]
    json: bool,
    /// Signature manifests, payload blobs, sigstore-json files or OCI layout directories.
    #[arg(value_name = "EVIDENCE", required = true)]
    evidence: Vec<PathBuf>,
}

/// A usage or input problem (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(String);

fn usage(message: impl Into<String>) -> UsageError {
    UsageError(message.into())
}

/// Runs the command and returns the process exit status.
pub fn run(args: &VerifyArgs, now: UnixTime) -> u8 {
    match verdict(args, now) {
        Ok(verdict) => {
            if args.json {
                println!("{}", verdict_json(&verdict));
            } else {
                print!("{}", verdict_table(&verdict));
            }
            if verdict.admitted().is_some() {
                EXIT_ADMITTED
            } else {
                EXIT_REFUSED
            }
        }
        Err(e) => {
            eprintln!("sealgate verify: {e}");
            EXIT_USAGE
        }
    }
}

/// Builds the subject, the policy and the evidence, and evaluates.
pub fn verdict(args: &VerifyArgs, now: UnixTime) -> Result<Verdict, UsageError> {
    let at = match &args.at {
        Some(t) => UnixTime::parse_rfc3339(t)
            .ok_or_else(|| usage(format!("--at {t:?} is not an RFC 3339 time")))?,
        None => now,
    };
    let repository: RepoName = args
        .repository
        .parse()
        .map_err(|e| usage(format!("--repository: {e}")))?;
    let digest: Digest = match (&args.digest, &args.artifact) {
        (Some(d), _) => d.parse().map_err(|e| usage(format!("--digest: {e}")))?,
        (None, Some(file)) => sha256_digest(&read(file)?),
        (None, None) => return Err(usage("give --digest or --artifact")),
    };
    let tag: Option<Tag> = args
        .tag
        .as_deref()
        .map(|t| t.parse().map_err(|e| usage(format!("--tag: {e}"))))
        .transpose()?;
    let policy = policy(args)?;
    // What loaded but may not be what was meant (a CRL whose issuer only a signature's chain
    // can bring): said on stderr, the verdict on stdout unchanged.
    for warning in policy.warnings() {
        eprintln!("sealgate verify: warning: {warning}");
    }
    let subject = Subject {
        repository,
        digest,
        tag,
    };
    let artifact = args.artifact.as_deref().map(read).transpose()?;
    let evidence = collect_evidence(&args.evidence, &subject.digest, artifact.as_deref(), at)?;
    Ok(evaluate(&policy, &subject, &evidence, at))
}

fn read(path: &Path) -> Result<Vec<u8>, UsageError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
    if meta.len() > MAX_EVIDENCE_BYTES {
        return Err(usage(format!(
            "{} is larger than {MAX_EVIDENCE_BYTES} bytes",
            path.display()
        )));
    }
    std::fs::read(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))
}

fn sha256_digest(bytes: &[u8]) -> Digest {
    Digest::from_hash(DigestAlgorithm::Sha256, &Sha256::digest(bytes))
        .unwrap_or_else(|_| unreachable!("sha256 output is 32 bytes"))
}

/// The policy from --config, or one built from the trust flags: every flag signer accepted,
/// any one suffices, enforced; DSSE statements of any predicate, or of --predicate-type's.
fn policy(args: &VerifyArgs) -> Result<Policy, UsageError> {
    if let Some(file) = &args.config {
        let raw = RawConfig::load(file, &EnvSource::Process).map_err(|e| usage(e.to_string()))?;
        let base = file.parent().unwrap_or(Path::new("."));
        return build_policy(&raw, base, 0).map_err(|e| usage(format!("{}: {e}", file.display())));
    }
    let keyless = args.trusted_root.is_some() && args.key.is_empty();
    if args.key.is_empty() && args.ca.is_empty() && !keyless {
        return Err(usage(
            "no trust given: use --config, or --key / --ca / --trusted-root",
        ));
    }
    let trusted_root = args.trusted_root.as_deref().map(path_str).transpose()?;
    let mut trust = RawTrust::default();
    let mut signers = Vec::new();
    for (i, key) in args.key.iter().enumerate() {
        let name = format!("key-{}", i + 1);
        trust.keys.insert(
            name.clone(),
            RawKey {
                path: path_str(key)?,
                rsa_scheme: Default::default(),
                trusted_root: trusted_root.clone(),
            },
        );
        signers.push(name);
    }
    if keyless {
        let (Some(san), Some(issuer)) = (&args.certificate_identity, &args.certificate_oidc_issuer)
        else {
            return Err(usage(
                "keyless verification (--trusted-root without --key) needs --certificate-identity and --certificate-oidc-issuer",
            ));
        };
        trust.keyless.insert(
            "keyless".to_owned(),
            sealgate_policies::config::RawKeyless {
                trusted_root: trusted_root.clone().unwrap_or_default(),
                san: san.clone(),
                issuer: issuer.clone(),
            },
        );
        signers.push("keyless".to_owned());
    }
    let mut ca_files = Vec::new();
    for (i, ca) in args.ca.iter().enumerate() {
        let name = format!("ca-{}", i + 1);
        ca_files.push((name.clone(), ca.clone()));
        let mut identity = sealgate_policies::config::RawIdentity::default();
        if let Some(id) = &args.certificate_identity {
            if id.contains('@') && !id.contains("://") {
                identity.san_email = Some(id.clone());
            } else {
                identity.san_uri = Some(id.clone());
            }
        }
        trust.pki.insert(
            name.clone(),
            RawPki {
                roots: format!("{name}:roots"),
                intermediates: Some(format!("{name}:intermediates")),
                crls: args
                    .crl
                    .iter()
                    .map(|p| path_str(p))
                    .collect::<Result<_, _>>()?,
                eku: if args.allow_missing_eku {
                    sealgate_policies::pki::EkuPolicy::IfPresent
                } else {
                    sealgate_policies::pki::EkuPolicy::Required
                },
                signing_time: sealgate_policies::config::SigningTime::Now,
                trusted_root: None,
                identity,
            },
        );
        signers.push(name);
    }
    let raw_policy = RawPolicy {
        default: RawScope {
            mode: Mode::Enforce,
            signers,
            signature_predicate_types: match args.predicate_type.as_slice() {
                [] => RawScope::default().signature_predicate_types,
                given => given.to_vec(),
            },
            ..RawScope::default()
        },
        scopes: Vec::new(),
    };
    // A --ca file may mix roots and intermediates: self-signed certificates are roots.
    let mut split: HashMap<String, (Vec<u8>, Vec<u8>)> = HashMap::new();
    for (name, file) in &ca_files {
        split.insert(name.clone(), split_ca_file(&read(file)?));
    }
    let mut load = |path: &str| -> Result<Vec<u8>, LoadError> {
        if let Some((name, part)) = path.split_once(':')
            && let Some((roots, intermediates)) = split.get(name)
        {
            return Ok(if part == "roots" {
                roots.clone()
            } else {
                intermediates.clone()
            });
        }
        std::fs::read(path).map_err(|source| LoadError {
            path: path.into(),
            source,
        })
    };
    let mut policy = Policy::build(&trust, &raw_policy, &mut load, 0).map_err(|e| {
        match e
            .key
            .strip_prefix("policy.default.signature_predicate_types")
        {
            Some(at) => usage(format!("--predicate-type{at}: {}", e.message)),
            None => usage(e.to_string()),
        }
    })?;
    // Without --predicate-type, any statement counts: the flags name signers, not a scope.
    if args.predicate_type.is_empty() {
        policy.set_signature_predicates(&SignaturePredicates::Any);
    }
    Ok(policy)
}

fn path_str(path: &Path) -> Result<String, UsageError> {
    path.to_str()
        .map(str::to_owned)
        .ok_or_else(|| usage(format!("{} is not a UTF-8 path", path.display())))
}

/// Splits a PEM file into (self-signed roots, the rest), each re-encoded as PEM.
fn split_ca_file(pem: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut roots = String::new();
    let mut intermediates = String::new();
    if let Ok(certs) = sealgate_policies::x509::CertificateInfo::all_from_pem(pem) {
        for cert in certs {
            let block = pem_encode("CERTIFICATE", &cert.der);
            if cert.subject == cert.issuer {
                roots.push_str(&block)
            } else {
                intermediates.push_str(&block)
            }
        }
    }
    (roots.into_bytes(), intermediates.into_bytes())
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    let _ = writeln!(out, "-----END {label}-----");
    out
}

/// One evidence file, classified.
enum EvidenceFile {
    SignatureManifest(Vec<u8>),
    SigstoreJson(Vec<u8>),
    Bundle(Vec<u8>),
    Blob(Vec<u8>),
}

fn classify(bytes: Vec<u8>) -> EvidenceFile {
    if bytes.starts_with(SIGSTORE_JSON_MAGIC) {
        return EvidenceFile::SigstoreJson(bytes);
    }
    #[derive(Deserialize)]
    struct Probe {
        layers: Option<serde_json::Value>,
        #[serde(rename = "mediaType")]
        media_type: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<Probe>(&bytes) {
        Ok(Probe {
            layers: Some(_), ..
        }) => EvidenceFile::SignatureManifest(bytes),
        Ok(Probe {
            media_type: Some(serde_json::Value::String(m)),
            ..
        }) if m.starts_with("application/vnd.dev.sigstore.bundle") => EvidenceFile::Bundle(bytes),
        _ => EvidenceFile::Blob(bytes),
    }
}

fn collect_evidence(
    paths: &[PathBuf],
    subject: &Digest,
    artifact: Option<&[u8]>,
    observed: UnixTime,
) -> Result<Vec<Evidence>, UsageError> {
    let mut manifests: Vec<(String, Vec<u8>)> = Vec::new();
    let mut blobs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut evidence = Vec::new();
    for path in paths {
        if path.is_dir() {
            layout_evidence(path, subject, &mut manifests, &mut blobs)?;
            continue;
        }
        match classify(read(path)?) {
            EvidenceFile::SignatureManifest(m) => manifests.push((path.display().to_string(), m)),
            EvidenceFile::Blob(b) => {
                blobs.insert(sha256_digest(&b).to_string(), b);
            }
            EvidenceFile::Bundle(bytes) => {
                let source = path.display().to_string();
                evidence.push(crate::evidence::bundle(&bytes, artifact, observed, source));
            }
            EvidenceFile::SigstoreJson(bytes) => {
                let source = path.display().to_string();
                evidence.push(match sigstore_json(&bytes) {
                    Ok(signature) => Evidence::Cosign {
                        signature,
                        observed,
                        source,
                    },
                    Err(reason) => Evidence::Unusable { reason, source },
                });
            }
        }
    }
    for (source, manifest) in manifests {
        let lookup = |d: &Digest| blobs.get(d.as_str()).cloned().map(bytes::Bytes::from);
        let layers = parse_signature_manifest(&manifest, &lookup)
            .map_err(|e| usage(format!("{source}: {e}")))?;
        for (i, layer) in layers.into_iter().enumerate() {
            let source = format!("{source} layer {i}");
            evidence.push(match layer {
                Ok(signature) => Evidence::Cosign { signature, observed, source },
                Err(reason) => {
                    if matches!(reason, SignatureFailure::PayloadMissing { .. }) {
                        eprintln!("sealgate verify: {source}: {reason}; pass the payload blob as an argument");
                    }
                    Evidence::Unusable { reason, source }
                }
            });
        }
    }
    Ok(evidence)
}

/// containers/image's signature file: the magic, then `{"mimeType","payload","annotations"}`.
fn sigstore_json(bytes: &[u8]) -> Result<CosignSignature, SignatureFailure> {
    #[derive(Deserialize)]
    struct Raw {
        #[serde(rename = "mimeType")]
        mime_type: String,
        payload: String,
        #[serde(default)]
        annotations: BTreeMap<String, String>,
    }
    use base64::Engine as _;
    let raw: Raw = serde_json::from_slice(&bytes[SIGSTORE_JSON_MAGIC.len()..])
        .map_err(|e| SignatureFailure::PayloadMalformed(format!("not sigstore-json: {e}")))?;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(raw.payload.as_bytes())
        .map_err(|_| SignatureFailure::PayloadMalformed("payload is not base64".to_owned()))?;
    CosignSignature::from_layer(&raw.mime_type, payload, &raw.annotations)
}

/// Adds the signature manifests of an OCI layout that concern `subject`, and all its blobs.
fn layout_evidence(
    dir: &Path,
    subject: &Digest,
    manifests: &mut Vec<(String, Vec<u8>)>,
    blobs: &mut BTreeMap<String, Vec<u8>>,
) -> Result<(), UsageError> {
    let blob_dir = dir.join("blobs/sha256");
    let entries = std::fs::read_dir(&blob_dir)
        .map_err(|e| usage(format!("{}: not an OCI layout ({e})", dir.display())))?;
    for entry in entries.flatten() {
        let bytes = read(&entry.path())?;
        let digest = sha256_digest(&bytes);
        // A blob whose name is not its digest is not trusted as that blob.
        if entry.file_name().to_str() == Some(digest.hex()) {
            blobs.insert(digest.to_string(), bytes);
        }
    }
    let sig_tag = format!("sha256-{}.sig", subject.hex());
    #[derive(Deserialize)]
    struct Index {
        #[serde(default)]
        manifests: Vec<Descriptor>,
    }
    #[derive(Deserialize)]
    struct Descriptor {
        digest: String,
        #[serde(default)]
        annotations: BTreeMap<String, String>,
    }
    #[derive(Deserialize)]
    struct WithSubject {
        subject: Option<Descriptor>,
        layers: Option<serde_json::Value>,
    }
    let index: Index = serde_json::from_slice(&read(&dir.join("index.json"))?)
        .map_err(|e| usage(format!("{}/index.json: {e}", dir.display())))?;
    let mut wanted: Vec<String> = index
        .manifests
        .iter()
        .filter(|d| d.annotations.get("org.opencontainers.image.ref.name") == Some(&sig_tag))
        .map(|d| d.digest.clone())
        .collect();
    // Referrers: any manifest in the layout whose subject is the image.
    for (digest, bytes) in blobs.iter() {
        if let Ok(WithSubject {
            subject: Some(s),
            layers: Some(_),
        }) = serde_json::from_slice::<WithSubject>(bytes)
            && s.digest == subject.as_str()
            && !wanted.contains(digest)
        {
            wanted.push(digest.clone());
        }
    }
    for digest in wanted {
        if let Some(bytes) = blobs.get(&digest) {
            manifests.push((format!("{}@{digest}", dir.display()), bytes.clone()));
        }
    }
    Ok(())
}

fn verdict_table(v: &Verdict) -> String {
    let mut out = String::new();
    let result = match (&v.decision, v.proceeds()) {
        (Decision::Allow(_), _) => "ADMITTED",
        (Decision::Deny(_), true) => "REFUSED (allowed by the scope's mode)",
        (Decision::Deny(_), false) => "REFUSED",
    };
    let _ = writeln!(out, "result    {result}");
    let _ = writeln!(out, "scope     {} ({:?})", v.scope, v.mode);
    for s in &v.satisfied {
        let _ = writeln!(out, "signed    {}  {}", s.signer, s.identity);
    }
    for f in &v.failures {
        let _ = writeln!(out, "failed    {} vs {}: {}", f.source, f.signer, f.reason);
    }
    let _ = writeln!(out, "reason    {}", v.explain());
    out
}

fn verdict_json(v: &Verdict) -> String {
    serde_json::json!({
        "admitted": v.admitted().is_some(),
        "proceeds": v.proceeds(),
        "scope": v.scope,
        "mode": format!("{:?}", v.mode).to_lowercase(),
        "generation": v.generation,
        "satisfied": v.satisfied.iter().map(|s| serde_json::json!({
            "signer": s.signer,
            "identity": s.identity.to_string(),
            "evidence": s.evidence,
        })).collect::<Vec<_>>(),
        "failures": v.failures.iter().map(|f| serde_json::json!({
            "source": f.source,
            "signer": f.signer,
            "reason": f.reason.to_string(),
        })).collect::<Vec<_>>(),
        "explanation": v.explain(),
    })
    .to_string()
}
