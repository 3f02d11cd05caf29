package schema

import "fmt"

// checkPods reports the pod template rules CUE says badly, each as the API
// server's validation would (k8s.io/kubernetes pkg/apis/core/validation,
// validateTolerations), so a spec that loads never fails at `kubectl apply`;
// in the schema's field order.
func checkPods(k *Kubernetes, bad func(path, format string, args ...any)) {
	if k == nil {
		return
	}
	for i, t := range k.Tolerations {
		at := fmt.Sprintf("kubernetes.tolerations[%d]", i)
		switch {
		case t.Key == "" && t.Operator != "Exists":
			bad(at+".operator", "%q without a key; want operator \"Exists\" (tolerate every taint) or a key", t.Operator)
		case t.Operator == "Exists" && t.Value != "":
			bad(at+".value", "%q with operator \"Exists\"; want no value (Exists matches any value)", t.Value)
		}
		if t.TolerationSeconds != nil && t.Effect != "NoExecute" {
			bad(at+".tolerationSeconds", "only applies to effect \"NoExecute\"; want effect: \"NoExecute\" or no tolerationSeconds")
		}
	}
	seen := map[string]int{}
	for i, c := range k.TopologySpreadConstraints {
		if j, dup := seen[c.TopologyKey+"/"+c.WhenUnsatisfiable]; dup {
			bad(fmt.Sprintf("kubernetes.topologySpreadConstraints[%d].topologyKey", i), "%q with %q is also constraint %d; want one constraint per key and policy", c.TopologyKey, c.WhenUnsatisfiable, j)
		}
		seen[c.TopologyKey+"/"+c.WhenUnsatisfiable] = i
	}
	// The selector's labels: a pod label of the same key would change the
	// selector's match or be overwritten.
	for _, key := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance"} {
		if _, ok := k.PodLabels[key]; ok {
			bad(fmt.Sprintf("kubernetes.podLabels.%q", key), "%q is a label of the StatefulSet's selector, set by etcdgen; want another key", key)
		}
	}
}
