package output

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/etcdgen/etcdgen/render"
)

// update is the second render of the transaction tests: every file
// changes, a member appears (new directories) and etcd3's files are no
// longer rendered (pruned, its key first).
func update() []render.File {
	var files []render.File
	for _, f := range tree("v2") {
		if !strings.HasPrefix(f.Path, "etcd3/") {
			files = append(files, f)
		}
	}
	files = append(files, render.File{Path: "etcd4/etc/etcd/etcd.conf", Mode: 0o644, Data: []byte("new\n")},
		render.File{Path: "etcd4/etc/etcd/pki/server.key", Mode: 0o600, Data: []byte("KEY4\n")})
	render.SortFiles(files)
	return files
}

// files maps the regular files under root (bookkeeping aside) to mode
// and bytes: what "wholly old or wholly new" compares. Empty directories
// a killed run made are not content.
func files(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range snapshot(t, root) {
		if strings.HasPrefix(v, "-") && !strings.HasPrefix(filepath.Base(k), tempPrefix) {
			out[k] = v
		}
	}
	return out
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func check(t *testing.T, root string, want []render.File) []Difference {
	t.Helper()
	d, err := (&Tree{Root: root}).Check("out", want)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// oldNew returns the tree before and after the update, written without
// interruption.
func oldNew(t *testing.T) (old, new map[string]string) {
	root := filepath.Join(t.TempDir(), "out")
	if _, err := (&Tree{Root: root}).Write(tree("v1"), false); err != nil {
		t.Fatal(err)
	}
	old = files(t, root)
	if _, err := (&Tree{Root: root}).Write(update(), true); err != nil {
		t.Fatal(err)
	}
	return old, files(t, root)
}

// Failure injected at every file system call of an update: the failed
// run reports it, and after the next run (a --check, which finishes a
// journaled commit first) the tree is wholly old or wholly new; the run
// after that leaves no temp file.
func TestUpdateFailsAtEveryStep(t *testing.T) {
	old, new := oldNew(t)
	defer func() { failAt = 0 }()
	for k := 1; ; k++ {
		root := filepath.Join(t.TempDir(), "out")
		if _, err := (&Tree{Root: root}).Write(tree("v1"), false); err != nil {
			t.Fatal(err)
		}
		stepMu.Lock()
		steps, failAt = 0, k
		stepMu.Unlock()
		_, err := (&Tree{Root: root}).Write(update(), true)
		failAt = 0
		if err == nil {
			if k < 10 {
				t.Fatalf("only %d steps in an update", k-1)
			}
			break
		}
		if !errors.Is(err, errInjected) {
			t.Fatalf("step %d: %v", k, err)
		}
		check(t, root, update())
		got := files(t, root)
		if !equal(got, old) && !equal(got, new) {
			t.Fatalf("step %d: the tree is neither old nor new after the next run: %v", k, got)
		}
		if equal(got, old) {
			if tmp := temps(t, root); len(tmp) > 0 {
				t.Fatalf("step %d: failed run left temp files %v", k, tmp)
			}
		}
		if _, err := (&Tree{Root: root}).Write(update(), true); err != nil {
			t.Fatal(err)
		}
		if tmp := temps(t, root); len(tmp) > 0 {
			t.Fatalf("step %d: temp files left %v", k, tmp)
		}
		if !equal(files(t, root), new) {
			t.Fatalf("step %d: the next write does not make the new tree", k)
		}
	}
}

// A child process is SIGKILLed at every step of an update (a real crash,
// through ETCDGEN_TEST_CRASH_AT): the next run, a --check, says it
// finished an interrupted write or leaves the old tree; either way the
// tree is wholly old or wholly new.
func TestUpdateKilledAtEveryStep(t *testing.T) {
	if os.Getenv("ETCDGEN_TXN_CHILD") != "" {
		t.Skip("child")
	}
	old, new := oldNew(t)
	finished := 0
	for k := 1; ; k++ {
		root := filepath.Join(t.TempDir(), "out")
		if _, err := (&Tree{Root: root}).Write(tree("v1"), false); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestTxnChild$")
		cmd.Env = append(os.Environ(), "ETCDGEN_TXN_CHILD=update", "ETCDGEN_TXN_ROOT="+root, "ETCDGEN_TEST_CRASH_AT="+strconv.Itoa(k))
		out, err := cmd.CombinedOutput()
		if err == nil {
			if k < 10 {
				t.Fatalf("child finished at step %d:\n%s", k, out)
			}
			break
		}
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != -1 {
			t.Fatalf("step %d: child was not killed: %v\n%s", k, err, out)
		}
		var log bytes.Buffer
		if _, err := (&Tree{Root: root, Log: func(m string) { log.WriteString(m) }}).Check("out", update()); err != nil {
			t.Fatal(err)
		}
		got := files(t, root)
		switch {
		case equal(got, new):
			finished++
		case equal(got, old):
		default:
			t.Fatalf("step %d: the tree is neither old nor new after the next run: %v", k, got)
		}
		if _, err := (&Tree{Root: root}).Write(update(), true); err != nil {
			t.Fatal(err)
		}
		if tmp := temps(t, root); len(tmp) > 0 {
			t.Fatalf("step %d: temp files left %v", k, tmp)
		}
	}
	if finished == 0 {
		t.Errorf("no kill left a journal to finish: the test does not reach the commit")
	}
}

// A fresh tree killed at every step: nothing or the whole tree, and the
// next run removes the dead run's temp directory.
func TestFreshKilledAtEveryStep(t *testing.T) {
	if os.Getenv("ETCDGEN_TXN_CHILD") != "" {
		t.Skip("child")
	}
	for k := 1; ; k++ {
		parent := t.TempDir()
		root := filepath.Join(parent, "out")
		cmd := exec.Command(os.Args[0], "-test.run=^TestTxnChild$")
		cmd.Env = append(os.Environ(), "ETCDGEN_TXN_CHILD=fresh", "ETCDGEN_TXN_ROOT="+root, "ETCDGEN_TEST_CRASH_AT="+strconv.Itoa(k))
		out, err := cmd.CombinedOutput()
		if err == nil {
			break
		}
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != -1 {
			t.Fatalf("step %d: child was not killed: %v\n%s", k, err, out)
		}
		if _, err := os.Lstat(root); err == nil {
			if d := check(t, root, tree("v1")); len(d) > 0 {
				t.Fatalf("step %d: partial tree: %v", k, d)
			}
		}
		if _, err := (&Tree{Root: root}).Write(tree("v1"), false); err != nil {
			t.Fatal(err)
		}
		ents, _ := os.ReadDir(parent)
		if len(ents) != 1 {
			t.Fatalf("step %d: left beside the tree: %v", k, ents)
		}
	}
}

// TestTxnChild is the child process of the kill tests.
func TestTxnChild(t *testing.T) {
	root := os.Getenv("ETCDGEN_TXN_ROOT")
	switch os.Getenv("ETCDGEN_TXN_CHILD") {
	case "":
		t.Skip("only run as the child of a kill test")
	case "update":
		if _, err := (&Tree{Root: root}).Write(update(), true); err != nil {
			t.Fatal(err)
		}
	case "fresh":
		if _, err := (&Tree{Root: root}).Write(tree("v1"), false); err != nil {
			t.Fatal(err)
		}
	}
}
