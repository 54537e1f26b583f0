{{/*
The pod template of the StatefulSet (sled) and of the Deployment (postgres). With sled the pod
mounts the store's volume (data); with postgres it has no volume of its own, gets the database
password (and CA) from Secrets, optionally migrates the schema first, and keeps its replicas
apart (anti-affinity).
*/}}
{{- define "sealgate.podTemplate" -}}
{{- $dir := include "sealgate.configDir" . -}}
{{- $pg := include "sealgate.postgres" . -}}
{{- $scheme := ternary "HTTPS" "HTTP" .Values.tls.enabled -}}
{{- $clientCA := or .Values.tls.clientCA.secretName .Values.tls.clientCA.configMapName -}}
{{- /* The kubelet's HTTPS probes present no client certificate: with client_auth "required" the
       handshake fails, so the probes fall back to TCP. */ -}}
{{- $tcpProbes := and .Values.tls.enabled $clientCA (eq .Values.tls.clientAuth "required") -}}
{{- $env := include "sealgate.passwordEnv" . | trim -}}
{{- with .Values.extraEnv }}
{{- $env = printf "%s\n%s" $env (toYaml .) | trim -}}
{{- end }}
{{- $affinity := deepCopy .Values.affinity -}}
{{- with .Values.podAntiAffinity }}
{{- if and $pg (ne .type "none") (not (hasKey $affinity "podAntiAffinity")) }}
{{- $term := dict "labelSelector" (dict "matchLabels" (include "sealgate.selectorLabels" $ | fromYaml)) "topologyKey" .topologyKey }}
{{- if eq .type "hard" }}
{{- $_ := set $affinity "podAntiAffinity" (dict "requiredDuringSchedulingIgnoredDuringExecution" (list $term)) }}
{{- else }}
{{- $_ := set $affinity "podAntiAffinity" (dict "preferredDuringSchedulingIgnoredDuringExecution" (list (dict "weight" (int .weight) "podAffinityTerm" $term))) }}
{{- end }}
{{- end }}
{{- end -}}
metadata:
  labels:
    {{- include "sealgate.labels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # A configuration change rolls the pod. Changes to [trust] and [policy] alone could be
    # applied without a restart (kill -HUP, or `sealgate admin reload`), but the pod only sees
    # a new ConfigMap after the kubelet syncs it; rolling is the predictable default. Trust
    # files in the trust Secret (a refreshed CRL) are updated in place: reload to apply them.
    checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "sealgate.serviceAccountName" . }}
  automountServiceAccountToken: {{ .Values.automountServiceAccountToken }}
  enableServiceLinks: false
  terminationGracePeriodSeconds: {{ int .Values.terminationGracePeriodSeconds }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  {{- if and $pg (eq .Values.storage.postgres.migrate "initContainer") }}
  initContainers:
    # Applies the schema migrations before sealgate starts; see values.yaml, storage.postgres.migrate.
    - name: migrate
      image: {{ include "sealgate.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - migrate
        - --config
        - {{ $dir }}/sealgate.toml
      {{- with $env }}
      env:
        {{- . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      {{- with .Values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        - name: config
          mountPath: {{ $dir }}
          readOnly: true
        - name: tmp
          mountPath: /tmp
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  {{- end }}
  containers:
    - name: sealgate
      image: {{ include "sealgate.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - serve
        - --config
        - {{ $dir }}/sealgate.toml
        {{- with .Values.logFormat }}
        - --log-format
        - {{ . }}
        {{- end }}
        {{- range .Values.extraArgs }}
        - {{ . | quote }}
        {{- end }}
      {{- with $env }}
      env:
        {{- . | nindent 8 }}
      {{- end }}
      ports:
        - name: client
          containerPort: {{ int .Values.port }}
          protocol: TCP
        {{- if .Values.admin.enabled }}
        - name: admin
          containerPort: {{ int .Values.admin.port }}
          protocol: TCP
        {{- end }}
      {{- range $kind, $p := dict "startup" .Values.probes.startup "liveness" .Values.probes.liveness "readiness" .Values.probes.readiness }}
      {{ $kind }}Probe:
        {{- if $tcpProbes }}
        tcpSocket:
          port: client
        {{- else }}
        httpGet:
          path: {{ ternary "/readyz" "/healthz" (eq $kind "readiness") }}
          port: client
          scheme: {{ $scheme }}
        {{- end }}
        periodSeconds: {{ int $p.periodSeconds }}
        timeoutSeconds: {{ int $p.timeoutSeconds }}
        failureThreshold: {{ int $p.failureThreshold }}
      {{- end }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      {{- with .Values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        - name: config
          mountPath: {{ $dir }}
          readOnly: true
        {{- if not $pg }}
        - name: data
          mountPath: {{ .Values.persistence.mountPath }}
        {{- end }}
        - name: tmp
          mountPath: /tmp
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    # Everything under /etc/sealgate is one projected volume (no nested mounts on a read-only
    # volume): the configuration and each referenced Secret/ConfigMap key at a fixed path.
    - name: config
      projected:
        defaultMode: 0440
        sources:
          - configMap:
              name: {{ include "sealgate.fullname" . }}
              items:
                - key: sealgate.toml
                  path: sealgate.toml
          {{- if .Values.tls.enabled }}
          - secret:
              name: {{ .Values.tls.secretName }}
              items:
                - key: tls.crt
                  path: tls/tls.crt
                - key: tls.key
                  path: tls/tls.key
          {{- if $clientCA }}
          {{- include "sealgate.projectedFile" (list .Values.tls.clientCA "tls/client-ca.crt") | trim | nindent 10 }}
          {{- end }}
          {{- end }}
          {{- if .Values.admin.enabled }}
          {{- with .Values.admin.tokenSecret }}
          {{- if .name }}
          - secret:
              name: {{ .name }}
              items:
                - key: {{ .key }}
                  path: admin/token
          {{- end }}
          {{- end }}
          {{- if or .Values.admin.clientCA.secretName .Values.admin.clientCA.configMapName }}
          {{- include "sealgate.projectedFile" (list .Values.admin.clientCA "admin/client-ca.crt") | trim | nindent 10 }}
          {{- end }}
          {{- with .Values.admin.tls.secretName }}
          - secret:
              name: {{ . }}
              items:
                - key: tls.crt
                  path: admin/tls.crt
                - key: tls.key
                  path: admin/tls.key
          {{- end }}
          {{- end }}
          {{- if eq .Values.auth.mode "gateway" }}
          - secret:
              name: {{ .Values.auth.tokensSecret.name }}
              items:
                - key: {{ .Values.auth.tokensSecret.key }}
                  path: auth/tokens
          {{- end }}
          {{- range .Values.upstreams }}
          {{- if .auth }}
          - secret:
              name: {{ .auth.passwordSecret.name }}
              items:
                - key: {{ .auth.passwordSecret.key }}
                  path: upstreams/{{ .name }}/password
          {{- end }}
          {{- if .ca }}
          {{- include "sealgate.projectedFile" (list .ca (printf "upstreams/%s/ca.crt" .name)) | trim | nindent 10 }}
          {{- end }}
          {{- end }}
          {{- with (include "sealgate.trustFiles" . | fromJsonArray) }}
          - {{ ternary "secret" "configMap" (not (empty $.Values.trust.secretName)) }}:
              name: {{ $.Values.trust.secretName | default $.Values.trust.configMapName }}
              items:
                {{- range . }}
                - key: {{ . }}
                  path: trust/{{ . }}
                {{- end }}
          {{- end }}
          {{- if $pg }}
          {{- with .Values.storage.postgres }}
          {{- if eq .passwordSecret.as "file" }}
          - secret:
              name: {{ .passwordSecret.name }}
              items:
                - key: {{ .passwordSecret.key }}
                  path: db/password
          {{- end }}
          {{- if or .ca.secretName .ca.configMapName }}
          {{- include "sealgate.projectedFile" (list .ca "db/ca.pem") | trim | nindent 10 }}
          {{- end }}
          {{- end }}
          {{- end }}
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- if and (not $pg) (not .Values.persistence.enabled) }}
    - name: data
      emptyDir: {}
    {{- end }}
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
