{{/* The release namespace, which must be the spec's (default): the members'
URLs and certificates name it. Render the spec with kubernetes.namespace
set to install elsewhere. */}}
{{- define "etcdgen.namespace" -}}
{{- if ne .Release.Namespace "default" -}}
{{- fail (printf "this chart is for namespace default, not %s: the members' URLs and certificates name it; set kubernetes.namespace in the spec and render again" .Release.Namespace) -}}
{{- end -}}
{{- .Release.Namespace -}}
{{- end -}}
