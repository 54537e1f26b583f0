//! Upload session states the upstream superseded, remembered per session (see [`crate::uploads`]
//! for why): bounded in entries and in age. Shared state, so it sits below the handlers.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sealgate_policies::oci::RepoName;

use crate::routes::UploadId;

/// Sessions remembered at most; the least recently used is forgotten first. An entry is a few
/// hundred bytes.
const MAX_SESSIONS: usize = 4096;

/// Sessions untouched for this long are forgotten (distribution purges uploads after a week;
/// clients give up far sooner).
const SESSION_IDLE: Duration = Duration::from_secs(60 * 60);

/// Replaced states remembered per session: a client retries its previous chunk, not one from
/// long ago.
const SUPERSEDED_KEPT: usize = 8;

/// Longest session state remembered (distribution's is about 250 bytes); a longer one is not
/// remembered, so an upstream cannot make the table large.
const MAX_STATE_LEN: usize = 4096;

/// One upload session: repository and session id on one upstream.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SessionKey {
    pub(crate) upstream: String,
    pub(crate) name: RepoName,
    pub(crate) id: UploadId,
}

#[derive(Debug)]
struct Session {
    /// The session state the upstream handed out last (its `Location` query, normalised).
    current: String,
    /// The offset the upload had when `current` was handed out, when it was unambiguous.
    offset: Option<u64>,
    /// Fingerprints of the states `current` replaced, newest last.
    superseded: VecDeque<u64>,
    touched: Instant,
}

/// The session states the upstream superseded, per session (see the module docs). Bounded in
/// entries; forgetting one only means a stale `Location` is forwarded as it is.
#[derive(Debug, Default)]
pub struct UploadSessions {
    sessions: Mutex<HashMap<SessionKey, Session>>,
    /// Keyed per process: fingerprints cannot be precomputed.
    hasher: RandomState,
}

impl UploadSessions {
    fn fingerprint(&self, state: &str) -> u64 {
        self.hasher.hash_one(state)
    }

    /// The state to send upstream instead of `state`, when the upstream has replaced it.
    pub(crate) fn replacement(&self, key: &SessionKey, state: &str) -> Option<String> {
        let fingerprint = self.fingerprint(state);
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let session = sessions.get_mut(key)?;
        session.touched = Instant::now();
        session
            .superseded
            .contains(&fingerprint)
            .then(|| session.current.clone())
    }

    /// The offset recorded for `state` when it is the session's current one.
    pub(crate) fn offset_of(&self, key: &SessionKey, state: &str) -> Option<u64> {
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let session = sessions.get(key)?;
        (session.current == state).then_some(session.offset)?
    }

    /// The upstream answered a request made with state `sent` by handing out `current`.
    pub(crate) fn advanced(
        &self,
        key: SessionKey,
        sent: &str,
        current: String,
        offset: Option<u64>,
    ) {
        if current.len() > MAX_STATE_LEN {
            return;
        }
        let now = Instant::now();
        let replaced = (sent != current).then(|| self.fingerprint(sent));
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if !sessions.contains_key(&key) && sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, s| now.duration_since(s.touched) < SESSION_IDLE);
            if sessions.len() >= MAX_SESSIONS
                && let Some(oldest) = sessions
                    .iter()
                    .min_by_key(|(_, s)| s.touched)
                    .map(|(k, _)| k.clone())
            {
                sessions.remove(&oldest);
            }
        }
        let session = sessions.entry(key).or_insert_with(|| Session {
            current: String::new(),
            offset: None,
            superseded: VecDeque::new(),
            touched: now,
        });
        if let Some(fingerprint) = replaced {
            if session.superseded.len() >= SUPERSEDED_KEPT {
                session.superseded.pop_front();
            }
            session.superseded.push_back(fingerprint);
        }
        // A state handed out again (distribution's state carries the offset) is current again.
        let current_fingerprint = self.fingerprint(&current);
        session.superseded.retain(|f| *f != current_fingerprint);
        session.current = current;
        session.offset = offset;
        session.touched = now;
    }

    /// The session was closed or cancelled.
    pub(crate) fn finished(&self, key: &SessionKey) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.remove(key);
    }

    /// Sessions remembered now.
    pub fn len(&self) -> usize {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Whether no session is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> SessionKey {
        SessionKey {
            upstream: "local".to_owned(),
            name: "team/app".parse().unwrap(),
            id: UploadId::parse(id).unwrap(),
        }
    }

    #[test]
    fn only_states_the_upstream_replaced_are_replaced() {
        let sessions = UploadSessions::default();
        // Unknown session: nothing to replace.
        assert_eq!(sessions.replacement(&key("u1"), "s0"), None);
        sessions.advanced(key("u1"), "s0", "s1".to_owned(), Some(5));
        assert_eq!(
            sessions.replacement(&key("u1"), "s0").as_deref(),
            Some("s1")
        );
        // The current state, and one this replica never saw (another replica's), go as they are.
        assert_eq!(sessions.replacement(&key("u1"), "s1"), None);
        assert_eq!(sessions.replacement(&key("u1"), "s9"), None);
        // Another session with the same states is another session.
        assert_eq!(sessions.replacement(&key("u2"), "s0"), None);
        assert_eq!(sessions.offset_of(&key("u1"), "s1"), Some(5));
        assert_eq!(sessions.offset_of(&key("u1"), "s0"), None);
        sessions.advanced(key("u1"), "s1", "s2".to_owned(), None);
        assert_eq!(
            sessions.replacement(&key("u1"), "s0").as_deref(),
            Some("s2")
        );
        assert_eq!(
            sessions.replacement(&key("u1"), "s1").as_deref(),
            Some("s2")
        );
        assert_eq!(sessions.offset_of(&key("u1"), "s2"), None);
        sessions.finished(&key("u1"));
        assert_eq!(sessions.replacement(&key("u1"), "s0"), None);
        assert!(sessions.is_empty());
    }

    #[test]
    fn sessions_are_bounded() {
        let sessions = UploadSessions::default();
        for i in 0..MAX_SESSIONS + 10 {
            sessions.advanced(key(&format!("u{i}")), "a", "b".to_owned(), None);
        }
        assert_eq!(sessions.len(), MAX_SESSIONS);
        let huge = "s".repeat(MAX_STATE_LEN + 1);
        sessions.advanced(key("huge"), "a", huge, None);
        assert_eq!(sessions.replacement(&key("huge"), "a"), None);
        let session = UploadSessions::default();
        for i in 0..SUPERSEDED_KEPT * 3 {
            session.advanced(key("u"), &format!("s{i}"), format!("s{}", i + 1), None);
        }
        let sessions = session.sessions.lock().unwrap();
        assert_eq!(sessions[&key("u")].superseded.len(), SUPERSEDED_KEPT);
    }
}
