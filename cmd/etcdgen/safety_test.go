package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/rogpeppe/go-internal/txtar"
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
