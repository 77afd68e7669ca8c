{{/* Names, labels and the pieces every livehost pod shares. One place, so selectors and labels cannot drift. */}}

{{- define "livehost.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "livehost.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "livehost.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "livehost.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Name of one component's resources: (dict "root" $ "component" "gateway") */}}
{{- define "livehost.componentName" -}}
{{- printf "%s-%s" (include "livehost.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: stable across upgrades (never add a changing value here). */}}
{{- define "livehost.selectorLabels" -}}
app.kubernetes.io/name: {{ include "livehost.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "livehost.labels" -}}
{{ include "livehost.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: livehost
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "livehost.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "livehost.gpuImage" -}}
{{- printf "%s:%s" .Values.gpuImage.repository (default .Chart.AppVersion .Values.gpuImage.tag) }}
{{- end }}

{{/* The NATS URL every role dials. */}}
{{- define "livehost.natsUrl" -}}
{{- if .Values.nats.install }}
{{- printf "%s://%s:4222" (ternary "tls" "nats" .Values.nats.tls.enabled) (include "livehost.componentName" (dict "root" . "component" "nats")) }}
{{- else }}
{{- required "nats.external.url is required when nats.install is false" .Values.nats.external.url }}
{{- end }}
{{- end }}

{{/* The port of a URL: its own, else its scheme's (nats/tls 4222, https 443, http 80). */}}
{{- define "livehost.urlPort" -}}
{{- $url := urlParse (trim .) }}
{{- $port := regexFind ":[0-9]+$" $url.host | trimPrefix ":" }}
{{- $port | default (get (dict "nats" "4222" "tls" "4222" "https" "443" "http" "80") $url.scheme) | default "443" }}
{{- end }}

{{/* The ports of the external NATS URLs (nats.external.url, comma-separated), as a JSON list. */}}
{{- define "livehost.natsPorts" -}}
{{- $ports := list }}
{{- range $url := splitList "," .Values.nats.external.url }}
{{- $ports = append $ports (include "livehost.urlPort" $url | int) }}
{{- end }}
{{- $ports | toJson }}
{{- end }}

{{/* Secret holding the per-role NATS passwords. */}}
{{- define "livehost.natsAuthSecret" -}}
{{- default (include "livehost.componentName" (dict "root" . "component" "nats-auth")) .Values.nats.auth.existingSecret }}
{{- end }}

{{/* Per-role permissions, the one source of truth (files/nats-permissions.yaml). */}}
{{- define "livehost.natsPermissions" -}}
{{- .Files.Get "files/nats-permissions.yaml" }}
{{- end }}

{{/*
The nats-server authorization block: one user per role, its password from the environment variable
LIVEHOST_NATS_<ROLE>_PASSWORD (set from the auth Secret), publish/subscribe limited to the role's subjects.
*/}}
{{- define "livehost.natsAuthorization" -}}
{{- $permissions := include "livehost.natsPermissions" . | fromYaml }}
authorization {
  users = [
{{- range $role := keys $permissions | sortAlpha }}
{{- $p := get $permissions $role }}
    {
      user: {{ $role | quote }}
      password: $LIVEHOST_NATS_{{ $p.env }}_PASSWORD
      permissions: {
        publish: {{ include "livehost.natsSubjects" (dict "allow" $p.publish "deny" $p.publishDeny) }}
        subscribe: {{ include "livehost.natsSubjects" (dict "allow" $p.subscribe) }}
      }
    }
{{- end }}
  ]
}
{{- end }}

{{/*
A permission: the subjects allowed (less those denied), or nothing at all for an empty list (an empty allow list
would allow all). (dict "allow" (list ...) "deny" (list ...))
*/}}
{{- define "livehost.natsSubjects" -}}
{{- if .allow -}}
{ allow: [{{ range $i, $s := .allow }}{{ if $i }}, {{ end }}{{ $s | quote }}{{ end }}]
{{- with .deny }}, deny: [{{ range $i, $s := . }}{{ if $i }}, {{ end }}{{ $s | quote }}{{ end }}]{{ end }} }
{{- else -}}
{ deny: [">"] }
{{- end }}
{{- end }}

{{/*
Environment every livehost role gets: NATS URL and its role's credentials, TLS files, logging and tracing.
(dict "root" $ "role" "gateway"); "grpc" false for a role that neither serves nor calls gRPC (no certificate).
*/}}
{{- define "livehost.roleEnv" -}}
{{- $root := .root }}
- name: LIVEHOST_NATS_URL
  value: {{ include "livehost.natsUrl" $root | quote }}
{{- if $root.Values.nats.auth.enabled }}
- name: LIVEHOST_NATS_USER
  value: {{ .role | quote }}
- name: LIVEHOST_NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "livehost.natsAuthSecret" $root }}
      key: {{ .role }}
{{- end }}
{{- if $root.Values.nats.tls.enabled }}
- name: LIVEHOST_NATS_TLS_CA
  value: /etc/livehost/nats-tls/ca.crt
{{- end }}
{{- if and $root.Values.grpcTls.enabled (include "livehost.usesGrpc" .) }}
- name: LIVEHOST_TLS_CA
  value: /etc/livehost/tls/ca.crt
- name: LIVEHOST_TLS_CERT
  value: /etc/livehost/tls/tls.crt
- name: LIVEHOST_TLS_KEY
  value: /etc/livehost/tls/tls.key
{{- if $root.Values.grpcTls.requireClientCert }}
- name: LIVEHOST_TLS_CLIENT_AUTH
  value: "true"
{{- end }}
- name: LIVEHOST_TLS_SERVER_NAME
  value: {{ include "livehost.grpcTlsServerName" $root | quote }}
{{- end }}
- name: LIVEHOST_LOG_LEVEL
  value: {{ $root.Values.logLevel | quote }}
- name: LIVEHOST_METRICS_HOST
  value: "0.0.0.0"
- name: LIVEHOST_METRICS_PORT
  value: {{ $root.Values.ports.metrics | quote }}
- name: OTEL_SERVICE_NAME
  value: {{ printf "livehost-%s" .role | quote }}
{{- if $root.Values.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $root.Values.otlpEndpoint | quote }}
{{- else }}
- name: OTEL_TRACES_EXPORTER
  value: none
{{- end }}
{{- end }}

{{/* The bytes in a Kubernetes quantity ("10Gi", "512Mi", "1.5G", or a bare number), as a float. */}}
{{- define "livehost.bytes" -}}
{{- $quantity := toString . }}
{{- $units := dict "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "k" 1000.0 "M" 1000000.0 "G" 1000000000.0 "T" 1000000000000.0 }}
{{- $unit := regexFind "[kMGT]i?$" $quantity }}
{{- mulf (trimSuffix $unit $quantity | float64) (get $units $unit | default 1.0) }}
{{- end }}

{{/*
The DNS name every gRPC client of the release checks servers' certificates against, whatever address it dials
(rooms dial workers at their pod IPs). The grpcTls certificate must carry it. Default: <fullname>-grpc.<namespace>.svc.
*/}}
{{- define "livehost.grpcTlsServerName" -}}
{{- .Values.grpcTls.serverName | default (printf "%s-grpc.%s.svc" (include "livehost.fullname" .) .Release.Namespace) }}
{{- end }}

{{/* The roles that get a gRPC certificate of their own (grpc-tls.yaml). */}}
{{- define "livehost.grpcTlsRoles" -}}
{{- list "room-host" "gateway" "operator" "worker" "helm-test" | toJson }}
{{- end }}

{{/*
The DNS names a role's certificate carries besides its identity: the server name every livehost client checks, and
for the gateway its Service's names (clients outside the release dial it by name).
*/}}
{{- define "livehost.grpcTlsDnsNames" -}}
{{- $names := list (include "livehost.grpcTlsServerName" .root) }}
{{- if eq .role "gateway" }}
{{- $service := include "livehost.componentName" (dict "root" .root "component" "gateway") }}
{{- $names = append $names $service }}
{{- $names = append $names (printf "%s.%s.svc" $service .root.Release.Namespace) }}
{{- end }}
{{- $names | toJson }}
{{- end }}

{{/* A role's gRPC TLS Secret: grpcTls.secretName when the SRE gives one for all, else the role's own. */}}
{{- define "livehost.grpcTlsSecret" -}}
{{- .root.Values.grpcTls.secretName | default (printf "%s-%s-grpc-tls" (include "livehost.fullname" .root) .role) }}
{{- end }}

{{/* The identity a role's certificate carries: a SPIFFE URI with cert-manager, a DNS name with the chart's CA. */}}
{{- define "livehost.grpcTlsIdentity" -}}
{{- $root := .root }}
{{- if $root.Values.grpcTls.certManager.issuerRef.name }}
{{- printf "spiffe://%s/ns/%s/sa/%s-%s" $root.Values.grpcTls.trustDomain $root.Release.Namespace (include "livehost.fullname" $root) .role }}
{{- else }}
{{- printf "%s.%s.%s.livehost" .role (include "livehost.fullname" $root) $root.Release.Namespace }}
{{- end }}
{{- end }}

{{/* "true" unless the dict says "grpc" false: the role has a gRPC certificate. */}}
{{- define "livehost.usesGrpc" -}}
{{- if ne (toString (get . "grpc")) "false" }}true{{ end }}
{{- end }}

{{/*
Volumes for the TLS material and /tmp (the root filesystem is read-only). (dict "root" $ "role" "gateway"), with
"tmpSize" to bound /tmp (a sizeLimit) and "grpc" false for a role without a gRPC certificate.
*/}}
{{- define "livehost.securityVolumes" -}}
{{- $root := .root }}
- name: tmp
  {{- with get . "tmpSize" }}
  emptyDir: { sizeLimit: {{ . }} }
  {{- else }}
  emptyDir: {}
  {{- end }}
{{- if and $root.Values.grpcTls.enabled (include "livehost.usesGrpc" .) }}
- name: grpc-tls
  secret:
    secretName: {{ include "livehost.grpcTlsSecret" . }}
{{- end }}
{{- if $root.Values.nats.tls.enabled }}
- name: nats-tls
  secret:
    secretName: {{ required "nats.tls.secretName is required when nats.tls.enabled" $root.Values.nats.tls.secretName }}
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- end }}

{{/* Mounts of livehost.securityVolumes: the root context, or (dict "root" $ "grpc" false). */}}
{{- define "livehost.securityVolumeMounts" -}}
{{- $root := get . "root" | default . }}
- name: tmp
  mountPath: /tmp
{{- if and $root.Values.grpcTls.enabled (include "livehost.usesGrpc" .) }}
- name: grpc-tls
  mountPath: /etc/livehost/tls
  readOnly: true
{{- end }}
{{- if $root.Values.nats.tls.enabled }}
- name: nats-tls
  mountPath: /etc/livehost/nats-tls
  readOnly: true
{{- end }}
{{- end }}

{{/* Spread a component's pods over zones and nodes. */}}
{{- define "livehost.topologySpread" -}}
- maxSkew: 1
  topologyKey: topology.kubernetes.io/zone
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "livehost.selectorLabels" . | nindent 6 }}
- maxSkew: 1
  topologyKey: kubernetes.io/hostname
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "livehost.selectorLabels" . | nindent 6 }}
{{- end }}

{{/*
A probe on the role's readiness: the native gRPC health probe (grpc.health.v1) where the port is plain gRPC;
kubelet's gRPC probe cannot speak TLS, so with grpcTls it asks /readyz, which follows the same serving state.
(dict "root" $ "grpc" true "path" "/readyz")
*/}}
{{- define "livehost.probe" -}}
{{- if and .grpc (not .root.Values.grpcTls.enabled) }}
grpc:
  port: {{ .root.Values.ports.grpc }}
{{- else }}
httpGet:
  path: {{ .path }}
  port: metrics
{{- end }}
{{- end }}

{{/*
Renders a manifest template and deep-merges the component's podPatch into its pod template (spec.template), the
escape hatch for anything the values do not name. (dict "root" $ "template" "livehost.gateway.deployment"
"patch" .Values.gateway.podPatch)
*/}}
{{- define "livehost.render" -}}
{{- $manifest := include .template .root | fromYaml }}
{{- if .patch }}
{{- $_ := mustMergeOverwrite $manifest.spec.template .patch }}
{{- end }}
{{- toYaml $manifest }}
{{- end }}

{{/* The PriorityClass of the operator's placeholder pods: cluster-scoped, so named after the release by default. */}}
{{- define "livehost.placeholderPriorityClass" -}}
{{- .Values.operator.capacity.placeholderPriorityClass | default (printf "%s-capacity-placeholder" (include "livehost.fullname" .)) -}}
{{- end }}
