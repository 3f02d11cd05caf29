package schema

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	cueerrors "cuelang.org/go/cue/errors"
)

// Pos is a place in a spec file. Line and Col are 1-based; zero when the
// problem has no single place (an empty file, a missing member list).
type Pos struct {
	File string
	Line int
	Col  int
}

func (p Pos) String() string {
	file := p.File
	if file == "" {
		file = "<built-in example>"
	}
	if p.Line == 0 {
		return file
	}
	if p.Col == 0 {
		return fmt.Sprintf("%s:%d", file, p.Line) // the YAML parser gives lines only
	}
	return fmt.Sprintf("%s:%d:%d", file, p.Line, p.Col)
}

// Problem is one error or warning about a spec.
type Problem struct {
	Pos  Pos
	Path string // CUE path of the field, e.g. members[1].ip; empty for the whole spec
	Msg  string
}

func (p Problem) String() string {
	if p.Path == "" {
		return fmt.Sprintf("%s: %s", p.Pos, p.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", p.Pos, p.Path, p.Msg)
}

// Errors is every problem found in one spec, in file order.
type Errors struct {
	List []Problem
}

func (e *Errors) Error() string {
	lines := make([]string, len(e.List))
	for i, p := range e.List {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

func errorf(file, path, format string, args ...any) error {
	return &Errors{List: []Problem{{Pos: Pos{File: file}, Path: path, Msg: fmt.Sprintf(format, args...)}}}
}

// hints say what a field wants, in the words of a person fixing the spec.
// Keys are paths with list indices written as [].
var hints = map[string]string{
	"name":                                       "a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters (e.g. \"etcd-prod\")",
	"version":                                    "an etcd version \"3.5.x\", \"3.6.x\" or \"3.7.x\" (e.g. \"3.7.3\")",
	"members":                                    "a list of members, e.g. [{name: \"etcd1\", ip: \"10.0.0.11\"}]",
	"members[]":                                  "a member, e.g. {name: \"etcd1\", ip: \"10.0.0.11\"}",
	"members[].name":                             "a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters (e.g. \"etcd1\")",
	"members[].ip":                               "an IP address as a string, e.g. \"10.0.0.11\" or \"fd00::11\"",
	"members[].hostnames":                        "a list of DNS names, e.g. [\"etcd1.example.com\"]",
	"members[].hostnames[]":                      "a DNS name: lowercase labels separated by dots, e.g. \"etcd1.example.com\"",
	"members[].initialState":                     "\"new\" or \"existing\"",
	"ports":                                      "{client: 2379, peer: 2380, metrics: 2381}",
	"ports.client":                               "a port number from 1 to 65535 (default 2379)",
	"ports.peer":                                 "a port number from 1 to 65535 (default 2380)",
	"ports.metrics":                              "a port number from 1 to 65535, or 0 to turn the host listener off",
	"dataDir":                                    "an absolute path of letters, digits and . _ - + @ , = : with no trailing slash (default \"/var/lib/etcd\")",
	"walDir":                                     "an absolute path of letters, digits and . _ - + @ , = : with no trailing slash, e.g. \"/var/lib/etcd-wal\"",
	"token":                                      "letters, digits, '.', '_' and '-' (default: the cluster name)",
	"initialClusterState":                        "\"new\" or \"existing\"",
	"listenLocalhost":                            "true or false",
	"tls":                                        "a struct, e.g. {enabled: true}",
	"tls.enabled":                                "true or false",
	"tls.clientCertAuth":                         "true or false",
	"tls.peerCertAuth":                           "true or false",
	"tls.keyAlgorithm":                           "\"ecdsa\" or \"rsa\"",
	"tls.keySize":                                "256 or 384 for ecdsa, 2048, 3072 or 4096 for rsa",
	"tls.caValidity":                             "a duration such as \"87600h\"",
	"tls.certValidity":                           "a duration such as \"43800h\"",
	"tls.renewBefore":                            "a duration such as \"720h\"",
	"tls.minVersion":                             "\"TLS1.2\" or \"TLS1.3\"",
	"tls.dir":                                    "an absolute path of letters, digits and . _ - + @ , = : with no trailing slash, e.g. \"/etc/etcd/pki\"",
	"tuning.heartbeatInterval":                   "milliseconds from 1 to 10000 (default 100)",
	"tuning.electionTimeout":                     "milliseconds from 1 to 50000, at least 5x the heartbeat (default 1000)",
	"tuning.snapshotCount":                       "an integer from 1 to 10000000 (default 10000)",
	"tuning.quotaBackendBytes":                   "bytes from 0 (etcd's default, 2 GiB) to 8589934592 (8 GiB, etcd's suggested maximum)",
	"tuning.autoCompaction.mode":                 "\"periodic\" or \"revision\"",
	"tuning.autoCompaction.retention":            "a duration such as \"1h\" (periodic) or a revision count such as \"1000\"",
	"tuning.initialCorruptCheck":                 "true or false",
	"tuning.watchProgressNotifyInterval":         "a duration such as \"5s\"",
	"host.binary":                                "an absolute path of letters, digits and . _ - + @ , = : with no trailing slash (default \"/usr/local/bin/etcd\")",
	"host.user":                                  "a user name: a lowercase letter or '_' first, then lowercase letters, digits, '_' and '-', at most 31 characters (default \"root\")",
	"host.limitNOFILE":                           "an integer from 1024 to 1048576 (default 65536)",
	"apiserver.caFile":                           "an absolute path of letters, digits and . _ - + @ , = : with no trailing slash",
	"apiserver.certFile":                         "an absolute path of letters, digits and . _ - + @ , = : with no trailing slash",
	"apiserver.keyFile":                          "an absolute path of letters, digits and . _ - + @ , = : with no trailing slash",
	"apiserver.prefix":                           "a key prefix of letters, digits and . _ - + @ , = : starting with '/', no trailing slash, e.g. \"/registry\"",
	"kubeadm.apiVersion":                         "\"v1beta4\" or \"v1beta3\"",
	"kubeadm.kubernetesVersion":                  "a Kubernetes version such as \"v1.36.3\" or \"v1.36.0-rc.1\"",
	"kubeadm.controlPlaneEndpoint":               "host:port of letters, digits, '.', '-', ':' and brackets, e.g. \"k8s-api.example.com:6443\"",
	"kubernetes.namespace":                       "a DNS-1123 label (default \"default\")",
	"kubernetes.replicas":                        "an integer from 1 to 15 (default: the member count, or 3)",
	"kubernetes.clusterDomain":                   "a DNS name (default \"cluster.local\")",
	"kubernetes.statefulSetName":                 "a DNS-1123 label (default: the cluster name)",
	"kubernetes.image":                           "an image reference of letters, digits and . _ / : @ -, such as \"gcr.io/etcd-development/etcd:v3.7.3\"",
	"kubernetes.storageSize":                     "a quantity such as \"1Gi\"",
	"backup.kubernetes.size":                     "a quantity such as \"10Gi\"",
	"backup.kubernetes.image":                    "an image reference of letters, digits and . _ / : @ - with a shell, etcdctl and etcdutl",
	"kubernetes.storageClass":                    "a StorageClass name: a DNS subdomain such as \"fast-ssd\"",
	"kubernetes.antiAffinity":                    "\"required\" or \"preferred\"",
	"kubernetes.certManager":                     "true (cert-manager makes the TLS Secrets) or false (the k8s-secrets target makes them from the certs bundle)",
	"kubernetes.issuerRef.name":                  "a DNS-1123 label naming an Issuer or ClusterIssuer",
	"kubernetes.issuerRef.kind":                  "\"Issuer\" or \"ClusterIssuer\"",
	"kubernetes.issuerRef.group":                 "an API group, a DNS name (default \"cert-manager.io\")",
	"kubernetes.resources.requests":              "a map such as {cpu: \"100m\", memory: \"256Mi\"}",
	"kubernetes.resources.limits":                "a map such as {cpu: \"1\", memory: \"1Gi\"}",
	"kubernetes.nodeSelector.*":                  labelValue,
	"kubernetes.podLabels.*":                     labelValue,
	"kubernetes.podAnnotations.*":                "a string",
	"kubernetes.tolerations[].key":               qualifiedName,
	"kubernetes.tolerations[].operator":          "\"Equal\" or \"Exists\" (default \"Equal\")",
	"kubernetes.tolerations[].value":             labelValue,
	"kubernetes.tolerations[].effect":            "\"NoSchedule\", \"PreferNoSchedule\" or \"NoExecute\" (none: every effect)",
	"kubernetes.tolerations[].tolerationSeconds": "seconds, 0 or more",
	"kubernetes.priorityClassName":               "a PriorityClass name: a DNS name such as \"etcd-critical\"",
	"kubernetes.topologySpreadConstraints[].topologyKey":       "a node label key such as \"topology.kubernetes.io/zone\"",
	"kubernetes.topologySpreadConstraints[].maxSkew":           "an integer of at least 1 (default 1)",
	"kubernetes.topologySpreadConstraints[].whenUnsatisfiable": "\"DoNotSchedule\" (default) or \"ScheduleAnyway\"",
	"kubernetes.imagePullSecrets[]":                            "a Secret name: a DNS name such as \"regcred\"",
	"kubernetes.serviceAccountName":                            "a ServiceAccount name: a DNS name such as \"etcd\"",
	"kubernetes.volumePermissions.image":                       "an image with chown, e.g. \"busybox:1.37\"",
}

// Hints for the keys and values of the spec's maps of labels and
// annotations, by the map's path.
const (
	qualifiedName = "a label key: an optional DNS prefix and '/', then 1-63 letters, digits, '-', '_' or '.', e.g. \"topology.kubernetes.io/zone\""
	labelValue    = "a label value: at most 63 letters, digits, '-', '_' or '.', beginning and ending with a letter or digit"
)

var mapKeyHints = map[string]string{
	"kubernetes.nodeSelector":   qualifiedName,
	"kubernetes.podLabels":      qualifiedName,
	"kubernetes.podAnnotations": qualifiedName,
}

// mapEntry splits a path inside one of the spec's string maps into the
// map's path and the key ("" when path is not in one).
func mapEntry(path string) (mapPath, key string) {
	for m := range mapKeyHints {
		if rest, ok := strings.CutPrefix(path, m+"."); ok {
			if k, err := strconv.Unquote(rest); err == nil {
				rest = k
			}
			return m, rest
		}
	}
	return "", ""
}

// explain turns CUE's errors into one Problem per field, with the user's
// position, what is wrong and what would be right.
func (l *Loader) explain(name string, user cue.Value, err error) error {
	seen := map[string]bool{}
	var list []Problem
	errs := cueerrors.Errors(err)
	// A type mismatch shows up as one of several errors at a path (one per
	// arm of a disjunction); remember it so the message can say the type.
	mismatch := map[string]bool{}
	for _, e := range errs {
		format, args := e.Msg()
		if strings.Contains(fmt.Sprintf(format, args...), "mismatched types") {
			mismatch[pathString(trimDef(e.Path()))] = true
		}
	}
	for _, e := range errs {
		path := pathString(trimDef(e.Path()))
		if seen[path] {
			continue
		}
		seen[path] = true
		pos := posOf(name, user, path)
		for _, p := range cueerrors.Positions(e) {
			if p.Filename() == name && p.IsValid() {
				pos = fromToken(name, p)
				break
			}
		}
		format, args := e.Msg()
		msg := fmt.Sprintf(format, args...)
		if mismatch[path] {
			msg = "mismatched types"
		}
		list = append(list, Problem{Pos: pos, Path: path, Msg: rewrite(user, path, msg)})
	}
	// CUE stops reporting closedness once other errors exist; report every
	// unknown field regardless, with a hint for near misses.
	for _, p := range unknownFields(name, user, "") {
		if !seen[p.Path] {
			seen[p.Path] = true
			list = append(list, p)
		}
	}
	// The member rules need no defaults: check what can be read of the
	// members too, so one run shows a bad address next to a shape error.
	checkMembers(membersOf(user), true, func(path, format string, args ...any) {
		if !seen[path] {
			seen[path] = true
			list = append(list, Problem{Pos: posOf(name, user, path), Path: path, Msg: fmt.Sprintf(format, args...)})
		}
	})
	sortProblems(list)
	return &Errors{List: list}
}

// membersOf reads the members of a spec CUE rejected, leaving empty what
// is missing or not a string.
func membersOf(user cue.Value) []Member {
	it, err := user.LookupPath(cue.ParsePath("members")).List()
	if err != nil {
		return nil
	}
	var out []Member
	for it.Next() {
		el := it.Value()
		var m Member
		m.Name, _ = el.LookupPath(cue.ParsePath("name")).String()
		m.IP, _ = el.LookupPath(cue.ParsePath("ip")).String()
		if hs, err := el.LookupPath(cue.ParsePath("hostnames")).List(); err == nil {
			for hs.Next() {
				h, _ := hs.Value().String()
				m.Hostnames = append(m.Hostnames, h)
			}
		}
		out = append(out, m)
	}
	return out
}

// unknownFields walks the user's spec and reports fields the schema lacks.
func unknownFields(name string, v cue.Value, path string) []Problem {
	var out []Problem
	switch v.IncompleteKind() {
	case cue.StructKind:
		known := fieldsAt(hintKey(path))
		if known == nil {
			return nil // a map such as resources.requests
		}
		it, err := v.Fields(cue.Optional(true))
		if err != nil {
			return nil
		}
		for it.Next() {
			field := it.Selector().Unquoted()
			p := field
			if path != "" {
				p = path + "." + field
			}
			if !contains(known, field) {
				out = append(out, Problem{Pos: fromToken(name, it.Value().Pos()), Path: p, Msg: rewrite(v, p, "field not allowed")})
				continue
			}
			out = append(out, unknownFields(name, it.Value(), p)...)
		}
	case cue.ListKind:
		it, err := v.List()
		if err != nil {
			return nil
		}
		for i := 0; it.Next(); i++ {
			out = append(out, unknownFields(name, it.Value(), fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func rewrite(user cue.Value, path, msg string) string {
	key := hintKey(path)
	if m, k := mapEntry(path); m != "" {
		if strings.Contains(msg, "field not allowed") {
			return fmt.Sprintf("key %q is not allowed; want %s", k, mapKeyHints[m])
		}
		key = m + ".*"
	}
	if strings.Contains(msg, "field not allowed") {
		parent, field := splitPath(path)
		m := fmt.Sprintf("unknown field %q", field)
		if known := fieldsAt(hintKey(parent)); len(known) > 0 {
			if s := closest(field, known); s != "" {
				return m + fmt.Sprintf("; did you mean %q?", s)
			}
			return m + "; known fields here: " + strings.Join(known, ", ")
		}
		return m
	}
	hint := hints[key]
	v := user.LookupPath(cue.ParsePath(path))
	if !v.Exists() {
		if strings.Contains(msg, "incomplete") || strings.Contains(msg, "non-concrete") {
			if hint != "" {
				return "missing required field; want " + hint
			}
			return "missing required field"
		}
		if hint != "" {
			return msg + "; want " + hint
		}
		return msg
	}
	got := short(fmt.Sprint(v))
	switch {
	case !v.IsConcrete() && v.IncompleteKind() != cue.StructKind && v.IncompleteKind() != cue.ListKind:
		got += " is not a concrete value"
	case strings.Contains(msg, "mismatched types"):
		got += " is " + article(v.IncompleteKind().String())
	case v.Kind() == cue.StringKind && strings.Contains(hint, "at most 63 characters") && len(stringOf(v)) > 63:
		got += fmt.Sprintf(" is %d characters long", len(stringOf(v)))
	default:
		got += " is not allowed"
	}
	if hint == "" {
		if strings.Contains(msg, "mismatched types") || !v.IsConcrete() {
			return got
		}
		return msg
	}
	return fmt.Sprintf("%s; want %s", got, hint)
}

func stringOf(v cue.Value) string {
	s, _ := v.String()
	return s
}

// article puts "a" or "an" before a CUE kind ("an int", "a string").
func article(kind string) string {
	if kind != "" && strings.ContainsRune("aeiou", rune(kind[0])) {
		return "an " + kind
	}
	return "a " + kind
}

func short(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// trimDef drops the schema's own #Cluster from a path: users never wrote it.
func trimDef(sel []string) []string {
	if len(sel) > 0 && sel[0] == "#Cluster" {
		return sel[1:]
	}
	return sel
}

// pathString renders CUE path selectors as members[1].ip.
func pathString(sel []string) string {
	var b strings.Builder
	for _, s := range sel {
		if _, err := strconv.Atoi(s); err == nil {
			b.WriteString("[" + s + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

// hintKey replaces list indices with [] so one hint serves every member.
func hintKey(path string) string {
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		if path[i] == '[' {
			j := strings.IndexByte(path[i:], ']')
			if j > 0 {
				b.WriteString("[]")
				i += j
				continue
			}
		}
		b.WriteByte(path[i])
	}
	return b.String()
}

func splitPath(path string) (parent, field string) {
	i := strings.LastIndexByte(path, '.')
	if i < 0 {
		return "", path
	}
	return path[:i], path[i+1:]
}

// fieldsAt lists the spec's field names at a path ("" is the top), read
// from the Go structs that mirror the schema.
func fieldsAt(key string) []string {
	t := reflect.TypeOf(Cluster{})
	if key != "" {
		for _, part := range strings.Split(key, ".") {
			list := strings.HasSuffix(part, "[]")
			part = strings.TrimSuffix(part, "[]")
			t = fieldType(t, part)
			if t == nil {
				return nil
			}
			if list && t.Kind() == reflect.Slice {
				t = t.Elem()
			}
		}
	}
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("json"), ",")[0]
		if tag != "" && tag != "-" {
			names = append(names, tag)
		}
	}
	sort.Strings(names)
	return names
}

func fieldType(t reflect.Type, name string) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	for i := 0; i < t.NumField(); i++ {
		if strings.Split(t.Field(i).Tag.Get("json"), ",")[0] == name {
			return t.Field(i).Type
		}
	}
	return nil
}

// closest returns the known name within edit distance 2 of s (a typo such
// as "memebers"), or "".
func closest(s string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(s), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Damerau-Levenshtein (optimal string alignment)
// distance, so a swap of two letters counts as one edit.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

func sortProblems(list []Problem) {
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i].Pos, list[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		return list[i].Path < list[j].Path
	})
}
