// Package e2e proves etcdgen's output on real software: a real etcd and
// etcdctl (built from the module proxy at the version pinned in go.mod),
// started only from the files etcdgen renders; the kube-apiserver's own flag
// parsing and etcd health check; Debian's systemd-analyze.
//
// It is its own module so that the tool's go.mod stays lean: the etcdgen
// binary under test is built from the repository root with `go build`.
// Run it with `make -C e2e test` (root: `make test`).
package e2e
