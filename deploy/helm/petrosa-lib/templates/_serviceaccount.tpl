{{/*
ServiceAccount for the pods. The services never talk to the Kubernetes API (leader election is
a MongoDB lease), so no token is mounted unless asked for.
*/}}
{{- define "petrosa.serviceaccount" -}}
{{- $sa := default dict .Values.serviceAccount }}
{{- if (hasKey $sa "create" | ternary $sa.create true) }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "petrosa.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "petrosa.labels" . | nindent 4 }}
  {{- with $sa.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: {{ $sa.automountServiceAccountToken | default false }}
{{- end }}
{{- end }}
