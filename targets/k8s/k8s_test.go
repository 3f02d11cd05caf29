package k8s

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/etcdgen/etcdgen/render"
	"github.com/etcdgen/etcdgen/render/rendertest"
	"github.com/etcdgen/etcdgen/schema"
)

// Specs the invariants are checked on.
var specs = map[string]string{
	"example": string(schema.Example),
	"five": `name: "main"
kubernetes: {namespace: "etcd-system", replicas: 5, clusterDomain: "k8s.example.com", statefulSetName: "etcd"}`,
	"tls-off": `name: "plain"
tls: enabled: false
kubernetes: replicas: 3`,
	"issuer": `name: "ext"
tls: {keyAlgorithm: "rsa", keySize: 4096}
kubernetes: issuerRef: {name: "corp-ca", kind: "ClusterIssuer"}`,
	"one-old": `name: "solo"
version: "3.5.9"
walDir: "/var/lib/etcd-wal"
tuning: {initialCorruptCheck: true, watchProgressNotifyInterval: "5s"}
kubernetes: {replicas: 1, antiAffinity: "preferred", storageClass: "fast", resources: {limits: {memory: "1Gi"}}}`,
	"placed": `name: "placed"
walDir: "/var/lib/etcd-wal"
kubernetes: {
	nodeSelector: disk: "ssd"
	tolerations: [{key: "dedicated", value: "etcd", effect: "NoSchedule"}, {operator: "Exists", effect: "NoExecute", tolerationSeconds: 30}]
	priorityClassName: "etcd-critical"
	topologySpreadConstraints: [{topologyKey: "topology.kubernetes.io/zone"}]
	podLabels: tier: "db"
	podAnnotations: a: "b"
	imagePullSecrets: ["regcred"]
	serviceAccountName: "etcd"
	volumePermissions: image: "busybox:1.37"
}`,
}

func model(t testing.TB, spec string) *render.Model { return rendertest.Model(t, spec) }

func renderYAML(t *testing.T, m *render.Model) []byte {
	t.Helper()
	files, err := Target.Run(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Path != File || files[0].Mode != 0o644 {
		t.Fatalf("want one 0644 %s, got %+v", File, files)
	}
	return files[0].Data
}

// docs are the decoded documents of etcd.yaml.
type docs struct {
	issuers      []*Issuer
	certs        []*Certificate
	services     []*corev1.Service
	pdbs         []*policyv1.PodDisruptionBudget
	statefulSets []*appsv1.StatefulSet
	secrets      []*corev1.Secret
}

// decode splits a multi-document YAML and decodes each document strictly:
// a field the type does not know is an error, as with kubectl's strict
// server-side field validation.
func decode(data []byte) (*docs, error) {
	d := &docs{}
	parts := strings.Split(string(data), "\n---\n")
	if !strings.HasPrefix(parts[0], "#") || strings.Contains(parts[0], ":\n") {
		return nil, fmt.Errorf("want a comment header before the first ---, got %q", parts[0])
	}
	for i, doc := range parts[1:] {
		j, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("document %d: %v", i+1, err)
		}
		var tm struct{ APIVersion, Kind string }
		if err := json.Unmarshal(j, &tm); err != nil {
			return nil, fmt.Errorf("document %d: %v", i+1, err)
		}
		var into any
		switch tm.APIVersion + " " + tm.Kind {
		case "cert-manager.io/v1 Issuer":
			o := &Issuer{}
			d.issuers, into = append(d.issuers, o), o
		case "cert-manager.io/v1 Certificate":
			o := &Certificate{}
			d.certs, into = append(d.certs, o), o
		case "v1 Service":
			o := &corev1.Service{}
			d.services, into = append(d.services, o), o
		case "v1 Secret":
			o := &corev1.Secret{}
			d.secrets, into = append(d.secrets, o), o
		case "policy/v1 PodDisruptionBudget":
			o := &policyv1.PodDisruptionBudget{}
			d.pdbs, into = append(d.pdbs, o), o
		case "apps/v1 StatefulSet":
			o := &appsv1.StatefulSet{}
			d.statefulSets, into = append(d.statefulSets, o), o
		default:
			return nil, fmt.Errorf("document %d: unexpected %s %s", i+1, tm.APIVersion, tm.Kind)
		}
		// The API server's decoder: case-sensitive (encoding/json would
		// take clusterIp for clusterIP), unknown and duplicate fields fail.
		strict, err := sigsjson.UnmarshalStrict(j, into)
		if err == nil && len(strict) > 0 {
			err = errors.Join(strict...)
		}
		if err != nil {
			return nil, fmt.Errorf("document %d (%s): %v", i+1, tm.Kind, err)
		}
	}
	return d, nil
}

func TestDecodeStrictCatchesUnknownFields(t *testing.T) {
	bad := "# header\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  clusterIp: None\n"
	if _, err := decode([]byte(bad)); err == nil || !strings.Contains(err.Error(), "clusterIp") {
		t.Fatalf("a misspelt field must fail the strict decode, got %v", err)
	}
}

func TestInvariants(t *testing.T) {
	for name, spec := range specs {
		t.Run(name, func(t *testing.T) {
			m := model(t, spec)
			data := renderYAML(t, m)
			for _, s := range []string{"creationTimestamp", "status:", "null"} {
				if bytes.Contains(data, []byte(s)) {
					t.Errorf("etcd.yaml holds %q", s)
				}
			}
			d, err := decode(data)
			if err != nil {
				t.Fatal(err)
			}
			for _, err := range invariants(m, d) {
				t.Error(err)
			}
		})
	}
}

// TestInvariantsFail breaks one thing at a time in a rendered example and
// expects the invariant check to say so.
func TestInvariantsFail(t *testing.T) {
	m := model(t, specs["example"])
	data := renderYAML(t, m)
	for name, tc := range map[string]struct {
		breakIt func(d *docs)
		want    string
	}{
		"replicas": {func(d *docs) { *d.statefulSets[0].Spec.Replicas = 4 }, "replicas"},
		"initial cluster": {func(d *docs) {
			args := d.statefulSets[0].Spec.Template.Spec.Containers[0].Args
			for i, a := range args {
				if strings.HasPrefix(a, "--initial-cluster=") {
					args[i] = a[:strings.LastIndex(a, ",")]
				}
			}
		}, "--initial-cluster"},
		"pod name missing from peer cert": {func(d *docs) {
			c := d.cert("etcd-prod-peer")
			c.Spec.DNSNames = slices.DeleteFunc(c.Spec.DNSNames, func(s string) bool { return s == "etcd-prod-2.etcd-prod" })
		}, "etcd-prod-2.etcd-prod"},
		"client auth missing": {func(d *docs) {
			c := d.cert("etcd-prod-server")
			c.Spec.Usages = slices.DeleteFunc(c.Spec.Usages, func(s string) bool { return s == usageClientAuth })
		}, "client auth"},
		"mounted secret nobody writes": {func(d *docs) {
			d.statefulSets[0].Spec.Template.Spec.Volumes[1].Secret.SecretName = "etcd-prod-peer"
		}, "etcd-prod-peer"},
		"CA issuer reads another secret": {func(d *docs) { d.issuer("etcd-prod-ca").Spec.CA.SecretName = "nope" }, "not signed by a CA Issuer"},
		"PDB too permissive":             {func(d *docs) { *d.pdbs[0].Spec.MaxUnavailable = intOrString(2) }, "maxUnavailable"},
		"ETCDCTL without cert": {func(d *docs) {
			c := &d.statefulSets[0].Spec.Template.Spec.Containers[0]
			c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "ETCDCTL_CERT" })
		}, "ETCDCTL_CERT"},
	} {
		t.Run(name, func(t *testing.T) {
			d, err := decode(data)
			if err != nil {
				t.Fatal(err)
			}
			if errs := invariants(m, d); len(errs) != 0 {
				t.Fatalf("the unbroken example fails: %v", errs)
			}
			tc.breakIt(d)
			errs := invariants(m, d)
			if len(errs) == 0 {
				t.Fatal("no invariant broken")
			}
			if !strings.Contains(fmt.Sprint(errs), tc.want) {
				t.Fatalf("want an error about %q, got %v", tc.want, errs)
			}
		})
	}
}

func (d *docs) cert(name string) *Certificate {
	for _, c := range d.certs {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (d *docs) issuer(name string) *Issuer {
	for _, i := range d.issuers {
		if i.Name == name {
			return i
		}
	}
	return nil
}

// TestSecrets: the Secrets decode strictly, are the ones the StatefulSet
// mounts, carry cert-manager's keys, and never the CA key.
func TestSecrets(t *testing.T) {
	m := model(t, specs["five"])
	if _, err := SecretsTarget.Run(m); err == nil || !strings.Contains(err.Error(), "--certs DIR") {
		t.Fatalf("no bundle: want an error naming --certs, got %v", err)
	}
	m.Bundle = &render.Bundle{Dir: "pki", Files: map[string][]byte{}}
	for _, f := range []string{"ca.crt", "ca.key", "kubernetes/server.crt", "kubernetes/server.key", "kubernetes/peer.crt", "kubernetes/peer.key", "clients/admin.crt", "clients/admin.key"} {
		m.Bundle.Files[f] = []byte(f)
	}
	files, err := SecretsTarget.Run(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Path != SecretsFile || !files[0].Secret() {
		t.Fatalf("want one secret (0600) %s, got %+v", SecretsFile, files)
	}
	d, err := decode(files[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	k8s, err := decode(renderYAML(t, m))
	if err != nil {
		t.Fatal(err)
	}
	var mounted, made []string
	for _, v := range k8s.statefulSets[0].Spec.Template.Spec.Volumes {
		mounted = append(mounted, v.Secret.SecretName)
	}
	for _, s := range d.secrets {
		made = append(made, s.Name)
		if s.Type != corev1.SecretTypeTLS || s.Namespace != "etcd-system" {
			t.Errorf("Secret %s: type %s in %s", s.Name, s.Type, s.Namespace)
		}
		if got := slices.Sorted(maps.Keys(s.Data)); !slices.Equal(got, []string{"ca.crt", "tls.crt", "tls.key"}) {
			t.Errorf("Secret %s keys %v", s.Name, got)
		}
		if string(s.Data["ca.crt"]) != "ca.crt" || strings.HasPrefix(string(s.Data["tls.key"]), "ca") {
			t.Errorf("Secret %s: wrong CA or the CA key", s.Name)
		}
	}
	if !slices.Equal(slices.Sorted(slices.Values(mounted)), slices.Sorted(slices.Values(made))) {
		t.Errorf("mounted %v, made %v", mounted, made)
	}
}

// etcd keeps its data in a subdirectory of the volume (the volume's root is
// group-writable and may hold lost+found); a WAL outside the data dir gets
// its own volume and, likewise, a subdirectory of it.
func TestDataAndWALDirs(t *testing.T) {
	for _, tc := range []struct {
		spec, data, wal string
		mounts          []string
	}{
		{`name: "d", kubernetes: {}`, "/var/lib/etcd/data", "", []string{"/var/lib/etcd"}},
		{`name: "d", walDir: "/var/lib/etcd/wal", kubernetes: {}`, "/var/lib/etcd/data", "/var/lib/etcd/wal", []string{"/var/lib/etcd"}},
		{`name: "d", walDir: "/srv/wal", kubernetes: {}`, "/var/lib/etcd/data", "/srv/wal/wal", []string{"/var/lib/etcd", "/srv/wal"}},
	} {
		m := model(t, tc.spec)
		args := strings.Join(Args(m), " ")
		if !strings.Contains(args, "--data-dir="+tc.data+" ") {
			t.Errorf("%s: args %s, want --data-dir=%s", tc.spec, args, tc.data)
		}
		if (tc.wal == "") != !strings.Contains(args, "--wal-dir=") || (tc.wal != "" && !strings.Contains(args, "--wal-dir="+tc.wal+" ")) {
			t.Errorf("%s: args %s, want --wal-dir=%q", tc.spec, args, tc.wal)
		}
		sts, err := statefulSet(m, nil)
		if err != nil {
			t.Fatal(err)
		}
		var mounts []string
		for _, vm := range sts.Spec.Template.Spec.Containers[0].VolumeMounts {
			if vm.Name == volData || vm.Name == volWAL {
				mounts = append(mounts, vm.MountPath)
			}
		}
		if strings.Join(mounts, ",") != strings.Join(tc.mounts, ",") {
			t.Errorf("%s: volume mounts %v, want %v", tc.spec, mounts, tc.mounts)
		}
		if len(sts.Spec.VolumeClaimTemplates) != len(tc.mounts) {
			t.Errorf("%s: %d claims, want %d", tc.spec, len(sts.Spec.VolumeClaimTemplates), len(tc.mounts))
		}
	}
}
