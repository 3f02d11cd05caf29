//go:build !unix

package output

import (
	"io/fs"
	"os"
)

type rawFile struct{ f *os.File }

func createExcl(name string) (rawFile, error) {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	return rawFile{f}, err
}

func (f rawFile) chmod(mode fs.FileMode) error { return f.f.Chmod(mode) }

func (f rawFile) write(data []byte) error {
	_, err := f.f.Write(data)
	return err
}

func (f rawFile) close() error { return f.f.Close() }
