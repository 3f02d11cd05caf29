package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The promises of the output layer, tried as a hostile user would, on the
// real command (etcdgen in $PATH is this test binary, see TestMain). Each
// test failed on the commit before package output (6a031ba).

// etcdgen runs the command with extra environment in dir; it fails the
// test if the command hangs.
func etcdgen(t *testing.T, dir string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "etcdgen", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("etcdgen %s hangs", strings.Join(args, " "))
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode() // -1: killed
	default:
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func mustRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, errs, code := etcdgen(t, dir, nil, args...)
	if code != 0 {
		t.Fatalf("etcdgen %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func write(t *testing.T, name, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Two members keep the number of steps (and processes) down.
const specOld = `name: "kill"
members: [{name: "etcd1", ip: "10.0.0.11"}, {name: "etcd2", ip: "10.0.0.12"}]
`

// specNew moves etcd2: every member's ETCD_INITIAL_CLUSTER changes.
const specNew = `name: "kill"
members: [{name: "etcd1", ip: "10.0.0.11"}, {name: "etcd2", ip: "10.0.0.22"}]
`

// An update of a tree killed at every step of its commit: the next run (a
// --check) leaves the tree wholly old or wholly new, and says so when it
// finished the killed run's write. Never some members with the new
// ETCD_INITIAL_CLUSTER and others with the old.
func TestRenderKilledAtEveryStep(t *testing.T) {
	if testing.Short() {
		t.Skip("many processes")
	}
	dir := t.TempDir()
	write(t, filepath.Join(dir, "old.cue"), specOld)
	write(t, filepath.Join(dir, "new.cue"), specNew)
	finished := 0
	for k := 1; ; k++ {
		os.RemoveAll(filepath.Join(dir, "out"))
		mustRun(t, dir, "render", "--target", "systemd", "--out", "out", "-f", "old.cue")
		_, _, code := etcdgen(t, dir, []string{"ETCDGEN_TEST_CRASH_AT=" + strconv.Itoa(k)}, "render", "--target", "systemd", "--out", "out", "-f", "new.cue")
		if code == 0 {
			if k < 10 {
				t.Fatalf("the update has only %d steps", k-1)
			}
			break
		}
		if code != -1 {
			t.Fatalf("step %d: exit %d, want killed", k, code)
		}
		_, journal := os.Lstat(filepath.Join(dir, "out", ".etcdgen-journal"))
		_, errs, code := etcdgen(t, dir, nil, "render", "--check", "--target", "systemd", "--out", "out", "-f", "new.cue")
		if code == 0 {
			finished++
			if journal == nil && !strings.Contains(errs, "finished the interrupted write") {
				t.Errorf("step %d: the tree is new after the kill, but the next run does not say it finished the write:\n%s", k, errs)
			}
			continue
		}
		if _, errs, code := etcdgen(t, dir, nil, "render", "--check", "--target", "systemd", "--out", "out", "-f", "old.cue"); code != 0 {
			t.Fatalf("step %d: the tree is neither old nor new:\n%s", k, errs)
		}
	}
	if finished == 0 {
		t.Error("no kill came after the journal: the test misses the commit")
	}
}

// A bundle killed at every step of its first run and of --rotate-ca
// --force: the next run finds a whole bundle (certs --check passes, or the
// old one is intact), and the old CA pair always exists, as ca.crt/ca.key
// or kept beside the new CA.
func TestCertsKilledAtEveryStep(t *testing.T) {
	if testing.Short() {
		t.Skip("many processes")
	}
	dir := t.TempDir()
	write(t, filepath.Join(dir, "spec.cue"), `name: "kill"
members: [{name: "etcd1", ip: "10.0.0.11"}]
`)
	for _, rotate := range []bool{false, true} {
		for k := 1; ; k++ {
			pki := filepath.Join(dir, "pki")
			os.RemoveAll(pki)
			var oldCA, oldKey []byte
			args := []string{"certs", "--out", "pki", "-f", "spec.cue"}
			if rotate {
				mustRun(t, dir, args...)
				oldCA, _ = os.ReadFile(filepath.Join(pki, "ca.crt"))
				oldKey, _ = os.ReadFile(filepath.Join(pki, "ca.key"))
				args = append(args, "--rotate-ca", "--force")
			}
			_, _, code := etcdgen(t, dir, []string{"ETCDGEN_TEST_CRASH_AT=" + strconv.Itoa(k)}, args...)
			if code == 0 {
				if k < 10 {
					t.Fatalf("rotate %v: only %d steps", rotate, k-1)
				}
				break
			}
			if code != -1 {
				t.Fatalf("rotate %v, step %d: exit %d, want killed", rotate, k, code)
			}
			_, errs, code := etcdgen(t, dir, nil, "certs", "--check", "--out", "pki", "-f", "spec.cue")
			switch {
			case code == 0:
				// Wholly new.
			case !rotate:
				// Wholly old: no file but bookkeeping (temp files of the
				// dead run go with the next run).
				filepath.WalkDir(pki, func(p string, d os.DirEntry, err error) error {
					if err == nil && d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".etcdgen-") {
						t.Fatalf("step %d: a killed first run left %s (certs --check: %s)", k, p, errs)
					}
					return nil
				})
			default:
				ca, _ := os.ReadFile(filepath.Join(pki, "ca.crt"))
				key, _ := os.ReadFile(filepath.Join(pki, "ca.key"))
				if !bytes.Equal(ca, oldCA) || !bytes.Equal(key, oldKey) {
					t.Fatalf("step %d: the CA pair is neither old nor new:\n%s", k, errs)
				}
			}
			if rotate {
				// The old pair exists somewhere: as the CA, or kept.
				kept, _ := filepath.Glob(filepath.Join(pki, "ca-old-*.key"))
				ca, _ := os.ReadFile(filepath.Join(pki, "ca.key"))
				if !bytes.Equal(ca, oldKey) && (len(kept) != 1 || !sameFile(kept[0], oldKey)) {
					t.Fatalf("step %d: the old CA key is gone", k)
				}
			}
			// The next real run completes, with no temp file left.
			mustRun(t, dir, "certs", "--out", "pki", "-f", "spec.cue")
			filepath.WalkDir(pki, func(p string, d os.DirEntry, err error) error {
				if err == nil && strings.HasSuffix(d.Name(), ".tmp") {
					t.Errorf("step %d: temp file left: %s", k, p)
				}
				return nil
			})
		}
	}
}

func sameFile(name string, data []byte) bool {
	got, err := os.ReadFile(name)
	return err == nil && bytes.Equal(got, data)
}

// hold takes the lock of dir as another etcdgen would, and writes a PID.
func hold(t *testing.T, dir string, pid int) func() {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, ".etcdgen-lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "%d\n", pid)
	return func() { f.Close() }
}

// One etcdgen at a time per tree and per bundle: a second waits a bounded
// time, then exits 1 naming the holder.
func TestLockHeld(t *testing.T) {
	dir := t.TempDir()
	defer hold(t, filepath.Join(dir, "out"), 4242)()
	defer hold(t, filepath.Join(dir, "pki"), 4343)()
	env := []string{"ETCDGEN_LOCK_WAIT=300ms"}
	for _, c := range []struct {
		args []string
		pid  string
	}{
		{[]string{"render", "--out", "out"}, "4242"},
		{[]string{"certs", "--out", "pki"}, "4343"},
	} {
		start := time.Now()
		_, errs, code := etcdgen(t, dir, env, c.args...)
		if code != 1 || !strings.Contains(errs, "locked by etcdgen process "+c.pid) {
			t.Errorf("%s: exit %d, %s; want exit 1 naming process %s", c.args, code, errs, c.pid)
		}
		if time.Since(start) < 300*time.Millisecond {
			t.Errorf("%s: did not wait", c.args)
		}
	}
}

// A live run's temp directory beside a tree is not another run's to
// remove (two fresh trees in one parent directory).
func TestLiveRunsTempsKept(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, fmt.Sprintf(".etcdgen-p%d-1.tmpdir", os.Getpid()))
	if err := os.Mkdir(live, 0o700); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, "render", "--out", "out")
	if _, err := os.Stat(live); err != nil {
		t.Errorf("a live run's temp directory was removed: %v", err)
	}
}

func mkfifo(t *testing.T, name string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(name), 0o755)
	if err := syscall.Mkfifo(name, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A FIFO or a symlink to /dev/zero where etcdgen reads is an error, exit
// 1, never a hang or an out-of-memory crash.
func TestSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, dir, "render", "--out", "out")
	mustRun(t, dir, "certs", "--out", "pki")
	manifest := filepath.Join(dir, "out", ".etcdgen-manifest")

	os.Remove(manifest)
	mkfifo(t, manifest)
	for _, args := range [][]string{{"render", "--check", "--out", "out"}, {"render", "--out", "out"}} {
		out, errs, code := etcdgen(t, dir, nil, args...)
		if code != 1 || !strings.Contains(out+errs, "FIFO") {
			t.Errorf("%s with a FIFO manifest: exit %d: %s", args, code, errs)
		}
	}
	os.Remove(manifest)
	os.Symlink("/dev/zero", manifest)
	if out, errs, code := etcdgen(t, dir, nil, "render", "--check", "--out", "out"); code != 1 || !strings.Contains(out+errs, "symlink") {
		t.Errorf("manifest -> /dev/zero: exit %d: %s", code, errs)
	}

	// In the bundle: a named file, and one the spec does not name (not read).
	os.Symlink("/dev/zero", filepath.Join(dir, "pki", "junk.crt"))
	mustRun(t, dir, "render", "--target", "systemd", "--out", "out2", "--certs", "pki")
	key := filepath.Join(dir, "pki", "etcd1", "server.key")
	os.Remove(key)
	mkfifo(t, key)
	for _, args := range [][]string{{"render", "--target", "systemd", "--out", "out3", "--certs", "pki"}, {"certs", "--check", "--out", "pki"}, {"certs", "--out", "pki"}} {
		_, errs, code := etcdgen(t, dir, nil, args...)
		if code != 1 || !strings.Contains(errs, "FIFO") {
			t.Errorf("%s with a FIFO key: exit %d: %s", args, code, errs)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out3")); err == nil {
		t.Error("a refused render made its tree")
	}

	// In a spec directory.
	specs := filepath.Join(dir, "specs")
	write(t, filepath.Join(specs, "a.cue"), specOld)
	mkfifo(t, filepath.Join(specs, "b.yaml"))
	if _, errs, code := etcdgen(t, dir, nil, "render", "--target", "kubeadm", "specs"); code != 1 || !strings.Contains(errs, "not a regular file") {
		t.Errorf("FIFO in a spec directory: exit %d: %s", code, errs)
	}
	os.Remove(filepath.Join(specs, "b.yaml"))
	os.Symlink("/dev/zero", filepath.Join(specs, "b.yaml"))
	if _, errs, code := etcdgen(t, dir, nil, "render", "--target", "kubeadm", "specs"); code != 1 || !strings.Contains(errs, "not a regular file") {
		t.Errorf("/dev/zero in a spec directory: exit %d: %s", code, errs)
	}
}

// The manifest is the truth: keys stay listed until etcdgen removes them,
// a missing manifest is never "up to date", it never lists itself, and
// key directories are 0700.
func TestManifestTruth(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, dir, "certs", "--out", "pki")
	mustRun(t, dir, "render", "--target", "systemd", "--out", "out", "--certs", "pki")
	key := filepath.Join(dir, "out", "etcd1", "etc", "etcd", "pki", "server.key")

	// A render without --certs no longer writes the keys: they are
	// orphans, reported by --check and removed by --prune.
	mustRun(t, dir, "render", "--target", "systemd", "--out", "out")
	out, _, code := etcdgen(t, dir, nil, "render", "--check", "--target", "systemd", "--out", "out")
	if code != 1 || !strings.Contains(out, "etcd1/etc/etcd/pki/server.key is orphaned") {
		t.Errorf("check after dropping --certs: exit %d:\n%s", code, out)
	}
	mustRun(t, dir, "render", "--target", "systemd", "--out", "out", "--prune")
	if _, err := os.Stat(key); err == nil {
		t.Error("--prune left a private key in the tree")
	}
	mustRun(t, dir, "render", "--check", "--target", "systemd", "--out", "out")

	// A manifest that lists itself: --prune keeps it.
	manifest := filepath.Join(dir, "out", ".etcdgen-manifest")
	data, _ := os.ReadFile(manifest)
	os.WriteFile(manifest, append(data, ".etcdgen-manifest\n"...), 0o644)
	mustRun(t, dir, "render", "--target", "systemd", "--out", "out", "--prune")
	if _, err := os.Stat(manifest); err != nil {
		t.Error("--prune removed the manifest")
	}

	// A deleted manifest: --check and --prune refuse.
	os.Remove(manifest)
	if out, errs, code := etcdgen(t, dir, nil, "render", "--check", "--target", "systemd", "--out", "out"); code != 1 {
		t.Errorf("check without a manifest: exit %d: %s%s", code, out, errs)
	}
	if _, errs, code := etcdgen(t, dir, nil, "render", "--prune", "--target", "systemd", "--out", "out"); code != 1 || !strings.Contains(errs, "no manifest") {
		t.Errorf("prune without a manifest: exit %d: %s", code, errs)
	}

	// A key directory opened to 0755: reported, then fixed.
	mustRun(t, dir, "render", "--target", "systemd", "--out", "out", "--certs", "pki")
	keyDir := filepath.Dir(key)
	os.Chmod(keyDir, 0o755)
	out, _, code = etcdgen(t, dir, nil, "render", "--check", "--target", "systemd", "--out", "out", "--certs", "pki")
	if code != 1 || !strings.Contains(out, "etcd1/etc/etcd/pki holds private keys and has the wrong mode") {
		t.Errorf("check with a 0755 key directory: exit %d:\n%s", code, out)
	}
	mustRun(t, dir, "render", "--target", "systemd", "--out", "out", "--certs", "pki")
	if fi, _ := os.Stat(keyDir); fi.Mode().Perm() != 0o700 {
		t.Errorf("key directory still %v after a render", fi.Mode().Perm())
	}
}

// A run that fails removes the directories it made.
func TestFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"render", "--out", "new/deep/out"}, {"certs", "--out", "new/deep/pki"}} {
		for _, k := range []string{"1", "3"} {
			_, _, code := etcdgen(t, dir, []string{"ETCDGEN_TEST_FAIL_AT=" + k}, args...)
			if code != 1 {
				t.Errorf("%s: exit %d, want the injected failure", args, code)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("%s failed at step %s and left %v", args, k, ents)
			}
		}
	}
}
