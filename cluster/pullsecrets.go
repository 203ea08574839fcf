package cluster

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// PullSecretReader returns a function that reads the registry credentials
// of an image pull secret (.dockerconfigjson or .dockercfg) from the cluster
// a kubeconfig points at. Snapshots never keep secret data; this reads one
// secret when asked, and fails (forbidden) when the caller may not read it.
func PullSecretReader(path, kubeContext string) (func(ctx context.Context, namespace, name string) ([]byte, error), error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		rules.ExplicitPath = path
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, namespace, name string) ([]byte, error) {
		s, err := cs.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		for _, k := range []string{corev1.DockerConfigJsonKey, corev1.DockerConfigKey} {
			if b, ok := s.Data[k]; ok {
				return b, nil
			}
		}
		return nil, fmt.Errorf("secret %s/%s has type %s and no %s", namespace, name, s.Type, corev1.DockerConfigJsonKey)
	}, nil
}
