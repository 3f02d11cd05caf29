package e2e

import (
	"path/filepath"
	"slices"
	"testing"

	kubeadm "k8s.io/kubernetes/cmd/kubeadm/app/apis/kubeadm/v1beta4"
	"sigs.k8s.io/yaml"
)

// Scenario 6, kubeadm side: the generated ClusterConfiguration decodes
// strictly (no unknown or duplicate field) into kubeadm's own v1beta4 types,
// and its external etcd is the cluster the other targets describe.
func TestKubeadmClusterConfiguration(t *testing.T) {
	dir := t.TempDir()
	c := newClusterIn(t, dir, spec{Members: []string{"etcd1", "etcd2", "etcd3"}, Port: 21800, TLS: true,
		Extra: apiserverSpec(dir) + "kubeadm: {kubernetesVersion: \"v1.37.2\", controlPlaneEndpoint: \"cp.example:6443\"}\n"})
	out := c.etcdgen("render", "--target", "kubeadm", "etcdgen.cue")
	var cc kubeadm.ClusterConfiguration
	if err := yaml.UnmarshalStrict([]byte(out), &cc); err != nil {
		t.Fatalf("strict decode into kubeadm v1beta4: %v\n%s", err, out)
	}
	if cc.APIVersion != kubeadm.SchemeGroupVersion.String() || cc.Kind != "ClusterConfiguration" {
		t.Fatalf("apiVersion %q kind %q", cc.APIVersion, cc.Kind)
	}
	ext := cc.Etcd.External
	if ext == nil || cc.Etcd.Local != nil {
		t.Fatalf("etcd: want external only: %+v", cc.Etcd)
	}
	if !slices.Equal(ext.Endpoints, c.endpoints()) {
		t.Errorf("endpoints %v, want %v", ext.Endpoints, c.endpoints())
	}
	pki := filepath.Join(dir, "pki")
	if ext.CAFile != filepath.Join(pki, "ca.crt") || ext.CertFile != filepath.Join(pki, "clients/apiserver-etcd-client.crt") ||
		ext.KeyFile != filepath.Join(pki, "clients/apiserver-etcd-client.key") {
		t.Errorf("cert paths: %+v", ext)
	}
	if cc.KubernetesVersion != "v1.37.2" || cc.ControlPlaneEndpoint != "cp.example:6443" {
		t.Errorf("kubernetesVersion %q controlPlaneEndpoint %q", cc.KubernetesVersion, cc.ControlPlaneEndpoint)
	}
}
