//! Crash consistency of the sled store under SIGKILL.
//!
//! `acknowledged_writes_survive_sigkill` re-runs this test binary as a writer (the ignored test
//! `crash_writer`, selected with `--exact --ignored`; its store directory and iteration number
//! arrive on stdin). The writer loops over pins, mutable-tag moves, signatures, quarantine and
//! audit events, printing one `ACK …` line the moment each call returns. The parent kills it
//! with SIGKILL (`Child::kill`) after a random number of acknowledgements plus a random delay,
//! so the kill lands anywhere in an operation, reopens the store and checks:
//! - every record decodes and the audit chain verifies;
//! - every acknowledged write is there: pins with their digest and audit event, audit records
//!   at their sequence numbers, signatures;
//! - writes and their audit events landed together, acknowledged or not: every pin has its
//!   event and every event its pin; a pending tag is there exactly when no promote event is.
//!
//! The store directory is kept across iterations, so each writer also recovers the previous
//! one's crash and continues its chain. The random choices come from a fixed seed.
//!
//! SIGKILL tests process crashes: what sled has handed to the kernel survives them. Power loss
//! additionally depends on the fsync in `Db::flush`, which this cannot exercise.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sealgate_policies::gate::PinWarrant;
use sealgate_policies::oci::Digest;
use sealgate_storage::{
    AuditEvent, PendingTag, PinKey, PinOutcome, PinRequest, SignatureFormat, SignatureRecord,
    SledStore, Store,
};

const ITERATIONS: u64 = 40;
const SEED: u64 = 0x00c0_ffee_5eed;
/// Upper bound on acknowledgements before a kill; the kill point is uniform below it.
const MAX_ACKS_BEFORE_KILL: u64 = 200;
/// Upper bound on the extra delay after the chosen acknowledgement.
const MAX_KILL_DELAY_MICROS: u64 = 4_000;
const UPSTREAM: &str = "crash";
/// How long the parent waits for the next line from a writer before failing.
const WRITER_TIMEOUT: Duration = Duration::from_secs(30);

// ---- the writer ----------------------------------------------------------------------------

#[tokio::test]
#[ignore = "the writer half of acknowledged_writes_survive_sigkill; the parent runs it"]
async fn crash_writer() {
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        return;
    }
    // Run by hand (`--ignored`) without the parent's instructions: nothing to do.
    let Some((dir, iteration)) = line
        .trim_end()
        .split_once('\t')
        .and_then(|(dir, it)| Some((dir.to_owned(), it.parse::<u64>().ok()?)))
    else {
        return;
    };
    write_until_killed(Path::new(&dir), iteration).await;
}

async fn write_until_killed(dir: &Path, iteration: u64) {
    let store = SledStore::open(dir).expect("the writer opens the store");
    let stdout = std::io::stdout();
    let deadline = Instant::now() + Duration::from_secs(60);
    let latest = key(iteration, "latest");
    for i in 0u64.. {
        let line = match i % 6 {
            0 => {
                let k = key(iteration, &format!("t{i}"));
                let (outcome, record) = store
                    .pin(
                        &k,
                        request(iteration, i),
                        false,
                        event("push", &k, iteration, i),
                    )
                    .await
                    .expect("pin");
                assert_eq!(outcome, PinOutcome::Created);
                format!("pin {iteration} {i} {}", record.seq)
            }
            1 => {
                let (_, record) = store
                    .pin(
                        &latest,
                        request(iteration, i),
                        true,
                        event("move", &latest, iteration, i),
                    )
                    .await
                    .expect("move");
                format!("move {iteration} {i} {}", record.seq)
            }
            2 => {
                store
                    .record_signature(signature(iteration, i))
                    .await
                    .expect("signature");
                format!("sig {iteration} {i}")
            }
            3 => {
                let k = key(iteration, &format!("q{i}"));
                let pending = PendingTag {
                    key: k.clone(),
                    digest: digest(iteration, i),
                    media_type: "application/vnd.oci.image.manifest.v1+json".to_owned(),
                    expires_at: i,
                    pushed_by: None,
                };
                let record = store
                    .put_pending(pending, event("quarantine", &k, iteration, i))
                    .await
                    .expect("put_pending");
                format!("pending {iteration} {i} {}", record.seq)
            }
            4 => {
                // Promote the tag quarantined by the previous step.
                let k = key(iteration, &format!("q{}", i - 1));
                let (_, record) = store
                    .remove_pending(&k, event("promote", &k, iteration, i - 1))
                    .await
                    .expect("remove_pending")
                    .expect("the previous step quarantined it");
                format!("promote {iteration} {} {}", i - 1, record.seq)
            }
            _ => {
                let k = key(iteration, "pulled");
                let record = store
                    .append_audit(event("pull", &k, iteration, i))
                    .await
                    .expect("append_audit");
                format!("audit {iteration} {i} {}", record.seq)
            }
        };
        let mut out = stdout.lock();
        if writeln!(out, "ACK {line}")
            .and_then(|()| out.flush())
            .is_err()
        {
            return; // The parent is gone.
        }
        if Instant::now() > deadline {
            return;
        }
    }
}

// ---- what the writer writes, derived from (iteration, i) ------------------------------------

fn key(iteration: u64, tag: &str) -> PinKey {
    PinKey {
        upstream: UPSTREAM.to_owned(),
        repository: format!("iteration/n{iteration}")
            .parse()
            .expect("repository"),
        tag: tag.parse().expect("tag"),
    }
}

fn digest(iteration: u64, i: u64) -> Digest {
    format!("sha256:{iteration:032x}{i:032x}")
        .parse()
        .expect("digest")
}

/// A request to pin `digest(iteration, i)`, with a warrant no gate decided: this test is about
/// storing.
fn request(iteration: u64, i: u64) -> PinRequest {
    PinRequest::new(
        PinWarrant::unverified(&digest(iteration, i)),
        i,
        Some("writer".to_owned()),
        vec!["crash".to_owned()],
    )
}

fn signature(iteration: u64, i: u64) -> SignatureRecord {
    SignatureRecord {
        subject: digest(iteration, i),
        format: SignatureFormat::CosignLayer,
        signature_manifest: digest(iteration, i + 1),
        layer_index: 0,
        signer: "crash".to_owned(),
        key_fingerprint: None,
        certificate: None,
        observed_at: i,
        evidence: vec![0xAB; 512],
    }
}

/// The event of step `i`; its reason identifies the step.
fn event(action: &str, key: &PinKey, iteration: u64, i: u64) -> AuditEvent {
    AuditEvent {
        at: i,
        action: action.to_owned(),
        outcome: "allow".to_owned(),
        upstream: key.upstream.clone(),
        repository: key.repository.to_string(),
        reference: key.tag.to_string(),
        digest: Some(digest(iteration, i).to_string()),
        reason: reason(iteration, i),
        identity: None,
        signers: Vec::new(),
        request_id: None,
    }
}

fn reason(iteration: u64, i: u64) -> String {
    format!("step {iteration}/{i}")
}

// ---- the parent ----------------------------------------------------------------------------

/// Acknowledged operations, accumulated over all iterations.
#[derive(Default)]
struct Acked {
    /// (iteration, step, audit seq) of each acknowledged immutable pin.
    pins: Vec<(u64, u64, u64)>,
    /// The same for mutable-tag moves.
    moves: Vec<(u64, u64, u64)>,
    sigs: Vec<(u64, u64)>,
    /// (iteration, step of the quarantine, audit seq) for quarantines and promotions.
    pending: Vec<(u64, u64, u64)>,
    promotions: Vec<(u64, u64, u64)>,
    audits: Vec<(u64, u64, u64)>,
}

impl Acked {
    fn total(&self) -> usize {
        self.pins.len()
            + self.moves.len()
            + self.sigs.len()
            + self.pending.len()
            + self.promotions.len()
            + self.audits.len()
    }

    fn record(&mut self, line: &str) {
        let Some(ack) = line.find("ACK ").map(|at| &line[at + 4..]) else {
            return;
        };
        let fields: Vec<&str> = ack.split_whitespace().collect();
        let num = |n: usize| -> u64 {
            fields
                .get(n)
                .and_then(|f| f.parse().ok())
                .unwrap_or_else(|| panic!("malformed ack {ack:?}"))
        };
        match fields.first().copied() {
            Some("pin") => self.pins.push((num(1), num(2), num(3))),
            Some("move") => self.moves.push((num(1), num(2), num(3))),
            Some("sig") => self.sigs.push((num(1), num(2))),
            Some("pending") => self.pending.push((num(1), num(2), num(3))),
            Some("promote") => self.promotions.push((num(1), num(2), num(3))),
            Some("audit") => self.audits.push((num(1), num(2), num(3))),
            _ => panic!("unknown ack {ack:?}"),
        }
    }
}

/// xorshift64*: the same kill points on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

#[tokio::test]
async fn acknowledged_writes_survive_sigkill() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let exe = std::env::current_exe().expect("own path");
    let mut rng = Rng(SEED);
    let mut acked = Acked::default();
    let mut kills = 0;

    for iteration in 0..ITERATIONS {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_writer",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the writer");
        writeln!(
            child.stdin.take().expect("stdin"),
            "{}\t{iteration}",
            dir.path().display()
        )
        .expect("instruct the writer");

        let (lines_tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr = child.stderr.take().expect("stderr");
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });

        let kill_after = 1 + rng.below(MAX_ACKS_BEFORE_KILL);
        let delay = Duration::from_micros(rng.below(MAX_KILL_DELAY_MICROS));
        let mut seen = 0;
        while seen < kill_after {
            match lines.recv_timeout(WRITER_TIMEOUT) {
                Ok(line) => {
                    if line.contains("ACK ") {
                        seen += 1;
                    }
                    acked.record(&line);
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "writer {iteration} stopped after {seen} acks ({e}); stderr:\n{}",
                        errors.join().unwrap_or_default()
                    );
                }
            }
        }
        std::thread::sleep(delay);
        // `Child::kill` is SIGKILL on Unix: no destructors, no flush, no exit handlers.
        child.kill().expect("SIGKILL the writer");
        kills += 1;
        let status = child.wait().expect("reap the writer");
        assert!(!status.success(), "the writer was killed, not finished");
        // Everything it printed before dying was acknowledged.
        reader.join().expect("stdout reader");
        for line in lines.try_iter() {
            acked.record(&line);
        }
        let _ = errors.join();

        check(dir.path(), &acked, iteration).await;
    }

    let store = SledStore::open(dir.path()).expect("reopen");
    let report = store.verify_audit().await.expect("audit chain");
    let audited_acks = (acked.total() - acked.sigs.len()) as u64;
    println!(
        "crash test: {ITERATIONS} iterations, {kills} SIGKILLs, {} operations acknowledged \
         ({} pins, {} moves, {} signatures, {} quarantines, {} promotions, {} audit events), \
         {} audit records of which {} committed by an operation the kill cut short before its \
         acknowledgement, {} store entries, {:.1}s",
        acked.total(),
        acked.pins.len(),
        acked.moves.len(),
        acked.sigs.len(),
        acked.pending.len(),
        acked.promotions.len(),
        acked.audits.len(),
        report.events,
        report.events - audited_acks,
        store.verify_records().await.expect("records"),
        started.elapsed().as_secs_f64(),
    );
}

/// Reopens the store after a kill and checks everything acknowledged so far, and that every
/// write landed together with its audit event.
async fn check(dir: &Path, acked: &Acked, iteration: u64) {
    let ctx = |what: &str| format!("after kill {iteration}: {what}");
    let store = SledStore::open(dir).unwrap_or_else(|e| panic!("{}: {e}", ctx("reopen")));
    store
        .verify_records()
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", ctx("a record fails to decode")));
    let report = store
        .verify_audit()
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", ctx("the audit chain")));

    let log = store
        .audit(0, usize::MAX)
        .await
        .expect("read the audit log");
    assert_eq!(log.len() as u64, report.events, "{}", ctx("log length"));
    let by_seq: BTreeMap<u64, &AuditEvent> = log.iter().map(|r| (r.seq, &r.event)).collect();
    let event_at = |seq: u64| {
        *by_seq
            .get(&seq)
            .unwrap_or_else(|| panic!("{}", ctx(&format!("acknowledged audit seq {seq} missing"))))
    };
    let expect_event = |seq: u64, action: &str, it: u64, i: u64| {
        let event = event_at(seq);
        assert_eq!(
            (event.action.as_str(), event.reason.as_str()),
            (action, reason(it, i).as_str()),
            "{}",
            ctx(&format!("audit record {seq}"))
        );
    };

    // Acknowledged writes are all there.
    for &(it, i, seq) in &acked.pins {
        let pin = store
            .get_pin(&key(it, &format!("t{i}")))
            .await
            .expect("get_pin");
        assert_eq!(
            pin.map(|p| p.digest),
            Some(digest(it, i)),
            "{}",
            ctx(&format!("acknowledged pin {it}/{i}"))
        );
        expect_event(seq, "push", it, i);
    }
    for &(it, i, seq) in &acked.moves {
        expect_event(seq, "move", it, i);
        let pin = store
            .get_pin(&key(it, "latest"))
            .await
            .expect("get_pin")
            .unwrap_or_else(|| panic!("{}", ctx("acknowledged mutable tag missing")));
        let known: Vec<&Digest> = std::iter::once(&pin.digest)
            .chain(pin.history.iter().map(|m| &m.digest))
            .collect();
        assert!(
            known.contains(&&digest(it, i)),
            "{}",
            ctx(&format!(
                "acknowledged move {it}/{i} not in the tag or its history"
            ))
        );
    }
    for &(it, i) in &acked.sigs {
        let found = store.signatures(&digest(it, i)).await.expect("signatures");
        assert!(
            found
                .iter()
                .any(|s| s.signature_manifest == digest(it, i + 1)),
            "{}",
            ctx(&format!("acknowledged signature {it}/{i}"))
        );
    }
    for &(it, i, seq) in &acked.pending {
        expect_event(seq, "quarantine", it, i);
    }
    for &(it, i, seq) in &acked.promotions {
        expect_event(seq, "promote", it, i);
        assert_eq!(
            store
                .pending(&key(it, &format!("q{i}")))
                .await
                .expect("pending"),
            None,
            "{}",
            ctx(&format!("acknowledged promotion {it}/{i}"))
        );
    }
    for &(it, i, seq) in &acked.audits {
        expect_event(seq, "pull", it, i);
    }

    // Acknowledged or not, a write and its audit event landed together.
    let mut pushed: HashMap<(String, String), Vec<String>> = HashMap::new();
    let mut promoted = std::collections::HashSet::new();
    for event in by_seq.values() {
        let tag = (event.repository.clone(), event.reference.clone());
        match event.action.as_str() {
            "push" | "move" => pushed
                .entry(tag)
                .or_default()
                .push(event.digest.clone().unwrap_or_default()),
            "promote" => {
                promoted.insert(tag);
            }
            _ => {}
        }
    }
    let pins = store.pins(UPSTREAM, None).await.expect("pins");
    for (k, pin) in &pins {
        let tag = (k.repository.to_string(), k.tag.to_string());
        let events = pushed.get(&tag);
        assert!(
            events.is_some_and(|d| d.contains(&pin.digest.to_string())),
            "{}",
            ctx(&format!("pin {tag:?} has no audit event"))
        );
    }
    for event in by_seq.values() {
        if event.action == "push" {
            let k = PinKey {
                upstream: event.upstream.clone(),
                repository: event.repository.parse().expect("repository"),
                tag: event.reference.parse().expect("tag"),
            };
            let pin = store.get_pin(&k).await.expect("get_pin");
            assert_eq!(
                pin.map(|p| p.digest.to_string()),
                event.digest.clone(),
                "{}",
                ctx(&format!("push event for {k:?} without its pin"))
            );
        }
        if event.action == "quarantine" {
            let k = PinKey {
                upstream: event.upstream.clone(),
                repository: event.repository.parse().expect("repository"),
                tag: event.reference.parse().expect("tag"),
            };
            let tag = (event.repository.clone(), event.reference.clone());
            let pending = store.pending(&k).await.expect("pending");
            assert_eq!(
                pending.is_some(),
                !promoted.contains(&tag),
                "{}",
                ctx(&format!("quarantine of {k:?} and its promotion disagree"))
            );
            if let Some(pending) = pending {
                assert!(
                    store
                        .pending_for_digest(&pending.digest)
                        .await
                        .expect("pending_for_digest")
                        .contains(&pending),
                    "{}",
                    ctx("the digest index lost a pending tag")
                );
            }
        }
    }
    // Every pending tag was quarantined by an event.
    for pending in store.expired_pending(u64::MAX).await.expect("pending") {
        assert!(
            by_seq.values().any(|e| e.action == "quarantine"
                && e.reference == pending.key.tag.as_str()
                && e.repository == pending.key.repository.as_str()),
            "{}",
            ctx("a pending tag without its quarantine event")
        );
    }
}
