package kubeadm

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/etcdgen/etcdgen/render"
	"github.com/etcdgen/etcdgen/render/rendertest"
)

func model(t testing.TB, spec string) *render.Model { return rendertest.Model(t, spec) }

// document is the whole file as kubeadm's decoder sees it: TypeMeta and
// the fields this target sets. A strict decode fails on any other key.
type document struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	clusterConfiguration
}

func decode(t *testing.T, m *render.Model) document {
	t.Helper()
	files, err := Target.Run(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Path != File {
		t.Fatalf("files %v, want only %s", files, File)
	}
	data := files[0].Data
	if !strings.HasPrefix(string(data), "---\n") {
		t.Errorf("the document does not start with ---, so it does not concatenate after another")
	}
	if n := strings.Count(string(data), "\n---"); n != 0 {
		t.Errorf("%d more document separators; want the ClusterConfiguration alone", n)
	}
	var d document
	if err := yaml.UnmarshalStrict(data, &d); err != nil {
		t.Fatalf("strict decode: %v\n%s", err, data)
	}
	if d.Kind != "ClusterConfiguration" {
		t.Errorf("kind %q", d.Kind)
	}
	return d
}

func TestExample(t *testing.T) {
	m := model(t, "")
	d := decode(t, m)
	if d.APIVersion != "kubeadm.k8s.io/v1beta4" {
		t.Errorf("apiVersion %q, want kubeadm.k8s.io/v1beta4 by default", d.APIVersion)
	}
	e := d.Etcd.External
	if got, want := strings.Join(e.Endpoints, ","), "https://10.10.0.10:2379,https://10.10.0.11:2379,https://10.10.0.12:2379"; got != want {
		t.Errorf("endpoints %s, want %s", got, want)
	}
	if e.CAFile != "/etc/kubernetes/pki/etcd/ca.crt" || e.CertFile != "/etc/kubernetes/pki/apiserver-etcd-client.crt" || e.KeyFile != "/etc/kubernetes/pki/apiserver-etcd-client.key" {
		t.Errorf("files %q %q %q, want kubeadm's layout", e.CAFile, e.CertFile, e.KeyFile)
	}
	if d.KubernetesVersion != "" || d.ControlPlaneEndpoint != "" {
		t.Errorf("optional fields set without the spec asking: %+v", d)
	}
	if err := render.CheckConsistency(m, ClientView(m)); err != nil {
		t.Error(err)
	}
}

func TestV1beta3AndOptionalFields(t *testing.T) {
	d := decode(t, model(t, `name: "x"
members: [{name: "a", ip: "10.0.0.1"}]
kubeadm: {apiVersion: "v1beta3", kubernetesVersion: "1.36.3", controlPlaneEndpoint: "[fd00::1]:6443"}
`))
	if d.APIVersion != "kubeadm.k8s.io/v1beta3" || d.KubernetesVersion != "1.36.3" || d.ControlPlaneEndpoint != "[fd00::1]:6443" {
		t.Errorf("got %+v", d)
	}
}

func TestTLSOffNamesNoFiles(t *testing.T) {
	m := model(t, `name: "x"
members: [{name: "a", ip: "10.0.0.1"}]
tls: enabled: false
`)
	d := decode(t, m)
	e := d.Etcd.External
	if e.CAFile != "" || e.CertFile != "" || e.KeyFile != "" {
		t.Errorf("TLS off, but files %+v", e)
	}
	if len(e.Endpoints) != 1 || e.Endpoints[0] != "http://10.0.0.1:2379" {
		t.Errorf("endpoints %v", e.Endpoints)
	}
	files, _ := Target.Run(m)
	if strings.Contains(string(files[0].Data), "File:") {
		t.Errorf("TLS off, but a file key is written:\n%s", files[0].Data)
	}
}

func TestPodsOnly(t *testing.T) {
	m := model(t, `name: "e"
kubernetes: {namespace: "db", replicas: 2}
`)
	d := decode(t, m)
	if got, want := strings.Join(d.Etcd.External.Endpoints, ","), "https://e-0.e.db.svc:2379,https://e-1.e.db.svc:2379"; got != want {
		t.Errorf("endpoints %s, want %s", got, want)
	}
}

func TestUnknownAPIVersionIsAnError(t *testing.T) {
	m := model(t, "")
	m.Spec.Kubeadm.APIVersion = "v1beta2"
	_, err := Target.Run(m)
	if err == nil || !strings.Contains(err.Error(), `kubeadm.apiVersion "v1beta2": want v1beta4 or v1beta3`) {
		t.Errorf("error %v", err)
	}
}
