{{/*
Helpers of the argo-events-rs chart. Labels are the install manifests' own (no helm.sh/chart,
no app.kubernetes.io/managed-by), so the default render is manifests/install.yaml.
*/}}

{{/* The namespace of the chart's namespaced objects. */}}
{{- define "argo-events.namespace" -}}
{{- .Values.namespaceOverride | default .Release.Namespace -}}
{{- end -}}

{{/* The namespace the controller manages: its Role, RoleBinding and the EventBus go there in
namespaced mode. */}}
{{- define "argo-events.managedNamespace" -}}
{{- if and .Values.controller.rbac.namespaced .Values.controller.rbac.managedNamespace -}}
{{- .Values.controller.rbac.managedNamespace -}}
{{- else -}}
{{- include "argo-events.namespace" . -}}
{{- end -}}
{{- end -}}

{{/* Whether the webhook is rendered: enabled, and a cluster-wide install. */}}
{{- define "argo-events.webhook.enabled" -}}
{{- if and .Values.webhook.enabled (not .Values.controller.rbac.namespaced) -}}true{{- end -}}
{{- end -}}

{{/* labels DICT: the labels block of an object with these base labels and
global.additionalLabels; nothing when both are empty. Call with (dict "ctx" $ "labels" (dict ...)). */}}
{{- define "argo-events.labels" -}}
{{- $labels := merge (deepCopy (.labels | default dict)) (deepCopy (.ctx.Values.global.additionalLabels | default dict)) -}}
{{- with $labels }}
labels:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The controller's labels and selector. */}}
{{- define "argo-events.controller.labels" -}}
app.kubernetes.io/name: controller-manager
app.kubernetes.io/part-of: argo-events-rs
{{- end -}}
{{- define "argo-events.controller.selectorLabels" -}}
app.kubernetes.io/name: controller-manager
{{- end -}}

{{/* The webhook's labels (also its selector). */}}
{{- define "argo-events.webhook.labels" -}}
app.kubernetes.io/name: argo-events-webhook
{{- end -}}

{{/* ServiceAccount names. */}}
{{- define "argo-events.controller.serviceAccountName" -}}
{{- .Values.controller.serviceAccount.name | default "argo-events-controller" -}}
{{- end -}}
{{- define "argo-events.webhook.serviceAccountName" -}}
{{- .Values.webhook.serviceAccount.name | default "argo-events-webhook-sa" -}}
{{- end -}}

{{/* image (dict "ctx" $ "image" .Values.<component>.image): REPOSITORY:TAG, the component's
values over global.image; an empty tag is the chart's appVersion. */}}
{{- define "argo-events.image" -}}
{{- $global := .ctx.Values.global.image -}}
{{- $repository := .image.repository | default $global.repository -}}
{{- $tag := .image.tag | default $global.tag | default .ctx.Chart.AppVersion -}}
{{- printf "%s:%s" $repository (toString $tag) -}}
{{- end -}}

{{/* imagePullPolicy line of a container, when one is set. */}}
{{- define "argo-events.imagePullPolicy" -}}
{{- with (.image.imagePullPolicy | default .ctx.Values.global.image.imagePullPolicy) }}
imagePullPolicy: {{ . }}
{{- end }}
{{- end -}}

{{/* podSecurityContext (dict "ctx" $ "component" .Values.<component>): the component's
podSecurityContext over global.securityContext. */}}
{{- define "argo-events.podSecurityContext" -}}
{{- merge (deepCopy (.component.podSecurityContext | default dict)) (deepCopy (.ctx.Values.global.securityContext | default dict)) | toYaml -}}
{{- end -}}

{{/* Pod metadata (dict "ctx" $ "component" .Values.<component> "labels" BASE_LABELS_YAML):
labels (the base ones, then global.podLabels and the component's podLabels where they add a key)
and annotations (the component's over global.podAnnotations). */}}
{{- define "argo-events.podMetadata" -}}
{{- $annotations := merge (deepCopy (.component.podAnnotations | default dict)) (deepCopy (.ctx.Values.global.podAnnotations | default dict)) -}}
{{- with $annotations -}}
annotations:
  {{- toYaml . | nindent 2 }}
{{ end -}}
labels:
  {{- merge (fromYaml .labels) (deepCopy (.component.podLabels | default dict)) (deepCopy (.ctx.Values.global.podLabels | default dict)) | toYaml | nindent 2 }}
{{- end -}}

{{/* The scheduling fields of a pod spec (dict "component" .Values.<component>). */}}
{{- define "argo-events.scheduling" -}}
{{- with .component.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .component.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .component.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .component.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .component.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* A scalar as YAML text: whole numbers without an exponent (values arrive as float64, which
would print 1000000 as 1e+06). */}}
{{- define "argo-events.scalar" -}}
{{- if and (kindIs "float64" .) (eq (float64 (int64 .)) .) -}}
{{- int64 . -}}
{{- else -}}
{{- . -}}
{{- end -}}
{{- end -}}

{{/* serviceMonitor (dict "ctx" $ "metrics" .Values.<component>.metrics "name" SERVICE "values"
"<component>.metrics" "labels" BASE_LABELS): a Prometheus Operator ServiceMonitor scraping the
metrics Service's port metrics at /metrics. */}}
{{- define "argo-events.serviceMonitor" -}}
{{- $m := .metrics }}
{{- if $m.serviceMonitor.enabled }}
{{- if not $m.enabled }}
{{- fail (printf "%s.serviceMonitor.enabled needs %s.enabled (the Service it scrapes)" .values .values) }}
{{- end }}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ .name }}
  namespace: {{ $m.serviceMonitor.namespace | default (include "argo-events.namespace" .ctx) }}
  {{- with (include "argo-events.labels" (dict "ctx" .ctx "labels" (merge (deepCopy .labels) (deepCopy ($m.serviceMonitor.additionalLabels | default dict)))) | trim) }}{{ . | nindent 2 }}{{ end }}
spec:
  namespaceSelector:
    matchNames:
      - {{ include "argo-events.namespace" .ctx }}
  selector:
    matchLabels:
      {{- toYaml (merge (deepCopy .labels) (dict "app.kubernetes.io/component" "metrics")) | nindent 6 }}
  endpoints:
    - port: metrics
      path: /metrics
      {{- with $m.serviceMonitor.interval }}
      interval: {{ . }}
      {{- end }}
      {{- with $m.serviceMonitor.relabelings }}
      relabelings:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $m.serviceMonitor.metricRelabelings }}
      metricRelabelings:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}
{{- end -}}
