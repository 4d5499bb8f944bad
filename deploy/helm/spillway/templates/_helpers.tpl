{{- define "spillway.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "spillway.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "spillway.labels" -}}
app.kubernetes.io/name: {{ include "spillway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "spillway.controlSelector" -}}
app.kubernetes.io/name: {{ include "spillway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: control
{{- end -}}

{{- define "spillway.gatewaySelector" -}}
app.kubernetes.io/name: {{ include "spillway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gateway
{{- end -}}

{{- define "spillway.redisSelector" -}}
app.kubernetes.io/name: {{ include "spillway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: redis
{{- end -}}

{{/* The Secret holding the keys mounted at /etc/spillway/secrets. */}}
{{- define "spillway.keysSecret" -}}
{{- .Values.existingSecret | default (printf "%s-keys" (include "spillway.fullname" .)) -}}
{{- end -}}

{{/* Whether the state is in Redis, and the Secret and key of its password. */}}
{{- define "spillway.redisEnabled" -}}
{{- if or .Values.redis.bundled.enabled .Values.redis.external.address -}}true{{- end -}}
{{- end -}}

{{- define "spillway.redisPasswordSecret" -}}
{{- if .Values.redis.bundled.enabled -}}
{{- .Values.redis.bundled.existingSecret | default (printf "%s-redis" (include "spillway.fullname" .)) -}}
{{- else -}}
{{- .Values.redis.external.passwordSecret.name -}}
{{- end -}}
{{- end -}}

{{- define "spillway.redisPasswordKey" -}}
{{- if .Values.redis.bundled.enabled -}}password{{- else -}}{{ .Values.redis.external.passwordSecret.key | default "password" }}{{- end -}}
{{- end -}}

{{/* The gateway config: the user's, with the addresses and state the pod needs. */}}
{{- define "spillway.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) -}}
{{- $gateway := get $cfg "gateway" | default dict -}}
{{- $_ := set $gateway "listen" (printf "0.0.0.0:%d" (int .Values.gatewayPort)) -}}
{{- $_ := set $cfg "gateway" $gateway -}}
{{- $control := get $cfg "control" | default dict -}}
{{- $_ := set $control "grpc_listen" "0.0.0.0:18000" -}}
{{- $_ := set $control "admin_listen" (printf "0.0.0.0:%d" (int .Values.adminPort)) -}}
{{- $_ := set $control "node_id" .Values.nodeId -}}
{{- $_ := set $cfg "control" $control -}}
{{- $state := dict "replicas" (int .Values.replicaCount) -}}
{{- if include "spillway.redisEnabled" . -}}
{{- $redis := dict "key_prefix" .Values.redis.keyPrefix -}}
{{- if .Values.redis.bundled.enabled -}}
{{- $_ := set $redis "address" (printf "%s-redis:6379" (include "spillway.fullname" .)) -}}
{{- else -}}
{{- $_ := set $redis "address" .Values.redis.external.address -}}
{{- if .Values.redis.external.username }}{{ $_ := set $redis "username" .Values.redis.external.username }}{{ end -}}
{{- if .Values.redis.external.tls }}{{ $_ := set $redis "tls" true }}{{ end -}}
{{- end -}}
{{- if include "spillway.redisPasswordSecret" . -}}
{{- $_ := set $redis "password" (dict "env" "SPILLWAY_REDIS_PASSWORD") -}}
{{- end -}}
{{- $_ := set $state "store" "redis" -}}
{{- $_ := set $state "redis" $redis -}}
{{- else -}}
{{- if gt (int .Values.replicaCount) 1 -}}
{{- fail "replicaCount > 1 needs shared state: set redis.bundled.enabled=true or redis.external.address" -}}
{{- end -}}
{{- $_ := set $state "store" "memory" -}}
{{- end -}}
{{- $_ := set $cfg "state" $state -}}
{{- toYaml $cfg -}}
{{- end -}}

{{- define "spillway.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{- define "spillway.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities: {drop: [ALL]}
{{- end -}}
