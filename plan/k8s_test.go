package plan

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdgen/etcdgen/render"
	"github.com/etcdgen/etcdgen/render/rendertest"
)

func kube(t *testing.T, replicas int, extra string) *render.Model {
	t.Helper()
	return rendertest.Model(t, fmt.Sprintf("name: \"main\"\n%s\nkubernetes: {statefulSetName: \"etcd\", replicas: %d}\n", extra, replicas))
}

// fileOf is the step's file name.
func fileOf(t *testing.T, s *Step, name string) string {
	t.Helper()
	for _, f := range s.Files {
		if f.Path == name {
			return string(f.Data)
		}
	}
	t.Fatalf("%s: no %s", s.Dir(), name)
	return ""
}

// Each step's manifest: one pod more or less, --initial-cluster of the
// membership the new pod joins, state existing, and a partition of the pods
// that keep running (none of them restarts when it is applied).
func TestKubeSteps(t *testing.T) {
	for _, tc := range []struct {
		from, to int
		want     string
		// per step: replicas, partition, initial cluster size
		manifests [][3]int
	}{
		{3, 5, "01-scale-up-etcd-3 02-scale-up-etcd-4", [][3]int{{4, 3, 4}, {5, 4, 5}}},
		{5, 3, "01-scale-down-etcd-4 02-scale-down-etcd-3", [][3]int{{4, 4, 4}, {3, 3, 3}}},
		{1, 2, "01-scale-up-etcd-1", [][3]int{{2, 1, 2}}},
		{3, 3, "", nil},
	} {
		t.Run(fmt.Sprintf("%d-%d", tc.from, tc.to), func(t *testing.T) {
			p, err := Diff(kube(t, tc.from, ""), kube(t, tc.to, ""))
			if err != nil {
				t.Fatal(err)
			}
			if got := kinds(p); got != tc.want {
				t.Fatalf("steps %q, want %q", got, tc.want)
			}
			for i, want := range tc.manifests {
				s := &p.Steps[i]
				y := fileOf(t, s, KubeManifest)
				var members []string
				for j := 0; j < want[2]; j++ {
					members = append(members, fmt.Sprintf("etcd-%d=https://etcd-%d.etcd:2380", j, j))
				}
				for _, line := range []string{
					fmt.Sprintf("\n  replicas: %d\n", want[0]),
					fmt.Sprintf("\n      partition: %d\n", want[1]),
					"\n        - --initial-cluster=" + strings.Join(members, ",") + "\n",
					"\n        - --initial-cluster-state=existing\n",
				} {
					if !strings.Contains(y, line) {
						t.Errorf("%s/%s lacks %q", s.Dir(), KubeManifest, strings.TrimSpace(line))
					}
				}
				_, certs := fileOfOK(s, KubeCertificates)
				if certs != (s.Kind == ScaleUp) {
					t.Errorf("%s: %s present %t, want %t (a scale-up only)", s.Dir(), KubeCertificates, certs, s.Kind == ScaleUp)
				}
			}
		})
	}
}

func fileOfOK(s *Step, name string) (string, bool) {
	for _, f := range s.Files {
		if f.Path == name {
			return string(f.Data), true
		}
	}
	return "", false
}

// The render of a spec outside a plan has no partition: a template change
// rolls every pod, one at a time, as before.
func TestKubeRenderHasNoPartition(t *testing.T) {
	p, err := New(kube(t, 3, ""))
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(p); got != "01-create" {
		t.Fatalf("steps %q", got)
	}
	y := fileOf(t, &p.Steps[0], KubeManifest)
	if strings.Contains(y, "partition:") || !strings.Contains(y, "--initial-cluster-state=new\n") {
		t.Fatalf("the create step's manifest is not the plain render:\n%s", y)
	}
}

func TestKubeRefused(t *testing.T) {
	for name, tc := range map[string]struct {
		old, new *render.Model
		want     []string
	}{
		"tls":      {kube(t, 3, ""), kube(t, 5, "tls: enabled: false"), []string{"tls.enabled:"}},
		"version":  {kube(t, 3, `version: "3.6.16"`), kube(t, 5, `version: "3.7.3"`), []string{"version:"}},
		"certs":    {kube(t, 3, ""), kube(t, 4, "kubernetes: certManager: false"), []string{"kubernetes.certManager:"}},
		"ports":    {kube(t, 3, ""), kube(t, 3, "ports: peer: 2390"), []string{"ports:"}},
		"to hosts": {kube(t, 3, ""), m(t, "3.6.16", a, b, c), []string{"members: the old spec runs on Kubernetes"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Diff(tc.old, tc.new)
			r, ok := err.(*Refused)
			if !ok {
				t.Fatalf("Diff: %v, want refused", err)
			}
			for i, w := range tc.want {
				if i >= len(r.Reasons) || !strings.HasPrefix(r.Reasons[i], w) {
					t.Fatalf("reasons %q, want %q", r.Reasons, tc.want)
				}
			}
		})
	}
}

// shellcheck, when installed (it is not part of make test), finds nothing
// in a Kubernetes plan.sh.
func TestKubeShellcheck(t *testing.T) {
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Skip("no shellcheck")
	}
	dir := t.TempDir()
	for i, pair := range [][2]int{{3, 5}, {5, 3}} {
		p, err := Diff(kube(t, pair[0], ""), kube(t, pair[1], ""))
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, fmt.Sprintf("plan%d.sh", i))
		if err := os.WriteFile(f, kubeScript(p), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("shellcheck", "-s", "bash", f).CombinedOutput(); err != nil {
			t.Errorf("shellcheck %d->%d: %v\n%s", pair[0], pair[1], err, out)
		}
	}
}
