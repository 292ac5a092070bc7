{{/*
ConfigMap with the service's non-secret environment: .Values.config, plus METRICS_PORT,
HEALTH_PORT and API_PORT derived from .Values.ports so the process listens where the Service,
the probes and the ServiceMonitor look (an explicit key in .Values.config wins).
Secrets never go here: see .Values.secretEnv.
*/}}
{{- define "petrosa.configmap" -}}
{{- $ports := default (dict "metrics" 9090 "health" 8080) .Values.ports }}
{{- $derived := dict }}
{{- with $ports.metrics }}{{- $_ := set $derived "METRICS_PORT" (toString .) }}{{- end }}
{{- with $ports.health }}{{- $_ := set $derived "HEALTH_PORT" (toString .) }}{{- end }}
{{- with $ports.http }}{{- $_ := set $derived "API_PORT" (toString .) }}{{- end }}
{{- $data := merge (deepCopy (default dict .Values.config)) $derived }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "petrosa.configMapName" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "petrosa.labels" . | nindent 4 }}
data:
  {{- range $key, $value := $data }}
  {{- if not (kindIs "invalid" $value) }}
  {{ $key }}: {{ $value | toString | quote }}
  {{- end }}
  {{- end }}
{{- end }}
