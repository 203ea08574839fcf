package assess

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/graph"
)

// Alert is one runtime alert, as Falco writes it with json_output (and
// falcosidekick forwards it): the rule, its priority and output, and the
// container it fired in (output_fields k8s.ns.name, k8s.pod.name,
// container.name, container.id).
type Alert struct {
	Rule        string    `json:"rule"`
	Priority    string    `json:"priority,omitempty"`
	Output      string    `json:"output,omitempty"`
	Time        time.Time `json:"time,omitzero"`
	Namespace   string    `json:"namespace,omitempty"`
	Pod         string    `json:"pod,omitempty"`
	Container   string    `json:"container,omitempty"`
	ContainerID string    `json:"containerID,omitempty"`
	// Source is where the alert was read: "alerts.json:3".
	Source string `json:"source,omitempty"`
}

// AlertResult is what one alert means: the container it names, marked
// compromised, and what falls from it. Status is "matched" or "unknown"
// (the pod is not in the snapshot, or the alert names no pod), with Reason.
type AlertResult struct {
	Alert     Alert  `json:"alert"`
	Status    string `json:"status"`
	Reason    string `json:"reason,omitempty"`
	Workload  string `json:"workload,omitempty"`
	Container string `json:"container,omitempty"` // graph key
	// MatchedBy says how the alert was joined to the snapshot: "pod name",
	// "container id", "workload name" (a template pod: the alert's pod name
	// is the workload's name plus the suffixes its controller adds).
	MatchedBy   string        `json:"matchedBy,omitempty"`
	BlastRadius *graph.Result `json:"blastRadius,omitempty"`
}

// Limits on alert input.
const (
	maxAlertLine = 1 << 20
	maxAlerts    = 10000
)

// falcoEvent is Falco's JSON output format.
type falcoEvent struct {
	Rule         string         `json:"rule"`
	Priority     string         `json:"priority"`
	Output       string         `json:"output"`
	Time         string         `json:"time"`
	OutputFields map[string]any `json:"output_fields"`
}

// ReadAlerts reads Falco JSON alerts, one per line (a JSON array of them is
// accepted too). A malformed line is reported in problems and skipped; the
// rest are read. name labels the source in messages.
func ReadAlerts(r io.Reader, name string) (alerts []Alert, problems []string, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxAlertLine)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		where := fmt.Sprintf("%s:%d", name, line)
		var evs []falcoEvent
		if b[0] == '[' {
			if err := json.Unmarshal(b, &evs); err != nil {
				problems = append(problems, fmt.Sprintf("%s: not a JSON array of Falco alerts: %v", where, err))
				continue
			}
		} else {
			var ev falcoEvent
			if err := json.Unmarshal(b, &ev); err != nil {
				problems = append(problems, fmt.Sprintf("%s: not a Falco JSON alert: %v", where, err))
				continue
			}
			evs = []falcoEvent{ev}
		}
		for _, ev := range evs {
			a, err := ev.alert()
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", where, err))
				continue
			}
			a.Source = where
			if len(alerts) == maxAlerts {
				return alerts, append(problems, fmt.Sprintf("%s: more than %d alerts; the rest are not read", where, maxAlerts)), nil
			}
			alerts = append(alerts, a)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return alerts, append(problems, fmt.Sprintf("%s:%d: line longer than %d bytes; the rest are not read", name, line+1, maxAlertLine)), nil
		}
		return alerts, problems, fmt.Errorf("read alerts %s: %w", name, err)
	}
	return alerts, problems, nil
}

func (ev falcoEvent) alert() (Alert, error) {
	if ev.Rule == "" && ev.Output == "" {
		return Alert{}, errors.New("not a Falco alert: no rule and no output")
	}
	str := func(k string) string {
		v, _ := ev.OutputFields[k].(string)
		if v == "<NA>" {
			return ""
		}
		return v
	}
	a := Alert{Rule: ev.Rule, Priority: ev.Priority, Output: ev.Output,
		Namespace: str("k8s.ns.name"), Pod: str("k8s.pod.name"), Container: str("container.name"), ContainerID: str("container.id")}
	if ev.Time != "" {
		t, err := time.Parse(time.RFC3339Nano, ev.Time)
		if err != nil {
			return Alert{}, fmt.Errorf("alert %q: time %q is not RFC 3339", ev.Rule, ev.Time)
		}
		a.Time = t
	}
	if a.Namespace == "" || a.Pod == "" {
		if a.ContainerID == "" {
			return Alert{}, fmt.Errorf("alert %q names no pod (k8s.ns.name, k8s.pod.name) and no container.id", ev.Rule)
		}
	}
	return a, nil
}

// alerts joins each alert to a container of the snapshot, marks it
// compromised and answers what falls from it.
func (a *run) alerts() {
	idx := a.containerIndex()
	for _, al := range a.o.alerts {
		res := AlertResult{Alert: al, Status: "unknown"}
		key, by, why := a.findAlerted(al)
		if key == "" {
			res.Reason = why
			a.out.Alerts = append(a.out.Alerts, res)
			continue
		}
		res.Status, res.Container, res.MatchedBy = "matched", key, by
		if at, ok := idx[key]; ok {
			res.Workload = at.s.Workload.Ref()
			alc := al
			at.c.Compromised = &alc
		}
		q, err := a.g.Query(key, a.o.queryOpts...)
		if err != nil {
			res.Status, res.Reason = "unknown", err.Error()
		} else {
			q.Paths = prependAlert(q.Paths, al, q.From)
			res.BlastRadius = q
		}
		a.out.Alerts = append(a.out.Alerts, res)
	}
}

// prependAlert makes the alert the first step of every path: the evidence
// that the container is compromised.
func prependAlert(paths []graph.Path, al Alert, from string) []graph.Path {
	ev := []graph.Evidence{{Object: "runtime alert " + al.Rule, Field: al.Source}}
	if al.Output != "" {
		ev = append(ev, graph.Evidence{Object: "output", Field: al.Output})
	}
	step := graph.Step{From: "runtime alert", To: from, Edge: graph.Edge{Kind: "ALERT", Likelihood: 1,
		Reason:   fmt.Sprintf("%s alert %q fired in this container%s: treated as compromised", firstNonEmpty(al.Priority, "a"), al.Rule, at(al.Time)),
		Evidence: ev}}
	for i := range paths {
		paths[i].Steps = append([]graph.Step{step}, paths[i].Steps...)
	}
	return paths
}

func at(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " at " + t.UTC().Format(time.RFC3339)
}

// findAlerted finds the container an alert names: by pod name, by
// container id, or (for pods made from manifests) by the workload whose
// controller would name a pod so.
func (a *run) findAlerted(al Alert) (key, by, why string) {
	pick := func(p *cluster.Pod) string {
		names := []string{}
		eachContainerName(p, func(n string) { names = append(names, n) })
		if al.Container != "" {
			for _, n := range names {
				if n == al.Container {
					return graph.ContainerKey(p.Namespace, p.Name, n)
				}
			}
			return ""
		}
		if len(p.Spec.Containers) > 0 {
			return graph.ContainerKey(p.Namespace, p.Name, p.Spec.Containers[0].Name)
		}
		return ""
	}
	if al.ContainerID != "" {
		for i := range a.snap.Pods {
			p := &a.snap.Pods[i]
			for _, cs := range p.Status.ContainerStatuses {
				_, id, _ := strings.Cut(cs.ContainerID, "://")
				if id != "" && strings.HasPrefix(id, al.ContainerID) {
					return graph.ContainerKey(p.Namespace, p.Name, cs.Name), "container id", ""
				}
			}
		}
	}
	for i := range a.snap.Pods {
		p := &a.snap.Pods[i]
		if p.Namespace == al.Namespace && p.Name == al.Pod {
			if k := pick(p); k != "" {
				return k, "pod name", ""
			}
			return "", "", fmt.Sprintf("pod %s/%s has no container %q", al.Namespace, al.Pod, al.Container)
		}
	}
	for i := range a.snap.Pods {
		p := &a.snap.Pods[i]
		if p.Namespace != al.Namespace || p.Workload == "" {
			continue
		}
		_, wname, _ := strings.Cut(p.Workload, "/")
		if generatedFrom(al.Pod, wname) {
			if k := pick(p); k != "" {
				return k, "workload name", ""
			}
		}
	}
	if al.Pod == "" {
		return "", "", fmt.Sprintf("no container with id %s in the snapshot", al.ContainerID)
	}
	return "", "", fmt.Sprintf("pod %s/%s is not in the snapshot (%s)", al.Namespace, al.Pod, a.snap.Source)
}

// generatedFrom reports whether a controller of workload w could have named
// a pod pod: "w-<hash>-<5>" (Deployment), "w-<5>" (ReplicaSet, DaemonSet,
// Job), "w-<n>" (StatefulSet), "w-<time>-<5>" (CronJob's Job).
func generatedFrom(pod, w string) bool {
	rest, ok := strings.CutPrefix(pod, w+"-")
	if !ok || rest == "" {
		return false
	}
	parts := strings.Split(rest, "-")
	if len(parts) > 2 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 10 {
			return false
		}
		for _, c := range p {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
				return false
			}
		}
	}
	return true
}

func eachContainerName(p *cluster.Pod, f func(string)) {
	for _, c := range p.Spec.InitContainers {
		f(c.Name)
	}
	for _, c := range p.Spec.Containers {
		f(c.Name)
	}
	for _, c := range p.Spec.EphemeralContainers {
		f(c.Name)
	}
}
