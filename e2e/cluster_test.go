package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// Every tuning knob the spec has, so that every ETCD_* variable etcdgen can
// write for 3.6 reaches a real etcd at least once.
const allTuning = `tuning: {
	initialCorruptCheck: true
	watchProgressNotifyInterval: "5s"
	quotaBackendBytes: 104857600
	snapshotCount: 5000
	autoCompaction: {mode: "periodic", retention: "1h"}
}
`

const startTimeout = 30 * time.Second

// Scenario 1: 3 members, TLS with client and peer cert auth, started only
// from the generated env files and the bundle.
func TestTLSCluster(t *testing.T) {
	c := newCluster(t, spec{Members: []string{"alpha", "bravo", "charlie"}, Port: 21100, TLS: true, Extra: allTuning})
	c.startAll()
	c.waitHealthy(startTimeout, c.members...)

	// Health of the whole cluster, as its members advertise it.
	out := c.mustCtl(c.endpoints(c.members[0]), "endpoint", "health", "--cluster")
	if n := strings.Count(out, "is healthy"); n != 3 {
		t.Fatalf("endpoint health --cluster: %d healthy, want 3:\n%s", n, out)
	}
	// Three started members with the spec's names and URLs.
	ms := c.memberList(c.members[1].client)
	var names []string
	for _, mi := range ms {
		names = append(names, mi.Name)
		m := c.byName(mi.Name)
		if m == nil || mi.IsLearner || len(mi.ClientURLs) != 1 || mi.ClientURLs[0] != m.client {
			t.Errorf("member %+v: want a started voting member with client URL of the spec", mi)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"alpha", "bravo", "charlie"}) {
		t.Fatalf("member list names %v", names)
	}
	// Put on one member, get on each other one (a local, serializable read).
	c.mustCtl(c.endpoints(c.members[0]), "put", "/e2e/k1", "v1")
	for _, m := range c.members[1:] {
		c.waitValue(m, "/e2e/k1", "v1")
	}
	// The metrics listener serves /health over plain HTTP.
	for _, m := range c.members {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(m.metrics + "/health")
		if err != nil {
			t.Fatalf("%s metrics: %v", m.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s/health: %s", m.name, m.metrics, resp.Status)
		}
	}
	// Every variable of the env file was recognized and used by etcd.
	c.checkEnvUsed()
}

// Scenario 2: the leader is killed by PID; the other two accept writes; the
// leader restarts from the same env file and catches up.
func TestLeaderFailure(t *testing.T) {
	c := newCluster(t, spec{Members: []string{"etcd1", "etcd2", "etcd3"}, Port: 21200, TLS: true})
	c.startAll()
	c.waitHealthy(startTimeout, c.members...)
	c.mustCtl(c.endpoints(), "put", "/e2e/before", "1")

	l := c.leader(c.members...)
	l.kill()
	rest := c.others(l)
	// A new leader among the two, then writes through each of them.
	c.leader(rest...)
	for i, m := range rest {
		key := fmt.Sprintf("/e2e/while-down-%d", i)
		eventually(t, 15*time.Second, "put on "+m.name, func() error {
			_, err := c.ctl([]string{m.client}, "put", key, "x")
			return err
		})
	}
	// Restart from the same, unchanged env file: the data dir is there, so
	// the bootstrap variables are not read again.
	l.start()
	c.waitHealthy(startTimeout, l)
	for i := range rest {
		c.waitValue(l, fmt.Sprintf("/e2e/while-down-%d", i), "x")
	}
	if ms := c.memberList(l.client); len(ms) != 3 {
		t.Fatalf("member list after rejoin: %+v", ms)
	}
}

// Scenario 4: 5 members tolerate two failures, not three (quorum 3).
func TestQuorumFiveMembers(t *testing.T) {
	c := newCluster(t, spec{Members: []string{"m1", "m2", "m3", "m4", "m5"}, Port: 21400, TLS: true})
	c.startAll()
	c.waitHealthy(startTimeout, c.members...)
	c.members[0].kill()
	c.members[1].kill()
	alive := c.members[2:]
	eventually(t, 20*time.Second, "put with 3 of 5", func() error {
		_, err := c.ctl(c.endpoints(alive...), "put", "/e2e/q", "3-of-5")
		return err
	})
	c.waitValue(alive[2], "/e2e/q", "3-of-5")

	c.members[2].kill()
	alive = c.members[3:]
	// Quorum lost: a write fails, and fails within a bounded time.
	start := time.Now()
	out, err := c.ctl(c.endpoints(alive...), "--command-timeout=3s", "put", "/e2e/q", "2-of-5")
	took := time.Since(start)
	if err == nil {
		t.Fatalf("put with 2 of 5 members succeeded: %s", out)
	}
	if took > 10*time.Second {
		t.Fatalf("put with 2 of 5 failed only after %v", took)
	}
	t.Logf("put with 2 of 5 failed after %v: %v", took.Round(time.Millisecond), err)
}

// Scenario 5: TLS off, the plain-HTTP cluster forms.
func TestPlainHTTPCluster(t *testing.T) {
	c := newCluster(t, spec{Members: []string{"etcd1", "etcd2", "etcd3"}, Port: 21500, TLS: false})
	for _, m := range c.members {
		if !strings.HasPrefix(m.client, "http://") {
			t.Fatal(m.client)
		}
	}
	c.startAll()
	c.waitHealthy(startTimeout, c.members...)
	out := c.mustCtl(c.endpoints(c.members[0]), "endpoint", "health", "--cluster")
	if n := strings.Count(out, "is healthy"); n != 3 {
		t.Fatalf("endpoint health --cluster: %d healthy, want 3:\n%s", n, out)
	}
	c.mustCtl(c.endpoints(c.members[2]), "put", "/e2e/plain", "yes")
	for _, m := range c.members[:2] {
		c.waitValue(m, "/e2e/plain", "yes")
	}
	c.checkEnvUsed()
}

func (c *cluster) byName(name string) *member {
	for _, m := range c.members {
		if m.name == name {
			return m
		}
	}
	return nil
}

func (c *cluster) others(x *member) []*member {
	var r []*member
	for _, m := range c.members {
		if m != x {
			r = append(r, m)
		}
	}
	return r
}

// waitValue waits until m itself (serializable read, no quorum round trip)
// holds key=want.
func (c *cluster) waitValue(m *member, key, want string) {
	c.t.Helper()
	eventually(c.t, 15*time.Second, fmt.Sprintf("%s on %s", key, m.name), func() error {
		out, err := c.ctl([]string{m.client}, "get", "--consistency=s", "--print-value-only", key)
		if err != nil {
			return err
		}
		if got := strings.TrimSpace(out); got != want {
			return fmt.Errorf("got %q, want %q", got, want)
		}
		return nil
	})
}

// checkEnvUsed: etcd logged every ETCD_* variable of each env file as
// recognized and used.
func (c *cluster) checkEnvUsed() {
	c.t.Helper()
	for _, m := range c.members {
		vars, err := readEnvFile(m.envFile)
		must(c.t, err)
		used := usedEnv(m.log)
		for _, v := range vars {
			if !used[v.Key] {
				c.t.Errorf("%s: etcd did not use %s=%s from the env file", m.name, v.Key, v.Value)
			}
		}
	}
}
