// Command coredns is the cluster DNS of the suite's one-node Kubernetes:
// CoreDNS with only the plugins the suite's Corefile uses, so the build
// stays small (the full CoreDNS links every cloud provider's SDK). It runs
// as a host process on the node's bridge address; pods resolve the headless
// Service's per-pod names through it (etcd's peers find each other by them).
//
// The directive order is CoreDNS's plugin.cfg order (a directive's place
// there decides when it runs), restricted to these plugins.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"
)

func init() {
	dnsserver.Directives = []string{"bind", "ready", "errors", "kubernetes"}
}

func main() { coremain.Run() }
