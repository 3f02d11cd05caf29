package main

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/etcdgen/etcdgen/live"
	"github.com/etcdgen/etcdgen/output"
	"github.com/etcdgen/etcdgen/plan"
	"github.com/etcdgen/etcdgen/render"
	"github.com/etcdgen/etcdgen/targets/all"
)

// PlanCmd turns a spec change into plan.sh, PLAN.md and the step trees.
type PlanCmd struct {
	File    string `short:"f" name:"file" placeholder:"NEW_SPEC" help:"The spec the cluster should match (default: etcdgen.cue, ... here, or the built-in example)."`
	From    string `placeholder:"OLD_SPEC" help:"The spec the running cluster was made from. Without it (and without --live) the plan bootstraps a new cluster."`
	Live    bool   `help:"Start from the running cluster (etcdctl -w json from PATH) instead of an old spec."`
	Check   bool   `help:"With --live: exit 1 and print each difference between the running cluster and the spec. Writes nothing."`
	Restore string `placeholder:"SNAPSHOT" help:"Restore this snapshot into the spec's members with a new cluster token (the spec's token and the snapshot's digest)."`
	Bump    uint64 `name:"bump-revision" placeholder:"N" help:"With --restore: etcdutl --bump-revision N --mark-compacted, for a cluster that serves Kubernetes (etcd's recovery guide; e.g. 1000000000)."`
	Certs   string `placeholder:"PKI" help:"Certificate bundle (from etcdgen certs) to place into the step trees; plan.sh then uses its admin client cert."`
	Out     string `short:"o" placeholder:"DIR" help:"Where to write plan.sh, PLAN.md and steps/."`
}

func (c *PlanCmd) Help() string {
	return `plan.sh is resumable and idempotent: each step checks the live cluster first
and skips what is done; run it again after a failure. plan.sh --dry-run prints
the steps. Host actions go through the hooks etcdgen_install, etcdgen_start,
etcdgen_stop and etcdgen_wipe, and for --restore etcdgen_restore (ssh, rsync
and systemctl by default; the file named by ETCDGEN_HOOKS replaces them).
--restore SNAPSHOT stops every member, wipes it and restores the snapshot with
a new token (the spec's token and the snapshot's digest); add
--bump-revision 1000000000 for a cluster that serves Kubernetes. A change etcdgen will not plan (a new
cluster name or token, TLS switched in place, a rename and a readdress at once,
a step without quorum, a skipped minor version or a minor downgrade) exits 1
with the reason and writes nothing.

Examples:
  etcdgen plan --out plan/                          # bootstrap the spec's cluster
  etcdgen plan --from old.cue -f etcdgen.cue --certs pki/ --out plan/
  etcdgen plan --restore snap.db --bump-revision 1000000000 --certs pki/ --out plan/
  plan/plan.sh --dry-run && plan/plan.sh`
}

func (c *PlanCmd) Run(e *env) error {
	switch {
	case c.Check && !c.Live:
		return usagef("--check goes with --live")
	case c.Live && (c.From != "" || c.Restore != ""):
		return usagef("plan --live starts from the running cluster: not with --from or --restore")
	case c.Restore != "" && c.From != "":
		return usagef("plan --restore restores into the spec's members: give -f SPEC, not --from")
	case c.Bump > 0 && c.Restore == "":
		return usagef("--bump-revision goes with --restore SNAPSHOT")
	case c.Out == "" && !c.Check:
		return usagef("plan writes a directory: give --out DIR")
	case c.Out != "" && c.Check:
		return usagef("plan --live --check writes nothing: leave out --out")
	}
	newSpec, err := loadOne(e, c.File)
	if err != nil {
		return err
	}
	if c.Certs != "" {
		if newSpec.Bundle, err = readBundle(e, c.Certs, []loaded{{name: c.File, model: newSpec}}); err != nil {
			return err
		}
	}
	if err := all.Check(newSpec); err != nil {
		return err
	}
	var p *plan.Plan
	if c.Live {
		cl, err := c.readLive(newSpec)
		if err != nil {
			return err
		}
		if c.Check {
			return c.check(e, cl, newSpec)
		}
		old, err := live.OldModel(cl, newSpec)
		if err != nil {
			return err
		}
		if p, err = plan.DiffLive(old, newSpec, live.Down(cl)); err != nil {
			return err
		}
		if newSpec.Bundle != nil && newSpec.TLS.Enabled {
			if err := plan.CertSteps(p, servedCerts(cl, newSpec)); err != nil {
				return err
			}
		}
	} else if c.Restore != "" {
		var snap plan.SnapshotFile
		if snap, err = snapshotFile(c.Restore); err != nil {
			return err
		}
		snap.BumpRevision = c.Bump
		p, err = plan.Restore(newSpec, snap)
	} else if c.From == "" {
		p, err = plan.New(newSpec)
	} else {
		var old *render.Model
		if old, err = loadOne(e, c.From); err != nil {
			return err
		}
		p, err = plan.Diff(old, newSpec)
	}
	if err != nil {
		return err
	}
	files, err := plan.Files(p)
	if err != nil {
		return err
	}
	if err := output.CheckSecretsIgnored(c.Out, c.Out, files); err != nil {
		return err
	}
	w := &output.Tree{Root: c.Out, Log: e.note}
	if _, err := w.Write(files, true); err != nil {
		return err
	}
	script := filepath.Join(c.Out, "plan.sh")
	if len(p.Steps) == 0 {
		fmt.Fprintf(e.stdout, "nothing to do: the spec does not change cluster %s\n", newSpec.Name)
		fmt.Fprintf(e.stderr, "etcdgen: wrote %s, a plan that does nothing\n", script)
		return nil
	}
	for i := range p.Steps {
		fmt.Fprintf(e.stdout, "%s: %s\n", p.Steps[i].Dir(), plan.Summary(&p.Steps[i]))
	}
	fmt.Fprintf(e.stderr, "etcdgen: %d steps in %s; read PLAN.md, then run %s --dry-run and %s\n", len(p.Steps), c.Out, script, script)
	return nil
}

// readLive reads the running cluster with etcdctl from PATH: the spec's
// client URLs and admin client (the bundle's with --certs, else where a
// member host has it), ETCDCTL_* from the environment winning.
func (c *PlanCmd) readLive(m *render.Model) (*live.Cluster, error) {
	if len(m.Members) == 0 {
		return nil, usagef("plan --live reads members on hosts; the spec has none")
	}
	cl := &live.Client{Endpoints: m.ClientURLs}
	if m.TLS.Enabled {
		if c.Certs != "" {
			cl.CACert = filepath.Join(c.Certs, "ca.crt")
			cl.Cert = filepath.Join(c.Certs, render.ClientAdmin+".crt")
			cl.Key = filepath.Join(c.Certs, render.ClientAdmin+".key")
		} else {
			cl.CACert, cl.Cert, cl.Key = m.HostTLS.CAFile, m.HostTLS.ClientCertFile, m.HostTLS.ClientKeyFile
		}
	}
	cl.FromEnv(os.Getenv)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	got, err := cl.Read(ctx, m.ClientURLs)
	if err != nil {
		return nil, fmt.Errorf("--live: %w", err)
	}
	return got, nil
}

// bundleCert is the first certificate of a bundle file.
func bundleCert(m *render.Model, name string) *x509.Certificate {
	b, err := m.Bundle.Get(name)
	if err != nil {
		return nil
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil
	}
	crt, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil
	}
	return crt
}

// servedCerts pairs what each member serves with the bundle's certificate
// for it: how a --live plan knows certificates were re-issued (the serial
// differs) and whether the CA changed (the issuer's key ID differs).
func servedCerts(cl *live.Cluster, m *render.Model) []plan.CertServed {
	var ca string
	if crt := bundleCert(m, "ca.crt"); crt != nil {
		ca = fmt.Sprintf("%x", crt.SubjectKeyId)
	}
	var out []plan.CertServed
	for _, mem := range m.Members {
		c, ok := cl.Certs[mem.ClientURL]
		crt := bundleCert(m, mem.Name+"/server.crt")
		if !ok || c.Err != "" || crt == nil {
			continue
		}
		out = append(out, plan.CertServed{Member: mem.Name, Serial: c.Serial, IssuerKeyID: c.IssuerKeyID,
			BundleSerial: fmt.Sprintf("%x", crt.SerialNumber), BundleCAKeyID: ca})
	}
	return out
}

// check prints each difference between the running cluster and the spec:
// exit 1 when there is one, 0 when they are in sync.
func (c *PlanCmd) check(e *env, cl *live.Cluster, m *render.Model) error {
	serials := map[string]string{}
	if m.Bundle != nil {
		for _, mem := range m.Members {
			if crt := bundleCert(m, mem.Name+"/server.crt"); crt != nil {
				serials[mem.Name] = fmt.Sprintf("%x", crt.SerialNumber)
			}
		}
	}
	diffs := live.Check(cl, m, time.Now(), serials)
	for _, d := range diffs {
		fmt.Fprintln(e.stdout, d)
	}
	if len(diffs) > 0 {
		fmt.Fprintf(e.stderr, "etcdgen: cluster %s differs from the spec (%d differences)\n", m.Name, len(diffs))
		return exitError{exitInput}
	}
	fmt.Fprintf(e.stdout, "in sync: cluster %s has the spec's %d members, etcd %s\n", m.Name, len(m.Members), m.Version)
	return nil
}

// snapshotFile reads the snapshot a restore plan is made for: its
// absolute path (plan.sh runs from anywhere) and SHA-256.
func snapshotFile(name string) (plan.SnapshotFile, error) {
	abs, err := filepath.Abs(name)
	if err != nil {
		return plan.SnapshotFile{}, err
	}
	f, err := os.Open(abs)
	if err != nil {
		return plan.SnapshotFile{}, fmt.Errorf("--restore: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return plan.SnapshotFile{}, fmt.Errorf("--restore: %s: not a regular file; want a snapshot from etcdctl snapshot save", name)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return plan.SnapshotFile{}, fmt.Errorf("--restore: %w", err)
	}
	return plan.SnapshotFile{Path: abs, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// loadOne loads a single spec ("" is the default spec here or the
// built-in example).
func loadOne(e *env, name string) (*render.Model, error) {
	a := SpecArgs{}
	if name != "" {
		a.Files = []string{name}
	}
	specs, err := a.load(e)
	if err != nil {
		return nil, err
	}
	if len(specs) != 1 {
		return nil, usagef("%s: a plan takes one spec file, not a directory of %d", name, len(specs))
	}
	return specs[0].model, nil
}
