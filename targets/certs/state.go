package certs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/etcdgen/etcdgen/render"
)

// GitignoreName is written into the bundle dir so keys stay out of git.
const GitignoreName = ".gitignore"

// State is what a bundle dir holds now: the files the plan names, by
// bundle path ("ca.crt", "etcd1/server.key", ".gitignore").
type State struct {
	Dir   string
	Files map[string][]byte
	Modes map[string]fs.FileMode
}

// ReadState reads the files of m's bundle that exist under dir. A missing
// dir is an empty bundle. A symlink or a non-regular file where a bundle
// file belongs is an error: the writer never writes through them.
func ReadState(dir string, m *render.Model) (*State, error) {
	st := &State{Dir: dir, Files: map[string][]byte{}, Modes: map[string]fs.FileMode{}}
	names := []string{GitignoreName}
	for _, c := range m.Certs {
		names = append(names, c.Name+".crt", c.Name+".key")
	}
	for _, n := range names {
		p := filepath.Join(dir, filepath.FromSlash(n))
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s is not a regular file (a symlink or a directory); etcdgen certs only reads and writes plain files in the bundle", p)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		st.Files[n] = data
		st.Modes[n] = fi.Mode().Perm()
	}
	return st, nil
}

// has reports whether a bundle file exists.
func (s *State) has(name string) bool {
	_, ok := s.Files[name]
	return ok
}

// path is a bundle file as the user named the dir, for messages.
func (s *State) path(name string) string {
	return filepath.ToSlash(filepath.Join(s.Dir, filepath.FromSlash(name)))
}

// gitignoreOK reports whether .gitignore ignores *.key.
func gitignoreOK(data []byte) bool {
	for _, l := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(l) == "*.key" {
			return true
		}
	}
	return false
}
