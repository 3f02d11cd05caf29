package bundle

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudflare/cfssl/helpers"

	"github.com/etcdgen/etcdgen/output"
	"github.com/etcdgen/etcdgen/render"
	"github.com/etcdgen/etcdgen/schema"
)

// t0 is the test clock's start.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// model resolves a spec with members etcd1..etcdN on 10.0.0.11...
func model(t testing.TB, members int, extra string) *render.Model {
	var ips []string
	for i := 1; i <= members; i++ {
		ips = append(ips, fmt.Sprintf("10.0.0.%d", 10+i))
	}
	return modelIPs(t, ips, extra)
}

// modelIPs resolves a spec with one member per IP and extra CUE appended.
func modelIPs(t testing.TB, ips []string, extra string) *render.Model {
	t.Helper()
	var b strings.Builder
	b.WriteString("name: \"test\"\n")
	if len(ips) > 0 {
		b.WriteString("members: [\n")
		for i, ip := range ips {
			fmt.Fprintf(&b, "\t{name: \"etcd%d\", ip: %q},\n", i+1, ip)
		}
		b.WriteString("]\n")
	}
	b.WriteString(extra + "\n")
	l, err := schema.NewLoader()
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := l.Load("test.cue", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	m, err := render.Resolve(c)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// keyPool reuses keys across tests so they do not pay for RSA key
// generation on every run. Up to 16 keys per kind are made, then reused
// in turn, so the keys of one 3-member bundle (10) are all distinct.
type keyPool struct {
	mu   sync.Mutex
	keys map[KeySpec][]crypto.Signer
	next map[KeySpec]int
}

var pool = &keyPool{keys: map[KeySpec][]crypto.Signer{}, next: map[KeySpec]int{}}

func (p *keyPool) take(algo string, size int) (crypto.Signer, error) {
	ks := KeySpec{algo, size}
	p.mu.Lock()
	if len(p.keys[ks]) >= 16 {
		k := p.keys[ks][p.next[ks]%16]
		p.next[ks]++
		p.mu.Unlock()
		return k, nil
	}
	p.mu.Unlock()
	k, err := GenerateKey(algo, size)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.keys[ks] = append(p.keys[ks], k)
	p.mu.Unlock()
	return k, nil
}

// testOpts is a fixed clock, a seeded serial source and the key pool.
func testOpts(now time.Time) Options {
	return Options{
		Now:    func() time.Time { return now },
		Rand:   rand.NewChaCha8([32]byte{1}),
		NewKey: pool.take,
	}
}

// run decides, issues and writes; it returns the plan.
func run(t *testing.T, m *render.Model, dir string, opts Options) *Plan {
	t.Helper()
	st, err := readState(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Decide(m, st, opts)
	if err != nil {
		t.Fatal(err)
	}
	files, err := Issue(p, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeBundle(dir, files, p.Chmod); err != nil {
		t.Fatal(err)
	}
	return p
}

func actions(p *Plan) map[string]string {
	out := map[string]string{}
	for _, it := range p.Items {
		s := it.Action.Past()
		if len(it.Reasons) > 0 {
			s += ": " + strings.Join(it.Reasons, "; ")
		}
		out[it.Cert.Name] = s
	}
	return out
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := helpers.ParseCertificatePEM(data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestLeavesVerify checks every leaf against the CA with the usage it is
// for: server and peer certs as servers and as clients, client certs as
// clients only.
func TestLeavesVerify(t *testing.T) {
	for _, keys := range []string{`tls: keyAlgorithm: "ecdsa"`, `tls: {keyAlgorithm: "ecdsa", keySize: 384}`, `tls: keyAlgorithm: "rsa"`} {
		t.Run(keys, func(t *testing.T) {
			m := model(t, 3, keys)
			dir := t.TempDir()
			run(t, m, dir, testOpts(t0))
			ca := readCert(t, filepath.Join(dir, "ca.crt"))
			if !ca.IsCA || ca.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign || !ca.MaxPathLenZero {
				t.Errorf("CA: isCA %v, key usage %v, pathlen zero %v", ca.IsCA, ca.KeyUsage, ca.MaxPathLenZero)
			}
			roots := x509.NewCertPool()
			roots.AddCert(ca)
			at := t0.Add(time.Hour)
			for _, c := range m.Certs[1:] {
				leaf := readCert(t, filepath.Join(dir, c.Name+".crt"))
				if leaf.IsCA {
					t.Errorf("%s is a CA", c.Name)
				}
				if len(leaf.DNSNames) == 0 {
					t.Errorf("%s has no DNS SAN", c.Name)
				}
				verify := func(usage x509.ExtKeyUsage, host string) error {
					_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{usage}, DNSName: host})
					return err
				}
				if err := verify(x509.ExtKeyUsageClientAuth, ""); err != nil {
					t.Errorf("%s as a client: %v", c.Name, err)
				}
				err := verify(x509.ExtKeyUsageServerAuth, "")
				if c.Kind == render.KindClient {
					if err == nil {
						t.Errorf("%s verifies as a server; clients must not", c.Name)
					}
					continue
				}
				if err != nil {
					t.Errorf("%s as a server: %v", c.Name, err)
				}
				mem := m.Members[0]
				for _, mm := range m.Members {
					if mm.Name == c.Member {
						mem = mm
					}
				}
				for _, host := range []string{mem.Name, mem.IP.String(), "localhost", "127.0.0.1", "::1"} {
					if err := verify(x509.ExtKeyUsageServerAuth, host); err != nil {
						t.Errorf("%s for %s: %v", c.Name, host, err)
					}
				}
				if got := keySpecOf(leaf.PublicKey); got != (KeySpec{m.TLS.KeyAlgorithm, m.TLS.KeySize}) {
					t.Errorf("%s key %s", c.Name, got)
				}
				if days := leaf.NotAfter.Sub(t0).Hours() / 24; days != 1825 {
					t.Errorf("%s valid for %v days, want 1825", c.Name, days)
				}
			}
		})
	}
}

func TestModesAndGitignore(t *testing.T) {
	m := model(t, 3, "")
	dir := filepath.Join(t.TempDir(), "pki")
	run(t, m, dir, testOpts(t0))
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.Name() == output.LockName {
			return nil // bookkeeping of the output layer
		}
		want := os.FileMode(0o644)
		switch {
		case fi.IsDir():
			want = 0o700
		case strings.HasSuffix(p, ".key"):
			want = 0o600
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %04o, want %04o", p, fi.Mode().Perm(), want)
		}
		if strings.Contains(fi.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	gi, err := os.ReadFile(filepath.Join(dir, ".gitignore"))
	if err != nil || !gitignoreOK(gi) {
		t.Errorf(".gitignore %q (%v) does not ignore *.key", gi, err)
	}
}

// TestSecondRunTouchesNothing: a CA (and every leaf) on disk is neither
// rewritten nor touched by a normal run: same bytes, same mtime.
func TestSecondRunTouchesNothing(t *testing.T) {
	m := model(t, 3, "")
	dir := t.TempDir()
	run(t, m, dir, testOpts(t0))
	type snap struct {
		data  []byte
		mtime time.Time
	}
	before := map[string]snap{}
	old := t0.Add(-48 * time.Hour)
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if fi.Mode().IsRegular() && fi.Name() != output.LockName {
			// An old mtime makes a rewrite visible even on coarse clocks.
			os.Chtimes(p, old, old)
			data, _ := os.ReadFile(p)
			before[p] = snap{data, old}
		}
		return nil
	})
	p := run(t, m, dir, testOpts(t0.Add(24*time.Hour)))
	if n := p.Changes(); n != 0 {
		t.Errorf("second run: %d changes: %v", n, actions(p))
	}
	for path, s := range before {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(path)
		if !bytes.Equal(data, s.data) || !fi.ModTime().Equal(s.mtime) {
			t.Errorf("%s was rewritten", path)
		}
	}
}

// TestDecisionTable is the keep/re-issue table: one change to a fresh
// bundle per row, and what happens to which cert.
func TestDecisionTable(t *testing.T) {
	const window = 720 * time.Hour
	rows := []struct {
		name string
		// change edits the bundle dir and may return a different model.
		change func(t *testing.T, dir string, m *render.Model) *render.Model
		now    time.Time
		want   map[string]string // cert name -> action; unlisted: kept
	}{
		{name: "nothing changed", now: t0.Add(1000 * 24 * time.Hour)},
		{
			name:   "cert missing",
			change: func(t *testing.T, dir string, m *render.Model) *render.Model { rm(t, dir, "etcd2/peer.crt"); return m },
			want:   map[string]string{"etcd2/peer": "created: missing"},
		},
		{
			name: "key missing",
			change: func(t *testing.T, dir string, m *render.Model) *render.Model {
				rm(t, dir, "etcd1/server.key")
				return m
			},
			want: map[string]string{"etcd1/server": "re-issued: key missing"},
		},
		{
			name: "key does not match",
			change: func(t *testing.T, dir string, m *render.Model) *render.Model {
				cp(t, dir, "etcd3/peer.key", "etcd3/server.key")
				return m
			},
			want: map[string]string{"etcd3/server": "re-issued: key does not match the certificate"},
		},
		{
			name: "signed by another CA",
			change: func(t *testing.T, dir string, m *render.Model) *render.Model {
				other := t.TempDir()
				run(t, m, other, testOpts(t0))
				for _, f := range []string{"clients/admin.crt", "clients/admin.key"} {
					data, _ := os.ReadFile(filepath.Join(other, f))
					os.WriteFile(filepath.Join(dir, f), data, 0o600)
				}
				return m
			},
			want: map[string]string{"clients/admin": "re-issued: not signed by the CA"},
		},
		{
			name: "hostname added",
			change: func(t *testing.T, dir string, m *render.Model) *render.Model {
				return model(t, 3, `members: [_, {hostnames: ["etcd2.example.com"]}, _]`)
			},
			want: map[string]string{
				"etcd2/server": "re-issued: SANs differ from the spec: add etcd2.example.com",
				"etcd2/peer":   "re-issued: SANs differ from the spec: add etcd2.example.com",
			},
		},
		{
			name: "IP changed",
			change: func(t *testing.T, dir string, m *render.Model) *render.Model {
				return modelIPs(t, []string{"10.0.0.99", "10.0.0.12", "10.0.0.13"}, "")
			},
			want: map[string]string{
				"etcd1/server": "re-issued: SANs differ from the spec: add 10.0.0.99; drop 10.0.0.11",
				"etcd1/peer":   "re-issued: SANs differ from the spec: add 10.0.0.99; drop 10.0.0.11",
			},
		},
		{
			name:   "key size changed",
			change: func(t *testing.T, dir string, m *render.Model) *render.Model { return model(t, 3, `tls: keySize: 384`) },
			want: func() map[string]string {
				w := map[string]string{}
				for _, n := range []string{"etcd1/server", "etcd1/peer", "etcd2/server", "etcd2/peer", "etcd3/server", "etcd3/peer", "clients/apiserver-etcd-client", "clients/healthcheck-client", "clients/admin"} {
					w[n] = "re-issued: key is ecdsa P-256, the spec asks for ecdsa P-384"
				}
				return w
			}(),
		},
		{
			name: "within the renewal window",
			now:  t0.Add(43800*time.Hour - window + 24*time.Hour),
			want: func() map[string]string {
				w := map[string]string{}
				for _, n := range []string{"etcd1/server", "etcd1/peer", "etcd2/server", "etcd2/peer", "etcd3/server", "etcd3/peer", "clients/apiserver-etcd-client", "clients/healthcheck-client", "clients/admin"} {
					w[n] = "re-issued: expires in 29 days, within the renewal window of 30 days"
				}
				return w
			}(),
		},
		{
			name: "expired",
			now:  t0.Add(43800*time.Hour + 3*24*time.Hour),
			// want: every leaf, filled in below.
		},
		{
			name: "just outside the window",
			now:  t0.Add(43800*time.Hour - window - 24*time.Hour),
		},
		{
			name: "another client's cert in its place",
			change: func(t *testing.T, dir string, m *render.Model) *render.Model {
				cp(t, dir, "clients/admin.crt", "clients/healthcheck-client.crt")
				cp(t, dir, "clients/admin.key", "clients/healthcheck-client.key")
				return m
			},
			want: map[string]string{"clients/healthcheck-client": `re-issued: common name is "root", the spec asks for "kube-etcd-healthcheck-client"; SANs differ from the spec: add kube-etcd-healthcheck-client; drop root`},
		},
		{
			name: "a client cert in a server's place",
			change: func(t *testing.T, dir string, m *render.Model) *render.Model {
				cp(t, dir, "clients/admin.crt", "etcd1/server.crt")
				cp(t, dir, "clients/admin.key", "etcd1/server.key")
				return m
			},
			want: map[string]string{"etcd1/server": `re-issued: common name is "root", the spec asks for "etcd1"; usages are client auth, the server profile has server auth, client auth; SANs differ from the spec: add 10.0.0.11, 127.0.0.1, ::1, etcd1, localhost; drop root`},
		},
	}
	for _, r := range rows {
		if r.name == "expired" {
			r.want = map[string]string{}
			for _, n := range []string{"etcd1/server", "etcd1/peer", "etcd2/server", "etcd2/peer", "etcd3/server", "etcd3/peer", "clients/apiserver-etcd-client", "clients/healthcheck-client", "clients/admin"} {
				r.want[n] = "re-issued: expired 3 days ago, within the renewal window of 30 days"
			}
		}
		t.Run(r.name, func(t *testing.T) {
			m := model(t, 3, "")
			dir := t.TempDir()
			// A CA longer-lived than its leaves, as by default.
			run(t, m, dir, testOpts(t0))
			if r.change != nil {
				m = r.change(t, dir, m)
			}
			now := r.now
			if now.IsZero() {
				now = t0.Add(time.Hour)
			}
			p := run(t, m, dir, testOpts(now))
			got := actions(p)
			for name, g := range got {
				w := r.want[name]
				if w == "" {
					w = "kept"
				}
				if g != w {
					t.Errorf("%s: %s\n\twant %s", name, g, w)
				}
			}
			// Whatever was re-issued is now kept.
			p = run(t, m, dir, testOpts(now))
			if n := p.Changes(); n != 0 {
				t.Errorf("third run: %d changes: %v", n, actions(p))
			}
		})
	}
}

func rm(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func cp(t *testing.T, dir, from, to string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, from))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, to), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCAStates(t *testing.T) {
	m := model(t, 3, "")
	fresh := func(t *testing.T) string {
		dir := t.TempDir()
		run(t, m, dir, testOpts(t0))
		return dir
	}
	decide := func(dir string, opts Options) (*Plan, error) {
		st, err := readState(dir, m)
		if err != nil {
			return nil, err
		}
		return Decide(m, st, opts)
	}
	t.Run("key without cert", func(t *testing.T) {
		dir := fresh(t)
		rm(t, dir, "ca.crt")
		_, err := decide(dir, testOpts(t0))
		if err == nil || !strings.Contains(err.Error(), "does not replace a CA key") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("key does not match", func(t *testing.T) {
		dir := fresh(t)
		cp(t, dir, "etcd1/server.key", "ca.key")
		_, err := decide(dir, testOpts(t0))
		if err == nil || !strings.Contains(err.Error(), "ca.key does not match") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("not a CA", func(t *testing.T) {
		dir := fresh(t)
		cp(t, dir, "etcd1/server.crt", "ca.crt")
		_, err := decide(dir, testOpts(t0))
		if err == nil || !strings.Contains(err.Error(), "not a CA certificate") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("cert without key: kept, leaves blocked", func(t *testing.T) {
		dir := fresh(t)
		rm(t, dir, "ca.key")
		p, err := decide(dir, testOpts(t0))
		if err != nil || p.Changes() != 0 || p.Blocked != "" {
			t.Fatalf("all kept: err %v, %v, blocked %q", err, actions(p), p.Blocked)
		}
		rm(t, dir, "etcd1/peer.crt")
		p, err = decide(dir, testOpts(t0))
		if err != nil || !strings.Contains(p.Blocked, "ca.key is missing") {
			t.Fatalf("err %v, blocked %q", err, p.Blocked)
		}
		if _, err := Issue(p, testOpts(t0)); err == nil {
			t.Error("issued without a CA key")
		}
	})
	t.Run("rotate", func(t *testing.T) {
		dir := fresh(t)
		oldCA, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
		opts := testOpts(t0)
		opts.RotateCA = true
		p := run(t, m, dir, opts)
		for name, a := range actions(p) {
			if !strings.HasPrefix(a, "re-issued") {
				t.Errorf("%s: %s after rotation", name, a)
			}
		}
		newCA, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
		if bytes.Equal(oldCA, newCA) {
			t.Error("CA not replaced")
		}
	})
	t.Run("expiring CA is kept and reported; capped leaves are not re-issued forever", func(t *testing.T) {
		m := model(t, 3, `tls: {caValidity: "1000h", certValidity: "1000h", renewBefore: "100h"}`)
		dir := t.TempDir()
		run(t, m, dir, testOpts(t0))
		leaf := readCert(t, filepath.Join(dir, "etcd1/server.crt"))
		ca := readCert(t, filepath.Join(dir, "ca.crt"))
		if !leaf.NotAfter.Equal(ca.NotAfter) {
			t.Errorf("leaf NotAfter %v, CA %v: want capped", leaf.NotAfter, ca.NotAfter)
		}
		p := run(t, m, dir, testOpts(t0.Add(950*time.Hour)))
		if p.Changes() != 0 || !strings.Contains(p.CAExpiring, "expires in 2 days") {
			t.Errorf("changes %v, CA expiring %q", actions(p), p.CAExpiring)
		}
	})
	t.Run("expired or expiring CA issues nothing and names --rotate-ca", func(t *testing.T) {
		m := model(t, 3, `tls: {caValidity: "1000h", certValidity: "1000h", renewBefore: "100h"}`)
		dir := t.TempDir()
		run(t, m, dir, testOpts(t0))
		if err := os.Remove(filepath.Join(dir, "etcd2/peer.crt")); err != nil {
			t.Fatal(err)
		}
		for _, at := range []time.Duration{950 * time.Hour, 1001 * time.Hour} {
			st, err := readState(dir, m)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Decide(m, st, testOpts(t0.Add(at)))
			if err != nil || !strings.Contains(p.Blocked, "--rotate-ca") || !strings.Contains(p.Blocked, "peer.crt") {
				t.Errorf("after %v: err %v, blocked %q", at, err, p.Blocked)
			}
		}
		// Expired, nothing to issue: still refused, the leaves are dead.
		run(t, m, dir, testOpts(t0))
		st, err := readState(dir, m)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Decide(m, st, testOpts(t0.Add(1001*time.Hour)))
		if err != nil || !strings.Contains(p.Blocked, "expired") {
			t.Errorf("expired CA: err %v, blocked %q", err, p.Blocked)
		}
	})
	t.Run("window not shorter than validity", func(t *testing.T) {
		opts := testOpts(t0)
		opts.RenewBefore = 43800 * time.Hour
		_, err := decide(t.TempDir(), opts)
		if err == nil || !strings.Contains(err.Error(), "every run would re-issue") {
			t.Errorf("err %v", err)
		}
	})
}

func TestKubernetesOnlySpec(t *testing.T) {
	m := model(t, 0, `kubernetes: replicas: 3`)
	dir := t.TempDir()
	p := run(t, m, dir, testOpts(t0))
	var names []string
	for _, it := range p.Items {
		names = append(names, it.Cert.Name)
	}
	want := "ca clients/apiserver-etcd-client clients/healthcheck-client clients/admin"
	if strings.Join(names, " ") != want {
		t.Errorf("bundle %v, want %s", names, want)
	}
}

func TestLooseKeyModeTightened(t *testing.T) {
	m := model(t, 1, "")
	dir := t.TempDir()
	run(t, m, dir, testOpts(t0))
	key := filepath.Join(dir, "etcd1/peer.key")
	os.Chmod(key, 0o644)
	p := run(t, m, dir, testOpts(t0))
	if len(p.Chmod) != 1 || p.Chmod[0] != "etcd1/peer.key" {
		t.Errorf("chmod %v", p.Chmod)
	}
	if fi, _ := os.Stat(key); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o", fi.Mode().Perm())
	}
}

func TestWriteRefusesSymlinks(t *testing.T) {
	m := model(t, 1, "")
	dir := t.TempDir()
	elsewhere := t.TempDir()
	os.Symlink(elsewhere, filepath.Join(dir, "etcd1"))
	if _, err := readState(dir, m); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("read through the symlink: %v", err)
	}
	// And the writer refuses on its own.
	p, err := Decide(m, NewState(dir, map[string][]byte{}, map[string]fs.FileMode{}), testOpts(t0))
	if err != nil {
		t.Fatal(err)
	}
	files, err := Issue(p, testOpts(t0))
	if err != nil {
		t.Fatal(err)
	}
	err = writeBundle(dir, files, nil)
	if err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("err %v", err)
	}
	if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
		t.Errorf("wrote through the symlink: %v", entries)
	}
	if _, err := os.Stat(filepath.Join(dir, "ca.crt")); err == nil {
		t.Error("a failed write left ca.crt behind")
	}
}

func TestUnknownProfile(t *testing.T) {
	if _, err := profileFor(render.CertKind(42 % 4)); err != nil {
		t.Fatal(err)
	}
	saved := Profiles["peer"]
	delete(Profiles, "peer")
	defer func() { Profiles["peer"] = saved }()
	if _, err := profileFor(render.KindPeer); err == nil {
		t.Error("no error for a missing profile: it must not fall back to a default")
	}
}

// TestStaleTempsRemoved: temporary files of a killed run (they may hold
// keys) are removed by the next run that writes there; those of a live
// process are not.
func TestStaleTempsRemoved(t *testing.T) {
	m := model(t, 1, "")
	dir := t.TempDir()
	run(t, m, dir, testOpts(t0))
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "etcd1", fmt.Sprintf(".etcdgen-p%d-1.tmp", dead.Process.Pid))
	live := filepath.Join(dir, "etcd1", fmt.Sprintf(".etcdgen-p%d-1.tmp", os.Getppid()))
	for _, p := range []string{stale, live} {
		if err := os.WriteFile(p, []byte("half a key"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rm(t, dir, "etcd1/server.crt")
	run(t, m, dir, testOpts(t0))
	if _, err := os.Stat(stale); err == nil {
		t.Error("stale temporary file survived a run that wrote its dir")
	}
	if _, err := os.Stat(live); err != nil {
		t.Error("a live process's temporary file was removed")
	}
}
