package kubeapiserver_test

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/credence-dev/credence/internal/testutil/kubeapiserver"
)

// TestServer starts the real server and checks what the harness promises:
// the version, an admin, namespaces with a default ServiceAccount, RBAC
// for impersonated users, token users and ServiceAccount tokens, and a
// kubeconfig that client-go loads.
func TestServer(t *testing.T) {
	srv := kubeapiserver.Start(t, kubeapiserver.WithUsers(kubeapiserver.User{Name: "alice", Groups: []string{"devs"}}))
	ctx := context.Background()

	v, err := srv.Client.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != kubeapiserver.Version {
		t.Errorf("server version %s, want %s", v.GitVersion, kubeapiserver.Version)
	}

	srv.Namespace(t, "blast", map[string]string{"pod-security.kubernetes.io/enforce": "baseline"})
	if _, err := srv.Client.CoreV1().ServiceAccounts("blast").Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Errorf("default service account: %v", err)
	}

	// Impersonated and token users have no permissions: RBAC denies.
	if _, err := srv.ClientAs(t, "mallory").CoreV1().Secrets("blast").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("impersonated user listing secrets: err = %v, want forbidden", err)
	}
	alice, err := kubernetes.NewForConfig(srv.ConfigWithToken(srv.Token("alice")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.CoreV1().Pods("blast").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("token user alice listing pods: err = %v, want forbidden", err)
	}
	tok := srv.ServiceAccountToken(t, "blast", "default")
	sa, err := kubernetes.NewForConfig(srv.ConfigWithToken(tok))
	if err != nil {
		t.Fatal(err)
	}
	_, err = sa.CoreV1().Pods("blast").List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("service account listing pods: err = %v, want forbidden", err)
	}

	cfg, err := clientcmd.BuildConfigFromFlags("", srv.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Namespaces().Get(ctx, "blast", metav1.GetOptions{}); err != nil {
		t.Errorf("admin kubeconfig: %v", err)
	}
}
