package k8s

import (
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/etcdgen/etcdgen/render"
	"github.com/etcdgen/etcdgen/schema"
)

// Port names, as etcd's SRV discovery and its Kubernetes guide name them.
const (
	portClient  = "etcd-client"
	portPeer    = "etcd-server"
	portMetrics = "etcd-metrics"
	// The client API's HTTP listener (--listen-client-http-urls).
	portClientHTTP = "etcd-http"
)

// Volume names in the pod.
const (
	volData      = "data"
	volWAL       = "wal"
	volServerTLS = "server-tls"
	volPeerTLS   = "peer-tls"
	volClientTLS = "client-tls"
)

// nonRootID is distroless's "nonroot" user: etcd's image runs as root
// unless told otherwise, and needs no identity of its own.
const nonRootID = 65532

// tlsDirs are where the Secrets cert-manager writes (tls.crt, tls.key,
// ca.crt) are mounted, under the spec's tls.dir.
type tlsDirs struct{ server, peer, client string }

func podTLSDirs(m *render.Model) tlsDirs {
	d := m.TLS.Dir
	return tlsDirs{server: d + "/server", peer: d + "/peer", client: d + "/client"}
}

// podURL turns a pod's URL into the pattern every pod of the StatefulSet
// shares, $(POD_NAME) standing for the pod name (the downward API sets it),
// so advertised URLs are exactly the --initial-cluster entries.
func podURL(k *render.Kubernetes, url string) string {
	p := k.Pods[0]
	return strings.Replace(url, "://"+p.Name+".", "://$(POD_NAME).", 1)
}

// Args are etcd's flags in the pod, spelled for the spec's etcd version.
func Args(m *render.Model) []string {
	k := &m.Kubernetes
	spec := m.Spec
	args := []string{
		"--name=$(POD_NAME)",
		"--data-dir=" + k.DataDir,
	}
	if k.WALDir != "" {
		args = append(args, "--wal-dir="+k.WALDir)
	}
	args = append(args,
		"--listen-peer-urls="+render.URL(m.Scheme, "0.0.0.0", k.PeerPort),
		"--listen-client-urls="+render.URL(m.Scheme, "0.0.0.0", k.ClientPort),
		// The client API's HTTP side on its own port: gRPC alone on the
		// client port, as etcd recommends for production.
		"--listen-client-http-urls="+render.URL(m.Scheme, "0.0.0.0", k.ClientHTTPPort),
		// Plain HTTP, so probes and Prometheus need no client cert.
		"--listen-metrics-urls="+render.URL("http", "0.0.0.0", k.MetricsPort),
		"--initial-advertise-peer-urls="+podURL(k, k.Pods[0].PeerURL),
		"--advertise-client-urls="+podURL(k, k.Pods[0].ClientURL),
		"--initial-cluster="+k.InitialCluster,
		"--initial-cluster-state="+spec.InitialClusterState,
		"--initial-cluster-token="+m.Token,
	)
	if m.TLS.Enabled {
		d := podTLSDirs(m)
		args = append(args,
			"--cert-file="+d.server+"/tls.crt",
			"--key-file="+d.server+"/tls.key",
			"--trusted-ca-file="+d.server+"/ca.crt",
			fmt.Sprintf("--client-cert-auth=%t", m.TLS.ClientCertAuth),
			"--peer-cert-file="+d.peer+"/tls.crt",
			"--peer-key-file="+d.peer+"/tls.key",
			"--peer-trusted-ca-file="+d.peer+"/ca.crt",
			fmt.Sprintf("--peer-client-cert-auth=%t", m.TLS.PeerCertAuth),
			"--tls-min-version="+m.TLS.MinVersion,
		)
	}
	for _, kv := range render.TuningFlags(m) {
		args = append(args, "--"+kv[0]+"="+kv[1])
	}
	return args
}

func statefulSet(m *render.Model, labels map[string]string) (*appsv1.StatefulSet, error) {
	k := &m.Kubernetes
	resources, err := resourceRequirements(k.Resources)
	if err != nil {
		return nil, err
	}
	container := corev1.Container{
		Name:            "etcd",
		Image:           k.Image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Command:         []string{"/usr/local/bin/etcd"},
		Args:            Args(m),
		Ports: []corev1.ContainerPort{
			{Name: portClient, ContainerPort: int32(k.ClientPort)},
			{Name: portClientHTTP, ContainerPort: int32(k.ClientHTTPPort)},
			{Name: portPeer, ContainerPort: int32(k.PeerPort)},
			{Name: portMetrics, ContainerPort: int32(k.MetricsPort)},
		},
		Env:            env(m),
		Resources:      resources,
		StartupProbe:   startupProbe(m),
		ReadinessProbe: readinessProbe(m),
		LivenessProbe:  livenessProbe(m),
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr(false),
			ReadOnlyRootFilesystem:   ptr(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
	container.VolumeMounts = append(container.VolumeMounts, corev1.VolumeMount{Name: volData, MountPath: k.DataMount})
	data, err := volumeClaim(k, volData)
	if err != nil {
		return nil, err
	}
	claims := []corev1.PersistentVolumeClaim{data}
	if k.WALMount != "" {
		// Same size and class as the data: the spec has no WAL knobs.
		container.VolumeMounts = append(container.VolumeMounts, corev1.VolumeMount{Name: volWAL, MountPath: k.WALMount})
		wal, _ := volumeClaim(k, volWAL) // same size, parsed above
		claims = append(claims, wal)
	}
	var volumes []corev1.Volume
	if m.TLS.Enabled {
		d := podTLSDirs(m)
		for _, v := range []struct{ name, secret, dir string }{
			{volServerTLS, k.ServerSecret, d.server},
			{volPeerTLS, k.PeerSecret, d.peer},
			{volClientTLS, k.ClientSecret, d.client},
		} {
			container.VolumeMounts = append(container.VolumeMounts, corev1.VolumeMount{Name: v.name, MountPath: v.dir, ReadOnly: true})
			volumes = append(volumes, corev1.Volume{Name: v.name, VolumeSource: corev1.VolumeSource{
				// 0440: root owns secret files and fsGroup is their
				// group, so the non-root etcd reads them through it.
				Secret: &corev1.SecretVolumeSource{SecretName: v.secret, DefaultMode: ptr(int32(0o440))},
			}})
		}
	}

	onRootMismatch := corev1.FSGroupChangeOnRootMismatch
	pod := corev1.PodSpec{
		Affinity: affinity(k),
		// etcd talks to no API server, and reads every ETCD_* variable:
		// service links would inject ETCD_PORT and friends for a
		// Service named etcd.
		AutomountServiceAccountToken: ptr(false),
		EnableServiceLinks:           ptr(false),
		// On SIGTERM etcd hands leadership over and stops; 30s is ample.
		TerminationGracePeriodSeconds: ptr(int64(30)),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:        ptr(true),
			RunAsUser:           ptr(int64(nonRootID)),
			RunAsGroup:          ptr(int64(nonRootID)),
			FSGroup:             ptr(int64(nonRootID)),
			FSGroupChangePolicy: &onRootMismatch,
			SeccompProfile:      &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{container},
		Volumes:    volumes,
	}
	placePod(k, &pod)
	if k.VolumePermissionsImage != "" {
		pod.InitContainers = []corev1.Container{volumePermissions(k, container.VolumeMounts)}
	}

	return &appsv1.StatefulSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: metav1.ObjectMeta{Name: k.StatefulSet, Namespace: k.Namespace, Labels: labels},
		Spec: appsv1.StatefulSetSpec{
			ServiceName: k.StatefulSet,
			Replicas:    ptr(int32(k.Replicas)),
			// Members must all start to form the first quorum; ordered
			// start would wait forever on pod 0's readiness.
			PodManagementPolicy: appsv1.ParallelPodManagement,
			UpdateStrategy:      updateStrategy(k),
			Selector:            &metav1.LabelSelector{MatchLabels: k.Labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels(k), Annotations: k.PodAnnotations},
				Spec:       pod,
			},
			VolumeClaimTemplates: claims,
			// A member's data outlives its pod, its scale-down and the
			// StatefulSet: etcd membership is not removed with them.
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
				WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			},
		},
	}, nil
}

// updateStrategy rolls pods one at a time on a template change. A plan's
// step manifest sets a partition (render.Kubernetes.Partition): only the
// pods it creates get the step's template (its --initial-cluster and
// --initial-cluster-state existing); the running members keep theirs,
// since a change of either flag would otherwise restart each of them
// (kubernetes.io/docs/concepts/workloads/controllers/statefulset,
// "Partitioned rolling updates").
func updateStrategy(k *render.Kubernetes) appsv1.StatefulSetUpdateStrategy {
	s := appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}
	if k.Partition > 0 {
		s.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr(int32(k.Partition))}
	}
	return s
}

// podLabels are the selector's labels and the spec's pod labels (the
// schema refuses the selector's keys there).
func podLabels(k *render.Kubernetes) map[string]string {
	if len(k.PodLabels) == 0 {
		return k.Labels
	}
	out := make(map[string]string, len(k.Labels)+len(k.PodLabels))
	for key, v := range k.PodLabels {
		out[key] = v
	}
	for key, v := range k.Labels {
		out[key] = v
	}
	return out
}

// placePod sets the spec's scheduling and identity fields of the pod:
// where it may run (nodeSelector, tolerations, spreading), how it is
// preempted (priorityClassName), how its image is pulled and which
// ServiceAccount it runs as.
func placePod(k *render.Kubernetes, pod *corev1.PodSpec) {
	pod.NodeSelector = k.NodeSelector
	pod.PriorityClassName = k.PriorityClassName
	pod.ServiceAccountName = k.ServiceAccountName
	for _, t := range k.Tolerations {
		pod.Tolerations = append(pod.Tolerations, corev1.Toleration{
			Key:               t.Key,
			Operator:          corev1.TolerationOperator(t.Operator),
			Value:             t.Value,
			Effect:            corev1.TaintEffect(t.Effect),
			TolerationSeconds: t.TolerationSeconds,
		})
	}
	for _, c := range k.TopologySpreadConstraints {
		pod.TopologySpreadConstraints = append(pod.TopologySpreadConstraints, corev1.TopologySpreadConstraint{
			MaxSkew:           int32(c.MaxSkew),
			TopologyKey:       c.TopologyKey,
			WhenUnsatisfiable: corev1.UnsatisfiableConstraintAction(c.WhenUnsatisfiable),
			// The members of this cluster: spreading counts them only.
			LabelSelector: &metav1.LabelSelector{MatchLabels: k.Labels},
		})
	}
	for _, name := range k.ImagePullSecrets {
		pod.ImagePullSecrets = append(pod.ImagePullSecrets, corev1.LocalObjectReference{Name: name})
	}
}

// volumePermissions is the opt-in init container that hands the data (and
// WAL) volume to the pods' user. fsGroup does it for volumes whose
// ownership Kubernetes manages, but not for hostPath-backed
// PersistentVolumes (kubernetes.io/docs/tasks/configure-pod-container/
// security-context: "fsGroup ... not all volume types"), where etcd, as
// 65532, cannot create its data directory ("mkdir /var/lib/etcd/data:
// permission denied"). It runs as root, with CHOWN and DAC_READ_SEARCH (to
// walk a data directory etcd made 0700) and nothing else.
func volumePermissions(k *render.Kubernetes, mounts []corev1.VolumeMount) corev1.Container {
	owner := fmt.Sprintf("%d:%d", nonRootID, nonRootID)
	cmd := []string{"chown", "-R", owner}
	var vm []corev1.VolumeMount
	for _, m := range mounts {
		if m.Name == volData || m.Name == volWAL {
			vm = append(vm, m)
			cmd = append(cmd, m.MountPath)
		}
	}
	return corev1.Container{
		Name:            "volume-permissions",
		Image:           k.VolumePermissionsImage,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Command:         cmd,
		VolumeMounts:    vm,
		SecurityContext: &corev1.SecurityContext{
			RunAsUser:                ptr(int64(0)),
			RunAsNonRoot:             ptr(false),
			AllowPrivilegeEscalation: ptr(false),
			ReadOnlyRootFilesystem:   ptr(true),
			Capabilities: &corev1.Capabilities{
				Drop: []corev1.Capability{"ALL"},
				Add:  []corev1.Capability{"CHOWN", "DAC_READ_SEARCH"},
			},
		},
	}
}

// env: the pod name for the flags, and etcdctl set up for `kubectl exec
// <pod> -- etcdctl endpoint health` against the local member.
func env(m *render.Model) []corev1.EnvVar {
	out := []corev1.EnvVar{
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
		{Name: "ETCDCTL_ENDPOINTS", Value: render.URL(m.Scheme, "localhost", m.Kubernetes.ClientPort)},
	}
	if m.TLS.Enabled {
		d := podTLSDirs(m).client
		out = append(out,
			corev1.EnvVar{Name: "ETCDCTL_CACERT", Value: d + "/ca.crt"},
			corev1.EnvVar{Name: "ETCDCTL_CERT", Value: d + "/tls.crt"},
			corev1.EnvVar{Name: "ETCDCTL_KEY", Value: d + "/tls.key"},
		)
	}
	return out
}

// hasHealthz: /readyz and /livez exist from etcd 3.5.12.
func hasHealthz(v render.Version) bool {
	return v.AtLeast(3, 6) || (v.Major == 3 && v.Minor == 5 && v.Patch >= 12)
}

func probe(h corev1.ProbeHandler, period, failures int32) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: h, PeriodSeconds: period, TimeoutSeconds: 5, SuccessThreshold: 1, FailureThreshold: failures}
}

func httpGet(path string) corev1.ProbeHandler {
	return corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString(portMetrics), Scheme: corev1.URISchemeHTTP}}
}

// liveness is /livez, which stays up while the cluster has no quorum. Older
// releases only have /health, which fails then: restarting members for an
// outage elsewhere makes it worse, so there only the port is checked.
func liveness(m *render.Model) corev1.ProbeHandler {
	if hasHealthz(m.Version) {
		return httpGet("/livez")
	}
	return corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString(portMetrics)}}
}

// startupProbe gives a member 5 minutes to replay its WAL or wait for its
// peers before the liveness probe may restart it.
func startupProbe(m *render.Model) *corev1.Probe { return probe(liveness(m), 10, 30) }

func livenessProbe(m *render.Model) *corev1.Probe { return probe(liveness(m), 10, 3) }

// readinessProbe takes a member out of the client Service when it cannot
// serve (no leader, alarms).
func readinessProbe(m *render.Model) *corev1.Probe {
	if hasHealthz(m.Version) {
		return probe(httpGet("/readyz"), 5, 3)
	}
	return probe(httpGet("/health"), 5, 3)
}

// affinity keeps members on different nodes: one node lost is one member
// lost. "preferred" lets small clusters share nodes when they must.
func affinity(k *render.Kubernetes) *corev1.Affinity {
	term := corev1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchLabels: k.Labels},
		TopologyKey:   corev1.LabelHostname,
	}
	anti := &corev1.PodAntiAffinity{}
	if k.AntiAffinity == "preferred" {
		anti.PreferredDuringSchedulingIgnoredDuringExecution = []corev1.WeightedPodAffinityTerm{{Weight: 100, PodAffinityTerm: term}}
	} else {
		anti.RequiredDuringSchedulingIgnoredDuringExecution = []corev1.PodAffinityTerm{term}
	}
	return &corev1.Affinity{PodAntiAffinity: anti}
}

func volumeClaim(k *render.Kubernetes, name string) (corev1.PersistentVolumeClaim, error) {
	size, err := resource.ParseQuantity(k.StorageSize)
	if err != nil {
		return corev1.PersistentVolumeClaim{}, fmt.Errorf("kubernetes.storageSize %q is not a Kubernetes quantity (e.g. 8Gi)", k.StorageSize)
	}
	pvc := corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: k.Labels},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: size},
			},
		},
	}
	if k.StorageClass != "" {
		pvc.Spec.StorageClassName = ptr(k.StorageClass)
	}
	return pvc, nil
}

// resourceRequirements parses the spec's requests and limits; the schema
// takes any string, Kubernetes only quantities.
func resourceRequirements(r schema.Resources) (corev1.ResourceRequirements, error) {
	var out corev1.ResourceRequirements
	for _, part := range []struct {
		field string
		in    map[string]string
		out   *corev1.ResourceList
	}{
		{"requests", r.Requests, &out.Requests},
		{"limits", r.Limits, &out.Limits},
	} {
		names := make([]string, 0, len(part.in))
		for name := range part.in {
			names = append(names, name)
		}
		sort.Strings(names) // the first error is the same on every run
		for _, name := range names {
			q, err := resource.ParseQuantity(part.in[name])
			if err != nil {
				return out, fmt.Errorf("kubernetes.resources.%s.%s: %q is not a Kubernetes quantity (e.g. 500m, 1Gi)", part.field, name, part.in[name])
			}
			if *part.out == nil {
				*part.out = corev1.ResourceList{}
			}
			(*part.out)[corev1.ResourceName(name)] = q
		}
	}
	return out, nil
}

func ptr[T any](v T) *T { return &v }
