{{- define "regcred-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "regcred-operator.fullname" -}}
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

{{- define "regcred-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "regcred-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "regcred-operator.labels" -}}
{{ include "regcred-operator.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The namespace of the source Secrets and of the leader Lease. */}}
{{- define "regcred-operator.credentialsNamespace" -}}
{{- default .Release.Namespace .Values.credentialsNamespace }}
{{- end }}

{{/* The image: a digest wins over the tag, and an empty tag is the chart's appVersion. */}}
{{- define "regcred-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
"true" when the security contexts leave the user, group, fsGroup and SELinux options to OpenShift,
whose restricted-v2 SCC assigns them from the project's ranges and rejects pods that fix others.
*/}}
{{- define "regcred-operator.adaptToOpenShift" -}}
{{- $mode := .Values.global.compatibility.openshift.adaptSecurityContext }}
{{- if or (eq $mode "force") (and (eq $mode "auto") (.Capabilities.APIVersions.Has "security.openshift.io/v1")) }}true{{ end }}
{{- end }}

{{/* A security context (dict "context" $ "securityContext" …) as YAML, adapted to OpenShift where it applies. */}}
{{- define "regcred-operator.securityContext" -}}
{{- $sc := omit .securityContext "" }}
{{- if include "regcred-operator.adaptToOpenShift" .context }}
{{- $sc = omit $sc "runAsUser" "runAsGroup" "fsGroup" "seLinuxOptions" }}
{{- end }}
{{- range $k, $v := $sc }}
{{- if kindIs "invalid" $v }}{{ $_ := unset $sc $k }}{{ end }}
{{- end }}
{{- if $sc }}{{ toYaml $sc }}{{ end }}
{{- end }}
