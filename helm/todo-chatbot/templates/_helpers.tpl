{{/* The umbrella's own names; the components' are in charts/common. */}}

{{- define "todo-chatbot.labels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: todo-chatbot
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | trunc 63 }}
{{- end -}}

{{- define "todo-chatbot.testName" -}}
{{- printf "%s-smoke-test" .Release.Name | trunc 63 -}}
{{- end -}}

{{- define "todo-chatbot.testImage" -}}
{{- $registry := .Values.global.imageRegistry | default "" -}}
{{- $tag := .Values.tests.image.tag | default .Values.global.image.tag | default .Chart.AppVersion -}}
{{- include "common.refuseLatest" (dict "tag" $tag "chart" "the helm test pod") -}}
{{- if $registry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" $registry) .Values.tests.image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .Values.tests.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/*
Fails the render when a Secret the release reads does not exist, before any pod could start and
wait on it. `lookup` answers only when Helm talks to a cluster (install, upgrade, --dry-run=server);
under `helm template` it answers nothing, and the check is left to the cluster. Whether Helm is
talking to one is told by kube-root-ca.crt, a ConfigMap Kubernetes puts in every namespace (a
namespaced read: it needs no cluster-wide permission).
(dict "root" $ "name" <secret> "key" <key> "value" <the value that names it>)
*/}}
{{- define "todo-chatbot.requireSecret" -}}
{{- $root := .root -}}
{{- if lookup "v1" "ConfigMap" $root.Release.Namespace "kube-root-ca.crt" -}}
{{- $secret := lookup "v1" "Secret" $root.Release.Namespace .name -}}
{{- if not $secret -}}
{{- fail (printf "%s names the Secret %q, which does not exist in namespace %s: create it (kubectl -n %s create secret generic %s --from-literal=%s=...) or unset %s" .value .name $root.Release.Namespace $root.Release.Namespace .name .key .value) -}}
{{- else if not (hasKey ($secret.data | default dict) .key) -}}
{{- fail (printf "the Secret %q (named by %s) has no key %s: add it, or name the key in the values" .name .value .key) -}}
{{- end -}}
{{- end -}}
{{- end -}}
