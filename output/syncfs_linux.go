package output

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFS flushes the filesystem holding dir (syncfs(2)): one call makes
// every file written before it durable, where an fsync per file costs a
// disk wait each.
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}
