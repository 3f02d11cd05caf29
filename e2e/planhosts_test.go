package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestPlanHosts runs plan.sh as a user would: its default hooks (ssh,
// rsync, systemctl; no ETCDGEN_HOOKS) on five hosts booted by real
// systemd, with ETCDGEN_SSH for the test's key and known_hosts,
// ETCDGEN_SSH_USER=deploy (a user with passwordless sudo; root cannot log
// in: the hooks' sudo -n path, root's is TestPlanHostsAnsible's bootstrap)
// and ETCDGEN_ETCD_DIR=bin (bin/etcd-v<version>/ is the layout the hooks
// ship from). The spec runs etcd as a service user with backups and defrag on,
// so the same hosts prove the operations units under real systemd.
//
//  1. bootstrap etcd1..3 (etcd 3.6.16, TLS); the operations units: a
//     snapshot started by systemctl that etcdutl accepts, the timers listed,
//     the service user owning its directories;
//  2. grow to 5, then back to 3 with the leader moved to etcd5 first (a
//     removed member leads: the plan must move leadership away);
//  3. the rolling upgrade to etcd 3.7.3.
//
// Keys written after each phase are read after every later one. The
// Ansible example of the hooks runs on hosts of its own
// (TestPlanHostsAnsible), in a pass beside this one.
func TestPlanHosts(t *testing.T) {
	requireHostTests(t)
	const from, to = "3.6.16", "3.7.3"
	bins := map[string]map[string]string{from: etcdBinaries(t, from), to: etcdBinaries(t, to)}
	for v, b := range bins {
		if b["etcdutl"] == "" || filepath.Base(filepath.Dir(b["etcd"])) != "etcd-v"+v {
			t.Fatalf("etcd %s: want bin/etcd-v%s/{etcd,etcdctl,etcdutl} (what ETCDGEN_ETCD_DIR ships), got %v", v, v, b)
		}
	}
	etcdDir := filepath.Dir(filepath.Dir(bins[from]["etcd"]))
	names := []string{"etcd1", "etcd2", "etcd3", "etcd4", "etcd5"}
	l := &hostLab{t: t, net: planNetwork, dir: t.TempDir(), etcdDir: etcdDir, bins: bins}
	l.pki = filepath.Join(l.dir, "pki")

	start := time.Now()
	l.hs = bootHosts(t, planNetwork, names, func(h *host) {
		// rsync is what the default install hook runs on both ends; the
		// minbase image has none: this machine's (same Debian release, see
		// hosts/rootfs.sh) with the libraries the image lacks.
		copyTool(h, "/usr/bin/rsync")
	})
	t.Logf("five hosts booted, SSH up: %s", time.Since(start).Round(100*time.Millisecond))
	// The hooks log in as a sudo user; root cannot log in at all.
	l.hs.addSudoUser(t, "deploy")
	l.sshUser = "deploy"
	for _, h := range l.hs.Hosts {
		if out, err := h.exec("test -e /usr/local/bin/etcd"); err == nil {
			t.Fatalf("%s has an etcd before the plan: %s", h.Name, out)
		}
	}

	// 1. Bootstrap three members; the hooks ship etcd 3.6.16.
	s1 := l.spec(names[:3], from)
	l.runPlan("bootstrap", "", s1)
	l.checkMembers(names[:3], from)
	l.put("k1", "bootstrap")
	l.checkOps(l.hs.Hosts[:3])

	// 2. Grow to five, shrink to three with the leader among the removed.
	s2 := l.spec(names, from)
	l.runPlan("grow", s1, s2)
	l.checkMembers(names, from)
	l.get("k1", "bootstrap")
	l.put("k2", "grown")
	l.moveLeader("etcd5")
	s3 := l.spec(names[:3], from)
	l.runPlan("shrink", s2, s3)
	l.checkMembers(names[:3], from)
	for _, h := range l.hs.Hosts[3:] {
		// Removed: stopped, disabled (no return at the next boot), wiped.
		p := h.unitProps("etcd.service", "ActiveState", "UnitFileState")
		if p["ActiveState"] == "active" || p["UnitFileState"] != "disabled" {
			t.Errorf("%s removed, but etcd.service %v; want inactive and disabled", h.Name, p)
		}
		if out, err := h.exec("test ! -e /var/lib/etcd/member"); err != nil {
			t.Errorf("%s removed, but its data dir remains: %v %s", h.Name, err, out)
		}
	}
	l.get("k1", "bootstrap")
	l.get("k2", "grown")

	// 3. Rolling upgrade; the hooks ship etcd 3.7.3.
	s4 := l.spec(names[:3], to)
	l.runPlan("upgrade", s3, s4)
	l.checkMembers(names[:3], to)
	for _, h := range l.hs.Hosts[:3] {
		if got := h.execOK("/usr/local/bin/etcd --version"); !strings.Contains(got, "etcd Version: "+to+"\n") {
			t.Errorf("%s: /usr/local/bin/etcd is not %s after the upgrade:\n%s", h.Name, to, got)
		}
	}
	l.get("k1", "bootstrap")
	l.get("k2", "grown")
	l.put("k3", "upgraded")
	l.get("k3", "upgraded")
}

// TestPlanHostsAnsible runs plan.sh through the Ansible example of the hooks
// (examples/ansible/plan-hooks.sh, each hook a run of plan-hooks.yaml by the
// real ansible-playbook) on four hosts of its own: after a bootstrap of
// etcd1..3 with the default hooks, etcd4 joins through Ansible (stop, wipe,
// install, start: all four hooks). etcd 3.7.3 is placed on the hosts by
// hand, as the
// example playbook expects: shipping 60 MB through Ansible's copy took 4
// minutes here, and TestPlanHosts proves the shipping with the default
// hooks. Its own hosts and pass: inside TestPlanHosts it was the last of
// that test's phases on the suite's longest path.
func TestPlanHostsAnsible(t *testing.T) {
	requireHostTests(t)
	const version = "3.7.3"
	bins := map[string]map[string]string{version: etcdBinaries(t, version)}
	names := []string{"etcd1", "etcd2", "etcd3", "etcd4"}
	// etcdDir: plan.sh's etcdctl and etcdutl (PATH), not shipped (ETCDGEN_ETCD_DIR= below).
	l := &hostLab{t: t, net: ansiblePlanNetwork, dir: t.TempDir(), bins: bins,
		etcdDir: filepath.Dir(filepath.Dir(bins[version]["etcd"]))}
	l.pki = filepath.Join(l.dir, "pki")
	start := time.Now()
	l.hs = bootHosts(t, ansiblePlanNetwork, names, func(h *host) {
		copyTool(h, "/usr/bin/rsync") // the default hooks' bootstrap
		for _, b := range []string{"etcd", "etcdctl", "etcdutl"} {
			h.copyIn(bins[version][b], "usr/local/bin/"+b, 0o755)
		}
	})
	t.Logf("four hosts booted, SSH up: %s", time.Since(start).Round(100*time.Millisecond))
	hooks, err := filepath.Abs("../examples/ansible/plan-hooks.sh")
	must(t, err)
	// A TMPDIR holding JSON, shell and Jinja metacharacters: the install
	// hook's tar is made there and its path reaches the playbook, which
	// must neither break on it nor template it ({{ 7*6 }} would become 42).
	tmp := filepath.Join(l.dir, `tmp "q" 'a' \ $(false) {{ 7*6 }}`)
	must(t, os.Mkdir(tmp, 0o700))
	env := []string{"ETCDGEN_HOOKS=" + hooks, "ETCDGEN_ETCD_DIR=", "TMPDIR=" + tmp, "ANSIBLE_REMOTE_USER=root",
		"ANSIBLE_PRIVATE_KEY_FILE=" + l.hs.Key, "ANSIBLE_HOST_KEY_CHECKING=False", "ANSIBLE_PIPELINING=True",
		"ANSIBLE_SSH_ARGS=" + l.hs.AnsibleSSHArgs(),
		"ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3", "ANSIBLE_NOCOLOR=1", "ANSIBLE_RETRY_FILES_ENABLED=False"}

	s1 := l.spec(names[:3], version)
	l.runPlan("bootstrap", "", s1)
	l.checkMembers(names[:3], version)
	l.put("k1", "bootstrap")
	s2 := l.spec(names, version)
	l.runPlan("ansible-grow", s1, s2, env...)
	l.checkMembers(names, version)
	l.get("k1", "bootstrap")
	for _, h := range l.hs.Hosts {
		p := h.unitProps("etcd-snapshot.timer", "ActiveState", "UnitFileState")
		if p["ActiveState"] != "active" || p["UnitFileState"] != "enabled" {
			t.Errorf("%s: etcd-snapshot.timer %v after the Ansible start hook", h.Name, p)
		}
	}
}

// hostLab holds the specs, plans and admin client of TestPlanHosts.
type hostLab struct {
	t       *testing.T
	net     hostNetwork // the hosts' bridge and /24
	hs      *hostSet
	dir     string
	pki     string
	etcdDir string
	sshUser string // ETCDGEN_SSH_USER of the default hooks ("": root)
	bins    map[string]map[string]string
	version string // what the cluster runs, for etcdctl
	members []string
	n       int
}

// spec writes a spec with these members (etcdN at l.net.Net.(10+N)),
// running as the service user etcd with backups and defrag, and issues
// their certificates into the one CA.
func (l *hostLab) spec(members []string, version string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: \"e2e-hosts\"\nversion: %q\nhost: {user: \"etcd\"}\n", version)
	b.WriteString("backup: {enabled: true}\ndefrag: {enabled: true}\nmembers: [\n")
	for _, n := range members {
		fmt.Fprintf(&b, "\t{name: %q, ip: \"%s.%d\"},\n", n, l.net.Net, 10+int(n[len(n)-1]-'0'))
	}
	b.WriteString("]\n")
	l.n++
	p := filepath.Join(l.dir, fmt.Sprintf("spec%d.cue", l.n))
	must(l.t, os.WriteFile(p, []byte(b.String()), 0o644))
	run(l.t, l.dir, etcdgenBin, "certs", "--out", l.pki, p)
	l.members = members
	return p
}

// runPlan renders the plan from old (none: bootstrap) to spec and runs its
// plan.sh with the default hooks, or those env names (ETCDGEN_HOOKS).
func (l *hostLab) runPlan(name, old, spec string, env ...string) {
	t := l.t
	t.Helper()
	out := filepath.Join(l.dir, "plan-"+name)
	args := []string{"plan", "--certs", l.pki, "--out", out, "-f", spec}
	if old != "" {
		args = append(args, "--from", old)
	}
	run(t, l.dir, etcdgenBin, args...)
	version := l.versionOf(spec)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(out, "plan.sh"))
	cmd.Dir = l.dir
	// etcdctl and etcdutl of the target version on PATH (as the plan's
	// header asks); no ETCDGEN_HOOKS: the default hooks run.
	cmd.Env = []string{
		"PATH=" + filepath.Join(l.etcdDir, "etcd-v"+version) + ":" + os.Getenv("PATH"),
		"HOME=" + l.dir, "LANG=C.UTF-8",
		"ETCDGEN_SSH=" + strings.Join(l.hs.SSHArgs(), " "),
		"ETCDGEN_ETCD_DIR=" + l.etcdDir,
	}
	if l.sshUser != "" {
		cmd.Env = append(cmd.Env, "ETCDGEN_SSH_USER="+l.sshUser)
	}
	cmd.Env = append(cmd.Env, env...)
	start := time.Now()
	outb, err := cmd.CombinedOutput()
	t.Logf("plan.sh %s: %s\n%s", name, time.Since(start).Round(100*time.Millisecond), outb)
	if err != nil {
		for _, h := range l.hs.Hosts {
			j, _ := h.exec("systemctl status etcd --no-pager 2>&1 | head -5; journalctl -u etcd --no-pager -n 15 2>&1")
			t.Logf("%s:\n%s", h.Name, j)
		}
		t.Fatalf("plan.sh %s: %v", name, err)
	}
	if !strings.Contains(string(outb), "plan.sh: done") {
		t.Fatalf("plan.sh %s did not finish", name)
	}
	l.version = version
}

func (l *hostLab) versionOf(spec string) string {
	b, err := os.ReadFile(spec)
	must(l.t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "version: "); ok {
			return strings.Trim(v, `"`)
		}
	}
	l.t.Fatalf("%s: no version", spec)
	return ""
}

// ctl runs the cluster version's etcdctl with the admin client against
// the current members.
func (l *hostLab) ctl(args ...string) (string, error) {
	var eps []string
	for _, n := range l.members {
		eps = append(eps, fmt.Sprintf("https://%s.%d:2379", l.net.Net, 10+int(n[len(n)-1]-'0')))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, l.bins[l.version]["etcdctl"], append([]string{
		"--endpoints=" + strings.Join(eps, ","),
		"--cacert=" + filepath.Join(l.pki, "ca.crt"),
		"--cert=" + filepath.Join(l.pki, "clients/admin.crt"), "--key=" + filepath.Join(l.pki, "clients/admin.key"),
		"--dial-timeout=3s", "--command-timeout=10s"}, args...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (l *hostLab) ctlOK(args ...string) string {
	l.t.Helper()
	out, err := l.ctl(args...)
	if err != nil {
		l.t.Fatalf("etcdctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (l *hostLab) put(k, v string) { l.t.Helper(); l.ctlOK("put", k, v) }

func (l *hostLab) get(k, want string) {
	l.t.Helper()
	if got := l.ctlOK("get", "--print-value-only", k); strings.TrimSpace(got) != want {
		l.t.Errorf("get %s = %q, want %q", k, strings.TrimSpace(got), want)
	}
}

type epStatus struct {
	Endpoint string `json:"Endpoint"`
	Status   struct {
		Header struct {
			MemberID uint64 `json:"member_id"`
		} `json:"header"`
		Version string `json:"version"`
		Leader  uint64 `json:"leader"`
	} `json:"Status"`
}

func (l *hostLab) status() []epStatus {
	l.t.Helper()
	var st []epStatus
	must(l.t, json.Unmarshal([]byte(l.ctlOK("endpoint", "status", "-w", "json")), &st))
	return st
}

// checkMembers: exactly these voting members, each healthy at version.
func (l *hostLab) checkMembers(want []string, version string) {
	t := l.t
	t.Helper()
	var ml struct {
		Members []struct {
			Name      string `json:"name"`
			IsLearner bool   `json:"isLearner"`
		} `json:"members"`
	}
	must(t, json.Unmarshal([]byte(l.ctlOK("member", "list", "-w", "json")), &ml))
	var got []string
	for _, m := range ml.Members {
		if m.IsLearner {
			t.Errorf("%s is still a learner", m.Name)
		}
		got = append(got, m.Name)
	}
	if strings.Join(slices.Sorted(slices.Values(got)), ",") != strings.Join(want, ",") {
		t.Fatalf("members %v, want %v", got, want)
	}
	for _, s := range l.status() {
		if s.Status.Version != version {
			t.Errorf("%s runs etcd %s, want %s", s.Endpoint, s.Status.Version, version)
		}
	}
	if out := l.ctlOK("endpoint", "health"); strings.Count(out, "is healthy") != len(want) {
		t.Errorf("endpoint health: want %d healthy:\n%s", len(want), out)
	}
}

// moveLeader makes the named member the leader (etcdctl move-leader, sent
// to the current leader).
func (l *hostLab) moveLeader(name string) {
	t := l.t
	t.Helper()
	target := fmt.Sprintf("https://%s.%d:2379", l.net.Net, 10+int(name[len(name)-1]-'0'))
	var targetID, leader uint64
	var leaderEP string
	for _, s := range l.status() {
		if s.Endpoint == target {
			targetID = s.Status.Header.MemberID
		}
		leader = s.Status.Leader
	}
	for _, s := range l.status() {
		if s.Status.Header.MemberID == leader {
			leaderEP = s.Endpoint
		}
	}
	if targetID == 0 || leaderEP == "" {
		t.Fatalf("no status for %s or no leader", target)
	}
	if targetID != leader {
		l.ctlOK("--endpoints="+leaderEP, "move-leader", fmt.Sprintf("%x", targetID))
	}
	for _, s := range l.status() {
		if s.Status.Leader != targetID {
			t.Fatalf("%s reports leader %x, want %s (%x)", s.Endpoint, s.Status.Leader, name, targetID)
		}
	}
	t.Logf("leader: %s (%x)", name, targetID)
}

// checkOps proves the operations units on each host under real systemd:
// the service user (sysusers.d) runs etcd and owns the directories
// tmpfiles.d makes; the timers are listed; a snapshot started by systemctl
// is accepted by etcdutl snapshot status.
func (l *hostLab) checkOps(hosts []*host) {
	t := l.t
	t.Helper()
	for _, h := range hosts {
		p := h.unitProps("etcd.service", "MainPID", "User")
		if u := strings.TrimSpace(h.execOK("ps -o user= -p " + p["MainPID"])); u != "etcd" || p["User"] != "etcd" {
			t.Errorf("%s: etcd runs as %q (unit User=%q), want etcd", h.Name, u, p["User"])
		}
		owners := h.execOK("stat -c '%U %a %n' /var/lib/etcd /etc/etcd/pki /etc/etcd/pki/server.key /var/backups/etcd")
		want := []string{"etcd 700 /var/lib/etcd", "etcd 700 /etc/etcd/pki", "etcd 600 /etc/etcd/pki/server.key", "root 700 /var/backups/etcd"}
		if strings.TrimSpace(owners) != strings.Join(want, "\n") {
			t.Errorf("%s: owners and modes:\n%s\nwant:\n%s", h.Name, owners, strings.Join(want, "\n"))
		}
		timers := h.execOK("systemctl list-timers --all --no-pager --no-legend")
		for _, u := range []string{"etcd-snapshot.timer", "etcd-defrag.timer"} {
			if !strings.Contains(timers, u) {
				t.Errorf("%s: systemctl list-timers lacks %s:\n%s", h.Name, u, timers)
			}
		}
	}
	// The timers may fire during the test: the service's snapshot is the
	// one file that was not there before.
	h := hosts[0]
	before, _ := h.exec("ls /var/backups/etcd/")
	start := time.Now()
	if out, err := h.exec("systemctl start etcd-snapshot.service 2>&1"); err != nil {
		j, _ := h.exec("journalctl -u etcd-snapshot --no-pager -n 30 2>&1")
		t.Fatalf("%v %s\n%s", err, out, j)
	}
	t.Logf("%s: systemctl start etcd-snapshot.service: %s", h.Name, time.Since(start).Round(100*time.Millisecond))
	p := h.unitProps("etcd-snapshot.service", "Result", "ExecMainStatus")
	if p["Result"] != "success" || p["ExecMainStatus"] != "0" {
		t.Errorf("%s: etcd-snapshot.service %v", h.Name, p)
	}
	var snap string
	for _, f := range strings.Fields(h.execOK("ls /var/backups/etcd/")) {
		if strings.HasSuffix(f, ".db") && !slices.Contains(strings.Fields(before), f) {
			snap = "/var/backups/etcd/" + f
		}
	}
	if snap == "" {
		t.Fatalf("%s: no new snapshot in /var/backups/etcd (before: %q)", h.Name, before)
	}
	st := h.execOK("stat -c '%U %a' " + snap + " && /usr/local/bin/etcdutl snapshot status -w json " + snap)
	owner, js, _ := strings.Cut(st, "\n")
	var ss struct {
		Revision  int64 `json:"revision"`
		TotalKey  int64 `json:"totalKey"`
		TotalSize int64 `json:"totalSize"`
	}
	if err := json.Unmarshal([]byte(js), &ss); err != nil || ss.TotalKey < 1 || ss.Revision < 2 {
		t.Errorf("%s: etcdutl snapshot status: %v %+v\n%s", h.Name, err, ss, st)
	}
	if owner != "root 600" {
		t.Errorf("%s: snapshot owner and mode %q, want root 600", h.Name, owner)
	}
}

// copyTool copies a binary of this machine into the host with the shared
// libraries (ldd) the host lacks.
func copyTool(h *host, bin string) {
	h.t.Helper()
	h.copyIn(bin, strings.TrimPrefix(bin, "/"), 0o755)
	out, err := exec.Command("ldd", bin).Output()
	must(h.t, err)
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		lib := ""
		if len(f) >= 3 && f[1] == "=>" {
			lib = f[2]
		} else if len(f) >= 1 && strings.HasPrefix(f[0], "/") {
			lib = f[0]
		}
		if lib == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(h.Dir, lib)); err == nil {
			continue
		}
		real, err := filepath.EvalSymlinks(lib)
		must(h.t, err)
		h.copyIn(real, strings.TrimPrefix(lib, "/"), 0o644)
	}
}

// addSudoUser gives every host a login user with passwordless sudo, as
// cloud images have one (admin, ubuntu, ...) and no root login: plan.sh's
// default hooks log in as ETCDGEN_SSH_USER and run each remote command,
// rsync's far end included, through sudo -n. sudo is this machine's
// (hosts-deps installs it; the hosts' image is the same Debian release, as
// for rsync), with its plugin and configuration; the user logs in with the
// test's key. Root's key is removed: nothing logs in as root then.
func (hs *hostSet) addSudoUser(t *testing.T, user string) {
	t.Helper()
	for _, h := range hs.Hosts {
		copyTool(h, "/usr/bin/sudo")
		must(t, os.Chmod(filepath.Join(h.Dir, "usr/bin/sudo"), 0o755|os.ModeSetuid))
		copyTool(h, "/usr/libexec/sudo/sudoers.so")
		h.copyIn("/etc/sudoers", "etc/sudoers", 0o440)
		h.copyIn("/etc/pam.d/sudo", "etc/pam.d/sudo", 0o644)
		h.write("etc/sudoers.d/eg17-"+user, 0o440, user+" ALL=(ALL:ALL) NOPASSWD: ALL\n")
		// sudo resolves the host's own name (its sudoers may name hosts):
		// the image has no /etc/hosts; Debian's installer writes this one.
		h.write("etc/hosts", 0o644, "127.0.0.1\tlocalhost\n127.0.1.1\t"+h.Name+"\n::1\tlocalhost ip6-localhost ip6-loopback\n")
		h.execOK(fmt.Sprintf("useradd --create-home --shell /bin/sh %[1]s && "+
			"install -d -m 0700 -o %[1]s -g %[1]s /home/%[1]s/.ssh && "+
			"install -m 0600 -o %[1]s -g %[1]s /root/.ssh/authorized_keys /home/%[1]s/.ssh/ && "+
			"rm /root/.ssh/authorized_keys", user))
	}
	hs.users = append(hs.users, user)
}
