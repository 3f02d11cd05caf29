// Command kubeadm is the real kubeadm of k8s.io/kubernetes at the version in
// e2e/go.mod (every k8s.io staging module replaced by its published v0.X.Y
// of the same release), so the suite can run `kubeadm config validate` on
// the generated ClusterConfiguration. The Makefile links the version in
// with k8s.io/component-base/version ldflags.
package main

import (
	"k8s.io/kubernetes/cmd/kubeadm/app"
	utilerrors "k8s.io/kubernetes/cmd/kubeadm/app/util/errors"
)

func main() { utilerrors.HandleError(app.Run()) }
