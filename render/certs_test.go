package render

import (
	"strings"
	"testing"

	"github.com/etcdgen/etcdgen/schema"
)

func exampleModel(t *testing.T) *Model {
	t.Helper()
	l, err := schema.NewLoader()
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := l.Load(schema.ExampleName, schema.Example)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Resolve(c)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCheckCertHostsExample(t *testing.T) {
	m := exampleModel(t)
	if err := m.CheckCertHosts(); err != nil {
		t.Fatal(err)
	}
}

func TestCheckCertHostsFindsUncoveredHosts(t *testing.T) {
	m := exampleModel(t)
	mem := &m.Members[1]
	mem.ListenPeerURLs = append(mem.ListenPeerURLs, "https://10.9.9.9:2380")
	mem.ClientURL = "https://etcd2.example.com:2379"
	mem.ListenClientURLs = append(mem.ListenClientURLs, "https://0.0.0.0:2379") // unspecified: fine
	err := m.CheckCertHosts()
	if err == nil {
		t.Fatal("no error for hosts the certs do not cover")
	}
	for _, want := range []string{
		mem.Name + "/peer does not cover 10.9.9.9",
		mem.Name + "/server does not cover etcd2.example.com",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "0.0.0.0") {
		t.Errorf("error %q complains about an unspecified listen address", err)
	}
}

func TestPlanSANs(t *testing.T) {
	m := exampleModel(t)
	for _, mem := range m.Members {
		for _, c := range []*Cert{mem.ServerCert, mem.PeerCert} {
			for _, h := range []string{mem.Name, "localhost", "127.0.0.1", "::1", mem.IP.String()} {
				if !c.Covers(h) {
					t.Errorf("%s does not cover %s", c.Name, h)
				}
			}
			if len(c.DNSNames) == 0 {
				t.Errorf("%s has no DNS SAN", c.Name)
			}
		}
	}
	for _, n := range []string{ClientAPIServer, ClientHealthcheck, ClientAdmin} {
		c := m.Cert(n)
		if c == nil || c.Kind != KindClient || len(c.DNSNames) == 0 {
			t.Errorf("client cert %s: %+v", n, c)
		}
	}
	if m.Cert(ClientAdmin).CommonName != "root" {
		t.Errorf("admin CN %q, want root", m.Cert(ClientAdmin).CommonName)
	}
	if !m.Members[0].ServerCert.Covers("::ffff:127.0.0.1") {
		t.Error("IPv4-mapped loopback not covered")
	}
}
