package k8s

import (
	"fmt"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/etcdgen/etcdgen/render"
	"github.com/etcdgen/etcdgen/targets/systemd"
)

// Where the job pods mount their volumes.
const (
	jobScriptsDir = "/etcdgen"
	jobBackupDir  = "/backup"
)

// jobObjects are the snapshot and defrag CronJobs (issue 16), written only
// when backup.kubernetes.image names an image with a shell, etcdctl and
// etcdutl: etcd's own image is distroless (no /bin/sh), so the scripts
// cannot run in it. The scripts are the hosts' (systemd.SnapshotScriptFor,
// systemd.DefragScriptFor), one per pod, with the pod's client URL, the
// client Secret's files and etcdctl/etcdutl from PATH; a ConfigMap carries
// them. Snapshots go to the PersistentVolumeClaim <statefulSet>-backup.
func jobObjects(m *render.Model, labels map[string]string) ([]any, error) {
	spec := m.Spec
	bk := spec.Backup.Kubernetes
	if bk.Image == "" || (!spec.Backup.Enabled && !spec.Defrag.Enabled) {
		return nil, nil
	}
	k := &m.Kubernetes
	jm := jobModel(m)
	data := map[string]string{}
	var snap, defrag []string
	for i, pod := range k.Pods {
		mem := &render.Member{Name: pod.Name, ClientURL: k.ClientURLs[i]}
		if spec.Backup.Enabled {
			data["etcd-snapshot-"+pod.Name] = string(systemd.SnapshotScriptFor(jm, mem))
			snap = append(snap, "/bin/sh "+jobScriptsDir+"/etcd-snapshot-"+pod.Name)
		}
		if spec.Defrag.Enabled {
			data["etcd-defrag-"+pod.Name] = string(systemd.DefragScriptFor(jm, mem))
			defrag = append(defrag, "/bin/sh "+jobScriptsDir+"/etcd-defrag-"+pod.Name)
		}
	}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: k.Namespace, Labels: labels}
	}
	scripts := k.StatefulSet + "-jobs"
	objs := []any{&corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: meta(scripts),
		Data:       data,
	}}
	if spec.Backup.Enabled {
		size, err := resource.ParseQuantity(bk.Size)
		if err != nil {
			return nil, fmt.Errorf("backup.kubernetes.size %q is not a Kubernetes quantity (e.g. 10Gi)", bk.Size)
		}
		pvc := &corev1.PersistentVolumeClaim{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
			ObjectMeta: meta(k.StatefulSet + "-backup"),
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
			},
		}
		if bk.StorageClass != "" {
			pvc.Spec.StorageClassName = ptr(bk.StorageClass)
		}
		// A snapshot from the first pod that answers: the same data is on
		// every member, and a pod that is down must not stop the backup.
		objs = append(objs, pvc, cronJob(m, meta(k.StatefulSet+"-snapshot"), scripts, k.StatefulSet+"-backup",
			cronSchedule(spec.Backup.Interval, false), strings.Join(snap, " || ")))
	}
	if spec.Defrag.Enabled {
		// One member at a time, in pod order; a refusal (another member
		// unhealthy) stops the run.
		objs = append(objs, cronJob(m, meta(k.StatefulSet+"-defrag"), scripts, "",
			cronSchedule(spec.Defrag.Interval, true), strings.Join(defrag, " && ")))
	}
	return objs, nil
}

// jobModel is the model the host scripts are rendered from, as the job pod
// sees it: the client Secret's files as the admin client, etcdctl and
// etcdutl from the image's PATH, the backup volume, no textfile metrics
// (no node_exporter reads the pod; the Job's status and the CronJob's
// lastSuccessfulTime say how it went).
func jobModel(m *render.Model) *render.Model {
	spec := *m.Spec
	spec.Backup.Dir = jobBackupDir
	spec.Monitoring.TextfileDir = ""
	// The fields the scripts read (a Model is not copied whole: it holds
	// a lock).
	jm := &render.Model{Name: m.Name, Spec: &spec, TLS: m.TLS, Ops: m.Ops}
	jm.Ops.Etcdctl, jm.Ops.Etcdutl = "etcdctl", "etcdutl"
	if m.TLS.Enabled {
		d := podTLSDirs(m).client
		jm.HostTLS = render.HostTLS{Dir: d, CAFile: d + "/ca.crt", ClientCertFile: d + "/tls.crt", ClientKeyFile: d + "/tls.key"}
	}
	return jm
}

// cronJob runs command in the job image with the scripts, the client
// Secret and, for the snapshot, the backup claim. concurrencyPolicy Forbid:
// a slow run is never overlapped by the next (two defrags at once would
// block two members).
func cronJob(m *render.Model, meta metav1.ObjectMeta, scripts, claim, schedule, command string) *batchv1.CronJob {
	k := &m.Kubernetes
	c := corev1.Container{
		Name:    "job",
		Image:   m.Spec.Backup.Kubernetes.Image,
		Command: []string{"/bin/sh", "-c", command},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "scripts", MountPath: jobScriptsDir, ReadOnly: true},
		},
	}
	vols := []corev1.Volume{{Name: "scripts", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: scripts}, DefaultMode: ptr(int32(0o444))}}}}
	if m.TLS.Enabled {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: volClientTLS, MountPath: podTLSDirs(m).client, ReadOnly: true})
		vols = append(vols, corev1.Volume{Name: volClientTLS, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: k.ClientSecret, DefaultMode: ptr(int32(0o400))}}})
	}
	if claim != "" {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "backup", MountPath: jobBackupDir})
		vols = append(vols, corev1.Volume{Name: "backup", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}})
	}
	pod := corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{c}, Volumes: vols}
	for _, name := range k.ImagePullSecrets {
		pod.ImagePullSecrets = append(pod.ImagePullSecrets, corev1.LocalObjectReference{Name: name})
	}
	return &batchv1.CronJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
		ObjectMeta: meta,
		Spec: batchv1.CronJobSpec{
			Schedule:                schedule,
			TimeZone:                ptr("Etc/UTC"),
			ConcurrencyPolicy:       batchv1.ForbidConcurrent,
			StartingDeadlineSeconds: ptr(int64(300)),
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
				BackoffLimit: ptr(int32(1)),
				Template: corev1.PodTemplateSpec{
					// Not the object labels: those hold the StatefulSet's
					// selector, and a job pod must not join the Services or
					// count for the PodDisruptionBudget.
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{
						"app.kubernetes.io/managed-by": "etcdgen",
						"app.kubernetes.io/component":  meta.Name,
					}},
					Spec: pod,
				},
			}},
		},
	}
}

// cronSchedule is a cron line firing every interval (the schema allows only
// divisors of 1h or 24h, so the line is exact); for defrag half a slot
// later below an hour and 30 minutes later above, so a snapshot and a
// defrag never start together.
func cronSchedule(interval string, half bool) string {
	d := render.Duration(interval)
	mins := int(d.Minutes())
	if mins < 60 {
		off := 0
		if half {
			off = mins / 2
		}
		return fmt.Sprintf("%d-59/%d * * * *", off, mins)
	}
	minute := 0
	if half {
		minute = 30
	}
	hours := mins / 60
	if hours == 24 {
		return fmt.Sprintf("%d 0 * * *", minute)
	}
	if hours == 1 {
		return fmt.Sprintf("%d * * * *", minute)
	}
	return fmt.Sprintf("%d */%d * * *", minute, hours)
}
