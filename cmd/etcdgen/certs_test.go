package main

import (
	"bytes"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCertsNeverPrintsKeys runs etcdgen certs the ways that print the
// most (create, keep, re-issue, check, errors) and looks for any piece of
// any private key in stdout and stderr.
func TestCertsNeverPrintsKeys(t *testing.T) {
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	var out, errs bytes.Buffer
	run := func(args ...string) int {
		return Main(append([]string{"certs", "--out", pki}, args...), strings.NewReader(""), &out, &errs)
	}
	if code := run(); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	os.Remove(filepath.Join(pki, "etcd2", "server.crt"))
	run("--check")
	run()
	run("--rotate-ca")
	run("--rotate-ca", "--force")
	os.Remove(filepath.Join(pki, "ca.crt"))
	run()

	printed := out.String() + errs.String()
	keys, _ := filepath.Glob(filepath.Join(pki, "*", "*.key"))
	more, _ := filepath.Glob(filepath.Join(pki, "*.key"))
	keys = append(keys, more...)
	// The 10 of the bundle and the old CA key kept by --rotate-ca.
	if len(keys) != 11 {
		t.Fatalf("found %d keys, want 11", len(keys))
	}
	for _, k := range keys {
		data, err := os.ReadFile(k)
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(data)
		if block == nil {
			t.Fatalf("%s is not PEM", k)
		}
		// Any 16 characters of a base64 line would be a leak.
		for _, line := range strings.Split(string(data), "\n") {
			for i := 0; i+16 <= len(line); i += 16 {
				if !strings.HasPrefix(line, "-----") && strings.Contains(printed, line[i:i+16]) {
					t.Fatalf("output holds part of %s", k)
				}
			}
		}
	}
	if strings.Contains(printed, "PRIVATE KEY") {
		t.Fatal("output holds a PEM private key header")
	}
}

// TestCertsKeepsCA: a normal run never rewrites the CA: same bytes, same
// modification time, same inode.
func TestCertsKeepsCA(t *testing.T) {
	pki := filepath.Join(t.TempDir(), "pki")
	var out, errs bytes.Buffer
	if code := Main([]string{"certs", "--out", pki}, strings.NewReader(""), &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	old := time.Now().Add(-72 * time.Hour).Truncate(time.Second)
	type snap struct {
		data []byte
		fi   os.FileInfo
	}
	before := map[string]snap{}
	for _, n := range []string{"ca.crt", "ca.key"} {
		p := filepath.Join(pki, n)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(p)
		fi, _ := os.Stat(p)
		before[n] = snap{data, fi}
	}
	// Drift a leaf so the run has work to do and signs with the CA.
	os.Remove(filepath.Join(pki, "etcd1", "peer.key"))
	out.Reset()
	if code := Main([]string{"certs", "--out", pki}, strings.NewReader(""), &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	if !strings.Contains(out.String(), "re-issued "+filepath.ToSlash(pki)+"/etcd1/peer.crt") {
		t.Fatalf("etcd1/peer not re-issued:\n%s", out.String())
	}
	for n, s := range before {
		p := filepath.Join(pki, n)
		data, _ := os.ReadFile(p)
		fi, _ := os.Stat(p)
		if !bytes.Equal(data, s.data) || !fi.ModTime().Equal(old) || !os.SameFile(fi, s.fi) {
			t.Errorf("%s was touched", n)
		}
	}
}
