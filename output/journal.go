package output

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/etcdgen/etcdgen/render"
)

// JournalName is the journal of a commit in progress. A commit stages
// every new file as a temp file beside its destination and makes them
// durable; then it writes the journal (itself staged, synced and renamed
// into place, so it is whole or absent), applies the renames and
// removals it lists, syncs the directories and removes the journal. A run
// killed before the journal exists leaves the old tree (and temp files
// of a dead run, which the next run removes); a run killed after leaves
// a journal, and the next run that touches the directory, --check
// included, applies it again (every step can be repeated) before anything
// else. So a tree or bundle is wholly old or wholly new.
const JournalName = ".etcdgen-journal"

const journalHeader = "etcdgen journal 1\n"

// op is one step of a commit: rename tmp to dst, or remove dst when tmp
// is "". Paths are slash-separated, relative to the directory committed.
type op struct{ tmp, dst string }

func randHex() string { return strconv.FormatUint(rand.Uint64()&0xffffffffff, 16) }

// commit applies ops to root through the journal. On an error before the
// journal exists, the caller removes its temp files; after, the journal
// stays for the next run to finish.
func commit(root string, ops []op) (journaled bool, err error) {
	if len(ops) == 0 {
		return false, nil
	}
	var b bytes.Buffer
	b.WriteString(journalHeader)
	for _, o := range ops {
		if o.tmp == "" {
			fmt.Fprintf(&b, "remove\t%s\n", o.dst)
		} else {
			fmt.Fprintf(&b, "rename\t%s\t%s\n", o.tmp, o.dst)
		}
	}
	b.WriteString("end\n")
	jtmp := tempName(root, ".tmp")
	if err := writeFile(jtmp, 0o600, b.Bytes()); err != nil {
		os.Remove(jtmp)
		return false, fmt.Errorf("write journal in %s: %w", root, err)
	}
	if err := syncFile(jtmp); err != nil {
		os.Remove(jtmp)
		return false, err
	}
	if err := step("rename", jtmp); err != nil {
		os.Remove(jtmp)
		return false, err
	}
	if err := os.Rename(jtmp, filepath.Join(root, JournalName)); err != nil {
		os.Remove(jtmp)
		return false, fmt.Errorf("write journal in %s: %w", root, err)
	}
	if err := syncFile(root); err != nil {
		return true, fmt.Errorf("%w; the next etcdgen run in %s finishes this write", err, root)
	}
	if err := apply(root, ops); err != nil {
		return true, fmt.Errorf("%w; the next etcdgen run in %s finishes this write", err, root)
	}
	return true, nil
}

// apply runs a journal's steps (again), syncs the directories they
// touched and removes the journal.
func apply(root string, ops []op) error {
	dirs := map[string]bool{}
	for _, o := range ops {
		dst := filepath.Join(root, filepath.FromSlash(o.dst))
		if o.tmp == "" {
			if err := step("remove", dst); err != nil {
				return err
			}
			if err := os.Remove(dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		} else {
			tmp := filepath.Join(root, filepath.FromSlash(o.tmp))
			if _, err := os.Lstat(tmp); errors.Is(err, fs.ErrNotExist) {
				continue // renamed before the crash
			}
			if err := step("rename", tmp); err != nil {
				return err
			}
			if err := os.Rename(tmp, dst); err != nil {
				return fmt.Errorf("write %s: %w", dst, err)
			}
		}
		dirs[filepath.Dir(dst)] = true
	}
	list := make([]string, 0, len(dirs))
	for d := range dirs {
		list = append(list, d)
	}
	if err := durable(root, list); err != nil {
		return err
	}
	j := filepath.Join(root, JournalName)
	if err := step("remove", j); err != nil {
		return err
	}
	if err := os.Remove(j); err != nil {
		return err
	}
	return syncFile(root)
}

// recoverJournal finishes a commit a killed run left in root. It returns
// how many steps the journal had (0: there was none).
func recoverJournal(root string) (int, error) {
	name := filepath.Join(root, JournalName)
	data, _, err := ReadRegular(name, MaxFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("unfinished write in %s: %w", root, err)
	}
	ops, err := parseJournal(data)
	if err != nil {
		return 0, fmt.Errorf("unfinished write in %s: %s: %v; remove it and run again", root, name, err)
	}
	if err := apply(root, ops); err != nil {
		return 0, fmt.Errorf("finish the interrupted write in %s: %w", root, err)
	}
	return len(ops), nil
}

func parseJournal(data []byte) ([]op, error) {
	s, ok := strings.CutPrefix(string(data), journalHeader)
	if !ok || !strings.HasSuffix(s, "end\n") {
		return nil, errors.New("not a whole etcdgen journal")
	}
	s = strings.TrimSuffix(s, "end\n")
	var ops []op
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		var o op
		switch {
		case len(f) == 2 && f[0] == "remove":
			o = op{dst: f[1]}
		case len(f) == 3 && f[0] == "rename":
			o = op{tmp: f[1], dst: f[2]}
			if render.CheckPath(o.tmp) != nil || !strings.HasPrefix(path.Base(o.tmp), tempPrefix) || path.Dir(o.tmp) != path.Dir(o.dst) {
				return nil, fmt.Errorf("bad line %q", line)
			}
		default:
			return nil, fmt.Errorf("bad line %q", line)
		}
		if render.CheckPath(o.dst) != nil {
			return nil, fmt.Errorf("bad line %q", line)
		}
		ops = append(ops, o)
	}
	return ops, nil
}

// writeFile creates name (it must not exist) with mode from the first
// byte.
func writeFile(name string, mode fs.FileMode, data []byte) error {
	return writeNew(name, render.File{Mode: render.FileMode(mode.Perm()), Data: data})
}

// writeNew creates a file that must not exist, with its final mode from
// the first byte (created 0600, widened before any data for certs).
func writeNew(name string, f render.File) error {
	if err := step("create", name); err != nil {
		return err
	}
	fd, err := createExcl(name)
	if err != nil {
		return err
	}
	if err := fd.chmod(fs.FileMode(f.Mode.Perm())); err != nil {
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
