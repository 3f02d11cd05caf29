// Package all lists every target, in the order a fleet render writes them.
// Adding a target is one line here and a package of its own.
package all

import (
	"github.com/etcdgen/etcdgen/render"
	"github.com/etcdgen/etcdgen/targets/ansible"
	"github.com/etcdgen/etcdgen/targets/apiserver"
	"github.com/etcdgen/etcdgen/targets/kubeadm"
	"github.com/etcdgen/etcdgen/targets/systemd"
)

// Targets in render order.
var Targets = []render.Target{
	systemd.Target,
	kubeadm.Target,
	apiserver.Target,
	ansible.Target,
}

// Names lists the target names.
func Names() []string {
	out := make([]string, len(Targets))
	for i, t := range Targets {
		out[i] = t.Name
	}
	return out
}

// Lookup finds a target by name.
func Lookup(name string) (render.Target, bool) {
	for _, t := range Targets {
		if t.Name == name {
			return t, true
		}
	}
	return render.Target{}, false
}
