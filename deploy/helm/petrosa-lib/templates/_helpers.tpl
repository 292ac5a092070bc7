{{/*
Names and labels shared by every Petrosa Data Manager chart.

Every template of this library takes the root context (`.`) of the service chart that includes
it and reads only that chart's values. Keys a chart leaves out fall back to the defaults written
here, so a service chart's values.yaml only needs what differs.
*/}}

{{/* Chart name, overridable with .Values.nameOverride. */}}
{{- define "petrosa.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name. The release name is used as is when it already contains the chart
name (e.g. `helm install petrosa-ingestor ./ingestor` gives `petrosa-ingestor`).
*/}}
{{- define "petrosa.fullname" -}}
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

{{/* chart-name-version, as the helm.sh/chart label wants it. */}}
{{- define "petrosa.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select this chart's pods. Never change them on a running release. */}}
{{- define "petrosa.selectorLabels" -}}
app.kubernetes.io/name: {{ include "petrosa.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "petrosa.labels" -}}
helm.sh/chart: {{ include "petrosa.chart" . }}
{{ include "petrosa.selectorLabels" . }}
app.kubernetes.io/version: {{ include "petrosa.imageTag" . | quote }}
app.kubernetes.io/component: {{ default (include "petrosa.name" .) .Values.component }}
app.kubernetes.io/part-of: petrosa-data-manager
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The ServiceAccount the pods run as. */}}
{{- define "petrosa.serviceAccountName" -}}
{{- $sa := default dict .Values.serviceAccount }}
{{- if (hasKey $sa "create" | ternary $sa.create true) }}
{{- default (include "petrosa.fullname" .) $sa.name }}
{{- else }}
{{- default "default" $sa.name }}
{{- end }}
{{- end }}

{{/* Name of the ConfigMap holding the non-secret environment. */}}
{{- define "petrosa.configMapName" -}}
{{- printf "%s-config" (include "petrosa.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Image tag: .Values.image.tag, else the chart's appVersion. */}}
{{- define "petrosa.imageTag" -}}
{{- $image := default dict .Values.image }}
{{- default .Chart.AppVersion $image.tag | toString }}
{{- end }}

{{/* Full image reference; a digest, when given, wins over the tag. */}}
{{- define "petrosa.image" -}}
{{- $image := default dict .Values.image }}
{{- $repository := required "image.repository is required" $image.repository }}
{{- if $image.digest }}
{{- printf "%s@%s" $repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (include "petrosa.imageTag" .) }}
{{- end }}
{{- end }}

{{/*
Container ports as a list of {name, port} from .Values.ports (metrics, health, http); a port
left empty or null is not opened. Without .Values.ports: metrics 9090 and health 8080.
*/}}
{{- define "petrosa.portList" -}}
{{- $ports := default (dict "metrics" 9090 "health" 8080) .Values.ports }}
{{- range $name := list "http" "health" "metrics" }}
{{- $port := get $ports $name }}
{{- if $port }}
- name: {{ $name }}
  port: {{ $port | int }}
{{- end }}
{{- end }}
{{- end }}
