package output

import (
	"fmt"
	"os"
	"sync"
)

// syncEachMax: up to this many files are fsynced one by one (in
// parallel); more are flushed with one syncfs(2) of the filesystem under
// root. An fsync waits only for its own file, where syncfs also waits for
// every other dirty file on the disk (a build next to a pre-commit run);
// but thousands of fsyncs (a fleet) take seconds.
const syncEachMax = 64

// durable makes the files and directories in paths durable.
func durable(root string, paths []string) error {
	if len(paths) > syncEachMax && syncFS(root) == nil {
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

// syncFile fsyncs a file or directory (read-only is enough on Linux).
func syncFile(name string) error {
	if err := step("sync", name); err != nil {
		return err
	}
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// workers bounds the one worker pool: file system calls, not CPU, are the
// cost of writes, syncs and --check reads, and they overlap.
const workers = 8

// forEach runs f(0..n-1) on the worker pool.
func forEach(n int, f func(i int)) {
	if n == 1 {
		f(0)
		return
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(workers, n); w++ {
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
