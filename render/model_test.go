package render

import (
	"strings"
	"testing"

	"github.com/etcdgen/etcdgen/schema"
)

func load(t testing.TB, spec string) *Model {
	t.Helper()
	l, err := schema.NewLoader()
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := l.Load("spec.cue", []byte(spec))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	m, err := Resolve(c)
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	return m
}

func TestURL(t *testing.T) {
	for _, tc := range []struct {
		scheme, host string
		port         int
		want         string
	}{
		{"https", "10.0.0.1", 2379, "https://10.0.0.1:2379"},
		{"http", "fd00::1", 2380, "http://[fd00::1]:2380"},
		{"https", "::1", 1, "https://[::1]:1"},
		{"https", "etcd-0.etcd", 2380, "https://etcd-0.etcd:2380"},
	} {
		if got := URL(tc.scheme, tc.host, tc.port); got != tc.want {
			t.Errorf("URL(%q, %q, %d) = %q, want %q", tc.scheme, tc.host, tc.port, got, tc.want)
		}
	}
}

func TestResolveMembers(t *testing.T) {
	m := load(t, `
name: "c"
members: [
	{name: "a", ip: "10.0.0.1"},
	{name: "b", ip: "fd00::2", hostnames: ["b.example.com"]},
	{name: "l", ip: "127.0.0.3", initialState: "existing"},
]
ports: metrics: 0
`)
	if got, want := m.InitialCluster, "a=https://10.0.0.1:2380,b=https://[fd00::2]:2380,l=https://127.0.0.3:2380"; got != want {
		t.Errorf("InitialCluster = %q, want %q", got, want)
	}
	if got, want := strings.Join(m.ClientURLs, ","), "https://10.0.0.1:2379,https://[fd00::2]:2379,https://127.0.0.3:2379"; got != want {
		t.Errorf("ClientURLs = %q, want %q", got, want)
	}
	a, b, l := m.Members[0], m.Members[1], m.Members[2]
	if got, want := strings.Join(a.ListenClientURLs, ","), "https://10.0.0.1:2379,https://127.0.0.1:2379"; got != want {
		t.Errorf("a listen client = %q, want %q", got, want)
	}
	// A loopback member must not bind 127.0.0.1 twice... nor at all: it is
	// already on loopback.
	if got, want := strings.Join(l.ListenClientURLs, ","), "https://127.0.0.3:2379"; got != want {
		t.Errorf("l listen client = %q, want %q", got, want)
	}
	if len(a.ListenMetricsURLs) != 0 {
		t.Errorf("metrics off, but a listens on %v", a.ListenMetricsURLs)
	}
	if l.InitialState != "existing" || a.InitialState != "new" {
		t.Errorf("initial states: a=%q l=%q", a.InitialState, l.InitialState)
	}
	if b.ServerCert == nil || b.PeerCert == nil {
		t.Fatal("member b has no cert plan")
	}
	sans := strings.Join(b.ServerCert.DNSNames, ",")
	if sans != "b,b.example.com,localhost" {
		t.Errorf("b server DNS SANs = %q", sans)
	}
	if m.Token != "c" {
		t.Errorf("token defaults to the cluster name, got %q", m.Token)
	}
}

func TestResolveTLSOffHasNoCerts(t *testing.T) {
	m := load(t, `name: "c", members: [{name: "a", ip: "10.0.0.1"}], tls: enabled: false`)
	if m.Certs != nil || m.Members[0].ServerCert != nil {
		t.Errorf("TLS off planned certs: %v", m.Certs)
	}
	if !strings.HasPrefix(m.Members[0].PeerURL, "http://") {
		t.Errorf("TLS off peer URL %q", m.Members[0].PeerURL)
	}
}

func TestKubernetesDefaults(t *testing.T) {
	m := load(t, `name: "pods", kubernetes: {namespace: "db", clusterDomain: "k.example"}`)
	k := m.Kubernetes
	if k.Replicas != 3 || len(k.Pods) != 3 {
		t.Fatalf("replicas = %d, pods = %d; want 3", k.Replicas, len(k.Pods))
	}
	if got, want := k.InitialCluster, "pods-0=https://pods-0.pods:2380,pods-1=https://pods-1.pods:2380,pods-2=https://pods-2.pods:2380"; got != want {
		t.Errorf("InitialCluster = %q, want %q", got, want)
	}
	if got, want := k.Pods[1].DNSNames[4], "pods-1.pods.db.svc.k.example"; got != want {
		t.Errorf("FQDN = %q, want %q", got, want)
	}
	if got, want := k.ClientURLs[0], "https://pods-0.pods.db.svc:2379"; got != want {
		t.Errorf("client URL = %q, want %q", got, want)
	}
	if k.MetricsPort != PodMetricsPort {
		t.Errorf("pod metrics port %d", k.MetricsPort)
	}
}

func TestParseVersion(t *testing.T) {
	v, err := ParseVersion("3.5.21")
	if err != nil || v.AtLeast(3, 6) || !v.AtLeast(3, 5) || v.String() != "3.5.21" {
		t.Errorf("3.5.21 -> %v, %v", v, err)
	}
	if _, err := ParseVersion("3.6"); err == nil {
		t.Error("3.6 parsed")
	}
}

func benchResolve(b *testing.B, n int) {
	l, err := schema.NewLoader()
	if err != nil {
		b.Fatal(err)
	}
	c, _, err := l.Load("bench.cue", []byte(schema.Spec(n)))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Resolve(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResolve3(b *testing.B) { benchResolve(b, 3) }
func BenchmarkResolve7(b *testing.B) { benchResolve(b, 7) }
