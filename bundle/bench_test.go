package bundle

import (
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkBundle makes a whole bundle into a fresh dir: real keys (cfssl
// key generation, no pool), signing and atomic writes.
func BenchmarkBundle(b *testing.B) {
	for _, keys := range []struct{ name, cue string }{
		{"ecdsa256", `tls: keyAlgorithm: "ecdsa"`},
		{"rsa2048", `tls: keyAlgorithm: "rsa"`},
	} {
		for _, n := range []int{3, 7} {
			b.Run(fmt.Sprintf("%s/members=%d", keys.name, n), func(b *testing.B) {
				m := model(b, n, keys.cue)
				root := b.TempDir()
				i := 0
				for b.Loop() {
					dir := filepath.Join(root, fmt.Sprint(i))
					i++
					st, err := readState(dir, m)
					if err != nil {
						b.Fatal(err)
					}
					p, err := Decide(m, st, Options{})
					if err != nil {
						b.Fatal(err)
					}
					files, err := Issue(p, Options{})
					if err != nil {
						b.Fatal(err)
					}
					if err := writeBundle(dir, files, nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkKeep is the common case: a second run that decides to keep
// every certificate of a 3-member bundle.
func BenchmarkKeep(b *testing.B) {
	m := model(b, 3, "")
	dir := b.TempDir()
	st, _ := readState(dir, m)
	p, _ := Decide(m, st, Options{})
	files, _ := Issue(p, Options{})
	if err := writeBundle(dir, files, nil); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		st, err := readState(dir, m)
		if err != nil {
			b.Fatal(err)
		}
		p, err := Decide(m, st, Options{})
		if err != nil || p.Changes() != 0 {
			b.Fatal(err, p.Changes())
		}
	}
}

// BenchmarkIssue is the bundle in memory only (keys and signatures, no
// disk), to separate crypto from fsync in BenchmarkBundle.
func BenchmarkIssue(b *testing.B) {
	for _, keys := range []struct{ name, cue string }{
		{"ecdsa256", `tls: keyAlgorithm: "ecdsa"`},
		{"ecdsa384", `tls: {keyAlgorithm: "ecdsa", keySize: 384}`},
	} {
		for _, n := range []int{3, 7} {
			b.Run(fmt.Sprintf("%s/members=%d", keys.name, n), func(b *testing.B) {
				m := model(b, n, keys.cue)
				st := &State{Dir: "pki", Files: map[string][]byte{}}
				for b.Loop() {
					p, err := Decide(m, st, Options{})
					if err != nil {
						b.Fatal(err)
					}
					if _, err := Issue(p, Options{}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
