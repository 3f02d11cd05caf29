package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The auth bootstrap (issue 16) on a real TLS cluster: the generated
// /usr/local/sbin/etcd-auth, run as its host would run it, leaves every
// client cert of the bundle with exactly what it needs, and the members sign
// their tokens with the bundle's key pair (no simple-token warning).
func TestAuthBootstrap(t *testing.T) {
	etcdutlBin(t)
	dir := t.TempDir()
	backups := filepath.Join(dir, "backups")
	c := newClusterIn(t, dir, spec{Members: []string{"alpha", "bravo", "charlie"}, Port: 22400, TLS: true, Extra: fmt.Sprintf(
		"host: binary: %q\nauth: enabled: true\ntuning: autoCompaction: {mode: \"periodic\", retention: \"5m\"}\nbackup: {enabled: true, dir: %q}\nmonitoring: textfileDir: %q\n%s",
		etcdBin, backups, filepath.Join(dir, "none"), apiserverSpec(dir))})
	c.startAll()
	c.waitHealthy(startTimeout, c.members...)
	c.mustCtl(c.endpoints(), "put", "/registry/seed", "before-auth")
	c.mustCtl(c.endpoints(), "put", "/elsewhere", "before-auth")

	bravo := c.members[1]
	out, rc := bravo.job("etcd-auth")
	t.Logf("etcd-auth, first run (exit %d):\n%s", rc, out)
	if rc != 0 {
		t.Fatalf("etcd-auth: exit %d", rc)
	}
	for _, want := range []string{"created user root", "created user kube-apiserver-etcd-client", "created user kube-etcd-healthcheck-client", "enabled auth"} {
		if !strings.Contains(out, want) {
			t.Errorf("first run: no %q in its output", want)
		}
	}
	status := c.mustCtl(c.endpoints(), "auth", "status")
	if !strings.Contains(status, "Authentication Status: true") {
		t.Fatalf("auth status after etcd-auth:\n%s", status)
	}

	// A rerun, from another member, changes nothing: same auth revision.
	out, rc = c.members[2].job("etcd-auth")
	t.Logf("etcd-auth, second run (exit %d):\n%s", rc, out)
	if rc != 0 || !strings.Contains(out, "nothing changed") || strings.Contains(out, "created") || strings.Contains(out, "granted") {
		t.Errorf("rerun: exit %d, want 0 and \"nothing changed\" with nothing created or granted:\n%s", rc, out)
	}
	if again := c.mustCtl(c.endpoints(), "auth", "status"); again != status {
		t.Errorf("the rerun changed the auth revision:\nbefore: %s\nafter:  %s", status, again)
	}

	// as runs etcdctl with a client cert of the bundle, against eps (default
	// every member).
	as := func(cert string, eps ...*member) func(args ...string) (string, error) {
		return func(args ...string) (string, error) {
			base := []string{"--endpoints=" + strings.Join(c.endpoints(eps...), ","), "--dial-timeout=2s", "--command-timeout=5s",
				"--cacert=" + filepath.Join(c.pki, "ca.crt"), "--cert=" + cert + ".crt", "--key=" + cert + ".key"}
			return runCtl(append(base, args...)...)
		}
	}
	ok := func(who string, f func(...string) (string, error), args ...string) string {
		t.Helper()
		out, err := f(args...)
		if err != nil {
			t.Errorf("%s: %v", who, err)
		}
		return out
	}
	denied := regexp.MustCompile(`permission denied|user name not found|user name is empty`)
	refused := func(who string, f func(...string) (string, error), args ...string) {
		t.Helper()
		out, err := f(args...)
		if err == nil {
			t.Errorf("%s: etcdctl %s succeeded, want it refused:\n%s", who, strings.Join(args, " "), out)
		} else if !denied.MatchString(err.Error()) {
			t.Errorf("%s: etcdctl %s: %v; want a permission error", who, strings.Join(args, " "), err)
		} else {
			t.Logf("%s: etcdctl %s refused: %s", who, strings.Join(args, " "), denied.FindString(err.Error()))
		}
	}

	// kube-apiserver: read-write under its prefix and on compact_rev_key,
	// nothing outside.
	api := as(filepath.Join(c.pki, "clients/apiserver-etcd-client"))
	ok("apiserver", api, "put", "/registry/pods/default/p1", "v1")
	if got := ok("apiserver", api, "get", "/registry/", "--prefix", "--keys-only"); !strings.Contains(got, "/registry/seed") || !strings.Contains(got, "/registry/pods/default/p1") {
		t.Errorf("apiserver: get /registry/ --prefix: %q", got)
	}
	ok("apiserver", api, "del", "/registry/pods/default/p1")
	refused("apiserver", api, "get", "/elsewhere")
	refused("apiserver", api, "put", "/elsewhere", "x")
	refused("apiserver", api, "put", "/registry", "x") // the prefix is /registry/, not /registry
	refused("apiserver", api, "get", "", "--prefix")
	refused("apiserver", as(filepath.Join(c.pki, "clients/apiserver-etcd-client"), c.members[0]), "snapshot", "save", filepath.Join(dir, "api.db"))
	refused("apiserver", api, "user", "list")

	// kube-apiserver's compactor cannot run as its user: under auth etcd's
	// Compact RPC needs the root role. The apiserver target turns it off
	// (--etcd-compaction-interval=0) and etcd compacts itself; the watch
	// cache still reads compact_rev_key.
	ok("apiserver", api, "get", "compact_rev_key")
	refused("apiserver", api, "put", "compact_rev_key", "1")
	st := ok("admin", as(filepath.Join(c.pki, "clients/admin"), c.members[0]), "endpoint", "status", "-w", "fields")
	if m := regexp.MustCompile(`"Revision" : ([0-9]+)`).FindStringSubmatch(st); m == nil {
		t.Errorf("no revision in endpoint status:\n%s", st)
	} else {
		refused("apiserver", api, "compaction", m[1])
	}

	// kube-apiserver's own etcd health and readiness checks (k8s.io/apiserver
	// storagebackend/factory), configured by parsing the apiserver target's
	// flags with its flag set, pass with auth on: the check reads
	// <prefix>/health as the apiserver's user. Control: the same checks as
	// the healthcheck user (no read under /registry/) fail.
	eo := apiserverOptions(t, c)
	if eo.StorageConfig.CompactionInterval != 0 {
		t.Errorf("kube-apiserver's compaction interval is %v with auth on; want 0 (--etcd-compaction-interval=0)", eo.StorageConfig.CompactionInterval)
	}
	apiserverHealthy(t, eo.StorageConfig)
	t.Logf("kube-apiserver etcd health and readiness checks pass with auth enabled")
	// And the real kube-apiserver with those flags (on the release
	// Kubernetes 1.37 runs: the default version's pass): it starts, writes
	// its bootstrap objects and reports ready as its etcd user.
	if vs, _ := testedEtcdVersions(); len(vs) > 0 && etcdVersion == vs[0] {
		start := time.Now()
		ready, err := realAPIServerReady(t, 22440, c.pki, apiserverFlags(c))
		if err != nil {
			t.Fatalf("kube-apiserver with auth on: %v", err)
		}
		for _, check := range []string{"[+]etcd ok", "[+]etcd-readiness ok"} {
			if !strings.Contains(ready, check) {
				t.Errorf("kube-apiserver /readyz?verbose has no %q:\n%s", check, ready)
			}
		}
		t.Logf("kube-apiserver ready with auth on after %v", time.Since(start).Round(time.Millisecond))
	}
	narrow := eo.StorageConfig
	narrow.Transport.CertFile = filepath.Join(c.pki, "clients/healthcheck-client.crt")
	narrow.Transport.KeyFile = filepath.Join(c.pki, "clients/healthcheck-client.key")
	narrow.HealthcheckTimeout, narrow.ReadycheckTimeout = time.Second, time.Second
	if err := healthCheck(t, narrow, 3*time.Second); err == nil {
		t.Errorf("kube-apiserver's health check passed as kube-etcd-healthcheck-client; want permission denied on /registry/health")
	} else {
		t.Logf("as the healthcheck user: %v", err)
	}

	// The health check: endpoint health passes, it writes nothing.
	hc := as(filepath.Join(c.pki, "clients/healthcheck-client"))
	ok("healthcheck", hc, "endpoint", "health")
	ok("healthcheck", hc, "get", "health")
	refused("healthcheck", hc, "put", "health", "x")
	refused("healthcheck", hc, "put", "/registry/x", "x")
	refused("healthcheck", hc, "get", "/registry/seed")
	refused("healthcheck", hc, "defrag")

	// The admin (root): everything, maintenance included; the snapshot job
	// (it uses this cert) still saves and verifies a snapshot.
	admin := as(filepath.Join(c.pki, "clients/admin"))
	ok("admin", admin, "put", "/elsewhere", "after-auth")
	ok("admin", admin, "get", "", "--prefix", "--keys-only")
	ok("admin", admin, "user", "list")
	ok("admin", admin, "defrag")
	if out, rc := c.members[0].job("etcd-snapshot"); rc != 0 {
		t.Errorf("etcd-snapshot under auth: exit %d\n%s", rc, out)
	}

	// A CN with no user: alpha's server cert has client auth, CN "alpha".
	stranger := as(filepath.Join(c.pki, "alpha/server"))
	refused("unknown CN", stranger, "get", "/registry/seed")
	refused("unknown CN", stranger, "put", "/registry/x", "x")

	// Signed tokens: no member logged the simple-token warning; each loaded
	// the jwt provider.
	for _, m := range c.members {
		log, err := os.ReadFile(m.log)
		must(t, err)
		if strings.Contains(string(log), "simple token is not cryptographically signed") {
			t.Errorf("%s logged the simple-token warning: ETCD_AUTH_TOKEN was not used", m.name)
		}
		if !usedEnv(m.log)["ETCD_AUTH_TOKEN"] {
			t.Errorf("%s did not log ETCD_AUTH_TOKEN as used", m.name)
		}
	}
}

// A plan with auth.enabled bootstraps the cluster, then its enable-auth step
// runs the shared etcd-auth script through plan.sh (plan.sh's etcdctl from
// PATH, its admin client from the bundle); a rerun of the plan does nothing.
func TestPlanEnableAuth(t *testing.T) {
	l := newPlanLab(t, 22500)
	idx := map[string]int{"m1": 0, "m2": 1, "m3": 2}
	spec := l.spec([]string{"m1", "m2", "m3"}, idx, nil)
	f, err := os.OpenFile(spec, os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	_, err = f.WriteString("auth: enabled: true\ntuning: autoCompaction: {mode: \"periodic\", retention: \"5m\"}\n")
	must(t, err)
	must(t, f.Close())
	l.etcdgen("certs", "--out", l.pki, spec) // adds the auth token pair
	p := l.plan("plan-auth", "-f", spec)
	out := l.run(p)
	if !strings.Contains(out, "==> 02-enable-auth") || !strings.Contains(out, "etcd-auth: enabled auth") {
		t.Fatalf("plan.sh output: want the enable-auth step to enable auth:\n%s", out)
	}
	eps := l.urls("m1", "m2", "m3")
	st, err := l.ctl(eps, "auth", "status")
	must(t, err)
	if !strings.Contains(st, "Authentication Status: true") {
		t.Fatalf("auth status after the plan:\n%s", st)
	}
	if out := l.run(p); !strings.Contains(out, "nothing changed") || strings.Contains(out, "etcd-auth: created") {
		t.Errorf("second plan.sh run: want etcd-auth to change nothing:\n%s", out)
	}
	hc := []string{"--endpoints=" + strings.Join(eps, ","), "--dial-timeout=2s", "--command-timeout=5s",
		"--cacert=" + filepath.Join(l.pki, "ca.crt"),
		"--cert=" + filepath.Join(l.pki, "clients/healthcheck-client.crt"), "--key=" + filepath.Join(l.pki, "clients/healthcheck-client.key")}
	if _, err := runCtl(append(hc, "endpoint", "health")...); err != nil {
		t.Errorf("healthcheck client: endpoint health: %v", err)
	}
	if _, err := runCtl(append(hc, "put", "health", "x")...); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("healthcheck client: put: %v, want permission denied", err)
	}
	for _, n := range []string{"m1", "m2", "m3"} {
		log, err := os.ReadFile(filepath.Join(l.hosts, n, "etcd.log"))
		must(t, err)
		if strings.Contains(string(log), "simple token is not cryptographically signed") {
			t.Errorf("%s logged the simple-token warning", n)
		}
	}
}
