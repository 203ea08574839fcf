package admission

import (
	"errors"
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WebhookConfig describes the ValidatingWebhookConfiguration to register.
type WebhookConfig struct {
	// Name of the configuration and prefix of its webhooks' names.
	Name string
	// URL reaches the webhook directly (https://host:port/validate), or
	// Service does (in-cluster).
	URL     string
	Service *ServiceRef
	// CABundle is the PEM CA that signed the webhook's serving certificate.
	CABundle []byte
	// FailurePolicy is Fail (default: a webhook that does not answer blocks
	// the request) or Ignore.
	FailurePolicy admissionregistrationv1.FailurePolicyType
	// TimeoutSeconds is how long the API server waits (1 to 30, default 10).
	TimeoutSeconds int32
	// ExcludeNamespaces are never sent to the webhook (its own namespace,
	// kube-system). Whoever can create pods there bypasses the webhook.
	ExcludeNamespaces []string
	// ExcludeUsers are users whose requests are never sent (the webhook's
	// own service account): a match condition on the authenticated user,
	// which a request cannot forge.
	ExcludeUsers []string
	// Graph also sends RoleBindings, ClusterRoleBindings and
	// NetworkPolicies (the graph-delta gate).
	Graph bool
}

// ServiceRef names the webhook's Service.
type ServiceRef struct {
	Namespace, Name, Path string
	Port                  int32
}

// Resources the webhook is sent, by API group.
var webhookRules = []struct {
	group, version string
	resources      []string
	graph          bool
}{
	{"", "v1", []string{"pods", "pods/ephemeralcontainers"}, false},
	{"apps", "v1", []string{"deployments", "statefulsets", "daemonsets", "replicasets"}, false},
	{"batch", "v1", []string{"jobs", "cronjobs"}, false},
	{"rbac.authorization.k8s.io", "v1", []string{"rolebindings", "clusterrolebindings"}, true},
	{"networking.k8s.io", "v1", []string{"networkpolicies"}, true},
}

// Build returns the configuration. It does not set an objectSelector on
// purpose: labels are written by whoever writes the object, so a label
// exclusion would let anyone opt out.
func (c WebhookConfig) Build() (*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	if c.Name == "" {
		c.Name = "credence.dev"
	}
	if (c.URL == "") == (c.Service == nil) {
		return nil, errors.New("webhook configuration: give a URL or a Service, not both")
	}
	if len(c.CABundle) == 0 || !strings.Contains(string(c.CABundle), "BEGIN CERTIFICATE") {
		return nil, errors.New("webhook configuration: a PEM CA bundle is required")
	}
	if c.FailurePolicy == "" {
		c.FailurePolicy = admissionregistrationv1.Fail
	}
	if c.FailurePolicy != admissionregistrationv1.Fail && c.FailurePolicy != admissionregistrationv1.Ignore {
		return nil, fmt.Errorf("webhook configuration: failurePolicy %q: want Fail or Ignore", c.FailurePolicy)
	}
	if c.TimeoutSeconds == 0 {
		c.TimeoutSeconds = 10
	}
	if c.TimeoutSeconds < 1 || c.TimeoutSeconds > 30 {
		return nil, fmt.Errorf("webhook configuration: timeoutSeconds %d: want 1 to 30", c.TimeoutSeconds)
	}
	cc := admissionregistrationv1.WebhookClientConfig{CABundle: c.CABundle}
	if c.URL != "" {
		u := c.URL
		cc.URL = &u
	} else {
		path := firstNonEmpty(c.Service.Path, "/validate")
		port := c.Service.Port
		if port == 0 {
			port = 443
		}
		cc.Service = &admissionregistrationv1.ServiceReference{Namespace: c.Service.Namespace, Name: c.Service.Name, Path: &path, Port: &port}
	}
	var rules []admissionregistrationv1.RuleWithOperations
	for _, r := range webhookRules {
		if r.graph && !c.Graph {
			continue
		}
		rules = append(rules, admissionregistrationv1.RuleWithOperations{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
			Rule:       admissionregistrationv1.Rule{APIGroups: []string{r.group}, APIVersions: []string{r.version}, Resources: r.resources, Scope: ptr(admissionregistrationv1.AllScopes)},
		})
	}
	none := admissionregistrationv1.SideEffectClassNone
	equivalent := admissionregistrationv1.Equivalent
	wh := admissionregistrationv1.ValidatingWebhook{
		Name:                    "validate." + c.Name,
		ClientConfig:            cc,
		Rules:                   rules,
		FailurePolicy:           &c.FailurePolicy,
		MatchPolicy:             &equivalent,
		SideEffects:             &none,
		TimeoutSeconds:          &c.TimeoutSeconds,
		AdmissionReviewVersions: []string{"v1"},
	}
	if len(c.ExcludeNamespaces) > 0 {
		wh.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: c.ExcludeNamespaces}}}
	}
	if len(c.ExcludeUsers) > 0 {
		var quoted []string
		for _, u := range c.ExcludeUsers {
			if strings.ContainsAny(u, "'\\\n") {
				return nil, fmt.Errorf("webhook configuration: user %q: quotes, backslashes and newlines are not allowed", u)
			}
			quoted = append(quoted, "'"+u+"'")
		}
		wh.MatchConditions = []admissionregistrationv1.MatchCondition{{
			Name:       "not-credence-itself",
			Expression: "!(request.userInfo.username in [" + strings.Join(quoted, ", ") + "])",
		}}
	}
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: c.Name, Labels: map[string]string{"app.kubernetes.io/managed-by": "credence"}},
		Webhooks:   []admissionregistrationv1.ValidatingWebhook{wh},
	}, nil
}

// ServiceAccountUser is the username a service account authenticates as.
func ServiceAccountUser(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}
