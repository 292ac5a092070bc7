{{/*
Prometheus Operator ServiceMonitor scraping the metrics port, when
.Values.serviceMonitor.enabled (off by default: it needs the monitoring.coreos.com CRDs).
*/}}
{{- define "petrosa.servicemonitor" -}}
{{- $sm := default dict .Values.serviceMonitor }}
{{- if $sm.enabled }}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "petrosa.fullname" . }}
  namespace: {{ default .Release.Namespace $sm.namespace }}
  labels:
    {{- include "petrosa.labels" . | nindent 4 }}
    {{- with $sm.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  namespaceSelector:
    matchNames:
      - {{ .Release.Namespace }}
  selector:
    matchLabels:
      {{- include "petrosa.selectorLabels" . | nindent 6 }}
  endpoints:
    - port: metrics
      path: {{ default "/metrics" $sm.path }}
      interval: {{ default "30s" $sm.interval }}
      scrapeTimeout: {{ default "10s" $sm.scrapeTimeout }}
{{- end }}
{{- end }}
