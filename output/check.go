package output

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"

	"github.com/rogpeppe/go-internal/diff"

	"github.com/etcdgen/etcdgen/render"
)

// Kind is how a tree on disk differs from a render.
type Kind int

const (
	// Missing: rendered, not on disk.
	Missing Kind = iota
	// Stale: on disk with other bytes (Detail is a diff, none for keys).
	Stale
	// Mode: same bytes, other permissions (Detail says which).
	Mode
	// Orphan: in the manifest, no longer rendered (--prune removes it).
	Orphan
	// Unsafe: the path cannot be read safely (a symlink, a FIFO, a file
	// where a directory belongs, too big); Detail says why.
	Unsafe
	// DirMode: a directory holding keys is not 0700.
	DirMode
	// NoManifest: the tree exists but its manifest is missing or
	// unreadable, so orphans cannot be known (Detail says why).
	NoManifest
)

// Difference is one way the tree on disk differs from the render.
type Difference struct {
	Path   string
	Kind   Kind
	Detail []byte
}

// Check compares the rendered files with the tree under t.Root and
// returns every difference; it writes nothing, except that it first
// finishes a write a killed run left (and says so through t.Log).
// display names the root in paths.
func (t *Tree) Check(display string, files []render.File) ([]Difference, error) {
	if fi, err := os.Stat(t.Root); errors.Is(err, fs.ErrNotExist) {
		var out []Difference
		for _, f := range files {
			out = append(out, Difference{Path: path.Join(display, f.Path), Kind: Missing})
		}
		return out, nil
	} else if err != nil {
		return nil, err
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", t.Root)
	}
	l, err := lockDir(t.Root, t.Root, false)
	if err != nil {
		return nil, err
	}
	if _, err := os.Lstat(filepath.Join(t.Root, JournalName)); err == nil {
		l.release()
		if l, err = lockDir(t.Root, t.Root, true); err != nil {
			return nil, err
		}
		if n, err := recoverJournal(t.Root); err != nil {
			l.release()
			return nil, err
		} else if n > 0 {
			t.log("finished the interrupted write of an earlier run in %s (%d steps)", t.Root, n)
		}
	}
	defer l.release()

	rendered := map[string]bool{}
	dirs := map[string]error{}
	// Paths are checked in order (the directory cache is not shared);
	// the files are read and compared on the worker pool.
	results := make([]*Difference, len(files))
	var toRead []int
	dsts := make([]string, len(files))
	for i, f := range files {
		rendered[f.Path] = true
		name := path.Join(display, f.Path)
		dst, exists, err := t.safePathCached(f.Path, dirs)
		switch {
		case err != nil:
			results[i] = &Difference{Path: name, Kind: Unsafe, Detail: []byte(err.Error() + "\n")}
		case !exists:
			results[i] = &Difference{Path: name, Kind: Missing}
		default:
			dsts[i] = dst
			toRead = append(toRead, i)
		}
	}
	forEach(len(toRead), func(j int) {
		i := toRead[j]
		results[i] = compare(dsts[i], path.Join(display, files[i].Path), files[i])
	})
	var out []Difference
	for _, r := range results {
		if r != nil {
			out = append(out, *r)
		}
	}
	// Directories holding keys are 0700.
	var keyDirs []string
	for dir := range secretDirsOf(files) {
		keyDirs = append(keyDirs, dir)
	}
	sort.Strings(keyDirs)
	for _, dir := range keyDirs {
		p := filepath.Join(t.Root, filepath.FromSlash(dir))
		if fi, err := os.Lstat(p); err == nil && fi.IsDir() && fi.Mode().Perm() != 0o700 {
			out = append(out, Difference{Path: path.Join(display, dir), Kind: DirMode, Detail: []byte(fmt.Sprintf("mode %v, want %v\n", fi.Mode().Perm(), fs.FileMode(0o700)))})
		}
	}
	old, err := t.readManifest()
	if err != nil {
		out = append(out, Difference{Path: path.Join(display, ManifestName), Kind: NoManifest, Detail: []byte(err.Error() + "\n")})
	}
	for _, p := range old {
		if !rendered[p] {
			if _, err := os.Lstat(filepath.Join(t.Root, filepath.FromSlash(p))); err == nil {
				out = append(out, Difference{Path: path.Join(display, p), Kind: Orphan})
			}
		}
	}
	return out, nil
}

// compare says how the file at dst differs from f, or nil.
func compare(dst, name string, f render.File) *Difference {
	data, mode, err := ReadRegular(dst, max(MaxFileSize, int64(len(f.Data))))
	if errors.Is(err, fs.ErrNotExist) {
		return &Difference{Path: name, Kind: Missing}
	}
	if err != nil {
		return &Difference{Path: name, Kind: Unsafe, Detail: []byte(err.Error() + "\n")}
	}
	if !bytes.Equal(data, f.Data) {
		var d []byte
		if !f.Secret() {
			d = diff.Diff(name, data, "rendered", f.Data)
		}
		return &Difference{Path: name, Kind: Stale, Detail: d}
	}
	if mode.Perm() != fs.FileMode(f.Mode.Perm()) {
		return &Difference{Path: name, Kind: Mode, Detail: []byte(fmt.Sprintf("mode %v, want %v\n", mode.Perm(), fs.FileMode(f.Mode.Perm())))}
	}
	return nil
}
