//go:build !node && !scan

package cli

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/posture"
)

func newPostureCmd() *cobra.Command {
	var pods []string
	cmd := &cobra.Command{
		Use:   "posture",
		Short: "How well each container is isolated from the node: its isolation profile and Pod Security level",
		Long: `posture prints, for every container, how well it is isolated from the shared
kernel: privileged, effective capabilities, allowPrivilegeEscalation, the
user it runs as, seccomp, AppArmor, SELinux, host namespaces, user
namespace (hostUsers), host path mounts rated by risk, runtime sockets, the
runtime class (sandboxed or not), the escapes to the node this enables
with the mitigations that weaken or block them, and the Pod Security level
(privileged, baseline, restricted) computed by the upstream
pod-security-admission evaluator, with each failing check's reason.

What the pod spec leaves to the node (a default seccomp or AppArmor
profile, SELinux) is reported as unknown, and unknown never counts as
protection.`,
		Example: `  credence posture --manifests deploy/
  helm template shop ./chart | credence posture --manifests - -o json
  credence posture --context prod -n shop --pod web`,
	}
	cf := addClusterFlags(cmd)
	out := addOutputFlag(cmd, "table", "table", "json")
	cmd.Flags().StringSliceVar(&pods, "pod", nil, "only these pods, by pod or workload name (repeat or comma-separate)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := cf.validate(); err != nil {
			return err
		}
		snap, err := cf.load(cmd.Context(), cmd)
		if err != nil {
			return err
		}
		ev, err := posture.NewEvaluator()
		if err != nil {
			return err
		}
		snap.Pods = slices.DeleteFunc(snap.Pods, func(p cluster.Pod) bool {
			return !selected(p, cf.namespaces, pods)
		})
		rep := ev.Snapshot(snap)
		if out.format == "json" {
			return writeJSON(cmd.OutOrStdout(), rep)
		}
		return renderPosture(cmd.OutOrStdout(), rep)
	}
	return cmd
}

// selected reports whether pod p passes the -n and --pod filters; --pod
// matches the pod's name, its workload ("web" or "Deployment/web") or
// its owner.
func selected(p cluster.Pod, namespaces, pods []string) bool {
	if len(namespaces) > 0 && !slices.Contains(namespaces, p.Namespace) {
		return false
	}
	if len(pods) == 0 {
		return true
	}
	for _, want := range pods {
		for _, w := range []string{p.Workload, p.Owner} {
			if w != "" && (want == w || want == w[strings.Index(w, "/")+1:]) {
				return true
			}
		}
		if want == p.Name {
			return true
		}
	}
	return false
}

func renderPosture(w io.Writer, rep *posture.Report) error {
	fmt.Fprintf(w, "Source: %s\n\n", rep.Source)
	if len(rep.Pods) == 0 {
		fmt.Fprintln(w, "No pods.")
	}
	t := newTable(w, "NAMESPACE", "POD", "CONTAINER", "PSA", "PRIV", "CAPS+", "APE", "USER", "SECCOMP", "APPARMOR", "SELINUX", "HOST", "HOSTPATHS", "RUNTIME", "ESCAPES")
	for _, p := range rep.Pods {
		for _, c := range p.Containers {
			name := c.Container
			if c.Kind != posture.KindContainer {
				name += " (" + strings.TrimSuffix(string(c.Kind), "Container") + ")"
			}
			t.row(p.Namespace, p.Name, name, c.PodSecurity.Level, yesNo(c.Privileged), capsCell(c.Capabilities),
				yesNo(c.AllowPrivilegeEscalation), userCell(c), c.Seccomp.Profile, c.AppArmor.Profile, c.SELinux.Profile,
				hostCell(c), hostPathsCell(c.HostPaths), runtimeCell(c.RuntimeClass), escapesCell(c.Escapes))
		}
	}
	if err := t.flush(); err != nil {
		return err
	}

	fmt.Fprintln(w, "\nPod Security (upstream pod-security-admission, policy version latest):")
	for _, p := range rep.Pods {
		admitted := ""
		if p.Enforce != "" {
			admitted = fmt.Sprintf("; namespace enforces %s: admitted %s", p.Enforce, p.Admitted)
		}
		fmt.Fprintf(w, "  %s  %s%s\n", p.Key(), p.PodSecurity.Level, admitted)
		// Why not the next level up: baseline failures for a privileged
		// pod, the rest for a baseline one.
		for _, f := range p.PodSecurity.Failures {
			if p.PodSecurity.Level == "privileged" && f.Level != "baseline" {
				continue
			}
			line := fmt.Sprintf("    %s: %s", f.ID, f.Reason)
			if f.Detail != "" {
				line += " (" + f.Detail + ")"
			}
			fmt.Fprintln(w, line)
		}
	}

	var esc []string
	kernelOpen := 0
	for _, p := range rep.Pods {
		for _, c := range p.Containers {
			for _, e := range c.Escapes {
				if e.ID == "kernelExploit" {
					if e.Verdict == posture.Open {
						kernelOpen++
					}
					continue
				}
				esc = append(esc, fmt.Sprintf("  %s/%s  %s [%s, %s]: %s\n    fix: %s", p.Key(), c.Container, e.ID, e.Verdict, e.Technique, e.Reason, e.Fix))
			}
		}
	}
	if len(esc) > 0 {
		fmt.Fprintln(w, "\nEscapes to the node:")
		for _, e := range esc {
			fmt.Fprintln(w, e)
		}
	}
	if kernelOpen > 0 {
		share := map[bool]string{true: "shares", false: "share"}[kernelOpen == 1]
		fmt.Fprintf(w, "\n%s %s the node's kernel with nothing weakening a kernel exploit (no sandbox, seccomp, LSM, no_new_privs or user namespace in effect): kernelExploit:open above.\n", count(kernelOpen, "container", "containers"), share)
	}
	var spelling []string
	for _, p := range rep.Pods {
		for _, c := range p.Containers {
			for _, m := range c.Capabilities.Misspelled {
				spelling = append(spelling, fmt.Sprintf("  %s/%s %s: %q %s", p.Key(), c.Container, m.Field, m.Value, m.Effect))
			}
		}
	}
	if len(spelling) > 0 {
		fmt.Fprintln(w, "\nMisconfigured capabilities (the runtime does not apply them as written):")
		for _, s := range spelling {
			fmt.Fprintln(w, s)
		}
	}
	var unknowns []string
	for _, p := range rep.Pods {
		for _, c := range p.Containers {
			for _, u := range c.Unknowns {
				unknowns = append(unknowns, fmt.Sprintf("  %s/%s: %s", p.Key(), c.Container, u))
			}
		}
	}
	if len(unknowns) > 0 {
		fmt.Fprintln(w, "\nUnknown:")
		for _, u := range unknowns {
			fmt.Fprintln(w, u)
		}
	}
	if len(rep.Gaps) > 0 {
		fmt.Fprintln(w, "\nCould not read (what these hide is unknown, not absent):")
		for _, g := range rep.Gaps {
			fmt.Fprintf(w, "  %s\n", g)
		}
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func capsCell(c posture.Capabilities) string {
	if len(c.BeyondDefault) == 0 {
		return ""
	}
	if len(c.BeyondDefault) > 4 {
		return strconv.Itoa(len(c.BeyondDefault)) + " extra"
	}
	return strings.Join(c.BeyondDefault, ",")
}

func userCell(c posture.Profile) string {
	switch {
	case c.RunAsUser != nil:
		return strconv.FormatInt(*c.RunAsUser, 10)
	case c.RunsAsRoot == posture.No:
		return "non-root"
	}
	return "image"
}

func hostCell(c posture.Profile) string {
	var h []string
	if c.HostNetwork {
		h = append(h, "net")
	}
	if c.HostPID {
		h = append(h, "pid")
	}
	if c.HostIPC {
		h = append(h, "ipc")
	}
	if !c.HostUsers {
		h = append(h, "userns")
	}
	return strings.Join(h, ",")
}

// hostPathsCell shows the two riskiest host paths and how many more.
func hostPathsCell(hs []posture.HostPathMount) string {
	hs = slices.Clone(hs)
	slices.SortStableFunc(hs, func(a, b posture.HostPathMount) int {
		switch {
		case a.Risk == b.Risk:
			return 0
		case a.Risk.AtLeast(b.Risk):
			return -1
		}
		return 1
	})
	var out []string
	for i, h := range hs {
		if i == 2 {
			out = append(out, fmt.Sprintf("+%d more", len(hs)-2))
			break
		}
		mode := "rw"
		if h.ReadOnly {
			mode = "ro"
		}
		out = append(out, fmt.Sprintf("%s(%s,%s)", h.Path, mode, h.Risk))
	}
	return strings.Join(out, " ")
}

func runtimeCell(rc posture.RuntimeClass) string {
	if rc.Name == "" {
		return ""
	}
	switch rc.Sandboxed {
	case posture.Yes:
		return rc.Name + "(sandboxed)"
	case posture.No:
		return rc.Name
	}
	return rc.Name + "(unknown)"
}

func escapesCell(es []posture.Escape) string {
	var out []string
	for _, e := range es {
		out = append(out, e.ID+":"+string(e.Verdict))
	}
	return strings.Join(out, " ")
}
