package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/Masterminds/sprig/v3"
	yaml "go.yaml.in/yaml/v3"

	"llmrouter/config"
)

// There is no helm binary on the build machines (no Debian or npm package
// ships one), so these tests render the chart the way helm does: Go
// text/template with the sprig functions plus helm's own include, required
// and toYaml, over .Values (values.yaml deep-merged with overrides),
// .Release, .Chart and .Template. The output is parsed as YAML and checked.

var updateManifests = flag.Bool("update-manifests", false, "rewrite deploy/k8s/llmrouter.yaml from the chart")

const chartDir = "deploy/helm/llmrouter"

// renderChart renders every template of the chart and returns the parsed
// Kubernetes objects and the raw output (documents joined by ---).
func renderChart(t *testing.T, release, namespace string, overrides map[string]any) ([]map[string]any, string, error) {
	t.Helper()
	dir := filepath.Join(repoRoot(t), chartDir)
	var chart struct {
		Name, Version string
		AppVersion    string `yaml:"appVersion"`
	}
	readYAML(t, filepath.Join(dir, "Chart.yaml"), &chart)
	values := map[string]any{}
	readYAML(t, filepath.Join(dir, "values.yaml"), &values)
	mergeValues(values, overrides)

	root := template.New("chart").Option("missingkey=error")
	funcs := sprig.TxtFuncMap()
	funcs["toYaml"] = func(v any) string {
		var b bytes.Buffer
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		if err := enc.Encode(v); err != nil {
			return ""
		}
		return strings.TrimSuffix(b.String(), "\n")
	}
	funcs["required"] = func(msg string, v any) (any, error) {
		if v == nil || v == "" {
			return nil, errors.New(msg)
		}
		return v, nil
	}
	funcs["include"] = func(name string, data any) (string, error) {
		var b bytes.Buffer
		err := root.ExecuteTemplate(&b, name, data)
		return b.String(), err
	}
	root.Funcs(funcs)
	files, err := filepath.Glob(filepath.Join(dir, "templates", "*"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	var names []string
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := chart.Name + "/templates/" + filepath.Base(f)
		if _, err := root.New(name).Parse(string(src)); err != nil {
			t.Fatalf("parse %s: %v", name, err)
		}
		if base := filepath.Base(f); !strings.HasPrefix(base, "_") && strings.HasSuffix(base, ".yaml") {
			names = append(names, name)
		}
	}
	var objects []map[string]any
	var out strings.Builder
	for _, name := range names {
		data := map[string]any{
			"Values":   values,
			"Chart":    map[string]any{"Name": chart.Name, "Version": chart.Version, "AppVersion": chart.AppVersion},
			"Release":  map[string]any{"Name": release, "Namespace": namespace, "Service": "Helm"},
			"Template": map[string]any{"Name": name, "BasePath": chart.Name + "/templates"},
		}
		var b bytes.Buffer
		if err := root.ExecuteTemplate(&b, name, data); err != nil {
			return nil, "", err
		}
		dec := yaml.NewDecoder(&b)
		for {
			var obj map[string]any
			if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s renders invalid YAML: %v", name, err)
			}
			if obj == nil {
				continue
			}
			objects = append(objects, obj)
			var doc bytes.Buffer
			enc := yaml.NewEncoder(&doc)
			enc.SetIndent(2)
			if err := enc.Encode(obj); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&out, "---\n# Source: %s\n%s", name, doc.String())
		}
	}
	return objects, out.String(), nil
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// mergeValues deep-merges src into dst, as helm merges --set and -f values.
func mergeValues(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeValues(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

// get walks a parsed object along a dotted path; numbers index lists.
func get(v any, path string) any {
	for _, p := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			var i int
			if _, err := fmt.Sscanf(p, "%d", &i); err != nil || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func byKind(objs []map[string]any, kind string) []map[string]any {
	var out []map[string]any
	for _, o := range objs {
		if o["kind"] == kind {
			out = append(out, o)
		}
	}
	return out
}

func one(t *testing.T, objs []map[string]any, kind string) map[string]any {
	t.Helper()
	l := byKind(objs, kind)
	if len(l) != 1 {
		t.Fatalf("%d objects of kind %s, want 1", len(l), kind)
	}
	return l[0]
}

// checkManifests asserts what running llmrouter on Kubernetes needs: probes
// on /healthz and /readyz at the port the config listens on, a non-root
// security context, resource requests and limits, and a termination grace
// period longer than preStop plus the config's drain deadline.
func checkManifests(t *testing.T, objs []map[string]any) {
	t.Helper()
	dep := one(t, objs, "Deployment")
	pod := get(dep, "spec.template.spec")
	c := get(pod, "containers.0")
	if c == nil {
		t.Fatal("deployment has no container")
	}
	for _, p := range []struct{ probe, path string }{{"livenessProbe", "/healthz"}, {"readinessProbe", "/readyz"}} {
		if got := get(c, p.probe+".httpGet.path"); got != p.path {
			t.Errorf("%s path %v, want %s", p.probe, got, p.path)
		}
		if got := get(c, p.probe+".httpGet.port"); got != get(c, "ports.0.name") {
			t.Errorf("%s port %v is not the container port %v", p.probe, got, get(c, "ports.0.name"))
		}
	}
	if get(pod, "securityContext.runAsNonRoot") != true || get(c, "securityContext.runAsNonRoot") != true {
		t.Error("pod and container must set runAsNonRoot: true")
	}
	if uid, _ := get(pod, "securityContext.runAsUser").(int); uid == 0 {
		t.Error("runAsUser must be a non-zero uid (the image's user is 10001)")
	}
	if get(c, "securityContext.allowPrivilegeEscalation") != false {
		t.Error("allowPrivilegeEscalation must be false")
	}
	for _, r := range []string{"requests.cpu", "requests.memory", "limits.cpu", "limits.memory"} {
		if v := get(c, "resources."+r); v == nil || v == "" {
			t.Errorf("resources.%s is not set", r)
		}
	}

	// The config the pods run, from the ConfigMap, must validate and gives
	// the drain deadline and the listen port.
	var text string
	for _, o := range byKind(objs, "ConfigMap") {
		if data, ok := o["data"].(map[string]any); ok {
			text, _ = data["config.yaml"].(string)
		}
	}
	if text == "" {
		t.Fatal("no ConfigMap with config.yaml")
	}
	cfg, err := config.Parse([]byte(text), func(string) string { return "set-in-the-secret" })
	if err != nil {
		t.Fatalf("the chart's config does not validate: %v\n%s", err, text)
	}
	_, port, _ := strings.Cut(cfg.Server.Listen, ":")
	if fmt.Sprint(get(c, "ports.0.containerPort")) != port {
		t.Errorf("containerPort %v, but the config listens on %s", get(c, "ports.0.containerPort"), cfg.Server.Listen)
	}
	if get(c, "args.1") != "/etc/llmrouter/config.yaml" || get(c, "volumeMounts.0.mountPath") != "/etc/llmrouter" {
		t.Errorf("the container must run the mounted config: args %v mounts %v", get(c, "args"), get(c, "volumeMounts"))
	}

	cmd, _ := get(c, "lifecycle.preStop.exec.command").([]any)
	if len(cmd) != 2 || cmd[0] != "sleep" {
		t.Fatalf("preStop %v, want [sleep N]", cmd)
	}
	preStop, err := time.ParseDuration(fmt.Sprint(cmd[1]) + "s")
	if err != nil {
		t.Fatalf("preStop sleep %v: %v", cmd[1], err)
	}
	grace, _ := get(pod, "terminationGracePeriodSeconds").(int)
	need := preStop + cfg.Server.ShutdownTimeout
	if time.Duration(grace)*time.Second <= need {
		t.Errorf("terminationGracePeriodSeconds %d must exceed preStop %s + server.shutdown_timeout %s", grace, preStop, cfg.Server.ShutdownTimeout)
	}

	labels, _ := get(dep, "spec.template.metadata.labels").(map[string]any)
	matches := func(sel any) bool {
		m, _ := sel.(map[string]any)
		if len(m) == 0 {
			return false
		}
		for k, v := range m {
			if labels[k] != v {
				return false
			}
		}
		return true
	}
	if !matches(get(dep, "spec.selector.matchLabels")) {
		t.Error("the deployment's selector does not match its pods")
	}
	if pdb := byKind(objs, "PodDisruptionBudget"); len(pdb) != 1 || !matches(get(pdb[0], "spec.selector.matchLabels")) {
		t.Error("want one PodDisruptionBudget selecting the pods")
	}
	var selected bool
	for _, svc := range byKind(objs, "Service") {
		if get(svc, "metadata.name") == get(dep, "metadata.name") {
			selected = matches(get(svc, "spec.selector")) && get(svc, "spec.ports.0.targetPort") == get(c, "ports.0.name")
		}
	}
	if !selected {
		t.Error("the Service does not send to the pods' http port")
	}
	hpa := one(t, objs, "HorizontalPodAutoscaler")
	if get(hpa, "spec.scaleTargetRef.name") != get(dep, "metadata.name") {
		t.Error("the HPA does not scale the deployment")
	}
	if min, _ := get(hpa, "spec.minReplicas").(int); min < 2 {
		t.Errorf("HPA minReplicas %d: several replicas are the point", min)
	}
	if get(dep, "spec.replicas") != nil {
		t.Error("with an HPA the deployment must not set replicas (every apply would reset the HPA's count)")
	}
	secretName := get(c, "envFrom.0.secretRef.name")
	if secretName == nil {
		t.Error("the container does not read its secrets from a Secret")
	}
}

// TestHelmChartRendersAndIsProductionShaped renders the chart with its
// default values, and with every optional part on, and checks the objects.
func TestHelmChartRendersAndIsProductionShaped(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		objs, _, err := renderChart(t, "llmrouter", "default", nil)
		if err != nil {
			t.Fatal(err)
		}
		checkManifests(t, objs)
		if len(byKind(objs, "StatefulSet")) != 0 {
			t.Error("the bundled PostgreSQL must be off by default")
		}
		if len(byKind(objs, "ServiceMonitor")) != 0 {
			t.Error("the ServiceMonitor needs the Prometheus Operator's CRD: off by default")
		}
		one(t, objs, "Secret")
	})
	t.Run("everything on", func(t *testing.T) {
		objs, _, err := renderChart(t, "prod", "ai", map[string]any{
			"serviceMonitor": map[string]any{"enabled": true},
			"postgresql":     map[string]any{"enabled": true, "auth": map[string]any{"password": "p@ss word"}},
			"secrets":        map[string]any{"OPENAI_API_KEY": "sk-x"},
		})
		if err != nil {
			t.Fatal(err)
		}
		checkManifests(t, objs)
		sm := one(t, objs, "ServiceMonitor")
		// The metrics listener serves the tenant-labelled series the public
		// port hides without the admin key.
		if get(sm, "spec.endpoints.0.path") != "/metrics" || get(sm, "spec.endpoints.0.port") != "metrics" {
			t.Errorf("ServiceMonitor endpoint %v", get(sm, "spec.endpoints"))
		}
		ss := one(t, objs, "StatefulSet")
		if img, _ := get(ss, "spec.template.spec.containers.0.image").(string); !strings.Contains(img, "pgvector") {
			t.Errorf("bundled PostgreSQL image %q lacks pgvector", img)
		}
		if get(ss, "spec.template.spec.securityContext.runAsNonRoot") != true {
			t.Error("the bundled PostgreSQL must run as non-root")
		}
		sec := one(t, objs, "Secret")
		want := "postgres://llmrouter:p%40ss+word@prod-llmrouter-postgresql:5432/llmrouter?sslmode=disable"
		if got := get(sec, "stringData.DATABASE_URL"); got != want {
			t.Errorf("DATABASE_URL %v, want %s", got, want)
		}
		if get(sec, "stringData.OPENAI_API_KEY") != "sk-x" {
			t.Error("secrets values are not in the Secret")
		}
	})
	t.Run("bundled postgres needs a password", func(t *testing.T) {
		_, _, err := renderChart(t, "llmrouter", "default", map[string]any{"postgresql": map[string]any{"enabled": true}})
		if err == nil || !strings.Contains(err.Error(), "postgresql.auth.password is required") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("external database url", func(t *testing.T) {
		objs, _, err := renderChart(t, "llmrouter", "default", map[string]any{"database": map[string]any{"url": "postgres://u@db/x"}})
		if err != nil {
			t.Fatal(err)
		}
		if got := get(one(t, objs, "Secret"), "stringData.DATABASE_URL"); got != "postgres://u@db/x" {
			t.Errorf("DATABASE_URL %v", got)
		}
	})
}

// k8sValues are the values deploy/k8s/llmrouter.yaml is rendered with: the
// Secret is made by hand (kubectl create secret), never committed.
var k8sValues = map[string]any{"existingSecret": "llmrouter"}

// TestPlainManifestsAreTheChartRendered: deploy/k8s/llmrouter.yaml is the
// chart rendered for release "llmrouter" (so the two cannot drift; rewrite
// it with -update-manifests), and it passes the same checks.
func TestPlainManifestsAreTheChartRendered(t *testing.T) {
	_, rendered, err := renderChart(t, "llmrouter", "llmrouter", k8sValues)
	if err != nil {
		t.Fatal(err)
	}
	header := "# Plain Kubernetes manifests for llmrouter: the Helm chart in deploy/helm/llmrouter\n" +
		"# rendered with existingSecret: llmrouter (create that Secret first; see the README).\n" +
		"# Generated; do not edit: go test ./cmd/llmrouter -run TestPlainManifests -update-manifests\n"
	want := header + rendered
	path := filepath.Join(repoRoot(t), "deploy", "k8s", "llmrouter.yaml")
	if *updateManifests {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s differs from the rendered chart; run the test with -update-manifests", path)
	}
	var objs []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(got))
	for {
		var o map[string]any
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if o != nil {
			objs = append(objs, o)
		}
	}
	checkManifests(t, objs)
	if len(byKind(objs, "Secret")) != 0 {
		t.Error("the plain manifests must not carry a Secret")
	}
}
