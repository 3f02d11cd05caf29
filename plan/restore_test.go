package plan

import (
	"errors"
	"strings"
	"testing"

	"github.com/etcdgen/etcdgen/render/rendertest"
)

// The IDs etcd itself computes for these members and token: recorded with
// membership.NewClusterFromURLsMap of etcd 3.7.3 (what etcdutl snapshot
// restore calls), in a scratch test in e2e/etcd/v3.7's module.
func TestClusterIDMatchesEtcd(t *testing.T) {
	for _, tc := range []struct {
		token string
		peers []string
		want  uint64
	}{
		{"etcd-prod-r0123456789ab", []string{"https://10.0.0.11:2380", "https://10.0.0.12:2380", "https://10.0.0.13:2380"}, 15978938720696648137},
		// Member order does not matter (etcd sorts the IDs).
		{"etcd-prod-r0123456789ab", []string{"https://10.0.0.13:2380", "https://10.0.0.11:2380", "https://10.0.0.12:2380"}, 15978938720696648137},
		{"t", []string{"https://[fd00::1]:2380"}, 9231323990036635185},
	} {
		if got := ClusterID(tc.token, tc.peers); got != tc.want {
			t.Errorf("ClusterID(%q, %v) = %d, want %d (etcd's)", tc.token, tc.peers, got, tc.want)
		}
	}
}

const sum = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestRestore(t *testing.T) {
	mod := m(t, "3.6.16", a, b, c)
	p, err := Restore(mod, SnapshotFile{Path: "/backups/s.db", SHA256: sum, BumpRevision: 1000000000})
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(p); got != "01-verify-snapshot 02-restore" {
		t.Fatalf("steps %s", got)
	}
	tok := "c-r0123456789ab"
	if p.Steps[1].Restore.Token != tok {
		t.Fatalf("token %q, want %q", p.Steps[1].Restore.Token, tok)
	}
	// Every member's env file carries the new token, and is a new cluster.
	n := 0
	for _, f := range p.Steps[1].Files {
		if strings.HasSuffix(f.Path, "/etc/etcd/etcd.conf") {
			n++
			if !strings.Contains(string(f.Data), "ETCD_INITIAL_CLUSTER_TOKEN="+tok+"\n") || !strings.Contains(string(f.Data), "ETCD_INITIAL_CLUSTER_STATE=new\n") {
				t.Errorf("%s:\n%s", f.Path, f.Data)
			}
		}
	}
	if n != 3 {
		t.Fatalf("%d env files, want 3", n)
	}
	files, err := Files(p)
	if err != nil {
		t.Fatal(err)
	}
	var script string
	for _, f := range files {
		if f.Path == "plan.sh" {
			script = string(f.Data)
		}
	}
	for _, want := range []string{"step_restore '02-restore' '/backups/s.db' '" + tok + "'", "'1000000000' '3.6.16' 'a' 'https://10.0.0.1:2380'", "etcdgen_restore() {"} {
		if !strings.Contains(script, want) {
			t.Errorf("plan.sh lacks %q", want)
		}
	}
	// Same inputs, same plan (the token is derived, not random).
	p2, _ := Restore(mod, SnapshotFile{Path: "/backups/s.db", SHA256: sum, BumpRevision: 1000000000})
	if string(Script(p2)) != string(Script(p)) {
		t.Fatal("two plans of the same restore differ")
	}
	// Other plans do not carry the restore functions.
	boot, _ := New(mod)
	if strings.Contains(string(Script(boot)), "step_restore") {
		t.Fatal("a bootstrap plan has the restore functions")
	}
}

func TestRestoreRefused(t *testing.T) {
	_, err := Restore(m(t, "3.5.9", a, b, c), SnapshotFile{Path: "/s.db", SHA256: sum, BumpRevision: 1})
	var r *Refused
	if !errors.As(err, &r) || !strings.Contains(err.Error(), "3.5.10 or later") {
		t.Fatalf("3.5.9 with --bump-revision: %v", err)
	}
	if _, err := Restore(m(t, "3.5.9", a, b, c), SnapshotFile{Path: "/s.db", SHA256: sum}); err != nil {
		t.Fatalf("3.5.9 without --bump-revision: %v", err)
	}
	if _, err := Restore(m(t, "3.5.10", a, b, c), SnapshotFile{Path: "/s.db", SHA256: sum, BumpRevision: 1}); err != nil {
		t.Fatalf("3.5.10 with --bump-revision: %v", err)
	}
	k8s := rendertest.Model(t, "name: \"c\"\nkubernetes: {}\n")
	if _, err := Restore(k8s, SnapshotFile{Path: "/s.db", SHA256: sum}); !errors.As(err, &r) {
		t.Fatalf("no host members: %v", err)
	}
}
