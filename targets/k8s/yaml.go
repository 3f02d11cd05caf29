package k8s

import (
	"bytes"
	"encoding/json"
	"fmt"

	"sigs.k8s.io/yaml"
)

// marshalDocs writes header, then each object as one YAML document.
func marshalDocs(header string, objs []any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(header)
	for _, o := range objs {
		doc, err := marshalObject(o)
		if err != nil {
			return nil, err
		}
		b.WriteString("---\n")
		b.Write(doc)
	}
	return b.Bytes(), nil
}

// marshalObject renders one object as YAML without what the API server
// fills in: the k8s.io/api structs always encode status (StatefulSetStatus
// has non-omitempty counters), which a manifest must not carry.
func marshalObject(o any) ([]byte, error) {
	j, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("internal error: encoding %T: %w", o, err)
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		return nil, fmt.Errorf("internal error: decoding %T: %w", o, err)
	}
	delete(m, "status")
	strip(m)
	return yaml.Marshal(m)
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
