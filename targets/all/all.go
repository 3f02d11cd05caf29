// Package all lists every target, in the order a fleet render writes them.
// Adding a target is one line here and a package of its own.
package all

import (
	"github.com/etcdgen/etcdgen/render"
	"github.com/etcdgen/etcdgen/targets/ansible"
	"github.com/etcdgen/etcdgen/targets/apiserver"
	"github.com/etcdgen/etcdgen/targets/helm"
	"github.com/etcdgen/etcdgen/targets/k8s"
	"github.com/etcdgen/etcdgen/targets/kubeadm"
	"github.com/etcdgen/etcdgen/targets/prometheus"
	"github.com/etcdgen/etcdgen/targets/systemd"
)

// Targets in render order.
var Targets = []render.Target{
	systemd.Target,
	k8s.Target,
	kubeadm.Target,
	apiserver.Target,
	ansible.Target,
	helm.Target,
	prometheus.Target,
}

// Optional targets render only when named with --target, never in a
// render of every target: k8s-secrets puts private keys into Secrets.
var Optional = []render.Target{
	k8s.SecretsTarget,
}

// Names lists the target names, optional ones last.
func Names() []string {
	var out []string
	for _, t := range append(Targets[:len(Targets):len(Targets)], Optional...) {
		out = append(out, t.Name)
	}
	return out
}

// Lookup finds a target by name, optional ones included.
func Lookup(name string) (render.Target, bool) {
	for _, t := range append(Targets[:len(Targets):len(Targets)], Optional...) {
		if t.Name == name {
			return t, true
		}
	}
	return render.Target{}, false
}
