package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/kubernetes/pkg/api/legacyscheme"
	"k8s.io/kubernetes/pkg/apis/batch"
	_ "k8s.io/kubernetes/pkg/apis/batch/install"
	batchvalidation "k8s.io/kubernetes/pkg/apis/batch/validation"
	"k8s.io/kubernetes/pkg/apis/core"
	_ "k8s.io/kubernetes/pkg/apis/core/install"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"
)

// The snapshot and defrag CronJobs, their claim and their scripts'
// ConfigMap (backup.kubernetes.image, issue 16) pass the API server's own
// validation after its decoding and defaulting (k8s.io/kubernetes
// pkg/apis/batch/validation and core/validation), as `kubectl apply` would
// have them checked.
func TestBackupJobsPassAPIValidation(t *testing.T) {
	const spec = `name: "ops"
kubernetes: {namespace: "etcd", imagePullSecrets: ["regcred"]}
backup: {enabled: true, interval: "2h", kubernetes: {image: "example.com/etcd-tools:3.6.16", size: "5Gi", storageClass: "fast"}}
defrag: {enabled: true, interval: "30m"}
`
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "etcdgen.cue"), []byte(spec), 0o644))
	run(t, dir, etcdgenBin, "render", "--out", filepath.Join(dir, "out"), "--target", "k8s")
	data := read(t, filepath.Join(dir, "out", "etcd.yaml"))
	kinds := map[string]int{}
	var cronJobs [][]byte
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		var errs []string
		switch {
		case bytes.HasPrefix(doc, []byte("apiVersion: batch/v1\nkind: CronJob\n")):
			kinds["CronJob"]++
			cronJobs = append(cronJobs, doc)
			errs = validateCronJob(t, doc)
		case bytes.HasPrefix(doc, []byte("apiVersion: v1\nkind: PersistentVolumeClaim\n")):
			kinds["PersistentVolumeClaim"]++
			pvc := decodeAs[*core.PersistentVolumeClaim](t, doc)
			for _, e := range corevalidation.ValidatePersistentVolumeClaim(pvc, corevalidation.PersistentVolumeClaimSpecValidationOptions{}) {
				errs = append(errs, e.Error())
			}
		case bytes.HasPrefix(doc, []byte("apiVersion: v1\n")) && bytes.Contains(doc, []byte("\nkind: ConfigMap\n")): // keys sorted: data first
			kinds["ConfigMap"]++
			for _, e := range corevalidation.ValidateConfigMap(decodeAs[*core.ConfigMap](t, doc)) {
				errs = append(errs, e.Error())
			}
		}
		if len(errs) > 0 {
			t.Errorf("the API server refuses:\n%s\n%s", strings.Join(errs, "\n"), doc)
		}
	}
	if kinds["CronJob"] != 2 || kinds["PersistentVolumeClaim"] != 1 || kinds["ConfigMap"] != 1 {
		t.Fatalf("etcd.yaml holds %v, want 2 CronJobs, 1 PersistentVolumeClaim, 1 ConfigMap", kinds)
	}
	// Control: the same validation refuses a schedule cron cannot parse.
	bad := bytes.Replace(cronJobs[0], []byte("  schedule: "), []byte("  schedule: 61 "), 1)
	if len(validateCronJob(t, bad)) == 0 {
		t.Error("control: a CronJob with schedule minute 61 passed validation")
	}
}

func decodeAs[T any](t *testing.T, doc []byte) T {
	t.Helper()
	obj, _, err := legacyscheme.Codecs.UniversalDecoder().Decode(doc, nil, nil)
	must(t, err)
	v, ok := obj.(T)
	if !ok {
		t.Fatalf("decoded a %T", obj)
	}
	return v
}

func validateCronJob(t *testing.T, doc []byte) []string {
	var out []string
	for _, e := range batchvalidation.ValidateCronJobCreate(decodeAs[*batch.CronJob](t, doc), corevalidation.PodValidationOptions{}) {
		out = append(out, e.Error())
	}
	return out
}
