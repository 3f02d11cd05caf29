package output

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdgen/etcdgen/render"
)

func gitInit(t *testing.T, dir string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	cmd := exec.Command("git", "init", "-q", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
}

var keyFiles = []render.File{
	{Path: "etcd1/etc/etcd/etcd.conf", Mode: 0o644, Data: []byte("x\n")},
	{Path: "etcd1/etc/etcd/pki/server.key", Mode: 0o600, Data: []byte("KEY\n")},
	{Path: "etcd1/etc/etcd/pki/peer.key", Mode: 0o600, Data: []byte("KEY\n")},
}

func TestGitGuard(t *testing.T) {
	repo := t.TempDir()
	gitInit(t, repo)
	out := filepath.Join(repo, "deploy", "out")

	// No keys: anything goes.
	if err := CheckSecretsIgnored(out, "deploy/out", keyFiles[:1]); err != nil {
		t.Errorf("no keys: %v", err)
	}
	// Keys, not ignored: refused, naming the file and the fix.
	err := CheckSecretsIgnored(out, "deploy/out", keyFiles)
	if err == nil {
		t.Fatal("keys written into a work tree without an ignore rule")
	}
	for _, want := range []string{"refusing to write private keys", "deploy/out/etcd1/etc/etcd/pki/server.key and 1 more", "add /deploy/out/ to "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q: %v", want, err)
		}
	}
	// Only some ignored: still refused.
	if err := os.WriteFile(filepath.Join(repo, ".gitignore"), []byte("server.key\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckSecretsIgnored(out, "deploy/out", keyFiles); err == nil || !strings.Contains(err.Error(), "peer.key would not") {
		t.Errorf("half ignored: %v", err)
	}
	// All ignored: allowed.
	if err := os.WriteFile(filepath.Join(repo, ".gitignore"), []byte("*.key\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckSecretsIgnored(out, "deploy/out", keyFiles); err != nil {
		t.Errorf("ignored: %v", err)
	}
	// A relative --out from inside the repository.
	t.Chdir(filepath.Join(repo))
	if err := CheckSecretsIgnored("deploy/out", "deploy/out", keyFiles); err != nil {
		t.Errorf("relative: %v", err)
	}
}

func TestGitGuardOutsideWorkTree(t *testing.T) {
	dir := t.TempDir()
	if workTree(dir) != "" {
		t.Skipf("%s is inside a git work tree", dir)
	}
	if err := CheckSecretsIgnored(filepath.Join(dir, "out"), "out", keyFiles); err != nil {
		t.Errorf("outside a work tree: %v", err)
	}
}

func TestGitGuardWithoutGit(t *testing.T) {
	repo := t.TempDir()
	// A .git file (as in linked work trees and submodules) marks a work tree.
	if err := os.WriteFile(filepath.Join(repo, ".git"), []byte("gitdir: /nowhere\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", "")
	err := CheckSecretsIgnored(filepath.Join(repo, "out"), "out", keyFiles)
	if err == nil || !strings.Contains(err.Error(), "git is not installed") {
		t.Errorf("without git: %v", err)
	}
}

func TestGitGuardTrackedKey(t *testing.T) {
	repo := t.TempDir()
	gitInit(t, repo)
	// A key git already tracks is not protected by a later ignore rule.
	key := filepath.Join(repo, "out", "etcd1", "etc", "etcd", "pki", "server.key")
	if err := os.MkdirAll(filepath.Dir(key), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, []byte("KEY\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("git", "-C", repo, "add", "out").CombinedOutput(); err != nil {
		t.Fatalf("git add: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(repo, ".gitignore"), []byte("*.key\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := CheckSecretsIgnored(filepath.Join(repo, "out"), "out", keyFiles[1:2])
	if err == nil {
		t.Errorf("a tracked key passed the guard")
	}
}

// A --out that is a symlink into a work tree is inside it: the guard
// judges the real path, not the name.
func TestGitGuardSymlinkedOut(t *testing.T) {
	repo := t.TempDir()
	gitInit(t, repo)
	if err := os.Mkdir(filepath.Join(repo, "deploy"), 0o755); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	if workTree(outside) != "" {
		t.Skipf("%s is inside a git work tree", outside)
	}
	link := filepath.Join(outside, "out")
	if err := os.Symlink(filepath.Join(repo, "deploy"), link); err != nil {
		t.Fatal(err)
	}
	err := CheckSecretsIgnored(link, "out", keyFiles)
	if err == nil || !strings.Contains(err.Error(), "would not be git-ignored") {
		t.Errorf("keys written through a symlink into a work tree: %v", err)
	}
}

// A work tree below --out (a repository the tree lands in) is found too.
func TestGitGuardWorkTreeBelow(t *testing.T) {
	out := t.TempDir()
	if workTree(out) != "" {
		t.Skipf("%s is inside a git work tree", out)
	}
	gitInit(t, filepath.Join(out, "etcd1"))
	err := CheckSecretsIgnored(out, "out", keyFiles)
	if err == nil || !strings.Contains(err.Error(), "holds the git work tree") {
		t.Errorf("keys written into a work tree below --out: %v", err)
	}
	if err := os.WriteFile(filepath.Join(out, "etcd1", ".gitignore"), []byte("*.key\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckSecretsIgnored(out, "out", keyFiles); err != nil {
		t.Errorf("ignored below: %v", err)
	}
}
