// Package rendertest turns spec text into a resolved model, for the tests
// of targets.
package rendertest

import (
	"testing"

	"github.com/etcdgen/etcdgen/render"
	"github.com/etcdgen/etcdgen/schema"
)

// Model loads a CUE spec and resolves it; "" is the built-in example.
// Any error fails the test.
func Model(t testing.TB, spec string) *render.Model {
	t.Helper()
	l, err := schema.NewLoader()
	if err != nil {
		t.Fatal(err)
	}
	name, data := "spec.cue", []byte(spec)
	if spec == "" {
		name, data = schema.ExampleName, schema.Example
	}
	c, _, err := l.Load(name, data)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	m, err := render.Resolve(c)
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	return m
}
