{{/* The backend: accounts, tokens, the task REST API and the chat endpoint. */}}

{{- define "backend.fullname" -}}{{ include "common.fullname" . }}{{- end -}}

{{- define "backend.config" -}}
AGENT_URL: {{ include "common.serviceUrl" (dict "root" . "component" "agent" "port" 8002) }}
AGENT_TIMEOUT_SECS: {{ .Values.agentTimeoutSeconds | quote }}
AUTH_SIGN_IN_PER_MINUTE: {{ .Values.signInPerMinute | quote }}
AUTH_SIGN_UP_PER_HOUR: {{ .Values.signUpPerHour | quote }}
TRUSTED_PROXIES: {{ include "backend.trustedProxies" . | quote }}
WRITES_PER_MINUTE: {{ .Values.writesPerMinute | quote }}
CHATS_PER_MINUTE: {{ .Values.chatsPerMinute | quote }}
MAX_TASKS_PER_USER: {{ .Values.global.limits.tasksPerUser | quote }}
MAX_CONVERSATIONS_PER_USER: {{ .Values.global.limits.conversationsPerUser | quote }}
{{- end -}}

{{/* Requests reach the backend through the frontend, which sets X-Forwarded-For to the one
client address it decided on: the backend trusts the frontend's pods, on the pod network. */}}
{{- define "backend.trustedProxies" -}}
{{- join "," (.Values.trustedProxies | default .Values.global.podCidrs) -}}
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
