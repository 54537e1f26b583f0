//! [`Push`]: what one manifest push or delete needs, and the steps every push-gate decision shares
//! (the audit event, refusing, forwarding, the verdict, the decision line).

use bytes::Bytes;
use http::{HeaderMap, Method, Response, header};
use sealgate_policies::gate::GateEvent;
use sealgate_policies::oci::{Digest, RepoName, Tag};
use sealgate_policies::verdict::Verdict;
use sealgate_storage::AuditEvent;

use crate::body::ProxyBody;
use crate::decisions::{audit_event, log_gate_decision};
use crate::error::ProxyError;
use crate::metrics::Reason;
use crate::signatures::Source;
use crate::state::AppState;
use crate::upstream::{Forward, Upstream};
use crate::verdicts::Discovery;

/// Everything one manifest push needs.
pub struct Push<'a> {
    /// Shared state.
    pub state: &'a AppState,
    /// The upstream the request goes to.
    pub upstream: &'a Upstream,
    /// Repository.
    pub name: &'a RepoName,
    /// The client's headers (Authorization, Content-Type, request id).
    pub headers: &'a HeaderMap,
    /// `?ns=` of the request.
    pub ns: Option<&'a str>,
    /// Who pushes: the identity sealgate authenticated (gateway mode) or the client
    /// certificate's; recorded on pins and audit events. `None` when unknown.
    pub identity: Option<&'a str>,
}

impl Push<'_> {
    pub(super) fn request_id(&self) -> Option<String> {
        self.headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    pub(super) fn content_type(&self) -> String {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/vnd.oci.image.manifest.v1+json")
            .to_owned()
    }

    /// The audit event of a gate decision about this push: the gate's typed event, with what
    /// only the proxy knows (time, upstream, repository, identity, request id).
    pub(super) fn gate_event(&self, event: &GateEvent) -> AuditEvent {
        audit_event(
            event,
            &self.upstream.config.name,
            self.name,
            self.identity,
            self.request_id(),
        )
    }

    /// Audits a gate's refusal and returns the error that tells the client why.
    pub(super) async fn refuse_gate(&self, event: &GateEvent) -> ProxyError {
        match self.audit_gate(event).await {
            Ok(()) => ProxyError::refused(event.clone()),
            Err(e) => e,
        }
    }

    /// Logs, counts and audits a gate decision, then appends it to the audit log.
    pub(super) async fn audit_gate(&self, event: &GateEvent) -> Result<(), ProxyError> {
        let record = self.gate_event(event);
        self.decided(&record, event.reason);
        self.state.store.append_audit(record).await?;
        Ok(())
    }

    /// Sends a manifest upstream under `reference`.
    pub(super) async fn forward_manifest(
        &self,
        reference: &str,
        body: Bytes,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let path = format!("/v2/{}/manifests/{reference}", self.name);
        let forward = Forward {
            method: Method::PUT,
            path: &path,
            query: None,
            headers: self.headers,
            ns: self.ns,
        };
        self.state
            .upstreams
            .forward(self.upstream, forward, crate::body::full(body))
            .await
    }

    /// The verdict on `digest` against current trust, from the signatures that came through
    /// sealgate (its own, or for a child of a signed index, the index's).
    pub(super) async fn verdict(
        &self,
        digest: &Digest,
        tag: Option<&Tag>,
        manifest: Option<&Bytes>,
    ) -> Result<Verdict, ProxyError> {
        let policy = self.state.policy();
        crate::verdicts::verdict(
            &self.source(),
            &policy,
            digest,
            tag,
            manifest,
            Discovery::IndexOnly,
        )
        .await
    }

    /// Logs and counts a decision about this push's repository (not yet durable).
    pub(super) fn decided(&self, event: &AuditEvent, reason: Reason) {
        let policy = self.state.policy();
        let scope = policy.scope_for(self.name).label();
        log_gate_decision(&self.state.metrics, event, reason, scope);
    }

    /// This push's repository, for sealgate's own requests on the client's behalf.
    pub(crate) fn source(&self) -> Source<'_> {
        Source {
            state: self.state,
            upstream: self.upstream,
            name: self.name,
            authorization: self.headers.get(header::AUTHORIZATION),
        }
    }
}
