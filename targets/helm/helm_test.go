package helm

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"reflect"
	"strings"
	"testing"
	"text/template"

	"sigs.k8s.io/yaml"

	"github.com/etcdgen/etcdgen/render"
	"github.com/etcdgen/etcdgen/render/rendertest"
	"github.com/etcdgen/etcdgen/schema"
	"github.com/etcdgen/etcdgen/targets/k8s"
)

func model(t testing.TB, spec string) *render.Model { return rendertest.Model(t, spec) }

// The templates, rendered with values.yaml's defaults, are the k8s
// target's objects; with values set, only those fields differ. Helm's
// engine is text/template with sprig's functions: the few the chart uses
// are imitated here; e2e/helm_test.go runs the real helm.
func TestTemplatesAreTheK8sObjects(t *testing.T) {
	for _, spec := range []string{
		string(schema.Example),
		`name: "plain", kubernetes: {replicas: 5, namespace: "db"}, tls: enabled: false`,
		`name: "placed", kubernetes: {nodeSelector: disk: "ssd", tolerations: [{key: "k", operator: "Exists"}], priorityClassName: "high", podAnnotations: a: "b", antiAffinity: "preferred"}`,
	} {
		m := model(t, spec)
		chart, err := Target.Run(m)
		if err != nil {
			t.Fatal(err)
		}
		k, err := k8s.Render(m)
		if err != nil {
			t.Fatal(err)
		}
		want := objectsOf(t, k[0].Data)
		got := renderChart(t, chart, m.Kubernetes.Namespace, nil)
		if len(want) < 4 || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: chart with default values:\n%v\nk8s target:\n%v", m.Name, got, want)
		}

		// Overrides change their field and nothing else.
		over := map[string]any{
			"image":             "mirror.example/etcd:v3.6.16",
			"resources":         map[string]any{"limits": map[string]any{"memory": "1Gi"}},
			"nodeSelector":      map[string]any{"zone": "a"},
			"tolerations":       []any{map[string]any{"key": "x", "operator": "Exists"}},
			"affinity":          nil,
			"priorityClassName": "other",
			"podAnnotations":    map[string]any{"x": "y"},
		}
		got = renderChart(t, chart, m.Kubernetes.Namespace, over)
		sts := "StatefulSet/" + m.Kubernetes.StatefulSet
		podSpec := want[sts].(map[string]any)["spec"].(map[string]any)["template"].(map[string]any)
		meta, ps := podSpec["metadata"].(map[string]any), podSpec["spec"].(map[string]any)
		c := ps["containers"].([]any)[0].(map[string]any)
		c["image"], c["resources"] = over["image"], over["resources"]
		ps["nodeSelector"], ps["tolerations"], ps["priorityClassName"] = over["nodeSelector"], over["tolerations"], over["priorityClassName"]
		delete(ps, "affinity")
		meta["annotations"] = over["podAnnotations"]
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: chart with values set:\n%v\nwant:\n%v", m.Name, got[sts], want[sts])
		}

		// Another release namespace than the spec's fails: the members'
		// URLs and certificates name the spec's.
		if err := renderErr(chart, "elsewhere"); err == nil || !strings.Contains(err.Error(), "this chart is for namespace "+m.Kubernetes.Namespace+", not elsewhere") {
			t.Errorf("%s: release namespace elsewhere: %v", m.Name, err)
		}
	}
}

// renderChart renders the chart's templates as helm template would, with
// values.yaml's top-level keys replaced by over's (nil deletes). Helm
// itself merges a map value into the default map; e2e/helm_test.go checks
// that with the real helm.
func renderChart(t *testing.T, chart []render.File, ns string, over map[string]any) map[string]any {
	t.Helper()
	out, err := renderTemplates(chart, ns, over)
	if err != nil {
		t.Fatal(err)
	}
	return objectsOf(t, out)
}

func renderErr(chart []render.File, ns string) error {
	_, err := renderTemplates(chart, ns, nil)
	return err
}

func renderTemplates(chart []render.File, ns string, over map[string]any) ([]byte, error) {
	vals := map[string]any{}
	for _, f := range chart {
		if f.Path == "values.yaml" {
			if err := yaml.Unmarshal(f.Data, &vals); err != nil {
				return nil, err
			}
		}
	}
	for k, v := range over {
		vals[k] = v
	}
	root := template.New("chart").Option("missingkey=zero")
	root.Funcs(template.FuncMap{
		"include": func(name string, data any) (string, error) {
			var b bytes.Buffer
			err := root.ExecuteTemplate(&b, name, data)
			return b.String(), err
		},
		"toYaml": func(v any) string {
			data, _ := yaml.Marshal(v)
			return strings.TrimSuffix(string(data), "\n")
		},
		"nindent": func(n int, s string) string {
			pad := strings.Repeat(" ", n)
			return "\n" + pad + strings.ReplaceAll(s, "\n", "\n"+pad)
		},
		"quote": func(v any) string { return fmt.Sprintf("%q", fmt.Sprint(v)) },
		"fail":  func(msg string) (string, error) { return "", errors.New(msg) },
	})
	var names []string
	for _, f := range chart {
		if strings.HasPrefix(f.Path, "templates/") {
			if _, err := root.New(f.Path).Parse(string(f.Data)); err != nil {
				return nil, err
			}
			if !strings.HasPrefix(path.Base(f.Path), "_") {
				names = append(names, f.Path)
			}
		}
	}
	data := map[string]any{"Values": vals, "Release": map[string]any{"Namespace": ns}}
	var b bytes.Buffer
	for _, n := range names {
		b.WriteString("---\n")
		if err := root.ExecuteTemplate(&b, n, data); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// objectsOf parses a YAML stream into objects by kind/name.
func objectsOf(t *testing.T, stream []byte) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, doc := range splitDocs(stream) {
		var obj map[string]any
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		meta, _ := obj["metadata"].(map[string]any)
		out[fmt.Sprint(obj["kind"], "/", meta["name"])] = obj
	}
	return out
}

func TestSplitDocs(t *testing.T) {
	docs := splitDocs([]byte("# header\n---\na: 1\n---\n# only a comment\n---\nb: 2\n"))
	if len(docs) != 2 || string(docs[0]) != "a: 1\n" || string(docs[1]) != "b: 2\n" {
		t.Errorf("splitDocs = %q", docs)
	}
}

// splitDocs splits a multi-document YAML on "---" lines, dropping the
// comment header and empty documents.
func splitDocs(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	flush := func() {
		if hasContent(cur.Bytes()) {
			docs = append(docs, append([]byte(nil), cur.Bytes()...))
		}
		cur.Reset()
	}
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if string(bytes.TrimRight(line, "\n")) == "---" {
			flush()
			continue
		}
		cur.Write(line)
	}
	flush()
	return docs
}

// hasContent reports whether a document has anything but comments.
func hasContent(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "#") {
			return true
		}
	}
	return false
}
