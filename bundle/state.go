package bundle

import (
	"io/fs"
	"path"
	"path/filepath"
	"strings"

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

// Names lists the bundle files m's certificates need: the only files
// etcdgen reads from a bundle directory.
func Names(m *render.Model) []string {
	names := []string{GitignoreName}
	for _, c := range m.Certs {
		names = append(names, c.Name+".crt", c.Name+".key")
	}
	return append(names, tokenNames(m)...)
}

// NewState is the bundle in dir as read (by package output): the files of
// Names that exist, with their modes.
func NewState(dir string, files map[string][]byte, modes map[string]fs.FileMode) *State {
	return &State{Dir: dir, Files: files, Modes: modes}
}

// path is a bundle file as the user named the dir, for messages.
func (s *State) path(name string) string {
	return path.Join(filepath.ToSlash(s.Dir), name)
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
