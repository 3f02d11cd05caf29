// Command nodeimg is the one program of the suite's small container images
// (built static, CGO_ENABLED=0, so an image needs no C library):
//
//   - as /pause (the sandbox image), it blocks until SIGTERM or SIGINT, which
//     is all the pause container of a pod does;
//   - as chown (the volumePermissions image), it runs `chown -R UID:GID
//     PATH...`, the only command the k8s target's init container runs.
//
// The name it runs under picks the program, as busybox does.
package main

import (
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	switch filepath.Base(os.Args[0]) {
	case "chown":
		os.Exit(chown(os.Args[1:]))
	default:
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
		<-c
	}
}

// chown implements `chown -R UID:GID PATH...` (numeric ids only), changing
// symbolic links themselves as chown -R does.
func chown(args []string) int {
	if len(args) < 3 || args[0] != "-R" {
		fmt.Fprintln(os.Stderr, "usage: chown -R UID:GID PATH...")
		return 2
	}
	u, g, ok := strings.Cut(args[1], ":")
	uid, err1 := strconv.Atoi(u)
	gid, err2 := strconv.Atoi(g)
	if !ok || err1 != nil || err2 != nil {
		fmt.Fprintf(os.Stderr, "chown: %q: want UID:GID\n", args[1])
		return 2
	}
	for _, root := range args[2:] {
		err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, uid, gid)
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "chown:", err)
			return 1
		}
	}
	return 0
}
