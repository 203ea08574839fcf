package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/graph"
	"github.com/credence-dev/credence/store"
)

// maxAlertBody bounds one POST of alerts.
const maxAlertBody = 1 << 20

// alertAnswer is what one alert means, as credence assess --alert answers
// it, and whether it was recorded on the workload's timeline now (false
// when the same alert was recorded before: a retried request).
type alertAnswer struct {
	assess.AlertResult
	Recorded bool `json:"recorded"`
}

// postAlerts ingests runtime alerts (Falco's JSON output, one per line, or
// a JSON array; falcosidekick's webhook output is the same document): each
// is joined to a running container (by container id, else namespace and
// pod), answered with the blast radius from that container on the current
// trust graph, the alert being the first step, and recorded on the
// workload's timeline. A malformed alert is reported and skipped; if none
// is readable the request fails (400).
func (s *Server) postAlerts(w http.ResponseWriter, r *http.Request) {
	if !s.allowed(w, r, Access{Verb: "create", Resource: "alerts"}) {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAlertBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("alerts: more than %d bytes in one request", maxAlertBody))
			return
		}
		writeError(w, http.StatusBadRequest, "alerts: "+err.Error())
		return
	}
	alerts, problems, err := assess.ReadAlerts(strings.NewReader(string(body)), "request")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	for range problems {
		s.m.alerts.WithLabelValues("malformed").Inc()
	}
	if len(alerts) == 0 {
		msg := "no Falco alert in the request"
		if len(problems) > 0 {
			msg += ": " + problems[0]
		}
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": msg, "problems": problems})
		return
	}
	m, err := s.latestModel(r.Context())
	if err != nil {
		s.modelError(w, err)
		return
	}
	out := struct {
		Results  []alertAnswer `json:"results"`
		Problems []string      `json:"problems,omitempty"`
	}{Problems: problems}
	for _, al := range alerts {
		res := alertAnswer{AlertResult: assess.AlertResult{Alert: al, Status: "unknown"}}
		key, by, why, pod := m.findAlerted(al)
		if key == "" {
			res.Reason = why
			s.m.alerts.WithLabelValues("unknown").Inc()
			out.Results = append(out.Results, res)
			continue
		}
		res.Status, res.Container, res.MatchedBy, res.Workload = "matched", key, by, workloadKey(pod)
		q, err := m.g.Query(key, graph.WithMaxPaths(5), graph.WithMaxCuts(0))
		if err != nil {
			res.Status, res.Reason = "unknown", err.Error()
			s.m.alerts.WithLabelValues("unknown").Inc()
			out.Results = append(out.Results, res)
			continue
		}
		q.Paths = assess.WithAlertStep(q.Paths, al, q.From)
		res.BlastRadius = q
		s.m.alerts.WithLabelValues("matched").Inc()
		added, err := s.recordAlert(r, res)
		if err != nil {
			s.storeError(w, err)
			return
		}
		res.Recorded = added
		out.Results = append(out.Results, res)
	}
	writeJSON(w, http.StatusOK, out)
}

// recordAlert keeps an answered alert on its workload's timeline, once.
func (s *Server) recordAlert(r *http.Request, res alertAnswer) (bool, error) {
	al := res.Alert
	al.Source = "" // where in the request it was: not part of the alert
	id, _ := json.Marshal(al)
	h := sha256.Sum256(id)
	b := res.BlastRadius
	kept := struct {
		Alert     assess.Alert  `json:"alert"`
		Container string        `json:"container"`
		MatchedBy string        `json:"matchedBy"`
		Risk      float64       `json:"risk"`
		Counts    graph.Counts  `json:"counts"`
		Assets    []graph.Asset `json:"assets,omitempty"`
		Paths     []graph.Path  `json:"paths,omitempty"`
	}{Alert: al, Container: res.Container, MatchedBy: res.MatchedBy, Risk: b.Risk, Counts: b.Counts, Assets: b.Assets, Paths: b.Paths}
	if len(kept.Assets) > 10 {
		kept.Assets = kept.Assets[:10]
	}
	if len(kept.Paths) > 3 {
		kept.Paths = kept.Paths[:3]
	}
	data, err := json.Marshal(kept)
	if err != nil {
		return false, err
	}
	detail := fmt.Sprintf("%s alert %q in %s: %s reached", firstOf(al.Priority, "runtime"), al.Rule, res.Container, countOf(b.Counts.CriticalAssets, "critical asset", "critical assets"))
	ev := store.Event{Kind: store.AlertReceived, Workload: res.Workload, Detail: detail, Data: data}
	if !al.Time.IsZero() {
		ev.At = al.Time.UTC()
	}
	return s.st.AddEvent(r.Context(), "alert:"+hex.EncodeToString(h[:]), ev)
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// findAlerted joins an alert to a running container: by container id
// (Falco's 12-character container.id), else by namespace and pod (and
// container name when given).
func (m *model) findAlerted(al assess.Alert) (key, by, why string, pod *cluster.Pod) {
	if id := al.ContainerID; len(id) >= 12 {
		for _, c := range m.containers[id[:12]] {
			if strings.HasPrefix(c.id, id) {
				return graph.ContainerKey(c.pod.Namespace, c.pod.Name, c.name), "container id", "", c.pod
			}
		}
	}
	if al.Pod == "" {
		if al.ContainerID != "" {
			return "", "", fmt.Sprintf("no running container has id %s", al.ContainerID), nil
		}
		return "", "", "the alert names no pod and no container id", nil
	}
	p := m.pod(al.Namespace, al.Pod)
	if p == nil {
		return "", "", fmt.Sprintf("pod %s/%s is not running in the cluster", al.Namespace, al.Pod), nil
	}
	name := al.Container
	if name == "" && len(p.Spec.Containers) > 0 {
		name = p.Spec.Containers[0].Name
	}
	found := false
	for i := 0; containerName(p, i) != ""; i++ {
		if containerName(p, i) == name {
			found = true
		}
	}
	if !found {
		return "", "", fmt.Sprintf("pod %s/%s has no container %q", al.Namespace, al.Pod, al.Container), nil
	}
	return graph.ContainerKey(p.Namespace, p.Name, name), "pod name", "", p
}
