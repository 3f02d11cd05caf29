//go:build !linux

package render

import "errors"

// SyncFS is Linux-only; elsewhere writers fsync each file.
func SyncFS(string) error { return errors.New("syncfs: not supported") }
