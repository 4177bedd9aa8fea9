{{/*
Default alert groups of the `base` library (PROTOCOL §14.6): argocd,
kubernetesApplication and kubernetesResources, each with enabled, for,
customRules, additionalLabels and (for the two Kubernetes groups) disabled,
a list of alert names to leave out. They query kube-state-metrics, cAdvisor
and ArgoCD series, not the connector's own metrics. The library's exact
rule set is not available here; these rules are our own equivalents.
*/}}
{{- define "cc.defaultAlertGroups" -}}
{{- $fullname := include "cc.fullname" . -}}
{{- $ns := .Release.Namespace -}}
{{- $d := (.Values.prometheus | default dict).defaultAlerts | default dict -}}
{{- $common := $d.additionalLabels | default dict -}}
{{- $pod := printf "%s-.*" $fullname -}}
{{- $groups := list -}}
{{- $argo := $d.argocd | default dict -}}
{{- if $argo.enabled -}}
{{- $app := $argo.applicationName | default $fullname -}}
{{- $rules := list
  (dict "alert" "ArgoCDApplicationOutOfSync" "expr" (printf "argocd_app_info{name=%q, sync_status!=\"Synced\"} == 1" $app) "annotations" (dict "summary" (printf "ArgoCD application %s is out of sync" $app)))
  (dict "alert" "ArgoCDApplicationUnhealthy" "expr" (printf "argocd_app_info{name=%q, health_status!~\"Healthy|Progressing\"} == 1" $app) "annotations" (dict "summary" (printf "ArgoCD application %s is unhealthy" $app)))
-}}
{{- $groups = append $groups (dict "name" (printf "%s-argocd" $fullname) "cfg" $argo "rules" $rules "defaultFor" "15m") -}}
{{- end -}}
{{- $app := $d.kubernetesApplication | default dict -}}
{{- if ne $app.enabled false -}}
{{- $rules := list
  (dict "alert" "KubePodCrashLooping" "expr" (printf "max_over_time(kube_pod_container_status_waiting_reason{namespace=%q, pod=~%q, reason=\"CrashLoopBackOff\"}[5m]) >= 1" $ns $pod) "annotations" (dict "summary" "Confluence connector container is crash looping"))
  (dict "alert" "KubePodNotReady" "expr" (printf "sum by (pod) (kube_pod_status_phase{namespace=%q, pod=~%q, phase=~\"Pending|Unknown|Failed\"}) > 0" $ns $pod) "annotations" (dict "summary" "Confluence connector pod is not ready"))
  (dict "alert" "KubeDeploymentReplicasMismatch" "expr" (printf "kube_deployment_spec_replicas{namespace=%q, deployment=%q} != kube_deployment_status_replicas_available{namespace=%q, deployment=%q}" $ns $fullname $ns $fullname) "annotations" (dict "summary" "Confluence connector deployment has no available replica"))
-}}
{{- $groups = append $groups (dict "name" (printf "%s-kubernetes-application" $fullname) "cfg" $app "rules" $rules "defaultFor" "10m") -}}
{{- end -}}
{{- $res := $d.kubernetesResources | default dict -}}
{{- if ne $res.enabled false -}}
{{- $rules := list
  (dict "alert" "KubeContainerOOMKilled" "expr" (printf "increase(kube_pod_container_status_restarts_total{namespace=%q, pod=~%q}[15m]) > 0 and on (namespace, pod, container) kube_pod_container_status_last_terminated_reason{reason=\"OOMKilled\"} == 1" $ns $pod) "annotations" (dict "summary" "Confluence connector container was OOM-killed"))
  (dict "alert" "KubeContainerMemoryNearLimit" "expr" (printf "max by (pod, container) (container_memory_working_set_bytes{namespace=%q, pod=~%q, container!=\"\"}) / max by (pod, container) (kube_pod_container_resource_limits{namespace=%q, pod=~%q, resource=\"memory\"}) > 0.9" $ns $pod $ns $pod) "annotations" (dict "summary" "Confluence connector memory above 90% of its limit"))
-}}
{{- $groups = append $groups (dict "name" (printf "%s-kubernetes-resources" $fullname) "cfg" $res "rules" $rules "defaultFor" "15m") -}}
{{- end -}}
{{- range $g := $groups }}
- name: {{ $g.name }}
  rules:
    {{- $disabled := $g.cfg.disabled | default list }}
    {{- $labels := merge (dict "severity" "warning") ($g.cfg.additionalLabels | default dict) $common }}
    {{- range $r := $g.rules }}
    {{- if not (has $r.alert $disabled) }}
    - alert: {{ $r.alert }}
      expr: {{ $r.expr | quote }}
      for: {{ $g.cfg.for | default $g.defaultFor }}
      labels:
        {{- toYaml $labels | nindent 8 }}
      annotations:
        {{- toYaml $r.annotations | nindent 8 }}
    {{- end }}
    {{- end }}
    {{- range $name, $r := ($g.cfg.customRules | default dict) }}
    - alert: {{ $r.alert | default $name }}
      expr: {{ $r.expr | quote }}
      for: {{ $r.for | default $g.cfg.for | default $g.defaultFor }}
      labels:
        {{- toYaml (merge (dict) ($r.labels | default dict) $labels) | nindent 8 }}
      {{- with $r.annotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
{{- end }}
{{- end -}}
