package systemd

import (
	"strings"
	"testing"

	"github.com/etcdgen/etcdgen/render"
	"github.com/etcdgen/etcdgen/render/rendertest"
	"github.com/etcdgen/etcdgen/schema"
)

func model(t testing.TB, spec string) *render.Model { return rendertest.Model(t, spec) }

// envMap reads an env file the way systemd's EnvironmentFile= does, for
// the simple unquoted lines this target writes.
func envMap(t *testing.T, data []byte) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("not KEY=VALUE: %q", line)
		}
		if _, dup := out[k]; dup {
			t.Fatalf("%s set twice", k)
		}
		if strings.ContainsAny(v, " \t\"'") {
			t.Fatalf("%s=%q needs quoting", k, v)
		}
		out[k] = v
	}
	return out
}

func TestEnvFileSeedVariables(t *testing.T) {
	m := model(t, string(schema.Example))
	data, err := EnvFileFor(m, &m.Members[1])
	if err != nil {
		t.Fatal(err)
	}
	env := envMap(t, data)
	// Every variable seed 000's TLS config sets, with the member's values.
	want := map[string]string{
		"ETCD_NAME":                        "etcd2",
		"ETCD_DATA_DIR":                    "/var/lib/etcd",
		"ETCD_LISTEN_PEER_URLS":            "https://10.10.0.11:2380",
		"ETCD_LISTEN_CLIENT_URLS":          "https://10.10.0.11:2379,https://127.0.0.1:2379",
		"ETCD_INITIAL_ADVERTISE_PEER_URLS": "https://10.10.0.11:2380",
		"ETCD_INITIAL_CLUSTER":             "etcd1=https://10.10.0.10:2380,etcd2=https://10.10.0.11:2380,etcd3=https://10.10.0.12:2380",
		"ETCD_INITIAL_CLUSTER_STATE":       "new",
		"ETCD_INITIAL_CLUSTER_TOKEN":       "etcd-prod",
		"ETCD_ADVERTISE_CLIENT_URLS":       "https://10.10.0.11:2379",
		"ETCD_CERT_FILE":                   "/etc/etcd/pki/server.crt",
		"ETCD_KEY_FILE":                    "/etc/etcd/pki/server.key",
		"ETCD_TRUSTED_CA_FILE":             "/etc/etcd/pki/ca.crt",
		"ETCD_CLIENT_CERT_AUTH":            "true",
		"ETCD_PEER_CERT_FILE":              "/etc/etcd/pki/peer.crt",
		"ETCD_PEER_KEY_FILE":               "/etc/etcd/pki/peer.key",
		"ETCD_PEER_TRUSTED_CA_FILE":        "/etc/etcd/pki/ca.crt",
		"ETCD_PEER_CLIENT_CERT_AUTH":       "true",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	for k := range env {
		if strings.Contains(k, "EXPERIMENTAL") || strings.Contains(k, "PROXY") || k == "ETCD_ENABLE_V2" || k == "ETCD_CONFIG_FILE" {
			t.Errorf("%s must not be set for etcd 3.6", k)
		}
	}
}

func TestEtcdctlEndpointsOnce(t *testing.T) {
	m := model(t, string(schema.Example))
	data, err := EtcdctlEnv(m)
	if err != nil {
		t.Fatal(err)
	}
	env := envMap(t, data)
	eps := strings.Split(env["ETCDCTL_ENDPOINTS"], ",")
	seen := map[string]bool{}
	for _, e := range eps {
		if seen[e] {
			t.Errorf("endpoint %s listed twice", e)
		}
		seen[e] = true
	}
	if len(eps) != 3 {
		t.Errorf("%d endpoints, want 3", len(eps))
	}
}

func TestRenderDeterministic(t *testing.T) {
	m := model(t, schema.Spec(7))
	a, err := Target.Run(m)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Target.Run(model(t, schema.Spec(7)))
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 28 || len(a) != len(b) {
		t.Fatalf("%d and %d files, want 28", len(a), len(b))
	}
	for i := range a {
		if a[i].Path != b[i].Path || string(a[i].Data) != string(b[i].Data) {
			t.Fatalf("%s differs between two renders", a[i].Path)
		}
	}
}

func benchRender(b *testing.B, n int) {
	m := model(b, schema.Spec(n))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Target.Run(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRender3(b *testing.B) { benchRender(b, 3) }
func BenchmarkRender7(b *testing.B) { benchRender(b, 7) }
