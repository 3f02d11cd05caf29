package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/etcdgen/etcdgen/bundle"
	"github.com/etcdgen/etcdgen/output"
	"github.com/etcdgen/etcdgen/render"
	"github.com/etcdgen/etcdgen/targets/all"
	"github.com/etcdgen/etcdgen/targets/apiserver"
)

// RenderCmd renders targets.
type RenderCmd struct {
	SpecArgs
	Target []string `short:"t" sep:"," placeholder:"NAME" help:"Targets to render (${targets}); repeatable or comma-separated. Default with --out: all but k8s-secrets (it holds keys)."`
	Out    string   `short:"o" placeholder:"DIR" help:"Write a file tree here instead of stdout."`
	Check  bool     `help:"Compare the tree in --out with a fresh render; print a diff per stale file and exit 1 when anything differs. Writes nothing."`
	Prune  bool     `help:"Remove files etcdgen wrote earlier into --out that are no longer rendered."`
	Certs  string   `placeholder:"DIR" help:"Certificate bundle (from etcdgen certs) to place into the host trees. Those trees then hold private keys: keep them out of git."`
	Format string   `enum:"text,json" default:"text" help:"What to print: text (paths written) or json (a manifest of every file: path, mode, size, sha256)."`

	APIServerFormat string `name:"apiserver-format" placeholder:"FORMAT" help:"The apiserver target's file: lines (flag lines, the default on stdout), shell, env, yaml or json. With --out and no format: all five."`
}

func (c *RenderCmd) Help() string {
	return `Layout: one spec and one --target write that target's own tree straight
under --out (out/etcd1/etc/etcd/etcd.conf), or to stdout when it is one file.
Several specs or targets write <out>/<cluster>/<target>/...; on stdout, several
files are a txtar archive ("-- path --" before each file).

Examples:
  etcdgen render --target systemd --out out/
  etcdgen render --target k8s -f cluster.yaml > etcd.yaml
  etcdgen render --target kubeadm > cluster-configuration.yaml
  etcdgen render --target apiserver --apiserver-format yaml   # or lines, shell, env, json
  etcdgen render --out generated/ clusters/
  etcdgen render --check --out generated/ clusters/`
}

func (c *RenderCmd) Run(e *env) error {
	if err := c.checkFlags(); err != nil {
		return err
	}
	targets, err := c.targets()
	if err != nil {
		return err
	}
	specs, err := c.load(e)
	if err != nil {
		return err
	}
	var certBundle *render.Bundle
	if c.Certs != "" {
		if certBundle, err = readBundle(e, c.Certs, specs); err != nil {
			return err
		}
	}
	nested := len(specs) > 1 || len(targets) > 1
	files, err := renderAll(specs, targets, nested, certBundle)
	if err != nil {
		return err
	}

	switch {
	case c.Check:
		return c.check(e, files)
	case c.Out == "":
		if c.Format == "json" {
			return printManifest(e, "", files)
		}
		return output.WriteStdout(e.stdout, files)
	}
	// Keys never land in git by accident: refuse a tree inside a work
	// tree unless git ignores the key files.
	if err := output.CheckSecretsIgnored(c.Out, c.Out, files); err != nil {
		return err
	}
	w := &output.Tree{Root: c.Out, Log: e.note}
	res, err := w.Write(files, c.Prune)
	if err != nil {
		return err
	}
	if c.Format == "json" {
		return printManifest(e, c.Out, files)
	}
	for _, p := range res.Written {
		fmt.Fprintln(e.stdout, path.Join(filepath.ToSlash(c.Out), p))
	}
	for _, p := range res.Pruned {
		fmt.Fprintf(e.stdout, "removed %s\n", path.Join(filepath.ToSlash(c.Out), p))
	}
	fmt.Fprintf(e.stderr, "etcdgen: %d written, %d unchanged", len(res.Written), len(res.Unchanged))
	if len(res.Pruned) > 0 {
		fmt.Fprintf(e.stderr, ", %d removed", len(res.Pruned))
	}
	fmt.Fprintf(e.stderr, " in %s\n", c.Out)
	if certBundle != nil {
		fmt.Fprintf(e.stderr, "etcdgen: the trees in %s hold private keys from %s: do not commit them\n", c.Out, c.Certs)
	}
	return nil
}

func (c *RenderCmd) checkFlags() error {
	switch {
	case c.Check && c.Out == "":
		return usagef("--check compares with a tree: give --out DIR")
	case c.Check && c.Prune:
		return usagef("--check writes nothing; --prune removes files: use one")
	case c.Prune && c.Out == "":
		return usagef("--prune needs --out DIR")
	case c.Certs != "" && c.Out == "" && !c.Check:
		return usagef("--certs puts private keys into the output: give --out DIR (keys never go to stdout)")
	}
	return outIsDir(c.Out)
}

// outIsDir refuses an --out that is, or lies under, something other than a
// directory, in one line rather than the writer's lstat error.
func outIsDir(out string) error {
	for p := filepath.Clean(out); out != ""; p = filepath.Dir(p) {
		if fi, err := os.Stat(p); err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("--out %s: %s is not a directory; want a directory (created if missing)", out, p)
			}
			return nil
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
	return nil
}

// targets resolves --target; none means all with --out, and is an error
// on stdout (a human asked for one thing).
func (c *RenderCmd) targets() ([]render.Target, error) {
	if len(c.Target) == 0 {
		if c.Out == "" {
			return nil, usagef("name a target for stdout (--target %s), or give --out DIR for all of them", strings.Join(all.Names(), "|"))
		}
		return c.apiserverFormat(all.Targets)
	}
	var out []render.Target
	seen := map[string]bool{}
	for _, n := range c.Target {
		t, ok := all.Lookup(n)
		if !ok {
			return nil, usagef("unknown target %q; want one of %s", n, strings.Join(all.Names(), ", "))
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, t)
		}
	}
	return c.apiserverFormat(out)
}

// apiserverFormat narrows the apiserver target to one of its files: the
// format asked for, or its flag lines on stdout.
func (c *RenderCmd) apiserverFormat(targets []render.Target) ([]render.Target, error) {
	format := c.APIServerFormat
	if format == "" && c.Out == "" {
		format = apiserver.Formats[0].Name
	}
	out := append([]render.Target(nil), targets...)
	found := false
	for i, t := range out {
		if t.Name != apiserver.Name {
			continue
		}
		found = true
		if format != "" {
			var err error
			if out[i], err = apiserver.TargetFor(format); err != nil {
				return nil, usagef("--apiserver-format: %v", err)
			}
		}
	}
	if c.APIServerFormat != "" && !found {
		return nil, usagef("--apiserver-format applies to the apiserver target, which this render leaves out")
	}
	return out, nil
}

// renderAll runs every target on every spec, in parallel: targets are pure.
// With nested, files go under <cluster>/<target>/.
func renderAll(specs []loaded, targets []render.Target, nested bool, certBundle *render.Bundle) ([]render.File, error) {
	type job struct {
		spec   loaded
		target render.Target
	}
	// The targets must agree (endpoints, SANs, cert files) before any of
	// them renders: one failure fails the render, nothing is written.
	var inconsistent []error
	for _, s := range specs {
		if err := all.Check(s.model); err != nil {
			inconsistent = append(inconsistent, fmt.Errorf("%s: %w", s.name, err))
		}
	}
	if len(inconsistent) > 0 {
		return nil, errors.Join(inconsistent...)
	}
	var jobs []job
	for _, s := range specs {
		s.model.Bundle = certBundle
		for _, t := range targets {
			if nested && t.Hosts && len(s.model.Members) == 0 {
				continue // a Kubernetes-only spec has no host trees
			}
			jobs = append(jobs, job{s, t})
		}
	}
	results := make([][]render.File, len(jobs))
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			files, err := j.target.Run(j.spec.model)
			if err != nil {
				errs[i] = err
				return
			}
			if nested {
				files = render.Prefix(j.spec.model.Name+"/"+j.target.Name, files)
			}
			results[i] = files
		}()
	}
	wg.Wait()
	var out []render.File
	for i := range jobs {
		if errs[i] != nil {
			return nil, errs[i]
		}
		out = append(out, results[i]...)
	}
	render.SortFiles(out)
	return out, nil
}

func (c *RenderCmd) check(e *env, files []render.File) error {
	display := filepath.ToSlash(c.Out)
	diffs, err := (&output.Tree{Root: c.Out, Log: e.note}).Check(display, files)
	if err != nil {
		return err
	}
	if len(diffs) == 0 {
		fmt.Fprintf(e.stderr, "etcdgen: %s is up to date (%d files)\n", c.Out, len(files))
		return nil
	}
	for _, d := range diffs {
		switch d.Kind {
		case output.Missing:
			fmt.Fprintf(e.stdout, "%s is missing\n", d.Path)
		case output.Orphan:
			fmt.Fprintf(e.stdout, "%s is orphaned: etcdgen wrote it, but no longer renders it (--prune removes it)\n", d.Path)
		case output.Mode:
			fmt.Fprintf(e.stdout, "%s has the wrong mode: %s", d.Path, d.Detail)
		case output.DirMode:
			fmt.Fprintf(e.stdout, "%s holds private keys and has the wrong mode: %s", d.Path, d.Detail)
		case output.NoManifest:
			fmt.Fprintf(e.stdout, "%s cannot be read, so files etcdgen no longer renders cannot be found: %s", d.Path, d.Detail)
		case output.Unsafe:
			fmt.Fprintf(e.stdout, "%s is stale:\n%s", d.Path, d.Detail)
		case output.Stale:
			fmt.Fprintf(e.stdout, "%s is stale:\n%s", d.Path, d.Detail)
		}
	}
	fmt.Fprintf(e.stderr, "etcdgen: %d of %d files in %s differ from the specs; run etcdgen render --out %s to update\n", len(diffs), len(files), c.Out, c.Out)
	return exitError{exitInput}
}

// readBundle reads, for --certs, only the files the specs' certificates
// name, and the pods' shared pair the k8s-secrets target places (a
// bundle made with kubernetes.certManager: false).
func readBundle(e *env, dir string, specs []loaded) (*render.Bundle, error) {
	seen := map[string]bool{}
	var names []string
	for _, s := range specs {
		list := append(bundle.Names(s.model), "ca.crt",
			render.KubernetesServer+".crt", render.KubernetesServer+".key",
			render.KubernetesPeer+".crt", render.KubernetesPeer+".key")
		for _, n := range list {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	b, err := output.ReadBundle(dir, names, e.note)
	if err != nil {
		return nil, err
	}
	if err := verifyBundle(dir, b, specs); err != nil {
		return nil, err
	}
	return b, nil
}

// verifyBundle judges the bundle --certs copies by the rules of `certs
// --check` (bundle.Decide): a key that does not match its certificate, a
// certificate not signed by the bundle's CA, SANs, usages or key type that
// differ from the spec, a certificate that expires within the renewal
// window, an expired CA. Copying such a bundle would install members that
// cannot talk to each other, so it is refused, naming the file and why.
func verifyBundle(dir string, b *render.Bundle, specs []loaded) error {
	var problems []string
	for _, s := range specs {
		if !s.model.TLS.Enabled || len(s.model.Certs) == 0 {
			continue
		}
		p, err := bundle.Decide(s.model, bundle.NewState(dir, b.Files, nil), bundle.Options{})
		if err != nil {
			return err
		}
		if p.Blocked != "" {
			problems = append(problems, p.Blocked)
		}
		for _, it := range p.Items {
			_, hasCert := b.Files[it.Cert.Name+".crt"]
			_, hasKey := b.Files[it.Cert.Name+".key"]
			switch {
			case it.Action == bundle.Keep:
			case !hasCert || !hasKey:
				// A missing file is reported by the target that needs it,
				// with the file's name; a spec may not need every file.
			default:
				problems = append(problems, fmt.Sprintf("%s: %s", path.Join(filepath.ToSlash(dir), it.Cert.Name+".crt"), strings.Join(it.Reasons, "; ")))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("certificate bundle %s does not match the spec, so it is not copied (run etcdgen certs --check --out %s for details, etcdgen certs --out %s to fix it):\n  %s",
			dir, dir, dir, strings.Join(problems, "\n  "))
	}
	return nil
}

type manifestEntry struct {
	Path   string `json:"path"`
	Mode   string `json:"mode"`
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"`
}

func printManifest(e *env, root string, files []render.File) error {
	out := struct {
		Root  string          `json:"root,omitempty"`
		Files []manifestEntry `json:"files"`
	}{Root: filepath.ToSlash(root), Files: []manifestEntry{}}
	for _, f := range files {
		sum := sha256.Sum256(f.Data)
		out.Files = append(out.Files, manifestEntry{
			Path:   f.Path,
			Mode:   fmt.Sprintf("%04o", f.Mode.Perm()),
			Size:   len(f.Data),
			SHA256: hex.EncodeToString(sum[:]),
		})
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", b)
	return err
}
