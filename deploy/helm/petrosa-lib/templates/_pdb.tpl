{{/*
PodDisruptionBudget, when .Values.podDisruptionBudget.enabled. Defaults to maxUnavailable: 1,
which keeps a follower (auditor, analytics) or a consumer (ingestor) running through a drain.
*/}}
{{- define "petrosa.pdb" -}}
{{- $pdb := default dict .Values.podDisruptionBudget }}
{{- if $pdb.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "petrosa.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "petrosa.labels" . | nindent 4 }}
spec:
  {{- if hasKey $pdb "minAvailable" }}
  minAvailable: {{ $pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ default 1 $pdb.maxUnavailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "petrosa.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end }}
