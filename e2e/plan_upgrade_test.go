package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// upgradePair is the newest release of the previous minor and the newest
// release the suite builds (3.6.16 -> 3.7.3): the rolling upgrade the issue
// asks for. ok is false when the suite builds no such pair.
func upgradePair() (from, to string, ok bool) {
	vs, err := testedEtcdVersions()
	if err != nil || len(vs) < 2 {
		return "", "", false
	}
	to = vs[0]
	minor := func(v string) string { p := strings.Split(v, "."); return p[0] + "." + p[1] }
	for _, v := range vs[1:] {
		if compareVersions(minor(v), minor(to)) < 0 {
			// vs is newest first: the first older minor is its newest patch.
			f, t := strings.Split(v, "."), strings.Split(to, ".")
			if f[0] == t[0] && atoi(t[1])-atoi(f[1]) == 1 {
				return v, to, true
			}
			return "", "", false
		}
	}
	return "", "", false
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// defaultPassOnly skips a test outside the default (newest) version's
// pass of make -C e2e test: the plan tests prove plan.sh, whose etcdctl and
// etcdutl calls are the same for every version, and each costs 1-2 minutes.
func defaultPassOnly(t *testing.T) {
	t.Helper()
	if vs, _ := testedEtcdVersions(); len(vs) > 0 && etcdVersion != vs[0] {
		t.Skipf("runs in the pass of etcd %s only", vs[0])
	}
}

// serverVersion is the etcd version a member answers with (endpoint status).
func (l *planLab) serverVersion(name string) string {
	out, err := l.ctl(l.urls(name), "endpoint", "status", "-w", "json")
	if err != nil {
		return ""
	}
	var st []struct {
		Status struct {
			Version string `json:"version"`
		}
	}
	if json.Unmarshal([]byte(out), &st) != nil || len(st) != 1 {
		return ""
	}
	return st[0].Status.Version
}

// TestPlanUpgrade: a rolling upgrade from the newest patch of the previous
// minor to the newest release (3.6.16 -> 3.7.3), driven only by plan.sh:
// snapshot, then member by member (leader last); plan.sh is killed at a
// random step and run again; a writer writes throughout and loses nothing;
// every member answers at the new version after; a third run does nothing.
// It runs in the default version's pass only (it picks its own versions).
func TestPlanUpgrade(t *testing.T) {
	from, to, ok := upgradePair()
	if !ok {
		t.Skip("the suite builds no pair of adjacent minors")
	}
	defaultPassOnly(t)
	l := newPlanLab(t, 22340)
	idx := map[string]int{"m1": 0, "m2": 1, "m3": 2}
	three := []string{"m1", "m2", "m3"}

	l.version = from
	sOld := l.spec(three, idx, nil)
	l.run(l.plan("plan-bootstrap", "-f", sOld))
	for _, n := range three {
		if v := l.serverVersion(n); v != from {
			t.Fatalf("%s answers etcd %q after the bootstrap, want %s", n, v, from)
		}
	}
	if _, err := l.ctl(l.urls(three...), "put", "/before", "kept"); err != nil {
		t.Fatal(err)
	}
	w := l.startWriter(func() []string { return l.urls(three...) })

	l.version = to
	sNew := l.spec(three, idx, nil)
	p := l.plan("plan-upgrade", "--from", sOld, "-f", sNew)
	// Snapshot, then one step per member.
	l.runKilled(p, 1+len(three))
	l.run(p)
	hooks := len(l.hookCalls())
	out := l.run(p)
	if n := len(l.hookCalls()); n != hooks {
		t.Fatalf("a third run called hooks: %v", l.hookCalls()[hooks:])
	}
	if c := strings.Count(out, "done already"); c != 1+len(three) {
		t.Fatalf("third run: want every step done already, got %d:\n%s", c, out)
	}
	w.check(l, l.urls(three...))
	for _, n := range three {
		if v := l.serverVersion(n); v != to {
			t.Errorf("%s answers etcd %q after the upgrade, want %s", n, v, to)
		}
	}
	ms := l.members(l.urls(three...))
	for _, n := range three {
		if mi, ok := ms[n]; !ok || mi.IsLearner {
			t.Errorf("after the upgrade: %s is %+v, want a voting member", n, mi)
		}
	}
	got, err := l.ctl(l.urls(three...), "get", "--print-value-only", "/before")
	must(t, err)
	if strings.TrimSpace(got) != "kept" {
		t.Fatalf("/before = %q after the upgrade, want kept", got)
	}
	// The snapshot the plan took before the first member stopped.
	dbs, _ := filepath.Glob(filepath.Join(p, "state", "*", "01-snapshot.db"))
	if len(dbs) != 1 {
		t.Fatalf("no snapshot in %s/state: %v", p, dbs)
	}
	if fi, err := os.Stat(dbs[0]); err != nil || fi.Size() == 0 {
		t.Fatalf("snapshot %s: %v", dbs[0], err)
	}
	for _, c := range l.hookCalls() {
		if strings.HasPrefix(c, "install ") && strings.HasSuffix(c, " "+to) {
			continue
		}
		if strings.HasPrefix(c, "install ") && !strings.HasSuffix(c, " "+from) {
			t.Errorf("hook call %q: a version neither %s nor %s", c, from, to)
		}
	}
}
