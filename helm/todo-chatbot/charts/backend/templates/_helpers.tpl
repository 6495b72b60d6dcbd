{{/* The backend: accounts, tokens, the task REST API and the chat endpoint. */}}

{{- define "backend.fullname" -}}{{ include "common.fullname" . }}{{- end -}}

{{- define "backend.config" -}}
AGENT_URL: {{ include "common.serviceUrl" (dict "root" . "component" "agent" "port" 8002) }}
AGENT_TIMEOUT_SECS: {{ .Values.agentTimeoutSeconds | quote }}
{{- end -}}

{{- define "backend.secretEnv" -}}
- name: BETTER_AUTH_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "common.authSecretName" . }}
      key: BETTER_AUTH_SECRET
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "common.databaseSecretName" . }}
      key: {{ include "common.databaseSecretKey" . }}
{{- end -}}
{{/* The database URL, when the release keeps it (global.database.external.url): a new URL
changes no pod template by itself, so its checksum rolls the pods. */}}
{{- define "backend.secretChecksum" -}}
{{- with .Values.global.database.external.url }}{{ . | sha256sum }}{{ end -}}
{{- end -}}
