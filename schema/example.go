package schema

import _ "embed"

// Example is the built-in example spec: the seeds' three-member TLS cluster,
// commented. etcdgen uses it when no spec is given; `etcdgen init` writes it.
//
//go:embed example.cue
var Example []byte

// ExampleName is how messages name the built-in example.
const ExampleName = "example.cue"

// DefaultEtcdVersion is the schema's default for version (a test keeps the
// two equal).
const DefaultEtcdVersion = "3.7.3"
