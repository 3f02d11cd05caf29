package output

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/etcdgen/etcdgen/render"
)

// tree is a small render: two members, a shared file and a key.
func tree(version string) []render.File {
	var files []render.File
	for _, m := range []string{"etcd1", "etcd2", "etcd3"} {
		files = append(files,
			render.File{Path: m + "/etc/etcd/etcd.conf", Mode: 0o644, Data: []byte("ETCD_NAME=" + m + "\n# " + version + "\n")},
			render.File{Path: m + "/etc/systemd/system/etcd.service", Mode: 0o644, Data: []byte("[Unit]\n# " + version + "\n")},
			render.File{Path: m + "/etc/etcd/pki/server.key", Mode: 0o600, Data: []byte("KEY " + m + " " + version + "\n")},
		)
	}
	render.SortFiles(files)
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
		if d.Name() == LockName {
			return nil // bookkeeping: a refused write may make it
		}
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
	_, err := (&Tree{Root: root}).Write(tree("v1"), false)
	if err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("err = %v, want a refusal to write through the symlink", err)
	}
	diffSnap(t, snapshot(t, dir), before)
	if stale := check(t, root, tree("v1")); len(stale) == 0 {
		t.Errorf("Check reads through the symlink and finds nothing stale")
	}
}

func TestWriteRefusesSymlinkedFile(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "out")
	if _, err := (&Tree{Root: root}).Write(tree("v1"), false); err != nil {
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
		_, err := (&Tree{Root: root}).Write(tree("v2"), false)
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
		_, err := (&Tree{Root: root}).Write([]render.File{{Path: p, Mode: 0o644}}, false)
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
	testHookBeforeWrite = func(name string, f render.File) {
		fi, err := os.Stat(name)
		if err != nil {
			t.Errorf("%s: %v", f.Path, err)
			return
		}
		if fi.Size() != 0 {
			t.Errorf("%s: %d bytes before the mode was set", f.Path, fi.Size())
		}
		if fi.Mode().Perm() != fs.FileMode(f.Mode.Perm()) {
			t.Errorf("%s: mode %v before the first byte, want %v", f.Path, fi.Mode().Perm(), f.Mode.Perm())
		}
		seen = append(seen, f.Path)
	}
	defer func() { testHookBeforeWrite = nil }()
	if _, err := (&Tree{Root: root}).Write(tree("v1"), false); err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(tree("v1"))+1 {
		t.Errorf("hook saw %d files, want %d and the manifest", len(seen), len(tree("v1")))
	}
	for _, f := range tree("v1") {
		fi, err := os.Stat(filepath.Join(root, f.Path))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != fs.FileMode(f.Mode.Perm()) {
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
