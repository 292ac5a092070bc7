// Command kubecheck checks manifests rendered by `helm template` without a cluster.
//
// Every document is decoded strictly into its typed Kubernetes API object, so a misspelled or
// misplaced field, or a wrong type, is an error (helm lint does not see those). With -secure,
// every Deployment must also keep the security defaults of the petrosa-lib chart: non-root,
// read-only root filesystem, all capabilities dropped, no privilege escalation, RuntimeDefault
// seccomp, no service-account token, resources set, liveness and readiness probes.
//
//	kubecheck [-secure] rendered.yaml...
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

var separator = regexp.MustCompile(`(?m)^---\s*$`)

func main() {
	secure := flag.Bool("secure", false, "also require the security defaults on every Deployment")
	flag.Parse()
	problems := 0
	for _, path := range flag.Args() {
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			problems++
			continue
		}
		for _, doc := range separator.Split(string(data), -1) {
			for _, p := range checkDocument([]byte(doc), *secure) {
				fmt.Fprintf(os.Stderr, "%s: %s\n", path, p)
				problems++
			}
		}
	}
	if problems > 0 {
		fmt.Fprintf(os.Stderr, "kubecheck: %d problem(s)\n", problems)
		os.Exit(1)
	}
}

func checkDocument(doc []byte, secure bool) []string {
	if len(bytes.TrimSpace(stripComments(doc))) == 0 {
		return nil
	}
	var head struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return []string{fmt.Sprintf("not YAML: %v", err)}
	}
	where := head.Kind + "/" + head.Metadata.Name
	var obj any
	switch head.Kind {
	case "Deployment":
		obj = &appsv1.Deployment{}
	case "Service":
		obj = &corev1.Service{}
	case "ConfigMap":
		obj = &corev1.ConfigMap{}
	case "ServiceAccount":
		obj = &corev1.ServiceAccount{}
	case "PodDisruptionBudget":
		obj = &policyv1.PodDisruptionBudget{}
	default:
		return nil // e.g. ServiceMonitor: a CRD with no typed schema here
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return []string{fmt.Sprintf("%s: %v", where, err)}
	}
	if d, ok := obj.(*appsv1.Deployment); ok && secure {
		return secureProblems(where, d)
	}
	return nil
}

func secureProblems(where string, d *appsv1.Deployment) []string {
	var out []string
	fail := func(format string, args ...any) {
		out = append(out, where+": "+fmt.Sprintf(format, args...))
	}
	pod := d.Spec.Template.Spec
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		fail("pod securityContext.runAsNonRoot is not true")
	}
	if pod.SecurityContext == nil || pod.SecurityContext.SeccompProfile == nil ||
		pod.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		fail("pod seccompProfile is not RuntimeDefault")
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		fail("automountServiceAccountToken is not false")
	}
	for _, c := range pod.Containers {
		sc := c.SecurityContext
		if sc == nil {
			sc = &corev1.SecurityContext{}
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			fail("container %s: readOnlyRootFilesystem is not true", c.Name)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			fail("container %s: allowPrivilegeEscalation is not false", c.Name)
		}
		if sc.Capabilities == nil || !dropsAll(sc.Capabilities.Drop) {
			fail("container %s: capabilities do not drop ALL", c.Name)
		}
		if c.LivenessProbe == nil || c.ReadinessProbe == nil {
			fail("container %s: liveness or readiness probe missing", c.Name)
		}
		if len(c.Resources.Requests) == 0 || len(c.Resources.Limits) == 0 {
			fail("container %s: resource requests or limits missing", c.Name)
		}
		for _, e := range c.Env {
			if e.Value != "" && looksSecret(e.Name) {
				fail("container %s: %s is a literal value, not a secret reference", c.Name, e.Name)
			}
		}
	}
	return out
}

func dropsAll(caps []corev1.Capability) bool {
	for _, c := range caps {
		if strings.EqualFold(string(c), "ALL") {
			return true
		}
	}
	return false
}

func looksSecret(name string) bool {
	for _, word := range []string{"PASSWORD", "SECRET", "TOKEN", "API_KEY", "MONGODB_URL", "POSTGRES_URL"} {
		if strings.Contains(name, word) {
			return true
		}
	}
	return false
}

func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, line := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}
