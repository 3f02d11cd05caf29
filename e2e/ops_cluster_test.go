package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The snapshot and defrag jobs on a real cluster (issue 16): each script is
// run as its unit runs it, as root in the member's mount namespace (the
// member's TLS dir at the spec's tls.dir), with systemd's default PATH and
// nothing else in the environment.

// etcdutlBin is next to etcd (bin/etcdutl, or bin/etcd-v<version>/etcdutl
// once the builds move there): the spec's host.binary names etcd, and the
// scripts find etcdctl and etcdutl beside it, as in etcd's release tarballs.
func etcdutlBin(t *testing.T) string {
	t.Helper()
	p := filepath.Join(filepath.Dir(etcdBin), "etcdutl")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("etcdutl: %v (make -C e2e bin builds it)", err)
	}
	return p
}

// opsCluster is a TLS cluster whose spec names the built etcd as
// host.binary and turns backup and defrag on with dirs under the test dir.
func opsCluster(t *testing.T, port int, members []string, extra string) (*cluster, string, string) {
	etcdutlBin(t)
	dir := t.TempDir()
	backups, textfile := filepath.Join(dir, "backups"), filepath.Join(dir, "textfile")
	must(t, os.MkdirAll(textfile, 0o755))
	c := newClusterIn(t, dir, spec{Members: members, Port: port, TLS: true, Extra: fmt.Sprintf(
		"host: binary: %q\nbackup: {enabled: true, dir: %q, keep: 2}\nmonitoring: textfileDir: %q\n%s",
		etcdBin, backups, textfile, extra)})
	return c, backups, textfile
}

// job runs the member's script (usr/local/sbin/NAME of its tree) the way
// its oneshot unit would, bounded; it returns the output and exit status.
func (m *member) job(name string) (string, int) {
	t := m.c.t
	t.Helper()
	env := filepath.Join(t.TempDir(), "job.env")
	must(t, os.WriteFile(env, []byte("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"), 0o644))
	h := helperSpec{EnvFile: env, Argv: []string{"/bin/sh", filepath.Join(m.tree, "usr/local/sbin", name)}}
	h.Binds = append(h.Binds, [2]string{m.tlsSrc, m.c.tlsDir})
	raw, err := json.Marshal(h)
	must(t, err)
	self, err := os.Executable()
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = []string{helperEnv + "=" + string(raw)}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own process group, killed whole on timeout: an etcdctl left
	// behind would hold the output pipe open.
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL, Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode()
	default:
		t.Fatalf("%s %s: %v\n%s", m.name, name, err, out.String())
		return "", -1
	}
}

var snapName = regexp.MustCompile(`^e2e-[a-z0-9-]+-alpha-[0-9]{8}T[0-9]{6}Z\.db$`)

// The snapshot job saves a snapshot etcdutl accepts, under a name that
// sorts by time, keeps the newest, reports failure by exit status and
// metric, and a fresh member restored from the snapshot has the data.
func TestSnapshotJobRestore(t *testing.T) {
	c, backups, textfile := opsCluster(t, 22100, []string{"alpha", "bravo", "charlie"}, "")
	c.startAll()
	c.waitHealthy(startTimeout, c.members...)
	for i := range 50 {
		c.mustCtl(c.endpoints(c.members[1]), "put", fmt.Sprintf("/registry/k%02d", i), fmt.Sprintf("v%02d", i))
	}
	alpha := c.members[0]

	var saved []string
	for i := range 3 {
		if i > 0 {
			time.Sleep(1100 * time.Millisecond) // names have a one-second resolution
		}
		out, rc := alpha.job("etcd-snapshot")
		if rc != 0 {
			t.Fatalf("etcd-snapshot: exit %d\n%s", rc, out)
		}
		t.Logf("etcd-snapshot run %d:\n%s", i+1, out)
		ents, err := os.ReadDir(backups)
		must(t, err)
		saved = saved[:0]
		for _, e := range ents {
			if !snapName.MatchString(e.Name()) {
				t.Fatalf("%s in the backup dir: want only <cluster>-<member>-<UTC time>.db (no temporary file left)", e.Name())
			}
			saved = append(saved, e.Name())
		}
	}
	// keep: 2 of 3 runs.
	if len(saved) != 2 {
		t.Fatalf("backup dir holds %v, want the newest 2", saved)
	}
	latest := filepath.Join(backups, saved[len(saved)-1])
	status := runTool(t, backups, etcdutlBin(t), "snapshot", "status", "-w", "json", latest)
	var st struct {
		TotalKey int `json:"totalKey"`
	}
	must(t, json.Unmarshal([]byte(status), &st))
	if st.TotalKey < 50 {
		t.Errorf("etcdutl snapshot status: %d keys, want at least 50: %s", st.TotalKey, status)
	}
	prom := filepath.Join(textfile, "etcd-snapshot-"+c.members[0].c.name()+"-alpha.prom")
	metrics := string(read(t, prom))
	if !strings.Contains(metrics, `etcdgen_snapshot_last_failed{cluster="`+c.name()+`",member="alpha"} 0`) {
		t.Errorf("%s after a success:\n%s", prom, metrics)
	}

	// A failure: alpha's member is down. Non-zero exit, the metric says so,
	// the last success time is kept, no partial file is left.
	alpha.kill()
	out, rc := alpha.job("etcd-snapshot")
	if rc == 0 || !strings.Contains(out, "etcd-snapshot: FAILED") {
		t.Fatalf("etcd-snapshot with its member down: exit %d, want non-zero and a FAILED line:\n%s", rc, out)
	}
	failed := string(read(t, prom))
	if !strings.Contains(failed, `etcdgen_snapshot_last_failed{cluster="`+c.name()+`",member="alpha"} 1`) {
		t.Errorf("%s after a failure:\n%s", prom, failed)
	}
	success := regexp.MustCompile(`etcdgen_snapshot_last_success_timestamp_seconds\{[^}]*\} ([0-9]+)`)
	if a, b := success.FindStringSubmatch(metrics), success.FindStringSubmatch(failed); a == nil || b == nil || a[1] != b[1] || a[1] == "0" {
		t.Errorf("last success time before and after the failure: %v, %v; want the same, non-zero", a, b)
	}
	if ents, _ := os.ReadDir(backups); len(ents) != 2 {
		t.Errorf("backup dir after a failure holds %d files, want the 2 snapshots", len(ents))
	}
	for _, m := range c.members[1:] {
		m.kill()
	}

	// Restore into a fresh one-member cluster (etcd's recovery guide:
	// etcdutl snapshot restore, then start etcd on the restored dir).
	r := newClusterIn(t, t.TempDir(), spec{Members: []string{"restored"}, Port: 22110, TLS: true})
	solo := r.members[0]
	must(t, os.RemoveAll(solo.data))
	runTool(t, r.dir, etcdutlBin(t), "snapshot", "restore", latest,
		"--data-dir", solo.data, "--name", "restored",
		"--initial-cluster", "restored="+strings.Replace(solo.client, fmt.Sprint(22110), fmt.Sprint(22111), 1),
		"--initial-advertise-peer-urls", strings.Replace(solo.client, fmt.Sprint(22110), fmt.Sprint(22111), 1),
		"--initial-cluster-token", r.name())
	solo.start()
	r.waitHealthy(startTimeout, solo)
	for i := range 50 {
		got := strings.TrimSpace(r.mustCtl(r.endpoints(solo), "get", "--print-value-only", fmt.Sprintf("/registry/k%02d", i)))
		if want := fmt.Sprintf("v%02d", i); got != want {
			t.Fatalf("restored /registry/k%02d = %q, want %q", i, got, want)
		}
	}
}

// name is the cluster's name in its spec (see newClusterIn).
func (c *cluster) name() string {
	return "e2e-" + strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(c.t.Name()))
}

type dbStatus struct{ Size, InUse int64 }

func (c *cluster) dbStatus(m *member) dbStatus {
	c.t.Helper()
	var st []struct {
		Status struct {
			DBSize      int64 `json:"dbSize"`
			DBSizeInUse int64 `json:"dbSizeInUse"`
		}
	}
	must(c.t, json.Unmarshal([]byte(c.mustCtl(c.endpoints(m), "endpoint", "status", "-w", "json")), &st))
	return dbStatus{st[0].Status.DBSize, st[0].Status.DBSizeInUse}
}

// The defrag job shrinks a member's database that was filled and emptied,
// skips a member below the threshold, refuses while a member is down, and
// clears a NOSPACE alarm (compact, defrag of every member, disarm) so
// writes work again.
func TestDefragJob(t *testing.T) {
	const quota = 16 << 20
	c, _, _ := opsCluster(t, 22200, []string{"alpha", "bravo", "charlie"},
		fmt.Sprintf("defrag: {enabled: true, freePercent: 30, minFreeBytes: 1048576}\ntuning: quotaBackendBytes: %d\n", quota))
	c.startAll()
	c.waitHealthy(startTimeout, c.members...)
	alpha, bravo := c.members[0], c.members[1]
	value := strings.Repeat("x", 20000)
	must(t, c.putMany(bravo, 200, func(i int) string { return fmt.Sprintf("/fill/%03d", i) }, value))
	c.mustCtl(c.endpoints(bravo), "del", "--prefix", "/fill/")
	var rev struct {
		Header struct {
			Revision int64 `json:"revision"`
		} `json:"header"`
	}
	must(t, json.Unmarshal([]byte(c.mustCtl(c.endpoints(bravo), "get", "/nothing", "-w", "json")), &rev))
	c.mustCtl(c.endpoints(bravo), "compact", "--physical", fmt.Sprint(rev.Header.Revision))

	// bbolt returns the compacted pages to its freelist on a later commit:
	// write until the member reports them free.
	var before dbStatus
	eventually(t, 20*time.Second, "compacted pages free on alpha", func() error {
		c.mustCtl(c.endpoints(bravo), "put", "/tick", "x")
		if before = c.dbStatus(alpha); before.InUse > before.Size/2 {
			return fmt.Errorf("dbSize %d, in use %d", before.Size, before.InUse)
		}
		return nil
	})
	out, rc := alpha.job("etcd-defrag")
	after := c.dbStatus(alpha)
	t.Logf("alpha dbSize %d (in use %d) -> %d (in use %d)\n%s", before.Size, before.InUse, after.Size, after.InUse, out)
	if rc != 0 || !strings.Contains(out, "defragmented") || after.Size >= before.Size/2 {
		t.Fatalf("etcd-defrag on a filled and emptied member: exit %d, dbSize %d -> %d; want it at least halved:\n%s", rc, before.Size, after.Size, out)
	}
	// Only the local member: bravo's file is as big as before.
	if b := c.dbStatus(bravo); b.Size < before.Size/2 {
		t.Errorf("bravo dbSize %d after alpha's defrag: want it untouched (about %d)", b.Size, before.Size)
	}
	// Below the threshold now: skipped, the database untouched.
	out, rc = alpha.job("etcd-defrag")
	if rc != 0 || !strings.Contains(out, "skipped") || strings.Contains(out, "defragmented") {
		t.Fatalf("etcd-defrag below the threshold: exit %d, want 0 and skipped:\n%s", rc, out)
	}
	t.Logf("second run: %s", strings.TrimSpace(out))

	// A member down: no defragmentation anywhere else.
	charlie := c.members[2]
	charlie.kill()
	before = c.dbStatus(bravo)
	out, rc = bravo.job("etcd-defrag")
	if rc != 75 || c.dbStatus(bravo).Size != before.Size {
		t.Fatalf("etcd-defrag with a member down: exit %d, want 75 and nothing done:\n%s", rc, out)
	}
	charlie.start()
	c.waitHealthy(startTimeout, charlie)

	// NOSPACE: rewrite one key until the 16 MiB quota is full.
	big := strings.Repeat("y", 100000)
	err := c.putMany(bravo, 400, func(int) string { return "/hot" }, big)
	full := err != nil && strings.Contains(err.Error(), "database space exceeded")
	if err != nil && !full {
		t.Fatal(err)
	}
	if !full || !strings.Contains(c.mustCtl(c.endpoints(bravo), "alarm", "list"), "NOSPACE") {
		t.Fatal("no NOSPACE alarm after writing 40 MB into a 16 MiB quota")
	}
	// The first member's timer clears it for the whole cluster: each
	// member checks every write against its own file's size, so a disarm
	// while another member's file is still above the quota is undone by
	// the next write (through that member, or any write it applies).
	out, rc = alpha.job("etcd-defrag")
	t.Logf("alpha: exit %d\n%s", rc, out)
	if rc != 0 || !strings.Contains(out, "NOSPACE alarm disarmed") {
		t.Fatalf("etcd-defrag on alpha with NOSPACE: exit %d, want 0 and the alarm disarmed", rc)
	}
	for _, m := range c.members {
		if st := c.dbStatus(m); st.Size >= quota/2 {
			t.Errorf("%s: dbSize %d after the NOSPACE defrag; want every member's under half the %d quota", m.name, st.Size, quota)
		}
	}
	for _, m := range c.members {
		c.mustCtl(c.endpoints(m), "put", "/after-nospace/"+m.name, "ok")
	}
	if a := c.mustCtl(c.endpoints(bravo), "alarm", "list"); strings.TrimSpace(a) != "" {
		t.Fatalf("alarms after the NOSPACE defrag and a write through each member: %s", a)
	}
	// The others' slots come later: nothing is left to clear.
	for _, m := range c.members[1:] {
		if out, rc := m.job("etcd-defrag"); rc != 0 {
			t.Fatalf("etcd-defrag on %s after the NOSPACE recovery: exit %d\n%s", m.name, rc, out)
		}
	}
	c.mustCtl(c.endpoints(bravo), "put", "/after-nospace", "ok")
}

// putMany writes each value under key(i) through one gRPC client, not one
// etcdctl process per put: filling a database takes hundreds of writes,
// and a process each cost most of this file's CPU time.
func (c *cluster) putMany(m *member, n int, key func(int) string, value string) error {
	c.t.Helper()
	cfg := clientv3.Config{Endpoints: c.endpoints(m), DialTimeout: 5 * time.Second}
	if c.tls {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(read(c.t, filepath.Join(c.pki, "ca.crt")))
		pair, err := tls.LoadX509KeyPair(filepath.Join(c.pki, "clients/admin.crt"), filepath.Join(c.pki, "clients/admin.key"))
		must(c.t, err)
		cfg.TLS = &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	cli, err := clientv3.New(cfg)
	must(c.t, err)
	defer cli.Close()
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := cli.Put(ctx, key(i), value)
		cancel()
		if err != nil {
			return fmt.Errorf("put %s: %w", key(i), err)
		}
	}
	return nil
}
