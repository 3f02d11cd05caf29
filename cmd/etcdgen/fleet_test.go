package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// writeFleet writes n specs of 3 to 7 members into dir/clusters.
func writeFleet(t testing.TB, dir string, n int) string {
	specs := filepath.Join(dir, "clusters")
	if err := os.MkdirAll(specs, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		var b bytes.Buffer
		fmt.Fprintf(&b, "name: \"c%03d\"\nmembers: [\n", i)
		members := 3 + i%5
		for j := 0; j < members; j++ {
			fmt.Fprintf(&b, "\t{name: \"m%d\", ip: \"10.%d.%d.%d\"},\n", j, i/250, i%250, j+1)
		}
		b.WriteString("]\n")
		if err := os.WriteFile(filepath.Join(specs, fmt.Sprintf("c%03d.cue", i)), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return specs
}

// BenchmarkFleet200 renders 200 clusters of 3-7 members, every target (no
// certs), into a fresh tree: the pre-commit case of a large GitOps repo.
func BenchmarkFleet200(b *testing.B) {
	dir := b.TempDir()
	specs := writeFleet(b, dir, 200)
	var stdout, stderr bytes.Buffer
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out := filepath.Join(dir, fmt.Sprintf("out%d", i))
		stdout.Reset()
		stderr.Reset()
		if code := Main([]string{"render", "--out", out, specs}, nil, &stdout, &stderr); code != 0 {
			b.Fatalf("exit %d: %s", code, stderr.String())
		}
	}
}

// BenchmarkFleet200Check is the same fleet with --check against a fresh
// tree: what pre-commit runs on every commit.
func BenchmarkFleet200Check(b *testing.B) {
	dir := b.TempDir()
	specs := writeFleet(b, dir, 200)
	out := filepath.Join(dir, "out")
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"render", "--out", out, specs}, nil, &stdout, &stderr); code != 0 {
		b.Fatalf("exit %d: %s", code, stderr.String())
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		stdout.Reset()
		stderr.Reset()
		if code := Main([]string{"render", "--check", "--out", out, specs}, nil, &stdout, &stderr); code != 0 {
			b.Fatalf("exit %d: %s%s", code, stdout.String(), stderr.String())
		}
	}
}

// TestFleetWriter is a helper for whole-process timing, not a test:
// ETCDGEN_FLEET_DIR=/tmp/fleet go test -run TestFleetWriter ./cmd/etcdgen
// writes 200 specs there.
func TestFleetWriter(t *testing.T) {
	dir := os.Getenv("ETCDGEN_FLEET_DIR")
	if dir == "" {
		t.Skip("set ETCDGEN_FLEET_DIR to write a 200-cluster fleet for timing")
	}
	writeFleet(t, dir, 200)
}
