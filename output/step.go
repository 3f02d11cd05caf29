package output

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
)

// Every file system call of a commit (stage, sync, journal, rename,
// remove) goes through step, so tests can stop a run at each one:
// ETCDGEN_TEST_CRASH_AT=k SIGKILLs the process at the k-th step (a real
// crash, for the kill tests of the CLI), and failAt makes the k-th step
// fail (failure injection). Both are unset in normal runs: step is then
// one comparison.
var (
	stepMu  sync.Mutex
	steps   int
	crashAt = func() int {
		n, _ := strconv.Atoi(os.Getenv("ETCDGEN_TEST_CRASH_AT"))
		return n
	}()
	// failAt > 0 makes the failAt-th step fail (tests; from the CLI,
	// ETCDGEN_TEST_FAIL_AT).
	failAt = func() int {
		n, _ := strconv.Atoi(os.Getenv("ETCDGEN_TEST_FAIL_AT"))
		return n
	}()
)

// errInjected is the failure failAt injects.
var errInjected = fmt.Errorf("injected failure")

func step(op, name string) error {
	if crashAt == 0 && failAt == 0 {
		return nil
	}
	stepMu.Lock()
	defer stepMu.Unlock()
	steps++
	if steps == crashAt {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	if steps == failAt {
		return fmt.Errorf("%s %s: %w", op, name, errInjected)
	}
	return nil
}
