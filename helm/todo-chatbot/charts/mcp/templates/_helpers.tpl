{{/* The MCP server: the task tools an agent (ours, or a desktop MCP client) calls. */}}

{{- define "mcp.fullname" -}}{{ include "common.fullname" . }}{{- end -}}

{{/* The Host headers it answers to (DNS-rebinding protection): its Service's names in every
form the cluster's DNS resolves, loopback for `kubectl port-forward`, the ingress host when
ingress.mcp is on, and any the user adds. */}}
{{- define "mcp.allowedHosts" -}}
{{- $svc := include "common.fullname" . -}}
{{- $ns := .Release.Namespace -}}
{{- $hosts := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns .Values.global.clusterDomain) "localhost" "127.0.0.1" "::1" -}}
{{- if and .Values.global.ingress.enabled .Values.global.ingress.mcp -}}
{{- $hosts = append $hosts .Values.global.ingress.host -}}
{{- end -}}
{{- concat $hosts .Values.allowedHosts | uniq | join "," -}}
{{- end -}}

{{- define "mcp.config" -}}
MCP_ALLOWED_HOSTS: {{ include "mcp.allowedHosts" . | quote }}
MAX_TASKS_PER_USER: {{ .Values.global.limits.tasksPerUser | quote }}
{{- with .Values.allowedOrigins }}
MCP_ALLOWED_ORIGINS: {{ join "," . | quote }}
{{- end }}
{{- end -}}

{{- define "mcp.secretEnv" -}}
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
{{- define "mcp.secretChecksum" -}}
{{- with .Values.global.database.external.url }}{{ . | sha256sum }}{{ end -}}
{{- end -}}
