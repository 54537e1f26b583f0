{{/* Names and labels. */}}

{{- define "sealgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sealgate.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "sealgate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sealgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sealgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sealgate.labels" -}}
helm.sh/chart: {{ include "sealgate.chart" . }}
{{ include "sealgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "sealgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sealgate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "sealgate.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Paths inside the pod. Everything under /etc/sealgate is one projected volume. */}}
{{- define "sealgate.configDir" -}}/etc/sealgate{{- end }}
{{- define "sealgate.storePath" -}}{{ .Values.persistence.mountPath | trimSuffix "/" }}/store{{- end }}

{{/* The store: "true" when it is PostgreSQL (a Deployment of several replicas), "" for sled. */}}
{{- define "sealgate.postgres" -}}{{ if eq .Values.storage.backend "postgres" }}true{{ end }}{{- end }}

{{/* replicas, or its default when left empty: 1 with sled, 2 with postgres. (0 is a value:
     `default` would replace it.) */}}
{{- define "sealgate.replicas" -}}
{{- if kindIs "invalid" .Values.replicas }}{{ ternary 2 1 (eq .Values.storage.backend "postgres") }}{{ else }}{{ int .Values.replicas }}{{ end }}
{{- end }}

{{/* The database password as an environment variable (passwordSecret.as: env), else nothing. */}}
{{- define "sealgate.passwordEnv" -}}
{{- with .Values.storage.postgres.passwordSecret }}
{{- if and (include "sealgate.postgres" $) (eq .as "env") }}
- name: SEALGATE_STORAGE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .name }}
      key: {{ .key }}
{{- end }}
{{- end }}
{{- end }}

{{/* The client URL scheme. */}}
{{- define "sealgate.scheme" -}}{{ ternary "https" "http" .Values.tls.enabled }}{{- end }}

{{/* How containerd on the nodes reaches the client Service (NOTES.txt). */}}
{{- define "sealgate.endpoint" -}}
{{- if .Values.containerd.endpoint }}
{{- .Values.containerd.endpoint | trimSuffix "/" }}
{{- else }}
{{- $host := .Values.service.clusterIP | default (printf "%s.%s.svc.%s" (include "sealgate.fullname" .) .Release.Namespace .Values.clusterDomain) }}
{{- printf "%s://%s:%d" (include "sealgate.scheme" .) $host (int .Values.service.port) }}
{{- end }}
{{- end }}

{{/*
TOML rendering. Scalars go through toJson: a JSON string is a valid TOML basic string (same
escapes: \" \\ \n \uXXXX ...), JSON numbers and booleans are TOML integers, floats and booleans.
Lists become TOML arrays, maps inline tables. null has no TOML form: such keys are left out.
*/}}
{{- define "sealgate.toml.key" -}}
{{- if regexMatch "^[A-Za-z0-9_-]+$" . }}{{ . }}{{ else }}{{ toJson . }}{{ end }}
{{- end }}

{{- define "sealgate.toml.value" -}}
{{- if kindIs "map" . }}
{{- $parts := list }}
{{- range $k, $v := . }}
{{- if not (kindIs "invalid" $v) }}
{{- $parts = append $parts (printf "%s = %s" (include "sealgate.toml.key" $k) (include "sealgate.toml.value" $v)) }}
{{- end }}
{{- end }}
{{- if $parts }}{{ printf "{ %s }" (join ", " $parts) }}{{ else }}{}{{ end }}
{{- else if kindIs "slice" . }}
{{- $parts := list }}
{{- range . }}
{{- $parts = append $parts (include "sealgate.toml.value" .) }}
{{- end }}
{{- printf "[%s]" (join ", " $parts) }}
{{- else if kindIs "invalid" . }}
{{- fail "sealgate.toml: null inside a list or table has no TOML form" }}
{{- else }}
{{- toJson . }}
{{- end }}
{{- end }}

{{/* The keys of a map as `key = value` lines (sorted by key, nulls left out). */}}
{{- define "sealgate.toml.keys" -}}
{{- $lines := list }}
{{- range $k, $v := . }}
{{- if not (kindIs "invalid" $v) }}
{{- $lines = append $lines (printf "%s = %s" (include "sealgate.toml.key" $k) (include "sealgate.toml.value" $v)) }}
{{- end }}
{{- end }}
{{- join "\n" $lines }}
{{- end }}

{{/* A trust file: a key of the trust Secret/ConfigMap, or an absolute path used as it is. */}}
{{- define "sealgate.trustPath" -}}
{{- if hasPrefix "/" . }}{{ . }}{{ else }}{{ include "sealgate.configDir" $ }}/trust/{{ . }}{{ end }}
{{- end }}

{{- define "sealgate.trustFileKeys" -}}path roots intermediates trusted_root{{- end }}

{{/* The keys of one [trust.<kind>.<name>] table, with file fields mapped to their mounted path. */}}
{{- define "sealgate.toml.trustEntry" -}}
{{- $fileKeys := splitList " " (include "sealgate.trustFileKeys" .) }}
{{- $lines := list }}
{{- range $k, $v := . }}
{{- if not (kindIs "invalid" $v) }}
{{- if has $k $fileKeys }}
{{- $lines = append $lines (printf "%s = %s" $k (include "sealgate.trustPath" $v | toJson)) }}
{{- else if eq $k "crls" }}
{{- $paths := list }}
{{- range $v }}
{{- $paths = append $paths (include "sealgate.trustPath" .) }}
{{- end }}
{{- $lines = append $lines (printf "%s = %s" $k (include "sealgate.toml.value" $paths)) }}
{{- else }}
{{- $lines = append $lines (printf "%s = %s" (include "sealgate.toml.key" $k) (include "sealgate.toml.value" $v)) }}
{{- end }}
{{- end }}
{{- end }}
{{- join "\n" $lines }}
{{- end }}

{{/* The trust files to project from trust.secretName / trust.configMapName, as a JSON list. */}}
{{- define "sealgate.trustFiles" -}}
{{- $files := dict }}
{{- $fileKeys := splitList " " (include "sealgate.trustFileKeys" .) }}
{{- range $kind := list "keys" "pki" "keyless" }}
{{- range $name, $entry := (get $.Values.trust $kind) }}
{{- range $k := $fileKeys }}
{{- $f := get $entry $k }}
{{- if and $f (not (hasPrefix "/" $f)) }}
{{- $_ := set $files $f true }}
{{- end }}
{{- end }}
{{- range $f := (get $entry "crls" | default list) }}
{{- if not (hasPrefix "/" $f) }}
{{- $_ := set $files $f true }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- keys $files | sortAlpha | toJson }}
{{- end }}

{{/* One file from a {secretName | configMapName, key} source, as a projected volume source. */}}
{{- define "sealgate.projectedFile" -}}
{{- $src := index . 0 }}
{{- $path := index . 1 }}
{{- if $src.secretName }}
- secret:
    name: {{ $src.secretName }}
    items:
      - key: {{ $src.key }}
        path: {{ $path }}
{{- else }}
- configMap:
    name: {{ $src.configMapName }}
    items:
      - key: {{ $src.key }}
        path: {{ $path }}
{{- end }}
{{- end }}

{{/* Checks the schema cannot express across keys. */}}
{{- define "sealgate.validate" -}}
{{- if and .Values.tls.enabled (not .Values.tls.secretName) }}
{{- fail "tls.enabled needs tls.secretName (a kubernetes.io/tls Secret)" }}
{{- end }}
{{- if and .Values.admin.enabled (not (or .Values.admin.tokenSecret.name .Values.admin.clientCA.secretName .Values.admin.clientCA.configMapName)) }}
{{- fail "admin.enabled needs admin.tokenSecret.name or admin.clientCA (sealgate keeps the admin listener off without a token file or a client CA)" }}
{{- end }}
{{- if and (eq .Values.auth.mode "gateway") (not .Values.auth.tokensSecret.name) }}
{{- fail "auth.mode gateway needs auth.tokensSecret.name" }}
{{- end }}
{{- if and (include "sealgate.trustFiles" . | fromJsonArray) (not (or .Values.trust.secretName .Values.trust.configMapName)) }}
{{- fail (printf "trust files %s need trust.secretName or trust.configMapName" (include "sealgate.trustFiles" .)) }}
{{- end }}
{{- $names := dict }}
{{- range .Values.upstreams }}
{{- if hasKey $names .name }}
{{- fail (printf "upstreams: name %q is used twice" .name) }}
{{- end }}
{{- $_ := set $names .name true }}
{{- end }}
{{- if eq .Values.port .Values.admin.port }}
{{- fail "port and admin.port must differ" }}
{{- end }}
{{- if include "sealgate.postgres" . }}
{{- with .Values.storage.postgres }}
{{- if and (or .ca.secretName .ca.configMapName) (ne .sslmode "verify-full") }}
{{- fail (printf "storage.postgres.ca is only used with sslmode verify-full (sslmode %s does not check the database's certificate)" .sslmode) }}
{{- end }}
{{- if eq .passwordSecret.as "file" }}
{{- range $.Values.extraEnv }}
{{- if eq (toString .name) "SEALGATE_STORAGE_PASSWORD" }}
{{- fail "extraEnv sets SEALGATE_STORAGE_PASSWORD while storage.postgres.passwordSecret.as is file: sealgate refuses both; use passwordSecret.as: env" }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
