package bundle

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const authSpec = "auth: enabled: true\ntuning: autoCompaction: {mode: \"periodic\", retention: \"5m\"}\n"

// The auth token pair: made once, kept after; a lost public key is derived
// again from the kept key; a key that is not ECDSA P-256 (or not a key) is
// refused and left in place, never replaced.
func TestTokenKeyDecisions(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := model(t, 1, authSpec)
	dir := t.TempDir()
	if p := run(t, m, dir, testOpts(now)); p.Token != Create {
		t.Fatalf("first run: token %s, want created", p.Token.Past())
	}
	key := filepath.Join(dir, TokenKeyName)
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, mode %v; want 0600", key, err, fi.Mode())
	}
	orig, _ := os.ReadFile(key)
	if p := run(t, m, dir, testOpts(now)); p.Token != Keep {
		t.Fatalf("second run: token %s, want kept", p.Token.Past())
	}
	pub := filepath.Join(dir, TokenPubName)
	wantPub, _ := os.ReadFile(pub)
	must(t, os.Remove(pub))
	if p := run(t, m, dir, testOpts(now)); p.Token != Reissue {
		t.Fatalf("without the .pub: token %s, want re-issued", p.Token.Past())
	}
	if got, _ := os.ReadFile(pub); !bytes.Equal(got, wantPub) {
		t.Errorf("derived public key differs from the first one")
	}
	if got, _ := os.ReadFile(key); !bytes.Equal(got, orig) {
		t.Fatalf("the private key changed")
	}

	// An RSA key and a P-384 key (the CA's and a leaf's of other specs) are
	// refused: ES256 signs with P-256 only.
	for _, c := range []struct{ name, spec string }{
		{"rsa", "tls: keyAlgorithm: \"rsa\"\n"},
		{"p384", "tls: keySize: 384\n"},
	} {
		other := t.TempDir()
		run(t, model(t, 1, c.spec), other, testOpts(now))
		foreign, err := os.ReadFile(filepath.Join(other, "ca.key"))
		must(t, err)
		must(t, os.WriteFile(key, foreign, 0o600))
		st, err := readState(dir, m)
		must(t, err)
		if _, err := Decide(m, st, testOpts(now)); err == nil || !strings.Contains(err.Error(), "is not an ECDSA P-256 key") {
			t.Errorf("%s key: %v, want refused", c.name, err)
		}
		if got, _ := os.ReadFile(key); !bytes.Equal(got, foreign) {
			t.Errorf("%s key: replaced", c.name)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
