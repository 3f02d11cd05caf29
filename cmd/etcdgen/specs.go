package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/etcdgen/etcdgen/output"
	"github.com/etcdgen/etcdgen/render"
	"github.com/etcdgen/etcdgen/schema"
	"github.com/etcdgen/etcdgen/targets/all"
)

// SpecArgs names the specs a command reads.
type SpecArgs struct {
	Files []string `short:"f" name:"file" placeholder:"FILE" help:"Spec file (.cue, .yaml, .yml, .json), or - for stdin. Repeatable."`
	Specs []string `arg:"" optional:"" name:"spec" help:"Spec files or directories of specs."`
}

// defaultSpecs are looked for in the current directory.
var defaultSpecs = []string{"etcdgen.cue", "etcdgen.yaml", "etcdgen.yml", "etcdgen.json"}

// names returns the spec files to read, expanding directories; nil means
// the built-in example.
func (a *SpecArgs) names(e *env) ([]string, error) {
	var out []string
	for _, n := range append(append([]string(nil), a.Files...), a.Specs...) {
		if n == "-" {
			out = append(out, n)
			continue
		}
		fi, err := os.Stat(n)
		if err != nil {
			return nil, fmt.Errorf("%s: %s", n, describeIOError(err))
		}
		if !fi.IsDir() {
			out = append(out, n)
			continue
		}
		entries, err := os.ReadDir(n)
		if err != nil {
			return nil, fmt.Errorf("%s: %s", n, describeIOError(err))
		}
		var found []string
		for _, de := range entries {
			if de.IsDir() || schema.FormatOf(de.Name()) == schema.FormatAuto {
				continue
			}
			// In a directory only regular files are specs: a symlink (to
			// /dev/zero, say), a FIFO or a socket is refused, not followed
			// or read.
			if !de.Type().IsRegular() {
				return nil, fmt.Errorf("%s: not a regular file (%s); etcdgen reads only regular spec files in a directory", filepath.Join(n, de.Name()), output.KindOf(de.Type()))
			}
			found = append(found, filepath.Join(n, de.Name()))
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: a directory with no spec files (.cue, .yaml, .yml, .json)", n)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	if len(out) > 0 {
		return out, nil
	}
	var here []string
	for _, n := range defaultSpecs {
		if _, err := os.Stat(n); err == nil {
			here = append(here, n)
		}
	}
	switch len(here) {
	case 0:
		fmt.Fprintf(e.stderr, "etcdgen: no spec given and no %s here: using the built-in example (etcdgen init writes it out)\n", strings.Join(defaultSpecs, ", "))
		return nil, nil
	case 1:
		return here, nil
	}
	return nil, usagef("several specs here (%s); name one with -f", strings.Join(here, ", "))
}

// loaded is one spec, loaded and resolved.
type loaded struct {
	name  string // as the user named it
	model *render.Model
}

// load reads, validates and resolves every named spec; it reports all
// problems of all specs before failing.
func (a *SpecArgs) load(e *env) ([]loaded, error) {
	names, err := a.names(e)
	if err != nil {
		return nil, err
	}
	l, err := schema.NewLoader()
	if err != nil {
		return nil, err
	}
	type input struct {
		name string
		data []byte
	}
	var inputs []input
	if names == nil {
		inputs = []input{{schema.ExampleName, schema.Example}}
	}
	stdinUsed := false
	for _, n := range names {
		var data []byte
		if n == "-" {
			if stdinUsed {
				return nil, usagef("stdin (-) named twice")
			}
			stdinUsed = true
			data, err = io.ReadAll(io.LimitReader(e.stdin, schema.MaxSpecBytes+1))
		} else {
			data, err = readSpec(n)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %s", n, describeIOError(err))
		}
		inputs = append(inputs, input{n, data})
	}
	var (
		out    []loaded
		failed []error
		byName = map[string]string{}
	)
	for _, in := range inputs {
		c, warns, err := l.Load(in.name, in.data)
		for _, w := range warns {
			fmt.Fprintf(e.stderr, "%s: warning: %s: %s\n", w.Pos, w.Path, w.Msg)
		}
		if err != nil {
			failed = append(failed, err)
			continue
		}
		if prev, ok := byName[c.Name]; ok {
			failed = append(failed, fmt.Errorf("%s: cluster name %q is also the name in %s; each spec in one render needs its own name", in.name, c.Name, prev))
			continue
		}
		byName[c.Name] = in.name
		m, err := render.Resolve(c)
		if err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", in.name, err))
			continue
		}
		out = append(out, loaded{name: in.name, model: m})
	}
	if len(failed) > 0 {
		return nil, joinErrors(failed)
	}
	return out, nil
}

// readSpec reads a spec file, refusing what cannot be a spec before
// reading it whole.
func readSpec(name string) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO must not wait for a writer.
	fd, err := syscall.Open(name, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("is a directory; want a spec file")
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("is %s, not a regular file; want a spec file", output.KindOf(fi.Mode()))
	}
	return io.ReadAll(io.LimitReader(f, schema.MaxSpecBytes+1))
}

func describeIOError(err error) string {
	switch {
	case os.IsNotExist(err):
		return "no such file"
	case os.IsPermission(err):
		return "permission denied"
	}
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// joinErrors keeps spec errors printable one per line.
func joinErrors(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	var all []schema.Problem
	var other []string
	for _, err := range errs {
		if se, ok := err.(*schema.Errors); ok {
			all = append(all, se.List...)
		} else {
			other = append(other, err.Error())
		}
	}
	if len(other) == 0 {
		return &schema.Errors{List: all}
	}
	for _, p := range all {
		other = append(other, p.String())
	}
	return fmt.Errorf("%s", strings.Join(other, "\n"))
}

// ValidateCmd checks specs.
type ValidateCmd struct {
	SpecArgs
}

func (c *ValidateCmd) Run(e *env) error {
	specs, err := c.load(e)
	if err != nil {
		return err
	}
	var inconsistent []error
	for _, s := range specs {
		// validate promises what render will accept: the targets must agree.
		if err := all.Check(s.model); err != nil {
			inconsistent = append(inconsistent, fmt.Errorf("%s: %w", s.name, err))
		}
	}
	if len(inconsistent) > 0 {
		return errors.Join(inconsistent...)
	}
	for _, s := range specs {
		m := s.model
		where := fmt.Sprintf("%d members", len(m.Members))
		if len(m.Members) == 1 {
			where = "1 member"
		}
		if len(m.Members) == 0 {
			where = fmt.Sprintf("Kubernetes only, %d replicas", m.Kubernetes.Replicas)
		}
		fmt.Fprintf(e.stdout, "ok: %s: cluster %s, etcd %s, %s\n", s.name, m.Name, m.Version, where)
	}
	return nil
}
