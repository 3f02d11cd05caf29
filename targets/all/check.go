package all

import (
	"github.com/etcdgen/etcdgen/render"
	"github.com/etcdgen/etcdgen/targets/apiserver"
	"github.com/etcdgen/etcdgen/targets/kubeadm"
)

// Check runs the cross-target consistency check on a model, with what
// every target that points kube-apiserver at etcd would write. The render
// runs it before any target, and fails on any problem.
func Check(m *render.Model) error {
	return render.CheckConsistency(m, kubeadm.ClientView(m), apiserver.ClientView(m))
}
