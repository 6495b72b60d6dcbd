{{/* The agent: the model's tool-calling loop over the MCP server's tools. */}}

{{- define "agent.fullname" -}}{{ include "common.fullname" . }}{{- end -}}

{{- define "agent.openaiSecretName" -}}
{{- .Values.openai.existingSecret | default (printf "%s-openai" (include "common.fullname" .)) -}}
{{- end -}}

{{- define "agent.hasOpenaiKey" -}}
{{- if or .Values.openai.existingSecret .Values.openai.apiKey -}}true{{- end -}}
{{- end -}}

{{- define "agent.config" -}}
MCP_URL: {{ printf "%s/mcp" (include "common.serviceUrl" (dict "root" . "component" "mcp" "port" 8001)) }}
LLM_PROVIDER: {{ .Values.llm.provider }}
LLM_MODEL: {{ .Values.llm.model }}
{{- with .Values.llm.baseUrl }}
OPENAI_BASE_URL: {{ . }}
{{- end }}
{{- end -}}

{{/* The agent checks the user's token before it acts for them; the model key is optional. */}}
{{- define "agent.secretEnv" -}}
- name: BETTER_AUTH_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "common.authSecretName" . }}
      key: BETTER_AUTH_SECRET
{{- if include "agent.hasOpenaiKey" . }}
- name: OPENAI_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "agent.openaiSecretName" . }}
      key: {{ .Values.openai.existingSecretKey }}
{{- end }}
{{- end -}}

{{- define "agent.secretChecksum" -}}
{{- if and .Values.openai.apiKey (not .Values.openai.existingSecret) -}}
{{- .Values.openai.apiKey | sha256sum -}}
{{- end -}}
{{- end -}}

