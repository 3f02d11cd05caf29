//go:build unix

package output

import (
	"io/fs"
	"os"
	"syscall"
)

// rawFile is a file written with plain system calls. os.File registers
// every file with the runtime poller (an epoll_ctl and several fcntl calls
// that fail or do nothing for regular files): a third of the cost of
// writing a fleet's thousands of small files.
type rawFile struct {
	fd   int
	name string
}

// createExcl creates name, which must not exist, mode 0600.
func createExcl(name string) (rawFile, error) {
	for {
		fd, err := syscall.Open(name, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL|syscall.O_CLOEXEC, 0o600)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return rawFile{}, &os.PathError{Op: "open", Path: name, Err: err}
		}
		return rawFile{fd: fd, name: name}, nil
	}
}

func (f rawFile) chmod(mode fs.FileMode) error {
	if err := syscall.Fchmod(f.fd, uint32(mode.Perm())); err != nil {
		return &os.PathError{Op: "chmod", Path: f.name, Err: err}
	}
	return nil
}

func (f rawFile) write(data []byte) error {
	for len(data) > 0 {
		n, err := syscall.Write(f.fd, data)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "write", Path: f.name, Err: err}
		}
		data = data[n:]
	}
	return nil
}

func (f rawFile) close() error {
	if err := syscall.Close(f.fd); err != nil {
		return &os.PathError{Op: "close", Path: f.name, Err: err}
	}
	return nil
}
