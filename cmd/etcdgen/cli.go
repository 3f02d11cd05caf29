package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/etcdgen/etcdgen/schema"
	"github.com/etcdgen/etcdgen/targets/all"
)

// version is set by the Makefile (-ldflags -X main.version=...).
var version = ""

// Exit codes.
const (
	exitOK    = 0
	exitInput = 1 // bad spec, stale tree, failed write
	exitUsage = 2 // bad flags or arguments
)

const description = `Compile an etcd cluster spec into every file that runs it.

Examples:
  etcdgen init                                  # write etcdgen.cue, the example cluster
  etcdgen validate                              # check it: every problem, with file:line:col
  etcdgen render --target systemd --out out/    # out/etcd1/etc/etcd/etcd.conf, ...
  rsync -a out/etcd1/ root@etcd1:/              # install member etcd1
  etcdgen render --target k8s > etcd.yaml       # StatefulSet, Services, cert-manager
  etcdgen render --out generated/ clusters/     # every target of every cluster
  etcdgen render --check --out generated/ clusters/   # pre-commit: exit 1 when stale
  etcdgen certs --out pki/                      # CA and every certificate, idempotent
  etcdgen plan --from old.cue --out plan/       # a spec change as plan.sh for the running cluster

With no spec named and none in the current directory (etcdgen.cue, .yaml,
.yml, .json), etcdgen uses its built-in example and says so.`

// CLI is the command line.
type CLI struct {
	Render   RenderCmd   `cmd:"" help:"Render targets from specs to stdout or a directory."`
	Validate ValidateCmd `cmd:"" help:"Check specs; print every problem with its position."`
	Certs    CertsCmd    `cmd:"" help:"Create or renew the TLS bundle (CA, member and client certs)."`
	Plan     PlanCmd     `cmd:"" help:"Turn a spec change into plan.sh: safe, resumable steps for a running cluster."`
	Init     InitCmd     `cmd:"" help:"Write the example spec, commented, to start from."`
	Schema   SchemaCmd   `cmd:"" help:"Print the CUE schema of the spec, with every default."`
	Version  VersionCmd  `cmd:"" help:"Print the etcdgen version."`
}

// env is what commands get instead of the process globals, so tests run the
// real command in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// exitError carries an exit code; its message (if any) has been printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

type kongExit int

// Main runs etcdgen and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	var cli CLI
	defer func() {
		if r := recover(); r != nil {
			if k, ok := r.(kongExit); ok {
				code = int(k)
				return
			}
			fmt.Fprintf(stderr, "etcdgen: internal error: %v\n", r)
			fmt.Fprintf(stderr, "this is a bug in etcdgen; please report it with the spec that caused it\n")
			code = exitInput
		}
	}()
	parser, err := kong.New(&cli,
		kong.Name("etcdgen"),
		kong.Description(description),
		kong.Writers(stdout, stderr),
		kong.Exit(func(c int) { panic(kongExit(c)) }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Bind(e),
		kong.Vars{"targets": strings.Join(all.Names(), ", ")},
	)
	if err != nil {
		fmt.Fprintf(stderr, "etcdgen: internal error: %v\n", err)
		return exitInput
	}
	if len(args) == 0 {
		args = []string{"--help"}
	}
	if f := emptyFlag(args); f != "" {
		fmt.Fprintf(stderr, "etcdgen: %s needs a value, got \"\"\n", f)
		fmt.Fprintf(stderr, "run 'etcdgen --help' for usage\n")
		return exitUsage
	}
	ctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "etcdgen: %v\n", err)
		fmt.Fprintf(stderr, "run 'etcdgen --help' for usage\n")
		return exitUsage
	}
	if err := ctx.Run(e); err != nil {
		return report(stderr, err)
	}
	return exitOK
}

// usageError is a mistake in flags or arguments that kong cannot see.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// report prints an error once and maps it to an exit code.
func report(stderr io.Writer, err error) int {
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "etcdgen: %s\n", ue.msg)
		return exitUsage
	}
	var se *schema.Errors
	if errors.As(err, &se) {
		// Spec problems are printed bare, file:line:col first, so editors
		// and CI annotate them.
		fmt.Fprintln(stderr, se.Error())
		n := len(se.List)
		files := map[string]bool{}
		for _, p := range se.List {
			files[p.Pos.File] = true
		}
		switch {
		case len(files) > 1:
			fmt.Fprintf(stderr, "etcdgen: %d problems in %d specs\n", n, len(files))
		case n > 1:
			fmt.Fprintf(stderr, "etcdgen: %d problems in the spec\n", n)
		}
		return exitInput
	}
	fmt.Fprintf(stderr, "etcdgen: %s\n", strings.TrimSpace(err.Error()))
	return exitInput
}

// SchemaCmd prints the embedded schema.
type SchemaCmd struct{}

func (SchemaCmd) Run(e *env) error {
	_, err := io.WriteString(e.stdout, schema.Source)
	return err
}

// VersionCmd prints the version.
type VersionCmd struct{}

func (VersionCmd) Run(e *env) error {
	_, err := fmt.Fprintf(e.stdout, "etcdgen %s (default etcd %s)\n", buildVersion(), schema.DefaultEtcdVersion)
	return err
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// InitCmd writes the example spec.
type InitCmd struct {
	Path  string `arg:"" optional:"" default:"etcdgen.cue" help:"Where to write the spec (default etcdgen.cue)."`
	Force bool   `help:"Overwrite an existing file."`
}

func (c *InitCmd) Run(e *env) error {
	if c.Path == "-" {
		_, err := e.stdout.Write(schema.Example)
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if c.Force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(c.Path, flags, 0o644)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists; pass --force to overwrite it", c.Path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(schema.Example); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "wrote %s; next: etcdgen validate, etcdgen render --out out/\n", c.Path)
	return nil
}

// note prints a line for the user on stderr.
func (e *env) note(msg string) { fmt.Fprintf(e.stderr, "etcdgen: %s\n", msg) }

// emptyFlag names a -f/--file or -t/--target flag given an empty value:
// kong drops it, and the command would then read the built-in example or
// render every target, which is not what was asked.
func emptyFlag(args []string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		name, val, eq := strings.Cut(a, "=")
		switch name {
		case "-f", "--file", "-t", "--target":
			if (eq && val == "") || (!eq && i+1 < len(args) && args[i+1] == "") {
				return name
			}
		}
	}
	return ""
}
