package e2e

// Machines for the host tests: real systemd as PID 1 under systemd-nspawn,
// each on its own overlay copy of one cached Debian root file system
// (hosts/rootfs.sh, extracted by `make hosts-rootfs` into bin/_hosts/rootfs;
// the leading _ keeps it out of ./... patterns), each in its own network
// namespace on one bridge with a private /24 in this machine's network
// namespace. Nothing leaves the machine: the bridge has no uplink and only
// the /24's connected route.
//
// Facts of this machine (no host D-Bus, PID 1 is not systemd) shape the
// nspawn flags: --register=no --keep-unit (so no machinectl; commands run in
// a host by nsenter on its PID 1), and /run is not a tmpfs, so a stopped
// host's /run/systemd/nspawn/propagate/<name> is removed here.
//
// bootHosts is the entry point for every host test (the Ansible example
// here; plan.sh's default hooks and the operations units later): it returns
// running hosts that answer SSH as root with the returned key.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	hostRootfs  = "bin/_hosts/rootfs"
	bootTimeout = 3 * time.Minute // the shared CI machine is slow
)

// hostNetwork is a bridge with a private /24 and the machines on it.
// Everything the host tests create is named eg17...: the bridge, the
// machines (and so nspawn's vb-eg17*-* veths), the lock. Each host test
// has a network of its own, so they run side by side (make runs each as a
// pass of its own).
type hostNetwork struct {
	Bridge string
	Net    string // .1 is the bridge, hosts are .11, .12, ...
	Prefix string // of the machine names: etcd1 is machine <Prefix>etcd1
}

var (
	ansibleNetwork = hostNetwork{Bridge: "eg17br0", Net: "172.31.217", Prefix: "eg17a-"}
	planNetwork    = hostNetwork{Bridge: "eg17br1", Net: "172.31.218", Prefix: "eg17b-"}
	// TestPlanHostsAnsible's.
	ansiblePlanNetwork = hostNetwork{Bridge: "eg17br2", Net: "172.31.219", Prefix: "eg17c-"}
)

func (nw hostNetwork) lock() string { return "/run/lock/" + nw.Bridge + "-hosts.lock" }

// host is one booted machine.
type host struct {
	Name    string // hostname
	Machine string // nspawn's machine name: the network's prefix + Name
	IP      string // on the bridge
	Dir     string // its overlay mount: the host's / seen from here

	t      *testing.T
	nspawn *exec.Cmd
	leader int // the host's PID 1, in this machine's PID namespace
	upper  string
	work   string
	log    string
	bridge string
}

// hostSet is what bootHosts returns.
type hostSet struct {
	Hosts []*host
	Key   string // SSH private key for root@every host (and the sudo users)
	dir   string
	users []string // the login users besides root (addSudoUser)
}

// hostsEnv selects the host tests. `make test` runs them in their own
// `go test` (target hosts-test, with its own timeout: booting machines and
// running Ansible take minutes), so the main run skips them.
const hostsEnv = "ETCDGEN_E2E_HOSTS"

func requireHostTests(t *testing.T) {
	t.Helper()
	if os.Getenv(hostsEnv) != "1" {
		t.Skipf("host tests run with %s=1 (make -C e2e hosts-test, part of make test)", hostsEnv)
	}
}

// hostsAvailable fails the test with what is missing: the host tests are
// part of `make test`, which installs all of it (e2e/Makefile, hosts-deps).
func hostsAvailable(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("host tests need root (systemd-nspawn, mounts, a bridge)")
	}
	for _, b := range []string{"systemd-nspawn", "nsenter", "ssh", "ssh-keygen", "ip"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Fatalf("%s: %v (run `make -C e2e hosts-deps`)", b, err)
		}
	}
	if _, err := os.Stat(filepath.Join(hostRootfs, ".etcdgen-extracted")); err != nil {
		t.Fatalf("no root file system: %v (run `make -C e2e hosts-rootfs`)", err)
	}
}

// lockHosts serialises the runs of one network across processes on this
// machine: they share the bridge and the /24.
func lockHosts(t *testing.T, nw hostNetwork) {
	t.Helper()
	f, err := os.OpenFile(nw.lock(), os.O_CREATE|os.O_RDWR, 0o600)
	must(t, err)
	deadline := time.Now().Add(10 * time.Minute)
	for syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("%s held by another run for 10 minutes", nw.lock())
		}
		time.Sleep(time.Second)
	}
	t.Cleanup(func() { f.Close() }) // closing releases the lock
}

// bootHosts boots one host per name on nw (nw.Net.11, .12, ...). setup, if
// not nil, writes into each host's root before it boots. Everything is
// removed when the test ends: processes by PID, mounts, the bridge.
func bootHosts(t *testing.T, nw hostNetwork, names []string, setup func(h *host)) *hostSet {
	t.Helper()
	hostsAvailable(t)
	lockHosts(t, nw)
	lower, err := filepath.Abs(hostRootfs)
	must(t, err)
	hs := &hostSet{dir: t.TempDir()}
	hs.Key = filepath.Join(hs.dir, "id_ed25519")
	cmdOK(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "eg17-e2e", "-f", hs.Key)
	pub, err := os.ReadFile(hs.Key + ".pub")
	must(t, err)

	makeBridge(t, nw)
	for i, n := range names {
		h := &host{t: t, Name: n, Machine: nw.Prefix + n, IP: fmt.Sprintf("%s.%d", nw.Net, 11+i), bridge: nw.Bridge}
		base := filepath.Join(hs.dir, n)
		h.upper, h.work, h.Dir, h.log = filepath.Join(base, "upper"), filepath.Join(base, "work"),
			filepath.Join(base, "root"), filepath.Join(base, "console.log")
		for _, d := range []string{h.upper, h.work, h.Dir} {
			must(t, os.MkdirAll(d, 0o755))
		}
		must(t, syscall.Mount("overlay", h.Dir, "overlay", 0,
			fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, h.upper, h.work)))
		t.Cleanup(h.unmount)
		// Its address: 10-*.network sorts before the image's shipped
		// 80-container-host0.network, which would otherwise ask for DHCP.
		h.write("etc/systemd/network/10-eg17-host0.network", 0o644, fmt.Sprintf(
			"[Match]\nName=host0\n\n[Network]\nAddress=%s/24\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n", h.IP))
		h.write("etc/hostname", 0o644, n+"\n")
		h.write("root/.ssh/authorized_keys", 0o600, string(pub))
		must(t, os.Chmod(filepath.Join(h.Dir, "root/.ssh"), 0o700))
		if setup != nil {
			setup(h)
		}
		h.boot()
		hs.Hosts = append(hs.Hosts, h)
	}
	for _, h := range hs.Hosts {
		h.waitSSH(hs.Key)
	}
	t.Cleanup(hs.closeMasters) // before the hosts stop
	return hs
}

// makeBridge creates nw's bridge with nw.Net.1/24, removed at the end.
func makeBridge(t *testing.T, nw hostNetwork) {
	t.Helper()
	if exec.Command("ip", "link", "show", nw.Bridge).Run() == nil {
		t.Fatalf("%s exists: left by an earlier run? (ip link del %s)", nw.Bridge, nw.Bridge)
	}
	// The /24 must be nobody else's on this machine.
	if out, _ := exec.Command("ip", "-4", "route", "show", nw.Net+".0/24").Output(); len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("%s.0/24 is already routed here: %s", nw.Net, out)
	}
	cmdOK(t, "ip", "link", "add", nw.Bridge, "type", "bridge")
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", nw.Bridge).Run() })
	cmdOK(t, "ip", "addr", "add", nw.Net+".1/24", "dev", nw.Bridge)
	cmdOK(t, "ip", "link", "set", nw.Bridge, "up")
}

// write puts a file into the host's root (before or after boot).
func (h *host) write(rel string, mode os.FileMode, content string) {
	h.t.Helper()
	p := filepath.Join(h.Dir, rel)
	must(h.t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(h.t, os.WriteFile(p, []byte(content), mode))
	must(h.t, os.Chmod(p, mode))
}

// copyIn copies a file of this machine into the host's root.
func (h *host) copyIn(src, rel string, mode os.FileMode) {
	h.t.Helper()
	b, err := os.ReadFile(src)
	must(h.t, err)
	h.write(rel, mode, string(b))
}

// boot starts systemd-nspawn with systemd as PID 1 and finds that PID.
func (h *host) boot() {
	t := h.t
	t.Helper()
	logf, err := os.Create(h.log)
	must(t, err)
	defer logf.Close()
	h.nspawn = exec.Command("systemd-nspawn", "--quiet",
		"--register=no", "--keep-unit", // no host D-Bus, PID 1 is not systemd
		"--boot", "--directory="+h.Dir, "--machine="+h.Machine, "--hostname="+h.Name,
		"--network-bridge="+h.bridge, // own network namespace, veth vb-<machine>
		"--console=pipe", "--link-journal=no", "--resolv-conf=off", "--timezone=off")
	h.nspawn.Stdout, h.nspawn.Stderr = logf, logf
	must(t, h.nspawn.Start())
	t.Cleanup(h.stop)
	deadline := time.Now().Add(bootTimeout)
	for h.leader == 0 {
		if h.exited() {
			t.Fatalf("systemd-nspawn for %s exited: %s", h.Name, h.consoleLog())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no PID 1 after %s: %s", h.Name, bootTimeout, h.consoleLog())
		}
		h.leader = childNamed(h.nspawn.Process.Pid, "systemd")
		time.Sleep(100 * time.Millisecond)
	}
}

func (h *host) exited() bool {
	var ws syscall.WaitStatus
	pid, _ := syscall.Wait4(h.nspawn.Process.Pid, &ws, syscall.WNOHANG, nil)
	if pid == h.nspawn.Process.Pid {
		h.nspawn.Process.Release()
		h.nspawn = nil
		return true
	}
	return false
}

func (h *host) consoleLog() string {
	b, _ := os.ReadFile(h.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// childNamed returns the PID of a child of parent whose comm is name, or 0.
func childNamed(parent int, name string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces: split at the last ')'.
		s := string(st)
		i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if i < 0 || j < i {
			continue
		}
		f := strings.Fields(s[j+1:])
		if len(f) > 1 && s[i+1:j] == name && f[1] == strconv.Itoa(parent) {
			return pid
		}
	}
	return 0
}

// waitSSH waits until root can log in with key.
func (h *host) waitSSH(key string) {
	t := h.t
	t.Helper()
	deadline := time.Now().Add(bootTimeout)
	var last error
	for time.Now().Before(deadline) {
		if h.nspawn == nil || h.exited() {
			t.Fatalf("%s stopped while booting: %s", h.Name, h.consoleLog())
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort(h.IP, "22"), 2*time.Second)
		if err == nil {
			c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			out, err := exec.CommandContext(ctx, "ssh", append(sshOpts(key), "-o", "ControlMaster=no", "root@"+h.IP, "true")...).CombinedOutput()
			cancel()
			if err == nil {
				return
			}
			last = fmt.Errorf("ssh: %v: %s", err, out)
		} else {
			last = err
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s (%s): no SSH after %s: %v\n%s", h.Name, h.IP, bootTimeout, last, h.consoleLog())
}

// sshOpts are the ssh options for the hosts: every overlay copy has the
// image's host keys, so known_hosts is not used.
func sshOpts(key string) []string {
	return []string{"-i", key, "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5"}
}

// controlOpts share one connection per host among all the ssh commands of
// a test (plan.sh's hooks, rsync, Ansible's tasks), as a user's
// ~/.ssh/config would: each new connection costs a key exchange and a
// re-executed sshd, about a quarter of a CPU-second on both ends on the
// 2-core CI machine, and the host tests made over 300 of them. The masters
// live in the test's directory and are told to exit (ssh -O exit) before
// the hosts stop; ControlPersist bounds them anyway.
func (hs *hostSet) controlOpts() []string {
	return []string{"-o", "ControlMaster=auto", "-o", "ControlPath=" + filepath.Join(hs.dir, "cm-%C"), "-o", "ControlPersist=120"}
}

// SSHArgs is `ssh` plus its options, for tools that take an ssh command
// (rsync -e, plan.sh's hooks).
func (hs *hostSet) SSHArgs() []string {
	return append(append([]string{"ssh"}, sshOpts(hs.Key)...), hs.controlOpts()...)
}

// AnsibleSSHArgs is ANSIBLE_SSH_ARGS for the hosts (the key and the user
// are Ansible's own settings): the same shared connections.
func (hs *hostSet) AnsibleSSHArgs() string {
	return strings.Join(append([]string{"-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"}, hs.controlOpts()...), " ")
}

// closeMasters asks each host's ssh master, if there is one, to exit.
func (hs *hostSet) closeMasters() {
	for _, h := range hs.Hosts {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		for _, u := range append([]string{"root"}, hs.users...) {
			_ = exec.CommandContext(ctx, "ssh", append(append(sshOpts(hs.Key), hs.controlOpts()...), "-O", "exit", u+"@"+h.IP)...).Run()
		}
		cancel()
	}
}

// exec runs a shell command inside the host (all its namespaces), bounded.
func (h *host) exec(script string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", "-t", strconv.Itoa(h.leader), "-m", "-u", "-i", "-n", "-p",
		"--", "/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8",
		"SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s: %q: %v: %s", h.Name, script, err, errb.String())
	}
	return out.String(), err
}

// execOK is exec that fails the test on error.
func (h *host) execOK(script string) string {
	h.t.Helper()
	out, err := h.exec(script)
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// unitProps reads `systemctl show` properties of a unit inside the host.
func (h *host) unitProps(unit string, props ...string) map[string]string {
	h.t.Helper()
	out := h.execOK("systemctl show " + unit + " -p " + strings.Join(props, ","))
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			m[k] = v
		}
	}
	return m
}

// stop powers the host off (nspawn turns SIGTERM into a clean shutdown of
// its systemd), then kills it by PID if it is not gone in 30 s.
func (h *host) stop() {
	if h.nspawn == nil {
		return
	}
	p := h.nspawn.Process
	_ = p.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = h.nspawn.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		h.t.Logf("%s: no shutdown in 30s; killing systemd-nspawn (PID %d) and the host's PID 1 (%d)", h.Name, p.Pid, h.leader)
		_ = p.Kill()
		if h.leader > 0 {
			_ = syscall.Kill(h.leader, syscall.SIGKILL)
		}
		<-done
	}
	h.nspawn = nil
	// /run is not a tmpfs here, so nspawn's propagation directory stays.
	_ = os.RemoveAll(filepath.Join("/run/systemd/nspawn/propagate", h.Machine))
}

// unmount removes the overlay (after stop: cleanups run last-in first-out).
func (h *host) unmount() {
	var err error
	for range 20 {
		if err = syscall.Unmount(h.Dir, 0); err == nil || errors.Is(err, syscall.EINVAL) {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	h.t.Errorf("unmount %s: %v", h.Dir, err)
	_ = syscall.Unmount(h.Dir, syscall.MNT_DETACH)
}

// cmdOK runs a command on this machine and fails the test on error.
func cmdOK(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// etcdBinaries finds the etcd, etcdctl (and etcdutl, if built) of version v
// in bin/: bin/etcd-v<v>/ when the suite builds several versions, else the
// single build in bin/ if its `etcd --version` says v.
func etcdBinaries(t *testing.T, v string) map[string]string {
	t.Helper()
	found := map[string]string{}
	for _, dir := range []string{filepath.Join("bin", "etcd-v"+v), "bin"} {
		for _, b := range []string{"etcd", "etcdctl", "etcdutl"} {
			p, _ := filepath.Abs(filepath.Join(dir, b))
			if _, err := os.Stat(p); err == nil {
				found[b] = p
			}
		}
		if found["etcd"] == "" || found["etcdctl"] == "" {
			clear(found)
			continue
		}
		out, err := exec.Command(found["etcd"], "--version").Output()
		if err == nil && strings.Contains(string(out), "etcd Version: "+v+"\n") {
			return found
		}
		clear(found)
	}
	t.Fatalf("no etcd %s in bin/etcd-v%s/ or bin/ (run `make -C e2e bin`)", v, v)
	return nil
}
