package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// The helm target's chart passes `helm lint`, and `helm template` yields
// exactly the k8s target's objects (issue 7: install and upgrade the k8s
// output with `helm upgrade --install`).
func TestHelmChart(t *testing.T) {
	helm, err := filepath.Abs(filepath.Join(*binDir, "helm"))
	must(t, err)
	if _, err := os.Stat(helm); err != nil {
		t.Fatalf("no helm at %s (make -C e2e bin builds it): %v", helm, err)
	}
	for name, spec := range map[string]string{
		"example": "", // the built-in example: TLS, cert-manager chain
		"plain":   `name: "plain", kubernetes: {replicas: 5, namespace: "db"}, tls: enabled: false` + "\n",
		"issuer":  `name: "iss", kubernetes: issuerRef: {name: "corp-ca", kind: "ClusterIssuer"}` + "\n",
		"placed":  `name: "placed", kubernetes: {namespace: "etcd-system", nodeSelector: disk: "ssd", tolerations: [{key: "k", operator: "Exists"}], priorityClassName: "high", podAnnotations: a: "b"}` + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			args := []string{"render", "--out", filepath.Join(dir, "out"), "--target", "helm,k8s"}
			if spec != "" {
				must(t, os.WriteFile(filepath.Join(dir, "etcdgen.cue"), []byte(spec), 0o644))
			}
			run(t, dir, etcdgenBin, args...)
			chart := filepath.Join(dir, "out", nameOf(t, dir), "helm")
			k8s := filepath.Join(dir, "out", nameOf(t, dir), "k8s", "etcd.yaml")

			want, err := os.ReadFile(k8s)
			must(t, err)
			exp := objects(t, want)
			if len(exp) < 4 {
				t.Fatalf("k8s target has %d objects", len(exp))
			}
			ns := namespaceOf(exp)
			lint := run(t, dir, helm, "lint", "--strict", chart, "-n", ns)
			if strings.Contains(lint, "[ERROR]") || strings.Contains(lint, "[WARNING]") {
				t.Errorf("helm lint:\n%s", lint)
			}
			rendered := run(t, dir, helm, "template", "etcd", chart, "-n", ns)
			got := objects(t, []byte(rendered))
			if !reflect.DeepEqual(got, exp) {
				t.Errorf("helm template objects differ from the k8s target's:\nhelm: %v\nk8s:  %v", keys(got), keys(exp))
			}

			// Values change their fields of the StatefulSet and nothing else.
			values := filepath.Join(dir, "values.yaml")
			must(t, os.WriteFile(values, []byte(`image: mirror.example/etcd:v3.6.16
resources: {requests: {cpu: 200m, memory: 512Mi}, limits: {memory: 1Gi}}
nodeSelector: {zone: a}
tolerations: [{key: x, operator: Exists}]
affinity: null
priorityClassName: other
podAnnotations: {x: "y"}
`), 0o644))
			got = objects(t, []byte(run(t, dir, helm, "template", "etcd", chart, "-n", ns, "-f", values)))
			for key, obj := range exp {
				if obj.(map[string]any)["kind"] != "StatefulSet" {
					continue
				}
				tmpl := obj.(map[string]any)["spec"].(map[string]any)["template"].(map[string]any)
				meta, pod := tmpl["metadata"].(map[string]any), tmpl["spec"].(map[string]any)
				c := pod["containers"].([]any)[0].(map[string]any)
				c["image"] = "mirror.example/etcd:v3.6.16"
				// (Helm merges a map value with the default's: all of
				// resources is set so the result is exactly the override.)
				c["resources"] = map[string]any{"requests": map[string]any{"cpu": "200m", "memory": "512Mi"}, "limits": map[string]any{"memory": "1Gi"}}
				// Helm merges a map value into the default's.
				pod["nodeSelector"] = merged(pod["nodeSelector"], map[string]any{"zone": "a"})
				pod["tolerations"] = []any{map[string]any{"key": "x", "operator": "Exists"}}
				pod["priorityClassName"] = "other"
				delete(pod, "affinity")
				meta["annotations"] = merged(meta["annotations"], map[string]any{"x": "y"})
				exp[key] = obj
			}
			if !reflect.DeepEqual(got, exp) {
				t.Errorf("helm template -f values.yaml: more than the values' fields changed:\nhelm: %v\nwant: %v", got, exp)
			}

			// The release namespace is the objects' namespace, and must be
			// the spec's: the members' URLs and certificates name it.
			cmd := exec.Command(helm, "template", "etcd", chart, "-n", "elsewhere")
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), "this chart is for namespace "+ns+", not elsewhere") {
				t.Errorf("helm template -n elsewhere: %v\n%s", err, out)
			}
		})
	}
}

// merged is a map default with a map value merged in, as Helm coalesces
// values.
func merged(def any, over map[string]any) map[string]any {
	out := map[string]any{}
	if m, ok := def.(map[string]any); ok {
		for k, v := range m {
			out[k] = v
		}
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// namespaceOf is the namespace of the objects (one for all).
func namespaceOf(objs map[string]any) string {
	for _, o := range objs {
		if ns := str(o.(map[string]any)["metadata"].(map[string]any)["namespace"]); ns != "" {
			return ns
		}
	}
	return "default"
}

// nameOf is the cluster name of the spec in dir (the built-in example's
// when there is none).
func nameOf(t *testing.T, dir string) string {
	entries, err := os.ReadDir(filepath.Join(dir, "out"))
	must(t, err)
	for _, e := range entries {
		if e.IsDir() {
			return e.Name()
		}
	}
	t.Fatal("no cluster directory in the render")
	return ""
}

func run(t *testing.T, dir, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(bin), strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String() + errb.String()
}

// objects parses a multi-document YAML stream into objects keyed by
// kind/namespace/name.
func objects(t *testing.T, stream []byte) map[string]any {
	out := map[string]any{}
	for _, doc := range bytes.Split(stream, []byte("\n---")) {
		var obj map[string]any
		must(t, yaml.Unmarshal(doc, &obj))
		if len(obj) == 0 {
			continue
		}
		meta, _ := obj["metadata"].(map[string]any)
		key := obj["kind"].(string) + "/" + str(meta["namespace"]) + "/" + str(meta["name"])
		if _, dup := out[key]; dup {
			t.Fatalf("%s twice", key)
		}
		out[key] = obj
	}
	return out
}

func str(v any) string { s, _ := v.(string); return s }

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
