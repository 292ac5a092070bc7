{{/*
Service exposing the ports of .Values.ports: metrics (9090), health (8080) and, for the gateway,
http (8000). Port names are what the probes and the ServiceMonitor refer to.
*/}}
{{- define "petrosa.service" -}}
{{- $svc := default dict .Values.service }}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "petrosa.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "petrosa.labels" . | nindent 4 }}
  {{- with $svc.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ default "ClusterIP" $svc.type }}
  selector:
    {{- include "petrosa.selectorLabels" . | nindent 4 }}
  ports:
    {{- range (include "petrosa.portList" . | fromYamlArray) }}
    - name: {{ .name }}
      port: {{ .port }}
      targetPort: {{ .name }}
      protocol: TCP
    {{- end }}
{{- end }}
