package k8s

import (
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"time"

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
	groups := prometheus.Groups(m)
	if r, ok := certExpiryRule(m); ok {
		groups[0].Rules = append(groups[0].Rules, r)
	}
	rule := map[string]any{
		"apiVersion": "monitoring.coreos.com/v1",
		"kind":       "PrometheusRule",
		"metadata":   meta(k.StatefulSet),
		"spec":       map[string]any{"groups": groups},
	}
	return []any{sm, rule}
}

// certExpiryRule alerts when a certificate cert-manager issues for the
// pods is within tls.renewBefore of its expiry: cert-manager renews at
// that moment (the Certificates' renewBefore), so an hour later the
// renewal has failed. It reads cert-manager's own metric,
// certmanager_certificate_expiration_timestamp_seconds{namespace, name}
// (https://cert-manager.io/docs/devops-tips/prometheus-metrics/); the
// hosts' rule reads the snapshot job's instead.
// (Prometheus anchors =~ at both ends.)
func certExpiryRule(m *render.Model) (prometheus.Rule, bool) {
	k := &m.Kubernetes
	if !m.TLS.Enabled || !k.CertManager {
		return prometheus.Rule{}, false
	}
	renew := render.Duration(m.TLS.RenewBefore)
	names := "(" + regexp.QuoteMeta(caCertName(k)) + "|" + regexp.QuoteMeta(serverCertName(k)) + "|" +
		regexp.QuoteMeta(peerCertName(k)) + "|" + regexp.QuoteMeta(clientCertName(k)) + ")"
	summary := fmt.Sprintf("A cert-manager certificate of etcd expires within %s (tls.renewBefore) and was not renewed: kubectl -n %s describe certificate.", renew, k.Namespace)
	return prometheus.Rule{
		Alert: "EtcdCertManagerCertificateExpiringSoon",
		Expr: fmt.Sprintf("certmanager_certificate_expiration_timestamp_seconds{namespace=%s,name=~%s} - time() < %d",
			strconv.Quote(k.Namespace), strconv.Quote(names), int64(renew/time.Second)),
		For:         "1h",
		Labels:      map[string]string{"severity": "warning"},
		Annotations: map[string]string{"summary": summary, "description": summary + " (etcd cluster " + m.Name + ")"},
	}, true
}
