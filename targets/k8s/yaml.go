package k8s

import (
	"bytes"
	"encoding/json"
	"fmt"

	goyaml "go.yaml.in/yaml/v2"

	"github.com/etcdgen/etcdgen/render"
)

// marshalDocs writes header, then each object as one YAML document.
func marshalDocs(header string, objs []any) ([]byte, error) {
	docs, err := marshalAll(objs)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(header)
	for _, d := range docs {
		b.WriteString("---\n")
		b.Write(d.YAML)
	}
	return b.Bytes(), nil
}

// Document is one rendered object of etcd.yaml.
type Document struct {
	Kind, Name string
	YAML       []byte
}

// Documents are etcd.yaml's objects, rendered one by one (the helm target
// makes a template of each).
func Documents(m *render.Model) ([]Document, error) {
	docs, err := m.Memo("k8s.Documents", func() (any, error) {
		objs, err := Objects(m)
		if err != nil {
			return nil, err
		}
		return marshalAll(objs)
	})
	if err != nil {
		return nil, err
	}
	return docs.([]Document), nil
}

func marshalAll(objs []any) ([]Document, error) {
	docs := make([]Document, 0, len(objs))
	for _, o := range objs {
		d, err := marshalObject(o)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
	}
	return docs, nil
}

// marshalObject renders one object as YAML without what the API server
// fills in: the k8s.io/api structs always encode status (StatefulSetStatus
// has non-omitempty counters), which a manifest must not carry.
func marshalObject(o any) (Document, error) { return MarshalEdited(o, nil) }

// MarshalEdited renders o as etcd.yaml does, after edit (when not nil) has
// changed its generic form: the helm target puts placeholders where the
// chart's templates take values.
func MarshalEdited(o any, edit func(map[string]any)) (Document, error) {
	j, err := json.Marshal(o)
	if err != nil {
		return Document{}, fmt.Errorf("internal error: encoding %T: %w", o, err)
	}
	// json.Number keeps integers integers; the YAML encoder writes them as
	// such. Encoding the map directly skips sigs.k8s.io/yaml's JSON->YAML
	// round trip (a YAML parse of every document), the same bytes at a
	// third of the cost.
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return Document{}, fmt.Errorf("internal error: decoding %T: %w", o, err)
	}
	delete(m, "status")
	strip(m)
	if edit != nil {
		edit(m)
	}
	data, err := goyaml.Marshal(m)
	if err != nil {
		return Document{}, err
	}
	d := Document{YAML: data}
	d.Kind, _ = m["kind"].(string)
	if meta, ok := m["metadata"].(map[string]any); ok {
		d.Name, _ = meta["name"].(string)
	}
	return d, nil
}

// strip removes, at any depth, creationTimestamp: null and empty status
// objects (a volumeClaimTemplate's PersistentVolumeClaimStatus).
func strip(v any) {
	switch v := v.(type) {
	case map[string]any:
		if ts, ok := v["creationTimestamp"]; ok && ts == nil {
			delete(v, "creationTimestamp")
		}
		if st, ok := v["status"].(map[string]any); ok && len(st) == 0 {
			delete(v, "status")
		}
		for _, x := range v {
			strip(x)
		}
	case []any:
		for _, x := range v {
			strip(x)
		}
	}
}
