package plan

import (
	"errors"
	"strings"
	"testing"
)

func TestCertSteps(t *testing.T) {
	old := m(t, "3.7.3", a, b, c)
	p, err := Diff(old, m(t, "3.7.3", a, b, c, d))
	if err != nil {
		t.Fatal(err)
	}
	served := []CertServed{
		{Member: "a", Serial: "0a", IssuerKeyID: "ca1", BundleSerial: "0b", BundleCAKeyID: "CA1"}, // re-issued
		{Member: "b", Serial: "0c", IssuerKeyID: "ca1", BundleSerial: "0C", BundleCAKeyID: "ca1"}, // the same
		{Member: "d", Serial: "01", IssuerKeyID: "ca1", BundleSerial: "02", BundleCAKeyID: "ca1"}, // added by the plan
	}
	if err := CertSteps(p, served); err != nil {
		t.Fatal(err)
	}
	if got := kinds(p); got != "01-certs-a 02-add-d" {
		t.Fatalf("steps %s", got)
	}
	if s := p.Steps[0]; s.Serial != "0B" || len(s.Files) == 0 || !strings.HasPrefix(s.Files[0].Path, "a/") {
		t.Fatalf("certs step %+v", s)
	}
	script := string(Script(p))
	if !strings.Contains(script, "step_certs '01-certs-a' 'a' 'https://10.0.0.1:2379' '3.7.3' '0B'") || !strings.Contains(script, "served_serial() {") {
		t.Fatalf("plan.sh:\n%s", script)
	}
	// Another CA: refused.
	p, _ = Diff(old, m(t, "3.7.3", a, b, c))
	err = CertSteps(p, []CertServed{{Member: "c", Serial: "0a", IssuerKeyID: "old", BundleSerial: "0b", BundleCAKeyID: "new"}})
	var r *Refused
	if !errors.As(err, &r) || !strings.Contains(err.Error(), "c serves a certificate of another CA") {
		t.Fatalf("CA change: %v", err)
	}
	if strings.Contains(string(Script(p)), "served_serial") {
		t.Fatal("a plan without certs steps has their functions")
	}
}
