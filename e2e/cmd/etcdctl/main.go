// Command etcdctl is the real etcdctl at the version pinned in e2e/go.mod,
// built like etcd itself (see ../etcd).
package main

import "go.etcd.io/etcd/etcdctl/v3/ctlv3"

func main() { ctlv3.MustStart() }
