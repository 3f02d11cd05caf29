// Command etcd is the real etcd server at the version pinned in e2e/go.mod.
// etcd's own module cannot be `go install`ed (its go.mod has replace
// directives), so this two-line main links it from the module proxy.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
