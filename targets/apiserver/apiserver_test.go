package apiserver

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/etcdgen/etcdgen/render"
	"github.com/etcdgen/etcdgen/render/rendertest"
)

func model(t testing.TB, spec string) *render.Model { return rendertest.Model(t, spec) }

const ipv6Prefix = `name: "v6"
members: [{name: "a", ip: "fd00::a"}, {name: "b", ip: "fd00::b"}, {name: "c", ip: "fd00::c"}]
apiserver: prefix: "/registry-v6"
`

// parse reads a format's file back into arguments, the way its consumer
// would: lines, shell words (single quotes removed), env values, a YAML or
// JSON list.
func parse(t *testing.T, format string, data []byte) []string {
	t.Helper()
	s := string(data)
	var out []string
	switch format {
	case "lines":
		out = strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	case "shell":
		if strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\n") {
			t.Fatalf("shell format is not one line: %q", s)
		}
		for _, w := range strings.Fields(s) {
			out = append(out, strings.ReplaceAll(w, "'", ""))
		}
	case "env":
		line := regexp.MustCompile(`^KUBE_ETCD_[A-Z]+="([^"]*)"$`)
		for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
			if strings.HasPrefix(l, "#") {
				continue
			}
			m := line.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("env line %q is not KUBE_ETCD_*=\"...\"", l)
			}
			out = append(out, m[1])
		}
	case "yaml":
		if err := yaml.UnmarshalStrict(data, &out); err != nil {
			t.Fatal(err)
		}
	case "json":
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("no parser for format %s", format)
	}
	return out
}

// TestEveryFormatSaysTheSame renders every format and reads each back: all
// carry exactly the flags, in order.
func TestEveryFormatSaysTheSame(t *testing.T) {
	for name, spec := range map[string]string{
		"example": "",
		"ipv6":    ipv6Prefix,
		"tls-off": "name: \"p\"\nmembers: [{name: \"a\", ip: \"10.0.0.1\"}]\ntls: enabled: false\n",
	} {
		t.Run(name, func(t *testing.T) {
			m := model(t, spec)
			flags, err := Flags(m)
			if err != nil {
				t.Fatal(err)
			}
			want := args(flags)
			files, err := Target.Run(m)
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != len(Formats) {
				t.Fatalf("%d files, want one per format (%d)", len(files), len(Formats))
			}
			byPath := map[string][]byte{}
			for _, f := range files {
				byPath[f.Path] = f.Data
			}
			for _, f := range Formats {
				data, ok := byPath[f.File]
				if !ok {
					t.Fatalf("no %s", f.File)
				}
				if got := parse(t, f.Name, data); strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("%s reads back as\n  %s\nwant\n  %s", f.File, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
				}
			}
		})
	}
}

func TestFlags(t *testing.T) {
	m := model(t, ipv6Prefix)
	flags, err := Flags(m)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"--etcd-servers=https://[fd00::a]:2379,https://[fd00::b]:2379,https://[fd00::c]:2379",
		"--etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt",
		"--etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt",
		"--etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key",
		"--etcd-prefix=/registry-v6",
	}
	if got := args(flags); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("flags\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if err := render.CheckConsistency(m, ClientView(m)); err != nil {
		t.Errorf("the flags' view is inconsistent: %v", err)
	}
}

func TestShellQuotesGlobs(t *testing.T) {
	data, err := shell(nil, []Flag{{"etcd-servers", "https://[fd00::a]:2379"}, {"etcd-cafile", "/a/ca.crt"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := "--etcd-servers='https://[fd00::a]:2379' --etcd-cafile=/a/ca.crt\n"; string(data) != want {
		t.Errorf("shell line %q, want %q", data, want)
	}
}

func TestUnsafeValueIsAnError(t *testing.T) {
	for _, bad := range []string{"/etc/k ey", `/etc/"k"`, "/etc/$HOME", "/etc/`id`", "/etc/k\\ey", "/etc/k\ney"} {
		m := model(t, "")
		m.Spec.APIServer.KeyFile = bad
		_, err := Target.Run(m)
		if err == nil || !strings.Contains(err.Error(), "--etcd-keyfile value") {
			t.Errorf("key file %q: error %v, want one naming --etcd-keyfile", bad, err)
		}
	}
}

func TestTargetFor(t *testing.T) {
	m := model(t, "")
	for _, f := range Formats {
		tg, err := TargetFor(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		files, err := tg.Run(m)
		if err != nil {
			t.Fatal(err)
		}
		if len(files) != 1 || files[0].Path != f.File || tg.Name != Name {
			t.Errorf("format %s: target %s renders %d files (first %q), want only %s", f.Name, tg.Name, len(files), files[0].Path, f.File)
		}
	}
	if _, err := TargetFor("toml"); err == nil || !strings.Contains(err.Error(), "want one of lines, shell, env, yaml, json") {
		t.Errorf("unknown format: error %v", err)
	}
}

func TestDeterministic(t *testing.T) {
	a, err := Target.Run(model(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Target.Run(model(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if a[i].Path != b[i].Path || string(a[i].Data) != string(b[i].Data) {
			t.Errorf("%s differs between two renders", a[i].Path)
		}
	}
}
