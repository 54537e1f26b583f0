//! `sealgate verify --ca root.pem --crl intermediate.crl`: a CRL published by an issuing CA that
//! is not configured, only carried by the signatures (`dev.sigstore.cosign/chain`), revokes the
//! certificates it lists (issue 14, item 3).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SanType, SerialNumber, SigningKey as _, date_time_ymd,
};

const SIGSTORE_JSON_MAGIC: &[u8] = b"\x00sigstore-json\n";
const DIGEST: &str = "sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172";

fn ca(cn: &str, parent: Option<&Issuer<'static, KeyPair>>) -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(vec![]).expect("params");
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2045, 1, 1);
    let key = KeyPair::generate().expect("key");
    let cert = match parent {
        Some(p) => params.signed_by(&key, p),
        None => params.self_signed(&key),
    }
    .expect("certificate");
    (cert.pem(), Issuer::new(params, key))
}

/// A cosign signature of DIGEST by a new leaf of `issuer` with this serial, carrying
/// `chain_pem`, written as a containers/image sigstore-json file.
fn signature(
    dir: &Path,
    name: &str,
    issuer: &Issuer<'static, KeyPair>,
    serial: u64,
    chain_pem: &str,
) -> String {
    let mut params = CertificateParams::new(vec![]).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, "ci signer");
    params.subject_alt_names = vec![SanType::Rfc822Name(
        "ci@example.com".try_into().expect("e-mail"),
    )];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.not_before = date_time_ymd(2025, 1, 1);
    params.not_after = date_time_ymd(2045, 1, 1);
    params.serial_number = Some(SerialNumber::from(serial));
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, issuer).expect("leaf");
    let payload = serde_json::to_vec(&serde_json::json!({
        "critical": {
            "identity": {"docker-reference": "registry.example/app"},
            "image": {"docker-manifest-digest": DIGEST},
            "type": "cosign container image signature",
        },
        "optional": null,
    }))
    .expect("payload");
    let b64 = base64::engine::general_purpose::STANDARD;
    let annotations = BTreeMap::from([
        (
            "dev.cosignproject.cosign/signature",
            b64.encode(key.sign(&payload).expect("sign")),
        ),
        ("dev.sigstore.cosign/certificate", cert.pem()),
        ("dev.sigstore.cosign/chain", chain_pem.to_owned()),
    ]);
    let body = serde_json::json!({
        "mimeType": "application/vnd.dev.cosign.simplesigning.v1+json",
        "payload": b64.encode(&payload),
        "annotations": annotations,
    });
    let mut bytes = SIGSTORE_JSON_MAGIC.to_vec();
    bytes.extend_from_slice(body.to_string().as_bytes());
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path.to_str().expect("utf-8").to_owned()
}

fn verify(dir: &Path, signature: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .arg("verify")
        .args(["--ca", dir.join("root.pem").to_str().expect("utf-8")])
        .args([
            "--crl",
            dir.join("intermediate.crl").to_str().expect("utf-8"),
        ])
        .args(["--certificate-identity", "ci@example.com"])
        .args(["--repository", "app", "--digest", DIGEST, signature])
        .output()
        .expect("run sealgate verify");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn a_crl_of_an_intermediate_carried_in_the_chain_annotation_revokes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (root_pem, root) = ca("Example Root", None);
    let (inter_pem, inter) = ca("Example Issuing CA", Some(&root));
    std::fs::write(dir.path().join("root.pem"), &root_pem).expect("write");
    let crl = CertificateRevocationListParams {
        this_update: date_time_ymd(2025, 1, 1),
        next_update: date_time_ymd(2045, 1, 1),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: vec![RevokedCertParams {
            serial_number: SerialNumber::from(0x2002u64),
            revocation_time: date_time_ymd(2025, 6, 1),
            reason_code: None,
            invalidity_date: None,
        }],
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&inter)
    .expect("CRL");
    std::fs::write(
        dir.path().join("intermediate.crl"),
        crl.pem().expect("CRL PEM"),
    )
    .expect("write");

    let good = signature(dir.path(), "good", &inter, 0x1001, &inter_pem);
    let (code, out) = verify(dir.path(), &good);
    assert_eq!(code, 0, "{out}");
    // The CRL's issuer is not in the --ca bundle: accepted, and said so, not silently.
    assert!(
        out.contains("sealgate verify: warning:") && out.contains("Example Issuing CA"),
        "{out}"
    );

    let revoked = signature(dir.path(), "revoked", &inter, 0x2002, &inter_pem);
    let (code, out) = verify(dir.path(), &revoked);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("revoked"), "{out}");

    // Without the chain, nothing reaches the intermediate: refused, as before.
    let bare = signature(dir.path(), "bare", &inter, 0x1001, "");
    let (code, out) = verify(dir.path(), &bare);
    assert_eq!(code, 1, "{out}");
}
