package main

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
	scriptCmds["certinfo"] = certInfoCmd
	scriptCmds["modes"] = modesCmd
}

// certinfo FILE... prints what a certificate says (subject, issuer, SANs,
// usages, CA flag, key type, validity in days), never its PEM bytes.
// certinfo -o OUTDIR DIR writes OUTDIR/<name>.txt for every .crt under DIR,
// with a line saying which usages it verifies for against DIR/ca.crt, so
// cmpgolden can pin a whole bundle.
func certInfoCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("usage: certinfo FILE... | certinfo -o OUTDIR DIR")
	}
	if len(args) == 3 && args[0] == "-o" {
		out, dir := ts.MkAbs(args[1]), ts.MkAbs(args[2])
		caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
		ts.Check(err)
		ca := parseCert(ts, "ca.crt", caPEM)
		err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".crt") {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			c := parseCert(ts, rel, data)
			info := describeCert(c)
			if !c.IsCA {
				info += "verifies against ca.crt as: " + verifiesAs(c, ca) + "\n"
			}
			dst := filepath.Join(out, strings.TrimSuffix(rel, ".crt")+".txt")
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			return os.WriteFile(dst, []byte(info), 0o644)
		})
		ts.Check(err)
		return
	}
	if len(args) == 0 {
		ts.Fatalf("usage: certinfo FILE... | certinfo -o OUTDIR DIR")
	}
	for _, a := range args {
		data, err := os.ReadFile(ts.MkAbs(a))
		ts.Check(err)
		fmt.Fprint(ts.Stdout(), describeCert(parseCert(ts, a, data)))
	}
}

func parseCert(ts *testscript.TestScript, name string, data []byte) *x509.Certificate {
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" || len(strings.TrimSpace(string(rest))) > 0 {
		ts.Fatalf("%s: want exactly one PEM CERTIFICATE", name)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	ts.Check(err)
	return c
}

func describeCert(c *x509.Certificate) string {
	var b strings.Builder
	fmt.Fprintf(&b, "subject: %s\n", c.Subject)
	fmt.Fprintf(&b, "issuer: %s\n", c.Issuer)
	fmt.Fprintf(&b, "ca: %v", c.IsCA)
	if c.IsCA {
		fmt.Fprintf(&b, " (max path length %d)", c.MaxPathLen)
	}
	fmt.Fprintf(&b, "\nkey: %s\n", keyType(c.PublicKey))
	fmt.Fprintf(&b, "signature: %s\n", c.SignatureAlgorithm)
	fmt.Fprintf(&b, "key usage: %s\n", list(keyUsageNames(c.KeyUsage)))
	fmt.Fprintf(&b, "ext key usage: %s\n", list(extKeyUsageNames(c.ExtKeyUsage)))
	fmt.Fprintf(&b, "dns: %s\n", list(c.DNSNames))
	var ips []string
	for _, ip := range c.IPAddresses {
		ips = append(ips, ip.String())
	}
	fmt.Fprintf(&b, "ip: %s\n", list(ips))
	fmt.Fprintf(&b, "validity: %d days\n", int(math.Round(c.NotAfter.Sub(c.NotBefore).Hours()/24)))
	return b.String()
}

func list(items []string) string {
	if len(items) == 0 {
		return "none"
	}
	return strings.Join(items, ", ")
}

func keyType(pub any) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "ecdsa " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("rsa %d", k.N.BitLen())
	}
	return fmt.Sprintf("%T", pub)
}

func keyUsageNames(u x509.KeyUsage) []string {
	var out []string
	for _, k := range []struct {
		bit  x509.KeyUsage
		name string
	}{
		{x509.KeyUsageDigitalSignature, "digital signature"},
		{x509.KeyUsageKeyEncipherment, "key encipherment"},
		{x509.KeyUsageKeyAgreement, "key agreement"},
		{x509.KeyUsageCertSign, "cert sign"},
		{x509.KeyUsageCRLSign, "crl sign"},
	} {
		if u&k.bit != 0 {
			out = append(out, k.name)
			u &^= k.bit
		}
	}
	if u != 0 {
		out = append(out, fmt.Sprintf("other %#x", u))
	}
	return out
}

func extKeyUsageNames(ekus []x509.ExtKeyUsage) []string {
	var out []string
	for _, e := range ekus {
		switch e {
		case x509.ExtKeyUsageServerAuth:
			out = append(out, "server auth")
		case x509.ExtKeyUsageClientAuth:
			out = append(out, "client auth")
		default:
			out = append(out, fmt.Sprintf("ext usage %d", e))
		}
	}
	return out
}

// verifiesAs lists the usages for which c verifies against ca with
// crypto/x509 (at a time inside both validities).
func verifiesAs(c, ca *x509.Certificate) string {
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	at := c.NotBefore.Add(c.NotAfter.Sub(c.NotBefore) / 2)
	var out []string
	for _, u := range []struct {
		eku  x509.ExtKeyUsage
		name string
	}{{x509.ExtKeyUsageServerAuth, "server"}, {x509.ExtKeyUsageClientAuth, "client"}} {
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{u.eku}}); err == nil {
			out = append(out, u.name)
		}
	}
	if len(out) == 0 {
		return "nothing"
	}
	return strings.Join(out, ", ")
}

// modes DIR prints "mode path" for DIR and everything under it, sorted,
// so a script pins the layout and its permissions in one cmp.
func modesCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: modes DIR")
	}
	root := ts.MkAbs(args[0])
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(filepath.Dir(root), p)
		if strings.HasPrefix(d.Name(), ".etcdgen-") {
			return nil
		}
		if d.IsDir() {
			rel += "/"
		}
		lines = append(lines, fmt.Sprintf("%04o %s", fi.Mode().Perm(), filepath.ToSlash(rel)))
		return nil
	})
	ts.Check(err)
	sort.Slice(lines, func(i, j int) bool { return lines[i][5:] < lines[j][5:] })
	fmt.Fprintln(ts.Stdout(), strings.Join(lines, "\n"))
}
