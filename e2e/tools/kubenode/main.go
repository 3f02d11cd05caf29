// Command kubenode is the control plane and node agent of the suite's one-node
// Kubernetes in one binary: kube-apiserver, kube-controller-manager,
// kube-scheduler, kubelet and kubectl of k8s.io/kubernetes at the version in
// this module's go.mod (every k8s.io staging module replaced by its
// published v0.X.Y of the same release). One binary compiles the packages
// the five share once: building them as five binaries costs about five times
// the link and most of the compile again. The first argument (or the name
// it runs under, as busybox does) picks the program:
//
//	kubenode kube-apiserver --etcd-servers=...
//	ln -s kubenode kubectl && kubectl get pods
//
// The Makefile links the version in with k8s.io/component-base/version
// ldflags, as the Kubernetes release build does.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	kubectl "k8s.io/kubectl/pkg/cmd"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

var programs = map[string]func() *cobra.Command{
	"kube-apiserver":          apiserver.NewAPIServerCommand,
	"kube-controller-manager": controllermanager.NewControllerManagerCommand,
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
	"kubelet":                 func() *cobra.Command { return kubelet.NewKubeletCommand(context.Background()) },
	"kubectl":                 kubectl.NewDefaultKubectlCommand,
}

func main() {
	name, args := filepath.Base(os.Args[0]), os.Args[1:]
	if _, ok := programs[name]; !ok && len(args) > 0 {
		name, args = args[0], args[1:]
	}
	newCmd, ok := programs[name]
	if !ok {
		fmt.Fprintln(os.Stderr, "usage: kubenode kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kubectl [flags]")
		os.Exit(2)
	}
	cmd := newCmd()
	cmd.SetArgs(args)
	os.Exit(cli.Run(cmd))
}
