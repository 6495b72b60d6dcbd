{{/* The frontend: serves the web UI and proxies /api to the backend. */}}

{{- define "frontend.fullname" -}}{{ include "common.fullname" . }}{{- end -}}

{{- define "frontend.config" -}}
BACKEND_URL: {{ include "common.serviceUrl" (dict "root" . "component" "backend" "port" 8000) }}
TRUSTED_PROXIES: {{ include "frontend.trustedProxies" . | quote }}
{{- end -}}

{{/* Whose X-Forwarded-For the frontend believes: the ingress controller's pods when the release
has an ingress; nobody otherwise (browsers reach the NodePort directly). */}}
{{- define "frontend.trustedProxies" -}}
{{- if kindIs "slice" .Values.trustedProxies -}}
{{- join "," .Values.trustedProxies -}}
{{- else if .Values.global.ingress.enabled -}}
{{- join "," (.Values.global.ingress.trustedProxies | default .Values.global.podCidrs) -}}
{{- end -}}
{{- end -}}

{{/* No credentials: the frontend passes the user's token through and checks nothing itself. */}}
{{- define "frontend.secretEnv" -}}{{- end -}}
{{- define "frontend.secretChecksum" -}}{{- end -}}
