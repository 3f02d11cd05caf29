package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// live runs etcdgen plan --live ... with etcdctl on PATH and returns its
// stdout and exit code.
func (l *planLab) live(args ...string) (string, int) {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, etcdgenBin, append([]string{"plan", "--live", "--certs", l.pki}, args...)...)
	cmd.Dir = l.dir
	cmd.Env = []string{"PATH=" + filepath.Dir(etcdctlBin) + ":/usr/bin:/bin"}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	l.t.Logf("etcdgen plan --live %s:\n%s%s", strings.Join(args, " "), stdout.String(), stderr.String())
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return stdout.String(), ee.ExitCode()
	}
	must(l.t, err)
	return stdout.String(), 0
}

// startMember starts a member as the test hooks do.
func (l *planLab) startMember(name string) {
	l.t.Helper()
	spawn, err := os.ReadFile(filepath.Join(l.hosts, name, "spawn.json"))
	must(l.t, err)
	cmd := exec.Command(mustExecutable(l.t))
	cmd.Env = []string{spawnEnv + "=" + string(spawn)}
	if out, err := cmd.CombinedOutput(); err != nil {
		l.t.Fatalf("start %s: %v\n%s", name, err, out)
	}
}

// TestPlanLive: plan --live --check is in sync after a bootstrap, then
// reports a member the test stopped and a member the test added with
// etcdctl behind etcdgen's back; plan --live plans from that reality (the
// unknown member removed) and, once plan.sh ran and the stopped member is
// back, --check is in sync again.
func TestPlanLive(t *testing.T) {
	defaultPassOnly(t)
	l := newPlanLab(t, 22540)
	idx := map[string]int{"m1": 0, "m2": 1, "m3": 2, "m4": 3}
	three := []string{"m1", "m2", "m3"}
	s3 := l.spec(three, idx, nil)
	eps := l.urls(three...)
	l.run(l.plan("plan-bootstrap", "-f", s3))

	if out, code := l.live("--check", "-f", s3); code != 0 || !strings.Contains(out, "in sync: cluster e2e-plan has the spec's 3 members, etcd "+etcdVersion) {
		t.Fatalf("--check after the bootstrap: exit %d\n%s", code, out)
	}

	// Behind etcdgen's back: m4 added (as a learner: a voter that never
	// starts would cost the quorum once m3 is down), then m3 stopped.
	l.host("m4", idx["m4"])
	peer4 := fmt.Sprintf("https://%s:%d", l.ips["m4"], l.port+1)
	// etcd refuses a membership change ("unhealthy cluster") until the
	// member has been connected to a quorum for 5 s: retried, bounded,
	// about once a second (not eventually's 200 ms: an etcdctl process a
	// try).
	eventually(t, 30*time.Second, "member add m4", func() error {
		_, err := l.ctl(eps[:2], "member", "add", "m4", "--learner", "--peer-urls="+peer4)
		if err != nil {
			time.Sleep(800 * time.Millisecond)
		}
		return err
	})
	pid, err := os.ReadFile(filepath.Join(l.hosts, "m3", "pid"))
	must(t, err)
	l.stopPID(strings.TrimSpace(string(pid)))
	out, code := l.live("--check", "-f", s3)
	if code != 1 {
		t.Fatalf("--check with m3 stopped and m4 added: exit %d, want 1", code)
	}
	for _, want := range []string{
		"m3: no answer at " + l.clientURL["m3"],
		"(not started) (" + peer4 + "): in the cluster, not in the spec",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("--check does not report %q:\n%s", want, out)
		}
	}
	if n := strings.Count(strings.TrimSpace(out), "\n") + 1; n != 2 {
		t.Errorf("--check: %d differences, want 2:\n%s", n, out)
	}

	// Plan from reality: m4 is in the cluster and not in the spec.
	l.startMember("m3")
	p := l.dir + "/plan-live"
	if out, code := l.live("-f", s3, "--out", p); code != 0 || !strings.Contains(out, "remove-unstarted-") {
		t.Fatalf("plan --live: exit %d\n%s", code, out)
	}
	l.run(p)
	eventually(t, 30*time.Second, "in sync", func() error {
		if out, code := l.live("--check", "-f", s3); code != 0 {
			return fmt.Errorf("--check exit %d:\n%s", code, out)
		}
		return nil
	})
}

// TestPlanCerts: certificates re-issued by etcdgen certs (same CA) are
// reported by --live --check, planned by --live (a step per member) and
// installed by plan.sh without a restart: every member then serves the
// bundle's serial with the same PID; a rerun does nothing.
func TestPlanCerts(t *testing.T) {
	defaultPassOnly(t)
	l := newPlanLab(t, 22640)
	idx := map[string]int{"m1": 0, "m2": 1, "m3": 2}
	three := []string{"m1", "m2", "m3"}
	s3 := l.spec(three, idx, nil)
	eps := l.urls(three...)
	l.run(l.plan("plan-bootstrap", "-f", s3))
	pids := map[string]string{}
	for _, n := range three {
		b, err := os.ReadFile(filepath.Join(l.hosts, n, "pid"))
		must(t, err)
		pids[n] = strings.TrimSpace(string(b))
	}

	// Re-issue every member's server and peer certificate: etcdgen certs
	// makes the missing ones again with the same CA.
	for _, n := range three {
		for _, f := range []string{"server.crt", "server.key", "peer.crt", "peer.key"} {
			must(t, os.Remove(filepath.Join(l.pki, n, f)))
		}
	}
	l.etcdgen("certs", "--out", l.pki, s3)
	out, code := l.live("--check", "-f", s3)
	if code != 1 || strings.Count(out, "(re-issued, not installed yet)") != 3 {
		t.Fatalf("--check after the re-issue: exit %d, want 1 and a line per member\n%s", code, out)
	}
	p := l.dir + "/plan-certs"
	if out, code := l.live("-f", s3, "--out", p); code != 0 || !strings.Contains(out, "01-certs-m1") || !strings.Contains(out, "03-certs-m3") {
		t.Fatalf("plan --live: exit %d\n%s", code, out)
	}
	out = l.run(p)
	if strings.Count(out, "serves certificate") != 3 {
		t.Fatalf("plan.sh:\n%s", out)
	}
	for _, n := range three {
		b, err := os.ReadFile(filepath.Join(l.hosts, n, "pid"))
		must(t, err)
		if strings.TrimSpace(string(b)) != pids[n] {
			t.Errorf("%s restarted (pid %s -> %s): re-issued certificates need no restart", n, pids[n], b)
		}
	}
	hooks := len(l.hookCalls())
	if out := l.run(p); strings.Count(out, "done already") != 3 || len(l.hookCalls()) != hooks {
		t.Fatalf("a second run: want every step done already and no hook:\n%s", out)
	}
	if out, code := l.live("--check", "-f", s3); code != 0 {
		t.Fatalf("--check after the plan: exit %d\n%s", code, out)
	}
	if _, err := l.ctl(eps, "put", "/after-certs", "ok"); err != nil {
		t.Fatal(err)
	}
}
