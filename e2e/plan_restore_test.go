package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// clusterID is the cluster ID the members answer with.
func (l *planLab) clusterID(eps []string) uint64 {
	l.t.Helper()
	out, err := l.ctl(eps, "member", "list", "-w", "json")
	must(l.t, err)
	var res struct {
		Header struct {
			ClusterID uint64 `json:"cluster_id"`
		}
	}
	must(l.t, json.Unmarshal([]byte(out), &res))
	return res.Header.ClusterID
}

// TestPlanRestore: a snapshot of a running cluster restored into the
// spec's members by plan.sh alone (etcdgen plan --restore): every member
// stopped, wiped and restored with a new token; the data of the snapshot
// is back, a key written after the snapshot is gone, the revision is
// bumped; plan.sh killed at a random step and run again completes; runs
// after the success never wipe again (a key written to the restored
// cluster survives them).
func TestPlanRestore(t *testing.T) {
	defaultPassOnly(t)
	l := newPlanLab(t, 22440)
	idx := map[string]int{"m1": 0, "m2": 1, "m3": 2}
	three := []string{"m1", "m2", "m3"}
	s3 := l.spec(three, idx, nil)
	eps := l.urls(three...)
	l.run(l.plan("plan-bootstrap", "-f", s3))
	oldID := l.clusterID(eps)
	// 50 keys through one client, not an etcdctl process each.
	cli := l.client(eps)
	for i := range 50 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := cli.Put(ctx, "/before/"+strconv.Itoa(i), "kept")
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	cli.Close()
	snap := filepath.Join(l.dir, "snap.db")
	if out, err := l.ctl(eps[:1], "snapshot", "save", snap); err != nil {
		t.Fatalf("snapshot save: %v\n%s", err, out)
	}
	if _, err := l.ctl(eps, "put", "/after", "lost"); err != nil {
		t.Fatal(err)
	}

	const bump = 1000000000
	p := l.plan("plan-restore", "--restore", snap, "--bump-revision", strconv.Itoa(bump), "-f", s3)
	l.runKilled(p, 2)
	l.run(p)

	newID := l.clusterID(eps)
	if newID == oldID {
		t.Fatalf("the restored cluster has the old cluster's ID %x", oldID)
	}
	out, err := l.ctl(eps, "get", "--prefix", "-w", "json", "/before/")
	must(t, err)
	var cnt struct {
		Count  int
		Header struct{ Revision int64 }
	}
	must(t, json.Unmarshal([]byte(out), &cnt))
	if cnt.Count != 50 {
		t.Errorf("%d keys of the snapshot after the restore, want 50", cnt.Count)
	}
	if cnt.Header.Revision < bump {
		t.Errorf("revision %d after a restore with --bump-revision %d", cnt.Header.Revision, bump)
	}
	if got, err := l.ctl(eps, "get", "--print-value-only", "/after"); err != nil || strings.TrimSpace(got) != "" {
		t.Errorf("/after (written after the snapshot) = %q, %v; want it gone", got, err)
	}
	ms := l.members(eps)
	for _, n := range three {
		if mi, ok := ms[n]; !ok || mi.IsLearner {
			t.Errorf("after the restore: %s is %+v, want a voting member", n, mi)
		}
		env, err := os.ReadFile(filepath.Join(l.hosts, n, "root/etc/etcd/etcd.conf"))
		must(t, err)
		if strings.Contains(string(env), "ETCD_INITIAL_CLUSTER_TOKEN=e2e-plan\n") || !strings.Contains(string(env), "ETCD_INITIAL_CLUSTER_TOKEN=e2e-plan-r") {
			t.Errorf("%s: the installed env file does not carry the new token", n)
		}
	}

	// Written to the restored cluster: a rerun must not wipe it.
	if _, err := l.ctl(eps, "put", "/restored", "kept"); err != nil {
		t.Fatal(err)
	}
	hooks := len(l.hookCalls())
	out = l.run(p)
	if n := len(l.hookCalls()); n != hooks {
		t.Fatalf("a run after the restore called hooks: %v", l.hookCalls()[hooks:])
	}
	if c := strings.Count(out, "done already"); c != 2 {
		t.Fatalf("run after the restore: want both steps done already, got %d:\n%s", c, out)
	}
	// A member down after the restore: a rerun starts it, and wipes nothing.
	pid, err := os.ReadFile(filepath.Join(l.hosts, "m3", "pid"))
	must(t, err)
	l.stopPID(strings.TrimSpace(string(pid)))
	out = l.run(p)
	for _, c := range l.hookCalls()[hooks:] {
		if c != "start m3" {
			t.Errorf("a rerun with m3 down called %q; want only its start", c)
		}
	}
	if got, err := l.ctl(eps, "get", "--print-value-only", "/restored"); err != nil || strings.TrimSpace(got) != "kept" {
		t.Fatalf("/restored = %q, %v after the reruns; want kept", got, err)
	}
	if id := l.clusterID(eps); id != newID {
		t.Fatalf("cluster ID %x after the reruns, want %x", id, newID)
	}
}
