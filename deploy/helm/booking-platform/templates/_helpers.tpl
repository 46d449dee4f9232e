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

{{/* Generated from the code (make chart-data): topics, what each worker consumes, API routes. */}}
{{- define "bp.platform" -}}{{ .Files.Get "files/platform.yaml" }}{{- end -}}

{{/* Ports of a Kafka bootstrap list "a:9092,b:9093" (for NetworkPolicy egress). */}}
{{- define "bp.kafkaPorts" -}}
{{- $ports := dict -}}
{{- range $hp := splitList "," .Values.kafka.bootstrapServers -}}
{{- $_ := set $ports (last (splitList ":" (trim $hp))) true -}}
{{- end -}}
{{ keys $ports | sortAlpha | toJson }}
{{- end -}}

{{/* The port of the OTLP endpoint (for NetworkPolicy egress): the URL's, or the scheme's. */}}
{{- define "bp.otlpPort" -}}
{{- with .Values.tracing.otlpEndpoint -}}
{{- $url := urlParse . -}}
{{- $hostPort := splitList ":" $url.host -}}
{{- if gt (len $hostPort) 1 }}{{ last $hostPort }}{{ else }}{{ ternary "443" "80" (eq $url.scheme "https") }}{{ end -}}
{{- end -}}
{{- end -}}

{{/* The database URLs the chart makes when no existingSecret is given (stringData lines):
  the services' (dict "root" . ) and, for the migrate Jobs' hook Secret only, the owners' too
  (dict "root" . "owners" true). */}}
{{- define "bp.databaseUrls" -}}
{{- $root := .root -}}
{{- $owners := .owners -}}
{{- range $service, $c := $root.Values.postgres.credentials }}
{{ $service }}-database-url: {{ printf "postgresql://%s:%s@%s:%v/%s?sslmode=%s" $c.username (urlquery $c.password) $root.Values.postgres.host $root.Values.postgres.port $c.database $root.Values.postgres.sslmode | quote }}
{{- if and $owners $c.ownerUsername }}
{{- with $c.ownerUsername }}
{{ $service }}-migrations-database-url: {{ printf "postgresql://%s:%s@%s:%v/%s?sslmode=%s" . (urlquery ($c.ownerPassword | default "")) $root.Values.postgres.host $root.Values.postgres.port $c.database $root.Values.postgres.sslmode | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* How a pod reaches Kafka as one principal: env entries. dict "root" . "principal" "booking" */}}
{{- define "bp.kafkaEnv" -}}
{{- $k := .root.Values.kafka -}}
{{- $p := index $k.principals .principal -}}
- name: KAFKA_SECURITY_PROTOCOL
  value: {{ $k.securityProtocol | quote }}
{{- if hasPrefix "SASL_" $k.securityProtocol }}
{{- if not $p.secret }}
{{- fail (printf "kafka.principals.%s.secret: %s needs the principal's password from a Secret" .principal $k.securityProtocol) }}
{{- end }}
- name: KAFKA_SASL_MECHANISM
  value: {{ $k.saslMechanism | quote }}
{{- if eq $k.saslMechanism "OAUTHBEARER" }}
{{- if not $k.oauth.tokenUrl }}
{{- fail "kafka.oauth.tokenUrl: OAUTHBEARER needs the identity provider's token endpoint" }}
{{- end }}
- name: KAFKA_OAUTH_TOKEN_URL
  value: {{ $k.oauth.tokenUrl | quote }}
- name: KAFKA_OAUTH_SCOPE
  value: {{ $k.oauth.scope | quote }}
- name: KAFKA_OAUTH_CLIENT_ID
  value: {{ $p.username | quote }}
- name: KAFKA_OAUTH_CLIENT_SECRET
{{- else }}
- name: KAFKA_SASL_USERNAME
  value: {{ $p.username | quote }}
- name: KAFKA_SASL_PASSWORD
{{- end }}
  valueFrom:
    secretKeyRef:
      name: {{ $p.secret | quote }}
      key: {{ $p.passwordKey | quote }}
{{- end }}
{{- if $k.caSecret }}
- name: KAFKA_SSL_CA_FILE
  value: /etc/booking-platform/kafka-ca/ca.crt
{{- end }}
{{- if $p.certSecret }}
{{- if not (has $k.securityProtocol (list "SSL" "SASL_SSL")) }}
{{- fail (printf "kafka.principals.%s.certSecret: a client certificate needs kafka.securityProtocol SSL or SASL_SSL" .principal) }}
{{- end }}
- name: KAFKA_SSL_CERT_FILE
  value: /etc/booking-platform/kafka-client/tls.crt
- name: KAFKA_SSL_KEY_FILE
  value: /etc/booking-platform/kafka-client/tls.key
{{- end }}
{{- end -}}
{{/* The files bp.kafkaEnv names: the CA, and the principal's client certificate (mutual TLS;
  Strimzi's KafkaUser of authentication type tls keeps it as user.crt / user.key, cert-manager
  as tls.crt / tls.key). dict "root" . "principal" "booking" */}}
{{- define "bp.kafkaCaMount" -}}
{{- $p := index .root.Values.kafka.principals .principal -}}
{{- if .root.Values.kafka.caSecret }}
- {name: kafka-ca, mountPath: /etc/booking-platform/kafka-ca, readOnly: true}
{{- end }}
{{- if $p.certSecret }}
- {name: kafka-client, mountPath: /etc/booking-platform/kafka-client, readOnly: true}
{{- end }}
{{- end -}}
{{- define "bp.kafkaCaVolume" -}}
{{- $p := index .root.Values.kafka.principals .principal -}}
{{- if .root.Values.kafka.caSecret }}
- name: kafka-ca
  secret: {secretName: {{ .root.Values.kafka.caSecret | quote }}, items: [{key: ca.crt, path: ca.crt}]}
{{- end }}
{{- if $p.certSecret }}
- name: kafka-client
  secret:
    secretName: {{ $p.certSecret | quote }}
    defaultMode: 0440
    items:
      - {key: {{ $p.certKey | default "tls.crt" | quote }}, path: tls.crt}
      - {key: {{ $p.keyKey | default "tls.key" | quote }}, path: tls.key}
{{- end }}
{{- end -}}

{{/* Where Postgres's CA is (PGSSLROOTCERT, read by the driver for sslmode verify-ca and
  verify-full): env entries, the mount and the volume. */}}
{{- define "bp.postgresCaEnv" -}}
- name: PGSSLROOTCERT
  value: {{ ternary "/etc/booking-platform/postgres-ca/ca.crt" "/etc/ssl/certs/ca-certificates.crt" (ne .Values.postgres.caSecret "") | quote }}
{{- end -}}
{{- define "bp.postgresCaMount" -}}
{{- if .Values.postgres.caSecret }}
- {name: postgres-ca, mountPath: /etc/booking-platform/postgres-ca, readOnly: true}
{{- end }}
{{- end -}}
{{- define "bp.postgresCaVolume" -}}
{{- if .Values.postgres.caSecret }}
- name: postgres-ca
  secret: {secretName: {{ .Values.postgres.caSecret | quote }}, items: [{key: ca.crt, path: ca.crt}]}
{{- end }}
{{- end -}}

{{/* A service's settings that are not secret: its ConfigMap. dict "root" . "service" "booking" */}}
{{- define "bp.config" -}}
{{- $root := .root -}}
{{- $prefix := upper .service -}}
KAFKA_BOOTSTRAP_SERVERS: {{ $root.Values.kafka.bootstrapServers | quote }}
PLATFORM_PROFILE: {{ $root.Values.profile | quote }}
TRUSTED_PROXIES: {{ $root.Values.trustedProxies | quote }}
AUTH_ISSUER: {{ $root.Values.auth.issuer | quote }}
AUTH_AUDIENCE: {{ $root.Values.auth.audience | quote }}
AUTH_TENANT_CLAIM: {{ $root.Values.auth.tenantClaim | quote }}
AUTH_ROLES_CLAIM: {{ $root.Values.auth.rolesClaim | quote }}
AUTH_MAX_TOKEN_LIFETIME_S: {{ $root.Values.auth.maxTokenLifetimeSeconds | quote }}
{{- with $root.Values.auth.jwksUrl }}
AUTH_JWKS_URL: {{ . | quote }}
{{- end }}
{{- with $root.Values.auth.oidcDiscoveryUrl }}
AUTH_OIDC_DISCOVERY_URL: {{ . | quote }}
{{- end }}
{{ $prefix }}_LOG_JSON: "true"
{{ $prefix }}_LOG_LEVEL: {{ $root.Values.logLevel | quote }}
{{ $prefix }}_HTTP_HOST: "0.0.0.0"
{{ $prefix }}_ALLOW_PUBLIC_BIND: "true"
{{ $prefix }}_OPS_PORT: {{ $root.Values.ops.port | quote }}
{{- with $root.Values.tracing.otlpEndpoint }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ . | quote }}
OTEL_TRACES_SAMPLER: "parentbased_traceidratio"
OTEL_TRACES_SAMPLER_ARG: {{ $root.Values.tracing.sampleRatio | quote }}
{{- end }}
{{- if has .service (list "booking" "pricing") }}
{{ $prefix }}_INVENTORY_URL: {{ printf "http://%s-inventory-web:8001" (include "bp.fullname" $root) | quote }}
{{- end }}
{{- if eq .service "payment" }}
{{- if and $root.Values.payment.testMethodsEnabled (ne $root.Values.profile "development") }}
{{- fail "payment.testMethodsEnabled confirms bookings without taking money: it needs profile=development" }}
{{- end }}
PAYMENT_TEST_METHODS_ENABLED: {{ ternary "true" "false" $root.Values.payment.testMethodsEnabled | quote }}
{{- end }}
{{- if eq .service "notifier" }}
{{- $smtp := $root.Values.notifier.smtp }}
NOTIFIER_SMTP_HOST: {{ $smtp.host | quote }}
NOTIFIER_SMTP_PORT: {{ $smtp.port | quote }}
NOTIFIER_SMTP_SECURITY: {{ $smtp.security | quote }}
NOTIFIER_EMAIL_ENABLED: {{ ternary "true" "false" (ne $smtp.host "") | quote }}
{{- with $smtp.username }}
NOTIFIER_SMTP_USERNAME: {{ . | quote }}
{{- end }}
NOTIFIER_EMAIL_FROM: {{ $root.Values.notifier.emailFrom | quote }}
NOTIFIER_WEBHOOK_ALLOWED_NETWORKS: {{ $root.Values.notifier.webhookAllowedNetworks | quote }}
{{- end }}
{{- range $name, $value := (index $root.Values.services .service).env }}
{{ $name }}: {{ $value | quote }}
{{- end }}
{{- end -}}

{{/* A service's secret settings, as env entries. dict "root" . "service" "booking" */}}
{{- define "bp.secretEnv" -}}
{{- $root := .root -}}
{{- $own := include "bp.secretName" $root -}}
- name: {{ upper .service }}_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ default $own $root.Values.postgres.existingSecret }}
      key: {{ .service }}-database-url
{{- if include "bp.ownSigner" $root }}
- name: AUTH_SIGNING_CERT
  valueFrom:
    secretKeyRef:
      name: {{ include "bp.signerSecretName" $root }}
      key: signing-cert
{{- else if or $root.Values.auth.jwks $root.Values.auth.existingSecret }}
- name: AUTH_JWKS
  valueFrom:
    secretKeyRef:
      name: {{ default $own $root.Values.auth.existingSecret }}
      key: jwks
{{- end }}
{{- if eq .service "payment" }}
- name: PAYMENT_SIM_WEBHOOK_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ default $own $root.Values.payment.existingSecret }}
      key: webhook-secret
{{- end }}
{{- if eq .service "notifier" }}
- name: NOTIFIER_SECRETS_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ default $own $root.Values.notifier.secretsKeysSecret }}
      key: secrets-keys
{{- end }}
{{- if and (eq .service "notifier") $root.Values.notifier.smtp.username }}
- name: NOTIFIER_SMTP_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ default $own $root.Values.notifier.smtp.existingSecret }}
      key: smtp-password
{{- end }}
{{- end -}}

{{/* "true" when no identity provider is configured: the release signs its own tokens. */}}
{{- define "bp.ownSigner" -}}{{ if not (or .Values.auth.jwks .Values.auth.existingSecret .Values.auth.jwksUrl .Values.auth.oidcDiscoveryUrl) }}true{{ end }}{{- end -}}

{{/* The release's own token signer (development only), apart from the services' secrets. */}}
{{- define "bp.signerSecretName" -}}{{ include "bp.fullname" . }}-token-signer{{- end -}}

{{- define "bp.configName" -}}{{ include "bp.fullname" .root }}-{{ .service }}{{- end -}}

{{/* The pods' ServiceAccount name. */}}
{{- define "bp.serviceAccount" -}}
{{- if .Values.serviceAccount.create -}}
{{ .Values.serviceAccount.name | default (include "bp.fullname" .) }}
{{- else -}}
{{ .Values.serviceAccount.name | default "default" }}
{{- end -}}
{{- end -}}

{{/* What every pod spec of the release carries: no service account token (the platform calls
  no Kubernetes API) and the affinity from the values. The Deployments' pods also run as the
  release's ServiceAccount (bp.serviceAccount); the hook Jobs, which run before it exists on a
  first install, as the namespace's default. */}}
{{- define "bp.podCommon" -}}
automountServiceAccountToken: false
{{- with .Values.affinity }}
affinity: {{ toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Where bpctl finds the services in the cluster: <SERVICE>_URL (the webs) and
  <SERVICE>_OPS_URL (the workers' operations port). */}}
{{- define "bp.serviceUrlsEnv" -}}
{{- $root := . -}}
{{- range $service, $facts := (include "bp.services" . | fromYaml) }}
- name: {{ upper $service }}_URL
  value: {{ printf "http://%s-%s-web:%v" (include "bp.fullname" $root) $service $facts.port | quote }}
- name: {{ upper $service }}_OPS_URL
  value: {{ printf "http://%s-%s-worker:%v" (include "bp.fullname" $root) $service $root.Values.ops.port | quote }}
{{- end }}
{{- end -}}

{{/* Labels of the release's operator pods (the toolbox, the helm test): the network policies
  let them reach every process, as they do the peers of networkPolicy.apiFrom. */}}
{{- define "bp.operatorLabels" -}}
booking-platform/operator: "true"
{{- end -}}
