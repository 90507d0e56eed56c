{{/* Chart name, overridable with nameOverride. */}}
{{- define "model-serving.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Release full name: fullnameOverride, else the release name when it already contains the chart
name (release "model-serving" -> "model-serving"), else "<release>-<chart>".
Kept at 63 - 4 characters so that "<fullname>-api" still fits a 63-character DNS label.
*/}}
{{- define "model-serving.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 59 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 59 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 59 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
"<fullname>-<component>", at most 63 characters: the full name is cut, never the component, so
that "-test-api" and "-test-ui" stay distinct. Call with (dict "root" $ "component" "api").
*/}}
{{- define "model-serving.componentName" -}}
{{- $room := sub 62 (len .component) | int }}
{{- printf "%s-%s" (include "model-serving.fullname" .root | trunc $room | trimSuffix "-") .component }}
{{- end }}

{{- define "model-serving.api.fullname" -}}
{{- include "model-serving.componentName" (dict "root" . "component" "api") }}
{{- end }}

{{- define "model-serving.ui.fullname" -}}
{{- include "model-serving.componentName" (dict "root" . "component" "ui") }}
{{- end }}

{{- define "model-serving.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. Call with (dict "root" $ "component" "api"). */}}
{{- define "model-serving.labels" -}}
helm.sh/chart: {{ include "model-serving.chart" .root }}
{{ include "model-serving.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: model-serving-stack
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels: only name, instance and component (immutable in Deployments). */}}
{{- define "model-serving.selectorLabels" -}}
app.kubernetes.io/name: {{ include "model-serving.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* "<repository>:<tag>", the tag falling back to the chart's appVersion. */}}
{{- define "model-serving.image" -}}
{{- printf "%s:%s" .image.repository (.image.tag | default .root.Chart.AppVersion | toString) }}
{{- end }}

{{- define "model-serving.api.image" -}}
{{- include "model-serving.image" (dict "root" . "image" .Values.api.image) }}
{{- end }}

{{- define "model-serving.ui.image" -}}
{{- include "model-serving.image" (dict "root" . "image" .Values.ui.image) }}
{{- end }}

{{/* Image of the helm test pods: the API image unless tests.image says otherwise. */}}
{{- define "model-serving.tests.image" -}}
{{- if .Values.tests.image.repository }}
{{- include "model-serving.image" (dict "root" . "image" .Values.tests.image) }}
{{- else }}
{{- include "model-serving.api.image" . }}
{{- end }}
{{- end }}

{{/*
The API's in-cluster URL, derived from its Service name and port: the UI's MODEL_UI_API_URL.
The short name resolves inside the release namespace; the FQDN works from anywhere.
*/}}
{{- define "model-serving.api.url" -}}
{{- printf "http://%s.%s.svc:%v" (include "model-serving.api.fullname" .) .Release.Namespace .Values.api.service.port }}
{{- end }}

{{- define "model-serving.ui.url" -}}
{{- printf "http://%s.%s.svc:%v" (include "model-serving.ui.fullname" .) .Release.Namespace .Values.ui.service.port }}
{{- end }}

{{- define "model-serving.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "model-serving.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Name of the Secret holding the API key (created, or the existing one). */}}
{{- define "model-serving.apiKey.secretName" -}}
{{- if .Values.apiKey.existingSecret }}
{{- .Values.apiKey.existingSecret }}
{{- else }}
{{- include "model-serving.componentName" (dict "root" . "component" "api-key") }}
{{- end }}
{{- end }}

{{/* An env entry reading the API key from the Secret. Call with (dict "root" $ "name" "MODEL_API_API_KEY"). */}}
{{- define "model-serving.apiKey.env" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "model-serving.apiKey.secretName" .root }}
      key: {{ .root.Values.apiKey.secretKey }}
{{- end }}

{{/* Pod-level security context: Pod Security Standard "restricted". */}}
{{- define "model-serving.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
fsGroup: {{ .Values.podSecurity.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Container-level security context: Pod Security Standard "restricted", read-only root FS. */}}
{{- define "model-serving.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* API pod grace period: the configured one, else preStop + graceful shutdown + 10 s. */}}
{{- define "model-serving.api.terminationGracePeriodSeconds" -}}
{{- $needed := add .Values.api.preStopSeconds .Values.api.settings.gracefulShutdownSeconds }}
{{- $grace := .Values.api.terminationGracePeriodSeconds }}
{{- if kindIs "invalid" $grace }}
{{- $grace = add $needed 10 }}
{{- end }}
{{- if le (int $grace) (int $needed) }}
{{- fail (printf "api.terminationGracePeriodSeconds (%v) must exceed api.preStopSeconds + api.settings.gracefulShutdownSeconds (%v) so in-flight requests can finish" $grace $needed) }}
{{- end }}
{{- $grace }}
{{- end }}

{{/* A preStop hook that sleeps with the container's own python (works on every Kubernetes version). */}}
{{- define "model-serving.preStop" -}}
preStop:
  exec:
    command: ["python", "-c", "import time; time.sleep({{ . }})"]
{{- end }}


{{/* The API address users see in the UI: ui.publicApiUrl, else the Ingress host, else empty. */}}
{{- define "model-serving.api.publicUrl" -}}
{{- if .Values.ui.publicApiUrl }}
{{- .Values.ui.publicApiUrl }}
{{- else if and .Values.ingress.enabled (or .Values.ingress.apiHost .Values.ingress.host) }}
{{- printf "%s://%s" (ternary "https" "http" .Values.ingress.tls.enabled) (.Values.ingress.apiHost | default .Values.ingress.host) }}
{{- end }}
{{- end }}

{{/*
Database (the prediction log and feedback store). The API's MODEL_API_* entries of the database
mode: off turns the log off; sqlite points the data folder at the volume on /var/lib/model-api;
postgresql reads the URL from the Secret and leaves migrations to the hook Job.
*/}}
{{- define "model-serving.database.dataDir" -}}
/var/lib/model-api
{{- end }}

{{- define "model-serving.database.urlEnv" -}}
- name: MODEL_API_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.existingSecret }}
      key: {{ .Values.database.secretKey }}
{{- end }}

{{- define "model-serving.database.env" -}}
{{- $db := .Values.database }}
{{- if eq (include "model-serving.database.mode" .) "off" }}
- name: MODEL_API_PREDICTION_LOG
  value: "false"
{{- else }}
- name: MODEL_API_PREDICTION_LOG
  value: "true"
{{- if eq (include "model-serving.database.mode" .) "postgresql" }}
{{ include "model-serving.database.urlEnv" . }}
- name: MODEL_API_DATABASE_MIGRATE
  value: "false"
{{- else }}
- name: MODEL_API_DATA_DIR
  value: {{ include "model-serving.database.dataDir" . | quote }}
- name: MODEL_API_DATABASE_MIGRATE
  value: "true"
{{- end }}
- name: MODEL_API_PREDICTION_LOG_SAMPLE_RATE
  value: {{ $db.predictionLog.sampleRate | quote }}
- name: MODEL_API_PREDICTION_LOG_RETENTION_DAYS
  value: {{ $db.predictionLog.retentionDays | quote }}
{{- with $db.predictionLog.excludeFeatures }}
- name: MODEL_API_PREDICTION_LOG_EXCLUDE_FEATURES
  value: {{ toJson . | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* Name of the claim holding the SQLite database (created, or the existing one). */}}
{{- define "model-serving.database.claimName" -}}
{{- .Values.database.sqlite.persistence.existingClaim | default (include "model-serving.componentName" (dict "root" . "component" "data")) }}
{{- end }}

{{/* Whether the API pods' egress is restricted to DNS and the database ("true" or empty). */}}
{{- define "model-serving.database.restrictEgress" -}}
{{- $egress := .Values.database.networkPolicy.egress }}
{{- if and .Values.api.networkPolicy.enabled (eq (include "model-serving.database.mode" .) "postgresql") (or $egress.cidrs $egress.peers) }}
{{- "true" }}
{{- end }}
{{- end }}

{{/* database.mode as a string: an unquoted YAML `off` arrives as the boolean false. */}}
{{- define "model-serving.database.mode" -}}
{{- $mode := .Values.database.mode }}
{{- if kindIs "bool" $mode }}off{{ else }}{{ $mode }}{{ end }}
{{- end }}
