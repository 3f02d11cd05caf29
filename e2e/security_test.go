package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Scenario 3: with client and peer cert auth on, a client without a cert, a
// client with a cert from another CA, and a peer with certs from another CA
// are all refused.
func TestForeignCertsRefused(t *testing.T) {
	c := newCluster(t, spec{Members: []string{"alpha", "bravo", "charlie"}, Port: 21300, TLS: true})
	// A second bundle for the same spec: same names and SANs, another CA.
	foreign := filepath.Join(c.dir, "foreign-pki")
	c.etcdgen("certs", "--out", foreign, "etcdgen.cue")
	out2 := filepath.Join(c.dir, "foreign-out")
	c.etcdgen("render", "--target", "systemd", "--out", out2, "--certs", foreign, "etcdgen.cue")
	if ca1, ca2 := read(t, filepath.Join(c.pki, "ca.crt")), read(t, filepath.Join(foreign, "ca.crt")); bytes.Equal(ca1, ca2) {
		t.Fatal("second bundle has the same CA")
	}

	// charlie runs with the foreign bundle (its env file is the same bytes).
	charlie := c.members[2]
	charlie.tree = filepath.Join(out2, "charlie")
	charlie.envFile = filepath.Join(charlie.tree, "etc/etcd/etcd.conf")
	charlie.tlsSrc = filepath.Join(charlie.tree, c.tlsDir)
	if !bytes.Equal(read(t, charlie.envFile), read(t, filepath.Join(c.out, "charlie/etc/etcd/etcd.conf"))) {
		t.Fatal("env files of the two renders differ")
	}
	c.startAll()
	alpha, bravo := c.members[0], c.members[1]
	c.waitHealthy(startTimeout, alpha, bravo) // 2 of 3: quorum without charlie

	ep := alpha.client
	ca := "--cacert=" + filepath.Join(c.pki, "ca.crt")
	// Control: the admin cert of the cluster's own CA works.
	c.mustCtl([]string{ep}, "put", "/e2e/own", "ok")

	// No client cert.
	if out, err := runCtl("--endpoints="+ep, "--dial-timeout=2s", "--command-timeout=3s", ca, "put", "/e2e/nocert", "x"); err == nil {
		t.Fatalf("client without a cert was served: %s", out)
	}
	// A client cert from another CA (same CN, root).
	if out, err := runCtl("--endpoints="+ep, "--dial-timeout=2s", "--command-timeout=3s", ca,
		"--cert="+filepath.Join(foreign, "clients/admin.crt"), "--key="+filepath.Join(foreign, "clients/admin.key"),
		"put", "/e2e/foreign", "x"); err == nil {
		t.Fatalf("client with a cert from another CA was served: %s", out)
	}
	// Neither write happened.
	if out := c.mustCtl([]string{ep}, "get", "--prefix", "--keys-only", "/e2e/"); strings.TrimSpace(out) != "/e2e/own" {
		t.Fatalf("keys after refused writes: %q", out)
	}

	// The peer with the foreign CA never joins: for a while, alpha lists it
	// as unstarted, and it never serves.
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		for _, mi := range c.memberList(ep) {
			// A member that has never published its attributes has no client
			// URLs (it keeps its name from --initial-cluster).
			if mi.Name == "charlie" && len(mi.ClientURLs) > 0 {
				t.Fatalf("charlie joined with a foreign CA: %+v", mi)
			}
		}
		if _, err := runCtl("--endpoints="+charlie.client, "--dial-timeout=1s", "--command-timeout=2s",
			"--cacert="+filepath.Join(foreign, "ca.crt"), "--cert="+filepath.Join(foreign, "clients/admin.crt"),
			"--key="+filepath.Join(foreign, "clients/admin.key"), "endpoint", "health"); err == nil {
			t.Fatal("charlie (foreign CA) reports healthy")
		}
		time.Sleep(time.Second)
	}
	ms := c.memberList(ep)
	started := 0
	for _, mi := range ms {
		if len(mi.ClientURLs) > 0 {
			started++
		}
	}
	if len(ms) != 3 || started != 2 {
		t.Fatalf("member list: %+v; want 3 members, 2 started", ms)
	}
	// And the members say why: the TLS handshake with charlie failed.
	why := ""
	for _, m := range []*member{alpha, bravo, charlie} {
		for _, line := range strings.Split(string(read(t, m.log)), "\n") {
			if strings.Contains(line, "unknown authority") || strings.Contains(line, "unknown certificate authority") || strings.Contains(line, "bad certificate") {
				why = m.name + ": " + line
				break
			}
		}
	}
	if why == "" {
		t.Errorf("no member logged a rejected certificate")
	}
	t.Logf("rejected: %.300s", why)
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	return b
}
