package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The binaries under test. TestMain builds etcdgen from the repository root
// (make passes -etcdgen instead: one build for all of its passes);
// etcd, etcdctl and etcdutl of each tested version come from
// bin/etcd-v<version>/ (make builds each once from etcd/v<minor>/go.mod,
// cached on its go.mod and go.sum). etcdBin and etcdctlBin are those of
// etcdVersion, the version this run tests (-etcd, default the newest).
var (
	etcdgenBin  string
	etcdBin     string
	etcdctlBin  string
	etcdVersion string
)

var (
	binDir   = flag.String("bin", "bin", "directory holding bin/etcd-v<version>/{etcd,etcdctl,etcdutl}, kubeadm and helm")
	etcdFlag = flag.String("etcd", "", "etcd version this run tests (one of etcd/v*/go.mod); default the newest")
	// Each pass building its own etcdgen linked it once per pass, all at
	// the same moment: a link of 3 CPU-s on a quiet machine, times nine.
	etcdgenFlag = flag.String("etcdgen", "", "etcdgen binary under test; default: built from the repository root into a temporary directory")
)

// testedEtcdVersions lists the etcd releases the suite builds, newest
// first: the server version pinned by each etcd/v<minor>/go.mod, the same
// files render/etcdflags reads its flag table from.
func testedEtcdVersions() ([]string, error) {
	mods, err := filepath.Glob("etcd/v*/go.mod")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, mod := range mods {
		b, err := os.ReadFile(mod)
		if err != nil {
			return nil, err
		}
		i := bytes.Index(b, []byte("go.etcd.io/etcd/server/v3 v"))
		if i < 0 {
			return nil, fmt.Errorf("%s: no go.etcd.io/etcd/server/v3 requirement", mod)
		}
		v := strings.Fields(string(b[i:]))[1]
		out = append(out, strings.TrimPrefix(v, "v"))
	}
	slices.SortFunc(out, func(a, b string) int { return compareVersions(b, a) })
	return out, nil
}

func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range min(len(pa), len(pb)) {
		x, _ := strconv.Atoi(pa[i])
		y, _ := strconv.Atoi(pb[i])
		if x != y {
			return x - y
		}
	}
	return len(pa) - len(pb)
}

// etcdTool is the path of tool ("etcd", "etcdctl" or "etcdutl") of an etcd
// version the suite builds.
func etcdTool(version, tool string) string {
	abs, err := filepath.Abs(*binDir)
	if err != nil {
		panic(err)
	}
	return filepath.Join(abs, "etcd-v"+version, tool)
}

// Environment of the mount helper (see TestMain): a member's process runs in
// its own mount namespace where its tree's TLS dir and its own data dir are
// bind-mounted at the paths the env file names, as on its own host; then it
// execs etcd with exactly the environment of the generated env file.
const (
	helperEnv  = "ETCDGEN_E2E_HELPER" // JSON helperSpec
	helperMode = "mount-exec"
)

type helperSpec struct {
	PidFile string      // written with the helper's PID (etcd's, after exec) when set
	Binds   [][2]string // source, target
	EnvFile string      // read as systemd's EnvironmentFile= does
	Argv    []string
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(helperEnv); spec != "" {
		os.Exit(mountExec(spec))
	}
	if spec := os.Getenv(spawnEnv); spec != "" {
		os.Exit(spawnMember(spec))
	}
	flag.Parse()
	code, err := setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		os.Exit(1)
	}
	if *etcdgenFlag == "" {
		defer os.RemoveAll(filepath.Dir(etcdgenBin))
	}
	if code >= 0 {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func setup() (int, error) {
	if *etcdgenFlag != "" {
		abs, err := filepath.Abs(*etcdgenFlag)
		if err != nil {
			return 0, err
		}
		if _, err := os.Stat(abs); err != nil {
			return 0, fmt.Errorf("-etcdgen: %v", err)
		}
		etcdgenBin = abs
	} else {
		dir, err := os.MkdirTemp("", "etcdgen-e2e-bin-")
		if err != nil {
			return 0, err
		}
		etcdgenBin = filepath.Join(dir, "etcdgen")
		build := exec.Command("go", "build", "-o", etcdgenBin, "./cmd/etcdgen")
		build.Dir = ".."
		if out, err := build.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("go build ./cmd/etcdgen: %v\n%s", err, out)
		}
	}
	versions, err := testedEtcdVersions()
	if err != nil || len(versions) == 0 {
		return 0, fmt.Errorf("tested etcd versions: %v", err)
	}
	etcdVersion = versions[0]
	if *etcdFlag != "" {
		if !slices.Contains(versions, *etcdFlag) {
			return 0, fmt.Errorf("-etcd %s: want one of %v (etcd/v*/go.mod)", *etcdFlag, versions)
		}
		etcdVersion = *etcdFlag
	}
	fmt.Fprintf(os.Stderr, "e2e: etcd %s (tested: %s)\n", etcdVersion, strings.Join(versions, ", "))
	etcdBin = etcdTool(etcdVersion, "etcd")
	etcdctlBin = etcdTool(etcdVersion, "etcdctl")
	for _, v := range versions {
		for _, tool := range []string{"etcd", "etcdctl", "etcdutl"} {
			if _, err := os.Stat(etcdTool(v, tool)); err != nil {
				return 0, fmt.Errorf("%v (run `make -C e2e bin` first)", err)
			}
		}
	}
	return -1, claimLoopbackNet()
}

// mountExec is the helper process: already in a new mount namespace (the
// parent set CLONE_NEWNS; Go makes / private first), it bind-mounts, reads
// the env file and replaces itself with the program, keeping its PID.
func mountExec(raw string) int {
	var h helperSpec
	if err := json.Unmarshal([]byte(raw), &h); err != nil {
		fmt.Fprintln(os.Stderr, "mount-exec:", err)
		return 111
	}
	for _, b := range h.Binds {
		if err := syscall.Mount(b[0], b[1], "", syscall.MS_BIND, ""); err != nil {
			fmt.Fprintf(os.Stderr, "mount-exec: bind %s on %s: %v\n", b[0], b[1], err)
			return 111
		}
	}
	if h.PidFile != "" {
		if err := os.WriteFile(h.PidFile, []byte(fmt.Sprintln(os.Getpid())), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "mount-exec:", err)
			return 111
		}
	}
	vars, err := readEnvFile(h.EnvFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mount-exec:", err)
		return 111
	}
	err = syscall.Exec(h.Argv[0], h.Argv, environ(vars))
	fmt.Fprintln(os.Stderr, "mount-exec: exec:", err)
	return 111
}

// spec is what a test varies in the cluster spec; everything else is
// etcdgen's default.
type spec struct {
	Members []string // names; addresses are 127.0.0.11, .12, ...
	Port    int      // client port; peer = Port+1, metrics = Port+2, client HTTP = Port+3
	TLS     bool
	Extra   string // more CUE fields
}

// cluster is one rendered spec and the members started from it.
type cluster struct {
	t   *testing.T
	dir string // per-test temp dir; the spec's dataDir and tls.dir live here
	out string // etcdgen render --out
	pki string // etcdgen certs --out ("" with TLS off)

	dataDir, tlsDir string // the host paths named in the env files
	members         []*member
	tls             bool
}

type member struct {
	c       *cluster
	name    string
	ip      string
	client  string // client URL
	metrics string // metrics URL
	tree    string // out/<name>: the member's host filesystem
	envFile string // tree/etc/etcd/etcd.conf, the generated env file
	tlsSrc  string // what is mounted at the spec's tls.dir
	data    string // what is mounted at the spec's dataDir
	log     string

	cmd  *exec.Cmd
	done chan struct{}
}

// Members live on 127.0.<net>.11, .12, ... (the whole of 127/8 is loopback
// on Linux). net is claimed per run by holding a listener on
// 127.0.<net>.1:21000, so two runs on one machine (CI, a developer's
// `make test`) never share an address; each test has its own ports.
var (
	loopNet  int
	loopLock net.Listener
)

func claimLoopbackNet() error {
	start := os.Getpid() % 250
	for i := range 250 {
		n := (start+i)%250 + 1
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.%d.1:21000", n))
		if err == nil {
			loopNet, loopLock = n, l
			return nil
		}
	}
	return errors.New("no free 127.0.N.0/24 for the members")
}

func memberIP(i int) string { return fmt.Sprintf("127.0.%d.%d", loopNet, 11+i) }

// newCluster writes the spec, renders it with etcdgen (certs first with TLS
// on) and prepares each member's directories. Nothing is started.
func newCluster(t *testing.T, s spec) *cluster {
	t.Helper()
	return newClusterIn(t, t.TempDir(), s)
}

// newClusterIn is newCluster in a given per-test dir (the spec may name
// paths in it).
func newClusterIn(t *testing.T, dir string, s spec) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: dir, out: filepath.Join(dir, "out"), tls: s.TLS,
		dataDir: filepath.Join(dir, "var/lib/etcd"), tlsDir: filepath.Join(dir, "etc/etcd/pki")}
	var b strings.Builder
	fmt.Fprintf(&b, "version: %q\n", etcdVersion)
	fmt.Fprintf(&b, "name: %q\n", "e2e-"+strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())))
	fmt.Fprintf(&b, "listenLocalhost: false\n")
	fmt.Fprintf(&b, "dataDir: %q\n", c.dataDir)
	fmt.Fprintf(&b, "tls: {enabled: %v, dir: %q}\n", s.TLS, c.tlsDir)
	fmt.Fprintf(&b, "ports: {client: %d, peer: %d, metrics: %d, clientHTTP: %d}\n", s.Port, s.Port+1, s.Port+2, s.Port+3)
	b.WriteString("members: [\n")
	for i, n := range s.Members {
		fmt.Fprintf(&b, "\t{name: %q, ip: %q},\n", n, memberIP(i))
	}
	b.WriteString("]\n")
	b.WriteString(s.Extra)
	specFile := filepath.Join(dir, "etcdgen.cue")
	must(t, os.WriteFile(specFile, []byte(b.String()), 0o644))
	for _, d := range []string{c.dataDir, c.tlsDir} {
		must(t, os.MkdirAll(d, 0o700)) // mount points only; each member mounts its own
	}
	args := []string{"render", "--target", "systemd", "--out", c.out}
	if s.TLS {
		c.pki = filepath.Join(dir, "pki")
		c.etcdgen("certs", "--out", c.pki, specFile)
		args = append(args, "--certs", c.pki)
	}
	c.etcdgen(append(args, specFile)...)
	scheme := "http"
	if s.TLS {
		scheme = "https"
	}
	for i, n := range s.Members {
		m := &member{c: c, name: n, ip: memberIP(i),
			client:  fmt.Sprintf("%s://%s:%d", scheme, memberIP(i), s.Port),
			metrics: fmt.Sprintf("http://%s:%d", memberIP(i), s.Port+2),
			tree:    filepath.Join(c.out, n),
			data:    filepath.Join(dir, "hosts", n, "data"),
			log:     filepath.Join(dir, "hosts", n, "etcd.log"),
		}
		m.envFile = filepath.Join(m.tree, "etc/etcd/etcd.conf")
		m.tlsSrc = filepath.Join(m.tree, c.tlsDir) // where render --certs placed them
		must(t, os.MkdirAll(m.data, 0o700))
		if !s.TLS {
			m.tlsSrc = ""
		}
		c.members = append(c.members, m)
	}
	t.Cleanup(c.checkLogs)
	return c
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// etcdgen runs the etcdgen binary in the test dir and returns stdout.
func (c *cluster) etcdgen(args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, etcdgenBin, args...)
	cmd.Dir = c.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		c.t.Fatalf("etcdgen %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// start runs the member's etcd from its generated env file, in its own mount
// namespace. The process is killed by PID when the test ends.
func (m *member) start() {
	t := m.c.t
	t.Helper()
	if m.cmd != nil {
		t.Fatalf("%s: already running", m.name)
	}
	h := helperSpec{EnvFile: m.envFile, Argv: []string{etcdBin}}
	h.Binds = append(h.Binds, [2]string{m.data, m.c.dataDir})
	if m.tlsSrc != "" {
		h.Binds = append(h.Binds, [2]string{m.tlsSrc, m.c.tlsDir})
	}
	raw, err := json.Marshal(h)
	must(t, err)
	self, err := os.Executable()
	must(t, err)
	logf, err := os.OpenFile(m.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	must(t, err)
	defer logf.Close()
	cmd := exec.Command(self)
	cmd.Env = []string{helperEnv + "=" + string(raw)}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Unshareflags: syscall.CLONE_NEWNS,
		Setpgid:      true,
		Pdeathsig:    syscall.SIGKILL, // the test binary dies: so does etcd
	}
	must(t, cmd.Start())
	m.cmd = cmd
	done := make(chan struct{})
	m.done = done
	go func() { cmd.Wait(); close(done) }()
	pid := cmd.Process.Pid
	t.Logf("%s: started etcd, pid %d", m.name, pid)
	t.Cleanup(func() {
		syscall.Kill(pid, syscall.SIGKILL)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("%s: pid %d still running 10s after SIGKILL", m.name, pid)
		}
	})
}

// kill stops the member by PID with SIGKILL, as a crash would, and waits
// for it (bounded).
func (m *member) kill() {
	t := m.c.t
	t.Helper()
	if m.cmd == nil {
		t.Fatalf("%s: not running", m.name)
	}
	pid := m.cmd.Process.Pid
	must(t, syscall.Kill(pid, syscall.SIGKILL))
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: pid %d still running 10s after SIGKILL", m.name, pid)
	}
	t.Logf("%s: killed pid %d", m.name, pid)
	m.cmd = nil
}

func (m *member) running() bool {
	if m.cmd == nil {
		return false
	}
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

func (c *cluster) startAll() {
	for _, m := range c.members {
		m.start()
	}
}

// ctl runs etcdctl with explicit flags and no ETCDCTL_* environment: the
// admin client cert from the bundle when TLS is on.
func (c *cluster) ctl(endpoints []string, args ...string) (string, error) {
	var all []string
	all = append(all, "--endpoints="+strings.Join(endpoints, ","), "--dial-timeout=2s", "--command-timeout=5s")
	if c.tls {
		all = append(all, "--cacert="+filepath.Join(c.pki, "ca.crt"),
			"--cert="+filepath.Join(c.pki, "clients/admin.crt"),
			"--key="+filepath.Join(c.pki, "clients/admin.key"))
	}
	return runCtl(append(all, args...)...)
}

// runCtl runs etcdctl with exactly args, bounded at 20s.
func runCtl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, etcdctlBin, args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), fmt.Errorf("etcdctl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

func (c *cluster) mustCtl(endpoints []string, args ...string) string {
	c.t.Helper()
	out, err := c.ctl(endpoints, args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

func (c *cluster) endpoints(ms ...*member) []string {
	if len(ms) == 0 {
		ms = c.members
	}
	var eps []string
	for _, m := range ms {
		eps = append(eps, m.client)
	}
	return eps
}

// eventually retries f every 200ms until it succeeds or d has passed.
func eventually(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	var err error
	for {
		if err = f(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, d, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitHealthy waits (bounded) until every given member answers
// `endpoint health` itself.
func (c *cluster) waitHealthy(d time.Duration, ms ...*member) {
	c.t.Helper()
	for _, m := range ms {
		eventually(c.t, d, m.name+" healthy", func() error {
			if !m.running() {
				c.t.Fatalf("%s: etcd exited; log:\n%s", m.name, tail(m.log, 20))
			}
			_, err := c.ctl([]string{m.client}, "endpoint", "health")
			return err
		})
	}
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

type memberInfo struct {
	ID         uint64   `json:"ID"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	IsLearner  bool     `json:"isLearner"`
}

func (c *cluster) memberList(ep string) []memberInfo {
	c.t.Helper()
	var res struct{ Members []memberInfo }
	must(c.t, json.Unmarshal([]byte(c.mustCtl([]string{ep}, "member", "list", "-w", "json")), &res))
	return res.Members
}

// leader returns the member that is leader, as the given endpoints see it.
func (c *cluster) leader(ms ...*member) *member {
	c.t.Helper()
	var found *member
	eventually(c.t, 15*time.Second, "a leader", func() error {
		for _, m := range ms {
			out, err := c.ctl([]string{m.client}, "endpoint", "status", "-w", "json")
			if err != nil {
				continue
			}
			var st []struct {
				Status struct {
					Header struct {
						MemberID uint64 `json:"member_id"`
					} `json:"header"`
					Leader uint64 `json:"leader"`
				}
			}
			if err := json.Unmarshal([]byte(out), &st); err != nil || len(st) != 1 {
				continue
			}
			if st[0].Status.Leader != 0 && st[0].Status.Leader == st[0].Status.Header.MemberID {
				found = m
				return nil
			}
		}
		return errors.New("no member says it leads")
	})
	return found
}

// checkLogs fails the test when etcd warned about an ETCD_* variable it does
// not know (etcd only warns and goes on: a misspelt or removed variable
// would otherwise be silently ignored) or refused one, called anything
// deprecated, or logged any warning while reading its configuration.
func (c *cluster) checkLogs() {
	for _, m := range c.members {
		b, err := os.ReadFile(m.log)
		if err != nil {
			continue // never started
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "unrecognized environment variable") ||
				strings.Contains(line, "invalid value") ||
				strings.Contains(line, "conflicting environment variable") ||
				strings.Contains(line, "deprecated") ||
				configWarning(line) {
				c.t.Errorf("%s: etcd on the generated env file: %s", m.name, line)
			}
		}
	}
}

// configWarning reports a warn-level (or worse) line logged by etcd's
// configuration code: flag and env parsing (pkg/flags), etcdmain, and
// embed/config.go (e.g. "Running http and grpc server on single port"); not
// embed/config_logging.go, which logs connections refused at run time.
func configWarning(line string) bool {
	var e struct{ Level, Caller string }
	if json.Unmarshal([]byte(line), &e) != nil || e.Level == "info" || e.Level == "debug" || e.Level == "" {
		return false
	}
	for _, p := range []string{"flags/", "etcdmain/", "embed/config.go:"} {
		if strings.HasPrefix(e.Caller, p) {
			return true
		}
	}
	return false
}

// usedEnv returns the ETCD_* variables etcd logged as recognized and used.
func usedEnv(log string) map[string]bool {
	b, _ := os.ReadFile(log)
	used := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, "recognized and used environment variable") {
			continue
		}
		var e struct {
			Name string `json:"variable-name"`
		}
		if json.Unmarshal([]byte(line), &e) == nil && e.Name != "" {
			used[e.Name] = true
		}
	}
	return used
}
