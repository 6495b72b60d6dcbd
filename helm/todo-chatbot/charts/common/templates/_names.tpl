{{/*
Names and labels shared by every todo-chatbot component.

Every Service is "<release>-<component>" (todo-chatbot-backend for the default release), so one
component can name another without seeing its values: subcharts cannot read each other's.
*/}}

{{/* The name of this chart's objects: "<release>-<chart>". */}}
{{- define "common.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The Service of another component: (dict "root" $ "component" "agent"). */}}
{{- define "common.serviceName" -}}
{{- printf "%s-%s" .root.Release.Name .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* In-cluster URL of another component: (dict "root" $ "component" "agent" "port" 8002). */}}
{{- define "common.serviceUrl" -}}
{{- printf "http://%s:%v" (include "common.serviceName" .) .port -}}
{{- end -}}

{{- define "common.chartLabel" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: stable for the life of a release (a Deployment's selector is immutable). */}}
{{- define "common.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The selector labels of another component: (dict "root" $ "component" "backend"). */}}
{{- define "common.componentSelector" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{- define "common.labels" -}}
{{ include "common.selectorLabels" . }}
app.kubernetes.io/component: {{ .Chart.Name }}
app.kubernetes.io/part-of: todo-chatbot
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "common.chartLabel" . }}
{{- end -}}

{{/*
The image reference: [global.imageRegistry/]<repository>:<tag>. The tag is the component's own,
else global.image.tag (what `cargo xtask deploy` sets to the tag it just built), else the chart's
appVersion; never "latest", which the schema refuses.
*/}}
{{- define "common.image" -}}
{{- $registry := .Values.global.imageRegistry | default "" -}}
{{- $tag := .Values.image.tag | default .Values.global.image.tag | default .Chart.AppVersion -}}
{{- include "common.refuseLatest" (dict "tag" $tag "chart" .Chart.Name) -}}
{{- if $registry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" $registry) .Values.image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/*
A third-party image (PostgreSQL): [image.registry/]<repository>:<tag>, its own tag. It never takes
global.imageRegistry, which names where `cargo xtask deploy --registry` pushes the project's own
images: nothing pushes PostgreSQL there, so a prefixed reference could never be pulled.
*/}}
{{- define "common.thirdPartyImage" -}}
{{- $registry := .Values.image.registry | default "" -}}
{{- $tag := .Values.image.tag -}}
{{- include "common.refuseLatest" (dict "tag" $tag "chart" .Chart.Name) -}}
{{- if $registry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" $registry) .Values.image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "common.pullPolicy" -}}
{{- .Values.image.pullPolicy | default .Values.global.image.pullPolicy | default "IfNotPresent" -}}
{{- end -}}

{{/* The Secret holding BETTER_AUTH_SECRET: the user's, or the one the umbrella generates. */}}
{{- define "common.authSecretName" -}}
{{- .Values.global.auth.existingSecret | default (printf "%s-auth" .Release.Name) -}}
{{- end -}}

{{/*
The Secret holding DATABASE_URL: the user's (global.database.existingSecret), or the one the
umbrella renders (from global.database.external.url, or for the in-cluster PostgreSQL).
*/}}
{{- define "common.databaseSecretName" -}}
{{- .Values.global.database.existingSecret | default (printf "%s-database" .Release.Name) -}}
{{- end -}}

{{- define "common.databaseSecretKey" -}}
{{- .Values.global.database.existingSecretKey | default "DATABASE_URL" -}}
{{- end -}}

{{/* True ("true") when the release runs its own PostgreSQL rather than an external one. */}}
{{- define "common.inClusterDatabase" -}}
{{- if not (or .Values.global.database.external.url .Values.global.database.existingSecret) -}}true{{- end -}}
{{- end -}}

{{/* "latest" names no build in particular: Kubernetes would never know to roll the pods, and
Minikube's image load cannot replace an image a container still uses. */}}
{{- define "common.refuseLatest" -}}
{{- if eq .tag "latest" -}}
{{- fail (printf "the image tag of %s is \"latest\": give the tag of one build (cargo xtask images prints it; cargo xtask deploy sets it)" .chart) -}}
{{- end -}}
{{- end -}}
