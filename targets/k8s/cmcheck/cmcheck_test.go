// Package cmcheck decodes the cert-manager documents of every k8s golden
// strictly into cert-manager's own API types. It is a module of its own so
// that etcdgen does not link cert-manager: the k8s target writes small
// structs of its own, and this test is the judge of their field names.
//
//	cd targets/k8s/cmcheck && go test ./...
package cmcheck

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

func TestGoldensDecodeIntoCertManagerTypes(t *testing.T) {
	goldens, err := filepath.Glob("../../../golden/*/k8s/etcd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(goldens) == 0 {
		t.Fatal("no k8s goldens found")
	}
	seen := map[string]int{}
	for _, g := range goldens {
		data, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range strings.Split(string(data), "\n---\n")[1:] {
			j, err := yaml.YAMLToJSON([]byte(doc))
			if err != nil {
				t.Fatalf("%s document %d: %v", g, i+1, err)
			}
			var tm struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := sigsjson.UnmarshalCaseSensitivePreserveInts(j, &tm); err != nil {
				t.Fatal(err)
			}
			if tm.APIVersion != "cert-manager.io/v1" {
				continue
			}
			var into any
			switch tm.Kind {
			case "Issuer":
				into = &cmv1.Issuer{}
			case "Certificate":
				into = &cmv1.Certificate{}
			default:
				t.Fatalf("%s document %d: unexpected kind %s", g, i+1, tm.Kind)
			}
			strict, err := sigsjson.UnmarshalStrict(j, into)
			if err == nil {
				err = errors.Join(strict...)
			}
			if err != nil {
				t.Errorf("%s document %d (%s): %v", g, i+1, tm.Kind, err)
			}
			if c, ok := into.(*cmv1.Certificate); ok {
				checkCertificate(t, g, c)
			}
			seen[tm.Kind]++
		}
	}
	if seen["Issuer"] == 0 || seen["Certificate"] == 0 {
		t.Fatalf("the goldens hold no Issuer or Certificate: %v", seen)
	}
}

// checkCertificate applies a few of cert-manager's webhook rules the
// schema alone does not catch.
func checkCertificate(t *testing.T, file string, c *cmv1.Certificate) {
	s := c.Spec
	for _, u := range s.Usages {
		switch u {
		case cmv1.UsageDigitalSignature, cmv1.UsageKeyEncipherment, cmv1.UsageCertSign, cmv1.UsageCRLSign,
			cmv1.UsageServerAuth, cmv1.UsageClientAuth:
		default:
			t.Errorf("%s: Certificate %s: usage %q is not one etcdgen means to use", file, c.Name, u)
		}
	}
	if s.PrivateKey == nil || (s.PrivateKey.RotationPolicy != cmv1.RotationPolicyAlways && s.PrivateKey.RotationPolicy != cmv1.RotationPolicyNever) {
		t.Errorf("%s: Certificate %s: rotationPolicy not explicit", file, c.Name)
	}
	if s.Duration == nil || s.RenewBefore == nil || s.RenewBefore.Duration >= s.Duration.Duration {
		t.Errorf("%s: Certificate %s: duration %v, renewBefore %v", file, c.Name, s.Duration, s.RenewBefore)
	}
	if s.IssuerRef.Name == "" {
		t.Errorf("%s: Certificate %s: no issuerRef", file, c.Name)
	}
}
