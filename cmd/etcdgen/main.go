// Command etcdgen compiles an etcd cluster spec into every file that runs
// the cluster: systemd units and env files, Kubernetes manifests, kubeadm
// and kube-apiserver configuration, and the TLS bundle.
package main

import "os"

func main() { os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
