package output

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/etcdgen/etcdgen/render"
)

// Bundle is a certificate bundle directory (etcdgen certs --out), held
// under its lock from Open to Close so that two runs never issue two CAs.
type Bundle struct {
	Dir string
	// Log receives notes for stderr (an interrupted write finished).
	Log     func(msg string)
	lock    *lock
	created []string // directories this run made, outermost first
	ok      bool     // committed: keep what was created
}

// OpenBundle locks dir and finishes a write a killed run left there. A
// writer (write) creates the directory, 0700; a reader of a missing
// directory gets an empty bundle.
func OpenBundle(dir string, write bool, log func(string)) (*Bundle, error) {
	b := &Bundle{Dir: dir, Log: log}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !write:
		return b, nil
	case errors.Is(err, fs.ErrNotExist):
		if b.created, err = mkdirAllTracked(dir, 0o700); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	case !fi.IsDir():
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	if b.lock, err = lockDir(dir, dir, write); err != nil {
		b.Close()
		return nil, err
	}
	if _, err := os.Lstat(filepath.Join(dir, JournalName)); err == nil {
		if !write {
			b.lock.release()
			if b.lock, err = lockDir(dir, dir, true); err != nil {
				return nil, err
			}
		}
		n, err := recoverJournal(dir)
		if err != nil {
			b.Close()
			return nil, err
		}
		if n > 0 && log != nil {
			log(fmt.Sprintf("finished the interrupted write of an earlier run in %s (%d steps)", dir, n))
		}
	}
	if write {
		// Temp files of a killed run may hold keys: they go even when
		// this run writes nothing. A bundle is a few directories.
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				removeDeadTemps(p)
			}
			return nil
		})
	}
	return b, nil
}

// Close releases the lock; after a run that committed nothing, the
// directories it made (and its lock file in them) go.
func (b *Bundle) Close() {
	if !b.ok && len(b.created) > 0 {
		os.Remove(filepath.Join(b.Dir, LockName))
		for i := len(b.created) - 1; i >= 0; i-- {
			os.Remove(b.created[i])
		}
	}
	b.lock.release()
}

// Read reads the named bundle files that exist (slash-separated paths),
// each a regular file opened without following symlinks, with its mode.
// Nothing else in the directory is read.
func (b *Bundle) Read(names []string) (map[string][]byte, map[string]fs.FileMode, error) {
	files := map[string][]byte{}
	modes := map[string]fs.FileMode{}
	dirs := map[string]error{}
	for _, n := range names {
		if err := render.CheckPath(n); err != nil {
			return nil, nil, fmt.Errorf("internal error: %w", err)
		}
		switch v := checkDir(b.Dir, path.Dir(n), n, dirs, "the bundle"); {
		case v == errMissing:
			continue
		case v != nil:
			return nil, nil, v
		}
		p := filepath.Join(b.Dir, filepath.FromSlash(n))
		data, mode, err := ReadRegular(p, MaxFileSize)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("certificate bundle: %w", err)
		}
		files[n] = data
		modes[n] = mode.Perm()
	}
	return files, modes, nil
}

// Commit writes files into the bundle as one transaction (directories it
// creates are 0700) and tightens the keys in chmod to 0600. It never
// writes through a symlink.
func (b *Bundle) Commit(files []render.File, chmod []string) error {
	if b.lock == nil {
		return errors.New("internal error: bundle not opened for writing")
	}
	var created []string
	var staged []pending
	cleanup := func() {
		for _, p := range staged {
			if p.tmp != "" {
				os.Remove(p.tmp)
			}
		}
		for i := len(created) - 1; i >= 0; i-- {
			os.Remove(created[i])
		}
	}
	// Directories and targets are checked in order first, so that nothing
	// is staged when any path is refused.
	swept := map[string]bool{}
	for _, f := range files {
		if err := render.CheckPath(f.Path); err != nil {
			cleanup()
			return fmt.Errorf("internal error: %w", err)
		}
		d, err := mkdirsBundle(b.Dir, path.Dir(f.Path), &created)
		if err != nil {
			cleanup()
			return err
		}
		dst := filepath.Join(d, path.Base(f.Path))
		if fi, err := os.Lstat(dst); err == nil && !fi.Mode().IsRegular() {
			cleanup()
			return fmt.Errorf("%s is not a regular file; etcdgen does not write through symlinks", dst)
		}
		if !swept[d] {
			swept[d] = true
			removeDeadTemps(d) // they may hold private keys
		}
		staged = append(staged, pending{dst: dst, rel: f.Path, file: f})
	}
	if err := parallel(staged, func(p *pending) error {
		tmp := tempName(filepath.Dir(p.dst), ".tmp")
		if err := writeNew(tmp, p.file); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("write %s: %w", p.dst, err)
		}
		p.tmp = tmp
		return nil
	}); err != nil {
		cleanup()
		return err
	}
	tmps := make([]string, len(staged))
	var ops []op
	for i, p := range staged {
		tmps[i] = p.tmp
		rel, _ := filepath.Rel(b.Dir, p.tmp)
		ops = append(ops, op{tmp: filepath.ToSlash(rel), dst: p.rel})
	}
	if err := durable(b.Dir, tmps); err != nil {
		cleanup()
		return err
	}
	if journaled, err := commit(b.Dir, ops); err != nil {
		if !journaled {
			cleanup()
		}
		return err
	}
	b.ok = true
	for _, name := range chmod {
		p := filepath.Join(b.Dir, filepath.FromSlash(name))
		if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if err := os.Chmod(p, 0o600); err != nil {
			return fmt.Errorf("chmod %s: %w", p, err)
		}
	}
	return nil
}

// mkdirsBundle creates rel under root, 0700, refusing symlinks and files
// in the way. It returns the directory's path.
func mkdirsBundle(root, rel string, created *[]string) (string, error) {
	cur := root
	if rel == "." {
		return cur, nil
	}
	for _, part := range strings.Split(rel, "/") {
		cur = filepath.Join(cur, part)
		fi, err := os.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) {
			if err := step("mkdir", cur); err != nil {
				return "", err
			}
			if err := os.Mkdir(cur, 0o700); err != nil {
				return "", err
			}
			*created = append(*created, cur)
			continue
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return "", fmt.Errorf("%s is a symlink; etcdgen does not write through symlinks inside the bundle", cur)
		}
		if !fi.IsDir() {
			return "", fmt.Errorf("%s is not a directory", cur)
		}
	}
	return cur, nil
}

// ReadBundle reads, for render --certs, the named files of the bundle in
// dir (those that exist; ca.crt must).
func ReadBundle(dir string, names []string, log func(string)) (*render.Bundle, error) {
	b, err := OpenBundle(dir, false, log)
	if err != nil {
		return nil, fmt.Errorf("certificate bundle %s: %w", dir, err)
	}
	defer b.Close()
	files, _, err := b.Read(names)
	if err != nil {
		return nil, err
	}
	if _, ok := files["ca.crt"]; !ok {
		return nil, fmt.Errorf("certificate bundle %s has no ca.crt; run etcdgen certs --out %s first", dir, dir)
	}
	return &render.Bundle{Dir: dir, Files: files}, nil
}
