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

{{- define "catalog.secretName" -}}
{{- default (include "catalog.fullname" .) .Values.secret.existingSecret -}}
{{- end -}}

{{/* The ConfigMap and Secret are pre-install/pre-upgrade hooks too, created before the
migration Job that reads them (regular resources would only exist after the hooks ran). */}}
{{- define "catalog.configHook" -}}
helm.sh/hook: pre-install,pre-upgrade
helm.sh/hook-weight: "-10"
helm.sh/hook-delete-policy: before-hook-creation
{{- end -}}

{{/* The environment every catalog container gets: the ConfigMap, the Secret, and what the
chart itself decides (workers, the tokens file, where the index and metrics files go). */}}
{{- define "catalog.envFrom" -}}
- configMapRef:
    name: {{ include "catalog.fullname" . }}
{{- if or .Values.secret.existingSecret .Values.secret.values }}
- secretRef:
    name: {{ include "catalog.secretName" . }}
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
