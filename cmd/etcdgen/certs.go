package main

import (
	"fmt"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	certs "github.com/etcdgen/etcdgen/bundle"
	"github.com/etcdgen/etcdgen/output"
	"github.com/etcdgen/etcdgen/render"
)

// CertsCmd creates or renews the certificate bundle.
type CertsCmd struct {
	SpecArgs
	Out         string `short:"o" required:"" placeholder:"DIR" help:"Bundle directory (ca.crt, <member>/server.crt, clients/admin.crt, ...)."`
	Check       bool   `help:"Change nothing; list what would be created or re-issued and exit 1 if anything would, or if the CA expires within the renewal window."`
	RenewBefore string `placeholder:"D" help:"Re-issue leaves expiring within D (e.g. 720h or 30d). Default: the spec's tls.renewBefore."`
	RotateCA    bool   `name:"rotate-ca" help:"Replace the CA and re-issue every certificate. Needs --force: every member and client must then get the new ca.crt."`
	Force       bool   `help:"Confirm --rotate-ca."`
}

func (c *CertsCmd) Help() string {
	return `Makes the CA, per member a server and a peer certificate, and the client
certificates (clients/apiserver-etcd-client, clients/healthcheck-client,
clients/admin with CN root) in DIR; with auth.enabled also auth/token.key and
auth/token.pub, the ECDSA P-256 pair etcd signs its auth tokens with. Run it again at any time: the CA is kept,
and a leaf is re-issued only when it is missing, its key is missing or does not
match, it is not signed by the CA, its SANs, subject, usages or key type differ
from the spec, or it expires within the renewal window. A Kubernetes-only spec
(no members) gets the CA and the client certificates; with
kubernetes.certManager: false also kubernetes/server and kubernetes/peer, the
pods' certificates for the k8s-secrets target.

Examples:
  etcdgen certs --out pki/
  etcdgen certs --check --out pki/          # CI: exit 1 when anything would change
  etcdgen render --target systemd --out out/ --certs pki/`
}

func (c *CertsCmd) Run(e *env) error {
	switch {
	case c.RotateCA && c.Check:
		return usagef("--check changes nothing; --rotate-ca replaces the CA: use one")
	case c.RotateCA && !c.Force:
		return usagef("--rotate-ca replaces the CA and every certificate signed by it; every member and client then needs the new ca.crt. Confirm with --rotate-ca --force")
	case c.Force && !c.RotateCA:
		return usagef("--force only confirms --rotate-ca")
	}
	opts := certs.Options{RotateCA: c.RotateCA}
	if c.RenewBefore != "" {
		d, err := parseDays(c.RenewBefore)
		if err != nil || d <= 0 {
			return usagef("--renew-before %q: want a positive duration such as 720h or 30d", c.RenewBefore)
		}
		opts.RenewBefore = d
	}
	specs, err := c.load(e)
	if err != nil {
		return err
	}
	if len(specs) != 1 {
		return usagef("etcdgen certs makes the bundle of one cluster; %d specs given: name one", len(specs))
	}
	m := specs[0].model
	if !m.TLS.Enabled {
		return fmt.Errorf("%s: tls.enabled is false: there are no certificates to make", specs[0].name)
	}
	// The bundle stays locked from reading to writing: two runs never
	// both decide to make a CA.
	dir, err := output.OpenBundle(c.Out, !c.Check, e.note)
	if err != nil {
		return err
	}
	defer dir.Close()
	have, modes, err := dir.Read(certs.Names(m))
	if err != nil {
		return err
	}
	plan, err := certs.Decide(m, certs.NewState(c.Out, have, modes), opts)
	if err != nil {
		return err
	}
	switch {
	case len(m.Members) == 0 && m.Kubernetes.CertManager:
		fmt.Fprintf(e.stderr, "etcdgen: %s has no host members: making the CA and the client certificates only (member certificates in Kubernetes come from cert-manager)\n", specs[0].name)
	case len(m.Members) == 0:
		fmt.Fprintf(e.stderr, "etcdgen: %s has no host members: making the CA, the pods' shared server and peer certificates (kubernetes.certManager: false) and the client certificates\n", specs[0].name)
	}
	for _, w := range plan.Warnings {
		fmt.Fprintf(e.stderr, "etcdgen: warning: %s\n", w)
	}
	if c.Check {
		return c.check(e, plan)
	}
	files, err := certs.Issue(plan, opts)
	if err != nil {
		return err
	}
	if err := dir.Commit(files, plan.Chmod); err != nil {
		return err
	}
	if plan.OldCA != "" {
		fmt.Fprintf(e.stdout, "kept the old CA as %s, %s\n", c.path(plan.OldCA+".crt"), c.path(plan.OldCA+".key"))
		fmt.Fprintf(e.stderr, "etcdgen: the old CA is kept as %s and %s: members and clients trust the old certificates until the new ca.crt is rolled out everywhere\n", c.path(plan.OldCA+".crt"), c.path(plan.OldCA+".key"))
	}
	var made, kept, reissued int
	for _, it := range plan.Items {
		fmt.Fprintf(e.stdout, "%s %s%s\n", it.Action.Past(), c.pair(it.Cert), because(it))
		switch it.Action {
		case certs.Keep:
			kept++
		case certs.Create:
			made++
		default:
			reissued++
		}
	}
	if m.Ops.Auth.Enabled {
		fmt.Fprintf(e.stdout, "%s %s%s\n", plan.Token.Past(), c.tokenPair(plan.Token), tokenBecause(plan))
		switch plan.Token {
		case certs.Keep:
			kept++
		case certs.Create:
			made++
		default:
			reissued++
		}
	}
	for _, k := range plan.Chmod {
		fmt.Fprintf(e.stdout, "tightened %s to mode 0600\n", c.path(k))
	}
	switch plan.Gitignore {
	case certs.Create:
		fmt.Fprintf(e.stdout, "created %s\n", c.path(certs.GitignoreName))
	case certs.Reissue:
		fmt.Fprintf(e.stdout, "updated %s: it did not ignore *.key\n", c.path(certs.GitignoreName))
	}
	if plan.CAExpiring != "" {
		fmt.Fprintf(e.stderr, "etcdgen: warning: %s\n", plan.CAExpiring)
	}
	fmt.Fprintf(e.stderr, "etcdgen: %d created, %d re-issued, %d kept in %s (keys are 0600; keep them out of git)\n", made, reissued, kept, c.Out)
	return nil
}

// check prints one line per change, made to be read in CI logs.
func (c *CertsCmd) check(e *env, plan *certs.Plan) error {
	n := 0
	for _, it := range plan.Items {
		if it.Action == certs.Keep {
			continue
		}
		n++
		fmt.Fprintf(e.stdout, "would %s %s%s\n", it.Action.Future(), c.pair(it.Cert), because(it))
	}
	if plan.Token != certs.Keep {
		n++
		fmt.Fprintf(e.stdout, "would %s %s%s\n", plan.Token.Future(), c.tokenPair(plan.Token), tokenBecause(plan))
	}
	for _, k := range plan.Chmod {
		n++
		fmt.Fprintf(e.stdout, "would tighten %s to mode 0600\n", c.path(k))
	}
	switch plan.Gitignore {
	case certs.Create:
		n++
		fmt.Fprintf(e.stdout, "would create %s\n", c.path(certs.GitignoreName))
	case certs.Reissue:
		n++
		fmt.Fprintf(e.stdout, "would update %s: it does not ignore *.key\n", c.path(certs.GitignoreName))
	}
	if plan.Blocked != "" {
		fmt.Fprintf(e.stdout, "cannot issue: %s\n", plan.Blocked)
	}
	if plan.CAExpiring != "" {
		n++
		fmt.Fprintf(e.stdout, "CA expiring: %s\n", plan.CAExpiring)
	}
	if n == 0 {
		fmt.Fprintf(e.stderr, "etcdgen: %s is up to date (%d certificates)\n", c.Out, len(plan.Items))
		return nil
	}
	fmt.Fprintf(e.stderr, "etcdgen: %s needs %d changes; run etcdgen certs --out %s\n", c.Out, n, c.Out)
	return exitError{exitInput}
}

func (c *CertsCmd) path(name string) string {
	return path.Join(filepath.ToSlash(c.Out), name)
}

// pair names a cert and its key; clients also say their CN, which is the
// etcd user they act as.
func (c *CertsCmd) pair(cert render.Cert) string {
	s := c.path(cert.Name+".crt") + ", " + c.path(cert.Name+".key")
	if cert.Kind == render.KindClient {
		s += " (CN " + cert.CommonName + ")"
	}
	return s
}

// tokenPair names the auth token key pair, or only its public key when
// that alone is written again.
func (c *CertsCmd) tokenPair(a certs.Action) string {
	if a == certs.Reissue {
		return c.path(certs.TokenPubName) + " (auth token public key)"
	}
	return c.path(certs.TokenKeyName) + ", " + c.path(certs.TokenPubName) + " (auth token signing key, " + render.AuthSignMethod + ")"
}

func tokenBecause(p *certs.Plan) string {
	if len(p.TokenReasons) == 0 {
		return ""
	}
	return ": " + strings.Join(p.TokenReasons, "; ")
}

func because(it certs.Item) string {
	if it.Action == certs.Keep || len(it.Reasons) == 0 || (it.Action == certs.Create && it.Reasons[0] == "missing") {
		return ""
	}
	return ": " + strings.Join(it.Reasons, "; ")
}

// parseDays accepts Go durations and whole days ("30d").
func parseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.Atoi(n)
		if err != nil {
			return 0, err
		}
		return time.Duration(d) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}
