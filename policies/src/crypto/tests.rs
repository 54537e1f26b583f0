use super::*;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).unwrap()
}

/// Signs a message with a test key.
type SignFn = Box<dyn Fn(&[u8]) -> Vec<u8>>;

/// A generated key pair: its SPKI (what a verifier is configured with) and a signing function.
struct TestSigner {
    spki_pem: String,
    sign: SignFn,
}

fn ecdsa(
    alg: &'static rcgen::SignatureAlgorithm,
    ring_alg: &'static signature::EcdsaSigningAlgorithm,
) -> TestSigner {
    let pair = rcgen::KeyPair::generate_for(alg).unwrap();
    let pkcs8 = pair.serialize_der();
    let signer = EcdsaKeyPair::from_pkcs8(ring_alg, &pkcs8).unwrap();
    TestSigner {
        spki_pem: pair.public_key_pem(),
        sign: Box::new(move |msg| {
            signer
                .sign(&SystemRandom::new(), msg)
                .unwrap()
                .as_ref()
                .to_vec()
        }),
    }
}

fn ed25519() -> TestSigner {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let signer = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pair.serialize_der()).unwrap();
    assert_eq!(signer.public_key().as_ref().len(), 32);
    TestSigner {
        spki_pem: pair.public_key_pem(),
        sign: Box::new(move |msg| signer.sign(msg).as_ref().to_vec()),
    }
}

fn rsa(padding: &'static dyn aws_lc_rs::signature::RsaEncoding) -> TestSigner {
    let pem = fixture("generated/rsa2048.key");
    let pair = rcgen::KeyPair::from_pem(std::str::from_utf8(&pem).unwrap()).unwrap();
    let signer = RsaKeyPair::from_pkcs8(&pair.serialize_der()).unwrap();
    TestSigner {
        spki_pem: pair.public_key_pem(),
        sign: Box::new(move |msg| {
            let mut sig = vec![0; signer.public_modulus_len()];
            signer
                .sign(padding, &SystemRandom::new(), msg, &mut sig)
                .unwrap();
            sig
        }),
    }
}

fn round_trip(signer: &TestSigner, scheme: RsaScheme, expect: KeyAlgorithm) {
    let key = PublicKey::from_pem(signer.spki_pem.as_bytes(), scheme).unwrap();
    assert_eq!(key.algorithm(), expect);
    let sig = (signer.sign)(b"payload");
    key.verify(b"payload", &sig).unwrap();
    assert_eq!(key.verify(b"payload!", &sig), Err(BadSignature));
    let mut flipped = sig.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert_eq!(key.verify(b"payload", &flipped), Err(BadSignature));
    assert_eq!(key.verify(b"payload", &[]), Err(BadSignature));
    // The key kept parsed from the first check answers the same afterwards, and in a clone.
    key.verify(b"payload", &sig).unwrap();
    key.clone().verify(b"payload", &sig).unwrap();
    assert_eq!(key.clone().verify(b"payload!", &sig), Err(BadSignature));
}

#[test]
fn every_supported_algorithm_verifies_and_refuses_tampering() {
    round_trip(
        &ecdsa(
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        ),
        RsaScheme::Pkcs1,
        KeyAlgorithm::EcdsaP256,
    );
    round_trip(
        &ecdsa(
            &rcgen::PKCS_ECDSA_P384_SHA384,
            &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        ),
        RsaScheme::Pkcs1,
        KeyAlgorithm::EcdsaP384,
    );
    round_trip(&ed25519(), RsaScheme::Pkcs1, KeyAlgorithm::Ed25519);
    round_trip(
        &rsa(&signature::RSA_PKCS1_SHA256),
        RsaScheme::Pkcs1,
        KeyAlgorithm::RsaPkcs1,
    );
    round_trip(
        &rsa(&signature::RSA_PSS_SHA256),
        RsaScheme::Pss,
        KeyAlgorithm::RsaPss,
    );
}

#[test]
fn ecdsa_accepts_fixed_width_signatures() {
    let fixed = ecdsa(
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
    );
    round_trip(&fixed, RsaScheme::Pkcs1, KeyAlgorithm::EcdsaP256);
    let fixed = ecdsa(
        &rcgen::PKCS_ECDSA_P384_SHA384,
        &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
    );
    round_trip(&fixed, RsaScheme::Pkcs1, KeyAlgorithm::EcdsaP384);
}

#[test]
fn rsa_padding_is_what_the_configuration_says() {
    let pkcs1 = rsa(&signature::RSA_PKCS1_SHA256);
    let as_pss = PublicKey::from_pem(pkcs1.spki_pem.as_bytes(), RsaScheme::Pss).unwrap();
    assert_eq!(as_pss.verify(b"m", &(pkcs1.sign)(b"m")), Err(BadSignature));
    let pss = rsa(&signature::RSA_PSS_SHA256);
    let as_pkcs1 = PublicKey::from_pem(pss.spki_pem.as_bytes(), RsaScheme::Pkcs1).unwrap();
    assert_eq!(as_pkcs1.verify(b"m", &(pss.sign)(b"m")), Err(BadSignature));
}

#[test]
fn another_keys_signature_does_not_verify() {
    let a = ecdsa(
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
    );
    let b = ecdsa(
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
    );
    let key_b = PublicKey::from_pem(b.spki_pem.as_bytes(), RsaScheme::Pkcs1).unwrap();
    assert_eq!(key_b.verify(b"m", &(a.sign)(b"m")), Err(BadSignature));
}

#[test]
fn unusable_keys_are_refused_with_the_reason() {
    assert!(matches!(
        PublicKey::from_pem(&fixture("generated/p521.pub"), RsaScheme::Pkcs1),
        Err(KeyError::Unsupported(c)) if c.contains("1.3.132.0.35")
    ));
    assert_eq!(
        PublicKey::from_pem(&fixture("generated/rsa1024.pub"), RsaScheme::Pkcs1),
        Err(KeyError::RsaSize(1024))
    );
    assert!(matches!(
        PublicKey::from_pem(b"hello", RsaScheme::Pkcs1),
        Err(KeyError::Pem(_))
    ));
    assert!(matches!(
        PublicKey::from_pem(
            b"-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----\n",
            RsaScheme::Pkcs1
        ),
        Err(KeyError::Pem(_))
    ));
    assert!(matches!(
        PublicKey::from_pem(
            b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            RsaScheme::Pkcs1
        ),
        Err(KeyError::Der(_))
    ));
    assert!(matches!(
        PublicKey::from_pem(b"-----BEGIN PUBLIC KEY-----\nAAAA\n", RsaScheme::Pkcs1),
        Err(KeyError::Pem(_))
    ));
}

#[test]
fn cosign_fixture_keys_parse_with_stable_fingerprints() {
    let alice = PublicKey::from_pem(
        &fixture("cosign-legacy/connaisseur-testimage/keys/alice.pub"),
        RsaScheme::Pkcs1,
    )
    .unwrap();
    assert_eq!(alice.algorithm(), KeyAlgorithm::EcdsaP256);
    // The fingerprint is over DER, so PEM line wrapping does not change it.
    let pem = String::from_utf8(fixture(
        "cosign-legacy/connaisseur-testimage/keys/alice.pub",
    ))
    .unwrap();
    let unwrapped: String = pem
        .lines()
        .map(|l| {
            if l.starts_with("-----") {
                format!("\n{l}\n")
            } else {
                l.to_owned()
            }
        })
        .collect();
    let again = PublicKey::from_pem(unwrapped.as_bytes(), RsaScheme::Pkcs1).unwrap();
    assert_eq!(alice.fingerprint(), again.fingerprint());
    assert!(Fingerprint::parse(alice.fingerprint().as_str()).is_some());
    let bob = PublicKey::from_pem(
        &fixture("cosign-legacy/connaisseur-testimage/keys/bob.pub"),
        RsaScheme::Pkcs1,
    )
    .unwrap();
    assert_ne!(alice.fingerprint(), bob.fingerprint());
}
