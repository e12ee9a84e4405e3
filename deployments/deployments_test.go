// Package deployments_test checks the shipped deployment files: the NATS configuration and its
// Helm twin say the same thing, and every Kubernetes manifest parses and is wired up.
package deployments_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats-server/v2/server"
	"gopkg.in/yaml.v3"
)

// TestHelmValuesMatchServerConfig: the authorization block merged by the Helm values is the
// one of nats-server.conf (users, passwords from the same variables, permissions, timeout), so
// that a Kubernetes cluster runs with the permissions TestShippedPermissions checks. Not
// parallel: it sets the environment.
func TestHelmValuesMatchServerConfig(t *testing.T) {
	env := map[string]string{"SERVER_NAME": "nats-0"}
	conf, err := os.ReadFile("nats/nats-server.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`\$(HRPUSH_[A-Z_]+)`).FindAllStringSubmatch(string(conf), -1) {
		env[m[1]] = "value-of-" + m[1]
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	opts, err := server.ProcessConfigFile("nats/nats-server.conf")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]helmUser{}
	for _, u := range opts.Users {
		want[u.Username] = helmUser{User: u.Username, Password: u.Password, Permissions: helmPermissions{
			Publish: helmSubjects{Allow: u.Permissions.Publish.Allow, Deny: u.Permissions.Publish.Deny},
			// A subscribe permission the file does not set is nil.
			Subscribe: helmSubjects{Allow: u.Permissions.Subscribe.Allow, Deny: u.Permissions.Subscribe.Deny},
		}}
	}
	if len(want) < 4 {
		t.Fatalf("nats-server.conf defines %d users, want at least the worker, enqueue, operator and gateway ones", len(want))
	}

	var values struct {
		Config struct {
			Merge struct {
				Authorization struct {
					Timeout float64    `yaml:"timeout"`
					Users   []helmUser `yaml:"users"`
				} `yaml:"authorization"`
			} `yaml:"merge"`
		} `yaml:"config"`
		Container struct {
			Env map[string]any `yaml:"env"`
		} `yaml:"container"`
	}
	b, err := os.ReadFile("nats/helm-values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &values); err != nil {
		t.Fatal(err)
	}
	auth := values.Config.Merge.Authorization
	if auth.Timeout != opts.AuthTimeout {
		t.Errorf("helm-values.yaml authorization timeout %v, nats-server.conf %v", auth.Timeout, opts.AuthTimeout)
	}
	got := map[string]helmUser{}
	for _, u := range auth.Users {
		// << $VAR >> is the chart's way of writing the file's $VAR: the server reads it from
		// the environment, which container.env must set.
		name := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(u.Password, "<< $"), ">>"))
		if _, ok := values.Container.Env[name]; !ok {
			t.Errorf("user %s: its password variable %s is not set under container.env", u.User, name)
		}
		u.Password = env[name]
		got[u.User] = u
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("helm-values.yaml's authorization differs from nats-server.conf's (-conf +helm):\n%s", diff)
	}
}

type helmUser struct {
	User        string          `yaml:"user"`
	Password    string          `yaml:"password"`
	Permissions helmPermissions `yaml:"permissions"`
}

type helmPermissions struct {
	Publish   helmSubjects `yaml:"publish"`
	Subscribe helmSubjects `yaml:"subscribe"`
}

type helmSubjects struct {
	Allow []string `yaml:"allow"`
	Deny  []string `yaml:"deny"`
}

// manifest is the part of a Kubernetes object every object has.
type manifest struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
}

// TestKubernetesManifests: every YAML document under kubernetes/ parses and is a Kubernetes
// object (apiVersion, kind, name); every file kustomization.yaml lists exists; every other
// file is named in its comment of files deliberately not listed; and the objects the README
// promises are there (the workers' Deployment, PodDisruptionBudget and ScaledObject with a
// trigger per target, the Bullhorn settings and secrets).
func TestKubernetesManifests(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	objects := map[string]map[string]any{} // kind/name -> object
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for i := 0; ; i++ {
			var node yaml.Node
			if err := dec.Decode(&node); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			var m manifest
			var obj map[string]any
			if err := node.Decode(&m); err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			if err := node.Decode(&obj); err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			if m.APIVersion == "" || m.Kind == "" || (m.Metadata.Name == "" && m.Kind != "Kustomization") {
				t.Errorf("%s document %d: not a Kubernetes object (apiVersion %q, kind %q, name %q)", f, i, m.APIVersion, m.Kind, m.Metadata.Name)
			}
			objects[m.Kind+"/"+m.Metadata.Name] = obj
		}
	}

	var kust struct {
		Resources []string `yaml:"resources"`
	}
	b, err := os.ReadFile("kubernetes/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &kust); err != nil {
		t.Fatal(err)
	}
	for _, r := range kust.Resources {
		if _, err := os.Stat(filepath.Join("kubernetes", r)); err != nil {
			t.Errorf("kustomization.yaml lists %s: %v", r, err)
		}
	}
	for _, f := range files {
		name := filepath.Base(f)
		if name == "kustomization.yaml" || slices.Contains(kust.Resources, name) {
			continue
		}
		if !bytes.Contains(b, []byte("# - "+name)) {
			t.Errorf("%s is neither a resource of kustomization.yaml nor in its list of files deliberately not listed", name)
		}
	}

	for _, want := range []string{
		"Deployment/hrpush-worker", "ConfigMap/hrpush-worker-config", "PodDisruptionBudget/hrpush-worker",
		"ScaledObject/hrpush-worker", "Secret/hrpush-worker-secrets",
	} {
		if objects[want] == nil {
			t.Errorf("no %s in kubernetes/", want)
		}
	}
	for _, r := range []string{"worker-pdb.yaml"} {
		if !slices.Contains(kust.Resources, r) {
			t.Errorf("kustomization.yaml does not list %s", r)
		}
	}
	consumers := map[string]bool{}
	triggers, _ := dig(objects["ScaledObject/hrpush-worker"], "spec", "triggers").([]any)
	for _, tr := range triggers {
		if c, ok := dig(tr, "metadata", "consumer").(string); ok {
			consumers[c] = true
		}
	}
	for _, c := range []string{"hrpush-jobadder", "hrpush-bullhorn"} {
		if !consumers[c] {
			t.Errorf("the ScaledObject has no trigger on the consumer %s", c)
		}
	}
	config, _ := dig(objects["ConfigMap/hrpush-worker-config"], "data").(map[string]any)
	for _, k := range []string{"BULLHORN_CLIENT_ID", "BULLHORN_USERNAME"} {
		if _, ok := config[k]; !ok {
			t.Errorf("the worker ConfigMap lacks %s", k)
		}
	}
	secrets, _ := dig(objects["Secret/hrpush-worker-secrets"], "stringData").(map[string]any)
	for _, k := range []string{"bullhorn-client-secret", "bullhorn-password"} {
		if _, ok := secrets[k]; !ok {
			t.Errorf("the worker Secret example lacks %s", k)
		}
	}
}

// dig follows keys through nested maps; nil when one is missing.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}
