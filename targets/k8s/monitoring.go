package k8s

import (
	"maps"

	"github.com/etcdgen/etcdgen/render"
	"github.com/etcdgen/etcdgen/targets/prometheus"
)

// monitoringObjects are the Prometheus operator's ServiceMonitor and
// PrometheusRule (monitoring.coreos.com/v1) for the pods: opt-in with
// monitoring.kubernetes, since applying them needs the operator's CRDs.
// The ServiceMonitor scrapes the headless Service's metrics port (the
// client Service has none), labelling each target with the cluster and the
// pod as member, the labels the shared alert rules select and print.
func monitoringObjects(m *render.Model, labels map[string]string) []any {
	mon := m.Spec.Monitoring
	if !mon.Enabled || !mon.Kubernetes {
		return nil
	}
	k := &m.Kubernetes
	meta := func(name string) map[string]any {
		l := maps.Clone(labels)
		maps.Copy(l, mon.Labels)
		return map[string]any{"name": name, "namespace": k.Namespace, "labels": l}
	}
	sm := map[string]any{
		"apiVersion": "monitoring.coreos.com/v1",
		"kind":       "ServiceMonitor",
		"metadata":   meta(k.StatefulSet),
		"spec": map[string]any{
			"selector":          map[string]any{"matchLabels": k.Labels},
			"namespaceSelector": map[string]any{"matchNames": []string{k.Namespace}},
			"endpoints": []any{map[string]any{
				"port":   portMetrics,
				"scheme": "http",
				"path":   "/metrics",
				"relabelings": []any{
					map[string]any{"targetLabel": "cluster", "replacement": m.Name, "action": "replace"},
					map[string]any{"sourceLabels": []string{"__meta_kubernetes_pod_name"}, "targetLabel": "member", "action": "replace"},
				},
			}},
		},
	}
	rule := map[string]any{
		"apiVersion": "monitoring.coreos.com/v1",
		"kind":       "PrometheusRule",
		"metadata":   meta(k.StatefulSet),
		"spec":       map[string]any{"groups": prometheus.Groups(m)},
	}
	return []any{sm, rule}
}
