package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/rogpeppe/go-internal/diff"
)

// ManifestName lists, inside an output tree, the files etcdgen wrote there,
// so --check can report orphans and --prune removes only etcdgen's own.
const ManifestName = ".etcdgen-manifest"

// WriteStdout writes one file's bytes, or several as a txtar archive
// ("-- path --" headers). Private keys never go to stdout.
func WriteStdout(w io.Writer, files []File) error {
	for _, f := range files {
		if f.Secret() {
			return fmt.Errorf("%s is a private key and is never written to stdout; give --out DIR", f.Path)
		}
	}
	if len(files) == 1 {
		_, err := w.Write(files[0].Data)
		return err
	}
	var b bytes.Buffer
	for _, f := range files {
		fmt.Fprintf(&b, "-- %s --\n", f.Path)
		b.Write(f.Data)
		if len(f.Data) > 0 && f.Data[len(f.Data)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// TreeWriter writes files under a root directory. Each file goes to a
// temporary file in its own directory, is synced, and renamed into place;
// every temporary file is written before the first rename, so a failure
// leaves the old tree as it was. It never follows a symlink inside the root.
type TreeWriter struct {
	Root string
	// Manifest records the written paths in Root/.etcdgen-manifest.
	Manifest bool
	// failAfter injects a write failure after n files (tests only).
	failAfter int
	// beforeRename runs after every temp file is staged (tests only: a
	// child process is killed there).
	beforeRename func()
}

// testHookBeforeWrite sees each temp file after its mode is set and before
// its first byte (tests only).
var testHookBeforeWrite func(name string, f File)

// hookMu serialises the hook: temp files are written in parallel.
var hookMu sync.Mutex

// TempPattern names temp files; a write removes those a killed write left
// in the directories it writes to.
const TempPattern = ".etcdgen-*.tmp"

// pending is a file to write: its temp file is staged, then renamed to dst.
type pending struct {
	tmp, dst string
	rel      string
	file     File
	index    int // in the write's file list (failure injection)
}

// Result says what a write did, by output path.
type Result struct {
	Written   []string
	Unchanged []string
	Pruned    []string
}

// Write writes files (paths relative to Root). prune removes files listed
// in the old manifest that are no longer rendered.
func (t *TreeWriter) Write(files []File, prune bool) (*Result, error) {
	res := &Result{}
	all := files
	oldManifest := t.readManifest()
	if t.Manifest {
		all = append(append([]File(nil), files...), File{Path: ManifestName, Mode: 0o644, Data: manifestBytes(files)})
	}
	if _, err := os.Lstat(t.Root); errors.Is(err, fs.ErrNotExist) {
		return t.writeFresh(all)
	}
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
	// A directory holding a key is 0700 whichever file makes it first.
	secretDirs := map[string]bool{}
	for _, f := range all {
		if f.Secret() {
			secretDirs[path.Dir(f.Path)] = true
		}
	}
	// Plan: check every path and make the directories, in order.
	for i, f := range all {
		if err := CheckPath(f.Path); err != nil {
			cleanup()
			return nil, err
		}
		dst, exists, err := t.safePathCached(f.Path, dirs)
		if err != nil {
			cleanup()
			return nil, err
		}
		if dir := filepath.Dir(dst); exists && !swept[dir] {
			swept[dir] = true
			removeStaleTemps(dir) // a killed write's leftovers
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
		staged = append(staged, pending{dst: dst, rel: f.Path, file: f, index: i})
	}
	// Stage: every temp file, written in parallel (the cost is syscalls,
	// thousands in a fleet render, not CPU).
	if err := t.stage(staged); err != nil {
		cleanup()
		return nil, err
	}
	// Every temp file reaches the disk before the first rename, so a crash
	// leaves either the old file or the new one, never a torn one.
	if err := t.syncAll(staged); err != nil {
		cleanup()
		return nil, err
	}
	if t.beforeRename != nil {
		t.beforeRename()
	}
	for i, p := range staged {
		if err := os.Rename(p.tmp, p.dst); err != nil {
			for _, q := range staged[i:] {
				os.Remove(q.tmp)
			}
			return nil, fmt.Errorf("write %s: %w", p.dst, err)
		}
		if p.rel != ManifestName {
			res.Written = append(res.Written, p.rel)
		}
	}
	// And the renames themselves (directory entries).
	if len(staged) > 0 {
		dirs := map[string]bool{}
		var list []string
		for _, p := range staged {
			if d := filepath.Dir(p.dst); !dirs[d] {
				dirs[d] = true
				list = append(list, d)
			}
		}
		Durable(t.Root, list)
	}
	if prune {
		rendered := map[string]bool{}
		for _, f := range files {
			rendered[f.Path] = true
		}
		for _, p := range oldManifest {
			if rendered[p] || CheckPath(p) != nil {
				continue
			}
			dst, err := t.safePath(p)
			if err != nil {
				continue
			}
			if err := os.Remove(dst); err == nil {
				res.Pruned = append(res.Pruned, p)
			}
		}
	}
	return res, nil
}

// freshPattern names the directory a new tree is built in, beside Root.
const freshPattern = ".etcdgen-*.tmpdir"

// writeFresh builds a tree that does not exist yet in a directory beside
// it and renames that into place: the whole tree appears at once, and a
// file costs one create instead of a create and a rename (twice as fast on
// ext4 for a fleet of thousands of files).
func (t *TreeWriter) writeFresh(all []File) (*Result, error) {
	parent := filepath.Dir(filepath.Clean(t.Root))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, err
	}
	// A killed earlier write's leftovers.
	if stale, _ := filepath.Glob(filepath.Join(parent, freshPattern)); len(stale) > 0 {
		for _, d := range stale {
			if fi, err := os.Lstat(d); err == nil && fi.IsDir() {
				os.RemoveAll(d)
			}
		}
	}
	tmp, err := os.MkdirTemp(parent, freshPattern)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Result, error) {
		os.RemoveAll(tmp)
		return nil, err
	}
	secretDirs := map[string]bool{}
	for _, f := range all {
		if err := CheckPath(f.Path); err != nil {
			return fail(err)
		}
		if f.Secret() {
			secretDirs[path.Dir(f.Path)] = true
		}
	}
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
		staged[i] = pending{dst: filepath.Join(tmp, filepath.FromSlash(f.Path)), rel: f.Path, file: f, index: i}
	}
	if err := t.parallel(staged, func(p *pending) error { return writeNew(p.dst, p.file) }); err != nil {
		return fail(err)
	}
	paths := make([]string, 0, len(staged)+len(made))
	for _, p := range staged {
		paths = append(paths, p.dst)
	}
	for dir := range made {
		paths = append(paths, filepath.Join(tmp, filepath.FromSlash(dir)))
	}
	if err := Durable(parent, paths); err != nil {
		return fail(err)
	}
	if t.beforeRename != nil {
		t.beforeRename()
	}
	// MkdirTemp made it 0700, right for keys at the top; the root of a
	// tree for git is 0755.
	if !secretDirs["."] {
		if err := os.Chmod(tmp, 0o755); err != nil {
			return fail(err)
		}
	}
	if err := os.Rename(tmp, filepath.Clean(t.Root)); err != nil {
		return fail(fmt.Errorf("write %s: %w", t.Root, err))
	}
	Durable(parent, []string{parent})
	res := &Result{}
	for _, f := range all {
		if f.Path != ManifestName {
			res.Written = append(res.Written, f.Path)
		}
	}
	return res, nil
}

// parents lists dir and its ancestors, outermost first ("a", "a/b").
func parents(dir string) []string {
	if dir == "." {
		return nil
	}
	return append(parents(path.Dir(dir)), dir)
}

// writeNew creates a file that must not exist, with its final mode from
// the first byte.
func writeNew(name string, f File) error {
	fd, err := createExcl(name)
	if err != nil {
		return err
	}
	if err := fd.chmod(f.Mode.Perm()); err != nil {
		fd.close()
		return err
	}
	if testHookBeforeWrite != nil {
		hookMu.Lock()
		testHookBeforeWrite(name, f)
		hookMu.Unlock()
	}
	if err := fd.write(f.Data); err != nil {
		fd.close()
		return err
	}
	return fd.close()
}

// syncFile fsyncs a file or directory (read-only is enough on Linux).
func syncFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// forEach runs f(0..n-1) on stageWorkers goroutines: file system calls,
// not CPU, are the cost, and they overlap.
func forEach(n int, f func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(stageWorkers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}

// stageWorkers bounds the parallel temp-file writes.
const stageWorkers = 8

// stage writes each pending file's temp file; on error some may have been
// written (cleanup removes them).
func (t *TreeWriter) stage(staged []pending) error {
	return t.parallel(staged, func(p *pending) error {
		tmp, err := WriteTemp(filepath.Dir(p.dst), p.file)
		if err != nil {
			return fmt.Errorf("write %s: %w", filepath.Join(t.Root, filepath.FromSlash(p.rel)), err)
		}
		p.tmp = tmp
		return nil
	})
}

// parallel runs write on every pending file with stageWorkers workers and
// returns the first error in file order.
func (t *TreeWriter) parallel(staged []pending, write func(*pending) error) error {
	errs := make([]error, len(staged))
	forEach(len(staged), func(i int) {
		p := &staged[i]
		if t.failAfter > 0 && p.index >= t.failAfter {
			errs[i] = fmt.Errorf("write %s: injected failure", p.rel)
			return
		}
		errs[i] = write(p)
	})
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// safePath maps a relative path under Root to a real path, refusing any
// existing component (below Root) that is a symlink or not a directory.
// safePathCached is safePath for a write of many files: each directory is
// checked once, and below a missing directory nothing is looked up. exists
// reports whether dst itself exists.
func (t *TreeWriter) safePathCached(rel string, dirs map[string]error) (dst string, exists bool, err error) {
	verdict := t.checkDir(path.Dir(rel), rel, dirs)
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
		return "", false, fmt.Errorf("%s exists and is not a regular file", dst)
	}
	return dst, true, nil
}

// errMissing marks a directory that does not exist yet.
var errMissing = errors.New("missing")

// checkDir says whether dir (slash-separated below Root, "." for Root)
// exists as real directories: nil, errMissing, or why it cannot be written
// through (a symlink, a file). Verdicts are cached per directory; file
// names the file that needs dir, for the message.
func (t *TreeWriter) checkDir(dir, file string, dirs map[string]error) error {
	if dir == "." {
		return nil
	}
	if v, ok := dirs[dir]; ok {
		return v
	}
	v := t.checkDir(path.Dir(dir), file, dirs)
	if v == nil {
		cur := filepath.Join(t.Root, filepath.FromSlash(dir))
		fi, err := os.Lstat(cur)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			v = errMissing
		case err != nil:
			v = err
		case fi.Mode()&fs.ModeSymlink != 0:
			v = fmt.Errorf("%s is a symlink; etcdgen does not write through symlinks inside --out", cur)
		case !fi.IsDir():
			v = fmt.Errorf("%s is a file, but %s needs it to be a directory", cur, file)
		}
	}
	dirs[dir] = v
	return v
}

func (t *TreeWriter) safePath(rel string) (string, error) {
	parts := strings.Split(rel, "/")
	cur := t.Root
	for i, part := range parts {
		cur = filepath.Join(cur, part)
		fi, err := os.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return "", fmt.Errorf("%s is a symlink; etcdgen does not write through symlinks inside --out", cur)
		}
		last := i == len(parts)-1
		if !last && !fi.IsDir() {
			return "", fmt.Errorf("%s is a file, but %s needs it to be a directory", cur, rel)
		}
		if last && !fi.Mode().IsRegular() {
			return "", fmt.Errorf("%s exists and is not a regular file", cur)
		}
	}
	return cur, nil
}

// removeStaleTemps removes temp files a killed etcdgen left in dir. One
// etcdgen writes a tree at a time; a concurrent one would fail its rename,
// never leave a torn file.
func removeStaleTemps(dir string) {
	stale, _ := filepath.Glob(filepath.Join(dir, TempPattern))
	for _, p := range stale {
		if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() {
			os.Remove(p)
		}
	}
}

func (t *TreeWriter) mkdirs(rel string, secretDirs, made map[string]bool, created *[]string) error {
	if made[rel] {
		return nil
	}
	if !made["."] {
		if _, err := os.Lstat(t.Root); errors.Is(err, fs.ErrNotExist) {
			*created = append(*created, t.Root)
		}
		rootMode := fs.FileMode(0o755)
		if secretDirs["."] {
			rootMode = 0o700
		}
		if err := os.MkdirAll(t.Root, rootMode); err != nil {
			return err
		}
		made["."] = true
	}
	if rel == "." {
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
		if mode == 0o700 && fi.Mode().Perm()&0o077 != 0 {
			// An older tree (or umask) left it open: keys get 0700.
			if err := os.Chmod(cur, 0o700); err != nil {
				return err
			}
		}
		made[prefix] = true
	}
	return nil
}

// WriteTemp creates a temp file in dir with f's final mode from the first byte
// (os.CreateTemp makes it 0600; wider modes are set before any data).
func WriteTemp(dir string, f File) (string, error) {
	tmp, err := os.CreateTemp(dir, TempPattern)
	if err != nil {
		return "", err
	}
	name := tmp.Name()
	fail := func(err error) (string, error) {
		tmp.Close()
		os.Remove(name)
		return "", err
	}
	if err := tmp.Chmod(f.Mode.Perm()); err != nil {
		return fail(err)
	}
	if testHookBeforeWrite != nil {
		hookMu.Lock()
		testHookBeforeWrite(name, f)
		hookMu.Unlock()
	}
	if _, err := tmp.Write(f.Data); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// syncAll makes every staged temp file durable.
func (t *TreeWriter) syncAll(staged []pending) error {
	paths := make([]string, len(staged))
	for i, p := range staged {
		paths[i] = p.tmp
	}
	return Durable(t.Root, paths)
}

// syncEachMax: up to this many files are fsynced one by one (in
// parallel); more are flushed with one syncfs(2) of the filesystem under
// root. An fsync waits only for its own file, where syncfs also waits for
// every other dirty file on the disk (a build next to a pre-commit run);
// but thousands of fsyncs (a fleet) take seconds.
const syncEachMax = 64

// Durable makes the files and directories in paths durable.
func Durable(root string, paths []string) error {
	if len(paths) > syncEachMax && SyncFS(root) == nil {
		return nil
	}
	errs := make([]error, len(paths))
	forEach(len(paths), func(i int) { errs[i] = syncFile(paths[i]) })
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("sync %s: %w", paths[i], err)
		}
	}
	return nil
}

// same reports whether the file at dst already has f's bytes and mode.
func same(dst string, f File) bool {
	fi, err := os.Lstat(dst)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != f.Mode.Perm() {
		return false
	}
	data, err := os.ReadFile(dst)
	return err == nil && bytes.Equal(data, f.Data)
}

func manifestBytes(files []File) []byte {
	var b bytes.Buffer
	b.WriteString("# Files written by etcdgen; --prune removes those no longer rendered.\n")
	paths := make([]string, 0, len(files))
	for _, f := range files {
		paths = append(paths, f.Path)
	}
	sort.Strings(paths)
	for _, p := range paths {
		b.WriteString(p + "\n")
	}
	return b.Bytes()
}

func (t *TreeWriter) readManifest() []string {
	data, err := os.ReadFile(filepath.Join(t.Root, ManifestName))
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out
}

// Stale is one way the tree on disk differs from the render.
type Stale struct {
	Path string
	// What is "stale", "missing", "orphaned" (in the manifest, no longer
	// rendered) or "mode" (bytes equal, permissions differ).
	What string
	Diff []byte
}

// Check compares the rendered files with the tree under root and returns
// every difference; it writes nothing. display names root in messages.
func Check(root, display string, files []File) []Stale {
	t := &TreeWriter{Root: root}
	rendered := map[string]bool{}
	dirs := map[string]error{}
	// Paths are checked in order (the directory cache is not shared);
	// the files are read and compared in parallel.
	results := make([]*Stale, len(files))
	var toRead []int
	dsts := make([]string, len(files))
	for i, f := range files {
		rendered[f.Path] = true
		name := path.Join(display, f.Path)
		dst, exists, err := t.safePathCached(f.Path, dirs)
		switch {
		case err != nil:
			results[i] = &Stale{Path: name, What: "stale", Diff: []byte(err.Error() + "\n")}
		case !exists:
			results[i] = &Stale{Path: name, What: "missing"}
		default:
			dsts[i] = dst
			toRead = append(toRead, i)
		}
	}
	forEach(len(toRead), func(j int) {
		i := toRead[j]
		results[i] = compare(dsts[i], path.Join(display, files[i].Path), files[i])
	})
	var out []Stale
	for _, r := range results {
		if r != nil {
			out = append(out, *r)
		}
	}
	for _, p := range t.readManifest() {
		if !rendered[p] {
			if _, err := os.Lstat(filepath.Join(root, filepath.FromSlash(p))); err == nil {
				out = append(out, Stale{Path: path.Join(display, p), What: "orphaned"})
			}
		}
	}
	return out
}

// compare says how the file at dst differs from f, or nil.
func compare(dst, name string, f File) *Stale {
	fd, err := os.Open(dst)
	if err != nil {
		return &Stale{Path: name, What: "missing"}
	}
	defer fd.Close()
	fi, err := fd.Stat()
	if err != nil {
		return &Stale{Path: name, What: "missing"}
	}
	data, err := io.ReadAll(fd)
	if err != nil {
		return &Stale{Path: name, What: "stale", Diff: []byte(err.Error() + "\n")}
	}
	if !bytes.Equal(data, f.Data) {
		var d []byte
		if !f.Secret() {
			d = diff.Diff(name, data, "rendered", f.Data)
		}
		return &Stale{Path: name, What: "stale", Diff: d}
	}
	if fi.Mode().Perm() != f.Mode.Perm() {
		return &Stale{Path: name, What: "mode", Diff: []byte(fmt.Sprintf("mode %v, want %v\n", fi.Mode().Perm(), f.Mode.Perm()))}
	}
	return nil
}
