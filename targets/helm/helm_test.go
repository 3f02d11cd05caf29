package helm

import (
	"bytes"
	"strings"
	"testing"

	"github.com/etcdgen/etcdgen/render"
	"github.com/etcdgen/etcdgen/render/rendertest"
	"github.com/etcdgen/etcdgen/schema"
	"github.com/etcdgen/etcdgen/targets/k8s"
)

func model(t testing.TB, spec string) *render.Model { return rendertest.Model(t, spec) }

// The templates, put back together, are the k8s target's documents.
func TestTemplatesAreTheK8sDocuments(t *testing.T) {
	for _, spec := range []string{string(schema.Example), `name: "plain", kubernetes: replicas: 5, tls: enabled: false`} {
		m := model(t, spec)
		chart, err := Target.Run(m)
		if err != nil {
			t.Fatal(err)
		}
		k, err := k8s.Render(m)
		if err != nil {
			t.Fatal(err)
		}
		want := splitDocs(k[0].Data)
		var got [][]byte
		for _, f := range chart {
			if strings.HasPrefix(f.Path, "templates/") {
				got = append(got, f.Data)
			}
		}
		if len(got) != len(want) || len(got) < 4 {
			t.Fatalf("%d templates, %d k8s documents", len(got), len(want))
		}
		for _, w := range want {
			found := false
			for _, g := range got {
				found = found || bytes.Equal(g, w)
			}
			if !found {
				t.Errorf("k8s document not in the chart:\n%s", w)
			}
		}
	}
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
