package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/kubernetes/pkg/api/legacyscheme"
	"k8s.io/kubernetes/pkg/apis/apps"
	_ "k8s.io/kubernetes/pkg/apis/apps/install"
	appsvalidation "k8s.io/kubernetes/pkg/apis/apps/validation"
	_ "k8s.io/kubernetes/pkg/apis/core/install"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"
)

// The pod fields a spec sets (placement, identity, the volume-permissions
// init container) pass the API server's own validation of a StatefulSet
// (k8s.io/kubernetes pkg/apis/apps/validation, after the API server's
// decoding and defaulting), so `kubectl apply` takes them.
func TestStatefulSetPassesAPIValidation(t *testing.T) {
	const placed = `name: "placed"
walDir: "/var/lib/etcd-wal"
kubernetes: {
	namespace: "etcd-system"
	antiAffinity: "preferred"
	nodeSelector: {"node-role.kubernetes.io/etcd": ""}
	tolerations: [
		{key: "dedicated", value: "etcd", effect: "NoSchedule"},
		{key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute", tolerationSeconds: 30},
		{operator: "Exists"},
	]
	podLabels: {tier: "db", "example.com/team": "storage"}
	podAnnotations: {"prometheus.io/scrape": "true"}
	priorityClassName: "etcd-critical"
	topologySpreadConstraints: [{topologyKey: "topology.kubernetes.io/zone"}, {topologyKey: "kubernetes.io/hostname", maxSkew: 2, whenUnsatisfiable: "ScheduleAnyway"}]
	imagePullSecrets: ["regcred"]
	serviceAccountName: "etcd"
	volumePermissions: image: "busybox:1.37"
}
`
	for name, spec := range map[string]string{"example": "", "placed": placed} {
		t.Run(name, func(t *testing.T) {
			sts := renderedStatefulSet(t, spec)
			if errs := validateStatefulSet(t, sts); len(errs) > 0 {
				t.Errorf("the API server refuses the StatefulSet:\n%s", strings.Join(errs, "\n"))
			}
			// Control: the same validation refuses a toleration the
			// schema refuses (a value with operator Exists).
			bad := bytes.Replace(sts, []byte("      - operator: Exists\n"), []byte("      - operator: Exists\n        value: x\n"), 1)
			if name == "placed" {
				if bytes.Equal(bad, sts) {
					t.Fatal("control: no toleration to break")
				}
				if errs := validateStatefulSet(t, bad); len(errs) == 0 {
					t.Error("control: a toleration with operator Exists and a value passed validation")
				}
			}
		})
	}
}

// renderedStatefulSet is the StatefulSet document of the k8s target for
// spec ("" for the built-in example).
func renderedStatefulSet(t *testing.T, spec string) []byte {
	dir := t.TempDir()
	args := []string{"render", "--out", filepath.Join(dir, "out"), "--target", "k8s"}
	if spec != "" {
		must(t, os.WriteFile(filepath.Join(dir, "etcdgen.cue"), []byte(spec), 0o644))
	}
	run(t, dir, etcdgenBin, args...)
	data, err := os.ReadFile(filepath.Join(dir, "out", "etcd.yaml")) // one target: no subdirectories
	must(t, err)
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		if bytes.HasPrefix(doc, []byte("apiVersion: apps/v1\nkind: StatefulSet\n")) {
			return doc
		}
	}
	t.Fatal("no StatefulSet in etcd.yaml")
	return nil
}

// validateStatefulSet decodes doc as the API server does (conversion to
// the internal type, defaulting) and returns its validation errors.
func validateStatefulSet(t *testing.T, doc []byte) []string {
	obj, _, err := legacyscheme.Codecs.UniversalDecoder().Decode(doc, nil, nil)
	must(t, err)
	sts, ok := obj.(*apps.StatefulSet)
	if !ok {
		t.Fatalf("decoded a %T", obj)
	}
	var out []string
	for _, e := range appsvalidation.ValidateStatefulSet(sts, appsvalidation.StatefulSetValidationOptions{}, corevalidation.PodValidationOptions{}) {
		out = append(out, e.Error())
	}
	return out
}
