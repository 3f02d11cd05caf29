package certs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/etcdgen/etcdgen/render"
)

// Write puts files into the bundle dir atomically: each is written to a
// temporary file in its final directory (created 0600, widened to its mode
// before the first byte for certs), synced, and only when every one is
// staged are they renamed into place, keys before their certificates. Directories it creates are 0700.
// It never writes through a symlink. chmod lists existing keys to tighten
// to 0600.
func Write(dir string, files []render.File, chmod []string) error {
	type staged struct{ tmp, dst string }
	// Directories and targets are checked in order first, so that nothing
	// is staged when any path is refused.
	dsts := make([]string, len(files))
	for i, f := range files {
		if err := render.CheckPath(f.Path); err != nil {
			return fmt.Errorf("internal error: %w", err)
		}
		d, err := mkdirs(dir, path.Dir(f.Path))
		if err != nil {
			return err
		}
		dst := filepath.Join(d, path.Base(f.Path))
		if fi, err := os.Lstat(dst); err == nil && !fi.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file; etcdgen does not write through symlinks", dst)
		}
		dsts[i] = dst
	}
	removeStaleTemps(dsts)
	// Temporary files are written in parallel, then made durable at once.
	done := make([]staged, len(files))
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tmp, err := render.WriteTemp(filepath.Dir(dsts[i]), f)
			if err != nil {
				errs[i] = fmt.Errorf("write %s: %w", dsts[i], err)
				return
			}
			done[i] = staged{tmp, dsts[i]}
		}()
	}
	wg.Wait()
	cleanup := func() {
		for _, s := range done {
			if s.tmp != "" {
				os.Remove(s.tmp)
			}
		}
	}
	for _, err := range errs {
		if err != nil {
			cleanup()
			return err
		}
	}
	// Durable before any rename.
	tmps := make([]string, len(done))
	for i, s := range done {
		tmps[i] = s.tmp
	}
	if err := render.Durable(dir, tmps); err != nil {
		cleanup()
		return err
	}
	dirs := map[string]bool{}
	for i, s := range done {
		if err := os.Rename(s.tmp, s.dst); err != nil {
			for _, t := range done[i:] {
				os.Remove(t.tmp)
			}
			return fmt.Errorf("write %s: %w", s.dst, err)
		}
		dirs[filepath.Dir(s.dst)] = true
	}
	// Make the renames durable; some filesystems refuse, best effort.
	var list []string
	for d := range dirs {
		list = append(list, d)
	}
	render.Durable(dir, list)
	for _, name := range chmod {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if err := os.Chmod(p, 0o600); err != nil {
			return fmt.Errorf("chmod %s: %w", p, err)
		}
	}
	return nil
}

// mkdirs creates root and rel under it, 0700, refusing symlinks and files
// in the way. It returns the directory's path.
func mkdirs(root, rel string) (string, error) {
	cur := root
	parts := []string{}
	if rel != "." {
		parts = strings.Split(rel, "/")
	}
	for i := -1; i < len(parts); i++ {
		if i >= 0 {
			cur = filepath.Join(cur, parts[i])
		}
		fi, err := os.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) {
			if i < 0 {
				err = os.MkdirAll(cur, 0o700)
			} else {
				err = os.Mkdir(cur, 0o700)
			}
			if err != nil {
				return "", err
			}
			continue
		}
		if err != nil {
			return "", err
		}
		if i >= 0 && fi.Mode()&fs.ModeSymlink != 0 {
			return "", fmt.Errorf("%s is a symlink; etcdgen does not write through symlinks inside the bundle", cur)
		}
		if !fi.IsDir() {
			// The root itself may be a symlink to a directory the user chose.
			if fi2, err := os.Stat(cur); i >= 0 || err != nil || !fi2.IsDir() {
				return "", fmt.Errorf("%s is not a directory", cur)
			}
		}
	}
	return cur, nil
}

// removeStaleTemps deletes temporary files a killed earlier run left in
// the directories about to be written: they may hold private keys.
func removeStaleTemps(dsts []string) {
	seen := map[string]bool{}
	for _, d := range dsts {
		dir := filepath.Dir(d)
		if seen[dir] {
			continue
		}
		seen[dir] = true
		stale, _ := filepath.Glob(filepath.Join(dir, render.TempPattern))
		for _, p := range stale {
			if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() {
				os.Remove(p)
			}
		}
	}
}
