// Command templateall is `helm template NAME CHART -n NAMESPACE` for many
// charts in one process: the e2e property test renders a chart per spec
// value (about 170), and a helm process each cost about 45 CPU-s of a full
// make test. It runs helm's own code the way helm's template command does
// (cmd/helm/template.go and runInstall in cmd/helm/install.go of the pinned
// helm: an install action with DryRun, Replace and ClientOnly, no values
// given), and prints what that command prints. The test checks it against
// the real helm binary on one chart, byte for byte.
//
// Input: one job per line on stdin, NAME, CHART, NAMESPACE and OUT
// separated by tabs. It writes the manifest to OUT, or the error to
// OUT.err. Exit status 1 only when it cannot read its input or write a file.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
)

func main() {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 4 {
			fmt.Fprintf(os.Stderr, "templateall: want NAME CHART NAMESPACE OUT, got %q\n", sc.Text())
			os.Exit(1)
		}
		out, err := template(f[0], f[1], f[2])
		path, body := f[3], out
		if err != nil {
			path, body = f[3]+".err", []byte(err.Error()+"\n")
		}
		if err := os.WriteFile(path, body, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "templateall:", err)
			os.Exit(1)
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "templateall:", err)
		os.Exit(1)
	}
}

// template is helm template's RunE with its default flags.
func template(name, chartPath, namespace string) ([]byte, error) {
	client := action.NewInstall(new(action.Configuration))
	client.DryRunOption = "true"
	client.DryRun = true
	client.ReleaseName = name
	client.Replace = true
	client.ClientOnly = true
	client.Namespace = namespace
	ch, err := loader.Load(chartPath)
	if err != nil {
		return nil, err
	}
	// checkIfInstallable
	if t := ch.Metadata.Type; t != "" && t != "application" {
		return nil, fmt.Errorf("%s charts are not installable", t)
	}
	if req := ch.Metadata.Dependencies; req != nil {
		if err := action.CheckDependencies(ch, req); err != nil {
			return nil, err
		}
	}
	rel, err := client.Run(ch, map[string]interface{}{})
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintln(&b, strings.TrimSpace(rel.Manifest))
	for _, m := range rel.Hooks {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.Path, m.Manifest)
	}
	return b.Bytes(), nil
}
