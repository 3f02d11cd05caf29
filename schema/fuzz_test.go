package schema_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/etcdgen/etcdgen/render"
	"github.com/etcdgen/etcdgen/schema"
	"github.com/etcdgen/etcdgen/targets/all"
	"github.com/etcdgen/etcdgen/targets/k8s"
)

// The fuzz targets must never panic, hang or write outside the output
// root, whatever the bytes. Run them by hand for longer:
//
//	go test ./schema -run '^$' -fuzz '^FuzzLoad$' -fuzztime 30s
//	go test ./schema -run '^$' -fuzz '^FuzzLoadRender$' -fuzztime 30s
//	go test ./schema -run '^$' -fuzz '^FuzzSpecFields$' -fuzztime 30s
//
// Each is seeded with every spec in the testscript corpus
// (testdata/script/*.txtar), the built-in example, and the crashers found
// so far (testdata/fuzz/<Name>/).

var (
	loaderOnce sync.Once
	loader     *schema.Loader
)

func sharedLoader(t testing.TB) *schema.Loader {
	loaderOnce.Do(func() {
		var err error
		if loader, err = schema.NewLoader(); err != nil {
			panic(err)
		}
	})
	return loader
}

// names give the loader each format; "-" makes it sniff.
var names = []string{"spec.cue", "spec.yaml", "spec.json", "-"}

// corpusSpecs are the spec files inside the testscript corpus.
func corpusSpecs(t testing.TB) [][]byte {
	scripts, err := filepath.Glob("../testdata/script/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	out := [][]byte{schema.Example}
	for _, s := range scripts {
		ar, err := txtar.ParseFile(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range ar.Files {
			if schema.FormatOf(f.Name) != schema.FormatAuto {
				out = append(out, f.Data)
			}
		}
	}
	return out
}

func seed(f *testing.F) {
	for _, data := range corpusSpecs(f) {
		for i := range names {
			f.Add(data, uint8(i))
		}
	}
}

// checkErr insists on the error shape a person sees: *schema.Errors with
// a message per problem, never empty.
func checkErr(t *testing.T, err error) {
	var se *schema.Errors
	if !errors.As(err, &se) {
		t.Fatalf("Load error is %T, want *schema.Errors: %v", err, err)
	}
	if len(se.List) == 0 {
		t.Fatalf("Load returned an empty *schema.Errors")
	}
	for _, p := range se.List {
		if strings.TrimSpace(p.Msg) == "" || strings.HasSuffix(p.Msg, ": ") {
			t.Fatalf("problem without a message: %q", p.String())
		}
	}
}

// FuzzLoad: bytes in any format -> Load. No panic; errors are Problems.
func FuzzLoad(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, data []byte, format uint8) {
		l := sharedLoader(t)
		name := names[int(format)%len(names)]
		c, _, err := l.Load(name, data)
		if err != nil {
			checkErr(t, err)
			return
		}
		if c == nil {
			t.Fatal("Load returned neither a cluster nor an error")
		}
	})
}

// FuzzLoadRender: bytes -> Load -> Resolve -> every target. No panic, and
// every rendered path stays inside the output root.
func FuzzLoadRender(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, data []byte, format uint8) {
		loadRender(t, names[int(format)%len(names)], data)
	})
}

// FuzzSpecFields builds a well-formed spec around fuzzed values, so the
// fuzzer spends its time past the parser: names and addresses become paths
// and URLs in every target.
func FuzzSpecFields(f *testing.F) {
	f.Add("etcd-prod", "etcd1", "10.0.0.11", "etcd2", "fd00::12", "etcd1.example.com", 2379, 2380, 2381, "/var/lib/etcd")
	f.Add("a", "..", "010.1.1.1", "a/b", "::ffff:1.2.3.4", "", 0, 65536, -1, "var")
	f.Add("x", "ETCD", "1.2.3", "a b", "fe80::1%eth0", "x..y", 2380, 2380, 0, "/a b")
	f.Fuzz(func(t *testing.T, name, m1, ip1, m2, ip2, host string, client, peer, metrics int, dataDir string) {
		spec := map[string]any{
			"name": name,
			"members": []any{
				map[string]any{"name": m1, "ip": ip1, "hostnames": []string{host}},
				map[string]any{"name": m2, "ip": ip2},
			},
			"ports":   map[string]any{"client": client, "peer": peer, "metrics": metrics},
			"dataDir": dataDir,
		}
		if host == "" {
			delete(spec["members"].([]any)[0].(map[string]any), "hostnames")
		}
		data, err := json.Marshal(spec)
		if err != nil {
			t.Skip()
		}
		loadRender(t, "spec.json", data)
	})
}

// loadRender: what Load accepts, Resolve and every target render (issue
// 12: validate accepts exactly what render accepts), every path stays in
// the output root, and every Kubernetes name is valid.
func loadRender(t *testing.T, name string, data []byte) {
	l := sharedLoader(t)
	c, _, err := l.Load(name, data)
	if err != nil {
		checkErr(t, err)
		return
	}
	m, err := render.Resolve(c)
	if err != nil {
		t.Fatalf("Load accepted the spec, Resolve refused it: %v", err)
	}
	root := filepath.Join(string(filepath.Separator)+"out", "root")
	for _, tg := range all.Targets {
		if (tg.Hosts && len(m.Members) == 0) || (tg.Name == "k8s-secrets" && m.Bundle == nil) {
			continue // refused by design: no hosts, no bundle
		}
		files, err := tg.Run(m)
		if err != nil {
			t.Fatalf("Load accepted the spec, the %s target refused it: %v", tg.Name, err)
		}
		for _, f := range files {
			if err := render.CheckPath(f.Path); err != nil {
				t.Fatalf("%s: %v", tg.Name, err)
			}
			full := filepath.Join(root, filepath.FromSlash(f.Path))
			if rel, err := filepath.Rel(root, full); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				t.Fatalf("%s: %s leaves the output root", tg.Name, f.Path)
			}
		}
	}
	checkKubernetesNames(t, m)
}

var (
	dns1123Label     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dns1035Label     = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)
	dns1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// checkKubernetesNames applies Kubernetes' name rules (apimachinery's
// validation: IsDNS1035Label for Services, IsDNS1123Label for pod
// hostnames, IsDNS1123Subdomain for other objects) to every object of the
// k8s target, to its pods, to the controller-revision-hash label
// "<statefulset>-<10 characters>", and to every cert-manager dnsName.
func checkKubernetesNames(t *testing.T, m *render.Model) {
	docs, err := k8s.Documents(m)
	if err != nil {
		t.Fatalf("k8s documents: %v", err)
	}
	label := func(what, s string, re *regexp.Regexp) {
		if len(s) > 63 || !re.MatchString(s) {
			t.Fatalf("%s %q is not a valid Kubernetes name (label)", what, s)
		}
	}
	for _, d := range docs {
		switch d.Kind {
		case "Service":
			label("Service", d.Name, dns1035Label)
		case "StatefulSet":
			label("StatefulSet's controller-revision-hash", d.Name+"-0123456789", dns1123Label)
		default:
			if len(d.Name) > 253 || !dns1123Subdomain.MatchString(d.Name) {
				t.Fatalf("%s %q is not a valid Kubernetes name", d.Kind, d.Name)
			}
		}
	}
	for _, p := range m.Kubernetes.Pods {
		label("pod", p.Name, dns1123Label)
		for _, n := range p.DNSNames {
			if len(n) > 253 || !dns1123Subdomain.MatchString(n) {
				t.Fatalf("pod %s: dnsName %q is not a valid DNS name", p.Name, n)
			}
		}
	}
}

// TestCorpusLoads runs every corpus spec through the fuzz checks once, so
// `go test` covers them without -fuzz.
func TestCorpusLoads(t *testing.T) {
	for i, data := range corpusSpecs(t) {
		for _, name := range names {
			t.Run(fmt.Sprintf("%d/%s", i, name), func(t *testing.T) {
				loadRender(t, name, data)
			})
		}
	}
}
