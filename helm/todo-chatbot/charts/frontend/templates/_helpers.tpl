{{/* The frontend: serves the web UI and proxies /api to the backend. */}}

{{- define "frontend.fullname" -}}{{ include "common.fullname" . }}{{- end -}}

{{- define "frontend.config" -}}
BACKEND_URL: {{ include "common.serviceUrl" (dict "root" . "component" "backend" "port" 8000) }}
{{- end -}}

{{/* No credentials: the frontend passes the user's token through and checks nothing itself. */}}
{{- define "frontend.secretEnv" -}}{{- end -}}
{{- define "frontend.secretChecksum" -}}{{- end -}}
