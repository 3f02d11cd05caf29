package bundle

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"time"

	"github.com/cloudflare/cfssl/csr"
	"github.com/cloudflare/cfssl/helpers"
	cflog "github.com/cloudflare/cfssl/log"

	"github.com/etcdgen/etcdgen/render"
)

func init() {
	// cfssl logs with timestamps at info level; etcdgen's output must be
	// deterministic and its own.
	cflog.Level = cflog.LevelError
}

// KeySpec is a key algorithm and size: "ecdsa" 256|384, "rsa" 2048|3072|4096.
type KeySpec struct {
	Algo string
	Size int
}

func (k KeySpec) String() string {
	if k.Algo == "ecdsa" {
		return fmt.Sprintf("ecdsa P-%d", k.Size)
	}
	return fmt.Sprintf("%s %d", k.Algo, k.Size)
}

// keySpecOf describes a public key.
func keySpecOf(pub crypto.PublicKey) KeySpec {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return KeySpec{"ecdsa", k.Curve.Params().BitSize}
	case *rsa.PublicKey:
		return KeySpec{"rsa", k.N.BitLen()}
	}
	return KeySpec{fmt.Sprintf("%T", pub), 0}
}

// GenerateKey makes a key with cfssl's key request, the same code path as
// `cfssl gencert` with {"key": {"algo": ..., "size": ...}}.
func GenerateKey(algo string, size int) (crypto.Signer, error) {
	priv, err := (&csr.KeyRequest{A: algo, S: size}).Generate()
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", KeySpec{algo, size}, err)
	}
	s, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("generate %s key: not a signer", KeySpec{algo, size})
	}
	return s, nil
}

// encodeKey writes a key as cfssl does: SEC1 "EC PRIVATE KEY" or PKCS#1
// "RSA PRIVATE KEY", which is also what kubeadm writes.
func encodeKey(key crypto.Signer) ([]byte, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), nil
	case *ecdsa.PrivateKey:
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
	}
	return nil, fmt.Errorf("unsupported key type %T", key)
}

// request is the cfssl certificate request for a planned cert.
func request(c render.Cert) *csr.CertificateRequest {
	req := &csr.CertificateRequest{CN: c.CommonName}
	req.Hosts = append(req.Hosts, c.DNSNames...)
	for _, ip := range c.IPs {
		req.Hosts = append(req.Hosts, ip.String())
	}
	return req
}

// backdate covers clocks a little behind ours, as cfssl's signer does.
const backdate = 5 * time.Minute

// issued is a freshly made certificate and key.
type issued struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
	keyPEM  []byte
}

// issue makes a key and a CSR for c with cfssl, then signs the CSR under
// the profile of c's kind. With ca nil the result is self-signed (the CA).
// serial comes from the injected random source; signatures use
// crypto/rand (Go ignores a custom reader there anyway).
func issue(c render.Cert, ks KeySpec, validity time.Duration, now time.Time, serial *big.Int,
	newKey func(string, int) (crypto.Signer, error), ca *x509.Certificate, caKey crypto.Signer) (*issued, error) {
	prof, err := profileFor(c.Kind)
	if err != nil {
		return nil, err
	}
	if prof.CA != (ca == nil) {
		return nil, fmt.Errorf("internal error: %s: profile %s with CA=%v", c.Name, prof.Name, ca != nil)
	}
	key, err := newKey(ks.Algo, ks.Size)
	if err != nil {
		return nil, err
	}
	csrPEM, err := csr.Generate(key, request(c))
	if err != nil {
		return nil, fmt.Errorf("%s: certificate request: %w", c.Name, err)
	}
	req, err := helpers.ParseCSRPEM(csrPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: certificate request: %w", c.Name, err)
	}
	ku, eku, err := prof.usages(ks.Algo)
	if err != nil {
		return nil, err
	}
	tpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               req.Subject,
		DNSNames:              req.DNSNames,
		IPAddresses:           req.IPAddresses,
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              ku,
		ExtKeyUsage:           eku,
		BasicConstraintsValid: true,
	}
	parent, signer := tpl, key
	if prof.CA {
		// The CA signs leaves only, never another CA.
		tpl.IsCA = true
		tpl.MaxPathLenZero = true
	} else {
		parent, signer = ca, caKey
		// A leaf outliving its CA would fail verification anyway; say
		// the truth in its NotAfter.
		if tpl.NotAfter.After(ca.NotAfter) {
			tpl.NotAfter = ca.NotAfter
		}
	}
	tpl.SignatureAlgorithm = helpers.SignerAlgo(signer)
	der, err := x509.CreateCertificate(rand.Reader, tpl, parent, req.PublicKey, signer)
	if err != nil {
		return nil, fmt.Errorf("%s: sign: %w", c.Name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%s: sign: %w", c.Name, err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Name, err)
	}
	return &issued{
		cert:    cert,
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  keyPEM,
	}, nil
}

// newSerial draws a positive 159-bit serial, as cfssl does (RFC 5280 allows
// at most 20 octets).
func newSerial(r io.Reader) (*big.Int, error) {
	b := make([]byte, 20)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	b[0] &= 0x7f
	n := new(big.Int).SetBytes(b)
	if n.Sign() == 0 {
		n.SetInt64(1)
	}
	return n, nil
}
