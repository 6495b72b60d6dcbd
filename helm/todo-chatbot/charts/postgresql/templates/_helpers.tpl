{{/* The in-cluster development database. */}}

{{- define "postgresql.fullname" -}}{{ include "common.fullname" . }}{{- end -}}

{{/* Its credentials: the one Secret that both PostgreSQL and the services read, so the password
and DATABASE_URL can never disagree. */}}
{{- define "postgresql.secretName" -}}{{ include "common.databaseSecretName" . }}{{- end -}}

{{- define "postgresql.password" -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "postgresql.secretName" .) -}}
{{- if .Values.auth.password -}}
{{- .Values.auth.password -}}
{{- else if and $existing $existing.data (hasKey $existing.data "POSTGRES_PASSWORD") -}}
{{- index $existing.data "POSTGRES_PASSWORD" | b64dec -}}
{{- else -}}
{{- randAlphaNum 32 -}}
{{- end -}}
{{- end -}}
