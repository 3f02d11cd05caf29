package render

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Bundle is a certificate bundle read from disk (etcdgen certs --out DIR),
// for targets that place certificates into host trees. Keys are bundle
// paths such as "ca.crt" and "etcd1/server.key".
type Bundle struct {
	Dir   string
	Files map[string][]byte
}

// ReadBundle reads every .crt and .key file under dir.
func ReadBundle(dir string) (*Bundle, error) {
	b := &Bundle{Dir: dir, Files: map[string][]byte{}}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !(strings.HasSuffix(p, ".crt") || strings.HasSuffix(p, ".key")) {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		b.Files[filepath.ToSlash(rel)] = data
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("certificate bundle %s: %w", dir, err)
	}
	if _, ok := b.Files["ca.crt"]; !ok {
		return nil, fmt.Errorf("certificate bundle %s has no ca.crt; run etcdgen certs --out %s first", dir, dir)
	}
	return b, nil
}

// Get returns a bundle file, or an error that says how to make it.
func (b *Bundle) Get(name string) ([]byte, error) {
	data, ok := b.Files[name]
	if !ok {
		return nil, fmt.Errorf("%s is missing from the certificate bundle; run etcdgen certs --out %s", filepath.Join(b.Dir, name), b.Dir)
	}
	return data, nil
}
