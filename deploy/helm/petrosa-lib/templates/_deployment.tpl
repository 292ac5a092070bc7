{{/*
Deployment of one Petrosa Data Manager service.

Environment, in the order Kubernetes applies it (later wins):
  1. envFrom: the chart's ConfigMap (.Values.config), then .Values.extraEnvFrom (e.g. the shared
     petrosa-common-config ConfigMap);
  2. env: POD_ID / POD_NAMESPACE (POD_ID = pod name: the leader-election identity), one secretKeyRef per entry of
     .Values.secretEnv (default secret: petrosa-sensitive-credentials), then .Values.extraEnv.
Only the keys named in secretEnv are read from the shared secret, not the whole secret.

Security: non-root uid 10001, read-only root filesystem with an emptyDir at /tmp, every
capability dropped, no privilege escalation, RuntimeDefault seccomp, no service-account token.
*/}}
{{- define "petrosa.deployment" -}}
{{- $image := default dict .Values.image }}
{{- $probes := default dict .Values.probes }}
{{- $probePort := default "health" $probes.port }}
{{- $secretName := default "petrosa-sensitive-credentials" .Values.existingSecret }}
{{- $sa := default dict .Values.serviceAccount }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "petrosa.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "petrosa.labels" . | nindent 4 }}
spec:
  replicas: {{ hasKey .Values "replicaCount" | ternary .Values.replicaCount 1 }}
  revisionHistoryLimit: {{ default 5 .Values.revisionHistoryLimit }}
  selector:
    matchLabels:
      {{- include "petrosa.selectorLabels" . | nindent 6 }}
  {{- with .Values.strategy }}
  strategy:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  template:
    metadata:
      labels:
        {{- include "petrosa.selectorLabels" . | nindent 8 }}
        app.kubernetes.io/component: {{ default (include "petrosa.name" .) .Values.component }}
        app.kubernetes.io/part-of: petrosa-data-manager
        {{- with .Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        # Roll the pods when their configuration changes.
        checksum/config: {{ include "petrosa.configmap" . | sha256sum }}
        {{- with .Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "petrosa.serviceAccountName" . }}
      automountServiceAccountToken: {{ $sa.automountServiceAccountToken | default false }}
      {{- with .Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      terminationGracePeriodSeconds: {{ default 30 .Values.terminationGracePeriodSeconds }}
      securityContext:
        {{- toYaml (default (dict "runAsNonRoot" true "runAsUser" 10001 "runAsGroup" 10001 "fsGroup" 10001 "seccompProfile" (dict "type" "RuntimeDefault")) .Values.podSecurityContext) | nindent 8 }}
      containers:
        - name: {{ include "petrosa.name" . }}
          image: {{ include "petrosa.image" . | quote }}
          imagePullPolicy: {{ default "IfNotPresent" $image.pullPolicy }}
          command:
            {{- toYaml (required "command is required (e.g. [petrosa-ingestor])" .Values.command) | nindent 12 }}
          {{- with .Values.args }}
          args:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          ports:
            {{- range (include "petrosa.portList" . | fromYamlArray) }}
            - name: {{ .name }}
              containerPort: {{ .port }}
              protocol: TCP
            {{- end }}
          envFrom:
            - configMapRef:
                name: {{ include "petrosa.configMapName" . }}
            {{- with .Values.extraEnvFrom }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          env:
            # The pod's identity in leader-election leases and logs (CommonSettings.pod_id).
            - name: POD_ID
              valueFrom:
                fieldRef:
                  fieldPath: metadata.name
            - name: POD_NAMESPACE
              valueFrom:
                fieldRef:
                  fieldPath: metadata.namespace
            {{- range $envName, $ref := .Values.secretEnv }}
            {{- if $ref }}
            - name: {{ $envName }}
              valueFrom:
                secretKeyRef:
                  name: {{ default $secretName $ref.secretName }}
                  key: {{ default $envName $ref.key }}
                  optional: {{ default false $ref.optional }}
            {{- end }}
            {{- end }}
            {{- with .Values.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- if (hasKey $probes "enabled" | ternary $probes.enabled true) }}
          startupProbe:
            httpGet:
              path: {{ default "/health/liveness" $probes.livenessPath }}
              port: {{ $probePort }}
            periodSeconds: 5
            timeoutSeconds: 3
            # Up to 5 minutes for start-up work (schema migrations, stream creation).
            failureThreshold: {{ default 60 $probes.startupFailureThreshold }}
          livenessProbe:
            httpGet:
              path: {{ default "/health/liveness" $probes.livenessPath }}
              port: {{ $probePort }}
            periodSeconds: {{ default 10 $probes.periodSeconds }}
            timeoutSeconds: {{ default 3 $probes.timeoutSeconds }}
            failureThreshold: {{ default 3 $probes.livenessFailureThreshold }}
          readinessProbe:
            httpGet:
              path: {{ default "/health/readiness" $probes.readinessPath }}
              port: {{ $probePort }}
            periodSeconds: {{ default 10 $probes.periodSeconds }}
            timeoutSeconds: {{ default 3 $probes.timeoutSeconds }}
            failureThreshold: {{ default 3 $probes.readinessFailureThreshold }}
          {{- end }}
          resources:
            {{- toYaml (default dict .Values.resources) | nindent 12 }}
          securityContext:
            {{- toYaml (default (dict "runAsNonRoot" true "allowPrivilegeEscalation" false "readOnlyRootFilesystem" true "capabilities" (dict "drop" (list "ALL"))) .Values.securityContext) | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- with .Values.extraVolumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: {{ default "64Mi" .Values.tmpSizeLimit }}
        {{- with .Values.extraVolumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- if .Values.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml .Values.topologySpreadConstraints | nindent 8 }}
      {{- else if gt (int (hasKey .Values "replicaCount" | ternary .Values.replicaCount 1)) 1 }}
      # Spread replicas over nodes when the cluster allows it (a lost node must not take the
      # leader and all its followers at once).
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- include "petrosa.selectorLabels" . | nindent 14 }}
      {{- end }}
      {{- with .Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}
