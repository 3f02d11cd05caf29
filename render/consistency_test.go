package render_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/etcdgen/etcdgen/render"
	"github.com/etcdgen/etcdgen/schema"
	"github.com/etcdgen/etcdgen/targets/apiserver"
	"github.com/etcdgen/etcdgen/targets/kubeadm"
)

// model loads a spec (the built-in example when spec is "") and resolves it.
func model(t *testing.T, spec string) *render.Model {
	t.Helper()
	l, err := schema.NewLoader()
	if err != nil {
		t.Fatal(err)
	}
	name, data := "spec.cue", []byte(spec)
	if spec == "" {
		name, data = schema.ExampleName, schema.Example
	}
	c, _, err := l.Load(name, data)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	m, err := render.Resolve(c)
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	return m
}

// views are what the real targets hand kube-apiserver.
func views(m *render.Model) []render.ClientView {
	return []render.ClientView{kubeadm.ClientView(m), apiserver.ClientView(m)}
}

const (
	ipv6Spec = `name: "v6"
members: [
	{name: "a", ip: "fd00::a"},
	{name: "b", ip: "fd00::b", hostnames: ["b.example.com"]},
	{name: "c", ip: "fd00::c"},
]
`
	tlsOffSpec = `name: "plain"
members: [{name: "a", ip: "10.0.0.1"}, {name: "b", ip: "10.0.0.2"}, {name: "c", ip: "10.0.0.3"}]
tls: enabled: false
`
	podsSpec = `name: "pods"
kubernetes: namespace: "etcd"
`
)

func TestConsistentSpecs(t *testing.T) {
	for name, spec := range map[string]string{"example": "", "ipv6": ipv6Spec, "tls-off": tlsOffSpec, "pods-only": podsSpec} {
		t.Run(name, func(t *testing.T) {
			m := model(t, spec)
			if err := render.CheckConsistency(m, views(m)...); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// problems runs the check and returns its problems, failing the test when
// it passes.
func problems(t *testing.T, m *render.Model, vs ...render.ClientView) []string {
	t.Helper()
	err := render.CheckConsistency(m, vs...)
	if err == nil {
		t.Fatal("the check passed a broken model")
	}
	var ce *render.ConsistencyError
	if !errors.As(err, &ce) {
		t.Fatalf("error %T %v, want *ConsistencyError", err, err)
	}
	if ce.Cluster != m.Name || !strings.HasPrefix(err.Error(), "cluster "+m.Name+": ") {
		t.Errorf("error does not name cluster %s: %v", m.Name, err)
	}
	return ce.Problems
}

// wantProblem checks one of the problems contains every want.
func wantProblem(t *testing.T, got []string, want ...string) {
	t.Helper()
	for _, p := range got {
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(p, w)
		}
		if ok {
			return
		}
	}
	t.Errorf("no problem says %q; got:\n  %s", want, strings.Join(got, "\n  "))
}

func TestURLRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec string
		set  func(m *render.Model)
		want []string
	}{
		{"scheme-vs-tls", "", func(m *render.Model) { m.Members[0].ClientURL = "http://10.10.0.10:2379" },
			[]string{"member etcd1: advertised client URL", "scheme http, want https (TLS is on)"}},
		{"scheme-vs-tls-off", tlsOffSpec, func(m *render.Model) { m.Members[1].PeerURL = "https://10.0.0.2:2380" },
			[]string{"member b: advertised peer URL", "scheme https, want http (TLS is off)"}},
		{"unknown-scheme", "", func(m *render.Model) { m.Members[0].PeerURL = "unix://10.10.0.10:2380" },
			[]string{`scheme "unix", want https`}},
		{"one-slash", "", func(m *render.Model) { m.Members[1].PeerURL = "https:/10.10.0.11:2380" },
			[]string{"member etcd2: advertised peer URL", "exactly one //"}},
		{"three-slashes", "", func(m *render.Model) { m.Members[1].PeerURL = "https:///10.10.0.11:2380" },
			[]string{"exactly one //"}},
		{"ipv6-without-brackets", ipv6Spec, func(m *render.Model) { m.Members[0].ListenClientURLs[0] = "https://fd00::a:2379" },
			[]string{"member a: listen client URL", "IPv6 address needs brackets"}},
		{"brackets-on-ipv4", "", func(m *render.Model) { m.Members[0].ListenPeerURLs[0] = "https://[10.10.0.10]:2380" },
			[]string{"brackets are for IPv6 addresses only"}},
		{"no-port", "", func(m *render.Model) { m.Members[2].ClientURL = "https://10.10.0.12" },
			[]string{"member etcd3: advertised client URL", "want host:port"}},
		{"port-zero", "", func(m *render.Model) { m.Members[2].ClientURL = "https://10.10.0.12:0" },
			[]string{`port "0" is not a number from 1 to 65535`}},
		{"no-host", tlsOffSpec, func(m *render.Model) { m.Members[0].ListenPeerURLs[0] = "http://:2380" },
			[]string{"no host before the port"}},
		{"path", "", func(m *render.Model) { m.Members[0].ClientURL = "https://10.10.0.10:2379/v3" },
			[]string{"nothing else"}},
		{"advertised-unspecified", "", func(m *render.Model) { m.Members[0].PeerURL = "https://0.0.0.0:2380" },
			[]string{"advertises 0.0.0.0"}},
		{"metrics-over-tls", "", func(m *render.Model) { m.Members[0].ListenMetricsURLs[0] = "https://10.10.0.10:2381" },
			[]string{"listen metrics URL", "scheme https, want http"}},
		{"bad-host", "", func(m *render.Model) { m.Members[0].ClientURL = "https://etcd_1:2379" },
			[]string{`host "etcd_1" is neither an IP address nor a DNS name`}},
		{"pod-url", podsSpec, func(m *render.Model) { m.Kubernetes.Pods[1].PeerURL = "https://pods-1.pods:2380:2380" },
			[]string{"pod pods-1: peer URL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := model(t, tc.spec)
			tc.set(m)
			wantProblem(t, problems(t, m, views(m)...), tc.want...)
		})
	}
}

func TestSANRules(t *testing.T) {
	t.Run("server-cert-misses-member-ip", func(t *testing.T) {
		m := model(t, "")
		cert := m.Members[1].ServerCert
		cert.IPs = cert.IPs[1:] // drop 10.10.0.11
		got := problems(t, m)
		wantProblem(t, got, "member etcd2: client URL https://10.10.0.11:2379", "10.10.0.11 is not a SAN of cert etcd2/server", "SANs: etcd2, localhost, 127.0.0.1, ::1")
	})
	t.Run("peer-listen-host-not-covered", func(t *testing.T) {
		m := model(t, ipv6Spec)
		m.Members[1].ListenPeerURLs = append(m.Members[1].ListenPeerURLs, "https://b2.example.com:2380")
		wantProblem(t, problems(t, m), "member b: peer URL https://b2.example.com:2380", "b2.example.com is not a SAN of cert b/peer")
	})
	t.Run("unspecified-listen-needs-no-san", func(t *testing.T) {
		m := model(t, "")
		m.Members[0].ListenClientURLs = append(m.Members[0].ListenClientURLs, "https://0.0.0.0:2379")
		if err := render.CheckConsistency(m); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("hostname-san-covers", func(t *testing.T) {
		m := model(t, ipv6Spec)
		m.Members[1].ListenClientURLs = append(m.Members[1].ListenClientURLs, "https://b.example.com:2379")
		if err := render.CheckConsistency(m); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no-cert", func(t *testing.T) {
		m := model(t, "")
		m.Members[2].PeerCert = nil
		wantProblem(t, problems(t, m), "member etcd3 has no peer cert", "etcd3/peer")
	})
	t.Run("another-members-cert", func(t *testing.T) {
		m := model(t, "")
		m.Members[0].ServerCert = m.Members[1].ServerCert
		wantProblem(t, problems(t, m), "member etcd1 uses cert etcd2/server as its server cert; want etcd1/server")
	})
	t.Run("server-cert-without-client-auth", func(t *testing.T) {
		m := model(t, "")
		m.Members[0].ServerCert.Kind = render.KindClient
		wantProblem(t, problems(t, m), "member etcd1: etcd1/server is a client cert; want server and client auth")
	})
}

func TestInitialClusterRule(t *testing.T) {
	m := model(t, "")
	m.InitialCluster = strings.Replace(m.InitialCluster, "10.10.0.11", "10.0.0.11", 1) // seed 000's wrong address
	wantProblem(t, problems(t, m), "--initial-cluster", "differs from the members' advertised peer URLs")
}

func TestEndpointRules(t *testing.T) {
	m := model(t, "")
	urls := append([]string(nil), m.ClientURLs...)
	for _, tc := range []struct {
		name      string
		endpoints []string
		want      string
	}{
		{"missing", urls[:2], "missing https://10.10.0.12:2379"},
		{"extra", append(append([]string(nil), urls...), "https://10.0.0.11:2379"), "not a member's: https://10.0.0.11:2379"},
		{"repeated", []string{urls[0], urls[1], urls[2], urls[0]}, "listed more than once: https://10.10.0.10:2379"},
		{"order", []string{urls[2], urls[1], urls[0]}, "same URLs in another order; want member order"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := apiserver.ClientView(m)
			v.Endpoints = tc.endpoints
			wantProblem(t, problems(t, m, v), "apiserver target: endpoints", "differ from the members' advertised client URLs", tc.want)
		})
	}
	t.Run("malformed", func(t *testing.T) {
		v := kubeadm.ClientView(m)
		v.Endpoints = []string{"https://10.10.0.10:2379", "https://10.10.0.11:2379,", "https://10.10.0.12:2379"}
		wantProblem(t, problems(t, m, v), "kubeadm target: endpoint", `"https://10.10.0.11:2379,"`)
	})
	t.Run("targets-follow-a-drifted-model", func(t *testing.T) {
		// The targets build their endpoints from Model.ClientURLs; the
		// check recomputes them from the members.
		m := model(t, "")
		m.ClientURLs = m.ClientURLs[1:]
		got := problems(t, m, views(m)...)
		wantProblem(t, got, "kubeadm target: endpoints", "missing https://10.10.0.10:2379")
		wantProblem(t, got, "apiserver target: endpoints", "missing https://10.10.0.10:2379")
	})
	t.Run("pods", func(t *testing.T) {
		m := model(t, podsSpec)
		v := kubeadm.ClientView(m)
		v.Endpoints = v.Endpoints[:1]
		wantProblem(t, problems(t, m, v), "differ from the pods' client URLs", "missing https://pods-1.pods.etcd.svc:2379")
	})
}

func TestCertFileRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec string
		set  func(m *render.Model, v *render.ClientView)
		want []string
	}{
		{"ca-not-the-ca", "", func(m *render.Model, v *render.ClientView) { v.CA.Bundle = "clients/admin.crt" },
			[]string{"apiserver target: CA file /etc/kubernetes/pki/etcd/ca.crt is a copy of clients/admin.crt, not of the CA ca.crt"}},
		{"cert-and-key-of-two-certs", "", func(m *render.Model, v *render.ClientView) { v.Key.Bundle = "clients/admin.key" },
			[]string{"are not one pair"}},
		{"server-cert-as-client", "", func(m *render.Model, v *render.ClientView) {
			v.Cert.Bundle, v.Key.Bundle = "etcd1/server.crt", "etcd1/server.key"
		}, []string{"a copy of etcd1/server.crt, a server cert; kube-apiserver needs a client cert"}},
		{"not-in-bundle", "", func(m *render.Model, v *render.ClientView) { v.Cert.Bundle = "clients/kubelet.crt" },
			[]string{"the certificate bundle makes no clients/kubelet.crt"}},
		{"key-holds-cert", "", func(m *render.Model, v *render.ClientView) { v.Key.Bundle = "clients/apiserver-etcd-client.crt" },
			[]string{"holds clients/apiserver-etcd-client.crt, which is not a private key"}},
		{"no-bundle-file", "", func(m *render.Model, v *render.ClientView) { v.CA.Bundle = "" },
			[]string{"CA file /etc/kubernetes/pki/etcd/ca.crt: not a file of the certificate bundle"}},
		{"swapped-paths", "", func(m *render.Model, v *render.ClientView) { v.Cert.Path, v.Key.Path = v.Key.Path, v.Cert.Path },
			[]string{"a .key path for a certificate; cert and key swapped?"}},
		{"one-path-two-files", "", func(m *render.Model, v *render.ClientView) {
			v.Key.Path = "/etc/kubernetes/pki/client.pem"
			v.Cert.Path = v.Key.Path
		},
			[]string{"apiserver target: /etc/kubernetes/pki/client.pem would hold both clients/apiserver-etcd-client.crt and clients/apiserver-etcd-client.key"}},
		{"relative-path", "", func(m *render.Model, v *render.ClientView) { v.CA.Path = "pki/ca.crt" },
			[]string{"CA file pki/ca.crt: want an absolute, clean path"}},
		{"missing-path", "", func(m *render.Model, v *render.ClientView) { v.Cert.Path = "" },
			[]string{"cert file: no path; TLS is on"}},
		{"tls-off-names-files", tlsOffSpec, func(m *render.Model, v *render.ClientView) {
			v.CA = render.TLSFile{Path: "/etc/kubernetes/pki/etcd/ca.crt", Bundle: "ca.crt"}
		}, []string{"apiserver target: TLS is off, but it names a CA file (/etc/kubernetes/pki/etcd/ca.crt)"}},
		{"plan-without-apiserver-client", "", func(m *render.Model, v *render.ClientView) {
			var certs []render.Cert
			for _, c := range m.Certs {
				if c.Name != render.ClientAPIServer {
					certs = append(certs, c)
				}
			}
			m.Certs = certs
		}, []string{"the certificate bundle makes no clients/apiserver-etcd-client.crt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := model(t, tc.spec)
			v := apiserver.ClientView(m)
			tc.set(m, &v)
			wantProblem(t, problems(t, m, v), tc.want...)
		})
	}
}

func TestSpecPathsReachTheCheck(t *testing.T) {
	// The apiserver paths are the user's: the real views carry them.
	m := model(t, `name: "x"
members: [{name: "a", ip: "10.0.0.1"}]
apiserver: {certFile: "/etc/k/client.key", keyFile: "/etc/k/client.key"}
`)
	got := problems(t, m, views(m)...)
	wantProblem(t, got, "kubeadm target: cert file /etc/k/client.key: a .key path for a certificate")
	wantProblem(t, got, "apiserver target: /etc/k/client.key would hold both")
}

func TestMemberFileRules(t *testing.T) {
	t.Run("peer-cert-over-server-cert", func(t *testing.T) {
		m := model(t, "")
		m.HostTLS.PeerCertFile = m.HostTLS.CertFile
		wantProblem(t, problems(t, m), "member etcd1: /etc/etcd/pki/server.crt would hold both etcd1/server.crt and etcd1/peer.crt")
	})
	t.Run("key-path-for-cert", func(t *testing.T) {
		m := model(t, "")
		m.HostTLS.ClientKeyFile = "/etc/etcd/pki/admin.crt"
		got := problems(t, m)
		wantProblem(t, got, "member etcd2: admin key /etc/etcd/pki/admin.crt: a .crt path for a private key")
	})
	t.Run("member-cert-not-planned", func(t *testing.T) {
		m := model(t, "")
		var certs []render.Cert
		for _, c := range m.Certs {
			if c.Name != "etcd3/peer" {
				certs = append(certs, c)
			}
		}
		m.Certs = certs
		got := problems(t, m)
		wantProblem(t, got, "member etcd3: peer cert /etc/etcd/pki/peer.crt: the certificate bundle makes no etcd3/peer.crt")
		wantProblem(t, got, "member etcd3 uses cert etcd3/peer as its peer cert; want etcd3/peer from the bundle")
	})
}

func TestChainRules(t *testing.T) {
	t.Run("two-cas", func(t *testing.T) {
		m := model(t, "")
		m.Certs = append(m.Certs, render.Cert{Name: "other-ca", Kind: render.KindCA})
		got := problems(t, m, views(m)...)
		wantProblem(t, got, "the bundle plan has 2 CAs; want exactly one")
		if n := strings.Count(strings.Join(got, "\n"), "CAs;"); n != 1 {
			t.Errorf("the CA count is reported %d times, want once", n)
		}
	})
	t.Run("no-ca", func(t *testing.T) {
		m := model(t, "")
		m.Certs = m.Certs[1:]
		got := problems(t, m, views(m)...)
		wantProblem(t, got, "the bundle plan has 0 CAs")
		wantProblem(t, got, "kubeadm target: CA file /etc/kubernetes/pki/etcd/ca.crt: the certificate bundle makes no ca.crt")
	})
}

func TestEveryProblemAtOnce(t *testing.T) {
	m := model(t, "")
	m.Members[0].PeerURL = "https:/10.10.0.10:2380"
	m.Members[2].ClientURL = "https://10.10.0.12"
	v := apiserver.ClientView(m)
	v.Key.Bundle = "clients/admin.key"
	got := problems(t, m, v)
	wantProblem(t, got, "member etcd1: advertised peer URL")
	wantProblem(t, got, "member etcd3: advertised client URL")
	wantProblem(t, got, "are not one pair")
	if len(got) < 4 {
		t.Errorf("got %d problems, want at least 4 (two URLs, the initial cluster and endpoints they feed, the pair):\n  %s", len(got), strings.Join(got, "\n  "))
	}
}
