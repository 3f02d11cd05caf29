//go:build !linux

package render

import "errors"

// syncFS is Linux-only; elsewhere the writer fsyncs each file.
func syncFS(string) error { return errors.New("syncfs: not supported") }
