package bundle

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"io"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cloudflare/cfssl/helpers"

	"github.com/etcdgen/etcdgen/render"
)

// Options are the knobs and the injected clock and randomness.
type Options struct {
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Rand draws serial numbers; default crypto/rand.
	Rand io.Reader
	// NewKey makes keys; default GenerateKey (cfssl). Tests inject a pool.
	NewKey func(algo string, size int) (crypto.Signer, error)
	// RenewBefore overrides the spec's tls.renewBefore when non-zero.
	RenewBefore time.Duration
	// RotateCA replaces the CA and so every leaf. The CLI asks for a
	// second flag before setting it.
	RotateCA bool
}

// Action is what happens to one certificate.
type Action int

const (
	Keep Action = iota
	Create
	Reissue
)

// Past is the word for a done action; Future for --check.
func (a Action) Past() string   { return [...]string{"kept", "created", "re-issued"}[a] }
func (a Action) Future() string { return [...]string{"keep", "create", "re-issue"}[a] }

// Item is the decision about one certificate and its key.
type Item struct {
	Cert    render.Cert
	Action  Action
	Reasons []string
}

// Plan is every decision for a bundle, made before anything is written.
type Plan struct {
	State *State
	Keys  KeySpec
	// Items: the CA first, then the leaves in the model's order.
	Items []Item
	// Gitignore is Create when .gitignore is missing, Reissue when it does
	// not ignore *.key.
	Gitignore Action
	// Chmod lists key files (bundle paths) readable by others: tightened
	// to 0600.
	Chmod []string
	// CAExpiring says when the kept CA expires within the renewal window.
	CAExpiring string
	// Warnings are printed, not fatal.
	Warnings []string
	// Blocked says why leaves cannot be issued (the CA key is missing).
	Blocked string
	// OldCA is, on --rotate-ca, the bundle path prefix ("ca-old-<serial
	// of the old CA>") under which the old ca.crt and ca.key are kept,
	// committed with the new CA: the old key is the only way to keep
	// trusting the old certificates while the new ca.crt rolls out.
	OldCA string
	// Token is the auth token key pair's action (auth.enabled; Keep
	// otherwise): Create makes a new pair, Reissue writes the public key
	// again from the kept private key. TokenReasons say why.
	Token        Action
	TokenReasons []string

	tokenKey                 *ecdsa.PrivateKey
	caValidity, certValidity time.Duration
	now                      time.Time
	ca                       *x509.Certificate
	caKey                    crypto.Signer
}

// Changes counts what a run would write.
func (p *Plan) Changes() int {
	n := len(p.Chmod)
	for _, it := range p.Items {
		if it.Action != Keep {
			n++
		}
	}
	if p.Gitignore != Keep {
		n++
	}
	if p.Token != Keep {
		n++
	}
	return n
}

func (o *Options) defaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NewKey == nil {
		o.NewKey = GenerateKey
	}
}

// Decide compares the bundle on disk with the model's plan. It refuses
// (error) a CA state it must not guess about: a CA key without its cert,
// a cert that is not a CA, a key that does not match it.
func Decide(m *render.Model, st *State, opts Options) (*Plan, error) {
	opts.defaults()
	if !m.TLS.Enabled || len(m.Certs) == 0 {
		return nil, fmt.Errorf("tls.enabled is false in the spec: there are no certificates to make")
	}
	if err := m.CheckCertHosts(); err != nil {
		return nil, fmt.Errorf("internal error: %w", err)
	}
	p := &Plan{
		State:        st,
		Keys:         KeySpec{m.TLS.KeyAlgorithm, m.TLS.KeySize},
		caValidity:   render.Duration(m.TLS.CAValidity),
		certValidity: render.Duration(m.TLS.CertValidity),
		now:          opts.Now(),
	}
	window := opts.RenewBefore
	if window == 0 {
		window = render.Duration(m.TLS.RenewBefore)
	}
	if p.certValidity <= 0 || p.caValidity <= 0 {
		return nil, fmt.Errorf("tls.caValidity %q and tls.certValidity %q must be positive", m.TLS.CAValidity, m.TLS.CertValidity)
	}
	if window >= p.certValidity {
		return nil, fmt.Errorf("the renewal window %s (tls.renewBefore or --renew-before) is not shorter than the certificate validity %s (tls.certValidity): every run would re-issue every certificate", days(window), days(p.certValidity))
	}
	if m.Certs[0].Kind != render.KindCA {
		return nil, fmt.Errorf("internal error: the certificate plan does not start with the CA")
	}

	caItem, err := p.decideCA(m.Certs[0], opts.RotateCA, window)
	if err != nil {
		return nil, err
	}
	p.Items = append(p.Items, caItem)
	newCA := caItem.Action != Keep
	var needSigner []string
	for _, c := range m.Certs[1:] {
		it := Item{Cert: c}
		it.Action, it.Reasons = decideLeaf(c, st, p.ca, newCA, p.Keys, p.now, window)
		if it.Action == Keep {
			p.checkMode(c.Name + ".key")
		} else {
			needSigner = append(needSigner, st.path(c.Name+".crt"))
		}
		p.Items = append(p.Items, it)
	}
	// A leaf issued now from a CA that is expired, or expires within the
	// window, would be dead on arrival or soon after (leaves never outlive
	// their CA): refuse, and name the way out.
	if !newCA && p.CAExpiring != "" && (len(needSigner) > 0 || !p.ca.NotAfter.After(p.now)) {
		p.Blocked = p.CAExpiring
		if len(needSigner) > 0 {
			p.Blocked += "; etcdgen issues no certificate from it (" + strings.Join(needSigner, ", ") + ")"
		}
	}
	if !newCA && p.caKey == nil && len(needSigner) > 0 {
		p.Blocked = fmt.Sprintf("%s is missing, so %s cannot be issued; restore the CA key, or replace the CA with --rotate-ca --force (every member and client then needs the new ca.crt)", st.path("ca.key"), strings.Join(needSigner, ", "))
	}
	if err := p.decideToken(m); err != nil {
		return nil, err
	}
	switch data, ok := st.Files[GitignoreName]; {
	case !ok:
		p.Gitignore = Create
	case !gitignoreOK(data):
		p.Gitignore = Reissue
	}
	return p, nil
}

// checkMode queues a kept key readable by group or others for 0600.
func (p *Plan) checkMode(name string) {
	if mode, ok := p.State.Modes[name]; ok && mode&0o077 != 0 {
		p.Chmod = append(p.Chmod, name)
	}
}

// decideCA keeps a CA on disk unless rotate is set; it creates one only
// when neither ca.crt nor ca.key exists.
func (p *Plan) decideCA(c render.Cert, rotate bool, window time.Duration) (Item, error) {
	st := p.State
	it := Item{Cert: c}
	crtPEM, hasCrt := st.Files["ca.crt"]
	keyPEM, hasKey := st.Files["ca.key"]
	switch {
	case !hasCrt && !hasKey:
		it.Action, it.Reasons = Create, []string{"missing"}
		return it, nil
	case rotate:
		it.Action, it.Reasons = Reissue, []string{"--rotate-ca --force"}
		p.OldCA = "ca-old-" + oldID(crtPEM, keyPEM)
		return it, nil
	case !hasCrt:
		return it, fmt.Errorf("%s exists without %s; etcdgen does not replace a CA key: restore ca.crt, or move ca.key away to start a new CA", st.path("ca.key"), st.path("ca.crt"))
	}
	ca, err := helpers.ParseCertificatePEM(crtPEM)
	if err != nil {
		return it, fmt.Errorf("%s: not a readable certificate (%v); restore it, or replace the CA with --rotate-ca --force", st.path("ca.crt"), err)
	}
	if !ca.IsCA {
		return it, fmt.Errorf("%s is not a CA certificate; restore it, or replace the CA with --rotate-ca --force", st.path("ca.crt"))
	}
	p.ca = ca
	if hasKey {
		key, err := helpers.ParsePrivateKeyPEM(keyPEM)
		if err != nil {
			return it, fmt.Errorf("%s: not a readable private key; restore it, or replace the CA with --rotate-ca --force", st.path("ca.key"))
		}
		if !publicKeysEqual(key.Public(), ca.PublicKey) {
			return it, fmt.Errorf("%s does not match %s; restore the right key, or replace the CA with --rotate-ca --force", st.path("ca.key"), st.path("ca.crt"))
		}
		p.caKey = key
		p.checkMode("ca.key")
	}
	it.Action = Keep
	if got := keySpecOf(ca.PublicKey); got != p.Keys {
		p.Warnings = append(p.Warnings, fmt.Sprintf("%s has a %s key, the spec asks for %s; the CA is kept (only --rotate-ca --force replaces it), new leaves get %s keys", st.path("ca.crt"), got, p.Keys, p.Keys))
	}
	if left := ca.NotAfter.Sub(p.now); left < window {
		p.CAExpiring = fmt.Sprintf("%s %s, within the renewal window of %s; replace it with --rotate-ca --force and roll the new ca.crt out to every member and client", st.path("ca.crt"), expiry(left), days(window))
	}
	return it, nil
}

// decideLeaf is the keep/re-issue decision table for one leaf.
func decideLeaf(c render.Cert, st *State, ca *x509.Certificate, newCA bool, want KeySpec, now time.Time, window time.Duration) (Action, []string) {
	crtPEM, ok := st.Files[c.Name+".crt"]
	if !ok {
		return Create, []string{"missing"}
	}
	if newCA {
		return Reissue, []string{"the CA is new"}
	}
	cert, err := helpers.ParseCertificatePEM(crtPEM)
	if err != nil {
		return Reissue, []string{"certificate unreadable"}
	}
	keyPEM, ok := st.Files[c.Name+".key"]
	if !ok {
		return Reissue, []string{"key missing"}
	}
	key, err := helpers.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return Reissue, []string{"key unreadable"}
	}
	if !publicKeysEqual(key.Public(), cert.PublicKey) {
		return Reissue, []string{"key does not match the certificate"}
	}
	if ca == nil || !bytes.Equal(cert.RawIssuer, ca.RawSubject) || cert.CheckSignatureFrom(ca) != nil {
		return Reissue, []string{"not signed by the CA"}
	}
	var why []string
	if got := keySpecOf(cert.PublicKey); got != want {
		why = append(why, fmt.Sprintf("key is %s, the spec asks for %s", got, want))
	}
	if cert.Subject.CommonName != c.CommonName {
		why = append(why, fmt.Sprintf("common name is %q, the spec asks for %q", cert.Subject.CommonName, c.CommonName))
	}
	prof, _ := profileFor(c.Kind)
	_, wantEKU, _ := prof.usages(want.Algo)
	if cert.IsCA || !sameSet(cert.ExtKeyUsage, wantEKU) {
		why = append(why, fmt.Sprintf("usages are %s, the %s profile has %s", extUsageNames(cert.ExtKeyUsage), prof.Name, extUsageNames(wantEKU)))
	}
	if d := sanDiff(c, cert); d != "" {
		why = append(why, "SANs differ from the spec: "+d)
	}
	// Re-issuing gains nothing when the leaf already ends with its CA.
	if left := cert.NotAfter.Sub(now); left < window && cert.NotAfter.Before(ca.NotAfter.Add(-time.Minute)) {
		why = append(why, fmt.Sprintf("%s, within the renewal window of %s", expiry(left), days(window)))
	}
	if len(why) > 0 {
		return Reissue, why
	}
	return Keep, nil
}

// sanDiff says which SANs the spec adds and drops, "" when equal.
func sanDiff(c render.Cert, cert *x509.Certificate) string {
	want := map[string]bool{}
	for _, d := range c.DNSNames {
		want[strings.ToLower(d)] = true
	}
	for _, ip := range c.IPs {
		want[ip.Unmap().String()] = true
	}
	have := map[string]bool{}
	for _, d := range cert.DNSNames {
		have[strings.ToLower(d)] = true
	}
	for _, ip := range cert.IPAddresses {
		if a, ok := netip.AddrFromSlice(ip); ok {
			have[a.Unmap().String()] = true
		}
	}
	var add, drop []string
	for s := range want {
		if !have[s] {
			add = append(add, s)
		}
	}
	for s := range have {
		if !want[s] {
			drop = append(drop, s)
		}
	}
	sort.Strings(add)
	sort.Strings(drop)
	var parts []string
	if len(add) > 0 {
		parts = append(parts, "add "+strings.Join(add, ", "))
	}
	if len(drop) > 0 {
		parts = append(parts, "drop "+strings.Join(drop, ", "))
	}
	return strings.Join(parts, "; ")
}

func sameSet[T comparable](a, b []T) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			return false
		}
	}
	return true
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ka, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ka.Equal(b)
}

// days rounds a duration to whole days, for messages.
func days(d time.Duration) string {
	n := int(math.Round(d.Hours() / 24))
	if n == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}

func expiry(left time.Duration) string {
	if left <= 0 {
		return "expired " + days(-left) + " ago"
	}
	return "expires in " + days(left)
}

// oldID names a replaced CA by its serial number (what openssl x509
// -serial prints, in lower case), or, when ca.crt is missing or
// unreadable, by the start of the SHA-256 of what is there.
func oldID(crtPEM, keyPEM []byte) string {
	if ca, err := helpers.ParseCertificatePEM(crtPEM); err == nil {
		return fmt.Sprintf("%x", ca.SerialNumber)
	}
	sum := sha256.Sum256(append(append([]byte(nil), crtPEM...), keyPEM...))
	return fmt.Sprintf("%x", sum[:8])
}
