{{/* Names and labels shared by every template. */}}

{{- define "catalog.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "catalog.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "catalog.selectorLabels" -}}
app.kubernetes.io/name: {{ include "catalog.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "catalog.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "catalog.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "catalog.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "catalog.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "catalog.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The environment lives twice. The release's own ConfigMap and Secret (`<fullname>-env`) are
regular resources: pods read them and `helm uninstall` deletes them. The migration Job runs
as a pre-install hook, before any regular resource exists, so it reads a copy made as a hook
of a lower weight and deleted once the hooks succeed. The copy keeps the name the chart's
earlier versions gave their (hook-only) ConfigMap and Secret, so an upgrade replaces those
instead of leaving them behind. (dict "root" . "hook" true|false): the name of the
ConfigMap or chart-made Secret. */}}
{{- define "catalog.envObjectName" -}}
{{- if .hook -}}
{{- include "catalog.fullname" .root -}}
{{- else -}}
{{- printf "%s-env" (include "catalog.fullname" .root) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Which of the two to render: the hook copy only when there is a migration Job to read it. */}}
{{- define "catalog.envCopies" -}}
{{- if .Values.migrations.enabled -}}[false, true]{{- else -}}[false]{{- end -}}
{{- end -}}

{{/* (dict "root" . "hook" true|false): the metadata of the ConfigMap or chart-made Secret;
the hook copy exists before the Job (a lower weight) and goes once the hooks succeed. */}}
{{- define "catalog.envMetadata" -}}
name: {{ include "catalog.envObjectName" . }}
labels:
  {{- include "catalog.labels" .root | nindent 2 }}
{{- if .hook }}
annotations:
  helm.sh/hook: pre-install,pre-upgrade
  helm.sh/hook-weight: "-10"
  helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
{{- end }}
{{- end -}}

{{/* (dict "root" . "hook" true|false): the environment every catalog container gets: the
ConfigMap, the Secret (the operator's existing one, or the chart's), and what the chart
itself decides (workers, the tokens file, where the index and metrics files go). */}}
{{- define "catalog.envFrom" -}}
{{- $values := .root.Values -}}
- configMapRef:
    name: {{ include "catalog.envObjectName" . }}
{{- if $values.secret.existingSecret }}
- secretRef:
    name: {{ $values.secret.existingSecret }}
{{- else if $values.secret.values }}
- secretRef:
    name: {{ include "catalog.envObjectName" . }}
{{- end }}
{{- end -}}

{{- define "catalog.pod.securityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "catalog.container.securityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* Writable places on a read-only root filesystem. */}}
{{- define "catalog.volumeMounts" -}}
- name: data
  mountPath: /var/lib/catalog
- name: tmp
  mountPath: /tmp
{{- if .Values.authTokens.existingSecret }}
- name: tokens
  mountPath: /etc/catalog/tokens
  readOnly: true
{{- end }}
{{- end -}}

{{- define "catalog.volumes" -}}
- name: data
  emptyDir:
    sizeLimit: {{ .Values.searchIndex.sizeLimit }}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
{{- if .Values.authTokens.existingSecret }}
- name: tokens
  secret:
    secretName: {{ .Values.authTokens.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .Values.authTokens.key }}
        path: tokens
{{- end }}
{{- end -}}
