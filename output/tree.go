// Package output is the only code that reads or writes etcdgen's output:
// file trees (render --out), certificate bundles (certs --out), stdout. It
// owns the transactions that survive SIGKILL, the locks, the manifest,
// safe paths (no symlinks, only regular files), durability, --check and
// --prune, and the git guard. render/ and the targets stay pure.
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
	"strings"
	"sync"
	"syscall"

	"github.com/etcdgen/etcdgen/render"
)

// ManifestName lists, inside an output tree, every file etcdgen wrote
// there and has not removed since (keys included), so --check reports
// orphans and --prune removes only etcdgen's own files.
const ManifestName = ".etcdgen-manifest"

// Tree is an output tree on disk.
type Tree struct {
	Root string
	// Log receives notes for stderr (an interrupted write finished).
	Log func(msg string)
}

// testHookBeforeWrite sees each temp file after its mode is set and before
// its first byte (tests only).
var testHookBeforeWrite func(name string, f render.File)

// hookMu serialises the hook: temp files are written in parallel.
var hookMu sync.Mutex

// Result says what a write did, by output path.
type Result struct {
	Written   []string
	Unchanged []string
	Pruned    []string
}

func (t *Tree) log(format string, args ...any) {
	if t.Log != nil {
		t.Log(fmt.Sprintf(format, args...))
	}
}

// pending is a file to write: its temp file is staged, then renamed to dst.
type pending struct {
	tmp, dst string
	rel      string
	file     render.File
}

// Write writes files (paths relative to Root) and the manifest, as one
// transaction. prune removes files the manifest lists that are no longer
// rendered, keys first, in the same transaction.
func (t *Tree) Write(files []render.File, prune bool) (*Result, error) {
	for _, f := range files {
		if err := render.CheckPath(f.Path); err != nil {
			return nil, err
		}
		if strings.HasPrefix(path.Base(f.Path), tempPrefix) {
			return nil, fmt.Errorf("internal error: output path %s uses etcdgen's own prefix %s", f.Path, tempPrefix)
		}
	}
	if fi, err := os.Stat(t.Root); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", t.Root)
	}
	if _, err := os.Lstat(t.Root); errors.Is(err, fs.ErrNotExist) {
		res, err := t.writeFresh(files)
		if err != errExists {
			return res, err
		}
		// Another run made the tree meanwhile: update it under the lock.
	}
	l, err := lockDir(t.Root, t.Root, true)
	if err != nil {
		return nil, err
	}
	defer l.release()
	if n, err := recoverJournal(t.Root); err != nil {
		return nil, err
	} else if n > 0 {
		t.log("finished the interrupted write of an earlier run in %s (%d steps)", t.Root, n)
	}
	return t.update(files, prune)
}

func (t *Tree) update(files []render.File, prune bool) (*Result, error) {
	res := &Result{}
	old, manifestErr := t.readManifest()
	if manifestErr != nil && (prune || !errors.Is(manifestErr, fs.ErrNotExist)) && !t.empty() {
		return nil, fmt.Errorf("%w; etcdgen cannot tell which files it wrote there", manifestErr)
	}
	rendered := map[string]bool{}
	for _, f := range files {
		rendered[f.Path] = true
	}
	// The manifest keeps every file etcdgen wrote until etcdgen removes
	// it: an orphan stays listed (and reported by --check) until --prune.
	var ops []op
	keep := append([]string(nil), paths(files)...)
	var orphans []string
	for _, p := range old {
		if rendered[p] {
			continue
		}
		if _, err := os.Lstat(filepath.Join(t.Root, filepath.FromSlash(p))); err != nil {
			continue
		}
		if prune {
			orphans = append(orphans, p)
		} else {
			keep = append(keep, p)
		}
	}
	// Keys go first: a prune cut short must not leave a key behind while
	// harmless files are gone.
	sort.SliceStable(orphans, func(i, j int) bool { return t.isKey(orphans[i]) && !t.isKey(orphans[j]) })
	all := append(append([]render.File(nil), files...), render.File{Path: ManifestName, Mode: 0o644, Data: manifestBytes(keep)})

	var staged []pending
	made := map[string]bool{}  // directories already made in this write
	var created []string       // directories this write made, outermost first
	dirs := map[string]error{} // safePath's verdict per directory
	swept := map[string]bool{}
	cleanup := func() {
		for _, p := range staged {
			if p.tmp != "" {
				os.Remove(p.tmp)
			}
		}
		// Directories made for the new files go too (innermost first;
		// os.Remove leaves any that are not empty).
		for i := len(created) - 1; i >= 0; i-- {
			os.Remove(created[i])
		}
	}
	secretDirs := secretDirsOf(all)
	for _, f := range all {
		dst, exists, err := t.safePathCached(f.Path, dirs)
		if err != nil {
			cleanup()
			return nil, err
		}
		if dir := path.Dir(f.Path); !swept[dir] && checkDir(t.Root, dir, f.Path, dirs, "--out") == nil {
			swept[dir] = true
			removeDeadTemps(filepath.Dir(dst)) // a killed run's leftovers
		}
		if exists && same(dst, f) {
			if f.Path != ManifestName {
				res.Unchanged = append(res.Unchanged, f.Path)
			}
			continue
		}
		if err := t.mkdirs(path.Dir(f.Path), secretDirs, made, &created); err != nil {
			cleanup()
			return nil, err
		}
		staged = append(staged, pending{dst: dst, rel: f.Path, file: f})
	}
	if err := t.stage(staged); err != nil {
		cleanup()
		return nil, err
	}
	// Every temp file reaches the disk before the journal, so a crash
	// leaves either the old file or the new one, never a torn one.
	tmps := make([]string, len(staged))
	for i, p := range staged {
		tmps[i] = p.tmp
	}
	if err := durable(t.Root, tmps); err != nil {
		cleanup()
		return nil, err
	}
	for _, p := range staged {
		rel, _ := filepath.Rel(t.Root, p.tmp)
		ops = append(ops, op{tmp: filepath.ToSlash(rel), dst: p.rel})
		if p.rel != ManifestName {
			res.Written = append(res.Written, p.rel)
		}
	}
	for _, p := range orphans {
		ops = append(ops, op{dst: p})
		res.Pruned = append(res.Pruned, p)
	}
	if journaled, err := commit(t.Root, ops); err != nil {
		if !journaled {
			cleanup()
		}
		return nil, err
	}
	// Key directories an older tree or a user left open get 0700 again.
	for dir := range secretDirs {
		p := filepath.Join(t.Root, filepath.FromSlash(dir))
		if fi, err := os.Lstat(p); err == nil && fi.IsDir() && fi.Mode().Perm() != 0o700 {
			if err := os.Chmod(p, 0o700); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

// empty reports whether Root holds nothing but etcdgen's bookkeeping.
func (t *Tree) empty() bool {
	ents, err := os.ReadDir(t.Root)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), tempPrefix) {
			return false
		}
	}
	return true
}

// isKey reports whether an existing file in the tree is a private key
// (no permission for group or others, as etcdgen writes keys).
func (t *Tree) isKey(rel string) bool {
	fi, err := os.Lstat(filepath.Join(t.Root, filepath.FromSlash(rel)))
	return err == nil && fi.Mode().Perm()&0o077 == 0
}

func paths(files []render.File) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.Path
	}
	return out
}

func secretDirsOf(files []render.File) map[string]bool {
	out := map[string]bool{}
	for _, f := range files {
		if f.Secret() {
			out[path.Dir(f.Path)] = true
		}
	}
	return out
}

// errExists: a fresh tree lost the race to another run's.
var errExists = errors.New("exists")

// writeFresh builds a tree that does not exist yet in a directory beside
// it and renames that into place: the whole tree appears at once, and a
// file costs one create instead of a create and a rename (twice as fast on
// ext4 for a fleet of thousands of files). The lock file is made and held
// in the new directory, so the tree is locked from its first instant.
func (t *Tree) writeFresh(files []render.File) (*Result, error) {
	parent := filepath.Dir(filepath.Clean(t.Root))
	madeParents, err := mkdirAllTracked(parent, 0o755)
	if err != nil {
		return nil, err
	}
	removeParents := func() {
		for i := len(madeParents) - 1; i >= 0; i-- {
			os.Remove(madeParents[i])
		}
	}
	// Leftovers of killed runs (never a live run's).
	if ents, err := os.ReadDir(parent); err == nil {
		for _, e := range ents {
			if e.IsDir() && deadOwner(e.Name(), ".tmpdir") {
				os.RemoveAll(filepath.Join(parent, e.Name()))
			}
		}
	}
	tmp := tempName(parent, ".tmpdir")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		removeParents()
		return nil, err
	}
	var l *lock
	fail := func(err error) (*Result, error) {
		l.release()
		os.RemoveAll(tmp)
		removeParents()
		return nil, err
	}
	if l, err = lockDir(tmp, t.Root, true); err != nil {
		return fail(err)
	}
	all := append(append([]render.File(nil), files...), render.File{Path: ManifestName, Mode: 0o644, Data: manifestBytes(paths(files))})
	secretDirs := secretDirsOf(all)
	made := map[string]bool{".": true}
	staged := make([]pending, len(all))
	for i, f := range all {
		for _, dir := range parents(path.Dir(f.Path)) {
			if made[dir] {
				continue
			}
			mode := fs.FileMode(0o755)
			if secretDirs[dir] {
				mode = 0o700
			}
			if err := os.Mkdir(filepath.Join(tmp, filepath.FromSlash(dir)), mode); err != nil {
				return fail(err)
			}
			made[dir] = true
		}
		staged[i] = pending{dst: filepath.Join(tmp, filepath.FromSlash(f.Path)), rel: f.Path, file: f}
	}
	if err := parallel(staged, func(p *pending) error { return writeNew(p.dst, p.file) }); err != nil {
		return fail(err)
	}
	syncs := make([]string, 0, len(staged)+len(made)+1)
	for _, p := range staged {
		syncs = append(syncs, p.dst)
	}
	for dir := range made {
		syncs = append(syncs, filepath.Join(tmp, filepath.FromSlash(dir)))
	}
	syncs = append(syncs, filepath.Join(tmp, LockName))
	if err := durable(parent, syncs); err != nil {
		return fail(err)
	}
	// Mkdir made it 0700, right for keys at the top; the root of a tree
	// for git is 0755.
	if !secretDirs["."] {
		if err := os.Chmod(tmp, 0o755); err != nil {
			return fail(err)
		}
	}
	if err := step("rename", tmp); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, filepath.Clean(t.Root)); err != nil {
		if errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.ENOTEMPTY) {
			fail(nil)
			return nil, errExists
		}
		return fail(fmt.Errorf("write %s: %w", t.Root, err))
	}
	l.release()
	syncFile(parent)
	res := &Result{Written: paths(files)}
	return res, nil
}

// mkdirAllTracked is os.MkdirAll that returns the directories it made,
// outermost first, so a failed run can remove them.
func mkdirAllTracked(dir string, mode fs.FileMode) ([]string, error) {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	var made []string
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], mode); err != nil && !errors.Is(err, fs.ErrExist) {
			for j := len(made) - 1; j >= 0; j-- {
				os.Remove(made[j])
			}
			return nil, err
		} else if err == nil {
			made = append(made, missing[i])
		}
	}
	return made, nil
}

// parents lists dir and its ancestors, outermost first ("a", "a/b").
func parents(dir string) []string {
	if dir == "." {
		return nil
	}
	return append(parents(path.Dir(dir)), dir)
}

// stage writes each pending file's temp file; on error some may have been
// written (cleanup removes them).
func (t *Tree) stage(staged []pending) error {
	return parallel(staged, func(p *pending) error {
		tmp := tempName(filepath.Dir(p.dst), ".tmp")
		if err := writeNew(tmp, p.file); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("write %s: %w", filepath.Join(t.Root, filepath.FromSlash(p.rel)), err)
		}
		p.tmp = tmp
		return nil
	})
}

// parallel runs write on every pending file on the worker pool and
// returns the first error in file order.
func parallel(staged []pending, write func(*pending) error) error {
	errs := make([]error, len(staged))
	forEach(len(staged), func(i int) { errs[i] = write(&staged[i]) })
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// safePathCached maps a relative path under Root to a real path, refusing
// any existing component (below Root) that is a symlink or not a
// directory. Each directory is checked once, and below a missing
// directory nothing is looked up. exists reports whether dst itself
// exists.
func (t *Tree) safePathCached(rel string, dirs map[string]error) (dst string, exists bool, err error) {
	verdict := checkDir(t.Root, path.Dir(rel), rel, dirs, "--out")
	switch {
	case verdict == errMissing:
		return filepath.Join(t.Root, filepath.FromSlash(rel)), false, nil
	case verdict != nil:
		return "", false, verdict
	}
	dst = filepath.Join(t.Root, filepath.FromSlash(rel))
	fi, err := os.Lstat(dst)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return dst, false, nil
	case err != nil:
		return "", false, err
	case fi.Mode()&fs.ModeSymlink != 0:
		return "", false, fmt.Errorf("%s is a symlink; etcdgen does not write through symlinks inside --out", dst)
	case !fi.Mode().IsRegular():
		return "", false, fmt.Errorf("%s exists and is %s, not a regular file", dst, KindOf(fi.Mode()))
	}
	return dst, true, nil
}

// errMissing marks a directory that does not exist yet.
var errMissing = errors.New("missing")

// checkDir says whether dir (slash-separated below root, "." for root)
// exists as real directories: nil, errMissing, or why it cannot be written
// through (a symlink, a file). Verdicts are cached per directory; file
// names the file that needs dir, for the message.
func checkDir(root, dir, file string, dirs map[string]error, where string) error {
	if dir == "." {
		return nil
	}
	if v, ok := dirs[dir]; ok {
		return v
	}
	v := checkDir(root, path.Dir(dir), file, dirs, where)
	if v == nil {
		cur := filepath.Join(root, filepath.FromSlash(dir))
		fi, err := os.Lstat(cur)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			v = errMissing
		case err != nil:
			v = err
		case fi.Mode()&fs.ModeSymlink != 0:
			v = fmt.Errorf("%s is a symlink; etcdgen does not write through symlinks inside %s", cur, where)
		case !fi.IsDir():
			v = fmt.Errorf("%s is a file, but %s needs it to be a directory", cur, file)
		}
	}
	dirs[dir] = v
	return v
}

func (t *Tree) mkdirs(rel string, secretDirs, made map[string]bool, created *[]string) error {
	if made[rel] || rel == "." {
		return nil
	}
	prefix := ""
	for _, part := range strings.Split(rel, "/") {
		prefix = path.Join(prefix, part)
		if made[prefix] {
			continue
		}
		cur := filepath.Join(t.Root, filepath.FromSlash(prefix))
		mode := fs.FileMode(0o755)
		if secretDirs[prefix] {
			mode = 0o700
		}
		if err := step("mkdir", cur); err != nil {
			return err
		}
		err := os.Mkdir(cur, mode)
		if err == nil {
			*created = append(*created, cur)
		}
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		fi, err := os.Lstat(cur)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", cur)
		}
		made[prefix] = true
	}
	return nil
}

// same reports whether the file at dst already has f's bytes and mode.
func same(dst string, f render.File) bool {
	data, mode, err := ReadRegular(dst, int64(len(f.Data)))
	return err == nil && mode.Perm() == fs.FileMode(f.Mode.Perm()) && bytes.Equal(data, f.Data)
}

func manifestBytes(list []string) []byte {
	var b bytes.Buffer
	b.WriteString("# Files written by etcdgen; --prune removes those no longer rendered.\n")
	list = append([]string(nil), list...)
	sort.Strings(list)
	for i, p := range list {
		if i > 0 && list[i-1] == p {
			continue
		}
		b.WriteString(p + "\n")
	}
	return b.Bytes()
}

// readManifest returns the paths the manifest lists, leaving out any that
// are not a clean relative path or are etcdgen's own bookkeeping (the
// manifest never lists itself, so --prune never removes it).
func (t *Tree) readManifest() ([]string, error) {
	name := filepath.Join(t.Root, ManifestName)
	data, _, err := ReadRegular(name, MaxFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s has no manifest %s: %w", t.Root, ManifestName, err)
	}
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || render.CheckPath(line) != nil || strings.HasPrefix(path.Base(line), tempPrefix) {
			continue
		}
		out = append(out, line)
	}
	return out, nil
}
