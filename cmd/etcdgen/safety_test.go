package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/rogpeppe/go-internal/txtar"

	"github.com/etcdgen/etcdgen/targets/all"
)

// Custom testscript commands for the hostile-input corpus
// (testdata/script/bad_*.txtar, safety_*.txtar).
func init() {
	scriptCmds["bigspec"] = bigSpec
	scriptCmds["unreadable"] = unreadable
}

// bigspec FILE MB writes a valid CUE spec padded with comments to MB
// megabytes, so the corpus does not commit a 10 MB file.
func bigSpec(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: bigspec FILE MB")
	}
	mb, err := strconv.Atoi(args[1])
	ts.Check(err)
	f, err := os.Create(ts.MkAbs(args[0]))
	ts.Check(err)
	w := bufio.NewWriter(f)
	fmt.Fprintf(w, "name: \"etcd-prod\"\nmembers: [{name: \"etcd1\", ip: \"10.0.0.11\"}]\n")
	line := "// " + strings.Repeat("x", 76) + "\n"
	for n := 0; n < mb<<20; n += len(line) {
		w.WriteString(line)
	}
	ts.Check(w.Flush())
	ts.Check(f.Close())
}

// unreadable FILE makes FILE a spec that cannot be read: mode 000, or, for
// root (who reads any file), a symlink to a file even root cannot read.
func unreadable(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: unreadable FILE")
	}
	p := ts.MkAbs(args[0])
	if os.Geteuid() != 0 {
		ts.Check(os.WriteFile(p, []byte("name: \"etcd-prod\"\n"), 0o644))
		ts.Check(os.Chmod(p, 0))
		return
	}
	const target = "/proc/sys/vm/drop_caches" // mode 0200: write-only, even for root
	if f, err := os.Open(target); err == nil {
		f.Close()
		ts.Fatalf("cannot make an unreadable file as root here: %s is readable", target)
	}
	ts.Check(os.Symlink(target, p))
}

// TestCorpusExitCodes replays the first failing command of every
// bad_*.txtar in-process and checks what cmp stderr cannot: the exit code
// is exactly 1 (bad input, not 2 for usage), and no Go stack or panic
// reaches the user. Scripts that need custom commands or stdin are covered
// by testscript alone.
func TestCorpusExitCodes(t *testing.T) {
	scripts, err := filepath.Glob("../../testdata/script/bad_*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	if len(scripts) < 40 {
		t.Fatalf("corpus has %d scripts, want at least 40", len(scripts))
	}
	for _, script := range scripts {
		name := strings.TrimSuffix(filepath.Base(script), ".txtar")
		t.Run(name, func(t *testing.T) {
			ar, err := txtar.ParseFile(script)
			if err != nil {
				t.Fatal(err)
			}
			var args []string
			for _, line := range strings.Split(string(ar.Comment), "\n") {
				f := strings.Fields(line)
				if len(f) == 0 || strings.HasPrefix(f[0], "#") {
					continue
				}
				if f[0] != "!" || len(f) < 3 || f[1] != "exec" || f[2] != "etcdgen" {
					t.Skipf("needs %q first; testscript covers it", line)
				}
				args = f[3:]
				break
			}
			dir := t.TempDir()
			for _, f := range ar.Files {
				p := filepath.Join(dir, f.Name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, f.Data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			t.Chdir(dir)
			var stdout, stderr bytes.Buffer
			code := Main(args, strings.NewReader(""), &stdout, &stderr)
			if code != exitInput {
				t.Errorf("etcdgen %s: exit %d, want %d\n%s", strings.Join(args, " "), code, exitInput, stderr.String())
			}
			for _, bad := range []string{"panic", "goroutine ", ".go:", "internal error"} {
				if strings.Contains(stderr.String(), bad) {
					t.Errorf("stderr has %q:\n%s", bad, stderr.String())
				}
			}
			if _, err := os.Lstat(filepath.Join(dir, "out")); err == nil {
				t.Errorf("out was created")
			}
		})
	}
}

// TestNoKeyBytesInOutput runs every command that can touch a certificate
// bundle (render into a tree, --check after a key changed, the JSON
// manifest, stdout targets that would carry keys, bad specs, validate) and
// looks for any piece of any private key on stdout or stderr: PEM text,
// base64 of the PEM (as in a Kubernetes Secret) and raw DER.
func TestNoKeyBytesInOutput(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	var stdout, stderr bytes.Buffer
	run := func(args ...string) int {
		return Main(args, strings.NewReader(""), &stdout, &stderr)
	}
	if code := run("certs", "--out", "pki"); code != 0 {
		if strings.Contains(stderr.String(), "not built yet") {
			t.Skip("etcdgen certs is not built yet")
		}
		t.Fatalf("certs: exit %d\n%s", code, stderr.String())
	}
	var keys [][]byte
	filepath.WalkDir("pki", func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".key") {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, data)
		}
		return nil
	})
	if len(keys) == 0 {
		t.Fatal("certs wrote no keys")
	}

	run("certs", "--out", "pki")
	run("render", "--out", "out", "--certs", "pki")
	run("render", "--out", "out", "--certs", "pki")
	run("render", "--out", "out", "--certs", "pki", "--format", "json")
	// A key in the tree changes: --check reports it stale without a diff.
	filepath.WalkDir("out", func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".key") {
			os.WriteFile(p, []byte("tampered\n"), 0o600)
		}
		return nil
	})
	run("render", "--check", "--out", "out", "--certs", "pki")
	for _, target := range append(all.Names(), "k8s-secrets") {
		run("render", "--target", target, "--certs", "pki")
		run("render", "--target", target, "--certs", "pki", "--out", "one")
		run("render", "--target", target, "--certs", "pki", "--format", "json")
	}
	os.WriteFile("bad.cue", []byte("name: \"etcd-prod\"\nmemebers: []\n"), 0o644)
	run("render", "--out", "out", "--certs", "pki", "-f", "bad.cue")
	run("validate")
	run("certs", "--out", "pki", "--check")

	printed := stdout.String() + stderr.String()
	if strings.Contains(printed, "PRIVATE KEY") {
		t.Fatal("output holds a PEM private key header")
	}
	for _, k := range keys {
		block, _ := pem.Decode(k)
		if block == nil {
			t.Fatalf("a key is not PEM: %q", k)
		}
		leak := func(what string, s string) {
			for i := 0; i+16 <= len(s); i += 16 {
				if strings.Contains(printed, s[i:i+16]) {
					t.Fatalf("output holds part of a key (%s): %q", what, s[i:i+16])
				}
			}
		}
		for _, line := range strings.Split(string(k), "\n") {
			if !strings.HasPrefix(line, "-----") {
				leak("PEM", line)
			}
		}
		leak("base64 of the PEM", base64.StdEncoding.EncodeToString(k))
		leak("DER", string(block.Bytes))
	}
}
