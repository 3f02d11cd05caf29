package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Plans are proven by their own plan.sh on real etcd: the test renders
// specs and plans with etcdgen, and runs only plan.sh, with hooks
// (ETCDGEN_HOOKS) that install a step's tree into a member's "host"
// directory and start and stop the member as a process on loopback, in its
// own mount namespace, from the env file the tree holds.

// spawnEnv makes the test binary a spawner: it starts one member's etcd
// (through the mount-exec helper, in a new mount namespace), writes its
// PID and exits, leaving etcd running for the hooks to stop by PID.
const spawnEnv = "ETCDGEN_E2E_SPAWN"

type spawnSpec struct {
	Helper  helperSpec
	Bins    map[string]string // etcd version -> binary
	Version string            // file holding the version the member runs
	Log     string
	PidFile string
}

func spawnMember(raw string) int {
	var s spawnSpec
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		fmt.Fprintln(os.Stderr, "spawn:", err)
		return 1
	}
	v, err := os.ReadFile(s.Version)
	if err != nil {
		fmt.Fprintln(os.Stderr, "spawn: the member has no installed version:", err)
		return 1
	}
	bin, ok := s.Bins[strings.TrimSpace(string(v))]
	if !ok {
		fmt.Fprintf(os.Stderr, "spawn: no etcd %s here\n", v)
		return 1
	}
	s.Helper.Argv = []string{bin}
	s.Helper.PidFile = s.PidFile
	os.Remove(s.PidFile)
	h, err := json.Marshal(s.Helper)
	if err != nil {
		fmt.Fprintln(os.Stderr, "spawn:", err)
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "spawn:", err)
		return 1
	}
	logf, err := os.OpenFile(s.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "spawn:", err)
		return 1
	}
	cmd := exec.Command(self)
	cmd.Env = []string{helperEnv + "=" + string(h)}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "spawn:", err)
		return 1
	}
	// The helper writes its PID (etcd's after exec) itself: a kill of
	// this spawner cannot leave an etcd nobody knows.
	for range 100 {
		if b, err := os.ReadFile(s.PidFile); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(cmd.Process.Pid) {
			return 0
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Fprintln(os.Stderr, "spawn: the helper wrote no PID file")
	return 1
}

// planHooks are the five hooks for the test's hosts: $EG14_HOSTS/<member>/
// holds root/ (the installed tree), data/ (mounted at the spec's dataDir),
// version, pid and hooks.log lines the test reads.
const planHooks = `
_h() { printf '%s\n' "$EG14_HOSTS/$1"; }
# A process that is gone or a zombie is not running. One read of its
# stat: between a check that the file exists and a read of it the zombie
# may be reaped, and an empty state must not count as running.
_running() {
	local pid st
	pid=$(cat "$(_h "$1")/pid" 2>/dev/null) || return 1
	st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
	[[ -n $st && $st != Z ]]
}
etcdgen_install() {
	echo "install $1 $3" >>"$EG14_HOSTS/hooks.log"
	mkdir -p "$(_h "$1")/root"
	cp -a "$2/." "$(_h "$1")/root/"
	echo "$3" >"$(_h "$1")/version"
}
etcdgen_start() {
	_running "$1" && return 0
	echo "start $1" >>"$EG14_HOSTS/hooks.log"
	ETCDGEN_E2E_SPAWN=$(cat "$(_h "$1")/spawn.json") "$EG14_TESTBIN"
}
etcdgen_stop() {
	_running "$1" || return 0
	echo "stop $1" >>"$EG14_HOSTS/hooks.log"
	local pid i
	pid=$(cat "$(_h "$1")/pid")
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		_running "$1" || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}
etcdgen_wipe() {
	if [[ -n $(ls -A "$(_h "$1")/data") ]]; then
		echo "wipe $1" >>"$EG14_HOSTS/hooks.log"
		find "$(_h "$1")/data" -mindepth 1 -delete
	fi
}
# The restore hook: etcdutl from PATH, into the host's data dir (mounted
# at the spec's dataDir when the member runs).
etcdgen_restore() {
	local member=$1 snap=$2 a
	shift 2
	local -a args=()
	for a in "$@"; do
		case $a in
		--data-dir=*) args+=(--data-dir="$(_h "$member")/data") ;;
		*) args+=("$a") ;;
		esac
	done
	echo "restore $member $*" >>"$EG14_HOSTS/hooks.log"
	etcdutl snapshot restore "$snap" "${args[@]}" >>"$(_h "$member")/restore.log" 2>&1
}
`

// planLab is the test's world: specs, hosts, and plan.sh runs.
type planLab struct {
	t                        *testing.T
	dir, hosts, pki          string
	dataDir, tlsDir          string
	port                     int
	ips                      map[string]string // member -> address
	clientURL                map[string]string
	ctlArgs                  []string
	pidsMu                   sync.Mutex
	specN                    int
	hooksFile, etcdctlInPath string
	version                  string // etcd version of the next spec (default: the run's)
}

func newPlanLab(t *testing.T, port int) *planLab {
	dir := t.TempDir()
	l := &planLab{t: t, dir: dir, hosts: filepath.Join(dir, "hosts"), pki: filepath.Join(dir, "pki"),
		dataDir: filepath.Join(dir, "var/lib/etcd"), tlsDir: filepath.Join(dir, "etc/etcd/pki"),
		port: port, ips: map[string]string{}, clientURL: map[string]string{}, version: etcdVersion}
	for _, d := range []string{l.dataDir, l.tlsDir, l.hosts} {
		must(t, os.MkdirAll(d, 0o700))
	}
	l.hooksFile = filepath.Join(dir, "hooks.sh")
	must(t, os.WriteFile(l.hooksFile, []byte(planHooks), 0o644))
	l.ctlArgs = []string{"--cacert=" + filepath.Join(l.pki, "ca.crt"),
		"--cert=" + filepath.Join(l.pki, "clients/admin.crt"), "--key=" + filepath.Join(l.pki, "clients/admin.key")}
	t.Cleanup(l.killAll)
	return l
}

// host prepares a member's host directory (once).
func (l *planLab) host(name string, i int) {
	if _, ok := l.ips[name]; ok {
		return
	}
	l.ips[name] = memberIP(i)
	l.clientURL[name] = fmt.Sprintf("https://%s:%d", memberIP(i), l.port)
	h := filepath.Join(l.hosts, name)
	must(l.t, os.MkdirAll(filepath.Join(h, "data"), 0o700))
	must(l.t, os.MkdirAll(filepath.Join(h, "root"), 0o755))
	s := spawnSpec{
		Helper: helperSpec{
			Binds:   [][2]string{{filepath.Join(h, "data"), l.dataDir}, {filepath.Join(h, "root", l.tlsDir), l.tlsDir}},
			EnvFile: filepath.Join(h, "root/etc/etcd/etcd.conf"),
		},
		Bins:    planBins(),
		Version: filepath.Join(h, "version"),
		Log:     filepath.Join(h, "etcd.log"),
		PidFile: filepath.Join(h, "pid"),
	}
	raw, err := json.Marshal(s)
	must(l.t, err)
	must(l.t, os.WriteFile(filepath.Join(h, "spawn.json"), raw, 0o644))
}

// planBins maps every etcd version the suite builds to its etcd binary,
// for the spawner (a plan installs a member at the version of its step).
func planBins() map[string]string {
	vs, err := testedEtcdVersions()
	if err != nil {
		panic(err)
	}
	bins := map[string]string{}
	for _, v := range vs {
		bins[v] = etcdTool(v, "etcd")
	}
	return bins
}

// spec writes a spec with these members (name -> index of its address)
// and the bundle's certificates for them; it returns the spec's path.
func (l *planLab) spec(members []string, idx map[string]int, extra map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %q\nversion: %q\nlistenLocalhost: false\ndataDir: %q\n", "e2e-plan", l.version, l.dataDir)
	fmt.Fprintf(&b, "tls: {dir: %q}\nports: {client: %d, peer: %d, metrics: %d, clientHTTP: %d}\nmembers: [\n", l.tlsDir, l.port, l.port+1, l.port+2, l.port+3)
	for _, n := range members {
		l.host(n, idx[n])
		fmt.Fprintf(&b, "\t{name: %q, ip: %q%s},\n", n, l.ips[n], extra[n])
	}
	b.WriteString("]\n")
	l.specN++
	p := filepath.Join(l.dir, fmt.Sprintf("spec%d.cue", l.specN))
	must(l.t, os.WriteFile(p, []byte(b.String()), 0o644))
	l.etcdgen("certs", "--out", l.pki, p)
	return p
}

func (l *planLab) etcdgen(args ...string) string {
	l.t.Helper()
	c := &cluster{t: l.t, dir: l.dir}
	return c.etcdgen(args...)
}

// plan renders a plan into a new directory and returns it.
func (l *planLab) plan(name string, args ...string) string {
	out := filepath.Join(l.dir, name)
	l.t.Logf("etcdgen plan %s:\n%s", strings.Join(args, " "), l.etcdgen(append([]string{"plan", "--certs", l.pki, "--out", out}, args...)...))
	return out
}

// planCmd is plan.sh with the test hooks, etcdctl and etcdutl from PATH.
func (l *planLab) planCmd(ctx context.Context, plan string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(plan, "plan.sh"), args...)
	cmd.Env = []string{
		"PATH=" + filepath.Dir(etcdctlBin) + ":/usr/bin:/bin",
		"ETCDGEN_HOOKS=" + l.hooksFile,
		"EG14_HOSTS=" + l.hosts,
		"EG14_TESTBIN=" + mustExecutable(l.t),
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

func mustExecutable(t *testing.T) string {
	self, err := os.Executable()
	must(t, err)
	return self
}

// run runs plan.sh to the end (bounded) and returns its output.
func (l *planLab) run(plan string, args ...string) string {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := l.planCmd(ctx, plan, args...)
	out, err := cmd.CombinedOutput()
	l.t.Logf("plan.sh %s:\n%s", strings.Join(args, " "), out)
	if err != nil {
		l.dumpLogs()
		l.t.Fatalf("%s/plan.sh %s: %v", plan, strings.Join(args, " "), err)
	}
	return string(out)
}

// runKilled starts plan.sh and SIGKILLs its process group a random time
// after the start of a random step: the step is cut anywhere.
func (l *planLab) runKilled(plan string, steps int) {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := l.planCmd(ctx, plan)
	stdout, err := cmd.StdoutPipe()
	must(l.t, err)
	cmd.Stderr = cmd.Stdout
	must(l.t, cmd.Start())
	k := 1 + rand.IntN(steps)
	delay := time.Duration(rand.IntN(4000)) * time.Millisecond
	l.t.Logf("plan.sh is killed %v after the start of step %d", delay, k)
	sc := bufio.NewScanner(stdout)
	n := 0
	var killed bool
	for sc.Scan() {
		l.t.Logf("plan.sh: %s", sc.Text())
		if strings.HasPrefix(sc.Text(), "==> ") {
			n++
			if n == k && !killed {
				killed = true
				time.AfterFunc(delay, func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
			}
		}
	}
	err = cmd.Wait()
	l.t.Logf("plan.sh ended: %v", err)
}

func (l *planLab) hookCalls() []string {
	b, _ := os.ReadFile(filepath.Join(l.hosts, "hooks.log"))
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// killAll stops every member a hook started, by the PIDs they wrote.
func (l *planLab) killAll() {
	for n := range l.ips {
		b, err := os.ReadFile(filepath.Join(l.hosts, n, "pid"))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
			for i := 0; i < 100 && !zombie(pid); i++ {
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
}

func (l *planLab) dumpLogs() {
	for n := range l.ips {
		l.t.Logf("%s log:\n%s", n, tail(filepath.Join(l.hosts, n, "etcd.log"), 15))
	}
}

func (l *planLab) ctl(eps []string, args ...string) (string, error) {
	all := append([]string{"--endpoints=" + strings.Join(eps, ","), "--dial-timeout=2s", "--command-timeout=10s"}, l.ctlArgs...)
	return runCtl(append(all, args...)...)
}

func (l *planLab) urls(names ...string) []string {
	var u []string
	for _, n := range names {
		u = append(u, l.clientURL[n])
	}
	return u
}

// members returns name -> (ID, learner) from the live cluster.
func (l *planLab) members(eps []string) map[string]memberInfo {
	l.t.Helper()
	out, err := l.ctl(eps, "member", "list", "-w", "json")
	must(l.t, err)
	var res struct{ Members []memberInfo }
	must(l.t, json.Unmarshal([]byte(out), &res))
	m := map[string]memberInfo{}
	for _, mi := range res.Members {
		m[mi.Name] = mi
	}
	return m
}

// leader returns the name of the member that leads.
func (l *planLab) leader(names ...string) string {
	l.t.Helper()
	var who string
	eventually(l.t, 20*time.Second, "a leader", func() error {
		for _, n := range names {
			out, err := l.ctl(l.urls(n), "endpoint", "status", "-w", "json")
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
			if json.Unmarshal([]byte(out), &st) == nil && len(st) == 1 && st[0].Status.Leader == st[0].Status.Header.MemberID {
				who = n
				return nil
			}
		}
		return fmt.Errorf("none of %v leads", names)
	})
	return who
}

// client is one etcd client for the admin identity etcdctl uses (ctlArgs),
// across eps; its logger is silent (a put refused while a member restarts
// is expected, and counted by its caller).
func (l *planLab) client(eps []string) *clientv3.Client {
	l.t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(read(l.t, filepath.Join(l.pki, "ca.crt")))
	pair, err := tls.LoadX509KeyPair(filepath.Join(l.pki, "clients/admin.crt"), filepath.Join(l.pki, "clients/admin.key"))
	must(l.t, err)
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   eps,
		DialTimeout: 2 * time.Second,
		TLS:         &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12},
		Logger:      zap.NewNop(),
	})
	must(l.t, err)
	return cli
}

// writer puts keys through every plan and records the acknowledged ones.
// It puts through one gRPC client, not one etcdctl process a put: a put
// every 50 ms through a plan of minutes cost a process each (~1700 in a
// make test). The client balances over eps() (round robin over the
// endpoints it is connected to, as etcdctl's own client does) and follows
// it when the test changes it.
type writer struct {
	mu      sync.Mutex
	acked   []string
	failed  int
	maxGap  time.Duration // longest time without an acknowledged write
	lastErr string        // the last refused put, for the log ("-": none)
	stop    chan struct{}
	done    chan struct{}
}

func (l *planLab) startWriter(eps func() []string) *writer {
	w := &writer{stop: make(chan struct{}), done: make(chan struct{}), lastErr: "-"}
	cur := eps()
	cli := l.client(cur)
	go func() {
		defer close(w.done)
		defer cli.Close()
		last := time.Now()
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				w.mu.Lock()
				w.maxGap = max(w.maxGap, time.Since(last))
				w.mu.Unlock()
				return
			default:
			}
			if e := eps(); !slices.Equal(e, cur) {
				cur = e
				cli.SetEndpoints(cur...)
			}
			key := fmt.Sprintf("/writer/%06d", i)
			// etcdctl's default command timeout.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := cli.Put(ctx, key, strconv.Itoa(i))
			cancel()
			w.mu.Lock()
			if err == nil {
				w.acked = append(w.acked, key)
				w.maxGap = max(w.maxGap, time.Since(last))
				last = time.Now()
			} else {
				w.failed++
				w.lastErr = fmt.Sprintf("at %s: %v", time.Now().Format("15:04:05.000"), err)
			}
			w.mu.Unlock()
			// 100 ms: an etcdctl put took ~100 ms of its own, so the
			// old writer put at most every ~150 ms (idle) to ~1.5 s
			// (loaded); in-process, 50 ms would double the members'
			// raft and fsync work for no more power.
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return w
}

// check stops the writer and fails unless every acknowledged write is in
// the cluster and writes were acknowledged throughout.
func (w *writer) check(l *planLab, eps []string) {
	l.t.Helper()
	close(w.stop)
	<-w.done
	out, err := l.ctl(eps, "get", "--prefix", "--keys-only", "/writer/")
	must(l.t, err)
	have := map[string]bool{}
	for _, k := range strings.Fields(out) {
		have[k] = true
	}
	lost := 0
	for _, k := range w.acked {
		if !have[k] {
			lost++
			l.t.Errorf("acknowledged write %s is lost", k)
		}
	}
	// The plans keep a quorum throughout and move leadership away before
	// they stop a leader: a write waits at most for an election (the
	// spec's default election timeout is 1 s), or for its own 5 s timeout
	// when the client sent it to a member that was stopping (seen once
	// under load: 5.1 s). No write acknowledged for three put timeouts
	// means the cluster lost its quorum.
	if w.maxGap > 15*time.Second {
		l.t.Errorf("the writer got no write acknowledged for %v: the cluster lost its quorum", w.maxGap.Round(time.Millisecond))
	}
	if len(w.acked) < 20 {
		l.t.Errorf("the writer got only %d writes acknowledged", len(w.acked))
	}
	l.t.Logf("writer: %d acknowledged writes, %d lost, %d refused (last: %s); longest time without an acknowledged write %v", len(w.acked), lost, w.failed, w.lastErr, w.maxGap.Round(time.Millisecond))
}

// TestPlanMembership: bootstrap 3, scale 3 -> 5 (plan.sh killed at a random
// step and run again), replace a member whose data was wiped, 5 -> 3 with
// the leader among the removed; a writer runs throughout.
func TestPlanMembership(t *testing.T) {
	l := newPlanLab(t, 21600)
	idx := map[string]int{"m1": 0, "m2": 1, "m3": 2, "m4": 3, "m5": 4}
	three := []string{"m1", "m2", "m3"}
	five := []string{"m1", "m2", "m3", "m4", "m5"}

	// Bootstrap, from plan.sh alone.
	s3 := l.spec(three, idx, nil)
	p0 := l.plan("plan-bootstrap", "-f", s3)
	l.run(p0)
	if _, err := l.ctl(l.urls(three...), "put", "/before", "kept"); err != nil {
		t.Fatal(err)
	}
	live := three
	var liveMu sync.Mutex
	w := l.startWriter(func() []string { liveMu.Lock(); defer liveMu.Unlock(); return l.urls(live...) })
	setLive := func(n []string) { liveMu.Lock(); live = n; liveMu.Unlock() }
	setLive(five) // the writer's client fails over among them

	// 3 -> 5, killed after a random step, then run to the end; a third
	// run does nothing (no hook is called).
	s5 := l.spec(five, idx, nil)
	p1 := l.plan("plan-grow", "--from", s3, "-f", s5)
	before := len(l.hookCalls())
	if out := l.run(p1, "--dry-run"); !strings.Contains(out, "==> 01-add-m4") || !strings.Contains(out, "dry run: nothing was done") {
		t.Fatalf("--dry-run output:\n%s", out)
	}
	if after := len(l.hookCalls()); after != before {
		t.Fatalf("--dry-run called hooks")
	}
	l.runKilled(p1, 2)
	l.run(p1)
	hooks := len(l.hookCalls())
	out := l.run(p1)
	if n := len(l.hookCalls()); n != hooks {
		t.Fatalf("a third run called hooks: %v", l.hookCalls()[hooks:])
	}
	if strings.Count(out, "done already") != 2 {
		t.Fatalf("third run: want every step done already:\n%s", out)
	}
	ms := l.members(l.urls(five...))
	for _, n := range five {
		if mi, ok := ms[n]; !ok || mi.IsLearner {
			t.Fatalf("after 3 -> 5: %s is %+v, want a voting member; members %+v", n, mi, ms)
		}
	}

	// m2 loses its data: stopped and wiped by the test; replace: true.
	oldID := ms["m2"].ID
	pid, err := os.ReadFile(filepath.Join(l.hosts, "m2", "pid"))
	must(t, err)
	p, _ := strconv.Atoi(strings.TrimSpace(string(pid)))
	must(t, syscall.Kill(p, syscall.SIGKILL))
	time.Sleep(time.Second)
	must(t, os.RemoveAll(filepath.Join(l.hosts, "m2", "data")))
	must(t, os.MkdirAll(filepath.Join(l.hosts, "m2", "data"), 0o700))
	sr := l.spec(five, idx, map[string]string{"m2": ", replace: true"})
	p2 := l.plan("plan-replace", "--from", s5, "-f", sr)
	l.run(p2)
	if out := l.run(p2); !strings.Contains(out, "done already") || strings.Contains(out, "member remove") {
		t.Fatalf("second run of the replace plan:\n%s", out)
	}
	ms = l.members(l.urls(five...))
	if mi := ms["m2"]; mi.ID == oldID || mi.IsLearner || mi.ID == 0 {
		t.Fatalf("m2 after the replace: %+v, old ID %x", mi, oldID)
	}

	// 5 -> 3 with the leader among the removed.
	lead := l.leader(five...)
	removed := []string{lead}
	for _, n := range five {
		if n != lead && len(removed) < 2 {
			removed = append(removed, n)
		}
	}
	var keep []string
	for _, n := range five {
		if !slices.Contains(removed, n) {
			keep = append(keep, n)
		}
	}
	t.Logf("leader %s; removing %v, keeping %v", lead, removed, keep)
	sk := l.spec(keep, idx, nil)
	p3 := l.plan("plan-shrink", "--from", sr, "-f", sk)
	out = l.run(p3)
	if !strings.Contains(out, "leadership moves to") {
		t.Logf("no leadership move in the output: the leader changed before the run")
	}
	setLive(keep)
	ms = l.members(l.urls(keep...))
	if len(ms) != 3 {
		t.Fatalf("after 5 -> 3: members %+v", ms)
	}
	for _, n := range keep {
		if mi, ok := ms[n]; !ok || mi.IsLearner {
			t.Fatalf("after 5 -> 3: %s is %+v", n, mi)
		}
	}
	for _, n := range removed {
		if b, _ := os.ReadFile(filepath.Join(l.hosts, n, "pid")); len(b) > 0 {
			if p, _ := strconv.Atoi(strings.TrimSpace(string(b))); p > 0 && syscall.Kill(p, 0) == nil && !zombie(p) {
				t.Errorf("%s (pid %d) still runs after its removal", n, p)
			}
		}
		if ents, _ := os.ReadDir(filepath.Join(l.hosts, n, "data")); len(ents) > 0 {
			t.Errorf("%s: data dir not wiped after its removal", n)
		}
	}
	w.check(l, l.urls(keep...))
	got, err := l.ctl(l.urls(keep...), "get", "--print-value-only", "/before")
	must(t, err)
	if strings.TrimSpace(got) != "kept" {
		t.Fatalf("/before = %q after every plan, want kept", got)
	}
}

// stopPID SIGTERMs a member the hooks started and waits (bounded) until
// it is gone.
func (l *planLab) stopPID(s string) {
	l.t.Helper()
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 1 {
		l.t.Fatalf("bad pid %q", s)
	}
	must(l.t, syscall.Kill(pid, syscall.SIGTERM))
	for i := 0; i < 100 && !zombie(pid); i++ {
		time.Sleep(100 * time.Millisecond)
	}
}

func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] == "Z"
}
