package schema

import (
	"testing"
)

// The Go constant and the schema's default must agree: `etcdgen version`
// prints one, specs get the other.
func TestDefaultEtcdVersion(t *testing.T) {
	l, err := NewLoader()
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := l.Load("s.cue", []byte(`name: "x", members: [{name: "a", ip: "10.0.0.1"}]`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Version != DefaultEtcdVersion {
		t.Errorf("schema default %q, DefaultEtcdVersion %q", c.Version, DefaultEtcdVersion)
	}
}

func TestExampleLoads(t *testing.T) {
	l, err := NewLoader()
	if err != nil {
		t.Fatal(err)
	}
	c, warns, err := l.Load(ExampleName, Example)
	if err != nil || len(warns) != 0 {
		t.Fatalf("example: %v %v", err, warns)
	}
	if len(c.Members) != 3 || !c.TLS.Enabled {
		t.Errorf("example: %d members, TLS %v", len(c.Members), c.TLS.Enabled)
	}
}

func BenchmarkNewLoader(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := NewLoader(); err != nil {
			b.Fatal(err)
		}
	}
}

func benchLoad(b *testing.B, n int) {
	spec := []byte(Spec(n))
	l, err := NewLoader()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := l.Load("bench.cue", spec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoad is load + validate (parse, unify with #Cluster, decode,
// cross-field rules) with the schema compiled once, as a fleet render does.
func BenchmarkLoad3(b *testing.B) { benchLoad(b, 3) }
func BenchmarkLoad7(b *testing.B) { benchLoad(b, 7) }
