{{/* Names and labels shared by every object of the release. */}}

{{- define "chatglm.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "chatglm.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: chatglm-cluster
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: pass (dict "root" $ "component" "gateway"). */}}
{{- define "chatglm.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "chatglm.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The StatefulSet (and headless Service) of stage i: pass (dict "root" $ "stage" i). */}}
{{- define "chatglm.stageName" -}}
{{ include "chatglm.fullname" .root }}-stage-{{ .stage }}
{{- end -}}

{{/* Where the checkpoint is mounted, and its folder there. */}}
{{- define "chatglm.modelDir" -}}
/model{{ with .Values.model.subPath }}/{{ . }}{{ end }}
{{- end -}}

{{- define "chatglm.modelVolume" -}}
- name: model
{{- if .Values.model.existingClaim }}
  persistentVolumeClaim:
    claimName: {{ .Values.model.existingClaim }}
    readOnly: true
{{- else }}
  hostPath:
    path: {{ .Values.model.hostPath }}
    type: Directory
{{- end }}
{{- end -}}

{{/*
REDIS_URL (and REDIS_PASSWORD before it, which Kubernetes substitutes into the URL) for the gateway
and the heads: the bundled Redis's Service, or the external URL.
*/}}
{{- define "chatglm.redisEnv" -}}
{{- $url := .Values.redis.bundled | ternary (printf "redis://%s-redis:6379" (include "chatglm.fullname" .)) .Values.redis.external.url -}}
{{- if .Values.redis.passwordSecret.name }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.passwordSecret.name }}
      key: {{ .Values.redis.passwordSecret.key }}
- name: REDIS_URL
  value: {{ regexReplaceAll "^(rediss?://)" $url "${1}:$$(REDIS_PASSWORD)@" | quote }}
{{- else }}
- name: REDIS_URL
  value: {{ $url | quote }}
{{- end }}
{{- end -}}

{{/* The conversion flags of the init step, from model.*. */}}
{{- define "chatglm.convertFlags" -}}
{{- with .Values.model.quantize }}
- --quantize={{ . }}
{{- end }}
{{- with .Values.model.quantizeEmbedding }}
- --quantize-embedding={{ . }}
{{- end }}
{{- with .Values.model.dtype }}
- --dtype={{ . }}
{{- end }}
{{- with .Values.model.kvCache }}
- --kv-cache={{ . }}
{{- end }}
{{- with .Values.model.prefillChunkLayers }}
- --prefill-chunk-layers={{ . }}
{{- end }}
{{- if eq .Values.device "webgpu" }}
{{- /* Bundles for webgpu stages: their graphs keep the KV cache on the GPU. */}}
- --device=webgpu
{{- end }}
{{- end -}}
