package bundle

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"github.com/cloudflare/cfssl/helpers"

	"github.com/etcdgen/etcdgen/render"
)

// The auth token key pair (auth.enabled): the key etcd signs its JWT auth
// tokens with and its public key, one pair for the cluster
// (render.AuthTokenKey). Like the CA key it is never replaced silently: a
// key that is there but unreadable, or not ECDSA P-256, is refused with a
// way out, not overwritten. A missing public key is derived again from the
// kept private key.

// TokenKeyName and TokenPubName are the pair's bundle paths.
const (
	TokenKeyName = render.AuthTokenKey + ".key"
	TokenPubName = render.AuthTokenKey + ".pub"
)

// tokenNames are the bundle files of the token pair, when m needs them.
func tokenNames(m *render.Model) []string {
	if !m.Ops.Auth.Enabled {
		return nil
	}
	return []string{TokenKeyName, TokenPubName}
}

// decideToken sets p.Token: Keep, Create (a new pair) or Reissue (the
// public key written again from the kept private key).
func (p *Plan) decideToken(m *render.Model) error {
	if !m.Ops.Auth.Enabled {
		return nil
	}
	st := p.State
	keyPEM, hasKey := st.Files[TokenKeyName]
	if !hasKey {
		p.Token = Create
		if _, hasPub := st.Files[TokenPubName]; hasPub {
			p.TokenReasons = []string{"key missing: a new pair; install the new auth-token.key and auth-token.pub on every member"}
		}
		return nil
	}
	key, err := helpers.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return fmt.Errorf("%s: not a readable private key; etcdgen does not replace it: restore it, or move it away to make a new pair", st.path(TokenKeyName))
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return fmt.Errorf("%s is not an ECDSA P-256 key (%s signs with %s); etcdgen does not replace it: move it away to make a new pair", st.path(TokenKeyName), "etcd", render.AuthSignMethod)
	}
	p.tokenKey = ec
	p.checkMode(TokenKeyName)
	pubPEM, hasPub := st.Files[TokenPubName]
	switch {
	case !hasPub:
		p.Token, p.TokenReasons = Reissue, []string{"public key missing: derived again from the kept key"}
	case !pubMatches(pubPEM, ec.Public()):
		p.Token, p.TokenReasons = Reissue, []string{"public key does not match the key: derived again from the kept key"}
	}
	return nil
}

func pubMatches(pubPEM []byte, want crypto.PublicKey) bool {
	b, _ := pem.Decode(pubPEM)
	if b == nil || b.Type != "PUBLIC KEY" {
		return false
	}
	pub, err := x509.ParsePKIXPublicKey(b.Bytes)
	return err == nil && publicKeysEqual(want, pub)
}

// issueToken returns the token pair's files to write, if any.
func (p *Plan) issueToken(newKey func(string, int) (crypto.Signer, error)) ([]render.File, error) {
	var files []render.File
	key := crypto.Signer(p.tokenKey)
	switch p.Token {
	case Keep:
		return nil, nil
	case Create:
		k, err := newKey("ecdsa", 256)
		if err != nil {
			return nil, err
		}
		keyPEM, err := encodeKey(k)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", TokenKeyName, err)
		}
		key = k
		files = append(files, render.File{Path: TokenKeyName, Mode: 0o600, Data: keyPEM})
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", TokenPubName, err)
	}
	files = append(files, render.File{Path: TokenPubName, Mode: 0o644, Data: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})})
	return files, nil
}
