//go:build !node && !scan

package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/credence-dev/credence/cluster"
)

// clusterFlags are the flags of every command that reads a cluster
// snapshot: --manifests DIR|FILE|- or a live cluster (--kubeconfig,
// --context; default $KUBECONFIG or ~/.kube/config).
type clusterFlags struct {
	manifests  string
	kubeconfig string
	context    string
	namespaces []string
}

func addClusterFlags(cmd *cobra.Command) *clusterFlags {
	f := &clusterFlags{}
	fl := cmd.Flags()
	fl.StringVar(&f.manifests, "manifests", "", "read the cluster from manifests: a directory, a file, or - for standard input (multi-document YAML/JSON, List kinds, Helm output)")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "read a live cluster through this kubeconfig (default $KUBECONFIG or ~/.kube/config)")
	fl.StringVar(&f.context, "context", "", "kubeconfig context (default the current context)")
	fl.StringSliceVarP(&f.namespaces, "namespace", "n", nil, "only these namespaces (live cluster; repeat or comma-separate)")
	return f
}

func (f *clusterFlags) validate() error {
	if f.manifests != "" && (f.kubeconfig != "" || f.context != "") {
		return usagef("--manifests cannot be combined with --kubeconfig or --context")
	}
	return nil
}

// load reads the snapshot the flags name.
func (f *clusterFlags) load(ctx context.Context, cmd *cobra.Command) (*cluster.Snapshot, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	var opts []cluster.Option
	if len(f.namespaces) > 0 {
		opts = append(opts, cluster.WithNamespaces(f.namespaces...))
	}
	if f.manifests != "" {
		opts = append(opts, cluster.WithStdin(cmd.InOrStdin()))
		s, err := cluster.FromManifests(ctx, f.manifests, opts...)
		if err != nil {
			return nil, fmt.Errorf("load snapshot: %w", err)
		}
		return s, nil
	}
	s, err := cluster.FromKubeconfig(ctx, f.kubeconfig, f.context, opts...)
	if err != nil {
		return nil, fmt.Errorf("load snapshot: %w", err)
	}
	return s, nil
}
