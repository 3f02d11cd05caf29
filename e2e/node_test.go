package e2e

// The one-node Kubernetes of the k8s tests (issue 15): kube-apiserver,
// kube-controller-manager, kube-scheduler and kubelet of k8s.io/kubernetes
// (bin/kubenode, one binary), Debian's containerd and runc, the CNI bridge
// and host-local plugins, CoreDNS (bin/coredns, only the plugins it needs)
// and a plain-HTTP etcd of the suite for the apiserver.
//
// Containment: every process of the node runs in one network namespace and
// one private mount namespace, both held by a `sleep` started with unshare
// (the holder). The node's bridge, the pods' veths and every iptables chain
// kubelet makes (KUBE-FIREWALL drops non-loopback traffic to 127.0.0.0/8:
// it must never reach this machine's own tables) live in that network
// namespace; tmpfs mounts over the paths containerd, kubelet and the CNI
// plugins hard-code (/run/containerd, /run/netns, /var/lib/cni,
// /var/log/pods, /var/log/containers) and every overlay, secret and
// network-namespace mount they make live in that mount namespace: both go
// away with the last process. Every process (the node's, containerd's
// shims, the containers) is in the cgroup eg15 of each hierarchy (kubelet's
// cgroupRoot); stop kills what is left there by PID and removes the
// cgroups. Nothing is sent outside this machine: the bridge has no uplink.
//
// Facts of this machine the configuration follows (issue 15): root lacks
// CAP_SYS_RESOURCE, so runc fails every sandbox ("can't get final child's
// PID from pipe: EOF") unless containerd's CRI plugin sets
// restrict_oom_score_adj; the host uses cgroup v1, which kubelet refuses
// unless failCgroupV1 is false; Debian installs the CNI plugins in
// /usr/lib/cni; there is no kube-proxy, so only headless Services work from
// pods (the etcd pods use only those).

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	k8sEnv      = "ETCDGEN_E2E_K8S"
	nodeName    = "eg15-node"
	nodeBridge  = "eg15br0"
	nodeNet     = "172.31.215" // .1: the bridge, the node's IP, the apiserver, CoreDNS; pods .10-.250
	nodeIP      = nodeNet + ".1"
	nodeCgroup  = "eg15" // in every cgroup v1 hierarchy; kubelet's cgroupRoot
	nodeLock    = "/run/lock/eg15-node.lock"
	pauseImage  = "eg15.local/pause:1"
	chownImage  = "eg15.local/chown:1"
	nodeTimeout = 3 * time.Minute // the shared CI machine is slow
)

// etcdImage is the image the k8s tests give the pods: the tested etcd's
// etcd, etcdctl and etcdutl.
func etcdImage() string { return "eg15.local/etcd:v" + etcdVersion }

// The paths containerd, runc, kubelet and the CNI plugins use whatever
// their configuration says: a tmpfs over each in the node's mount namespace.
var nodeTmpfs = []string{"/run/containerd", "/run/netns", "/var/lib/cni", "/var/log/pods", "/var/log/containers"}

func requireK8sTests(t *testing.T) {
	t.Helper()
	if os.Getenv(k8sEnv) != "1" {
		t.Skipf("Kubernetes tests run with %s=1 (make -C e2e k8s-test, part of make test)", k8sEnv)
	}
}

// node is the running one-node cluster.
type node struct {
	t          *testing.T
	dir        string
	holder     *exec.Cmd // unshare ... sleep: holds the namespaces
	procs      []*nodeProc
	kubeconfig string       // admin (system:masters)
	kc         *kubeClient  // the test's own client (kubeclient_test.go)
	apiForward net.Listener // its loopback forwarder to the apiserver
	madeDirs   []string
	started    time.Time
}

type nodeProc struct {
	name    string
	cmd     *exec.Cmd
	log     string
	done    chan struct{}
	stopped bool // by stopProc: its exit is no failure
}

func kubenodeBin() string { return filepath.Join(absBin(), "kubenode") }

// kubectlBin is kubectl alone (k8s.io/kubernetes/cmd/kubectl, same module
// and release as kubenode): a kubectl process of the multi-call kubenode
// runs the init of every component, about twice the CPU of kubectl's own.
func kubectlBin() string { return filepath.Join(absBin(), "kubectl") }
func corednsBin() string { return filepath.Join(absBin(), "coredns") }
func nodeimgBin() string { return filepath.Join(absBin(), "nodeimg") }

func absBin() string {
	abs, err := filepath.Abs(*binDir)
	if err != nil {
		panic(err)
	}
	return abs
}

// nodeAvailable fails the test with what is missing: `make test` installs
// and builds all of it (e2e/Makefile, k8s-test).
func nodeAvailable(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the node needs root (namespaces, mounts, cgroups, containerd)")
	}
	for _, b := range []string{"containerd", "containerd-shim-runc-v2", "runc", "ctr", "unshare", "nsenter", "ip", "iptables", "ldd"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Fatalf("%s: %v (run `make -C e2e node`)", b, err)
		}
	}
	for _, f := range []string{kubenodeBin(), kubectlBin(), corednsBin(), nodeimgBin(), "/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback"} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%v (run `make -C e2e node`)", err)
		}
	}
}

// startNode brings the node up and returns it with its node Ready and
// CoreDNS answering. Everything is removed when the test ends.
func startNode(t *testing.T) *node {
	t.Helper()
	nodeAvailable(t)
	lockFile(t, nodeLock)
	dir, err := os.MkdirTemp("", "eg15-node-")
	must(t, err)
	must(t, os.Chmod(dir, 0o755))
	n := &node{t: t, dir: dir, started: time.Now()}
	t.Cleanup(n.stop)
	n.makeCgroups()
	n.startHolder()
	n.writePKI()
	n.startKubeClient()
	n.startEtcd()
	n.startContainerd()
	n.importImages()
	n.startControlPlane()
	n.startCoreDNS()
	n.startKubelet()
	n.waitReady()
	t.Logf("node: Ready %v after start", time.Since(n.started).Round(100*time.Millisecond))
	return n
}

// forTest is the node as seen by a subtest: the same node, reporting to t
// (its failures, its helpers), so that subtests can run side by side. A
// process the subtest starts (n.run) is its to stop.
func (n *node) forTest(t *testing.T) *node {
	c := *n
	c.t = t
	c.procs = slices.Clip(n.procs)
	return &c
}

func lockFile(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	must(t, err)
	deadline := time.Now().Add(10 * time.Minute)
	for syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("%s held by another run for 10 minutes", path)
		}
		time.Sleep(time.Second)
	}
	t.Cleanup(func() { f.Close() })
}

// cgroupHierarchies lists the mounted cgroup hierarchies: the v1 ones
// (kubelet's cgroupRoot must exist in each) and the v2 one systemd hosts
// mount at /sys/fs/cgroup/unified next to them (runc makes the pods'
// cgroups there too).
func cgroupHierarchies(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	must(t, err)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		for i, x := range f {
			if x == "-" && i+1 < len(f) && (f[i+1] == "cgroup" || f[i+1] == "cgroup2") {
				out = append(out, f[4])
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no cgroup v1 hierarchy mounted")
	}
	return out
}

func (n *node) makeCgroups() {
	for _, h := range cgroupHierarchies(n.t) {
		d := filepath.Join(h, nodeCgroup)
		if err := os.Mkdir(d, 0o755); err != nil && !os.IsExist(err) {
			n.t.Fatal(err)
		}
		// The pods' cgroups are all under this one (kubelet's cgroupRoot),
		// and with cgroup v1's cpu controller a group competes for the CPU
		// as one task of its parent: with the default 1024 shares, the
		// node's etcd pods together weighed as much as any single process
		// of the rest of make test, and each step of the Kubernetes tests
		// waited behind them all. 5120: the weight of the five etcd pods
		// the plan runs at most, as if each were a process of its own.
		if sh := filepath.Join(d, "cpu.shares"); exists(sh) {
			must(n.t, os.WriteFile(sh, []byte("5120"), 0o644))
		}
		if filepath.Base(h) == "cpuset" || strings.Contains(filepath.Base(h), "cpuset") {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				v, err := os.ReadFile(filepath.Join(h, f))
				must(n.t, err)
				must(n.t, os.WriteFile(filepath.Join(d, f), v, 0o644))
			}
		}
	}
	must(n.t, os.MkdirAll(procsCgroup(), 0o755))
}

// pidsCgroup is where the node's processes are counted: every process
// started here joins procsCgroup (a shell writes itself into cgroup.procs,
// then execs), their children (shims) stay there, and the containers go to
// kubelet's cgroups next to it, all under pidsCgroup. The pids hierarchy
// on a cgroup v1 host, the one hierarchy on a v2-only host. The node's own
// processes sit in a child, not in eg15 itself: cgroup v2 lets a cgroup
// with processes hand no controller to its children (kubelet's kubepods).
func pidsCgroup() string {
	if _, err := os.Stat("/sys/fs/cgroup/pids"); err == nil {
		return "/sys/fs/cgroup/pids/" + nodeCgroup
	}
	return "/sys/fs/cgroup/" + nodeCgroup
}

func procsCgroup() string { return pidsCgroup() + "/node" }

func (n *node) startHolder() {
	for _, p := range nodeTmpfs {
		if _, err := os.Stat(p); os.IsNotExist(err) {
			must(n.t, os.MkdirAll(p, 0o755))
			n.madeDirs = append(n.madeDirs, p)
		}
	}
	var mounts []string
	for _, p := range nodeTmpfs {
		mounts = append(mounts, "mount -t tmpfs -o mode=0755 eg15 "+p)
	}
	script := fmt.Sprintf(`echo $$ > %s/cgroup.procs || exit 1
%s
ip link set lo up && ip link add %s type bridge && ip addr add %s/24 dev %s && ip link set %s up || exit 1
exec sleep infinity`, procsCgroup(), strings.Join(mounts, " && ")+" || exit 1", nodeBridge, nodeIP, nodeBridge, nodeBridge)
	cmd := exec.Command("unshare", "--mount", "--net", "--propagation", "private", "sh", "-c", script)
	log := filepath.Join(n.dir, "holder.log")
	f, err := os.Create(log)
	must(n.t, err)
	cmd.Stdout, cmd.Stderr = f, f
	must(n.t, cmd.Start())
	f.Close()
	n.holder = cmd
	// Ready when the bridge has its address in the holder's namespace.
	eventually(n.t, 30*time.Second, "node namespaces", func() error {
		out, err := exec.Command("nsenter", "-t", strconv.Itoa(cmd.Process.Pid), "-n", "ip", "-4", "addr", "show", nodeBridge).CombinedOutput()
		if err != nil || !strings.Contains(string(out), nodeIP+"/24") {
			b, _ := os.ReadFile(log)
			return fmt.Errorf("%v %s %s", err, out, b)
		}
		return nil
	})
}

// inNode returns argv that runs argv in the node's namespaces, in its
// cgroup; the PID of the started process is the program's (sh and nsenter
// exec it).
func (n *node) inNode(argv ...string) []string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return []string{"sh", "-c", fmt.Sprintf("echo $$ > %s/cgroup.procs && exec nsenter -t %d -m -n -- %s",
		procsCgroup(), n.holder.Process.Pid, strings.Join(q, " "))}
}

// run starts a long-running node process, logging to dir/<name>.log.
func (n *node) run(name string, env []string, argv ...string) *nodeProc {
	n.t.Helper()
	full := n.inNode(argv...)
	cmd := exec.Command(full[0], full[1:]...)
	cmd.Env = append(os.Environ(), env...)
	log := filepath.Join(n.dir, name+".log")
	f, err := os.Create(log)
	must(n.t, err)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("%s: %v", name, err)
	}
	f.Close()
	p := &nodeProc{name: name, cmd: cmd, log: log, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	n.procs = append(n.procs, p)
	return p
}

func (p *nodeProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// sh runs a short command in the node (bounded) and returns its output.
func (n *node) sh(d time.Duration, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	full := n.inNode(argv...)
	cmd := exec.CommandContext(ctx, full[0], full[1:]...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+n.kubeconfig)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// kubectl runs kubectl as the admin in the node (bounded to a minute).
func (n *node) kubectl(args ...string) (string, error) {
	return n.sh(time.Minute, append([]string{kubectlBin()}, args...)...)
}

func (n *node) mustKubectl(args ...string) string {
	n.t.Helper()
	out, err := n.kubectl(args...)
	if err != nil {
		n.t.Fatal(err)
	}
	return out
}

// ---- PKI ---------------------------------------------------------------

type keyPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func (n *node) pki(name string) string { return filepath.Join(n.dir, "pki", name) }

func (n *node) issue(ca *keyPair, name string, tmpl x509.Certificate) *keyPair {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(n.t, err)
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	must(n.t, err)
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	parent, signer := &tmpl, key
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, parent, &key.PublicKey, signer)
	must(n.t, err)
	cert, err := x509.ParseCertificate(der)
	must(n.t, err)
	kb, err := x509.MarshalECPrivateKey(key)
	must(n.t, err)
	must(n.t, os.WriteFile(n.pki(name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	must(n.t, os.WriteFile(n.pki(name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600))
	return &keyPair{cert, key}
}

// writePKI: one CA for the cluster; client certs by Kubernetes' built-in
// groups (system:masters for the admin, the controllers, CoreDNS and the
// apiserver's kubelet client, which so may exec and read logs;
// system:nodes for kubelet, which the Node authorizer needs), the
// apiserver's serving cert, and the service-account signing key.
func (n *node) writePKI() {
	must(n.t, os.MkdirAll(n.pki(""), 0o700))
	ca := n.issue(nil, "ca", x509.Certificate{
		Subject: pkix.Name{CommonName: "eg15-ca"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	})
	client := func(name, cn string, orgs ...string) {
		n.issue(ca, name, x509.Certificate{
			Subject:     pkix.Name{CommonName: cn, Organization: orgs},
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
	}
	client("admin", "eg15-admin", "system:masters")
	client("apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters")
	client("kubelet", "system:node:"+nodeName, "system:nodes")
	n.issue(ca, "apiserver", x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP(nodeIP), net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")},
	})
	n.issue(ca, "kubelet-serving", x509.Certificate{
		Subject:     pkix.Name{CommonName: nodeName},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{nodeName},
		IPAddresses: []net.IP{net.ParseIP(nodeIP)},
	})
	sa, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(n.t, err)
	kb, err := x509.MarshalECPrivateKey(sa)
	must(n.t, err)
	pub, err := x509.MarshalPKIXPublicKey(&sa.PublicKey)
	must(n.t, err)
	must(n.t, os.WriteFile(n.pki("sa.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600))
	must(n.t, os.WriteFile(n.pki("sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644))

	n.kubeconfig = n.writeKubeconfig("admin")
	n.writeKubeconfig("kubelet")
}

func (n *node) writeKubeconfig(user string) string {
	path := filepath.Join(n.dir, user+".kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: eg15
  cluster:
    server: https://%s:6443
    certificate-authority: %s
users:
- name: %s
  user:
    client-certificate: %s
    client-key: %s
contexts:
- name: eg15
  context: {cluster: eg15, user: %s}
current-context: eg15
`, nodeIP, n.pki("ca.crt"), user, n.pki(user+".crt"), n.pki(user+".key"), user)
	must(n.t, os.WriteFile(path, []byte(kc), 0o600))
	return path
}

// ---- processes -----------------------------------------------------------

// startEtcd: the apiserver's store, the suite's etcd on the node's own
// loopback (no fsync: it holds only this test's objects).
func (n *node) startEtcd() {
	d := filepath.Join(n.dir, "etcd")
	must(n.t, os.MkdirAll(d, 0o700))
	n.run("etcd", nil, etcdBin, "--name", "eg15", "--data-dir", d,
		"--listen-client-urls", "http://127.0.0.1:2379", "--advertise-client-urls", "http://127.0.0.1:2379",
		"--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
		"--initial-cluster", "eg15=http://127.0.0.1:2380", "--unsafe-no-fsync", "--log-level", "warn")
}

func (n *node) containerdSock() string { return filepath.Join(n.dir, "containerd", "containerd.sock") }

func (n *node) startContainerd() {
	d := filepath.Join(n.dir, "containerd")
	cni := filepath.Join(n.dir, "cni")
	must(n.t, os.MkdirAll(d, 0o700))
	must(n.t, os.MkdirAll(cni, 0o755))
	// The CNI network: a bridge (made by startHolder with the node's IP, the
	// pods' gateway) and host-local addresses; no masquerade, no uplink.
	must(n.t, os.WriteFile(filepath.Join(cni, "10-eg15.conflist"), []byte(fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "eg15",
  "plugins": [
    {"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": false,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "%s.0/24", "rangeStart": "%s.10", "rangeEnd": "%s.250", "gateway": %q}]]}},
    {"type": "loopback"}
  ]
}
`, nodeBridge, nodeNet, nodeNet, nodeNet, nodeIP)), 0o644))
	conf := filepath.Join(d, "config.toml")
	must(n.t, os.WriteFile(conf, []byte(fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.tracing"]
[grpc]
  address = %q
[plugins."io.containerd.internal.v1.opt"]
  path = %q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  # Root here lacks CAP_SYS_RESOURCE: without this runc cannot set a
  # sandbox's oom_score_adj below containerd's own and every sandbox fails.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
`, filepath.Join(d, "root"), filepath.Join(d, "state"), n.containerdSock(), filepath.Join(d, "opt"), pauseImage, cni)), 0o644))
	p := n.run("containerd", nil, "containerd", "--config", conf)
	eventually(n.t, 30*time.Second, "containerd", func() error {
		if p.exited() {
			n.t.Fatalf("containerd exited:\n%s", tail(p.log, 20))
		}
		_, err := n.sh(10*time.Second, "ctr", "--address", n.containerdSock(), "version")
		return err
	})
}

// importImages writes the images as docker-archive tars and imports them
// into containerd's k8s.io namespace: no registry is involved.
func (n *node) importImages() {
	d := filepath.Join(n.dir, "images")
	must(n.t, os.MkdirAll(d, 0o755))
	etcdFiles := map[string]string{}
	for _, tool := range []string{"etcd", "etcdctl", "etcdutl"} {
		src := etcdTool(etcdVersion, tool)
		etcdFiles["usr/local/bin/"+tool] = src
		for _, lib := range sharedLibs(n.t, src) {
			etcdFiles[strings.TrimPrefix(lib, "/")] = lib
		}
	}
	images := []struct {
		ref   string
		files map[string]string
		entry []string
	}{
		{pauseImage, map[string]string{"pause": nodeimgBin()}, []string{"/pause"}},
		{chownImage, map[string]string{"bin/chown": nodeimgBin()}, nil},
		{etcdImage(), etcdFiles, []string{"/usr/local/bin/etcd"}},
	}
	for i, im := range images {
		path := filepath.Join(d, fmt.Sprintf("%d.tar", i))
		must(n.t, writeDockerArchive(path, im.ref, im.files, im.entry))
		if out, err := n.sh(2*time.Minute, "ctr", "--address", n.containerdSock(), "-n", "k8s.io", "images", "import", path); err != nil {
			n.t.Fatalf("import %s: %v\n%s", im.ref, err, out)
		}
	}
}

// sharedLibs lists the libraries (and the loader) a dynamically linked
// program needs, as ldd prints them; none for a static one.
func sharedLibs(t *testing.T, prog string) []string {
	out, _ := exec.Command("ldd", prog).CombinedOutput()
	var libs []string
	for _, line := range strings.Split(string(out), "\n") {
		for _, f := range strings.Fields(line) {
			if strings.HasPrefix(f, "/") {
				libs = append(libs, f)
			}
		}
	}
	return libs
}

// writeDockerArchive writes a one-layer image as `docker save` would:
// manifest.json, the config JSON and the layer tar, named by digest.
// files maps a path in the image to a file on this machine.
func writeDockerArchive(path, ref string, files map[string]string, entrypoint []string) error {
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	dirs := map[string]bool{}
	mtime := time.Unix(0, 0)
	for _, name := range names {
		for d := filepath.Dir(name); d != "."; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	dl := make([]string, 0, len(dirs))
	for d := range dirs {
		dl = append(dl, d)
	}
	sort.Strings(dl)
	for _, d := range dl {
		if err := tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime}); err != nil {
			return err
		}
	}
	for _, name := range names {
		b, err := os.ReadFile(files[name])
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(b)), ModTime: mtime}); err != nil {
			return err
		}
		if _, err := tw.Write(b); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	layerSum := sha256.Sum256(layer.Bytes())
	layerID := hex.EncodeToString(layerSum[:])
	cfg := map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Env": []string{"PATH=/usr/local/bin:/usr/bin:/bin"}, "Entrypoint": entrypoint},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + layerID}},
	}
	cb, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	cfgSum := sha256.Sum256(cb)
	cfgName := hex.EncodeToString(cfgSum[:]) + ".json"
	mb, err := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{ref}, "Layers": []string{layerID + "/layer.tar"}}})
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	ow := tar.NewWriter(f)
	for _, e := range []struct {
		name string
		b    []byte
	}{{cfgName, cb}, {layerID + "/layer.tar", layer.Bytes()}, {"manifest.json", mb}} {
		if err := ow.WriteHeader(&tar.Header{Name: e.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(e.b)), ModTime: mtime}); err != nil {
			return err
		}
		if _, err := ow.Write(e.b); err != nil {
			return err
		}
	}
	if err := ow.Close(); err != nil {
		return err
	}
	return f.Close()
}

func (n *node) startControlPlane() {
	kn := kubenodeBin()
	n.run("kube-apiserver", nil, kn, "kube-apiserver",
		"--etcd-servers=http://127.0.0.1:2379",
		"--bind-address=0.0.0.0", "--advertise-address="+nodeIP, "--secure-port=6443",
		"--tls-cert-file="+n.pki("apiserver.crt"), "--tls-private-key-file="+n.pki("apiserver.key"),
		"--client-ca-file="+n.pki("ca.crt"),
		"--kubelet-client-certificate="+n.pki("apiserver-kubelet-client.crt"),
		"--kubelet-client-key="+n.pki("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority="+n.pki("ca.crt"),
		"--kubelet-preferred-address-types=InternalIP",
		"--service-account-key-file="+n.pki("sa.pub"), "--service-account-signing-key-file="+n.pki("sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range=10.96.0.0/24",
		"--authorization-mode=Node,RBAC", "--allow-privileged=true",
		"--enable-priority-and-fairness=false", "--profiling=false", "--v=1")
	n.wait(nodeTimeout, "kube-apiserver ready", func() error {
		n.failIfExited()
		return n.kc.apiReady()
	})
	n.run("kube-controller-manager", nil, kn, "kube-controller-manager",
		"--kubeconfig="+n.kubeconfig, "--leader-elect=false", "--bind-address=127.0.0.1",
		"--service-account-private-key-file="+n.pki("sa.key"), "--root-ca-file="+n.pki("ca.crt"),
		"--profiling=false", "--v=1")
	n.run("kube-scheduler", nil, kn, "kube-scheduler",
		"--kubeconfig="+n.kubeconfig, "--leader-elect=false", "--bind-address=127.0.0.1", "--profiling=false", "--v=1")
}

// startCoreDNS serves cluster.local on the bridge address, the pods'
// nameserver (kubelet's clusterDNS). No cache: a name asked for before the
// headless Service's records exist must not stay unknown.
func (n *node) startCoreDNS() {
	conf := filepath.Join(n.dir, "Corefile")
	must(n.t, os.WriteFile(conf, []byte(fmt.Sprintf(`cluster.local:53 {
    bind %s
    ready 127.0.0.1:8181
    errors
    kubernetes cluster.local {
        kubeconfig %s eg15
        ttl 0
    }
}
`, nodeIP, n.kubeconfig)), 0o644))
	n.run("coredns", nil, corednsBin(), "-conf", conf)
}

func (n *node) startKubelet() {
	d := filepath.Join(n.dir, "kubelet")
	must(n.t, os.MkdirAll(d, 0o700))
	conf := filepath.Join(n.dir, "kubelet.yaml")
	must(n.t, os.WriteFile(conf, []byte(fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine's cgroups are v1: kubelet refuses them unless told.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /%s
containerRuntimeEndpoint: unix://%s
address: %s
readOnlyPort: 0
tlsCertFile: %s
tlsPrivateKeyFile: %s
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %s}
authorization: {mode: Webhook}
clusterDNS: [%s]
clusterDomain: cluster.local
resolvConf: ""
failSwapOn: false
# A loaded shared disk must not evict the test's pods.
evictionHard: {memory.available: "100Mi", nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
nodeStatusUpdateFrequency: 4s
`, nodeCgroup, n.containerdSock(), nodeIP, n.pki("kubelet-serving.crt"), n.pki("kubelet-serving.key"), n.pki("ca.crt"), nodeIP)), 0o644))
	n.run("kubelet", nil, kubenodeBin(), "kubelet",
		"--config="+conf, "--kubeconfig="+filepath.Join(n.dir, "kubelet.kubeconfig"),
		"--root-dir="+d, "--cert-dir="+filepath.Join(d, "pki"),
		"--hostname-override="+nodeName, "--node-ip="+nodeIP, "--v=1")
}

// stopProc stops a node process (SIGTERM by PID, SIGKILL after 10 s): at
// the end, or when a subtest no longer needs it (it would cost the shared
// machine CPU for nothing).
func (n *node) stopProc(p *nodeProc) {
	p.stopped = true
	if p.exited() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func (n *node) failIfExited() {
	n.t.Helper()
	for _, p := range n.procs {
		if !p.stopped && p.exited() {
			n.t.Fatalf("%s exited:\n%s", p.name, tail(p.log, 30))
		}
	}
}

func (n *node) waitReady() {
	n.wait(nodeTimeout, "node Ready", func() error {
		n.failIfExited()
		out, err := n.kc.nodeReady(nodeName)
		if err != nil {
			return err
		}
		if out != "True" {
			return fmt.Errorf("Ready=%q", out)
		}
		return nil
	})
	// CoreDNS prints its banner once the kubernetes plugin has synced
	// with the apiserver (or given up waiting, after 5s).
	n.wait(time.Minute, "CoreDNS started", func() error {
		n.failIfExited()
		if b, _ := os.ReadFile(filepath.Join(n.dir, "coredns.log")); !bytes.Contains(b, []byte("CoreDNS-")) {
			return fmt.Errorf("no banner yet")
		}
		return nil
	})
}

// wait retries f every second until it succeeds or d has passed (kubectl
// is a process: polling it faster costs the shared machine for nothing).
func (n *node) wait(d time.Duration, what string, f func() error) {
	n.t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("%s: not within %v: %v", what, d, err)
		}
		time.Sleep(time.Second)
	}
}

// storage makes the test's StorageClass (no provisioner: the test makes
// the volumes) and count PersistentVolumes of it, local or hostPath, each
// a fresh directory.
func (n *node) storage(class, kind string, count int) {
	n.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: %s}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
`, class)
	for i := range count {
		path := filepath.Join(n.dir, "pv", fmt.Sprintf("%s-%d", class, i))
		must(n.t, os.MkdirAll(path, 0o755))
		var source string
		switch kind {
		case "local":
			source = fmt.Sprintf("local: {path: %q}\n  nodeAffinity:\n    required:\n      nodeSelectorTerms:\n      - matchExpressions:\n        - {key: kubernetes.io/hostname, operator: In, values: [%s]}", path, nodeName)
		case "hostPath":
			source = fmt.Sprintf("hostPath: {path: %q, type: Directory}", path)
		default:
			n.t.Fatalf("volume kind %q", kind)
		}
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: PersistentVolume
metadata: {name: %s-%d}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: %s
  %s
`, class, i, class, source)
	}
	f := filepath.Join(n.dir, class+".yaml")
	must(n.t, os.WriteFile(f, []byte(b.String()), 0o644))
	n.mustKubectl("apply", "-f", f)
}

// stop tears everything down: the node's processes by PID (SIGTERM, then
// SIGKILL), what is left in its cgroups (containerd's shims, the
// containers) by PID, the cgroups, the holder (and with it the namespaces
// and every mount in them), then the directories.
func (n *node) stop() {
	t := n.t
	if n.apiForward != nil {
		n.apiForward.Close()
	}
	for i := len(n.procs) - 1; i >= 0; i-- {
		n.stopProc(n.procs[i])
	}
	// The processes' logs are kept, not printed: printed after the
	// failures, they pushed the failures out of the tail of the output CI
	// shows.
	if t.Failed() {
		if keep, err := os.MkdirTemp("", "eg15-node-logs-"); err == nil {
			logs, _ := filepath.Glob(filepath.Join(n.dir, "*.log"))
			for _, l := range logs {
				if b, err := os.ReadFile(l); err == nil {
					os.WriteFile(filepath.Join(keep, filepath.Base(l)), b, 0o644)
				}
			}
			t.Logf("node: the logs of its processes are in %s", keep)
		}
	}
	// Everything still in the node's cgroups: shims and containers.
	for round := 0; round < 50; round++ {
		pids := cgroupPids(pidsCgroup())
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			if n.holder != nil && n.holder.Process != nil && pid == n.holder.Process.Pid {
				continue
			}
			syscall.Kill(pid, syscall.SIGKILL)
		}
		if len(pids) == 1 && n.holder != nil && n.holder.Process != nil && pids[0] == n.holder.Process.Pid {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n.holder != nil && n.holder.Process != nil {
		n.holder.Process.Kill()
		n.holder.Wait()
	}
	if left := cgroupPids(pidsCgroup()); len(left) > 0 {
		t.Errorf("processes left in the node's cgroup: %v", left)
	}
	for _, h := range cgroupHierarchies(t) {
		removeCgroupTree(t, filepath.Join(h, nodeCgroup))
	}
	// The node's mounts were in its own mount namespace: none may be here.
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil && bytes.Contains(b, []byte(n.dir)) {
		t.Errorf("mounts of the node left in this mount namespace:\n%s", grepLines(string(b), n.dir))
	}
	// Nor may kubelet's chains be in this network namespace.
	if out, err := exec.Command("iptables-save").Output(); err == nil && bytes.Contains(out, []byte(nodeBridge)) {
		t.Errorf("iptables rules of the node's bridge left here:\n%s", grepLines(string(out), nodeBridge))
	}
	for _, d := range n.madeDirs {
		os.Remove(d)
	}
	if !t.Failed() || os.Getenv("ETCDGEN_E2E_KEEP") == "" {
		os.RemoveAll(n.dir)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// cgroupPids lists the processes in a cgroup and its descendants.
func cgroupPids(root string) []int {
	var pids []int
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || info.Name() != "cgroup.procs" {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids
}

// removeCgroupTree removes a cgroup directory and its children, deepest
// first (a cgroup directory is removed with rmdir, its files with it).
func removeCgroupTree(t *testing.T, root string) {
	var dirs []string
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		var err error
		for try := 0; try < 20; try++ {
			if err = syscall.Rmdir(dirs[i]); err == nil || os.IsNotExist(err) {
				err = nil
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Errorf("cgroup %s: %v", dirs[i], err)
		}
	}
}
