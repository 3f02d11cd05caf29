//go:build !linux

package output

import "errors"

// syncFS is Linux-only; elsewhere writers fsync each file.
func syncFS(string) error { return errors.New("syncfs: not supported") }
