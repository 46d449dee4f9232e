{{/* The five services and their ports. */}}
{{- define "bp.services" -}}
booking: {port: 8000}
inventory: {port: 8001}
pricing: {port: 8002}
payment: {port: 8003}
notifier: {port: 8004}
{{- end -}}

{{- define "bp.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 50 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "bp.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: booking-platform
{{- end -}}

{{/* Selector labels of one process kind: dict "root" . "service" "booking" "role" "web" */}}
{{- define "bp.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ printf "%s-%s" .service .role }}
{{- end -}}

{{- define "bp.image" -}}
{{- $img := .root.Values.image -}}
{{- $repo := printf "%s/%s" $img.repository .service -}}
{{- if $img.registry }}{{ $repo = printf "%s/%s" $img.registry $repo }}{{ end -}}
{{ printf "%s:%s" $repo (default .root.Chart.AppVersion $img.tag) }}
{{- end -}}

{{- define "bp.secretName" -}}{{ include "bp.fullname" . }}-secrets{{- end -}}

{{/* Pod and container security: Pod Security Standards "restricted". */}}
{{- define "bp.podSecurity" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile: {type: RuntimeDefault}
{{- end -}}
{{- define "bp.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities: {drop: [ALL]}
seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{/* The environment every process of a service gets. dict "root" . "service" "booking" */}}
{{- define "bp.env" -}}
{{- $root := .root -}}
{{- $prefix := upper .service -}}
- name: KAFKA_BOOTSTRAP_SERVERS
  value: {{ $root.Values.kafka.bootstrapServers | quote }}
- name: {{ $prefix }}_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ default (include "bp.secretName" $root) $root.Values.postgres.existingSecret }}
      key: {{ .service }}-database-url
- name: AUTH_JWKS
  valueFrom:
    secretKeyRef:
      name: {{ default (include "bp.secretName" $root) $root.Values.auth.existingSecret }}
      key: jwks
- name: AUTH_ISSUER
  value: {{ $root.Values.auth.issuer | quote }}
- name: AUTH_AUDIENCE
  value: {{ $root.Values.auth.audience | quote }}
- name: {{ $prefix }}_LOG_JSON
  value: "true"
{{- if eq .service "booking" }}
- name: BOOKING_INVENTORY_URL
  value: {{ printf "http://%s-inventory-web:8001" (include "bp.fullname" $root) | quote }}
{{- end }}
{{- if eq .service "payment" }}
- name: PAYMENT_SIM_WEBHOOK_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ default (include "bp.secretName" $root) $root.Values.payment.existingSecret }}
      key: webhook-secret
{{- end }}
{{- if eq .service "notifier" }}
{{- $smtp := $root.Values.notifier.smtp }}
- name: NOTIFIER_SMTP_HOST
  value: {{ $smtp.host | quote }}
- name: NOTIFIER_SMTP_PORT
  value: {{ $smtp.port | quote }}
- name: NOTIFIER_SMTP_SECURITY
  value: {{ $smtp.security | quote }}
- name: NOTIFIER_EMAIL_ENABLED
  value: {{ ternary "true" "false" (ne $smtp.host "") | quote }}
{{- if $smtp.username }}
- name: NOTIFIER_SMTP_USERNAME
  value: {{ $smtp.username | quote }}
- name: NOTIFIER_SMTP_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ default (include "bp.secretName" $root) $smtp.existingSecret }}
      key: smtp-password
{{- end }}
- name: NOTIFIER_EMAIL_FROM
  value: {{ $root.Values.notifier.emailFrom | quote }}
- name: NOTIFIER_WEBHOOK_ALLOWED_NETWORKS
  value: {{ $root.Values.notifier.webhookAllowedNetworks | quote }}
{{- end }}
{{- range $name, $value := (index $root.Values.services .service).env }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}
