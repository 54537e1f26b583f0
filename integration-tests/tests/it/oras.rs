//! ORAS (the Python SDK, `oras` from PyPI in `.venv-ci`) through sealgate: an artifact pushed
//! (its blob in chunks), then a second artifact whose manifest has that one as `subject`, found
//! through the referrers API that sealgate answers (distribution 2.8 has none), filtered by
//! `artifactType`, and pulled back.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::{Method, StatusCode};
use sealgate_integration_tests::{registry_behind_sealgate, send, unique_salt};
use serde_json::Value;

/// Run by `.venv-ci/bin/python` with: host, repository, work dir, salt. Prints one JSON object.
const SCRIPT: &str = r#"
import json, os, sys
import oras.client, oras.oci

host, name, work, salt = sys.argv[1:5]
os.chdir(work)
client = oras.client.OrasClient(hostname=host, insecure=True)

# The subject: an artifact whose 6 KiB blob goes up in 1 KiB chunks (PATCH with Content-Range).
with open("app.bin", "w") as f:
    f.write((salt + "\n") * (6144 // (len(salt) + 1) + 1))
pushed = client.push(target=f"{host}/{name}:v1", files=["app.bin"], do_chunked=True,
                     chunk_size=1024, quiet=True)
subject = oras.oci.Subject(
    mediaType=json.loads(pushed.request.body)["mediaType"],
    digest=pushed.headers["Docker-Content-Digest"],
    size=len(pushed.request.body),
)

# The referrer: an SBOM-like artifact pointing at the subject.
with open("sbom.json", "w") as f:
    json.dump({"for": subject.digest, "salt": salt}, f)
with open("config.json", "w") as f:
    f.write("{}")
referrer = client.push(
    target=f"{host}/{name}:sbom",
    files=["sbom.json:application/vnd.example.sbom.layer+json"],
    manifest_config="config.json:application/vnd.example.sbom+json",
    manifest_annotations={"org.example.salt": salt},
    subject=subject,
    quiet=True,
)

def referrers(query=""):
    r = client.do_request(
        f"http://{host}/v2/{name}/referrers/{subject.digest}{query}",
        "GET",
        headers={"Accept": "application/vnd.oci.image.index.v1+json"},
    )
    return {"status": r.status_code, "type": r.headers.get("Content-Type"),
            "filters": r.headers.get("OCI-Filters-Applied"), "body": r.json()}

pulled = client.pull(target=f"{host}/{name}:sbom", outdir=os.path.join(work, "out"))
print(json.dumps({
    "subject": subject.digest,
    "oci_subject": referrer.headers.get("OCI-Subject"),
    "referrer": referrer.headers["Docker-Content-Digest"],
    "all": referrers(),
    "sbom": referrers("?artifactType=application/vnd.example.sbom%2Bjson"),
    "other": referrers("?artifactType=application/vnd.example.other"),
    "pulled": [open(p).read() for p in pulled],
}))
"#;

fn venv_python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives inside the workspace")
        .join(".venv-ci/bin/python");
    assert!(
        python.is_file(),
        "{} not found: run scripts/install-deps.sh test (it installs oras there)",
        python.display()
    );
    python
}

/// The descriptors of a referrers answer as the script recorded it, after checking it is a 200
/// image index.
fn descriptors(answer: &Value) -> &Vec<Value> {
    assert_eq!(answer["status"], 200, "{answer}");
    assert_eq!(answer["type"], "application/vnd.oci.image.index.v1+json");
    answer["body"]["manifests"]
        .as_array()
        .unwrap_or_else(|| panic!("not an index: {answer}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn oras_artifact_with_a_subject_is_found_through_the_referrers_api() {
    let (registry, sealgate) = registry_behind_sealgate(&[]).await;
    let work = tempfile::tempdir().expect("temp dir");
    let salt = unique_salt();
    let name = "it/oras";
    let output = tokio::process::Command::new(venv_python())
        .arg("-c")
        .arg(SCRIPT)
        .args([&sealgate.host(), name])
        .arg(work.path())
        .arg(&salt)
        .kill_on_drop(true)
        .output()
        .await
        .expect("run python");
    assert!(
        output.status.success(),
        "the oras script failed\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let run: Value = serde_json::from_slice(&output.stdout).expect("the script prints JSON");
    let subject = run["subject"].as_str().expect("subject digest");
    let referrer = run["referrer"].as_str().expect("referrer digest");
    // sealgate said it processed the subject, so ORAS need not maintain the fallback tag.
    assert_eq!(run["oci_subject"], subject);

    let all = descriptors(&run["all"]);
    let found: Vec<&Value> = all.iter().filter(|d| d["digest"] == referrer).collect();
    assert_eq!(found.len(), 1, "the referrer is listed once: {all:?}");
    let found = found[0];
    assert_eq!(found["artifactType"], "application/vnd.example.sbom+json");
    assert_eq!(
        found["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(found["annotations"]["org.example.salt"], salt.as_str());
    let sbom = descriptors(&run["sbom"]);
    assert_eq!(sbom.len(), 1, "{sbom:?}");
    assert_eq!(sbom[0]["digest"], referrer);
    assert_eq!(run["sbom"]["filters"], "artifactType");
    assert!(descriptors(&run["other"]).is_empty(), "{}", run["other"]);
    let pulled = run["pulled"].as_array().expect("pulled files");
    assert_eq!(pulled.len(), 1);
    assert!(
        pulled[0].as_str().is_some_and(|s| s.contains(&salt)),
        "{pulled:?}"
    );

    // The registry alone has no referrers API: what ORAS found, sealgate answered.
    let direct = send(
        Method::GET,
        &format!("{}/v2/{name}/referrers/{subject}", registry.url()),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(direct.status, StatusCode::NOT_FOUND, "{}", direct.text());
}
