package render

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tree is a small render: two members, a shared file and a key.
func tree(version string) []File {
	var files []File
	for _, m := range []string{"etcd1", "etcd2", "etcd3"} {
		files = append(files,
			File{Path: m + "/etc/etcd/etcd.conf", Mode: 0o644, Data: []byte("ETCD_NAME=" + m + "\n# " + version + "\n")},
			File{Path: m + "/etc/systemd/system/etcd.service", Mode: 0o644, Data: []byte("[Unit]\n# " + version + "\n")},
			File{Path: m + "/etc/etcd/pki/server.key", Mode: 0o600, Data: []byte("KEY " + m + " " + version + "\n")},
		)
	}
	SortFiles(files)
	return files
}

// snapshot maps every entry under root (files, dirs, symlinks) to its mode
// and bytes.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = fmt.Sprintf("%v %s", fi.Mode(), data)
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[rel] = "symlink " + target
		default:
			out[rel] = fi.Mode().String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func temps(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".etcdgen-") && strings.HasSuffix(d.Name(), ".tmp") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func diffSnap(t *testing.T, got, want map[string]string) {
	t.Helper()
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if got[k] != want[k] {
			t.Errorf("%s:\n got %q\nwant %q", k, got[k], want[k])
		}
	}
}

func TestWriteFailureHalfWayKeepsOldTree(t *testing.T) {
	root := filepath.Join(t.TempDir(), "out")
	if _, err := (&TreeWriter{Root: root, Manifest: true}).Write(tree("v1"), false); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, root)
	files := tree("v2")
	// A new member appears too: its directories must not be left behind.
	files = append(files, File{Path: "etcd4/etc/etcd/etcd.conf", Mode: 0o644, Data: []byte("new\n")})
	SortFiles(files)
	for n := 1; n <= len(files); n++ {
		w := &TreeWriter{Root: root, Manifest: true, failAfter: n}
		if _, err := w.Write(files, true); err == nil || !strings.Contains(err.Error(), "injected failure") {
			t.Fatalf("failAfter %d: err = %v, want the injected failure", n, err)
		}
		diffSnap(t, snapshot(t, root), before)
		if tmp := temps(t, root); len(tmp) > 0 {
			t.Fatalf("failAfter %d: temp files left: %v", n, tmp)
		}
	}
	// And the write that does not fail replaces everything.
	if _, err := (&TreeWriter{Root: root, Manifest: true}).Write(files, true); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(root, f.Path))
		if err != nil || !bytes.Equal(data, f.Data) {
			t.Errorf("%s = %q, %v; want %q", f.Path, data, err, f.Data)
		}
	}
}

func TestWriteRefusesSymlinkedDir(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "out")
	outside := filepath.Join(dir, "outside")
	for _, d := range []string{root, outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A member directory planted as a symlink to a directory outside --out.
	if err := os.Symlink(outside, filepath.Join(root, "etcd2")); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)
	_, err := (&TreeWriter{Root: root, Manifest: true}).Write(tree("v1"), false)
	if err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("err = %v, want a refusal to write through the symlink", err)
	}
	diffSnap(t, snapshot(t, dir), before)
	if stale := Check(root, "out", tree("v1")); len(stale) == 0 {
		t.Errorf("Check reads through the symlink and finds nothing stale")
	}
}

func TestWriteRefusesSymlinkedFile(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "out")
	if _, err := (&TreeWriter{Root: root}).Write(tree("v1"), false); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"etcd1/etc/etcd/etcd.conf", "etcd3/etc/etcd/pki/server.key"} {
		p := filepath.Join(root, rel)
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(victim, p); err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, dir)
		_, err := (&TreeWriter{Root: root}).Write(tree("v2"), false)
		if err == nil || !strings.Contains(err.Error(), "symlink") {
			t.Fatalf("%s: err = %v, want a refusal", rel, err)
		}
		diffSnap(t, snapshot(t, dir), before)
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWriteRefusesEscapingPaths(t *testing.T) {
	root := filepath.Join(t.TempDir(), "out")
	for _, p := range []string{"../x", "/etc/passwd", "a/../../x", "a//b", "", ".", "a\\b"} {
		_, err := (&TreeWriter{Root: root}).Write([]File{{Path: p, Mode: 0o644}}, false)
		if err == nil {
			t.Errorf("%q: written", p)
		}
	}
	if _, err := os.Lstat(root); err == nil {
		t.Errorf("root created for refused paths")
	}
}

// Keys are 0600 in 0700 directories, and were never wider: the temp file is
// created 0600 (os.CreateTemp) and chmodded before the first byte.
func TestSecretModes(t *testing.T) {
	root := filepath.Join(t.TempDir(), "out")
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	var seen []string
	testHookBeforeWrite = func(name string, f File) {
		fi, err := os.Stat(name)
		if err != nil {
			t.Errorf("%s: %v", f.Path, err)
			return
		}
		if fi.Size() != 0 {
			t.Errorf("%s: %d bytes before the mode was set", f.Path, fi.Size())
		}
		if fi.Mode().Perm() != f.Mode.Perm() {
			t.Errorf("%s: mode %v before the first byte, want %v", f.Path, fi.Mode().Perm(), f.Mode.Perm())
		}
		seen = append(seen, f.Path)
	}
	defer func() { testHookBeforeWrite = nil }()
	if _, err := (&TreeWriter{Root: root}).Write(tree("v1"), false); err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(tree("v1")) {
		t.Errorf("hook saw %d files, want %d", len(seen), len(tree("v1")))
	}
	for _, f := range tree("v1") {
		fi, err := os.Stat(filepath.Join(root, f.Path))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != f.Mode.Perm() {
			t.Errorf("%s: mode %v, want %v", f.Path, fi.Mode().Perm(), f.Mode.Perm())
		}
		if f.Secret() {
			di, err := os.Stat(filepath.Dir(filepath.Join(root, f.Path)))
			if err != nil {
				t.Fatal(err)
			}
			if di.Mode().Perm() != 0o700 {
				t.Errorf("%s: directory mode %v, want 0700", f.Path, di.Mode().Perm())
			}
		}
	}
}

// The killed-process variant: a child process writes a tree and is
// SIGKILLed after staging every temp file, before the first rename. The
// old tree is intact; the next write removes the orphaned temp files.
func TestWriteKilledMidway(t *testing.T) {
	if os.Getenv("ETCDGEN_EMIT_CHILD") != "" {
		t.Skip("child")
	}
	root := filepath.Join(t.TempDir(), "out")
	if _, err := (&TreeWriter{Root: root, Manifest: true}).Write(tree("v1"), false); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, root)
	ready := filepath.Join(t.TempDir(), "staged")

	cmd := exec.Command(os.Args[0], "-test.run=^TestEmitChild$", "-test.v")
	cmd.Env = append(os.Environ(), "ETCDGEN_EMIT_CHILD=stage", "ETCDGEN_EMIT_ROOT="+root, "ETCDGEN_EMIT_READY="+ready)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child never staged its files:\n%s", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()

	after := snapshot(t, root)
	left := temps(t, root)
	if len(left) == 0 {
		t.Fatalf("no temp files after the kill: the child was not killed mid-write")
	}
	for _, p := range left {
		rel, _ := filepath.Rel(root, p)
		delete(after, rel)
	}
	diffSnap(t, after, before)

	// The next write cleans up after the killed one.
	if _, err := (&TreeWriter{Root: root, Manifest: true}).Write(tree("v2"), false); err != nil {
		t.Fatal(err)
	}
	if left := temps(t, root); len(left) > 0 {
		t.Errorf("temp files survive the next write: %v", left)
	}
}

// A child that rewrites the tree in a loop is killed at a random moment:
// every file is then wholly one version or the other, never torn.
func TestWriteKilledAnytime(t *testing.T) {
	if os.Getenv("ETCDGEN_EMIT_CHILD") != "" {
		t.Skip("child")
	}
	for round := 0; round < 5; round++ {
		root := filepath.Join(t.TempDir(), "out")
		if _, err := (&TreeWriter{Root: root, Manifest: true}).Write(tree("v1"), false); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestEmitChild$")
		cmd.Env = append(os.Environ(), "ETCDGEN_EMIT_CHILD=loop", "ETCDGEN_EMIT_ROOT="+root)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(50+round*37) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		valid := map[string]bool{}
		for _, v := range []string{"v1", "v2"} {
			for _, f := range tree(v) {
				valid[f.Path+"\x00"+string(f.Data)] = true
			}
		}
		for _, f := range tree("v1") {
			data, err := os.ReadFile(filepath.Join(root, f.Path))
			if err != nil || !valid[f.Path+"\x00"+string(data)] {
				t.Errorf("round %d: %s is torn: %q, %v", round, f.Path, data, err)
			}
		}
		if _, err := (&TreeWriter{Root: root, Manifest: true}).Write(tree("v1"), false); err != nil {
			t.Fatal(err)
		}
		if left := temps(t, root); len(left) > 0 {
			t.Errorf("round %d: temp files survive the next write: %v", round, left)
		}
	}
}

// TestEmitChild is the child process of the kill tests.
func TestEmitChild(t *testing.T) {
	mode := os.Getenv("ETCDGEN_EMIT_CHILD")
	root := os.Getenv("ETCDGEN_EMIT_ROOT")
	switch mode {
	case "":
		t.Skip("only run as the child of a kill test")
	case "stage":
		w := &TreeWriter{Root: root, Manifest: true}
		w.beforeRename = func() {
			os.WriteFile(os.Getenv("ETCDGEN_EMIT_READY"), nil, 0o644)
			time.Sleep(time.Minute) // killed here
		}
		w.Write(tree("v2"), false)
		t.Fatal("not killed")
	case "loop":
		for i := 0; ; i++ {
			v := []string{"v1", "v2"}[i%2]
			if _, err := (&TreeWriter{Root: root, Manifest: true}).Write(tree(v), false); err != nil {
				t.Fatal(err)
			}
		}
	}
}
