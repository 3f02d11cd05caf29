package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// k8sPlan (issue 15, item 3; the plan of issue 14, item 9): the Kubernetes
// plan scales a running 3-pod StatefulSet to 5 and back to 3 on the real
// node, with plan.sh driving the real kubectl, in the spec's default mode:
// cert-manager issues the certificates. It proves what the fake kubectl of
// testdata/script/plan_k8s_{grow,shrink}.txtar only models: each scale-up
// step applies the Certificates that name its new pod and waits until
// cert-manager has issued them at their new generation before the member
// add (the peers check a new member's name and address against its peer
// certificate); no running member restarts (the partition); every new pod
// joins as a voter; a rerun changes nothing; the retired pods' claims are
// deleted; the data survives both ways.
//
// With certManager: false, plan.sh is the same but for that step, which is
// the user's (PLAN.md): `etcdgen certs` re-issues the shared server and
// peer certificates under the kept CA and the k8s-secrets target's Secrets
// are applied before the plan runs.
func (n *node) k8sPlan(t *testing.T) {
	const ns, class = "plan", "eg15-plan"
	n.startCertManager(t)
	n.mustKubectl("create", "namespace", ns)
	k := n.k8sCluster(t, "etcd", ns, class, "", "replicas: 3\ncertManager: true\n")
	n.storage(class, "local", 5)
	c := &cluster{t: t, dir: k.dir}

	start := time.Now()
	n.mustKubectl("apply", "-f", filepath.Join(k.dir, "k8s", "etcd.yaml"))
	k.waitReady(3)
	k.checkPutGet()
	t.Logf("plan: 3 pods Ready %v after apply", time.Since(start).Round(100*time.Millisecond))
	before := map[string]string{}
	for i := range 3 {
		pod := fmt.Sprintf("etcd-%d", i)
		before[pod] = k.podRun(pod)
	}
	record := k.recordCertificatesAtAdd()

	// 3 -> 5: etcd-3, then etcd-4, each with its certificates first.
	spec, err := os.ReadFile(filepath.Join(k.dir, "etcdgen.cue"))
	must(t, err)
	five := strings.Replace(string(spec), "replicas: 3", "replicas: 5", 1)
	must(t, os.WriteFile(filepath.Join(k.dir, "five.cue"), []byte(five), 0o644))
	c.etcdgen("plan", "--from", "etcdgen.cue", "-f", "five.cue", "--out", "up")
	stop := k.writer("etcd-0")
	k.planSh("up")
	stop()
	k.checkMembers(5)
	k.checkHealth(5)
	k.checkUnchanged(before)
	k.checkKey("etcd-4")
	k.checkCertificatesAtAdd(record, 2)
	if out := k.planSh("up"); strings.Count(out, "done already") != 2 {
		t.Errorf("up/plan.sh again: want two steps done already:\n%s", out)
	}
	k.checkMembers(5)
	k.checkUnchanged(before)

	// 5 -> 3: etcd-4 then etcd-3 leave; their claims go with them.
	c.etcdgen("plan", "--from", "five.cue", "-f", "etcdgen.cue", "--out", "down")
	stop = k.writer("etcd-0")
	k.planSh("down")
	stop()
	k.checkMembers(3)
	k.checkHealth(3)
	k.checkUnchanged(before)
	k.checkKey("etcd-2")
	for _, pod := range []string{"etcd-3", "etcd-4"} {
		p, err := k.n.kc.pod(k.ns, pod)
		ctx, cancel := kubeCtx()
		_, perr := k.n.kc.core.PersistentVolumeClaims(k.ns).Get(ctx, "data-"+pod, metav1.GetOptions{})
		cancel()
		if err != nil || p != nil || !apierrors.IsNotFound(perr) {
			t.Errorf("%s after the scale-down: pod %v (%v), claim data-%s: %v; want no pod and no claim", pod, p != nil, err, pod, perr)
		}
	}
	if out := k.planSh("down"); strings.Count(out, "done already") != 2 {
		t.Errorf("down/plan.sh again: want two steps done already:\n%s", out)
	}
	k.checkMembers(3)
	t.Logf("plan: 3 -> 5 -> 3 %v in all", time.Since(start).Round(time.Second))
}

// podRun is what a restart changes: the pod's UID and its container's
// restart count.
func (k *k8sCluster) podRun(pod string) string {
	k.t.Helper()
	p, err := k.n.kc.pod(k.ns, pod)
	if err != nil || p == nil || len(p.Status.ContainerStatuses) == 0 {
		k.t.Fatalf("pod %s: %v %v", pod, p, err)
	}
	return fmt.Sprintf("%s %d", p.UID, p.Status.ContainerStatuses[0].RestartCount)
}

// checkUnchanged: the plan restarted none of the pods that were running.
func (k *k8sCluster) checkUnchanged(before map[string]string) {
	k.t.Helper()
	for pod, run := range before {
		if now := k.podRun(pod); now != run {
			k.t.Errorf("%s restarted by the plan: uid/restarts %s, was %s", pod, now, run)
		}
	}
}

// checkMembers: the member list holds exactly the pods etcd-0..n-1, all
// voting.
func (k *k8sCluster) checkMembers(n int) {
	k.t.Helper()
	out, err := k.etcdctl(k.name+"-0", "member", "list", "-w", "json")
	if err != nil {
		k.t.Fatal(err)
	}
	var l struct {
		Members []struct {
			Name      string `json:"name"`
			IsLearner bool   `json:"isLearner"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		k.t.Fatalf("member list: %v\n%s", err, out)
	}
	var got []string
	for _, m := range l.Members {
		if m.IsLearner {
			k.t.Errorf("member %s is still a learner", m.Name)
		}
		got = append(got, m.Name)
	}
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("%s-%d", k.name, i))
	}
	slices.Sort(got)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		k.t.Errorf("members %v, want %v", got, want)
	}
}

// checkKey: the key checkPutGet wrote reads back (linearizable) through pod.
func (k *k8sCluster) checkKey(pod string) {
	k.t.Helper()
	out, err := k.etcdctl(pod, "get", "eg15/"+k.name, "--print-value-only")
	if err != nil || strings.TrimSpace(out) != "through-0" {
		k.t.Fatalf("get through %s: %q, %v", pod, out, err)
	}
}

// writer puts eg15/writer through pod, a put a second after the last one
// ended, until the returned function is called; that function fails the
// test if the cluster stopped taking writes (it must stay writable while a
// plan runs: one member at a time, a learner never counts toward the
// quorum) and checks that the last value reads back through etcd-2.
//
// A put that fails is tried again after 2 s, twice: each try is an exec
// of etcdctl in the pod with its 5 s timeout, and on a loaded 2-core
// machine one of them may miss an election or the exec itself may time
// out. A put that fails three times in about 20 s is a cluster that did
// not take writes: a lost quorum (two pods restarted at once) lasts longer
// than that, so a put each second misses no such gap (each put is an exec:
// a runc process and an etcdctl in the pod).
func (k *k8sCluster) writer(pod string) func() {
	done, finished := make(chan struct{}), make(chan struct{})
	var puts int
	var failed, retried []string
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Second):
			}
			var err error
			for try := 0; try < 3; try++ {
				if try > 0 {
					retried = append(retried, fmt.Sprintf("%s: %v", time.Now().Format("15:04:05"), err))
					time.Sleep(2 * time.Second)
				}
				if _, err = k.etcdctl(pod, "put", "eg15/writer", strconv.Itoa(puts+1)); err == nil {
					break
				}
			}
			if err != nil {
				failed = append(failed, fmt.Sprintf("%s: %v", time.Now().Format("15:04:05"), err))
				continue
			}
			puts++
		}
	}()
	return func() {
		k.t.Helper()
		close(done)
		<-finished
		k.t.Logf("writer through %s: %d puts, %d failed, %d tries again:\n%s", pod, puts, len(failed), len(retried), strings.Join(retried, "\n"))
		if len(failed) > 0 || puts == 0 {
			k.t.Errorf("writer: %d puts, failures:\n%s", puts, strings.Join(failed, "\n"))
		}
		out, err := k.etcdctl(k.name+"-2", "get", "eg15/writer", "--print-value-only")
		if err != nil || strings.TrimSpace(out) != strconv.Itoa(puts) {
			k.t.Errorf("writer: eg15/writer through %s-2 is %q (%v), want %d", k.name, out, err, puts)
		}
	}
}

// planSh runs dir/plan.sh in the node's namespaces, where the pods' names
// resolve, with the real kubectl (bin/kubectl) first on PATH, and returns
// its output (stdout and stderr, each line timed).
func (k *k8sCluster) planSh(dir string) string {
	t := k.t
	t.Helper()
	bin := filepath.Join(k.dir, "bin")
	if _, err := os.Lstat(filepath.Join(bin, "kubectl")); err != nil {
		must(t, os.MkdirAll(bin, 0o755))
		must(t, os.Symlink(kubectlBin(), filepath.Join(bin, "kubectl")))
	}
	start := time.Now()
	// Each line with the time it was written: where a slow run waited.
	out, err := k.n.sh(15*time.Minute, "env", "PATH="+bin+":"+os.Getenv("PATH"), "ETCDGEN_WAIT=600",
		"bash", "-c", `set -o pipefail; bash "$1" 2>&1 | while IFS= read -r l; do printf '%(%T)T %s\n' -1 "$l"; done`,
		"plan", filepath.Join(k.dir, dir, "plan.sh"))
	if err != nil {
		t.Fatalf("%s/plan.sh: %v\n%s", dir, err, out)
	}
	t.Logf("%s/plan.sh: %v\n%s", dir, time.Since(start).Round(100*time.Millisecond), out)
	return out
}

// recordCertificatesAtAdd makes bin/kubectl (planSh puts it first on
// PATH) the real kubectl, which first appends each Certificate's
// name=generation=ready generation=status, after a "--" line, to the file
// it returns, at the first exec (the member add) after a step's
// certificates.yaml is applied: what plan.sh's wait between the two left
// for the new pod.
func (k *k8sCluster) recordCertificatesAtAdd() string {
	t := k.t
	t.Helper()
	record, applied := filepath.Join(k.dir, "certificates-at-add"), filepath.Join(k.dir, "certificates-applied")
	must(t, os.MkdirAll(filepath.Join(k.dir, "bin"), 0o755))
	must(t, os.WriteFile(filepath.Join(k.dir, "bin", "kubectl"), fmt.Appendf(nil, `#!/bin/sh
case "$*" in
*" apply -f "*/certificates.yaml) : >%[4]q ;;
*" exec "*) if [ -e %[4]q ]; then
	rm -f %[4]q
	echo -- >>%[3]q
	%[1]q --namespace %[2]q get certificates -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.generation}={.status.conditions[?(@.type=="Ready")].observedGeneration}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' >>%[3]q || exit
fi ;;
esac
exec %[1]q "$@"
`, kubectlBin(), k.ns, record, applied), 0o755))
	return record
}

// checkCertificatesAtAdd: the record holds one block per scale-up step, and
// at each member add the server and peer Certificates were Ready at the
// generation of that step's change (the first step's is 2).
func (k *k8sCluster) checkCertificatesAtAdd(record string, steps int) {
	t := k.t
	t.Helper()
	b, err := os.ReadFile(record)
	if err != nil {
		t.Fatalf("no record of the Certificates at a member add (plan.sh applied no certificates.yaml before one): %v", err)
	}
	blocks := strings.Split(strings.TrimPrefix(string(b), "--\n"), "--\n")
	if len(blocks) != steps {
		t.Fatalf("certificates recorded at %d member adds, want %d (one per step):\n%s", len(blocks), steps, b)
	}
	for i, block := range blocks {
		t.Logf("certificates (name=generation=ready generation=status) at member add %d: %s", i+1, strings.Fields(block))
		got := map[string]string{}
		for _, line := range strings.Fields(block) {
			name, rest, _ := strings.Cut(line, "=")
			got[name] = rest
		}
		for _, name := range []string{k.name + "-server", k.name + "-peer"} {
			f := strings.Split(got[name], "=")
			if len(f) != 3 || f[1] != f[0] || f[2] != "True" || atoi(f[0]) != i+2 {
				t.Errorf("certificate %s at member add %d: generation=ready generation=status %q, want Ready at generation %d", name, i+1, got[name], i+2)
			}
		}
	}
}
