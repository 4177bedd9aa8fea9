{{/*
Names and labels. The reference chart takes these from the `base` library,
which is not available here; the selector labels are the three documented
ones (PROTOCOL §14.3 table A), so the immutable Deployment selector keeps its
shape: app.kubernetes.io/name, app.kubernetes.io/instance and
app.kubernetes.io/component = selectorComponentLabel.
*/}}

{{- define "cc.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cc.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "cc.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: {{ .Values.selectorComponentLabel | default "server" }}
{{- end -}}

{{- define "cc.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "cc.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "cc.serviceAccountName" -}}
{{- if .Values.serviceAccount.enabled -}}
{{- default (include "cc.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "cc.image" -}}
{{- $registry := .Values.image.registry -}}
{{- with .Values.global -}}{{- with .image -}}{{- with .registry -}}{{- $registry = . -}}{{- end -}}{{- end -}}{{- end -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion | toString -}}
{{- $ref := printf "%s:%s" .Values.image.repository $tag -}}
{{- if $registry -}}{{- $ref = printf "%s/%s" $registry $ref -}}{{- end -}}
{{- if and .Values.image.useDigest .Values.image.digest -}}{{- $ref = printf "%s@%s" $ref .Values.image.digest -}}{{- end -}}
{{- $ref -}}
{{- end -}}

{{/* Internal service URL of PROTOCOL §14.3 table A (internalServices). */}}
{{- define "cc.internalUrl" -}}
{{- $dep := .dep -}}
{{- $ns := $dep.namespace | default .root.Release.Namespace -}}
{{- printf "%s://%s.%s.svc.cluster.local:%v%s" ($dep.protocol | default "http") $dep.name $ns $dep.servicePort ($dep.basePath | default "") -}}
{{- end -}}

{{/*
Render-time checks (PROTOCOL §14.8). Each message names the values key and
the fix, because the reference either crashed the pod at start or silently
dropped the setting.
*/}}
{{- define "cc.validate" -}}
{{- if hasKey .Values "connector" -}}
{{- fail "values: top-level `connector:` is the 2.x chart layout and is ignored by 3.x charts; move its settings to the top level (see docs/migration.md)" -}}
{{- end -}}
{{- if hasKey .Values "alerts" -}}
{{- fail "values: top-level `alerts:` is the 2.x chart layout; use prometheus.additionalAlerts instead (see docs/migration.md)" -}}
{{- end -}}
{{- if gt (int (.Values.replicaCount | default 1)) 1 -}}
{{- fail (printf "values: replicaCount is %v, but exactly one replica is supported (every replica runs every tenant's cycles); set replicaCount: 1" .Values.replicaCount) -}}
{{- end -}}
{{- if and .Values.autoscaling .Values.autoscaling.enabled -}}
{{- fail "values: autoscaling.enabled is true, but exactly one replica is supported; set autoscaling.enabled: false" -}}
{{- end -}}
{{- if and .Values.keda .Values.keda.enabled -}}
{{- fail "values: keda.enabled is true, but exactly one replica is supported; set keda.enabled: false" -}}
{{- end -}}
{{- if and .Values.cronJob .Values.cronJob.enabled -}}
{{- fail "values: cronJob.enabled is true, but this chart renders no CronJob (a `base` library feature the connector does not use); set cronJob.enabled: false" -}}
{{- end -}}
{{- range $key := list "cronJobs" "extraCronJobs" "hooks" -}}
{{- if index $.Values $key -}}
{{- fail (printf "values: %s is set, but this chart renders no jobs (a `base` library feature the connector does not use); remove it" $key) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.pvc .Values.pvc.enabled -}}
{{- fail "values: pvc.enabled is true, but the connector keeps no local state and this chart renders no PVC; set pvc.enabled: false" -}}
{{- end -}}
{{- if and .Values.routes .Values.routes.hostname -}}
{{- fail "values: routes.hostname is set, but the connector serves no traffic and this chart renders no HTTPRoute; set routes.hostname: \"\"" -}}
{{- end -}}
{{- if .Values.connectorConfig.enabled -}}
{{- $seen := dict -}}
{{- range $i, $t := .Values.connectorConfig.tenants -}}
{{- $where := printf "connectorConfig.tenants[%d]" $i -}}
{{- if not (regexMatch "^[a-z0-9]+(-[a-z0-9]+)*$" (toString $t.name)) -}}
{{- fail (printf "%s.name %q must match ^[a-z0-9]+(-[a-z0-9]+)*$ (lower-case letters and digits in dash-separated groups); it becomes the tenant name and file name" $where (toString $t.name)) -}}
{{- end -}}
{{- if hasKey $seen $t.name -}}
{{- fail (printf "%s.name %q duplicates connectorConfig.tenants[%v].name; tenant names must be unique (the second would overwrite the first tenant file)" $where $t.name (index $seen $t.name)) -}}
{{- end -}}
{{- $_ := set $seen $t.name $i -}}
{{- $c := $t.confluence -}}
{{- if and (eq $c.instanceType "cloud") (not $c.cloudId) -}}
{{- fail (printf "%s.confluence.cloudId is required for instanceType cloud" $where) -}}
{{- end -}}
{{- if and (eq $c.instanceType "data-center") $c.apiGatewayUrl -}}
{{- fail (printf "%s.confluence.apiGatewayUrl applies to instanceType cloud only; remove it" $where) -}}
{{- end -}}
{{- if and (eq $c.instanceType "cloud") (ne $c.auth.mode "oauth_2lo") -}}
{{- fail (printf "%s.confluence.auth.mode %q requires instanceType data-center; Cloud supports oauth_2lo only" $where $c.auth.mode) -}}
{{- end -}}
{{- $u := $t.unique -}}
{{- if eq $u.authMode "cluster_local" -}}
{{- $h := $u.serviceExtraHeaders | default dict -}}
{{- range $hk := list "x-company-id" "x-user-id" -}}
{{- if not (index $h $hk) -}}
{{- fail (printf "%s.unique.serviceExtraHeaders.%s is required when unique.authMode is cluster_local" $where $hk) -}}
{{- end -}}
{{- end -}}
{{- else if eq $u.authMode "external" -}}
{{- if not $u.zitadel -}}
{{- fail (printf "%s.unique.zitadel (clientId, oauthTokenUrl, projectId) is required when unique.authMode is external" $where) -}}
{{- end -}}
{{- range $zk := list "clientId" "oauthTokenUrl" "projectId" -}}
{{- if not (index $u.zitadel $zk) -}}
{{- fail (printf "%s.unique.zitadel.%s is required when unique.authMode is external" $where $zk) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The tenant file of one connectorConfig.tenants[] entry (PROTOCOL §14.3 table B). */}}
{{- define "cc.tenantFile" -}}
{{- $t := .tenant -}}
{{- $root := .root -}}
{{- $c := $t.confluence -}}
{{- $file := dict -}}
{{- with $t.status -}}{{- $_ := set $file "status" . -}}{{- end -}}
{{- $auth := dict "mode" $c.auth.mode -}}
{{- if eq $c.auth.mode "oauth_2lo" -}}
{{- $_ := set $auth "clientId" (tpl (toString $c.auth.clientId) $root) -}}
{{- $_ := set $auth "clientSecret" $c.auth.clientSecret -}}
{{- else if eq $c.auth.mode "pat" -}}
{{- $_ := set $auth "token" $c.auth.token -}}
{{- else if eq $c.auth.mode "basic" -}}
{{- $_ := set $auth "username" $c.auth.username -}}
{{- $_ := set $auth "password" $c.auth.password -}}
{{- end -}}
{{- $conf := dict "instanceType" $c.instanceType "baseUrl" (tpl (toString $c.baseUrl) $root) "auth" $auth "apiRateLimitPerMinute" $c.apiRateLimitPerMinute "ingestSingleLabel" $c.ingestSingleLabel "ingestAllLabel" $c.ingestAllLabel -}}
{{- if eq $c.instanceType "cloud" -}}
{{- $_ := set $conf "cloudId" (tpl (toString $c.cloudId) $root) -}}
{{- with $c.apiGatewayUrl -}}{{- $_ := set $conf "apiGatewayUrl" (tpl (toString .) $root) -}}{{- end -}}
{{- end -}}
{{- $_ := set $file "confluence" $conf -}}
{{- $u := $t.unique -}}
{{- $deps := $root.Values.internalServices.dependencies -}}
{{- $ingestionUrl := tpl (toString ($u.ingestionServiceBaseUrl | default "")) $root | default (include "cc.internalUrl" (dict "dep" $deps.ingestion "root" $root)) -}}
{{- $scopeUrl := tpl (toString ($u.scopeManagementServiceBaseUrl | default "")) $root | default (include "cc.internalUrl" (dict "dep" $deps.scopeManagement "root" $root)) -}}
{{- $uniq := dict "serviceAuthMode" $u.authMode "ingestionServiceBaseUrl" $ingestionUrl "scopeManagementServiceBaseUrl" $scopeUrl "apiRateLimitPerMinute" $u.apiRateLimitPerMinute -}}
{{- if eq $u.authMode "cluster_local" -}}
{{- $headers := dict -}}
{{- range $hk, $hv := $u.serviceExtraHeaders -}}{{- $_ := set $headers $hk (tpl (toString $hv) $root) -}}{{- end -}}
{{- $_ := set $uniq "serviceExtraHeaders" $headers -}}
{{- else -}}
{{- $z := $u.zitadel -}}
{{- $_ := set $uniq "zitadelClientId" (tpl (toString $z.clientId) $root) -}}
{{- $_ := set $uniq "zitadelOauthTokenUrl" (tpl (toString $z.oauthTokenUrl) $root) -}}
{{- $_ := set $uniq "zitadelProjectId" (tpl (toString $z.projectId) $root) -}}
{{- $_ := set $uniq "zitadelClientSecret" ($z.clientSecret | default "os.environ/ZITADEL_CLIENT_SECRET") -}}
{{- end -}}
{{- with $u.ingestionConfig -}}{{- $_ := set $uniq "ingestionConfig" . -}}{{- end -}}
{{- $_ := set $file "unique" $uniq -}}
{{- $proc := dict -}}
{{- range $pk, $pv := ($t.processing | default dict) -}}{{- if $pv -}}{{- $_ := set $proc $pk $pv -}}{{- end -}}{{- end -}}
{{- $_ := set $file "processing" $proc -}}
{{- $i := $t.ingestion -}}
{{- $ing := dict "ingestionMode" ($i.ingestionMode | default "flat") "scopeId" (tpl (toString $i.scopeId) $root) -}}
{{- with $i.storeInternally -}}{{- $_ := set $ing "storeInternally" . -}}{{- end -}}
{{- with $i.useV1KeyFormat -}}{{- $_ := set $ing "useV1KeyFormat" . -}}{{- end -}}
{{- if not (kindIs "invalid" $i.deletionHold) -}}{{- $_ := set $ing "deletionHold" $i.deletionHold -}}{{- end -}}
{{- with $i.attachments -}}
{{- $att := dict "mode" (.mode | default "enabled") -}}
{{- with .allowedMimeTypes -}}{{- $_ := set $att "allowedMimeTypes" . -}}{{- end -}}
{{- with .maxFileSizeMb -}}{{- $_ := set $att "maxFileSizeMb" . -}}{{- end -}}
{{- with .imageOcr -}}{{- $_ := set $att "imageOcr" . -}}{{- end -}}
{{- $_ := set $ing "attachments" $att -}}
{{- end -}}
{{- with $i.pageIngestionConfig -}}{{- $_ := set $ing "pageIngestionConfig" . -}}{{- end -}}
{{- $_ := set $file "ingestion" $ing -}}
{{- toYaml $file -}}
{{- end -}}

{{/* The tenant ConfigMap's data; the checksum annotation hashes it. */}}
{{- define "cc.tenantConfigData" -}}
{{- range $t := .Values.connectorConfig.tenants }}
{{ $t.name }}-tenant-config.yaml: |
{{- include "cc.tenantFile" (dict "tenant" $t "root" $) | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
A value as env text. Helm reads YAML numbers as float64, and Go prints a
whole float64 such as 1000000 as "1e+06": whole numbers are printed as
integers instead.
*/}}
{{- define "cc.envString" -}}
{{- if and (kindIs "float64" .) (eq . (float64 (int64 .))) -}}
{{- int64 . -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}

{{/* Env ConfigMap data: values tpl-evaluated and stringified; {value, if} emits only when `if` is truthy. */}}
{{- define "cc.envData" -}}
{{- range $k, $v := .Values.env }}
{{- if kindIs "map" $v }}
{{- if $v.if }}
{{ $k }}: {{ tpl (include "cc.envString" $v.value) $ | quote }}
{{- end }}
{{- else }}
{{ $k }}: {{ tpl (include "cc.envString" $v) $ | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Proxy env of PROTOCOL §14.3 table C. */}}
{{- define "cc.proxyEnv" -}}
{{- $p := .Values.proxyConfig -}}
{{- if $p.enabled }}
- name: PROXY_AUTH_MODE
  value: {{ $p.authMode | quote }}
{{- if ne $p.authMode "none" }}
- name: PROXY_HOST
  value: {{ $p.host | quote }}
- name: PROXY_PORT
  value: {{ include "cc.envString" $p.port | quote }}
- name: PROXY_PROTOCOL
  value: {{ $p.protocol | quote }}
{{- end }}
{{- if eq $p.authMode "username_password" }}
- name: PROXY_USERNAME
  value: {{ $p.username | quote }}
{{- end }}
{{- if eq $p.authMode "ssl_tls" }}
- name: PROXY_SSL_CERT_PATH
  value: {{ $p.sslCertPath | quote }}
- name: PROXY_SSL_KEY_PATH
  value: {{ $p.sslKeyPath | quote }}
{{- end }}
{{- with $p.sslCaBundlePath }}
- name: PROXY_SSL_CA_BUNDLE_PATH
  value: {{ . | quote }}
{{- end }}
{{- with $p.headers }}
- name: PROXY_HEADERS
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end -}}
