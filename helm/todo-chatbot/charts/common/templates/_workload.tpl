{{/*
The objects every service subchart renders the same way. Each takes the subchart's own context
(`.`), whose values follow one shape (see any service subchart's values.yaml). A subchart adds
what is its own through two templates it defines:
  "<chart>.config"     the non-secret environment (a YAML map), merged into its ConfigMap;
  "<chart>.secretEnv"  `env` entries read from Secrets (a YAML list, possibly empty).
*/}}

{{/* Probes: the plan's liveness (30 s delay, every 10 s) and readiness (every 5 s) on the
services' own endpoints, behind a startup probe that polls every second, so a pod that is ready
in milliseconds is marked ready without waiting out a fixed delay. */}}
{{- define "common.probes" -}}
startupProbe:
  httpGet:
    path: /readyz
    port: http
  periodSeconds: {{ .Values.probes.startup.periodSeconds }}
  failureThreshold: {{ .Values.probes.startup.failureThreshold }}
  timeoutSeconds: 2
livenessProbe:
  httpGet:
    path: /healthz
    port: http
  initialDelaySeconds: {{ .Values.probes.liveness.initialDelaySeconds }}
  periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
  timeoutSeconds: 2
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: http
  initialDelaySeconds: {{ .Values.probes.readiness.initialDelaySeconds }}
  periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
  timeoutSeconds: 2
  failureThreshold: 2
{{- end -}}

{{- define "common.configmap" -}}
{{- $base := dict "PORT" (toString .Values.port) "BIND_ADDR" "0.0.0.0" "LOG_FORMAT" .Values.logFormat "RUST_LOG" .Values.logLevel -}}
{{- with .Values.metricsPort }}{{ $_ := set $base "METRICS_PORT" (toString .) }}{{ end -}}
{{- $own := include (printf "%s.config" .Chart.Name) . | fromYaml -}}
{{- $extra := .Values.extraEnv | default dict -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "common.fullname" . }}
  namespace: {{ .Release.Namespace | quote }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
data:
  {{- range $key, $value := mergeOverwrite $base $own $extra }}
  {{ $key }}: {{ $value | toString | quote }}
  {{- end }}
{{- end -}}

{{- define "common.deployment" -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "common.fullname" . }}
  namespace: {{ .Release.Namespace | quote }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
  annotations:
    {{- include "common.checkovSkips" . | nindent 4 }}
spec:
  {{- /* The autoscaler owns the replica count when it is on: a `replicas` field here would
  reset it on every upgrade. */}}
  {{- if not .Values.autoscaling.enabled }}
  replicas: {{ .Values.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 3
  strategy:
    type: RollingUpdate
    rollingUpdate:
      # One new pod at a time, and none of the old removed before it is ready.
      maxSurge: 1
      maxUnavailable: 0
  selector:
    matchLabels:
      {{- include "common.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "common.labels" . | nindent 8 }}
      annotations:
        # Roll the pods when their configuration changes.
        checksum/config: {{ include "common.configmap" . | sha256sum }}
        {{- with include (printf "%s.secretChecksum" .Chart.Name) . }}
        checksum/secret: {{ . }}
        {{- end }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ .Values.metricsPort | default .Values.port | quote }}
        prometheus.io/path: /metrics
        {{- with .Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "common.fullname" . }}
      automountServiceAccountToken: false
      # The services find each other by DNS; Docker-link style variables would only add noise.
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
      securityContext:
        {{- include "common.podSecurityContext" . | nindent 8 }}
      {{- /* Replicas prefer different nodes, so losing one node loses no service; on a single
      node (Minikube) they still schedule. */}}
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: {{ .Values.topologySpread.whenUnsatisfiable }}
          labelSelector:
            matchLabels:
              {{- include "common.selectorLabels" . | nindent 14 }}
      {{- with .Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.global.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .Chart.Name }}
          image: {{ include "common.image" . | quote }}
          imagePullPolicy: {{ include "common.pullPolicy" . }}
          ports:
            - name: http
              containerPort: {{ .Values.port }}
              protocol: TCP
            {{- with .Values.metricsPort }}
            - name: metrics
              containerPort: {{ . }}
              protocol: TCP
            {{- end }}
          envFrom:
            - configMapRef:
                name: {{ include "common.fullname" . }}
          {{- with include (printf "%s.secretEnv" .Chart.Name) . | trim }}
          env:
            {{- . | nindent 12 }}
          {{- end }}
          {{- include "common.probes" . | nindent 10 }}
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
          securityContext:
            {{- include "common.containerSecurityContext" . | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        # The root filesystem is read-only; a small scratch directory is the only writable place.
        - name: tmp
          emptyDir:
            medium: Memory
            sizeLimit: 16Mi
{{- end -}}

{{- define "common.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "common.fullname" . }}
  namespace: {{ .Release.Namespace | quote }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
spec:
  {{- $type := include "common.serviceType" . }}
  type: {{ $type }}
  {{- if and (has $type (list "NodePort" "LoadBalancer")) .Values.service.externalTrafficPolicy }}
  externalTrafficPolicy: {{ .Values.service.externalTrafficPolicy }}
  {{- end }}
  {{- with .Values.service.sessionAffinity }}
  sessionAffinity: {{ . }}
  {{- end }}
  selector:
    {{- include "common.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ .Values.service.port }}
      targetPort: http
      protocol: TCP
      {{- if and (eq $type "NodePort") .Values.service.nodePort }}
      nodePort: {{ .Values.service.nodePort }}
      {{- end }}
{{- end -}}

{{/* The Service's type: the value, or, left empty (the frontend's), NodePort unless the release
has an ingress, which is then the only way in (a NodePort beside it would let clients around the
proxy whose X-Forwarded-For the frontend trusts). */}}
{{- define "common.serviceType" -}}
{{- .Values.service.type | default (ternary "ClusterIP" "NodePort" (.Values.global.ingress.enabled | default false)) -}}
{{- end -}}

{{- define "common.serviceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "common.fullname" . }}
  namespace: {{ .Release.Namespace | quote }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
# The services never call the Kubernetes API.
automountServiceAccountToken: false
{{- end -}}

{{- define "common.pdb" -}}
{{- if .Values.podDisruptionBudget.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "common.fullname" . }}
  namespace: {{ .Release.Namespace | quote }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
spec:
  # maxUnavailable, not minAvailable: with one replica a drain may still evict it (minAvailable 1
  # would block every node drain forever); with three, two keep serving.
  maxUnavailable: {{ .Values.podDisruptionBudget.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "common.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}

{{- define "common.hpa" -}}
{{- if .Values.autoscaling.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "common.fullname" . }}
  namespace: {{ .Release.Namespace | quote }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "common.fullname" . }}
  minReplicas: {{ .Values.autoscaling.minReplicas }}
  maxReplicas: {{ .Values.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .Values.autoscaling.targetCPUUtilizationPercentage }}
{{- end }}
{{- end -}}

{{/*
A NetworkPolicy for one component: (dict "root" $ "from" (list "frontend") "to" (list (dict
"component" "agent" "port" 8002)) "egress" <extra egress rules as YAML> "ingress" <extra ingress
rules as YAML>). Traffic the policy does not list is denied once the cluster enforces policies.
*/}}
{{- define "common.networkPolicy" -}}
{{- $root := .root -}}
{{- if $root.Values.networkPolicy.enabled }}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "common.fullname" $root }}
  namespace: {{ $root.Release.Namespace | quote }}
  labels:
    {{- include "common.labels" $root | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "common.selectorLabels" $root | nindent 6 }}
  policyTypes: [Ingress, Egress]
  ingress:
    {{- if .from }}
    - from:
        {{- range .from }}
        - podSelector:
            matchLabels:
              {{- include "common.componentSelector" (dict "root" $root "component" .) | nindent 14 }}
        {{- end }}
      ports:
        - port: {{ $root.Values.port }}
          protocol: TCP
    {{- end }}
    {{- with .ingress }}
    {{- . | nindent 4 }}
    {{- end }}
    {{- with $root.Values.networkPolicy.extraIngress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  egress:
    # DNS, to the cluster's resolver only.
    - to:
        - namespaceSelector:
            matchLabels:
              kubernetes.io/metadata.name: kube-system
          podSelector:
            matchLabels:
              k8s-app: kube-dns
      ports:
        - port: 53
          protocol: UDP
        - port: 53
          protocol: TCP
    {{- range .to }}
    - to:
        - podSelector:
            matchLabels:
              {{- include "common.componentSelector" (dict "root" $root "component" .component) | nindent 14 }}
      ports:
        - port: {{ .port }}
          protocol: TCP
    {{- end }}
    {{- with .egress }}
    {{- . | nindent 4 }}
    {{- end }}
    {{- with $root.Values.networkPolicy.extraEgress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}
{{- end -}}

{{/* Egress to the database: the in-cluster PostgreSQL's pods, or any address on the external
database's port (its address is the user's, and may change). */}}
{{- define "common.databaseEgress" -}}
{{- if include "common.inClusterDatabase" . -}}
- to:
    - podSelector:
        matchLabels:
          {{- include "common.componentSelector" (dict "root" . "component" "postgresql") | nindent 10 }}
  ports:
    - port: 5432
      protocol: TCP
{{- else -}}
- ports:
    - port: {{ .Values.global.database.external.port | default 5432 }}
      protocol: TCP
{{- end -}}
{{- end -}}
