// Package helm wraps the k8s target's objects in a minimal Helm chart, so
// the cluster can be installed and upgraded with `helm upgrade --install`.
// The templates are the k8s target's documents with two kinds of Helm
// actions put in: every object's namespace is the release's (as Helm's
// chart best practices ask), and the StatefulSet's pod template takes the
// values a Helm user changes per environment (values.yaml). With default
// values `helm template` yields the same objects as
// `etcdgen render --target k8s`.
package helm

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	goyaml "go.yaml.in/yaml/v2"
	"sigs.k8s.io/yaml"

	"github.com/etcdgen/etcdgen/render"
	"github.com/etcdgen/etcdgen/targets/escape"
	"github.com/etcdgen/etcdgen/targets/k8s"
)

// Target is the helm target.
var Target = render.Target{
	Name:    "helm",
	Summary: "a Helm chart (Chart.yaml, values.yaml, templates/) of the k8s target's objects",
	Render:  Render,
}

// ChartVersion is fixed: the chart is regenerated from the spec, and its
// content, not a counter, says what changed (a version derived from a
// hash would churn every golden and every commit).
const ChartVersion = "0.1.0"

// A value of the chart: where it sits in the StatefulSet and what
// values.yaml says about it. Only what leaves the cluster's identity alone
// (names, members, ports, certificates and flags stay the spec's).
type value struct {
	name string
	// path from the StatefulSet's root; the last element is the field.
	path []string
	// container: the path is inside the first container (etcd).
	container bool
	// always: the field is written even when empty (an empty value
	// otherwise drops it, as the k8s target omits empty fields).
	always bool
	doc    string
}

var values = []value{
	{name: "image", path: []string{"image"}, container: true, always: true,
		doc: "The etcd image (the spec's kubernetes.image), e.g. a mirror of it.\nIts etcd must be the spec's version: the flags are spelled for it."},
	{name: "resources", path: []string{"resources"}, container: true, always: true,
		doc: "The etcd container's requests and limits (kubernetes.resources)."},
	{name: "nodeSelector", path: []string{"spec", "template", "spec", "nodeSelector"},
		doc: "Labels the pods' nodes must have (kubernetes.nodeSelector)."},
	{name: "tolerations", path: []string{"spec", "template", "spec", "tolerations"},
		doc: "Taints the pods tolerate (kubernetes.tolerations)."},
	{name: "affinity", path: []string{"spec", "template", "spec", "affinity"},
		doc: "The pods' affinity: by default members on different nodes\n(kubernetes.antiAffinity); keep an anti-affinity, one node lost should\ncost one member."},
	{name: "priorityClassName", path: []string{"spec", "template", "spec", "priorityClassName"},
		doc: "The pods' PriorityClass (kubernetes.priorityClassName)."},
	{name: "podAnnotations", path: []string{"spec", "template", "metadata", "annotations"},
		doc: "Annotations of the pods (kubernetes.podAnnotations)."},
}

// Placeholders the edited objects carry until they become Helm actions.
const (
	placeholder   = "ETCDGEN-HELM-VALUE-"
	namespaceMark = "ETCDGEN-HELM-NAMESPACE"
	// namespaceTpl names the helper that checks the release namespace.
	namespaceTpl = "etcdgen.namespace"
)

var placeholderLine = regexp.MustCompile(`(?m)^( *)(- )?([A-Za-z]+): ` + placeholder + `([A-Za-z]+)$`)

// Render returns the chart.
func Render(m *render.Model) ([]render.File, error) {
	objs, err := k8s.Objects(m)
	if err != nil {
		return nil, err
	}
	defaults := map[string]any{}
	var templates []render.File
	seen := map[string]bool{}
	for _, o := range objs {
		doc, err := k8s.MarshalEdited(o, func(obj map[string]any) {
			if meta, ok := obj["metadata"].(map[string]any); ok && meta["namespace"] != nil {
				meta["namespace"] = namespaceMark
			}
			if obj["kind"] == "StatefulSet" {
				takeValues(obj, defaults)
			}
		})
		if err != nil {
			return nil, err
		}
		name := "templates/" + strings.ToLower(doc.Kind) + "-" + doc.Name + ".yaml"
		if seen[name] {
			return nil, fmt.Errorf("internal error: two %s named %s", doc.Kind, doc.Name)
		}
		seen[name] = true
		// Helm reads every file under templates/ as a Go template: a
		// value's "{{" is escaped first, so `helm template` prints it as
		// is; then the chart's own actions go in.
		templates = append(templates, render.File{Path: name, Mode: 0o644, Data: actions(escape.Helm(doc.YAML))})
	}
	if len(defaults) != len(values) {
		return nil, fmt.Errorf("internal error: %d of %d chart values found in the StatefulSet", len(defaults), len(values))
	}
	vals, err := valuesYAML(defaults)
	if err != nil {
		return nil, err
	}
	out := []render.File{
		{Path: "Chart.yaml", Mode: 0o644, Data: chart(m)},
		{Path: "values.yaml", Mode: 0o644, Data: vals},
		// etcdgen's bookkeeping (manifest, lock, journal, temp files) is
		// not part of the chart.
		{Path: ".helmignore", Mode: 0o644, Data: []byte(".etcdgen-*\n")},
		{Path: "templates/_helpers.tpl", Mode: 0o644, Data: helpers(m)},
	}
	return append(out, templates...), nil
}

// takeValues moves each value's field of the StatefulSet into defaults and
// leaves a placeholder in its place.
func takeValues(sts map[string]any, defaults map[string]any) {
	for _, v := range values {
		at := sts
		if v.container {
			spec, _ := dig(sts, "spec", "template", "spec")
			cs, _ := spec["containers"].([]any)
			if len(cs) == 0 {
				return
			}
			at, _ = cs[0].(map[string]any)
		}
		parent, ok := dig(at, v.path[:len(v.path)-1]...)
		if !ok {
			continue
		}
		field := v.path[len(v.path)-1]
		defaults[v.name] = parent[field] // nil when the k8s target omits it
		parent[field] = placeholder + v.name
	}
}

// dig walks maps along path, making the missing ones (metadata.annotations
// of a pod template without annotations).
func dig(m map[string]any, path ...string) (map[string]any, bool) {
	for _, p := range path {
		next, ok := m[p].(map[string]any)
		if !ok {
			if m[p] != nil {
				return nil, false
			}
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	return m, true
}

// actions turns the placeholders into Helm actions. A value's field is
// written from .Values, or left out when the value is empty (as the k8s
// target leaves out empty fields); image and resources are always written.
func actions(doc []byte) []byte {
	// Quoted: a namespace such as "null", "yes" or "1e3" is a valid DNS
	// label, and YAML would read it unquoted as null, a bool or a number.
	doc = bytes.ReplaceAll(doc, []byte(namespaceMark), []byte(`{{ include "`+namespaceTpl+`" . | quote }}`))
	return placeholderLine.ReplaceAllFunc(doc, func(line []byte) []byte {
		sub := placeholderLine.FindSubmatch(line)
		indent, field, name := string(sub[1]), string(sub[3]), string(sub[4])
		if len(sub[2]) > 0 {
			// A value as a list item's first key: no field here is one.
			panic("internal error: chart value " + name + " is a list item's first key")
		}
		var always bool
		for _, v := range values {
			if v.name == name {
				always = v.always
			}
		}
		n := len(indent) + 2
		var b strings.Builder
		switch {
		case name == "image":
			fmt.Fprintf(&b, "%s%s: {{ .Values.%s | quote }}", indent, field, name)
		case always:
			fmt.Fprintf(&b, "%s%s:\n%s  {{- toYaml .Values.%s | nindent %d }}", indent, field, indent, name, n)
		case name == "priorityClassName":
			fmt.Fprintf(&b, "%s{{- with .Values.%s }}\n%s%s: {{ . | quote }}\n%s{{- end }}", indent, name, indent, field, indent)
		default:
			fmt.Fprintf(&b, "%s{{- with .Values.%s }}\n%s%s:\n%s  {{- toYaml . | nindent %d }}\n%s{{- end }}", indent, name, indent, field, indent, n, indent)
		}
		return []byte(b.String())
	})
}

// valuesYAML is values.yaml: each value with its comment and the spec's
// value as its default; an empty one as {}, [] or "" of its kind.
func valuesYAML(defaults map[string]any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`# Values a Helm user changes per environment. Each default is the cluster
# spec's, so with no values set the chart installs exactly the objects of
# ` + "`etcdgen render --target k8s`" + `. The cluster's identity (names, namespace,
# members, ports, certificates, etcd's flags) is the spec's: change the spec
# and render again. Install into the spec's namespace (helm install -n NS):
# the members' URLs and certificates name it.
`)
	empty := map[string]any{"tolerations": []any{}, "priorityClassName": "", "image": ""}
	for _, v := range values {
		d := defaults[v.name]
		if d == nil {
			d = empty[v.name]
			if d == nil {
				d = map[string]any{}
			}
		}
		data, err := goyaml.Marshal(map[string]any{v.name: d})
		if err != nil {
			return nil, fmt.Errorf("internal error: values.yaml %s: %w", v.name, err)
		}
		b.WriteString("\n")
		for _, line := range strings.Split(v.doc, "\n") {
			b.WriteString("# " + line + "\n")
		}
		b.Write(data)
	}
	return b.Bytes(), nil
}

// helpers defines the objects' namespace: the release's, which must be the
// spec's, since the members' advertised URLs and certificate names contain
// it. `helm install -n other` fails with a message instead of installing
// members that cannot reach each other.
func helpers(m *render.Model) []byte {
	ns := m.Kubernetes.Namespace
	return []byte(`{{/* The release namespace, which must be the spec's (` + ns + `): the members'
URLs and certificates name it. Render the spec with kubernetes.namespace
set to install elsewhere. */}}
{{- define "` + namespaceTpl + `" -}}
{{- if ne .Release.Namespace "` + ns + `" -}}
{{- fail (printf "this chart is for namespace ` + ns + `, not %s: the members' URLs and certificates name it; set kubernetes.namespace in the spec and render again" .Release.Namespace) -}}
{{- end -}}
{{- .Release.Namespace -}}
{{- end -}}
`)
}

func chart(m *render.Model) []byte {
	c := map[string]any{
		"apiVersion":  "v2",
		"name":        m.Name,
		"description": fmt.Sprintf("etcd cluster %s (%d members, etcd %s), generated by etcdgen", m.Name, m.Kubernetes.Replicas, m.Version),
		"type":        "application",
		"version":     ChartVersion,
		"appVersion":  m.Version.String(),
		"keywords":    []string{"etcd"},
	}
	data, _ := yaml.Marshal(c)
	return append([]byte("# Generated by etcdgen: helm upgrade --install -n "+m.Kubernetes.Namespace+" "+m.Name+" .\n"), data...)
}
