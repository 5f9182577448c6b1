{{/*
Base name: the chart name unless overridden. The operator's labels and object names add
"-operator", so that neither its pods nor its Deployment can be mistaken for those of a
server the operator renders (named after an Orchestrator, labelled
app.kubernetes.io/name=ai-orchestrator).
*/}}
{{- define "ai-orchestrator.base" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" }}
{{- end }}

{{/* The app.kubernetes.io/name label of the operator's objects. */}}
{{- define "ai-orchestrator.name" -}}
{{- printf "%s-operator" (include "ai-orchestrator.base" .) }}
{{- end }}

{{/* Full object name: `<release>-operator` when the release name holds the base name, else `<release>-<base>-operator`. */}}
{{- define "ai-orchestrator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $base := include "ai-orchestrator.base" . }}
{{- if contains $base .Release.Name }}
{{- printf "%s-operator" (.Release.Name | trunc 54 | trimSuffix "-") }}
{{- else }}
{{- printf "%s-%s-operator" .Release.Name $base | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels every object of the chart carries. */}}
{{- define "ai-orchestrator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "ai-orchestrator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ai-orchestrator
{{- end }}

{{/* Labels selecting the operator pods. */}}
{{- define "ai-orchestrator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ai-orchestrator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/* The operator's ServiceAccount name. */}}
{{- define "ai-orchestrator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ai-orchestrator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image reference; the tag defaults to the chart's appVersion. */}}
{{- define "ai-orchestrator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
The operator's permissions, kept in one place: files/operator-rbac.yaml is the ClusterRole
the operator's crdgen generates (with the CRDs), and its rules are used verbatim.
*/}}
{{- define "ai-orchestrator.rbacRules" -}}
{{- $role := .Files.Get "files/operator-rbac.yaml" | fromYaml }}
{{- if not $role.rules }}
{{- fail "files/operator-rbac.yaml has no rules" }}
{{- end }}
{{- toYaml $role.rules }}
{{- end }}

{{/* The subset of the rules needed in the operator's own namespace for leader election. */}}
{{- define "ai-orchestrator.leaseRules" -}}
{{- $role := .Files.Get "files/operator-rbac.yaml" | fromYaml }}
{{- $rules := list }}
{{- range $role.rules }}
{{- if has "coordination.k8s.io" .apiGroups }}
{{- $rules = append $rules . }}
{{- end }}
{{- end }}
{{- toYaml $rules }}
{{- end }}

{{/* The webhook's Service, certificate Secret and ValidatingWebhookConfiguration names. */}}
{{- define "ai-orchestrator.webhookService" -}}
{{- printf "%s-webhook" (include "ai-orchestrator.fullname" .) }}
{{- end }}
{{- define "ai-orchestrator.webhookSecret" -}}
{{- printf "%s-webhook-tls" (include "ai-orchestrator.fullname" .) }}
{{- end }}
