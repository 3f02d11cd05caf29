package render

import (
	"fmt"
	"path"
)

// Bundle is a certificate bundle read from disk (etcdgen certs --out DIR;
// package output reads it), for targets that place certificates into host
// trees. Keys are bundle paths such as "ca.crt" and "etcd1/server.key".
type Bundle struct {
	Dir   string
	Files map[string][]byte
}

// Get returns a bundle file, or an error that says how to make it.
func (b *Bundle) Get(name string) ([]byte, error) {
	data, ok := b.Files[name]
	if !ok {
		return nil, fmt.Errorf("%s is missing from the certificate bundle; run etcdgen certs --out %s", path.Join(b.Dir, name), b.Dir)
	}
	return data, nil
}
