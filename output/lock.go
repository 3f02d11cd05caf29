package output

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// LockName is the lock file in a tree or bundle: one etcdgen process at a
// time per directory. flock(2) locks die with their process, so a killed
// run never leaves a stale lock; the file holds the holder's PID for the
// message of the run that waits.
const LockName = ".etcdgen-lock"

// LockWait bounds how long a run waits for another to finish.
var LockWait = func() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("ETCDGEN_LOCK_WAIT")); err == nil {
		return d
	}
	return 10 * time.Second
}()

// lock is a held lock on a directory.
type lock struct{ f *os.File }

// lockDir takes the lock of dir: exclusive for a writer (it creates the
// lock file), shared for a reader (--check). A reader of a directory
// without a lock file gets a nil lock: no writer ever ran there, and a
// check writes nothing.
func lockDir(dir, display string, exclusive bool) (*lock, error) {
	name := filepath.Join(dir, LockName)
	flag, how := os.O_RDONLY, syscall.LOCK_SH
	if exclusive {
		flag, how = os.O_RDWR|os.O_CREATE, syscall.LOCK_EX
	}
	f, err := os.OpenFile(name, flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
	if !exclusive && errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", display, err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("lock %s: %s is not a regular file", display, name)
	}
	deadline := time.Now().Add(LockWait)
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if err != syscall.EWOULDBLOCK {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", display, err)
		}
		if time.Now().After(deadline) {
			holder := "another etcdgen process"
			if data, err := os.ReadFile(name); err == nil {
				if pid, err := strconv.Atoi(string(bytes.TrimSpace(data))); err == nil {
					holder = fmt.Sprintf("etcdgen process %d", pid)
				}
			}
			f.Close()
			return nil, fmt.Errorf("%s is locked by %s (waited %s); try again when it has finished", display, holder, LockWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if exclusive {
		f.Truncate(0)
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &lock{f}, nil
}

func (l *lock) release() {
	if l != nil {
		l.f.Close()
	}
}
