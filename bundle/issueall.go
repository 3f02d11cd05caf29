package bundle

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"runtime"
	"sync"

	"github.com/etcdgen/etcdgen/render"
)

// Issue makes what the plan says: a new CA when it is created or rotated,
// then every leaf that is created or re-issued, signed by the CA. It
// returns only the files to write (bundle paths; keys 0600, certs 0644);
// kept files are not rewritten.
func Issue(p *Plan, opts Options) ([]render.File, error) {
	opts.defaults()
	if p.Blocked != "" {
		return nil, fmt.Errorf("%s", p.Blocked)
	}
	rnd := opts.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	// Serials are drawn in order, before any goroutine starts: the
	// injected reader need not be safe for concurrent use.
	serials := make([]*big.Int, len(p.Items))
	for i, it := range p.Items {
		if it.Action == Keep {
			continue
		}
		s, err := newSerial(rnd)
		if err != nil {
			return nil, err
		}
		serials[i] = s
	}

	var files []render.File
	add := func(name string, is *issued) {
		files = append(files,
			render.File{Path: name + ".key", Mode: 0o600, Data: is.keyPEM},
			render.File{Path: name + ".crt", Mode: 0o644, Data: is.certPEM},
		)
	}
	ca, caKey := p.ca, p.caKey
	if p.OldCA != "" {
		// The old pair, beside the new one, in the same commit.
		if data, ok := p.State.Files["ca.key"]; ok {
			files = append(files, render.File{Path: p.OldCA + ".key", Mode: 0o600, Data: data})
		}
		if data, ok := p.State.Files["ca.crt"]; ok {
			files = append(files, render.File{Path: p.OldCA + ".crt", Mode: 0o644, Data: data})
		}
	}
	if it := p.Items[0]; it.Action != Keep {
		is, err := issue(it.Cert, p.Keys, p.caValidity, p.now, serials[0], opts.NewKey, nil, nil)
		if err != nil {
			return nil, err
		}
		ca, caKey = is.cert, is.key
		add(it.Cert.Name, is)
	}

	// Leaves in parallel: RSA key generation dominates and is CPU-bound.
	results := make([]*issued, len(p.Items))
	errs := make([]error, len(p.Items))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i := 1; i < len(p.Items); i++ {
		if p.Items[i].Action == Keep {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i], errs[i] = issue(p.Items[i].Cert, p.Keys, p.certValidity, p.now, serials[i], opts.NewKey, ca, caKey)
		}()
	}
	wg.Wait()
	for i := 1; i < len(p.Items); i++ {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if results[i] != nil {
			add(p.Items[i].Cert.Name, results[i])
		}
	}

	tok, err := p.issueToken(opts.NewKey)
	if err != nil {
		return nil, err
	}
	files = append(files, tok...)

	switch p.Gitignore {
	case Create:
		files = append(files, render.File{Path: GitignoreName, Mode: 0o644, Data: []byte(gitignore)})
	case Reissue:
		old := p.State.Files[GitignoreName]
		data := append([]byte(nil), old...)
		if len(data) > 0 && data[len(data)-1] != '\n' {
			data = append(data, '\n')
		}
		data = append(data, gitignore...)
		files = append(files, render.File{Path: GitignoreName, Mode: 0o644, Data: data})
	}
	return files, nil
}

const gitignore = "# Private keys written by etcdgen certs: never commit them.\n*.key\n"
