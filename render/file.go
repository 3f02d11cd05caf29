package render

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

// File is one output file: a slash-separated path relative to the output
// root, its mode, and its bytes.
type File struct {
	Path string
	Mode FileMode
	Data []byte
}

// FileMode is an output file's permission bits (0o644, 0o600). It is not
// io/fs's FileMode so that render/ imports no file system package; the
// output layer converts.
type FileMode uint32

// Perm returns the permission bits.
func (m FileMode) Perm() FileMode { return m & 0o777 }

// Secret reports whether a file holds a private key: such files are written
// 0600 in 0700 directories and never to stdout.
func (f File) Secret() bool { return f.Mode&0o077 == 0 }

// Target is one backend: a pure function of the Model.
type Target struct {
	Name    string
	Summary string
	// Hosts targets place members on hosts and refuse a Kubernetes-only
	// spec (no members).
	Hosts  bool
	Render func(*Model) ([]File, error)
}

// Run renders a target and checks its files are well formed: relative,
// clean, unique paths. A problem here is a bug in the target.
func (t Target) Run(m *Model) ([]File, error) {
	if t.Hosts && len(m.Members) == 0 {
		src := m.Spec.Source
		if src == "" {
			src = "spec"
		}
		return nil, fmt.Errorf("%s: the %s target places members on hosts, but the spec has no members; add members: [{name: \"etcd1\", ip: \"10.0.0.11\"}, ...] or use --target k8s", src, t.Name)
	}
	files, err := t.Render(m)
	if err != nil {
		return nil, fmt.Errorf("%s target: %w", t.Name, err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		if err := CheckPath(f.Path); err != nil {
			return nil, fmt.Errorf("internal error: %s target: %w", t.Name, err)
		}
		if seen[f.Path] {
			return nil, fmt.Errorf("internal error: %s target writes %s twice", t.Name, f.Path)
		}
		seen[f.Path] = true
	}
	SortFiles(files)
	return files, nil
}

// CheckPath accepts a relative, clean, slash-separated path that stays
// inside its root.
func CheckPath(p string) error {
	switch {
	case p == "" || p == ".":
		return fmt.Errorf("empty output path")
	case strings.HasPrefix(p, "/") || strings.Contains(p, "\\"):
		return fmt.Errorf("output path %q is not relative", p)
	case path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../"):
		return fmt.Errorf("output path %q is not clean or leaves the output directory", p)
	}
	return nil
}

// SortFiles orders files by path, so every listing is deterministic.
func SortFiles(files []File) {
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
}

// Prefix puts files under dir (for fleet trees: <cluster>/<target>/...).
func Prefix(dir string, files []File) []File {
	out := make([]File, len(files))
	for i, f := range files {
		f.Path = path.Join(dir, f.Path)
		out[i] = f
	}
	return out
}
