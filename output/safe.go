package output

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// MaxFileSize caps every file etcdgen reads back from a tree, a bundle or
// a spec directory: the largest file etcdgen writes (a fleet's manifest)
// is well below it, and a symlink to /dev/zero or a huge file must fail
// with a message, not with an out-of-memory Go stack.
const MaxFileSize = 16 << 20

// ErrNotRegular marks a path that is a symlink, FIFO, device, socket or
// directory where etcdgen wants a regular file.
var ErrNotRegular = errors.New("not a regular file")

// ReadRegular reads name without following a symlink in its last component
// and without blocking on a FIFO (O_NOFOLLOW|O_NONBLOCK), checks with fstat
// that it is a regular file, and reads at most limit bytes. The mode is
// returned for callers that check permissions. A missing file is an error
// satisfying errors.Is(err, fs.ErrNotExist).
func ReadRegular(name string, limit int64) ([]byte, fs.FileMode, error) {
	fd, err := syscall.Open(name, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err == syscall.ELOOP {
		return nil, 0, fmt.Errorf("%s is a symlink; etcdgen reads only regular files: %w", name, ErrNotRegular)
	}
	if err != nil {
		return nil, 0, &os.PathError{Op: "open", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%s is %s, not a regular file; etcdgen reads only regular files: %w", name, KindOf(fi.Mode()), ErrNotRegular)
	}
	if fi.Size() > limit {
		return nil, 0, fmt.Errorf("%s is %d bytes, more than the %d etcdgen reads", name, fi.Size(), limit)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(data)) > limit {
		return nil, 0, fmt.Errorf("%s is more than the %d bytes etcdgen reads", name, limit)
	}
	return data, fi.Mode(), nil
}

// KindOf names what a file that is not a regular file is, for messages.
func KindOf(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symlink"
	}
	return "a special file"
}

// tempPrefix starts every name etcdgen uses for its own bookkeeping in a
// tree or bundle (temp files, the journal, the lock, the manifest): such
// names are never output paths a target writes.
const tempPrefix = ".etcdgen-"

// tempName names a run's temp file or directory: the PID says whose it
// is, so a run removes only its own or those of a dead run.
func tempName(dir, suffix string) string {
	return filepath.Join(dir, fmt.Sprintf("%sp%d-%s%s", tempPrefix, os.Getpid(), randHex(), suffix))
}

// tempOwner returns the PID in a temp name made by tempName, or 0.
func tempOwner(name, suffix string) int {
	rest, ok := strings.CutPrefix(name, tempPrefix+"p")
	if !ok || !strings.HasSuffix(rest, suffix) {
		return 0
	}
	pid, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0
	}
	n := 0
	for _, c := range pid {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// deadOwner reports whether the run that made a temp name is provably
// gone: kill(pid, 0) says no such process. Our own temps (a failed stage
// in this run) count as removable too.
func deadOwner(name, suffix string) bool {
	pid := tempOwner(name, suffix)
	if pid == 0 {
		return false
	}
	if pid == os.Getpid() {
		return true
	}
	return syscall.Kill(pid, 0) == syscall.ESRCH
}

// removeDeadTemps removes temp files of dead runs in dir.
func removeDeadTemps(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if e.Type().IsRegular() && deadOwner(e.Name(), ".tmp") {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
