package e2e

import (
	"bufio"
	"bytes"
	"context"
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

// The etcd the host tests install (the spec names it; bin/ must hold it).
const hostsEtcdVersion = "3.6.16"

// TestAnsibleHosts runs what the README tells users to run: the example
// playbook, by the real ansible-playbook, with the inventory and --certs
// trees etcdgen renders, on three hosts booted by real systemd. Then systemd
// itself must show the generated unit working: Type=notify, the hardening in
// effect on etcd's process, Restart=on-failure, LimitNOFILE; and the admin
// client sees three healthy members over TLS.
func TestAnsibleHosts(t *testing.T) {
	requireHostTests(t)
	names := []string{"etcd1", "etcd2", "etcd3"}
	bins := etcdBinaries(t, hostsEtcdVersion)
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "name: \"e2e-hosts\"\nversion: %q\nmembers: [\n", hostsEtcdVersion)
	for i, n := range names {
		fmt.Fprintf(&b, "\t{name: %q, ip: \"%s.%d\"},\n", n, ansibleNetwork.Net, 11+i)
	}
	b.WriteString("]\n")
	spec := filepath.Join(dir, "etcdgen.cue")
	must(t, os.WriteFile(spec, []byte(b.String()), 0o644))
	pki, out := filepath.Join(dir, "pki"), filepath.Join(dir, "generated")
	run(t, dir, etcdgenBin, "certs", "--out", pki, spec)
	run(t, dir, etcdgenBin, "render", "--target", "systemd,ansible", "--out", out, "--certs", pki, spec)
	inventory := filepath.Join(out, "e2e-hosts", "ansible", "inventory.yaml")

	start := time.Now()
	hs := bootHosts(t, ansibleNetwork, names, func(h *host) {
		// The playbook expects etcd_binary on the hosts; etcdctl for the
		// generated etcdctl.env.
		h.copyIn(bins["etcd"], "usr/local/bin/etcd", 0o755)
		h.copyIn(bins["etcdctl"], "usr/local/bin/etcdctl", 0o755)
	})
	t.Logf("three hosts booted, SSH up: %s", time.Since(start).Round(100*time.Millisecond))

	start = time.Now()
	runPlaybook(t, dir, hs, inventory)
	t.Logf("ansible-playbook: %s", time.Since(start).Round(100*time.Millisecond))

	var hard syscall.Rlimit
	must(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &hard))
	for _, h := range hs.Hosts {
		checkUnit(t, h, hard.Max)
	}
	checkHealth(t, bins["etcdctl"], pki, hs.Hosts[0].IP, len(names))

	// Restart=on-failure: kill -9 is a failure; systemd starts a new etcd
	// (RestartSec=5s) that rejoins.
	for _, h := range hs.Hosts {
		checkRestart(t, h)
	}
	checkHealth(t, bins["etcdctl"], pki, hs.Hosts[1].IP, len(names))

	// The generated etcdctl.env works as its header says, on a member.
	got := hs.Hosts[2].execOK("set -a; . /etc/etcd/etcdctl.env; set +a; etcdctl endpoint health --cluster 2>&1")
	if n := strings.Count(got, "is healthy"); n != len(names) {
		t.Errorf("etcdctl with etcdctl.env on %s: %d healthy, want %d:\n%s", hs.Hosts[2].Name, n, len(names), got)
	}
}

// runPlaybook runs examples/ansible/playbook.yaml as root over SSH with the
// test's key; ansible's state stays in the test dir.
func runPlaybook(t *testing.T, dir string, hs *hostSet, inventory string) {
	t.Helper()
	playbook, err := filepath.Abs("../examples/ansible/playbook.yaml")
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ansible-playbook", "-i", inventory, playbook)
	cmd.Dir = dir // no ansible.cfg of the repository or the user
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "LANG=C.UTF-8",
		"ANSIBLE_REMOTE_USER=root", "ANSIBLE_PRIVATE_KEY_FILE=" + hs.Key,
		"ANSIBLE_HOST_KEY_CHECKING=False", "ANSIBLE_PIPELINING=True",
		// Shared host keys, one connection per host (hostSet.controlOpts).
		"ANSIBLE_SSH_ARGS=" + hs.AnsibleSSHArgs(),
		"ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3", "ANSIBLE_NOCOLOR=1", "ANSIBLE_RETRY_FILES_ENABLED=False",
	}
	var outb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outb, &outb
	if err := cmd.Run(); err != nil {
		for _, h := range hs.Hosts {
			j, _ := h.exec("journalctl -u etcd --no-pager -n 30 2>&1; systemctl status etcd --no-pager 2>&1")
			t.Logf("%s:\n%s", h.Name, j)
		}
		t.Fatalf("ansible-playbook: %v\n%s", err, outb.String())
	}
	// Every host must have run every task (no skips through a bad pattern).
	if !strings.Contains(outb.String(), "PLAY RECAP") || strings.Contains(outb.String(), "failed=1") {
		t.Fatalf("ansible-playbook output:\n%s", outb.String())
	}
	for _, h := range hs.Hosts {
		if !strings.Contains(outb.String(), h.Name+" ") {
			t.Errorf("%s not in the play recap:\n%s", h.Name, outb.String())
		}
	}
}

// checkUnit asserts, inside h, that etcd.service runs as the generated unit
// says: active as Type=notify (systemd saw READY=1), and the hardening seen
// on etcd's own process, against the host's PID 1 as the control.
func checkUnit(t *testing.T, h *host, hardLimit uint64) {
	t.Helper()
	p := h.unitProps("etcd.service", "ActiveState", "SubState", "Type", "MainPID", "UnitFileState", "NRestarts")
	if p["ActiveState"] != "active" || p["SubState"] != "running" || p["Type"] != "notify" || p["UnitFileState"] != "enabled" {
		t.Fatalf("%s: etcd.service %v; want active, running, Type=notify, enabled", h.Name, p)
	}
	pid := p["MainPID"]
	status := h.execOK("cat /proc/" + pid + "/status")
	if !strings.Contains(status, "\nNoNewPrivs:\t1\n") {
		t.Errorf("%s: etcd (PID %s) lacks NoNewPrivs:\n%s", h.Name, pid, status)
	}
	etcdMounts := mountinfo(h.execOK("cat /proc/" + pid + "/mountinfo"))
	initMounts := mountinfo(h.execOK("cat /proc/1/mountinfo"))
	// ProtectSystem=full: /usr, /boot and /etc read-only for etcd (they are
	// writable on the host itself).
	for _, dir := range []string{"/usr", "/etc"} {
		if m, ok := etcdMounts[dir]; !ok || !m.ro {
			t.Errorf("%s: %s is not a read-only mount for etcd (ProtectSystem=full): %+v", h.Name, dir, m)
		}
		if m, ok := initMounts[dir]; ok && m.ro {
			t.Errorf("%s: %s read-only on the host itself: the check proves nothing", h.Name, dir)
		}
	}
	// PrivateTmp: etcd's /tmp is its own directory under the host's /tmp.
	if m, ok := etcdMounts["/tmp"]; !ok || !strings.Contains(m.root, "systemd-private-") {
		t.Errorf("%s: etcd's /tmp is not private (PrivateTmp=yes): %+v", h.Name, m)
	}
	if m, ok := initMounts["/tmp"]; ok && strings.Contains(m.root, "systemd-private-") {
		t.Errorf("%s: the host's own /tmp looks private: %+v", h.Name, m)
	}
	// ProtectHome: /home is inaccessible for etcd.
	if _, ok := etcdMounts["/home"]; !ok {
		t.Errorf("%s: no /home mount for etcd (ProtectHome=yes)", h.Name)
	}
	// LimitNOFILE=65536, which systemd caps at the hard limit it inherited
	// (root here lacks CAP_SYS_RESOURCE): at least this machine's hard limit.
	want := min(hardLimit, 65536)
	soft := limitOf(t, h.execOK("cat /proc/"+pid+"/limits"), "Max open files")
	if soft < want {
		t.Errorf("%s: etcd's open files limit %d; want at least %d (LimitNOFILE=65536, hard limit %d)", h.Name, soft, want, hardLimit)
	}
}

type mount struct {
	root string
	ro   bool
}

// mountinfo maps mount points to their root and read-only state (the last
// mount on a point wins, as it hides the others); proc(5) describes the fields.
func mountinfo(s string) map[string]mount {
	m := map[string]mount{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 {
			continue
		}
		ro := false
		for _, o := range strings.Split(f[5], ",") {
			ro = ro || o == "ro"
		}
		m[f[4]] = mount{root: f[3], ro: ro}
	}
	return m
}

func limitOf(t *testing.T, limits, name string) uint64 {
	t.Helper()
	for _, line := range strings.Split(limits, "\n") {
		if rest, ok := strings.CutPrefix(line, name); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				if f[0] == "unlimited" {
					return ^uint64(0)
				}
				n, err := strconv.ParseUint(f[0], 10, 64)
				must(t, err)
				return n
			}
		}
	}
	t.Fatalf("no %q in /proc/PID/limits:\n%s", name, limits)
	return 0
}

// checkRestart kills etcd with SIGKILL and waits for systemd to start a new
// one (RestartSec=5s, then a Type=notify start).
func checkRestart(t *testing.T, h *host) {
	t.Helper()
	before := h.unitProps("etcd.service", "MainPID", "NRestarts")
	h.execOK("kill -9 " + before["MainPID"])
	deadline := time.Now().Add(90 * time.Second)
	for {
		p := h.unitProps("etcd.service", "ActiveState", "SubState", "MainPID", "NRestarts")
		if p["ActiveState"] == "active" && p["SubState"] == "running" && p["MainPID"] != "0" &&
			p["MainPID"] != before["MainPID"] && p["NRestarts"] != before["NRestarts"] {
			return
		}
		if time.Now().After(deadline) {
			j, _ := h.exec("journalctl -u etcd --no-pager -n 20 2>&1")
			t.Fatalf("%s: etcd not restarted 90s after kill -9 of PID %s: %v (before %v)\n%s", h.Name, before["MainPID"], p, before, j)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// checkHealth asks one member for the cluster's members and checks each,
// with the admin client cert, from this machine (over the bridge).
func checkHealth(t *testing.T, etcdctl, pki, ip string, want int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, etcdctl, "--endpoints=https://"+ip+":2379",
			"--cacert="+filepath.Join(pki, "ca.crt"),
			"--cert="+filepath.Join(pki, "clients/admin.crt"), "--key="+filepath.Join(pki, "clients/admin.key"),
			"--dial-timeout=3s", "--command-timeout=5s", "endpoint", "health", "--cluster")
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		out, err := cmd.CombinedOutput()
		cancel()
		if err == nil && strings.Count(string(out), "is healthy") == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcdctl endpoint health --cluster via %s: %v, want %d healthy:\n%s", ip, err, want, out)
		}
		time.Sleep(time.Second)
	}
}
