#!/usr/bin/env python3
"""Tests of the sealgate Helm chart, without a helm binary and without a cluster.

- The chart is linted and rendered by Helm's own engine (helm-python-sdk: Helm v4's Go SDK behind
  a C ABI), which also validates the values against values.schema.json;
- every rendered manifest is validated, strictly, against the Kubernetes 1.30 OpenAPI schemas
  (kubernetes-validate). CRD kinds (the ServiceMonitor) have no schema there: they are checked
  against helm/tests/servicemonitor.schema.json, a strict subset of the prometheus-operator CRD;
- the essentials are checked: with sled one replica and the PVC, with PostgreSQL (storage.backend
  postgres) a Deployment of several replicas without volumes, anti-affinity, a disruption budget
  that lets drains through and the database password mounted from its Secret; the security
  context, the probes, the rendered sealgate.toml (parsed with tomllib), the files it names being
  mounted, the containerd hosts.toml in NOTES.txt, and values the schema or the chart must refuse;
- when target/debug/sealgate exists, `sealgate check-config` accepts the rendered configuration.

Run: .venv-ci/bin/python helm/tests/test_chart.py (scripts/install-deps.sh test creates .venv-ci).
"""

from __future__ import annotations

import copy
import hashlib
import importlib.resources
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import traceback
from pathlib import Path
from typing import Any, Callable

import helm_python as helm
import jsonschema
import kubernetes_validate
import yaml
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "sealgate"
TESTS = Path(__file__).resolve().parent
K8S_VERSION = "1.30.0"
RELEASE = "sg"
NAMESPACE = "registry"
CONFIG_DIR = "/etc/sealgate"
SEALGATE = ROOT / "target" / "debug" / "sealgate"

Doc = dict[str, Any]


# ------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------


def values_file(name: str) -> dict[str, Any]:
    return helm.values_from_yaml((TESTS / name).read_text())


class Rendered:
    """One rendering of the chart: its manifests and NOTES.txt."""

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        with helm.Chart.load(CHART) as chart:
            out = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
        self.notes = out.pop("sealgate/templates/NOTES.txt", "")
        self.docs: list[tuple[str, Doc]] = []
        for path, text in sorted(out.items()):
            for doc in yaml.safe_load_all(text):
                if doc:
                    self.docs.append((path, doc))

    def kinds(self) -> list[str]:
        return sorted(doc["kind"] for _, doc in self.docs)

    def all(self, kind: str) -> list[Doc]:
        return [doc for _, doc in self.docs if doc["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> Doc:
        found = [d for d in self.all(kind) if name is None or d["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
        return found[0]

    def toml(self) -> dict[str, Any]:
        return tomllib.loads(self.toml_text())

    def toml_text(self) -> str:
        return self.one("ConfigMap")["data"]["sealgate.toml"]

    def statefulset(self) -> Doc:
        return self.one("StatefulSet")

    def deployment(self) -> Doc:
        return self.one("Deployment")

    def workload(self) -> Doc:
        """The StatefulSet (sled) or the Deployment (postgres): exactly one of them."""
        found = self.all("StatefulSet") + self.all("Deployment")
        assert len(found) == 1, f"expected one StatefulSet or Deployment, found {self.kinds()}"
        return found[0]

    def pod(self) -> Doc:
        return self.workload()["spec"]["template"]["spec"]

    def container(self) -> Doc:
        containers = self.pod()["containers"]
        assert len(containers) == 1
        return containers[0]

    def projected_paths(self) -> dict[str, tuple[str, str, str]]:
        """Path under /etc/sealgate -> (secret|configMap, object name, key)."""
        volumes = self.pod()["volumes"]
        config = next(v for v in volumes if v["name"] == "config")
        paths: dict[str, tuple[str, str, str]] = {}
        for source in config["projected"]["sources"]:
            ((kind, ref),) = source.items()
            for item in ref["items"]:
                assert item["path"] not in paths, f"{item['path']} projected twice"
                paths[item["path"]] = (kind, ref["name"], item["key"])
        return paths


_servicemonitor_validator: jsonschema.protocols.Validator | None = None


def servicemonitor_validator() -> jsonschema.protocols.Validator:
    """Our ServiceMonitor schema, resolving Kubernetes definitions from kubernetes-validate."""
    global _servicemonitor_validator
    if _servicemonitor_validator is None:
        schema = json.loads((TESTS / "servicemonitor.schema.json").read_text())
        definitions_file = (
            importlib.resources.files("kubernetes_validate")
            / "kubernetes-json-schema"
            / f"v{K8S_VERSION}-local-strict"
            / "_definitions.json"
        )
        definitions = json.loads(definitions_file.read_text())
        registry = Registry().with_resource(definitions["$id"], Resource.from_contents(definitions))
        jsonschema.Draft202012Validator.check_schema(schema)
        _servicemonitor_validator = jsonschema.Draft202012Validator(schema, registry=registry)
    return _servicemonitor_validator


def validate_manifests(rendered: Rendered) -> None:
    """Every manifest against Kubernetes' schemas (strict: unknown fields are errors)."""
    for path, doc in rendered.docs:
        where = f"{path}: {doc['kind']}/{doc['metadata']['name']}"
        if doc["apiVersion"] == "monitoring.coreos.com/v1":
            # A CRD kind: kubernetes-validate has no schema for it (it would raise
            # SchemaNotFoundError), so it is checked against our strict subset of the CRD.
            errors = sorted(servicemonitor_validator().iter_errors(doc), key=str)
            assert not errors, f"{where}: " + "; ".join(e.message for e in errors)
            continue
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            field = ".".join(str(p) for p in e.path)
            raise AssertionError(f"{where}: {field}: {e.message}") from None
        assert doc["metadata"].get("namespace") == NAMESPACE, f"{where}: namespace"


def refused_by_schema(values: dict[str, Any], expected: str) -> None:
    """The values are refused by values.schema.json, at render and at lint."""
    with helm.Chart.load(CHART) as chart:
        try:
            chart.render(values, name=RELEASE, namespace=NAMESPACE)
        except helm.HelmValuesError as e:
            assert re.search(expected, str(e)), f"refused, but not for {expected!r}: {e}"
        else:
            raise AssertionError(f"values accepted, expected a schema error {expected!r}: {values}")
    report = helm.lint(CHART, values, strict=True, kube_version=f"v{K8S_VERSION}")
    assert report["errors"], f"lint accepted {values}"


def refused_by_chart(values: dict[str, Any], expected: str) -> None:
    """The values pass the schema but a template refuses them (fail) with a clear message."""
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema(values)
        try:
            chart.render(values, name=RELEASE, namespace=NAMESPACE)
        except helm.HelmRenderError as e:
            assert expected in str(e), f"refused, but not with {expected!r}: {e}"
        else:
            raise AssertionError(f"values accepted, expected the chart to refuse them: {values}")


def hosts_tomls(notes: str) -> dict[str, dict[str, Any]]:
    """The containerd hosts.toml files printed in NOTES.txt, by namespace, parsed."""
    found: dict[str, dict[str, Any]] = {}
    header = re.compile(r"^# /etc/containerd/certs\.d/([^/]+)/hosts\.toml$", re.M)
    starts = list(header.finditer(notes))
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(notes)
        block = notes[m.end() : end]
        # The block ends at the first blank line that is followed by prose.
        lines: list[str] = []
        for line in block.splitlines():
            if lines and line.strip() and not re.match(r"^(\s|\[|server|#)", line):
                break
            lines.append(line)
        found[m.group(1)] = tomllib.loads("\n".join(lines))
    return found


def strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


def merged(base: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    values = copy.deepcopy(base)
    values.update(overrides)
    return values


# ------------------------------------------------------------------------------------------------
# Tests
# ------------------------------------------------------------------------------------------------

TESTS_TO_RUN: list[Callable[[], None]] = []


def test(fn: Callable[[], None]) -> Callable[[], None]:
    TESTS_TO_RUN.append(fn)
    return fn


@test
def lint_default_tls_gateway_and_postgres() -> None:
    for values in (None, values_file("values-tls-gateway.yaml"), values_file("values-postgres.yaml")):
        report = helm.lint(CHART, values, strict=True, kube_version=f"v{K8S_VERSION}")
        assert report["total_charts_linted"] == 1
        assert not report["errors"], report["errors"]
        # Severity 2 = warning, 3 = error; 1 (info) is "icon is recommended".
        bad = [m for m in report["messages"] if m["severity"] >= 2]
        assert not bad, bad


@test
def default_values_render_valid_manifests() -> None:
    r = Rendered()
    assert r.kinds() == sorted(
        ["ConfigMap", "NetworkPolicy", "PodDisruptionBudget", "Service", "Service",
         "ServiceAccount", "StatefulSet"]
    ), r.kinds()
    validate_manifests(r)


@test
def tls_gateway_values_render_valid_manifests() -> None:
    r = Rendered(values_file("values-tls-gateway.yaml"))
    assert r.kinds() == sorted(
        ["ConfigMap", "NetworkPolicy", "PodDisruptionBudget", "Service", "Service", "Service",
         "ServiceAccount", "ServiceMonitor", "StatefulSet"]
    ), r.kinds()
    validate_manifests(r)


@test
def servicemonitor_schema_refuses_unknown_fields() -> None:
    # The schema of our own must catch a mistake, or checking against it proves nothing.
    r = Rendered(values_file("values-tls-gateway.yaml"))
    sm = copy.deepcopy(r.one("ServiceMonitor"))
    sm["spec"]["endpoints"][0]["intervall"] = "30s"
    assert list(servicemonitor_validator().iter_errors(sm)), "unknown endpoint field accepted"
    sm = copy.deepcopy(r.one("ServiceMonitor"))
    sm["spec"]["endpoints"][0]["interval"] = "30 seconds"
    assert list(servicemonitor_validator().iter_errors(sm)), "bad duration accepted"
    # Its selector picks the client Service only (the headless and admin ones carry a "client"
    # or no such port and would be scraped twice).
    selector = r.one("ServiceMonitor")["spec"]["selector"]["matchLabels"]
    picked = [
        s["metadata"]["name"]
        for s in r.all("Service")
        if all(s["metadata"]["labels"].get(k) == v for k, v in selector.items())
    ]
    assert picked == [f"{RELEASE}-sealgate"], picked
    endpoint = r.one("ServiceMonitor")["spec"]["endpoints"][0]
    assert (endpoint["port"], endpoint["path"], endpoint["scheme"]) == ("client", "/metrics", "https")


@test
def one_replica_statefulset_with_a_volume_claim() -> None:
    for values in (None, values_file("values-tls-gateway.yaml")):
        r = Rendered(values)
        sts = r.statefulset()
        assert sts["spec"]["replicas"] == 1
        assert sts["spec"]["serviceName"] == r.one("Service", f"{RELEASE}-sealgate-headless")["metadata"]["name"]
        assert r.one("Service", f"{RELEASE}-sealgate-headless")["spec"]["clusterIP"] == "None"
        (claim,) = sts["spec"]["volumeClaimTemplates"]
        assert claim["metadata"]["name"] == "data"
        assert claim["spec"]["resources"]["requests"]["storage"]
        mounts = {m["name"]: m for m in r.container()["volumeMounts"]}
        assert mounts["data"]["mountPath"] == "/var/lib/sealgate"
        assert mounts["tmp"]["mountPath"] == "/tmp"
        assert mounts["config"]["mountPath"] == CONFIG_DIR and mounts["config"]["readOnly"]
        assert r.toml()["storage"]["path"] == "/var/lib/sealgate/store"
        assert sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Retain"
    r = Rendered(values_file("values-tls-gateway.yaml"))
    claim = r.statefulset()["spec"]["volumeClaimTemplates"][0]["spec"]
    assert claim["accessModes"] == ["ReadWriteOncePod"] and claim["storageClassName"] == "fast-ssd"
    # replicas: 0 stops sealgate (verify-store); without persistence the store is an emptyDir.
    r = Rendered({"replicas": 0, "persistence": {"enabled": False}})
    assert r.statefulset()["spec"]["replicas"] == 0
    assert "volumeClaimTemplates" not in r.statefulset()["spec"]
    volumes = {v["name"]: v for v in r.statefulset()["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in volumes["data"]
    assert "pins, signature records and the audit log are lost" in r.notes


@test
def runs_unprivileged() -> None:
    r = Rendered(values_file("values-tls-gateway.yaml"))
    pod = r.statefulset()["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["fsGroup"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    sc = r.container()["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 65532
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert r.container()["resources"]["limits"]["memory"]
    assert r.one("ServiceAccount")["automountServiceAccountToken"] is False


@test
def probes_and_arguments() -> None:
    r = Rendered()
    c = r.container()
    assert c["args"] == ["serve", "--config", f"{CONFIG_DIR}/sealgate.toml", "--log-format", "json"]
    assert c["image"] == "ghcr.io/sealgate/sealgate:0.1.0"
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "client", "scheme": "HTTP"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "client", "scheme": "HTTP"}
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert [p["name"] for p in c["ports"]] == ["client"]
    assert c["ports"][0]["containerPort"] == 5050
    r = Rendered(values_file("values-tls-gateway.yaml"))
    c = r.container()
    assert c["livenessProbe"]["httpGet"]["scheme"] == "HTTPS"
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "client", "scheme": "HTTPS"}
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"client": 5443, "admin": 5051}
    # The kubelet's HTTPS probes present no client certificate: with client_auth "required"
    # they would fail the handshake, so they become TCP checks.
    values = values_file("values-tls-gateway.yaml")
    values["tls"]["clientAuth"] = "required"
    c = Rendered(values).container()
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe].get("tcpSocket") == {"port": "client"}, c[probe]
    r = Rendered({"logFormat": "", "image": {"digest": "sha256:" + "ab" * 32}})
    assert r.container()["args"] == ["serve", "--config", f"{CONFIG_DIR}/sealgate.toml"]
    assert r.container()["image"] == "ghcr.io/sealgate/sealgate@sha256:" + "ab" * 32


@test
def default_config_toml() -> None:
    cfg = Rendered().toml()
    assert cfg == {
        "listen": "0.0.0.0:5050",
        "storage": {"path": "/var/lib/sealgate/store"},
        "upstream": [{"name": "registry", "url": "http://registry:5000", "namespaces": []}],
    }, cfg


@test
def tls_gateway_config_toml() -> None:
    cfg = Rendered(values_file("values-tls-gateway.yaml")).toml()
    d = CONFIG_DIR
    assert cfg["listen"] == "0.0.0.0:5443"
    assert cfg["admin"] == {
        "listen": "0.0.0.0:5051",
        "token_file": f"{d}/admin/token",
        "cert": f"{d}/admin/tls.crt",
        "key": f"{d}/admin/tls.key",
    }
    assert cfg["tls"] == {
        "cert": f"{d}/tls/tls.crt",
        "key": f"{d}/tls/tls.key",
        "client_ca": f"{d}/tls/client-ca.crt",
        "client_auth": "optional",
    }
    assert cfg["auth"] == {
        "mode": "gateway",
        "tokens_file": f"{d}/auth/tokens",
        "rule": [
            {"repositories": "prod/**", "identities": ["ci-*"], "actions": ["pull", "push"]},
            {"repositories": "**", "identities": ["node-*", "*@example.com"], "actions": ["pull"]},
        ],
    }
    assert cfg["upstream"] == [
        {
            "name": "hub",
            "url": "https://registry.example.com",
            "namespaces": ["docker.io", "registry.example.com"],
            "auth": {"username": "ci-bot", "password_file": f"{d}/upstreams/hub/password"},
        },
        {
            "name": "internal",
            "url": "https://registry.internal:5000",
            "namespaces": ["registry.internal:5000"],
            "ca": f"{d}/upstreams/internal/ca.crt",
            # Quotes survive: strings are rendered as JSON strings, valid TOML basic strings.
            "auth": {"username": 'sealgate "mirror"', "password_file": f"{d}/upstreams/internal/password"},
        },
    ]
    assert cfg["trust"]["keys"] == {
        "ci-2024": {"path": f"{d}/trust/ci-2024.pub"},
        # extraConfig, appended verbatim; an absolute path is kept as it is.
        "extra": {"path": "/etc/sealgate-extra/extra.pub"},
    }
    assert cfg["trust"]["pki"] == {
        "release-pki": {
            "roots": f"{d}/trust/release-roots.pem",
            "crls": [f"{d}/trust/release-root.crl"],
            "eku": "if-present",
            "identity": {"subject": "CN=ci-*,O=Example"},
        }
    }
    assert cfg["trust"]["keyless"]["github"]["trusted_root"] == f"{d}/trust/trusted_root.json"
    assert cfg["trust"]["keyless"]["github"]["issuer"] == "https://token.actions.githubusercontent.com"
    assert cfg["trust"]["revoked_keys"][0]["reason"] == "CI key leaked"
    assert cfg["policy"]["default"] == {"mode": "enforce", "signers": ["ci-2024"]}
    prod, library = cfg["policy"]["scope"]
    assert prod["require"] == 2 and isinstance(prod["require"], int)
    assert prod["remap"] == {"prefix": "mirror/", "signed_prefix": ""}
    assert prod["unsigned_push"] == "quarantine" and prod["quarantine_ttl"] == "24h"
    assert library == {"repositories": "library/*", "mode": "warn", "signers": ["github"]}
    # Large integers stay integers (Helm hands numbers to templates as float64).
    assert cfg["limits"] == {"max_manifest_bytes": 8388608}
    assert cfg["pull"] == {"drift_check_interval": "10m", "manifest_cache_bytes": 134217728}
    assert cfg["timeouts"] == {"shutdown_grace": "20s"}
    assert cfg["log"] == {"level": "sealgate=debug,hyper=warn"}


@test
def hostile_strings_stay_strings() -> None:
    # A value cannot break out of its TOML string (newlines, quotes, backslashes, brackets).
    nasty = 'x"\n[storage]\npath = "/tmp/evil" \\ \t <&> \u00e9'
    r = Rendered({"log": {"level": nasty}, "policy": {"default": {"mutable_tags": [nasty]}}})
    cfg = r.toml()
    assert cfg["log"]["level"] == nasty
    assert cfg["policy"]["default"]["mutable_tags"] == [nasty]
    assert cfg["storage"]["path"] == "/var/lib/sealgate/store"


@test
def every_file_the_config_names_is_mounted() -> None:
    r = Rendered(values_file("values-tls-gateway.yaml"))
    cfg = r.toml()
    projected = r.projected_paths()
    named = {
        s[len(CONFIG_DIR) + 1 :] for s in strings_in(cfg) if s.startswith(CONFIG_DIR + "/")
    }
    assert named, "no file named under /etc/sealgate"
    assert named | {"sealgate.toml"} == set(projected), (named, set(projected))
    assert projected["tls/tls.crt"] == ("secret", "sealgate-tls", "tls.crt")
    assert projected["tls/client-ca.crt"] == ("secret", "sealgate-client-ca", "ca.crt")
    assert projected["admin/token"] == ("secret", "sealgate-admin", "token")
    assert projected["auth/tokens"] == ("secret", "sealgate-tokens", "tokens")
    assert projected["upstreams/hub/password"] == ("secret", "hub-credentials", "password")
    assert projected["upstreams/internal/ca.crt"] == ("configMap", "internal-ca", "ca.crt")
    assert projected["trust/ci-2024.pub"] == ("secret", "sealgate-trust", "ci-2024.pub")
    assert projected["trust/release-root.crl"] == ("secret", "sealgate-trust", "release-root.crl")
    volumes = r.statefulset()["spec"]["template"]["spec"]["volumes"]
    config = next(v for v in volumes if v["name"] == "config")
    assert config["projected"]["defaultMode"] == 0o440
    # Trust material from a ConfigMap instead (it is public).
    values = values_file("values-tls-gateway.yaml")
    values["trust"]["secretName"] = ""
    values["trust"]["configMapName"] = "sealgate-trust"
    projected = Rendered(values).projected_paths()
    assert projected["trust/trusted_root.json"] == ("configMap", "sealgate-trust", "trusted_root.json")


@test
def config_change_rolls_the_pod() -> None:
    def checksum(values: dict[str, Any] | None) -> str:
        sts = Rendered(values).statefulset()
        return sts["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    base = checksum(None)
    assert re.fullmatch(r"[0-9a-f]{64}", base)
    assert checksum(None) == base
    assert checksum({"log": {"level": "debug"}}) != base
    assert checksum({"podAnnotations": {"a": "b"}}) == base


@test
def services_and_network_policy() -> None:
    r = Rendered()
    svc = r.one("Service", f"{RELEASE}-sealgate")
    assert [(p["name"], p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [("client", 5050, "client")]
    assert not any(s["metadata"]["name"].endswith("-admin") for s in r.all("Service"))
    np = r.one("NetworkPolicy")
    assert np["spec"]["policyTypes"] == ["Ingress"]
    # Client port open to every source (the nodes' containerd), no rule for the admin port.
    assert np["spec"]["ingress"] == [{"ports": [{"port": "client", "protocol": "TCP"}]}]

    r = Rendered(values_file("values-tls-gateway.yaml"))
    svc = r.one("Service", f"{RELEASE}-sealgate")
    assert svc["spec"]["clusterIP"] == "10.96.100.50"
    assert [p["name"] for p in svc["spec"]["ports"]] == ["client"], "admin port on the client Service"
    admin = r.one("Service", f"{RELEASE}-sealgate-admin")
    assert admin["spec"]["type"] == "ClusterIP"
    assert [(p["name"], p["port"]) for p in admin["spec"]["ports"]] == [("admin", 5051)]
    np = r.one("NetworkPolicy")
    assert np["spec"]["policyTypes"] == ["Ingress", "Egress"]
    client_rule, admin_rule = np["spec"]["ingress"]
    assert client_rule["ports"] == [{"port": "client", "protocol": "TCP"}]
    assert {"ipBlock": {"cidr": "10.0.0.0/16"}} in client_rule["from"]
    assert admin_rule["ports"] == [{"port": "admin", "protocol": "TCP"}]
    assert admin_rule["from"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "ops"}
    assert np["spec"]["egress"][0]["ports"][0] == {"port": 53, "protocol": "UDP"}

    # Admin on, no peers listed: the admin port gets no ingress rule (closed).
    values = values_file("values-tls-gateway.yaml")
    values["networkPolicy"]["admin"]["from"] = []
    np = Rendered(values).one("NetworkPolicy")
    assert [rule["ports"][0]["port"] for rule in np["spec"]["ingress"]] == ["client"]
    assert "closed to every pod" in Rendered(values).notes


@test
def disruption_budget() -> None:
    pdb = Rendered().one("PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 0
    assert "refuses voluntary evictions" in Rendered().notes
    pdb = Rendered(values_file("values-tls-gateway.yaml")).one("PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    r = Rendered({"podDisruptionBudget": {"enabled": False}})
    assert not r.all("PodDisruptionBudget")


@test
def notes_print_hosts_toml_without_fallback() -> None:
    r = Rendered(values_file("values-tls-gateway.yaml"))
    hosts = hosts_tomls(r.notes)
    assert set(hosts) == {"docker.io", "registry.example.com", "registry.internal:5000"}, set(hosts)
    for ns, h in hosts.items():
        endpoint = "https://10.96.100.50:5050"
        assert h["server"] == endpoint, (ns, h)
        assert list(h["host"]) == [endpoint], (ns, h)  # a single host, the same as server
        assert h["host"][endpoint]["capabilities"] == ["pull", "resolve"]
        assert h["host"][endpoint]["ca"] == "/etc/containerd/certs.d/sealgate-ca.pem"
        assert "client" not in h["host"][endpoint]  # printed commented out with client_auth optional
    assert "falls back to `server`" in r.notes

    # Plain HTTP, the Service's DNS name: no ca line, and a warning about node DNS.
    r = Rendered({"upstreams": [{"name": "hub", "url": "https://registry-1.docker.io", "namespaces": ["docker.io"]}]})
    (h,) = hosts_tomls(r.notes).values()
    endpoint = f"http://{RELEASE}-sealgate.{NAMESPACE}.svc.cluster.local:5050"
    assert h == {"server": endpoint, "host": {endpoint: {"capabilities": ["pull", "resolve"]}}}, h
    assert "usually does not know cluster DNS" in r.notes

    # client_auth required: the nodes present a client certificate.
    values = values_file("values-tls-gateway.yaml")
    values["tls"]["clientAuth"] = "required"
    values["containerd"] = {"endpoint": "https://sealgate.internal:5050/"}
    h = hosts_tomls(Rendered(values).notes)["docker.io"]
    assert h["server"] == "https://sealgate.internal:5050"
    assert h["host"]["https://sealgate.internal:5050"]["client"] == [
        ["/etc/containerd/certs.d/sealgate-client.crt", "/etc/containerd/certs.d/sealgate-client.key"]
    ]

    # No namespace listed: no hosts.toml, and the reason.
    r = Rendered()
    assert not hosts_tomls(r.notes)
    assert "No upstream lists a namespace" in r.notes


@test
def schema_refuses_bad_values() -> None:
    refused_by_schema({"replicas": 2}, r"replicas.*maximum")
    refused_by_schema({"replicas": 3}, r"replicas.*maximum")
    refused_by_schema({"replicas": 3, "storage": {"backend": "sled"}}, r"replicas.*maximum")
    refused_by_schema({"replicaCount": 1}, r"replicaCount")
    refused_by_schema({"tls": {"enabled": True, "secretNmae": "x"}}, r"secretNmae")
    refused_by_schema({"tls": {"enabled": True}}, r"secretName")
    refused_by_schema({"securityContext": {"readOnlyRootFilesystem": False}}, r"readOnlyRootFilesystem")
    refused_by_schema({"podSecurityContext": {"runAsNonRoot": False}}, r"runAsNonRoot")
    refused_by_schema({"policy": {"scopes": [{"repositories": "a/*", "unsigned_pushes": "reject"}]}}, r"unsigned_pushes")
    refused_by_schema({"policy": {"scopes": [{"mode": "warn"}]}}, r"repositories")
    refused_by_schema({"upstreams": []}, r"upstreams")
    refused_by_schema({"upstreams": [{"name": "..", "url": "http://x"}]}, r"name")
    refused_by_schema({"upstreams": [{"name": "a", "url": "ftp://x"}]}, r"url")
    refused_by_schema({"upstreams": [{"name": "a", "url": "http://x", "ca": {"secretName": "s", "configMapName": "c", "key": "k"}}]}, r"ca")
    refused_by_schema({"trust": {"secretName": "t", "keys": {"k": {"path": "../k.pub"}}}}, r"path")
    refused_by_schema({"podDisruptionBudget": {"maxUnavailable": 2}}, r"maxUnavailable")
    refused_by_schema({"auth": {"mode": "gateway"}}, r"tokensSecret|name")
    refused_by_schema({"limits": {"max_manifest_bytes": "4MiB"}}, r"max_manifest_bytes")


@test
def chart_refuses_inconsistent_values() -> None:
    refused_by_chart({"admin": {"enabled": True}}, "admin.enabled needs admin.tokenSecret.name or admin.clientCA")
    refused_by_chart({"trust": {"keys": {"k": {"path": "k.pub"}}}}, "need trust.secretName or trust.configMapName")
    refused_by_chart(
        {"upstreams": [{"name": "a", "url": "http://a"}, {"name": "a", "url": "http://b"}]},
        'name "a" is used twice',
    )
    refused_by_chart({"admin": {"enabled": True, "port": 5050, "tokenSecret": {"name": "t"}}}, "port and admin.port must differ")


# ------------------------------------------------------------------------------------------------
# storage.backend postgres: several replicas on one database
# ------------------------------------------------------------------------------------------------

PG_URL = "postgres://sealgate@db.example:5432/sealgate"


def pg_values(**postgres: Any) -> dict[str, Any]:
    """The least a postgres install needs: the URL, the password's Secret (and, with the default
    sslmode verify-full, the database's CA)."""
    settings = {"url": PG_URL, "passwordSecret": {"name": "sealgate-db"}, "ca": {"secretName": "sealgate-db-ca"}}
    settings.update(postgres)
    return {"storage": {"backend": "postgres", "postgres": settings}}


@test
def postgres_values_render_valid_manifests() -> None:
    for values in (pg_values(), values_file("values-postgres.yaml")):
        r = Rendered(values)
        kinds = ["ConfigMap", "Deployment", "NetworkPolicy", "PodDisruptionBudget", "Service", "ServiceAccount"]
        if values.get("admin"):
            kinds.append("Service")
        # No StatefulSet, no headless Service, no volume claim.
        assert r.kinds() == sorted(kinds), r.kinds()
        validate_manifests(r)


@test
def postgres_is_a_deployment_without_volumes() -> None:
    r = Rendered(values_file("values-postgres.yaml"))
    deploy = r.deployment()
    assert deploy["spec"]["replicas"] == 3
    assert deploy["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    assert deploy["spec"]["selector"]["matchLabels"].items() <= deploy["spec"]["template"]["metadata"]["labels"].items()
    assert "volumeClaimTemplates" not in deploy["spec"]
    assert not r.all("StatefulSet") and not r.all("PersistentVolumeClaim")
    assert not any(s["metadata"]["name"].endswith("-headless") for s in r.all("Service"))
    pod = r.pod()
    assert {v["name"] for v in pod["volumes"]} == {"config", "tmp"}, pod["volumes"]
    for c in pod["containers"] + pod["initContainers"]:
        assert {m["name"] for m in c["volumeMounts"]} == {"config", "tmp"}, c["volumeMounts"]
    assert "persistence.enabled" not in r.notes and "refuses voluntary evictions" not in r.notes
    assert "3 replicas on one PostgreSQL database" in r.notes
    assert f"rollout status deployment/{RELEASE}-sealgate" in r.notes
    # replicas left empty: 2 with postgres (1 with sled), 0 stops it.
    assert Rendered(pg_values()).deployment()["spec"]["replicas"] == 2
    assert Rendered(dict(pg_values(), replicas=0)).deployment()["spec"]["replicas"] == 0
    assert Rendered().statefulset()["spec"]["replicas"] == 1
    # Recreate: without the default's rollingUpdate, which Kubernetes would refuse.
    deploy = Rendered(dict(pg_values(), strategy={"type": "Recreate"})).deployment()
    assert deploy["spec"]["strategy"] == {"type": "Recreate"}
    deploy = Rendered(dict(pg_values(), strategy={"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "50%"}})).deployment()
    assert deploy["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "50%"}}


@test
def postgres_replicas_keep_apart() -> None:
    selector = Rendered().statefulset()["spec"]["selector"]["matchLabels"]
    # Default: preferred anti-affinity by host name, on the pods' own selector labels.
    affinity = Rendered(pg_values()).pod()["affinity"]
    assert affinity == {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": selector},
                                                    "topologyKey": "kubernetes.io/hostname"}}
            ]
        }
    }, affinity
    # Required, by zone; the user's nodeAffinity is kept beside it.
    node = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["infra"]}]}]}}
    r = Rendered(dict(pg_values(), podAntiAffinity={"type": "hard", "topologyKey": "topology.kubernetes.io/zone"},
                      affinity={"nodeAffinity": node}))
    validate_manifests(r)
    assert r.pod()["affinity"] == {
        "nodeAffinity": node,
        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": selector}, "topologyKey": "topology.kubernetes.io/zone"}]},
    }
    # The user's own podAntiAffinity wins; "none" turns it off.
    own = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 1, "podAffinityTerm": {"labelSelector": {"matchLabels": {"x": "y"}}, "topologyKey": "k"}}]}}
    assert Rendered(dict(pg_values(), affinity=own)).pod()["affinity"] == own
    assert "affinity" not in Rendered(dict(pg_values(), podAntiAffinity={"type": "none"})).pod()
    # sled: one pod, no anti-affinity added (the StatefulSet is as before).
    assert "affinity" not in Rendered().pod()


@test
def postgres_disruption_budget_lets_drains_through() -> None:
    for values in (pg_values(), values_file("values-postgres.yaml")):
        pdb = Rendered(values).one("PodDisruptionBudget")["spec"]
        assert pdb["minAvailable"] == 1 and "maxUnavailable" not in pdb, pdb
    pdb = Rendered(dict(pg_values(), podDisruptionBudget={"minAvailable": 2})).one("PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 2
    assert not Rendered(dict(pg_values(), podDisruptionBudget={"enabled": False})).all("PodDisruptionBudget")


@test
def postgres_config_toml_and_secrets() -> None:
    r = Rendered(values_file("values-postgres.yaml"))
    d = CONFIG_DIR
    assert r.toml()["storage"] == {
        "backend": "postgres",
        "url": "postgres://sealgate@sealgate-db-rw.db.svc:5432/sealgate",
        "password_file": f"{d}/db/password",
        "pool_size": 8,
        "connect_timeout": "3s",
        "statement_timeout": "5s",
        "sslmode": "verify-full",
        "ca_file": f"{d}/db/ca.pem",
        "stale_reads": "30s",
    }, r.toml()["storage"]
    # Every file the configuration names is projected, the password and CA from their Secret.
    projected = r.projected_paths()
    named = {s[len(d) + 1 :] for s in strings_in(r.toml()) if s.startswith(d + "/")}
    assert named | {"sealgate.toml"} == set(projected), (named, set(projected))
    assert projected["db/password"] == ("secret", "sealgate-db-app", "password")
    assert projected["db/ca.pem"] == ("secret", "sealgate-db-ca", "ca.crt")
    assert "env" not in r.container()
    # The defaults: sealgate's own, stale reads off, the CA from a ConfigMap.
    cfg = Rendered(pg_values(ca={"configMapName": "db-ca"})).toml()["storage"]
    assert cfg == {
        "backend": "postgres", "url": PG_URL, "password_file": f"{d}/db/password", "pool_size": 16,
        "connect_timeout": "5s", "statement_timeout": "5s", "sslmode": "verify-full", "ca_file": f"{d}/db/ca.pem",
    }, cfg
    assert Rendered(pg_values(ca={"configMapName": "db-ca"})).projected_paths()["db/ca.pem"] == ("configMap", "db-ca", "ca.crt")
    # The password as an environment variable instead: no password_file, the variable in both
    # containers (extraEnv after it), never the password itself in the ConfigMap.
    extra = [{"name": "SEALGATE_LOG__LEVEL", "value": "debug"}]
    r = Rendered(dict(pg_values(passwordSecret={"name": "sealgate-db", "key": "pw", "as": "env"}, sslmode="require",
                                ca={"secretName": ""}), extraEnv=extra))
    validate_manifests(r)
    assert r.toml()["storage"] == {
        "backend": "postgres", "url": PG_URL, "pool_size": 16, "connect_timeout": "5s",
        "statement_timeout": "5s", "sslmode": "require",
    }
    assert not any(p.startswith("db/") for p in r.projected_paths())
    env = [{"name": "SEALGATE_STORAGE_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "sealgate-db", "key": "pw"}}}] + extra
    assert r.container()["env"] == env
    assert r.pod()["initContainers"][0]["env"] == env
    # sled ignores storage.postgres: the same manifests as the defaults, [storage] path only.
    sled = Rendered({"storage": {"backend": "sled", "postgres": values_file("values-postgres.yaml")["storage"]["postgres"]}})
    assert sled.docs == Rendered().docs
    assert sled.toml()["storage"] == {"path": "/var/lib/sealgate/store"}


@test
def postgres_schema_migrated_by_an_init_container() -> None:
    r = Rendered(values_file("values-postgres.yaml"))
    (init,) = r.pod()["initContainers"]
    c = r.container()
    assert init["name"] == "migrate"
    assert init["args"] == ["migrate", "--config", f"{CONFIG_DIR}/sealgate.toml"]
    assert init["image"] == c["image"] and init["imagePullPolicy"] == c["imagePullPolicy"]
    assert init["securityContext"] == c["securityContext"]
    assert init["volumeMounts"] == [m for m in c["volumeMounts"] if m["name"] in ("config", "tmp")]
    assert c["args"][0] == "serve" and "--migrate" not in c["args"]
    # migrate: none: no init container, and NOTES.txt says who migrates.
    r = Rendered(pg_values(migrate="none"))
    assert "initContainers" not in r.pod()
    assert "sealgate migrate --config" in r.notes
    assert "sealgate migrate" not in Rendered(pg_values()).notes


@test
def postgres_schema_refuses_bad_values() -> None:
    refused_by_schema({"storage": {"backend": "postgres"}}, r"/storage/postgres/url")
    refused_by_schema({"storage": {"backend": "postgres"}}, r"/storage/postgres/passwordSecret/name")
    refused_by_schema(pg_values(url=""), r"/storage/postgres/url.*minLength")
    refused_by_schema(pg_values(passwordSecret={"name": ""}), r"passwordSecret/name.*minLength")
    refused_by_schema(pg_values(url="postgres://sealgate:s3cret@db.example/sealgate"), r"/storage/postgres/url")
    refused_by_schema(pg_values(url="postgres://db.example/sealgate?sslmode=disable"), r"/storage/postgres/url")
    refused_by_schema(pg_values(url="mysql://db.example/sealgate"), r"/storage/postgres/url")
    refused_by_schema(pg_values(ca={"secretName": ""}), r"/storage/postgres/ca")  # verify-full needs a CA
    refused_by_schema(pg_values(sslmode="allow"), r"/storage/postgres/sslmode")
    refused_by_schema(pg_values(stale_reads="soon"), r"/storage/postgres/stale_reads")
    refused_by_schema(pg_values(pool_size=0), r"/storage/postgres/pool_size.*minimum")
    refused_by_schema(pg_values(poolSize=8), r"poolSize")
    refused_by_schema(pg_values(migrate="job"), r"/storage/postgres/migrate")
    refused_by_schema(pg_values(passwordSecret={"name": "db", "as": "volume"}), r"/passwordSecret/as")
    refused_by_schema(dict(pg_values(), replicas=1), r"/replicas.*minimum: got 1, want 2")
    refused_by_schema({"storage": {"backend": "etcd"}}, r"/storage/backend")
    refused_by_schema(dict(pg_values(), podAntiAffinity={"type": "strict"}), r"/podAntiAffinity/type")
    refused_by_schema(dict(pg_values(), strategy={"type": "Canary"}), r"/strategy/type")


@test
def postgres_chart_refuses_inconsistent_values() -> None:
    refused_by_chart(pg_values(sslmode="require"), "storage.postgres.ca is only used with sslmode verify-full")
    refused_by_chart(
        dict(pg_values(), extraEnv=[{"name": "SEALGATE_STORAGE_PASSWORD", "value": "x"}]),
        "extraEnv sets SEALGATE_STORAGE_PASSWORD",
    )


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _make_placeholder(path: Path) -> None:
    """A real file of the kind the configuration expects at `path` (by its name)."""
    name, here = path.name, path.parent
    if path.exists():
        return
    if name in ("tls.crt", "tls.key"):  # a matching certificate and key
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", "tls.key", "-out", "tls.crt", "-days", "2",
                 "-subj", "/CN=sealgate.internal", "-addext", "subjectAltName=DNS:sealgate.internal",
                 cwd=here)
    elif name.endswith("ca.crt") or name == "ca.pem":  # a CA bundle
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", name + ".key", "-out", name, "-days", "2", "-subj", "/CN=test CA",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=here)
    elif name.endswith(".pub"):  # a cosign-style public key
        _openssl("ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", name + ".key", cwd=here)
        _openssl("ec", "-in", name + ".key", "-pubout", "-out", name, cwd=here)
    elif name == "token":  # the admin bearer token
        path.write_text("0123456789abcdef" * 4 + "\n")  # sealgate wants at least 32 characters
    elif name == "tokens":  # gateway client tokens: sha256 of each token
        digest = hashlib.sha256(b"client-token").hexdigest()
        path.write_text(f'[[token]]\nidentity = "ci"\nsha256 = "{digest}"\n')
    elif name == "password":
        path.write_text("s3cret\n")
    else:
        raise AssertionError(f"no placeholder for {path.name}")


def _check_config(toml_text: str) -> subprocess.CompletedProcess[str]:
    """Writes the rendered config with /etc/sealgate and /var/lib/sealgate moved into a temp dir,
    makes each file it names under /etc/sealgate, and runs `sealgate check-config` on it."""
    with tempfile.TemporaryDirectory(prefix="sealgate-chart-") as tmp:
        root = Path(tmp)
        etc = root / "etc"
        text = toml_text.replace(CONFIG_DIR + "/", f"{etc}/").replace("/var/lib/sealgate/", f"{root}/data/")
        etc.mkdir()
        for s in strings_in(tomllib.loads(text)):
            if s.startswith(f"{etc}/"):
                Path(s).parent.mkdir(parents=True, exist_ok=True)
                _make_placeholder(Path(s))
        (etc / "sealgate.toml").write_text(text)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEALGATE_") and k != "RUST_LOG"}
        return subprocess.run(
            [str(SEALGATE), "check-config", "--config", str(etc / "sealgate.toml")],
            capture_output=True, text=True, timeout=60, env=env,
        )


def _needs_sealgate_and_openssl() -> None:
    if not SEALGATE.exists():
        raise Skip(f"{SEALGATE.relative_to(ROOT)} is not built")
    if shutil.which("openssl") is None:
        raise Skip("openssl is not installed (scripts/install-deps.sh installs it)")


@test
def sealgate_check_config_accepts_the_rendered_config() -> None:
    """The binary's own validation of what the chart renders, with the keys sealgate documents
    (docs/configuration.md): the default values, and TLS, upstream credentials, a trust key,
    policy scopes, limits, timeouts, pull and log. Skipped when target/debug/sealgate is not
    built."""
    _needs_sealgate_and_openssl()
    run = _check_config(Rendered().toml_text())
    assert run.returncode == 0, f"default values: check-config exited {run.returncode}: {run.stderr}"
    values = {
        "port": 5443,
        "upstreams": [
            {"name": "hub", "url": "https://registry.example.com", "namespaces": ["docker.io"],
             "auth": {"username": "ci-bot", "passwordSecret": {"name": "hub", "key": "password"}}},
            {"name": "local", "url": "http://127.0.0.1:5000", "namespaces": ["registry.internal"]},
        ],
        "tls": {"enabled": True, "secretName": "sealgate-tls"},
        "trust": {"secretName": "sealgate-trust", "keys": {"ci-2024": {"path": "ci-2024.pub"}}},
        "policy": {
            "default": {"mode": "enforce", "signers": ["ci-2024"]},
            "scopes": [
                {"repositories": "prod/**", "mode": "enforce", "signers": ["ci-2024"], "require": 1,
                 "mutable_tags": ["latest-dev"], "unsigned_push": "quarantine", "quarantine_ttl": "24h",
                 "remap": {"prefix": "mirror/", "signed_prefix": ""}},
                {"repositories": "dev/*", "mode": "warn", "signers": ["ci-2024"], "require": "any"},
            ],
        },
        "limits": {"max_manifest_bytes": 8388608},
        "timeouts": {"connect": "3s", "shutdown_grace": "20s"},
        "pull": {"drift_check_interval": "10m", "verdict_ttl": "1m", "manifest_cache_bytes": 134217728},
        "log": {"level": "sealgate=debug,hyper=warn", "format": "json"},
    }
    run = _check_config(Rendered(values).toml_text())
    assert run.returncode == 0, f"check-config exited {run.returncode}: {run.stderr}"
    assert "s3cret" not in run.stdout + run.stderr, "check-config printed the upstream password"


@test
def sealgate_check_config_accepts_the_tls_gateway_config() -> None:
    """values-tls-gateway.yaml through `sealgate check-config`, its trust reduced to one key (the
    CA bundles, CRLs and sigstore trusted root it names would have to be real). [admin],
    [auth], tls.client_ca and upstream.ca are being added to sealgate: a binary that does not
    know one of them yet skips this test, naming the key; any other refusal fails it."""
    _needs_sealgate_and_openssl()
    values = values_file("values-tls-gateway.yaml")
    values["trust"] = {"secretName": "sealgate-trust", "keys": {"ci-2024": {"path": "ci-2024.pub"}}}
    values["policy"]["scopes"] = [dict(s, signers=["ci-2024"], require=1) for s in values["policy"]["scopes"]]
    values["extraConfig"] = ""
    run = _check_config(Rendered(values).toml_text())
    if run.returncode != 0 and "unknown field" in run.stderr:
        raise Skip(f"this sealgate binary does not know a key yet: {run.stderr.strip()}")
    assert run.returncode == 0, f"check-config exited {run.returncode}: {run.stderr}"
    assert "s3cret" not in run.stdout + run.stderr, "check-config printed the upstream password"


@test
def sealgate_check_config_accepts_the_postgres_config() -> None:
    """values-postgres.yaml through `sealgate check-config` (which validates [storage] without
    connecting). A binary that does not know storage.backend yet skips this test; any other
    refusal fails it, and the database password is never printed."""
    _needs_sealgate_and_openssl()
    run = _check_config(Rendered(values_file("values-postgres.yaml")).toml_text())
    if run.returncode != 0 and re.search(r"unknown (field|variant)", run.stderr) and "storage" in run.stderr:
        raise Skip(f"this sealgate binary does not know storage.backend yet: {run.stderr.strip()}")
    assert run.returncode == 0, f"check-config exited {run.returncode}: {run.stderr}"
    assert "s3cret" not in run.stdout + run.stderr, "check-config printed a password"


class Skip(Exception):
    pass


def main() -> int:
    started = time.monotonic()
    passed = failed = skipped = 0
    for fn in TESTS_TO_RUN:
        t0 = time.monotonic()
        try:
            fn()
        except Skip as e:
            skipped += 1
            print(f"SKIP {fn.__name__}: {e}")
        except Exception:
            failed += 1
            print(f"FAIL {fn.__name__}")
            traceback.print_exc()
        else:
            passed += 1
            print(f"ok   {fn.__name__} ({time.monotonic() - t0:.2f}s)")
    print(
        f"helm chart tests: Helm SDK {helm.helm_sdk_version()}, kubernetes-validate "
        f"{kubernetes_validate.__version__} (Kubernetes {K8S_VERSION}), {time.monotonic() - started:.1f}s"
    )
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
