package charttest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

const chartDir = "../spillway"

// spillwayBin is built from the repository by TestMain.
var spillwayBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "charttest-")
	if err != nil {
		panic(err)
	}
	spillwayBin = filepath.Join(dir, "spillway")
	cmd := exec.Command("go", "build", "-o", spillwayBin, "./cmd/spillway")
	cmd.Dir = "../../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build spillway: %v\n%s", err, out)
		os.Exit(1)
	}
	if _, err := exec.LookPath("envoy"); err != nil {
		fmt.Fprintln(os.Stderr, "envoy is not on PATH: run `make envoy`")
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// rendered is one render of the chart, decoded.
type rendered struct {
	configMaps      map[string]*corev1.ConfigMap
	secrets         map[string]*corev1.Secret
	services        map[string]*corev1.Service
	deployments     map[string]*appsv1.Deployment
	pdbs            map[string]*policyv1.PodDisruptionBudget
	netpols         []*networkingv1.NetworkPolicy
	serviceMonitors []*monitoringv1.ServiceMonitor
}

// render renders the chart with a values file ("" for the defaults) as
// `helm template` does, and decodes every object strictly.
func render(t *testing.T, valuesFile string) (*rendered, error) {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	vals := chartutil.Values{}
	if valuesFile != "" {
		if vals, err = chartutil.ReadValuesFile(valuesFile); err != nil {
			t.Fatal(err)
		}
	}
	top, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{Name: "gw", Namespace: "ai", IsInstall: true}, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	files, err := engine.Render(ch, top)
	if err != nil {
		return nil, err
	}
	r := &rendered{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{},
		services: map[string]*corev1.Service{}, deployments: map[string]*appsv1.Deployment{}, pdbs: map[string]*policyv1.PodDisruptionBudget{}}
	for name, content := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			continue
		}
		for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(content, -1) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var head struct{ APIVersion, Kind string }
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				t.Fatalf("%s: not YAML: %v\n%s", name, err, doc)
			}
			var obj any
			switch head.APIVersion + " " + head.Kind {
			case "v1 ConfigMap":
				obj = &corev1.ConfigMap{}
			case "v1 Secret":
				obj = &corev1.Secret{}
			case "v1 Service":
				obj = &corev1.Service{}
			case "apps/v1 Deployment":
				obj = &appsv1.Deployment{}
			case "policy/v1 PodDisruptionBudget":
				obj = &policyv1.PodDisruptionBudget{}
			case "networking.k8s.io/v1 NetworkPolicy":
				obj = &networkingv1.NetworkPolicy{}
			case "monitoring.coreos.com/v1 ServiceMonitor":
				obj = &monitoringv1.ServiceMonitor{}
			default:
				t.Fatalf("%s: unexpected object %s %s", name, head.APIVersion, head.Kind)
			}
			// Strict: a field the API type does not have is an error.
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Fatalf("%s: %s does not decode strictly: %v\n%s", name, head.Kind, err, doc)
			}
			switch o := obj.(type) {
			case *corev1.ConfigMap:
				r.configMaps[o.Name] = o
			case *corev1.Secret:
				r.secrets[o.Name] = o
			case *corev1.Service:
				r.services[o.Name] = o
			case *appsv1.Deployment:
				r.deployments[o.Name] = o
			case *policyv1.PodDisruptionBudget:
				r.pdbs[o.Name] = o
			case *networkingv1.NetworkPolicy:
				r.netpols = append(r.netpols, o)
			case *monitoringv1.ServiceMonitor:
				r.serviceMonitors = append(r.serviceMonitors, o)
			}
		}
	}
	return r, nil
}

func container(t *testing.T, cs []corev1.Container, name string) corev1.Container {
	t.Helper()
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %s", name)
	return corev1.Container{}
}

func TestChart(t *testing.T) {
	for _, c := range []struct {
		name, values   string
		replicas       int32 // spillway's
		envoyReplicas  int32
		redis          string // "" memory, "bundled" or "external"
		serviceMonitor bool
		gatewayPort    int32
		nodeID         string
	}{
		{name: "defaults", replicas: 1, envoyReplicas: 1, gatewayPort: 10000, nodeID: "spillway"},
		{name: "scaled, bundled redis, service monitor", values: "testdata/scaled-bundled-redis.yaml", replicas: 3, envoyReplicas: 2, redis: "bundled", serviceMonitor: true, gatewayPort: 10000, nodeID: "spillway"},
		{name: "external redis", values: "testdata/external-redis.yaml", replicas: 2, envoyReplicas: 1, redis: "external", gatewayPort: 8080, nodeID: "gw-eu"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := render(t, c.values)
			if err != nil {
				t.Fatal(err)
			}
			d, ed := r.deployments["gw-spillway"], r.deployments["gw-spillway-envoy"]
			if d == nil || ed == nil {
				t.Fatalf("want Deployments gw-spillway and gw-spillway-envoy; have %v", keys(r.deployments))
			}
			pod, epod := d.Spec.Template.Spec, ed.Spec.Template.Spec
			if *d.Spec.Replicas != c.replicas || *ed.Spec.Replicas != c.envoyReplicas {
				t.Errorf("replicas %d and %d, want %d and %d", *d.Spec.Replicas, *ed.Spec.Replicas, c.replicas, c.envoyReplicas)
			}
			checkSecurity(t, pod)
			checkSecurity(t, epod)
			sw, envoy := container(t, pod.Containers, "spillway"), container(t, epod.Containers, "envoy")
			if p := sw.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "admin" {
				t.Errorf("spillway liveness probe %+v, want GET /healthz on admin", p)
			}
			if p := sw.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
				t.Errorf("spillway readiness probe %+v", p)
			}
			if envoy.Image != "envoyproxy/envoy:v1.40.0" || envoy.Ports[0].ContainerPort != c.gatewayPort || envoy.ReadinessProbe == nil {
				t.Errorf("envoy container %s ports %+v readiness %+v", envoy.Image, envoy.Ports, envoy.ReadinessProbe)
			}
			for _, ct := range slices.Concat(pod.Containers, epod.Containers, epod.InitContainers) {
				if ct.Resources.Requests.Cpu().IsZero() || ct.Resources.Limits.Memory().IsZero() {
					t.Errorf("container %s: no resources %+v", ct.Name, ct.Resources)
				}
			}
			// The config: a ConfigMap mounted as a directory (no subPath: updates reach the pod).
			for _, m := range sw.VolumeMounts {
				if m.SubPath != "" {
					t.Errorf("mount %s uses subPath: ConfigMap updates would not reach it", m.Name)
				}
			}
			cm := r.configMaps["gw-spillway-config"]
			if cm == nil || cm.Data["gateway.yaml"] == "" {
				t.Fatalf("no gateway config ConfigMap: %v", keys(r.configMaps))
			}
			cfg := cm.Data["gateway.yaml"]
			if os.Getenv("CHART_DUMP") != "" { // print the rendered config
				t.Logf("gateway.yaml:\n%s", cfg)
			}
			want := []string{fmt.Sprintf("listen: 0.0.0.0:%d", c.gatewayPort), "grpc_listen: 0.0.0.0:18000", "admin_listen: 0.0.0.0:9464",
				"node_id: " + c.nodeID, fmt.Sprintf("replicas: %d", c.replicas)}
			switch c.redis {
			case "":
				want = append(want, "store: memory")
			case "bundled":
				want = append(want, "store: redis", "address: gw-spillway-redis:6379", "env: SPILLWAY_REDIS_PASSWORD")
			case "external":
				want = append(want, "store: redis", "address: redis.shared.svc:6380", "tls: true", "username: spillway", "key_prefix: '{spillway}:'")
			}
			for _, w := range want {
				if !strings.Contains(cfg, w) {
					t.Errorf("gateway config lacks %q:\n%s", w, cfg)
				}
			}
			validateConfig(t, cfg, c.redis != "")
			checkBootstrap(t, epod, c.nodeID, "gw-spillway-control.ai.svc.cluster.local:18000")

			// Services: the gateway selects Envoy, the headless control and the
			// admin Services select spillway; the ServiceMonitor the admin Service.
			podLabels, envoyLabels := labels.Set(d.Spec.Template.Labels), labels.Set(ed.Spec.Template.Labels)
			for name, want := range map[string]labels.Set{"gw-spillway": envoyLabels, "gw-spillway-control": podLabels, "gw-spillway-admin": podLabels} {
				s := r.services[name]
				if s == nil || !labels.SelectorFromSet(s.Spec.Selector).Matches(want) {
					t.Errorf("service %s does not select its pods: %+v", name, s)
				}
			}
			if s := r.services["gw-spillway"]; s != nil && labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) {
				t.Error("the gateway Service selects spillway pods")
			}
			if s := r.services["gw-spillway-control"]; s == nil || s.Spec.ClusterIP != "None" || s.Spec.Ports[0].Port != 18000 {
				t.Errorf("control service %+v, want headless on 18000", s)
			}
			if got := len(r.serviceMonitors) == 1; got != c.serviceMonitor {
				t.Errorf("%d ServiceMonitors, want one: %v", len(r.serviceMonitors), c.serviceMonitor)
			}
			for _, sm := range r.serviceMonitors {
				admin := r.services["gw-spillway-admin"]
				if !labels.SelectorFromSet(sm.Spec.Selector.MatchLabels).Matches(labels.Set(admin.Labels)) ||
					labels.SelectorFromSet(sm.Spec.Selector.MatchLabels).Matches(labels.Set(r.services["gw-spillway"].Labels)) ||
					sm.Spec.Endpoints[0].Port != "admin" || sm.Spec.Endpoints[0].Path != "/metrics" || sm.Labels["release"] != "prometheus" {
					t.Errorf("service monitor %+v", sm.Spec)
				}
			}
			for name, n := range map[string]int32{"gw-spillway": c.replicas, "gw-spillway-envoy": c.envoyReplicas} {
				p := r.pdbs[name]
				if (p != nil) != (n > 1) {
					t.Errorf("PodDisruptionBudget %s rendered %v for %d replicas", name, p != nil, n)
				}
				sel := map[string]labels.Set{"gw-spillway": podLabels, "gw-spillway-envoy": envoyLabels}[name]
				if p != nil && (p.Spec.MinAvailable.IntValue() != 1 || !labels.SelectorFromSet(p.Spec.Selector.MatchLabels).Matches(sel)) {
					t.Errorf("pdb %s %+v", name, p.Spec)
				}
			}
			checkNetworkPolicy(t, r, podLabels, envoyLabels)
			checkRedis(t, r, c.redis, sw)
			checkKeys(t, r, pod, c.values)
		})
	}
}

// checkNetworkPolicy: spillway's gRPC port admits Envoy's pods only, its
// admin port everyone.
func checkNetworkPolicy(t *testing.T, r *rendered, control, gateway labels.Set) {
	t.Helper()
	if len(r.netpols) != 1 {
		t.Fatalf("%d NetworkPolicies, want 1", len(r.netpols))
	}
	np := r.netpols[0].Spec
	if !labels.SelectorFromSet(np.PodSelector.MatchLabels).Matches(control) || labels.SelectorFromSet(np.PodSelector.MatchLabels).Matches(gateway) {
		t.Errorf("network policy selects %v", np.PodSelector)
	}
	var grpcFrom, adminOpen bool
	for _, in := range np.Ingress {
		for _, p := range in.Ports {
			switch p.Port.String() {
			case "grpc":
				grpcFrom = len(in.From) == 1 && labels.SelectorFromSet(in.From[0].PodSelector.MatchLabels).Matches(gateway) &&
					!labels.SelectorFromSet(in.From[0].PodSelector.MatchLabels).Matches(control)
			case "admin":
				adminOpen = len(in.From) == 0
			}
		}
	}
	if !grpcFrom || !adminOpen {
		t.Errorf("network policy ingress %+v: grpc from Envoy only %v, admin open %v", np.Ingress, grpcFrom, adminOpen)
	}
}

func TestChartRefusesUnsharedReplicas(t *testing.T) {
	_, err := render(t, "testdata/unshared-replicas.yaml")
	if err == nil || !strings.Contains(err.Error(), "replicaCount > 1 needs shared state") {
		t.Errorf("render = %v, want the shared-state failure", err)
	}
}

func checkSecurity(t *testing.T, pod corev1.PodSpec) {
	t.Helper()
	if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		t.Errorf("pod security context %+v, want non-root", sc)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the pods do not need a service account token")
	}
	for _, c := range append(pod.Containers, pod.InitContainers...) {
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			t.Errorf("container %s security context %+v", c.Name, sc)
		}
	}
}

// validateConfig runs `spillway validate` on the rendered config, with the
// pod's secret paths mapped onto files in a temporary directory.
func validateConfig(t *testing.T, cfg string, redisPassword bool) {
	t.Helper()
	dir := t.TempDir()
	secrets := filepath.Join(dir, "secrets")
	if err := os.Mkdir(secrets, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`/etc/spillway/secrets/([A-Za-z0-9._-]+)`).FindAllStringSubmatch(cfg, -1) {
		if err := os.WriteFile(filepath.Join(secrets, m[1]), []byte("key\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(cfg, "/etc/spillway/secrets/", secrets+"/")), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(spillwayBin, "validate", "-c", path)
	cmd.Env = os.Environ()
	if redisPassword {
		cmd.Env = append(cmd.Env, "SPILLWAY_REDIS_PASSWORD=pw")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("spillway validate: %v\n%s\n%s", err, out, cfg)
	}
}

// checkBootstrap runs the init container's command (spillway envoy
// bootstrap) and checks Envoy accepts what it writes.
func checkBootstrap(t *testing.T, pod corev1.PodSpec, nodeID, control string) {
	t.Helper()
	init := container(t, pod.InitContainers, "envoy-bootstrap")
	envoy := container(t, pod.Containers, "envoy")
	args := slices.Clone(init.Args)
	i := slices.Index(args, "-o")
	if i < 0 || i+1 >= len(args) || !slices.Contains(envoy.Args, args[i+1]) {
		t.Fatalf("init container args %q do not write the file envoy reads (%q)", init.Args, envoy.Args)
	}
	path := filepath.Join(t.TempDir(), "bootstrap.yaml")
	args[i+1] = path
	if out, err := exec.Command(spillwayBin, args...).CombinedOutput(); err != nil {
		t.Fatalf("spillway %q: %v\n%s", args, err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(control, ":")
	if !bytes.Contains(b, []byte("id: "+nodeID)) || !bytes.Contains(b, []byte("address: "+host)) || !bytes.Contains(b, []byte("port_value: "+port)) ||
		!bytes.Contains(b, []byte("STRICT_DNS")) {
		t.Errorf("bootstrap lacks node %s or the control Service %s (STRICT_DNS):\n%s", nodeID, control, b)
	}
	if out, err := exec.Command("envoy", "--mode", "validate", "-c", path).CombinedOutput(); err != nil {
		t.Errorf("envoy --mode validate: %v\n%s\n%s", err, out, b)
	}
}

func checkRedis(t *testing.T, r *rendered, mode string, sw corev1.Container) {
	t.Helper()
	rd := r.deployments["gw-spillway-redis"]
	if (rd != nil) != (mode == "bundled") || (r.services["gw-spillway-redis"] != nil) != (mode == "bundled") {
		t.Errorf("bundled redis rendered: %v, want %v", rd != nil, mode == "bundled")
	}
	var ref *corev1.SecretKeySelector
	for _, e := range sw.Env {
		if e.Name == "SPILLWAY_REDIS_PASSWORD" && e.ValueFrom != nil {
			ref = e.ValueFrom.SecretKeyRef
		}
	}
	switch mode {
	case "":
		if ref != nil {
			t.Errorf("redis password env without redis: %+v", ref)
		}
	case "bundled":
		s := r.secrets["gw-spillway-redis"]
		if ref == nil || ref.Name != "gw-spillway-redis" || s == nil || len(s.Data["password"]) != 32 {
			t.Errorf("password ref %+v, secret %+v", ref, s)
		}
		checkSecurity(t, rd.Spec.Template.Spec)
		rc := container(t, rd.Spec.Template.Spec.Containers, "redis")
		if !slices.Contains(rc.Args, "$(REDIS_PASSWORD)") || rc.Env[0].ValueFrom.SecretKeyRef.Name != "gw-spillway-redis" {
			t.Errorf("redis container %+v", rc)
		}
	case "external":
		if ref == nil || ref.Name != "shared-redis" || ref.Key != "spillway-password" {
			t.Errorf("password ref %+v", ref)
		}
	}
}

func checkKeys(t *testing.T, r *rendered, pod corev1.PodSpec, values string) {
	t.Helper()
	var secretName string
	for _, v := range pod.Volumes {
		if v.Name == "keys" && v.Secret != nil {
			secretName = v.Secret.SecretName
		}
	}
	switch values {
	case "testdata/scaled-bundled-redis.yaml":
		if secretName != "spillway-keys" || r.secrets["gw-spillway-keys"] != nil {
			t.Errorf("keys from %q; the chart's own Secret rendered: %v", secretName, r.secrets["gw-spillway-keys"] != nil)
		}
	case "testdata/external-redis.yaml":
		s := r.secrets[secretName]
		if secretName != "gw-spillway-keys" || s == nil || s.StringData["client-key"] != "test-client-key" || s.StringData["eastus-key"] != "test-azure-key" {
			t.Errorf("keys secret %q: %+v", secretName, s)
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
